package gpconnect

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The Appointment gpfed posts when booking (GPCONNECT-BOOKING.md section 2).
// Struct field order fixes the JSON key order; omitempty keeps optional
// elements out entirely rather than sending empty ones.

const (
	profileAppointment = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"
	profileOrgGPC      = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Organization-1"
	extBookingOrg      = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1"
	extCancelReason    = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1"
	// fhirLocalTime is how GP Connect writes created: UK local time with
	// its offset, never Z.
	fhirLocalTime = "2006-01-02T15:04:05-07:00"
)

type fhirMeta struct {
	VersionID string   `json:"versionId,omitempty"`
	Profile   []string `json:"profile"`
}

type fhirIdent struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirContactPoint struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirTypeConcept struct {
	Coding []fhirTypeCoding `json:"coding"`
}

type fhirTypeCoding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type bookingOrgResource struct {
	ResourceType string             `json:"resourceType"`
	ID           string             `json:"id"`
	Meta         fhirMeta           `json:"meta"`
	Identifier   []fhirIdent        `json:"identifier"`
	Type         []fhirTypeConcept  `json:"type,omitempty"`
	Name         string             `json:"name"`
	Telecom      []fhirContactPoint `json:"telecom"`
}

type refExtension struct {
	URL            string        `json:"url"`
	ValueReference fhirReference `json:"valueReference"`
}

type apptParticipant struct {
	Actor  fhirReference `json:"actor"`
	Status string        `json:"status"`
}

type appointmentRequest struct {
	ResourceType string               `json:"resourceType"`
	Meta         fhirMeta             `json:"meta"`
	Contained    []bookingOrgResource `json:"contained"`
	Extension    []refExtension       `json:"extension"`
	Status       string               `json:"status"`
	Description  string               `json:"description"`
	Start        string               `json:"start"`
	End          string               `json:"end"`
	Slot         []fhirReference      `json:"slot"`
	Created      string               `json:"created"`
	Comment      string               `json:"comment,omitempty"`
	Participant  []apptParticipant    `json:"participant"`
}

// BookingOrg is the organisation a booking is made for: it travels as the
// contained Organization the BookingOrganisation extension points at.
type BookingOrg struct {
	ODS, Name, Telephone string
	// OrgType is the GPConnect-OrganisationType-1 code sent in the slot
	// search's searchFilter (gp-practice, urgent-care); "" leaves type out,
	// as the specification asks when the search sent none.
	OrgType string
}

// NewAppointment is what a booking sends. Start and End are the provider's
// Slot.start of the first slot and Slot.end of the last, unparsed: providers
// compare them with their slots byte for byte, offset included.
type NewAppointment struct {
	SlotIDs        []string
	Start, End     string
	PatientID      string // logical id from Find patient (or Register patient)
	LocationID     string // the Schedule's Location actor
	PractitionerID string // the Schedule's Practitioner actor, if it has one
	Description    string // at most 100 characters, administrative only
	Comment        string // optional, at most 500 characters
	BookingOrg     BookingOrg
}

func (a NewAppointment) validate() error {
	var missing []string
	for name, v := range map[string]string{"start": a.Start, "end": a.End, "patient id": a.PatientID,
		"location id": a.LocationID, "description": a.Description, "booking organisation ODS code": a.BookingOrg.ODS,
		"booking organisation name": a.BookingOrg.Name, "booking organisation telephone": a.BookingOrg.Telephone} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(a.SlotIDs) == 0 {
		missing = append(missing, "slot ids")
	}
	if len(missing) > 0 {
		return fmt.Errorf("appointment lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// request builds the Appointment resource, created at now.
func (a NewAppointment) request(now time.Time) appointmentRequest {
	org := bookingOrgResource{
		ResourceType: "Organization", ID: "1", Meta: fhirMeta{Profile: []string{profileOrgGPC}},
		Identifier: []fhirIdent{{System: systemODS, Value: a.BookingOrg.ODS}},
		Name:       a.BookingOrg.Name,
		Telecom:    []fhirContactPoint{{System: "phone", Value: a.BookingOrg.Telephone}},
	}
	if a.BookingOrg.OrgType != "" {
		org.Type = []fhirTypeConcept{{Coding: []fhirTypeCoding{{System: systemOrgType, Code: a.BookingOrg.OrgType}}}}
	}
	slots := make([]fhirReference, len(a.SlotIDs))
	for i, id := range a.SlotIDs {
		slots[i] = fhirReference{Reference: "Slot/" + id}
	}
	parts := []apptParticipant{
		{Actor: fhirReference{Reference: "Patient/" + a.PatientID}, Status: "accepted"},
		{Actor: fhirReference{Reference: "Location/" + a.LocationID}, Status: "accepted"},
	}
	if a.PractitionerID != "" {
		parts = append(parts, apptParticipant{Actor: fhirReference{Reference: "Practitioner/" + a.PractitionerID}, Status: "accepted"})
	}
	return appointmentRequest{
		ResourceType: "Appointment", Meta: fhirMeta{Profile: []string{profileAppointment}},
		Contained:   []bookingOrgResource{org},
		Extension:   []refExtension{{URL: extBookingOrg, ValueReference: fhirReference{Reference: "#1"}}},
		Status:      "booked",
		Description: a.Description, Start: a.Start, End: a.End, Slot: slots,
		Created: now.In(london).Format(fhirLocalTime), Comment: a.Comment, Participant: parts,
	}
}

// Appointment is what gpfed reads from a provider's Appointment. Raw keeps
// the resource as the provider sent it: a cancel edits exactly two things
// in it and sends the rest back unchanged.
type Appointment struct {
	ID, VersionID, Status string
	Start, End            string
	SlotIDs               []string
	PatientID             string
	BookingODS            string // contained booking organisation's ODS code
	CancellationReason    string
	Raw                   json.RawMessage
}

type fhirAppointment struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		VersionID string `json:"versionId"`
	} `json:"meta"`
	Contained []struct {
		ResourceType string      `json:"resourceType"`
		ID           string      `json:"id"`
		Identifier   []fhirIdent `json:"identifier"`
	} `json:"contained"`
	Extension []struct {
		URL            string        `json:"url"`
		ValueReference fhirReference `json:"valueReference"`
		ValueString    string        `json:"valueString"`
	} `json:"extension"`
	Status      string          `json:"status"`
	Start       string          `json:"start"`
	End         string          `json:"end"`
	Slot        []fhirReference `json:"slot"`
	Participant []struct {
		Actor fhirReference `json:"actor"`
	} `json:"participant"`
}

// parseAppointment reads one Appointment; etag (W/"v") stands in for a
// missing meta.versionId.
func parseAppointment(raw []byte, etag string) (*Appointment, error) {
	var fa fhirAppointment
	if err := json.Unmarshal(raw, &fa); err != nil {
		return nil, &ParseError{Reason: "not a JSON Appointment", Err: err}
	}
	if fa.ResourceType != "Appointment" {
		return nil, &ParseError{Reason: fmt.Sprintf("resourceType %.40q, want Appointment", fa.ResourceType)}
	}
	a := fa.appointment(raw)
	if a.VersionID == "" {
		a.VersionID = trimWeak(etag)
	}
	if a.ID == "" || a.VersionID == "" || a.Status == "" {
		return nil, &ParseError{Reason: "Appointment without id, versionId or status"}
	}
	return a, nil
}

func (fa fhirAppointment) appointment(raw []byte) *Appointment {
	a := &Appointment{ID: fa.ID, VersionID: fa.Meta.VersionID, Status: fa.Status, Start: fa.Start, End: fa.End,
		Raw: append(json.RawMessage(nil), raw...)}
	for _, s := range fa.Slot {
		if typ, id := parseRef(s.Reference); typ == "Slot" {
			a.SlotIDs = append(a.SlotIDs, id)
		}
	}
	for _, p := range fa.Participant {
		if typ, id := parseRef(p.Actor.Reference); typ == "Patient" {
			a.PatientID = id
		}
	}
	orgRef := ""
	for _, e := range fa.Extension {
		switch e.URL {
		case extBookingOrg:
			orgRef = strings.TrimPrefix(e.ValueReference.Reference, "#")
		case extCancelReason:
			a.CancellationReason = e.ValueString
		}
	}
	for _, c := range fa.Contained {
		if c.ResourceType == "Organization" && (orgRef == "" || c.ID == orgRef) {
			for _, id := range c.Identifier {
				if id.System == systemODS {
					a.BookingODS = id.Value
				}
			}
		}
	}
	return a
}

// cancelled returns the provider's resource with exactly the two changes a
// cancel makes: status cancelled, and the cancellation reason extension
// (replacing one already there). Every other element goes back as it came.
func cancelledResource(raw json.RawMessage, reason string) ([]byte, error) {
	var res map[string]json.RawMessage
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("appointment to cancel: %w", err)
	}
	var exts []json.RawMessage
	if e, ok := res["extension"]; ok {
		if err := json.Unmarshal(e, &exts); err != nil {
			return nil, fmt.Errorf("appointment to cancel: extension: %w", err)
		}
	}
	kept := exts[:0]
	for _, e := range exts {
		var head struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(e, &head) == nil && head.URL == extCancelReason {
			continue
		}
		kept = append(kept, e)
	}
	reasonExt, err := json.Marshal(map[string]string{"url": extCancelReason, "valueString": reason})
	if err != nil {
		return nil, err
	}
	kept = append(kept, reasonExt)
	if res["extension"], err = json.Marshal(kept); err != nil {
		return nil, err
	}
	res["status"] = json.RawMessage(`"cancelled"`)
	return json.Marshal(res)
}
