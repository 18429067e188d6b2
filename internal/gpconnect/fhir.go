package gpconnect

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The types below decode only what gpfed reads; encoding/json ignores every other element, which
// is exactly the leniency GP Connect asks of consumers.

type fhirBundle struct {
	ResourceType string `json:"resourceType"`
	Entry        []struct {
		Resource *fhirResource `json:"resource"`
	} `json:"entry"`
}

// fhirResource decodes any Bundle entry in a single pass: it is the union of the elements gpfed
// reads from Slot, Schedule, Location and Practitioner. "name" is a string on Location and a list
// of HumanNames on Practitioner, so it stays raw until the type is known. Decoding the Bundle once
// (rather than each entry twice) matters: a 28-day sync of 1,000 practices parses ~400 MB of JSON.
type fhirResource struct {
	ResourceType    string                         `json:"resourceType"`
	ID              string                         `json:"id"`
	Status          string                         `json:"status"`
	Start           string                         `json:"start"`
	End             string                         `json:"end"`
	Extension       oneOrMany[fhirExtension]       `json:"extension"`
	ServiceType     oneOrMany[fhirCodeableConcept] `json:"serviceType"`
	Schedule        fhirReference                  `json:"schedule"`
	ServiceCategory oneOrMany[fhirCodeableConcept] `json:"serviceCategory"` // STU3: one; R4-minded: many
	Actor           oneOrMany[fhirReference]       `json:"actor"`
	Name            json.RawMessage                `json:"name"`
}

func (r *fhirResource) slot() fhirSlot {
	return fhirSlot{ID: r.ID, Extension: r.Extension, ServiceType: r.ServiceType, Schedule: r.Schedule,
		Status: r.Status, Start: r.Start, End: r.End}
}

func (r *fhirResource) schedule() fhirSchedule {
	return fhirSchedule{ID: r.ID, Extension: r.Extension, ServiceCategory: r.ServiceCategory, Actor: r.Actor}
}

func (r *fhirResource) location() fhirLocation {
	l := fhirLocation{ID: r.ID}
	_ = json.Unmarshal(r.Name, &l.Name) // a name that is not a string is treated as absent
	return l
}

func (r *fhirResource) practitioner() fhirPractitioner {
	p := fhirPractitioner{ID: r.ID}
	_ = json.Unmarshal(r.Name, &p.Name)
	return p
}

type fhirReference struct {
	Reference string `json:"reference"`
}

type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type fhirCodeableConcept struct {
	Coding oneOrMany[fhirCoding] `json:"coding"`
	Text   string                `json:"text"`
}

type fhirExtension struct {
	URL                  string               `json:"url"`
	ValueCode            string               `json:"valueCode"`
	ValueCodeableConcept *fhirCodeableConcept `json:"valueCodeableConcept"`
}

type fhirSlot struct {
	ID          string                         `json:"id"`
	Extension   oneOrMany[fhirExtension]       `json:"extension"`
	ServiceType oneOrMany[fhirCodeableConcept] `json:"serviceType"`
	Schedule    fhirReference                  `json:"schedule"`
	Status      string                         `json:"status"`
	Start       string                         `json:"start"`
	End         string                         `json:"end"`
}

type fhirSchedule struct {
	ID        string                   `json:"id"`
	Extension oneOrMany[fhirExtension] `json:"extension"`
	// STU3 has one CodeableConcept; R4-minded providers send an array.
	ServiceCategory oneOrMany[fhirCodeableConcept] `json:"serviceCategory"`
	Actor           oneOrMany[fhirReference]       `json:"actor"`
}

type fhirHumanName struct {
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type fhirPractitioner struct {
	ID   string                   `json:"id"`
	Name oneOrMany[fhirHumanName] `json:"name"`
}

type fhirLocation struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// oneOrMany decodes a JSON array of T or a single T (published GP Connect examples carry some
// arrays as bare objects). null decodes to nothing.
type oneOrMany[T any] []T

func (m *oneOrMany[T]) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		*m = nil
		return nil
	case len(data) > 0 && data[0] == '[':
		var many []T
		if err := json.Unmarshal(data, &many); err != nil {
			return err
		}
		*m = many
		return nil
	}
	var one T
	if err := json.Unmarshal(data, &one); err != nil {
		return err
	}
	*m = oneOrMany[T]{one}
	return nil
}

func (m oneOrMany[T]) first() (T, bool) {
	if len(m) == 0 {
		var zero T
		return zero, false
	}
	return m[0], true
}

// text is the concept's text, else its first coding's display.
func (cc fhirCodeableConcept) text() string {
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

// firstCoding returns the first coding that has a code.
func (cc fhirCodeableConcept) firstCoding() fhirCoding {
	for _, c := range cc.Coding {
		if c.Code != "" {
			return c
		}
	}
	return fhirCoding{}
}

// displayName renders a HumanName as "Given Family".
func (n fhirHumanName) displayName() string {
	if n.Text != "" {
		return n.Text
	}
	parts := append(append([]string{}, n.Given...), n.Family)
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// refKey reduces a reference ("Schedule/14", an absolute URL ending in Schedule/14, optionally
// with /_history/n) to "Schedule/14". Contained ("#x") and malformed references yield "".
func refKey(ref string) string {
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

// refType returns the resource type part of a reduced reference key.
func refType(key string) string {
	typ, _, _ := strings.Cut(key, "/")
	return typ
}

// refID returns the id part of a reduced reference key.
func refID(key string) string {
	_, id, _ := strings.Cut(key, "/")
	return id
}
