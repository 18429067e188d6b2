package gpconnect

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/slot"
)

// bundleIndex holds the included resources a Slot refers to, by type and id.
type bundleIndex struct {
	schedules     map[string]schedule
	locations     map[string]string // id -> name
	practitioners map[string]string // id -> display name of the first name
}

// ParseSlotBundle reads a Slot search response. It is lenient about everything gpfed does not
// need (unknown elements, missing includes, object-for-array quirks) and strict about what it
// counts: a free Slot must have an id and a valid start < end, else the whole Bundle is rejected
// with a *ParseError, as is anything that is not a JSON Bundle. Slots that are not free are
// skipped. The result is de-duplicated by id and sorted by Start, then ID.
func ParseSlotBundle(data []byte) ([]slot.Slot, error) {
	slots, err := AppendSlotBundle([]slot.Slot{}, data)
	if err != nil {
		return nil, err
	}
	return slots, nil
}

// AppendSlotBundle reads a Slot search response as ParseSlotBundle does and appends its slots,
// de-duplicated by id and sorted by Start then ID among themselves, to dst, which grows to exactly
// the length it needs when its capacity is short. On error it returns dst unchanged. A search
// gathers its windows' slots this way into one slice, which is then the result: bench/sync's
// decode+COPY limit decodes like that too.
func AppendSlotBundle(dst []slot.Slot, data []byte) ([]slot.Slot, error) {
	d, err := decodeSlotBundle(data)
	if err != nil {
		return dst, err
	}
	defer d.release()
	return d.appendTo(dst)
}

// decodedBundle is a Slot search response decoded, its slots not yet built: its free Slots and
// the resources they refer to, held in pooled buffers until release.
type decodedBundle struct {
	b    *parseBuffers
	idx  bundleIndex
	free []*fhirResource
}

// decodeSlotBundle decodes data into pooled buffers, which the caller gives back with release.
func decodeSlotBundle(data []byte) (decodedBundle, error) {
	b := parsePool.Get().(*parseBuffers)
	rt, entries, err := decodeEntries(data, b)
	if err == nil && rt != "Bundle" {
		err = &ParseError{Reason: fmt.Sprintf("resourceType %.40q, want Bundle", rt)}
	}
	if err != nil {
		b.release()
		return decodedBundle{}, err
	}
	idx, free := indexBundle(entries)
	return decodedBundle{b: b, idx: idx, free: free}, nil
}

func (d decodedBundle) release() { d.b.release() }

// appendTo validates the free slots and appends them to dst (see AppendSlotBundle). Growing dst
// to exactly what it needs, rather than by append's doubling, keeps a search's result no larger
// than its slots, which is what the flight budget charges for.
func (d decodedBundle) appendTo(dst []slot.Slot) ([]slot.Slot, error) {
	n, out := len(dst), dst
	if need := n + len(d.free); need > cap(out) {
		out = append(make([]slot.Slot, 0, need), dst...)
	}
	seen := d.b.seen
	var day dayCache
	for _, fs := range d.free {
		s, err := d.idx.slot(fs, &day)
		if err != nil {
			clear(out[n:]) // nothing of this Bundle stays reachable from dst's spare capacity
			return dst, err
		}
		if _, dup := seen[s.ID]; !dup {
			seen[s.ID] = struct{}{}
			out = append(out, s)
		}
	}
	sortSlots(out[n:])
	return out, nil
}

func sortSlots(slots []slot.Slot) {
	slices.SortFunc(slots, func(a, b slot.Slot) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// indexBundle sorts entries into free Slots and the resources they reference. The first of
// several resources with the same type and id wins.
func indexBundle(entries []fhirResource) (bundleIndex, []*fhirResource) {
	idx := bundleIndex{schedules: map[string]schedule{}, locations: map[string]string{}, practitioners: map[string]string{}}
	free := make([]*fhirResource, 0, len(entries))
	for i := range entries {
		r := &entries[i]
		switch r.ResourceType {
		case "Slot":
			if r.Status == "free" {
				free = append(free, r)
			}
		case "Schedule":
			if _, dup := idx.schedules[r.ID]; !dup {
				idx.schedules[r.ID] = schedule{sessionName: r.ServiceCategory.Text, role: r.Role,
					deliveryChannel: r.DeliveryChannel, actors: r.Actors}
			}
		case "Location":
			if _, dup := idx.locations[r.ID]; !dup {
				idx.locations[r.ID] = locationName(r.Name) // a name that is not a string is absent
			}
		case "Practitioner":
			if _, dup := idx.practitioners[r.ID]; !dup {
				name := ""
				if ns := humanNames(r.Name); len(ns) > 0 {
					name = ns[0].displayName()
				}
				idx.practitioners[r.ID] = name
			}
		}
	}
	return idx, free
}

// dayCache keeps the last local date string, which most consecutive slots share.
type dayCache struct {
	y    int
	m    time.Month
	d    int
	text string
}

func (c *dayCache) format(t time.Time) string {
	y, m, d := t.Date() // t is in Europe/London
	if c.text == "" || y != c.y || m != c.m || d != c.d {
		c.y, c.m, c.d, c.text = y, m, d, t.Format(time.DateOnly)
	}
	return c.text
}

// slot validates one free Slot and joins it to its Schedule, Location and Practitioner.
func (idx bundleIndex) slot(fs *fhirResource, day *dayCache) (slot.Slot, error) {
	if fs.ID == "" {
		return slot.Slot{}, &ParseError{Reason: "free Slot without id"}
	}
	if fs.StartErr != nil {
		return slot.Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q start", fs.ID), Err: fs.StartErr}
	}
	if fs.EndErr != nil {
		return slot.Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q end", fs.ID), Err: fs.EndErr}
	}
	if !fs.End.After(fs.Start) {
		return slot.Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q ends at or before its start", fs.ID)}
	}
	s := slot.Slot{
		ID:              fs.ID,
		Start:           fs.Start,
		End:             fs.End,
		StartText:       fs.StartText,
		EndText:         fs.EndText,
		LocalDate:       day.format(fs.Start),
		DurationMinutes: int(fs.End.Sub(fs.Start).Round(time.Minute) / time.Minute),
		DeliveryChannel: fs.DeliveryChannel,
		SlotType:        fs.ServiceType.Text,
	}
	if typ, id := parseRef(fs.ScheduleRef); typ == "Schedule" {
		s.ScheduleID = id
		if sched, ok := idx.schedules[id]; ok {
			idx.applySchedule(&s, sched)
		}
	}
	if hasNUL(s.ID, s.ScheduleID, s.SessionName, s.LocationID, s.SiteName, s.PractitionerID, s.PractitionerName,
		s.RoleCode, s.RoleDisplay, s.DeliveryChannel, s.SlotType) {
		// PostgreSQL text cannot hold U+0000: refuse the Bundle here, as malformed, rather than
		// fail the practice's save over and over.
		return slot.Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q carries a NUL character (\\u0000)", s.ID)}
	}
	return s, nil
}

func hasNUL(fields ...string) bool {
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return true
		}
	}
	return false
}

// applySchedule fills session, role, site and clinician from the Slot's Schedule.
func (idx bundleIndex) applySchedule(s *slot.Slot, sched schedule) {
	s.SessionName = sched.sessionName
	if sched.role.Set {
		s.RoleCode, s.RoleDisplay = sched.role.Code, sched.role.Display
	}
	if s.DeliveryChannel == "" {
		s.DeliveryChannel = sched.deliveryChannel
	}
	for _, actor := range sched.actors {
		switch typ, id := parseRef(actor); typ {
		case "Location":
			if s.LocationID == "" {
				s.LocationID, s.SiteName = id, idx.locations[id]
			}
		case "Practitioner":
			if s.PractitionerID == "" {
				s.PractitionerID, s.PractitionerName = id, idx.practitioners[id]
			}
		}
	}
}
