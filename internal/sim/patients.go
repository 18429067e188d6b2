package sim

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Patients. Every simulated practice has its own registered patients, distinct from every other
// practice's, so booking a practice's patient into another practice needs a temporary
// registration there, as in real federations. A patient's demographics are a pure function of
// the NHS number (the simulator's PDS): every practice agrees on them, and a registration whose
// demographics differ fails the PDS trace.

// patientsPerPractice is how many patients each practice has on its list.
const patientsPerPractice = 40

// Reference provider test data (GPCONNECT-BOOKING.md section 8): practice 0 (A20047) also has
// the acceptance suite's active test patients. The sensitive, deceased and inactive numbers are
// registered nowhere: Find patient returns an empty bundle for them and registering them fails
// the PDS trace.
var (
	referencePatients = []string{"9658218865", "9658218873", "9658218881", "9658218903", "9658218989",
		"9658218997", "9658220223", "9658219721"}
	blockedPatients = []string{"9658220142", "9658220150", "9658220290", "9658219748"}
)

// PatientDemographics is what the simulator's PDS holds for an NHS number.
type PatientDemographics struct {
	FamilyName, GivenName, Gender string
	BirthDate                     string // YYYY-MM-DD
}

// patientList is a practice's registered patients, built on first use.
type patientList struct {
	once  sync.Once
	nhs   []string          // in list order; logical id = position + 1
	index map[string]string // NHS number -> logical id
}

// practiceIndex is a practice's position in the directory (its patients' number block).
func (f *Federation) practiceIndex(p *practice) int {
	return slices.Index(f.practices, p)
}

// patients returns the practice's list, building it once: NHS numbers 9 + (1000 + index) +
// a 4-digit serial + the Modulus 11 check digit, skipping serials whose check value is 10.
func (f *Federation) patients(p *practice) *patientList {
	p.pats.once.Do(func() {
		l := &p.pats
		l.index = map[string]string{}
		if f.practiceIndex(p) == 0 {
			l.nhs = append(l.nhs, referencePatients...)
		}
		block := fmt.Sprintf("9%04d", 1000+f.practiceIndex(p)%9000)
		want := len(l.nhs) + patientsPerPractice
		for serial := 0; len(l.nhs) < want; serial++ {
			if n, ok := nhsFrom(block + fmt.Sprintf("%04d", serial)); ok {
				l.nhs = append(l.nhs, n)
			}
		}
		for i, n := range l.nhs {
			l.index[n] = strconv.Itoa(i + 1)
		}
	})
	return &p.pats
}

// nhsFrom appends the Modulus 11 check digit to nine digits.
func nhsFrom(first9 string) (string, bool) {
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(first9[i]-'0') * (10 - i)
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return "", false
	}
	return first9 + strconv.Itoa(check), true
}

// validNHS reports whether s is ten digits with a valid Modulus 11 check digit.
func validNHS(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	n, ok := nhsFrom(s[:9])
	return ok && n == s
}

// Patients lists the NHS numbers registered at a practice (not counting temporary
// registrations made through the API). Unknown ODS codes have none.
func (f *Federation) Patients(ods string) []string {
	p := f.byODS[ods]
	if p == nil {
		return nil
	}
	return slices.Clone(f.patients(p).nhs)
}

// UnregisteredPatients returns n valid NHS numbers registered at no practice (but known to the
// simulator's PDS, so any practice can register them temporarily).
func (f *Federation) UnregisteredPatients(n int) []string {
	var out []string
	for serial := 0; len(out) < n && serial < 10000; serial++ {
		if nhs, ok := nhsFrom(fmt.Sprintf("90999%04d", serial)); ok {
			out = append(out, nhs)
		}
	}
	return out
}

// Demographics is the simulator's PDS record for an NHS number.
func (f *Federation) Demographics(nhs string) PatientDemographics {
	r := newRand(f.cfg.Seed, "pds", nhs)
	born := time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(80*365))
	return PatientDemographics{
		FamilyName: pick(r, familyNames), GivenName: pick(r, givenNames),
		Gender: pick(r, []string{"female", "male"}), BirthDate: born.Format(time.DateOnly),
	}
}

// lookupPatient finds an active patient of the practice: on its list or registered temporarily.
func (f *Federation) lookupPatient(p *practice, nhs string) (id string, ok bool) {
	if slices.Contains(blockedPatients, nhs) {
		return "", false
	}
	if id, ok := f.patients(p).index[nhs]; ok {
		return id, true
	}
	p.bk.mu.Lock()
	defer p.bk.mu.Unlock()
	id, ok = p.bk.temp[nhs]
	return id, ok
}

// patientByID returns the NHS number of a practice's patient by logical id.
func (f *Federation) patientByID(p *practice, id string) (string, bool) {
	l := f.patients(p)
	if n, err := strconv.Atoi(id); err == nil && n >= 1 && n <= len(l.nhs) {
		return l.nhs[n-1], true
	}
	p.bk.mu.Lock()
	defer p.bk.mu.Unlock()
	for nhs, tid := range p.bk.temp {
		if tid == id {
			return nhs, true
		}
	}
	return "", false
}
