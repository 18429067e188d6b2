package sim

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
	_ "time/tzdata" // Europe/London must resolve on hosts without a zoneinfo database
)

var london = mustLondon()

func mustLondon() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("sim: Europe/London: " + err.Error()) // unreachable: time/tzdata is embedded
	}
	return loc
}

// Organisation types used by slot restrictions (GPConnect-OrganisationType-1 codes).
const (
	OrgTypeGPPractice = "gp-practice"
	OrgTypeUrgentCare = "urgent-care"
)

// SearchFilter is what a consumer sends in the two searchFilter parameters.
type SearchFilter struct {
	ODS     string // ods-organization-code of the consumer ("" when not sent)
	OrgType string // GPConnect-OrganisationType-1 code ("" when not sent)
}

// slot is one free slot. Restricted slots are visible only to a matching searchFilter.
type slot struct {
	seq          int // position in the day; orders equal start times and makes the id
	id           string
	sched        int
	start, end   time.Time
	channel      string // "" when the provider leaves the delivery channel out
	slotType     string
	restrictType string
	restrictODS  string
}

func (s *slot) visible(sf SearchFilter) bool {
	if s.restrictType != "" && s.restrictType != sf.OrgType {
		return false
	}
	return s.restrictODS == "" || s.restrictODS == sf.ODS
}

func localMidnight(t time.Time) time.Time {
	y, m, d := t.In(london).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, london)
}

var idEpoch = time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)

// dayOrdinal numbers local dates so that slot ids stay stable across searches and windows.
func dayOrdinal(day time.Time) int {
	y, m, d := day.Date()
	return int(time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Sub(idEpoch) / (24 * time.Hour))
}

// daySlots regenerates one practice's free slots on one local date, in start order. Every
// candidate position consumes the same PRNG stream on every call, so the result depends only on
// (seed, ODS, date).
func (f *Federation) daySlots(p *practice, day time.Time) []slot {
	date := day.Format(time.DateOnly)
	r := newRand(f.cfg.Seed, "slots", p.ods, date)
	y, mo, d := day.Date()
	wd := day.Weekday()
	ord := dayOrdinal(day) * 10000
	var out []slot
	seq := 0
	for si := range p.schedules {
		s := &p.schedules[si]
		for _, se := range s.sessions {
			if !se.on(wd) {
				continue
			}
			for m := se.start; m+s.minutes <= se.end; m += s.minutes {
				seq++
				free, held := r.Float64() < p.freeProb, m == se.start && m < 12*60 && r.IntN(2) == 0
				ch, typ, restrictRoll := pickChannel(r, s.role), pick(r, s.role.slotTypes), r.IntN(100)
				if !free || held { // held: first slots of a morning kept for the practice's own patients
					continue
				}
				sl := slot{seq: seq, id: strconv.Itoa(ord + seq), sched: si, channel: ch, slotType: typ}
				sl.start = time.Date(y, mo, d, 0, m, 0, 0, london)
				sl.end = sl.start.Add(time.Duration(s.minutes) * time.Minute)
				f.restrict1(&sl, se.extended, restrictRoll)
				out = append(out, sl)
			}
		}
	}
	slices.SortFunc(out, func(a, b slot) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.seq, b.seq))
	})
	return out
}

// restrict1 reserves some slots: in extended-access sessions for urgent care or a named
// organisation, elsewhere a few for other GP practices (visible to a gp-practice searchFilter,
// hidden from a consumer that sends none) and a few for urgent care.
func (f *Federation) restrict1(sl *slot, extended bool, roll int) {
	switch {
	case extended && roll < 30:
		sl.restrictType = OrgTypeUrgentCare
	case extended && roll < 45:
		sl.restrictODS = f.restrict
	case !extended && roll < 3:
		sl.restrictType = OrgTypeUrgentCare
	case !extended && roll < 8:
		sl.restrictType = OrgTypeGPPractice
	}
}

func pickChannel(r *rand.Rand, ro *role) string {
	x := r.IntN(100)
	if x < 4 {
		return "" // some providers leave the extension out
	}
	x = r.IntN(100)
	for _, c := range ro.channels {
		if x < c.weight {
			return c.code
		}
		x -= c.weight
	}
	return ro.channels[0].code
}

// horizon is the first and last local date with bookable slots.
func (f *Federation) horizon() (first, last time.Time) {
	first = localMidnight(f.cfg.Now())
	return first, first.AddDate(0, 0, f.cfg.Days-1)
}

// visibleSlots returns the free slots fully inside [from, to] that the filter may see, in start
// order. fn is called for each; returning false stops early.
func (f *Federation) visibleSlots(p *practice, from, to time.Time, sf SearchFilter, fn func(*slot) bool) {
	first, last := f.horizon()
	taken := p.bk.takenSet() // booked slots are busy, and search returns free ones only
	for day := localMidnight(from); !day.After(to) && !day.After(last); day = day.AddDate(0, 0, 1) {
		if day.Before(first) {
			continue
		}
		slots := f.daySlots(p, day)
		for i := range slots {
			s := &slots[i]
			if s.start.Before(from) || s.end.After(to) || !s.visible(sf) || taken[s.id] {
				continue
			}
			if !fn(s) {
				return
			}
		}
	}
}

// CountFreeSlots is the number of slots a search of [from, to] at practice ods returns to a
// consumer sending the given searchFilter. Unknown ODS codes count zero.
func (f *Federation) CountFreeSlots(ods string, from, to time.Time, sf SearchFilter) int {
	p := f.byODS[ods]
	if p == nil {
		return 0
	}
	n := 0
	f.visibleSlots(p, from, to, sf, func(*slot) bool { n++; return true })
	return n
}

// ExpectedFreeSlots is what a consumer sending both searchFilters (its own ODS code, which is not
// RestrictedODS, and org type gp-practice) sees for slots fully inside [from, to]. Slots exist on
// local dates from Config.Now's date for Config.Days days.
func (f *Federation) ExpectedFreeSlots(ods string, from, to time.Time) int {
	return f.CountFreeSlots(ods, from, to, SearchFilter{OrgType: OrgTypeGPPractice})
}
