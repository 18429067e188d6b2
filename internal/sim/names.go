package sim

// Word lists for plausible English practice directories. They are data, not logic: the generator
// picks from them with a seeded PRNG, so changing a list changes every seed's output.

var placeNames = []string{
	"Abbeyfield", "Ashby", "Beechwood", "Birchfield", "Bramley", "Brookside", "Castleford",
	"Chapel Allerton", "Cherry Tree", "Clifton", "Cotswold", "Crossgates", "Danebridge",
	"Eastgate", "Elmwood", "Fairfield", "Falcon", "Fernhill", "Glebe", "Greenbank", "Hadley",
	"Harbour", "Hawthorn", "Highfield", "Hillside", "Holgate", "Kingsway", "Lakeside",
	"Larkhill", "Linden", "Malvern", "Meadowbank", "Millbrook", "Moorside", "Northgate",
	"Oakwood", "Orchard", "Parkside", "Priory", "Queensway", "Riverside", "Rosehill",
	"St Anne's", "St John's", "Sandfield", "Southfield", "Springfield", "Stonebridge",
	"Thornbury", "Townhead", "Valley", "Victoria", "Westbourne", "Whitehall", "Willow Bank",
	"Woodlands", "Wyvern", "Yewtree",
}

var practiceSuffixes = []string{
	"Medical Centre", "Surgery", "Health Centre", "Medical Practice", "Family Practice",
	"Group Practice", "Health Partnership",
}

var towns = []string{
	"Leeds", "Bradford", "Wakefield", "Harrogate", "York", "Sheffield", "Doncaster", "Hull",
	"Lincoln", "Nottingham", "Derby", "Leicester", "Coventry", "Worcester", "Gloucester",
	"Bristol", "Bath", "Exeter", "Reading", "Oxford", "Norwich", "Ipswich", "Preston",
	"Lancaster", "Carlisle", "Durham", "Sunderland", "Stockport", "Bolton", "Chester",
}

var streets = []string{
	"High Street", "Church Lane", "Station Road", "Victoria Road", "Park Road", "Mill Lane",
	"London Road", "Queen Street", "King Street", "Green Lane", "Manor Road", "School Lane",
	"The Crescent", "Market Place", "North Road", "Chapel Street",
}

var givenNames = []string{
	"Sarah", "James", "Priya", "Mohammed", "Emma", "Oliver", "Aisha", "Thomas", "Charlotte",
	"Daniel", "Fatima", "Rachel", "David", "Hannah", "Samuel", "Chloe", "Rajesh", "Lucy",
	"Michael", "Sophie", "Adeola", "Catherine", "Gareth", "Niamh", "Tomasz", "Eleanor",
}

var familyNames = []string{
	"Black", "Patel", "Khan", "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies",
	"Evans", "Wilson", "Thomas", "Roberts", "Johnson", "Walker", "Wright", "Robinson",
	"Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Clarke",
	"Ahmed", "Begum", "Okafor", "Nowak", "Murphy", "O'Brien", "Chen", "Singh",
}

// role is an SDS job role with the sessions and slot types a practice typically runs for it.
type role struct {
	code, display string
	minutes       []int    // slot lengths to pick from
	categories    []string // Schedule.serviceCategory.text
	slotTypes     []string // Slot.serviceType.text
	channels      []weightedChannel
	prefixes      []string
}

type weightedChannel struct {
	code   string
	weight int
}

var (
	roleGP = role{
		code: "R0260", display: "General Medical Practitioner", minutes: []int{10, 10, 15},
		categories: []string{"GP Routine Appointments", "GP Same Day Appointments", "GP Long Term Conditions"},
		slotTypes:  []string{"General GP Appointment", "Routine Appointment", "Same Day Appointment", "Medication Review"},
		channels:   []weightedChannel{{"In-person", 60}, {"Telephone", 30}, {"Video", 10}},
		prefixes:   []string{"Dr"},
	}
	roleNurse = role{
		code: "R0620", display: "Staff Nurse", minutes: []int{15, 15, 10},
		categories: []string{"Practice Nurse Clinic", "Chronic Disease Review Clinic", "Immunisation Clinic"},
		slotTypes:  []string{"Asthma Review", "Diabetes Review", "Cervical Screening", "Travel Vaccinations", "Dressing"},
		channels:   []weightedChannel{{"In-person", 85}, {"Telephone", 15}},
		prefixes:   []string{"Mrs", "Ms", "Mr", "Miss"},
	}
	roleHCA = role{
		code: "R1480", display: "Healthcare Assistant", minutes: []int{10, 15},
		categories: []string{"Phlebotomy Clinic", "HCA Clinic", "NHS Health Check Clinic"},
		slotTypes:  []string{"Blood Test", "Blood Pressure Check", "NHS Health Check", "ECG"},
		channels:   []weightedChannel{{"In-person", 100}},
		prefixes:   []string{"Mrs", "Ms", "Mr"},
	}
	rolePharmacist = role{
		code: "R1290", display: "Pharmacist", minutes: []int{15},
		categories: []string{"Clinical Pharmacist Clinic", "Structured Medication Reviews"},
		slotTypes:  []string{"Medication Review", "Pharmacist Consultation"},
		channels:   []weightedChannel{{"Telephone", 60}, {"In-person", 30}, {"Video", 10}},
		prefixes:   []string{"Mr", "Mrs", "Ms"},
	}
	// triage is a GP rota session without a named clinician, as many practices run it.
	roleTriage = role{
		code: "R0260", display: "General Medical Practitioner", minutes: []int{10},
		categories: []string{"Duty Doctor Telephone Triage"},
		slotTypes:  []string{"Telephone Consultation"},
		channels:   []weightedChannel{{"Telephone", 100}},
	}
)
