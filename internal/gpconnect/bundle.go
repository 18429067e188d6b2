package gpconnect

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Slot is one free, GP-Connect-bookable slot with what its Schedule, Location and Practitioner
// say about it. Fields whose source resource is absent from the Bundle are empty.
type Slot struct {
	ID               string
	Start, End       time.Time
	StartText        string // Slot.start exactly as the provider wrote it: a booking sends it back byte for byte
	EndText          string
	LocalDate        string // YYYY-MM-DD, Europe/London date of Start
	DurationMinutes  int
	ScheduleID       string // Schedule.id
	SessionName      string // Schedule.serviceCategory.text
	LocationID       string // first Location actor of the Schedule
	SiteName         string // that Location's name
	PractitionerID   string
	PractitionerName string
	RoleCode         string // Extension-GPConnect-PractitionerRole-1 on the Schedule
	RoleDisplay      string
	DeliveryChannel  string // In-person | Telephone | Video | "" (absent)
	SlotType         string // Slot.serviceType[0].text
}

// bundleIndex holds the included resources a Slot refers to, keyed "Type/id".
type bundleIndex struct {
	schedules     map[string]fhirSchedule
	locations     map[string]fhirLocation
	practitioners map[string]fhirPractitioner
}

// ParseSlotBundle reads a Slot search response. It is lenient about everything gpfed does not
// need (unknown elements, missing includes, object-for-array quirks) and strict about what it
// counts: a free Slot must have an id and a valid start < end, else the whole Bundle is rejected
// with a *ParseError, as is anything that is not a JSON Bundle. Slots that are not free are
// skipped. The result is de-duplicated by id and sorted by Start, then ID.
func ParseSlotBundle(data []byte) ([]Slot, error) {
	b, err := decodeBundle(data)
	if err != nil {
		return nil, err
	}
	if b.ResourceType != "Bundle" {
		return nil, &ParseError{Reason: fmt.Sprintf("resourceType %.40q, want Bundle", b.ResourceType)}
	}
	idx, raw, err := indexBundle(b)
	if err != nil {
		return nil, err
	}
	slots := make([]Slot, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, fs := range raw {
		s, err := idx.slot(fs)
		if err != nil {
			return nil, err
		}
		if !seen[s.ID] {
			seen[s.ID] = true
			slots = append(slots, s)
		}
	}
	sortSlots(slots)
	return slots, nil
}

func sortSlots(slots []Slot) {
	slices.SortFunc(slots, func(a, b Slot) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// decodeBundle decodes the whole response in one pass. A value of the wrong JSON type inside a
// resource is tolerated (that element reads as absent; a free Slot missing its times is still
// rejected later), but a response that is not one JSON object with an entry array is not.
func decodeBundle(data []byte) (fhirBundle, error) {
	var b fhirBundle
	dec := json.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&b)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && strings.HasPrefix(typeErr.Field, "entry.resource") {
		err = nil
	}
	if err != nil {
		return b, &ParseError{Reason: "not a JSON Bundle", Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return b, &ParseError{Reason: "not a JSON Bundle", Err: errors.New("data after the Bundle")}
	}
	return b, nil
}

// indexBundle sorts entries into free Slots and the resources they reference.
func indexBundle(b fhirBundle) (bundleIndex, []fhirSlot, error) {
	idx := bundleIndex{
		schedules:     map[string]fhirSchedule{},
		locations:     map[string]fhirLocation{},
		practitioners: map[string]fhirPractitioner{},
	}
	var slots []fhirSlot
	for _, e := range b.Entry {
		r := e.Resource
		if r == nil {
			continue
		}
		switch r.ResourceType {
		case "Slot":
			if r.Status == "free" {
				slots = append(slots, r.slot())
			}
		case "Schedule":
			addFirst(idx.schedules, "Schedule/"+r.ID, r.schedule)
		case "Location":
			addFirst(idx.locations, "Location/"+r.ID, r.location)
		case "Practitioner":
			addFirst(idx.practitioners, "Practitioner/"+r.ID, r.practitioner)
		}
	}
	return idx, slots, nil
}

// addFirst keeps the first resource with a given key (duplicates in a Bundle are ignored).
func addFirst[T any](m map[string]T, key string, build func() T) {
	if _, dup := m[key]; !dup {
		m[key] = build()
	}
}

// slot validates one free Slot and joins it to its Schedule, Location and Practitioner.
func (idx bundleIndex) slot(fs fhirSlot) (Slot, error) {
	if fs.ID == "" {
		return Slot{}, &ParseError{Reason: "free Slot without id"}
	}
	start, err := parseInstant(fs.Start)
	if err != nil {
		return Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q start", fs.ID), Err: err}
	}
	end, err := parseInstant(fs.End)
	if err != nil {
		return Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q end", fs.ID), Err: err}
	}
	if !end.After(start) {
		return Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q ends at or before its start", fs.ID)}
	}
	s := Slot{
		ID:              fs.ID,
		Start:           start,
		End:             end,
		StartText:       fs.Start,
		EndText:         fs.End,
		LocalDate:       start.Format(time.DateOnly),
		DurationMinutes: int(end.Sub(start).Round(time.Minute) / time.Minute),
		DeliveryChannel: deliveryChannel(fs.Extension),
	}
	if st, ok := fs.ServiceType.first(); ok {
		s.SlotType = st.text()
	}
	if key := refKey(fs.Schedule.Reference); refType(key) == "Schedule" {
		s.ScheduleID = refID(key)
		if sched, ok := idx.schedules[key]; ok {
			idx.applySchedule(&s, sched)
		}
	}
	return s, nil
}

// applySchedule fills session, role, site and clinician from the Slot's Schedule.
func (idx bundleIndex) applySchedule(s *Slot, sched fhirSchedule) {
	if sc, ok := sched.ServiceCategory.first(); ok {
		s.SessionName = sc.text()
	}
	for _, ext := range sched.Extension {
		if ext.URL == extPractitionerRole && ext.ValueCodeableConcept != nil {
			c := ext.ValueCodeableConcept.firstCoding()
			s.RoleCode, s.RoleDisplay = c.Code, c.Display
			if s.RoleDisplay == "" {
				s.RoleDisplay = ext.ValueCodeableConcept.Text
			}
			break
		}
	}
	if s.DeliveryChannel == "" {
		s.DeliveryChannel = deliveryChannel(sched.Extension)
	}
	for _, actor := range sched.Actor {
		key := refKey(actor.Reference)
		switch refType(key) {
		case "Location":
			if s.LocationID == "" {
				s.LocationID = refID(key)
				s.SiteName = idx.locations[key].Name
			}
		case "Practitioner":
			if s.PractitionerID == "" {
				s.PractitionerID = refID(key)
				if n, ok := idx.practitioners[key].Name.first(); ok {
					s.PractitionerName = n.displayName()
				}
			}
		}
	}
}

// deliveryChannel reads Extension-GPConnect-DeliveryChannel-2 (valueCode) or the older -1
// (valueCodeableConcept).
func deliveryChannel(exts []fhirExtension) string {
	for _, ext := range exts {
		switch ext.URL {
		case extDeliveryChannel2, extDeliveryChannel1:
			if ext.ValueCode != "" {
				return ext.ValueCode
			}
			if ext.ValueCodeableConcept != nil {
				if c := ext.ValueCodeableConcept.firstCoding(); c.Code != "" {
					return c.Code
				}
				return ext.ValueCodeableConcept.Text
			}
		}
	}
	return ""
}

// parseInstant accepts FHIR instant/dateTime forms with an offset or Z, with or without
// fractional seconds. A missing offset (invalid FHIR, but seen) is read as UK local time.
// The result is in Europe/London.
func parseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var lerr error
		t, lerr = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, london)
		if lerr != nil {
			return time.Time{}, fmt.Errorf("not a FHIR instant: %.40q", s)
		}
	}
	return t.In(london), nil
}
