package gpconnect

// The encoding/json Bundle decoder that decode.go replaced, frozen as it was (identifiers suffixed
// Std) so that TestDecoderMatchesReference can check the scanner against it. Its one known flaw
// is not reproduced by the scanner: a value of the wrong type inside an array element (an
// "extension" whose url is a number) made encoding/json stop decoding the rest of the Bundle
// while the caller treated the error as tolerable, silently dropping later slots.

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

	"github.com/gpfed/gpfed/internal/slot"
)

// bundleIndexStd holds the included resources a Slot refers to, keyed "Type/id".
type bundleIndexStd struct {
	schedules     map[string]fhirScheduleStd
	locations     map[string]fhirLocationStd
	practitioners map[string]fhirPractitionerStd
}

// ParseSlotBundleStd reads a Slot search response. It is lenient about everything gpfed does not
// need (unknown elements, missing includes, object-for-array quirks) and strict about what it
// counts: a free Slot must have an id and a valid start < end, else the whole Bundle is rejected
// with a *ParseError, as is anything that is not a JSON Bundle. Slots that are not free are
// skipped. The result is de-duplicated by id and sorted by Start, then ID.
func ParseSlotBundleStd(data []byte) ([]slot.Slot, error) {
	b, err := decodeBundleStd(data)
	if err != nil {
		return nil, err
	}
	if b.ResourceType != "Bundle" {
		return nil, &ParseError{Reason: fmt.Sprintf("resourceType %.40q, want Bundle", b.ResourceType)}
	}
	idx, raw, err := indexBundleStd(b)
	if err != nil {
		return nil, err
	}
	slots := make([]slot.Slot, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, fs := range raw {
		s, err := idx.slotStd(fs)
		if err != nil {
			return nil, err
		}
		if !seen[s.ID] {
			seen[s.ID] = true
			slots = append(slots, s)
		}
	}
	sortSlotsStd(slots)
	return slots, nil
}

func sortSlotsStd(slots []slot.Slot) {
	slices.SortFunc(slots, func(a, b slot.Slot) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// decodeBundleStd decodes the whole response in one pass. A value of the wrong JSON type inside a
// resource is tolerated (that element reads as absent; a free Slot missing its times is still
// rejected later), but a response that is not one JSON object with an entry array is not.
func decodeBundleStd(data []byte) (fhirBundleStd, error) {
	var b fhirBundleStd
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

// indexBundleStd sorts entries into free Slots and the resources they reference.
func indexBundleStd(b fhirBundleStd) (bundleIndexStd, []fhirSlotStd, error) {
	idx := bundleIndexStd{
		schedules:     map[string]fhirScheduleStd{},
		locations:     map[string]fhirLocationStd{},
		practitioners: map[string]fhirPractitionerStd{},
	}
	var slots []fhirSlotStd
	for _, e := range b.Entry {
		r := e.Resource
		if r == nil {
			continue
		}
		switch r.ResourceType {
		case "Slot":
			if r.Status == "free" {
				slots = append(slots, r.slotStd())
			}
		case "Schedule":
			addFirstStd(idx.schedules, "Schedule/"+r.ID, r.scheduleStd)
		case "Location":
			addFirstStd(idx.locations, "Location/"+r.ID, r.locationStd)
		case "Practitioner":
			addFirstStd(idx.practitioners, "Practitioner/"+r.ID, r.practitionerStd)
		}
	}
	return idx, slots, nil
}

// addFirstStd keeps the first resource with a given key (duplicates in a Bundle are ignored).
func addFirstStd[T any](m map[string]T, key string, build func() T) {
	if _, dup := m[key]; !dup {
		m[key] = build()
	}
}

// slot validates one free Slot and joins it to its Schedule, Location and Practitioner.
func (idx bundleIndexStd) slotStd(fs fhirSlotStd) (slot.Slot, error) {
	if fs.ID == "" {
		return slot.Slot{}, &ParseError{Reason: "free Slot without id"}
	}
	start, err := parseInstantStd(fs.Start)
	if err != nil {
		return slot.Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q start", fs.ID), Err: err}
	}
	end, err := parseInstantStd(fs.End)
	if err != nil {
		return slot.Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q end", fs.ID), Err: err}
	}
	if !end.After(start) {
		return slot.Slot{}, &ParseError{Reason: fmt.Sprintf("Slot %.64q ends at or before its start", fs.ID)}
	}
	s := slot.Slot{
		ID:              fs.ID,
		Start:           start,
		End:             end,
		StartText:       fs.Start,
		EndText:         fs.End,
		LocalDate:       start.Format(time.DateOnly),
		DurationMinutes: int(end.Sub(start).Round(time.Minute) / time.Minute),
		DeliveryChannel: deliveryChannelStd(fs.Extension),
	}
	if st, ok := fs.ServiceType.first(); ok {
		s.SlotType = st.textStd()
	}
	if key := refKeyStd(fs.Schedule.Reference); refTypeStd(key) == "Schedule" {
		s.ScheduleID = refIDStd(key)
		if sched, ok := idx.schedules[key]; ok {
			idx.applyScheduleStd(&s, sched)
		}
	}
	return s, nil
}

// applyScheduleStd fills session, role, site and clinician from the Slot's Schedule.
func (idx bundleIndexStd) applyScheduleStd(s *slot.Slot, sched fhirScheduleStd) {
	if sc, ok := sched.ServiceCategory.first(); ok {
		s.SessionName = sc.textStd()
	}
	for _, ext := range sched.Extension {
		if ext.URL == extPractitionerRole && ext.ValueCodeableConcept != nil {
			c := ext.ValueCodeableConcept.firstCodingStd()
			s.RoleCode, s.RoleDisplay = c.Code, c.Display
			if s.RoleDisplay == "" {
				s.RoleDisplay = ext.ValueCodeableConcept.Text
			}
			break
		}
	}
	if s.DeliveryChannel == "" {
		s.DeliveryChannel = deliveryChannelStd(sched.Extension)
	}
	for _, actor := range sched.Actor {
		key := refKeyStd(actor.Reference)
		switch refTypeStd(key) {
		case "Location":
			if s.LocationID == "" {
				s.LocationID = refIDStd(key)
				s.SiteName = idx.locations[key].Name
			}
		case "Practitioner":
			if s.PractitionerID == "" {
				s.PractitionerID = refIDStd(key)
				if n, ok := idx.practitioners[key].Name.first(); ok {
					s.PractitionerName = n.displayNameStd()
				}
			}
		}
	}
}

// deliveryChannelStd reads Extension-GPConnect-DeliveryChannel-2 (valueCode) or the older -1
// (valueCodeableConcept).
func deliveryChannelStd(exts []fhirExtensionStd) string {
	for _, ext := range exts {
		switch ext.URL {
		case extDeliveryChannel2, extDeliveryChannel1:
			if ext.ValueCode != "" {
				return ext.ValueCode
			}
			if ext.ValueCodeableConcept != nil {
				if c := ext.ValueCodeableConcept.firstCodingStd(); c.Code != "" {
					return c.Code
				}
				return ext.ValueCodeableConcept.Text
			}
		}
	}
	return ""
}

// parseInstantStd accepts FHIR instant/dateTime forms with an offset or Z, with or without
// fractional seconds. A missing offset (invalid FHIR, but seen) is read as UK local time.
// The result is in Europe/London.
func parseInstantStd(s string) (time.Time, error) {
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

// The types below decode only what gpfed reads; encoding/json ignores every other element, which
// is exactly the leniency GP Connect asks of consumers.

type fhirBundleStd struct {
	ResourceType string `json:"resourceType"`
	Entry        []struct {
		Resource *fhirResourceStd `json:"resource"`
	} `json:"entry"`
}

// fhirResourceStd decodes any Bundle entry in a single pass: it is the union of the elements gpfed
// reads from Slot, Schedule, Location and Practitioner. "name" is a string on Location and a list
// of HumanNames on Practitioner, so it stays raw until the type is known. Decoding the Bundle once
// (rather than each entry twice) matters: a 28-day sync of 1,000 practices parses ~400 MB of JSON.
type fhirResourceStd struct {
	ResourceType    string                            `json:"resourceType"`
	ID              string                            `json:"id"`
	Status          string                            `json:"status"`
	Start           string                            `json:"start"`
	End             string                            `json:"end"`
	Extension       oneOrMany[fhirExtensionStd]       `json:"extension"`
	ServiceType     oneOrMany[fhirCodeableConceptStd] `json:"serviceType"`
	Schedule        fhirReferenceStd                  `json:"schedule"`
	ServiceCategory oneOrMany[fhirCodeableConceptStd] `json:"serviceCategory"` // STU3: one; R4-minded: many
	Actor           oneOrMany[fhirReferenceStd]       `json:"actor"`
	Name            json.RawMessage                   `json:"name"`
}

func (r *fhirResourceStd) slotStd() fhirSlotStd {
	return fhirSlotStd{ID: r.ID, Extension: r.Extension, ServiceType: r.ServiceType, Schedule: r.Schedule,
		Status: r.Status, Start: r.Start, End: r.End}
}

func (r *fhirResourceStd) scheduleStd() fhirScheduleStd {
	return fhirScheduleStd{ID: r.ID, Extension: r.Extension, ServiceCategory: r.ServiceCategory, Actor: r.Actor}
}

func (r *fhirResourceStd) locationStd() fhirLocationStd {
	l := fhirLocationStd{ID: r.ID}
	_ = json.Unmarshal(r.Name, &l.Name) // a name that is not a string is treated as absent
	return l
}

func (r *fhirResourceStd) practitionerStd() fhirPractitionerStd {
	p := fhirPractitionerStd{ID: r.ID}
	_ = json.Unmarshal(r.Name, &p.Name)
	return p
}

type fhirReferenceStd struct {
	Reference string `json:"reference"`
}

type fhirCodingStd struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type fhirCodeableConceptStd struct {
	Coding oneOrMany[fhirCodingStd] `json:"coding"`
	Text   string                   `json:"text"`
}

type fhirExtensionStd struct {
	URL                  string                  `json:"url"`
	ValueCode            string                  `json:"valueCode"`
	ValueCodeableConcept *fhirCodeableConceptStd `json:"valueCodeableConcept"`
}

type fhirSlotStd struct {
	ID          string                            `json:"id"`
	Extension   oneOrMany[fhirExtensionStd]       `json:"extension"`
	ServiceType oneOrMany[fhirCodeableConceptStd] `json:"serviceType"`
	Schedule    fhirReferenceStd                  `json:"schedule"`
	Status      string                            `json:"status"`
	Start       string                            `json:"start"`
	End         string                            `json:"end"`
}

type fhirScheduleStd struct {
	ID        string                      `json:"id"`
	Extension oneOrMany[fhirExtensionStd] `json:"extension"`
	// STU3 has one CodeableConcept; R4-minded providers send an array.
	ServiceCategory oneOrMany[fhirCodeableConceptStd] `json:"serviceCategory"`
	Actor           oneOrMany[fhirReferenceStd]       `json:"actor"`
}

type fhirHumanNameStd struct {
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type fhirPractitionerStd struct {
	ID   string                      `json:"id"`
	Name oneOrMany[fhirHumanNameStd] `json:"name"`
}

type fhirLocationStd struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// text is the concept's text, else its first coding's display.
func (cc fhirCodeableConceptStd) textStd() string {
	if cc.Text != "" {
		return cc.Text
	}
	for _, c := range cc.Coding {
		if c.Display != "" {
			return c.Display
		}
	}
	return ""
}

// firstCodingStd returns the first coding that has a code.
func (cc fhirCodeableConceptStd) firstCodingStd() fhirCodingStd {
	for _, c := range cc.Coding {
		if c.Code != "" {
			return c
		}
	}
	return fhirCodingStd{}
}

// displayNameStd renders a HumanName as "Given Family".
func (n fhirHumanNameStd) displayNameStd() string {
	if n.Text != "" {
		return n.Text
	}
	parts := append(append([]string{}, n.Given...), n.Family)
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// refKeyStd reduces a reference ("Schedule/14", an absolute URL ending in Schedule/14, optionally
// with /_history/n) to "Schedule/14". Contained ("#x") and malformed references yield "".
func refKeyStd(ref string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimRight(ref, "/")
	j := strings.LastIndex(ref, "/")
	if j <= 0 {
		return ""
	}
	typ := ref[:j]
	if k := strings.LastIndex(typ, "/"); k >= 0 {
		typ = typ[k+1:]
	}
	id := ref[j+1:]
	if typ == "" || id == "" {
		return ""
	}
	return typ + "/" + id
}

// refTypeStd returns the resource type part of a reduced reference key.
func refTypeStd(key string) string {
	typ, _, _ := strings.Cut(key, "/")
	return typ
}

// refIDStd returns the id part of a reduced reference key.
func refIDStd(key string) string {
	_, id, _ := strings.Cut(key, "/")
	return id
}
