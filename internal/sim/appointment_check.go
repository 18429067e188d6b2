package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The Appointment a consumer posts, checked the way GPCONNECT-BOOKING.md section 2 describes the
// demonstrator and the provider test suite checking it: every required element present, every
// forbidden one absent, start and end equal to the slots' byte for byte, references relative,
// participants those of the slots' Schedule.

const (
	profileAppointment = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"
	extBookingOrg      = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1"
	extCancelReason    = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1"
	maxDescription     = 100
	maxComment         = 500
)

// apptAllowed are the top-level elements a booking may carry. serviceType and serviceCategory
// are tolerated and ignored; minutesDuration must match the slots.
var apptAllowed = []string{"resourceType", "meta", "contained", "extension", "status", "description", "start", "end",
	"slot", "created", "comment", "participant", "serviceType", "serviceCategory", "minutesDuration"}

type apptIn struct {
	ResourceType string `json:"resourceType"`
	Meta         struct {
		Profile []string `json:"profile"`
	} `json:"meta"`
	Contained []struct {
		ResourceType string       `json:"resourceType"`
		ID           string       `json:"id"`
		Identifier   []identifier `json:"identifier"`
		Type         []struct {
			Coding []coding `json:"coding"`
		} `json:"type"`
		Name    string         `json:"name"`
		Telecom []contactPoint `json:"telecom"`
	} `json:"contained"`
	Extension []struct {
		URL                  string           `json:"url"`
		ValueReference       *reference       `json:"valueReference"`
		ValueCode            string           `json:"valueCode"`
		ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept"`
	} `json:"extension"`
	Status          string      `json:"status"`
	Description     *string     `json:"description"`
	Start           string      `json:"start"`
	End             string      `json:"end"`
	Slot            []reference `json:"slot"`
	Created         string      `json:"created"`
	Comment         *string     `json:"comment"`
	MinutesDuration *int        `json:"minutesDuration"`
	Participant     []struct {
		Actor  *reference `json:"actor"`
		Status string     `json:"status"`
	} `json:"participant"`
}

// bookingRequest is a checked booking.
type bookingRequest struct {
	res        map[string]any // the resource as sent, to store and answer with
	slots      []slot
	patientID  string
	nhs        string
	bookingODS string
}

// checkAppointment validates a booking for practice p at now.
func (f *Federation) checkAppointment(p *practice, raw []byte) (*bookingRequest, *apiError) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, badRequest("The body is not a JSON resource")
	}
	for k := range keys {
		if !slices.Contains(apptAllowed, k) {
			return nil, errorf("Element %s is not allowed when booking an appointment", k)
		}
	}
	var a apptIn
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, invalidResource("The body is not a valid Appointment: " + err.Error())
	}
	br := &bookingRequest{}
	for _, check := range []func() *apiError{
		a.checkBasics,
		func() *apiError { return f.checkSlots(p, &a, br) },
		func() *apiError { return a.checkExtensions(br) },
		func() *apiError { return a.checkBookingOrg(br) },
		func() *apiError { return f.checkParticipants(p, &a, br) },
	} {
		if e := check(); e != nil {
			return nil, e
		}
	}
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, badRequest("The body is not a JSON resource")
	}
	br.res = res
	return br, nil
}

func (a *apptIn) checkBasics() *apiError {
	switch {
	case a.ResourceType != "Appointment":
		return invalidResource("resourceType must be Appointment")
	case !slices.Contains(a.Meta.Profile, profileAppointment):
		return invalidResource("meta.profile must include " + profileAppointment)
	case a.Status != "booked":
		return invalidResource("status must be booked")
	case a.Description == nil || strings.TrimSpace(*a.Description) == "":
		return invalidResource("description is mandatory")
	case utf8.RuneCountInString(*a.Description) > maxDescription:
		return invalidResource("description must be at most 100 characters")
	case a.Comment != nil && utf8.RuneCountInString(*a.Comment) > maxComment:
		return invalidResource("comment must be at most 500 characters")
	}
	if !localDateTime(a.Created) {
		return invalidResource("created must be a dateTime with a UK offset (+00:00 or +01:00)")
	}
	return nil
}

// localDateTime accepts yyyy-mm-ddThh:mm:ss+hh:mm (no Z, offset present).
func localDateTime(s string) bool {
	if strings.HasSuffix(s, "Z") {
		return false
	}
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// checkSlots resolves the slot references: each a free slot of this practice, in the future,
// contiguous, one Schedule, one channel and type; start and end equal to theirs byte for byte.
func (f *Federation) checkSlots(p *practice, a *apptIn, br *bookingRequest) *apiError {
	if len(a.Slot) == 0 {
		return invalidResource("At least one slot reference is required")
	}
	now := f.cfg.Now()
	for i, ref := range a.Slot {
		id, ok := strings.CutPrefix(ref.Reference, "Slot/")
		if !ok || id == "" || strings.Contains(id, "/") {
			return errorf("Slot reference %q must be a relative reference Slot/<id>", ref.Reference)
		}
		s, found := f.findSlot(p, id)
		if !found {
			return &apiError{status: http.StatusUnprocessableEntity, code: codeRefNotFound,
				diagnostics: "Reference to Slot/" + id + " - no such slot exists at the server"}
		}
		if !s.start.After(now) {
			return errorf("Slot/%s is in the past", id)
		}
		if i > 0 {
			prev := br.slots[i-1]
			if !s.start.Equal(prev.end) || s.sched != prev.sched || s.channel != prev.channel || s.slotType != prev.slotType {
				return errorf("Slots must be adjacent and share one schedule, delivery channel and type")
			}
		}
		br.slots = append(br.slots, s)
	}
	first, last := br.slots[0], br.slots[len(br.slots)-1]
	if a.Start != first.start.Format(fhirDateTime) || a.End != last.end.Format(fhirDateTime) {
		return invalidResource("start and end must equal the start of the first slot and the end of the last, exactly")
	}
	if a.MinutesDuration != nil && *a.MinutesDuration != int(last.end.Sub(first.start)/time.Minute) {
		return invalidResource("minutesDuration does not match the slots")
	}
	return nil
}

// checkExtensions wants the booking organisation extension and refuses the cancellation
// reason; the slot's own channel and role may be repeated only with their values.
func (a *apptIn) checkExtensions(br *bookingRequest) *apiError {
	bookingOrg := 0
	s := br.slots[0]
	for _, e := range a.Extension {
		switch e.URL {
		case extBookingOrg:
			bookingOrg++
			if e.ValueReference == nil || len(a.Contained) == 0 || e.ValueReference.Reference != "#"+a.Contained[0].ID {
				return invalidResource("The booking organisation extension must reference the contained Organization")
			}
		case extCancelReason:
			return invalidResource("A new appointment must not carry a cancellation reason")
		case extDeliveryChannel:
			if e.ValueCode != s.channel {
				return invalidResource("The delivery channel differs from the slot's")
			}
		case extPractitionerRole:
		default:
			return errorf("Unknown extension %s", e.URL)
		}
	}
	if bookingOrg != 1 {
		return invalidResource("Exactly one booking organisation extension is required")
	}
	return nil
}

// checkBookingOrg wants one contained Organization with an ODS code, a name, a phone number and,
// if typed, a GP Connect organisation type; a restricted slot only for the organisation or type
// it is kept for.
func (a *apptIn) checkBookingOrg(br *bookingRequest) *apiError {
	if len(a.Contained) != 1 || a.Contained[0].ResourceType != "Organization" {
		return invalidResource("The booking organisation must be the one contained Organization")
	}
	org := a.Contained[0]
	ods := identifierValue(org.Identifier, systemODS)
	phone := slices.ContainsFunc(org.Telecom, func(t contactPoint) bool { return t.System == "phone" && t.Value != "" })
	switch {
	case ods == "":
		return invalidResource("The booking organisation must have an ODS code identifier")
	case strings.TrimSpace(org.Name) == "":
		return invalidResource("The booking organisation must have a name")
	case !phone:
		return invalidResource("The booking organisation must have a telephone number")
	}
	orgType := ""
	for _, t := range org.Type {
		for _, c := range t.Coding {
			if c.System != systemOrgType || (c.Code != OrgTypeGPPractice && c.Code != OrgTypeUrgentCare) {
				return invalidResource("The booking organisation type must be a GPConnect-OrganisationType-1 code")
			}
			orgType = c.Code
		}
	}
	for _, s := range br.slots {
		if !s.visible(SearchFilter{ODS: ods, OrgType: orgType}) {
			return errorf("Slot/%s is not available to this organisation", s.id)
		}
	}
	br.bookingODS = ods
	return nil
}

// checkParticipants wants the patient (registered here), the Schedule's Location and, if
// present, the Schedule's Practitioner, each with a status; nothing else.
func (f *Federation) checkParticipants(p *practice, a *apptIn, br *bookingRequest) *apiError {
	sched := &p.schedules[br.slots[0].sched]
	var patients, locations int
	for _, pa := range a.Participant {
		if pa.Actor == nil || pa.Actor.Reference == "" || pa.Status == "" {
			return invalidResource("Every participant needs actor.reference and status")
		}
		typ, id, _ := strings.Cut(pa.Actor.Reference, "/")
		if strings.Contains(id, "/") || strings.Contains(typ, ":") {
			return errorf("Participant reference %q must be relative", pa.Actor.Reference)
		}
		switch typ {
		case "Patient":
			patients++
			nhs, ok := f.patientByID(p, id)
			if !ok {
				return &apiError{status: http.StatusUnprocessableEntity, code: codeRefNotFound, diagnostics: "Reference to Patient/" + id + " - no such patient"}
			}
			br.patientID, br.nhs = id, nhs
		case "Location":
			locations++
			if id != p.sites[sched.site].id {
				return invalidResource("The Location is not the slot's schedule location")
			}
		case "Practitioner":
			if sched.staff < 0 || id != p.staff[sched.staff].id {
				return invalidResource("The Practitioner is not the slot's schedule practitioner")
			}
		default:
			return errorf("Participant type %s is not allowed", typ)
		}
	}
	if patients != 1 || locations != 1 {
		return invalidResource("Exactly one Patient and one Location participant are required")
	}
	return nil
}

// findSlot regenerates the slot with this id: the id encodes its local date.
func (f *Federation) findSlot(p *practice, id string) (slot, bool) {
	n, err := strconv.Atoi(id)
	if err != nil || n < 10000 || strconv.Itoa(n) != id {
		return slot{}, false
	}
	y, m, d := idEpoch.AddDate(0, 0, n/10000).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, london)
	first, last := f.horizon()
	if day.Before(first) || day.After(last) {
		return slot{}, false
	}
	for _, s := range f.daySlots(p, day) {
		if s.id == id {
			return s, true
		}
	}
	return slot{}, false
}
