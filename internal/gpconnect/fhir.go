package gpconnect

import (
	"strings"
	"time"
)

// fhirResource is one Bundle entry as gpfed reads it: the union of what it uses from Slot,
// Schedule, Location and Practitioner, with the repeating elements already folded into the values
// gpfed keeps (decode.go), so that a slot costs no slices. The folding follows FHIR order: the
// first serviceType, the first delivery channel extension that has a value, and so on.
type fhirResource struct {
	ResourceType, ID, Status string
	// Start and End are parsed as the decoder reads them; StartText and EndText keep them as
	// the provider wrote them (a booking sends a slot's times back byte for byte).
	Start, End         time.Time
	StartText, EndText string
	StartErr, EndErr   error
	ScheduleRef        string
	DeliveryChannel    string // Extension-GPConnect-DeliveryChannel-2/-1 (Slot or Schedule)
	Role               roleCoding
	ServiceType        conceptText // first serviceType (Slot)
	ServiceCategory    conceptText // first serviceCategory (Schedule)
	Actors             []string    // actor references (Schedule)
	Name               []byte      // raw: a string on Location, HumanNames on Practitioner
	deliveryChannelSet bool
}

// roleCoding is Extension-GPConnect-PractitionerRole-1 on a Schedule.
type roleCoding struct {
	Set           bool
	Code, Display string
}

// conceptText is what gpfed reads from a CodeableConcept: its text, else its first coding's display.
type conceptText struct {
	Set  bool
	Text string
}

// fhirHumanName is one Practitioner name.
type fhirHumanName struct {
	Text   string
	Family string
	Given  []string
}

// displayName renders a HumanName as "Given Family".
func (n fhirHumanName) displayName() string {
	if n.Text != "" {
		return n.Text
	}
	parts := append(append([]string{}, n.Given...), n.Family)
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// schedule is what a Slot takes from its Schedule.
type schedule struct {
	sessionName     string
	role            roleCoding
	deliveryChannel string
	actors          []string
}

// parseRef reduces a reference ("Schedule/14", an absolute URL ending in Schedule/14, optionally
// with /_history/n) to its type and id, as substrings of ref. Contained ("#x") and malformed
// references yield "", "".
func parseRef(ref string) (typ, id string) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimRight(ref, "/")
	j := strings.LastIndex(ref, "/")
	if j <= 0 {
		return "", ""
	}
	typ, id = ref[:j], ref[j+1:]
	if k := strings.LastIndex(typ, "/"); k >= 0 {
		typ = typ[k+1:]
	}
	if typ == "" || id == "" {
		return "", ""
	}
	return typ, id
}
