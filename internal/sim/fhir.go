package sim

import (
	"strings"
	"sync"
	"time"
)

// FHIR STU3 resource shapes, only as much as GP Connect slot search returns. Struct field order
// fixes the JSON key order, which keeps responses byte-identical for a seed.

const (
	profileSlot         = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Slot-1"
	profileSchedule     = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Schedule-1"
	profilePractitioner = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Practitioner-1"
	profileLocation     = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Location-1"
	profileOrganization = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Organization-1"
	extDeliveryChannel  = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2"
	extPractitionerRole = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-PractitionerRole-1"
	systemSDSJobRole    = "https://fhir.nhs.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1"
	systemODS           = "https://fhir.nhs.uk/Id/ods-organization-code"
	systemOrgType       = "https://fhir.nhs.uk/STU3/CodeSystem/GPConnect-OrganisationType-1"
	systemSDSUser       = "https://fhir.nhs.uk/Id/sds-user-id"
	systemSDSRole       = "https://fhir.nhs.uk/Id/sds-role-profile-id"
	fhirDateTime        = "2006-01-02T15:04:05-07:00" // never Z: GP Connect wants UK local offsets
)

type meta struct {
	Profile []string `json:"profile"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type extension struct {
	URL                  string           `json:"url"`
	ValueCode            string           `json:"valueCode,omitempty"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept,omitempty"`
}

type reference struct {
	Reference string `json:"reference"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type humanName struct {
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix,omitempty"`
}

type fhirAddress struct {
	Line       []string `json:"line"`
	City       string   `json:"city"`
	PostalCode string   `json:"postalCode"`
}

type contactPoint struct {
	System string `json:"system"`
	Value  string `json:"value"`
	Use    string `json:"use"`
}

type slotResource struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Meta         meta              `json:"meta"`
	Extension    []extension       `json:"extension,omitempty"`
	ServiceType  []codeableConcept `json:"serviceType"`
	Schedule     reference         `json:"schedule"`
	Status       string            `json:"status"`
	Start        string            `json:"start"`
	End          string            `json:"end"`
}

type scheduleResource struct {
	ResourceType    string          `json:"resourceType"`
	ID              string          `json:"id"`
	Meta            meta            `json:"meta"`
	Extension       []extension     `json:"extension"`
	ServiceCategory codeableConcept `json:"serviceCategory"`
	Actor           []reference     `json:"actor"`
	PlanningHorizon period          `json:"planningHorizon"`
}

type practitionerResource struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Meta         meta         `json:"meta"`
	Identifier   []identifier `json:"identifier"`
	Name         []humanName  `json:"name"`
	Gender       string       `json:"gender"`
}

type locationResource struct {
	ResourceType         string         `json:"resourceType"`
	ID                   string         `json:"id"`
	Meta                 meta           `json:"meta"`
	Name                 string         `json:"name"`
	Address              fhirAddress    `json:"address"`
	Telecom              []contactPoint `json:"telecom"`
	ManagingOrganization reference      `json:"managingOrganization"`
}

type organizationResource struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id"`
	Meta         meta           `json:"meta"`
	Identifier   []identifier   `json:"identifier"`
	Name         string         `json:"name"`
	Address      fhirAddress    `json:"address"`
	Telecom      []contactPoint `json:"telecom"`
}

type bundleEntry struct {
	Resource any `json:"resource"`
}

type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Entry        []bundleEntry `json:"entry"`
}

// Shared element values of every Slot (never modified), so a slot costs few allocations.
var (
	slotMeta     = meta{Profile: []string{profileSlot}}
	channelExts  = map[string][]extension{}
	channelMutex sync.Mutex
)

// channelExtension is the (shared) delivery channel extension list for a channel code.
func channelExtension(code string) []extension {
	channelMutex.Lock()
	defer channelMutex.Unlock()
	e, ok := channelExts[code]
	if !ok {
		e = []extension{{URL: extDeliveryChannel, ValueCode: code}}
		channelExts[code] = e
	}
	return e
}

func (p *practice) slotResource(s *slot) slotResource {
	res := slotResource{
		ResourceType: "Slot", ID: s.id, Meta: slotMeta,
		ServiceType: []codeableConcept{{Text: s.slotType}},
		Schedule:    reference{Reference: p.schedules[s.sched].ref},
		Status:      "free",
		Start:       fhirTime(s.start),
		End:         fhirTime(s.end),
	}
	if s.channel != "" {
		res.Extension = channelExtension(s.channel)
	}
	return res
}

// fhirTime formats t (in Europe/London) as fhirDateTime, yyyy-mm-ddThh:mm:ss+hh:mm, by hand:
// time.Format was a tenth of the simulator's CPU in a regional benchmark.
func fhirTime(t time.Time) string {
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	var b [25]byte
	put := func(i, v, n int) {
		for k := n - 1; k >= 0; k-- {
			b[i+k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	b[4] = '-'
	put(5, int(mo), 2)
	b[7] = '-'
	put(8, d, 2)
	b[10] = 'T'
	put(11, h, 2)
	b[13] = ':'
	put(14, mi, 2)
	b[16] = ':'
	put(17, sec, 2)
	b[19] = sign
	put(20, off/3600, 2)
	b[22] = ':'
	put(23, off%3600/60, 2)
	return string(b[:])
}

func (p *practice) scheduleResource(i int, horizon period) scheduleResource {
	s := &p.schedules[i]
	actors := []reference{{Reference: "Location/" + p.sites[s.site].id}}
	if s.staff >= 0 {
		actors = append(actors, reference{Reference: "Practitioner/" + p.staff[s.staff].id})
	}
	roleCC := &codeableConcept{Coding: []coding{{System: systemSDSJobRole, Code: s.role.code, Display: s.role.display}}}
	return scheduleResource{
		ResourceType: "Schedule", ID: s.id, Meta: meta{Profile: []string{profileSchedule}},
		Extension:       []extension{{URL: extPractitionerRole, ValueCodeableConcept: roleCC}},
		ServiceCategory: codeableConcept{Text: s.category},
		Actor:           actors,
		PlanningHorizon: horizon,
	}
}

func (p *practice) practitionerResource(i int) practitionerResource {
	c := &p.staff[i]
	return practitionerResource{
		ResourceType: "Practitioner", ID: c.id, Meta: meta{Profile: []string{profilePractitioner}},
		Identifier: []identifier{{System: systemSDSUser, Value: c.sdsUserID}},
		Name:       []humanName{{Family: c.family, Given: []string{c.given}, Prefix: []string{c.prefix}}},
		Gender:     c.gender,
	}
}

func (p *practice) locationResource(i int) locationResource {
	s := &p.sites[i]
	return locationResource{
		ResourceType: "Location", ID: s.id, Meta: meta{Profile: []string{profileLocation}},
		Name:                 s.name,
		Address:              s.addr.fhir(),
		Telecom:              []contactPoint{{System: "phone", Value: s.phone, Use: "work"}},
		ManagingOrganization: reference{Reference: "Organization/" + p.orgID},
	}
}

func (p *practice) organizationResource() organizationResource {
	return organizationResource{
		ResourceType: "Organization", ID: p.orgID, Meta: meta{Profile: []string{profileOrganization}},
		Identifier: []identifier{{System: systemODS, Value: p.ods}},
		Name:       p.name,
		Address:    p.addr.fhir(),
		Telecom:    []contactPoint{{System: "phone", Value: p.phone, Use: "work"}},
	}
}

func (a address) fhir() fhirAddress {
	return fhirAddress{Line: a.lines, City: a.city, PostalCode: strings.ToUpper(a.postcode)}
}
