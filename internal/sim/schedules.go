package sim

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// candidatesPerFree is how many bookable slot positions a practice runs for each free one it
// should end up offering: the rest are already booked, which is what real appointment books look
// like a few days out.
const candidatesPerFree = 2.2

// buildSchedules gives a practice its rota: a GP, nurse, HCA and triage session at least, then
// more clinicians until the sessions hold about candidatesPerFree * slotsPerDay slot positions on
// an average weekday, then some extended-access evening and Saturday sessions.
func buildSchedules(r *rand.Rand, p *practice, slotsPerDay int) {
	core := []*role{&roleGP, &roleNurse, &roleHCA, &roleTriage}
	if r.IntN(2) == 0 {
		core = append(core, &rolePharmacist)
	}
	base := 1 + r.IntN(30)
	target := candidatesPerFree * float64(slotsPerDay)
	total := 0.0
	for k := 0; k < len(core) || total < target; k++ {
		ro := weightedRole(r)
		if k < len(core) {
			ro = core[k]
		}
		s := newSchedule(r, p, ro, strconv.Itoa(base+k))
		p.schedules = append(p.schedules, s)
		total += s.weekdayPositions()
	}
	addExtendedAccess(r, p, p.ods == "A20047")
	busy := 0.8 + 0.4*r.Float64() // practices differ in how full their books are
	p.freeProb = min(1, float64(slotsPerDay)*busy/total)
}

func weightedRole(r *rand.Rand) *role {
	switch x := r.IntN(100); {
	case x < 50:
		return &roleGP
	case x < 75:
		return &roleNurse
	case x < 88:
		return &roleHCA
	default:
		return &rolePharmacist
	}
}

func newSchedule(r *rand.Rand, p *practice, ro *role, id string) schedule {
	s := schedule{id: id, ref: "Schedule/" + id, role: ro, staff: -1, category: pick(r, ro.categories), minutes: pick(r, ro.minutes)}
	if len(p.sites) > 1 && r.IntN(10) < 3 {
		s.site = 1 + r.IntN(len(p.sites)-1)
	}
	if ro != &roleTriage {
		s.staff = newClinician(r, p, ro)
	}
	days := uint8(weekdays)
	for range r.IntN(3) { // part-time clinicians work 3-5 days
		days &^= 1 << (time.Monday + time.Weekday(r.IntN(5)))
	}
	am := 8*60 + 30*r.IntN(3)
	s.sessions = append(s.sessions, session{days: days, start: am, end: am + 180 + 30*r.IntN(2)})
	if r.IntN(10) < 6 {
		pm := 14*60 + 30*r.IntN(3)
		s.sessions = append(s.sessions, session{days: days, start: pm, end: pm + 150 + 30*r.IntN(2)})
	}
	return s
}

// weekdayPositions is the number of slot positions the schedule holds on an average weekday.
func (s schedule) weekdayPositions() float64 {
	n := 0
	for d := time.Monday; d <= time.Friday; d++ {
		for _, se := range s.sessions {
			if se.on(d) {
				n += (se.end - se.start) / s.minutes
			}
		}
	}
	return float64(n) / 5
}

// addExtendedAccess adds an evening session and, at some practices, a Saturday morning to the
// first GP schedules. These sessions carry the slots reserved for urgent care or another
// organisation. The reference practice always has both.
func addExtendedAccess(r *rand.Rand, p *practice, always bool) {
	gps := []int{}
	for i, s := range p.schedules {
		if s.role == &roleGP {
			gps = append(gps, i)
		}
	}
	if len(gps) == 0 {
		return
	}
	if always || r.IntN(10) < 6 {
		day := uint8(1 << (time.Monday + time.Weekday(r.IntN(5))))
		s := &p.schedules[gps[0]]
		s.sessions = append(s.sessions, session{days: day, start: 18*60 + 30, end: 20 * 60, extended: true})
	}
	if always || r.IntN(10) < 4 {
		s := &p.schedules[gps[len(gps)-1]]
		s.sessions = append(s.sessions, session{days: saturday, start: 9 * 60, end: 12 * 60, extended: true})
	}
}
