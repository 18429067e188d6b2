package gpconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Interaction IDs of the patient-level calls a booking makes
// (GPCONNECT-BOOKING.md section 1). Amend and cancel are the same HTTP call;
// the provider tells them apart by Ssp-InteractionID alone.
const (
	InteractionSearchPatient       = "urn:nhs:names:services:gpconnect:fhir:rest:search:patient-1"
	InteractionRegisterPatient     = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.registerpatient-1"
	InteractionCreateAppointment   = "urn:nhs:names:services:gpconnect:fhir:rest:create:appointment-1"
	InteractionReadAppointment     = "urn:nhs:names:services:gpconnect:fhir:rest:read:appointment-1"
	InteractionCancelAppointment   = "urn:nhs:names:services:gpconnect:fhir:rest:cancel:appointment-1"
	InteractionPatientAppointments = "urn:nhs:names:services:gpconnect:fhir:rest:search:patient_appointments-1"
)

// JWT scopes of patient-level calls: each interaction demands its own, and a
// provider answers a wrong one with 400 BAD_REQUEST.
const (
	jwtScopePatientRead  = "patient/*.read"
	jwtScopePatientWrite = "patient/*.write"
)

const (
	systemNHSNumber = "https://fhir.nhs.uk/Id/nhs-number"
	profilePatient  = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1"
)

// Patient is what gpfed reads from a Patient resource. It is patient data:
// never log it.
type Patient struct {
	ID         string // logical id at the practice that answered
	NHSNumber  string
	FamilyName string
	GivenName  string
	Gender     string
	BirthDate  string // YYYY-MM-DD
}

// Demographics are what registering a patient needs (NHS number, official
// name, birth date) and should have (gender).
type Demographics struct {
	NHSNumber, FamilyName, GivenName, BirthDate, Gender string
}

type fhirPatient struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Identifier   []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Name      oneOrMany[fhirHumanName] `json:"name"`
	Gender    string                   `json:"gender"`
	BirthDate string                   `json:"birthDate"`
}

func (fp fhirPatient) patient() Patient {
	p := Patient{ID: fp.ID, Gender: fp.Gender, BirthDate: fp.BirthDate}
	for _, id := range fp.Identifier {
		if id.System == systemNHSNumber {
			p.NHSNumber = id.Value
		}
	}
	if n, ok := fp.Name.first(); ok {
		p.FamilyName = n.Family
		if len(n.Given) > 0 {
			p.GivenName = n.Given[0]
		}
	}
	return p
}

// FindPatient searches the practice for an active patient with this NHS
// number (GET /Patient?identifier=...). Not found is not an error: the
// result is empty. Several matches are returned as they came: the caller
// decides (gpfed refuses to book for an ambiguous patient).
func (c *Client) FindPatient(ctx context.Context, p Provider, who Requester, nhs string) ([]Patient, error) {
	if err := c.checkCall(p, who); err != nil {
		return nil, fmt.Errorf("find patient: %w", err)
	}
	q := "/Patient?identifier=" + url.QueryEscape(systemNHSNumber+"|"+nhs)
	cr, err := c.call(ctx, p, request{method: http.MethodGet, pathAndQuery: q, interaction: InteractionSearchPatient,
		scope: jwtScopePatientRead, who: &who, retry: true})
	if err != nil {
		return nil, fmt.Errorf("find patient at %s: %w", p.ODS, err)
	}
	patients, err := parsePatientBundle(cr.body)
	if err != nil {
		return nil, fmt.Errorf("find patient at %s: %w", p.ODS, c.malformed(InteractionSearchPatient, cr, err))
	}
	// A provider answering for another NHS number than the one asked for is
	// not to be booked against.
	var out []Patient
	for _, pt := range patients {
		if pt.NHSNumber != nhs || pt.ID == "" {
			return nil, fmt.Errorf("find patient at %s: %w", p.ODS, c.malformed(InteractionSearchPatient, cr,
				&ParseError{Reason: "a returned Patient lacks an id or carries another NHS number"}))
		}
		out = append(out, pt)
	}
	return out, nil
}

func parsePatientBundle(data []byte) ([]Patient, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource fhirPatient `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, &ParseError{Reason: "not a JSON Bundle", Err: err}
	}
	if b.ResourceType != "Bundle" {
		return nil, &ParseError{Reason: fmt.Sprintf("resourceType %.40q, want Bundle", b.ResourceType)}
	}
	var out []Patient
	for _, e := range b.Entry {
		if e.Resource.ResourceType == "Patient" {
			out = append(out, e.Resource.patient())
		}
	}
	return out, nil
}

// RegisterPatient registers the patient at the practice temporarily
// (POST /Patient/$gpc.registerpatient), so that an appointment can be
// booked for them there; the practice traces PDS itself. A 409
// DUPLICATE_REJECTED means the patient is already registered there.
func (c *Client) RegisterPatient(ctx context.Context, p Provider, who Requester, d Demographics) (Patient, error) {
	if err := c.checkCall(p, who); err != nil {
		return Patient{}, fmt.Errorf("register patient: %w", err)
	}
	body, err := json.Marshal(registerParameters(d))
	if err != nil {
		return Patient{}, fmt.Errorf("register patient: %w", err)
	}
	cr, err := c.call(ctx, p, request{method: http.MethodPost, pathAndQuery: "/Patient/$gpc.registerpatient",
		interaction: InteractionRegisterPatient, scope: jwtScopePatientWrite, body: body, who: &who})
	if err != nil {
		return Patient{}, fmt.Errorf("register patient at %s: %w", p.ODS, err)
	}
	patients, err := parsePatientBundle(cr.body)
	if err == nil && (len(patients) != 1 || patients[0].ID == "") {
		err = &ParseError{Reason: fmt.Sprintf("want one registered Patient with an id, got %d", len(patients))}
	}
	if err != nil {
		return Patient{}, fmt.Errorf("register patient at %s: %w", p.ODS, c.malformed(InteractionRegisterPatient, cr, err))
	}
	return patients[0], nil
}

type registerParams struct {
	ResourceType string          `json:"resourceType"`
	Parameter    []registerParam `json:"parameter"`
}

type registerParam struct {
	Name     string          `json:"name"`
	Resource registerPatient `json:"resource"`
}

type registerPatient struct {
	ResourceType string       `json:"resourceType"`
	Meta         fhirMeta     `json:"meta"`
	Identifier   []fhirIdent  `json:"identifier"`
	Name         []officialHN `json:"name"`
	Gender       string       `json:"gender,omitempty"`
	BirthDate    string       `json:"birthDate"`
}

type officialHN struct {
	Use    string   `json:"use"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

// registerParameters builds the Parameters body: exactly the elements the
// operation requires (NHS number, one official name, birth date) and gender.
func registerParameters(d Demographics) registerParams {
	return registerParams{ResourceType: "Parameters", Parameter: []registerParam{{
		Name: "registerPatient",
		Resource: registerPatient{
			ResourceType: "Patient", Meta: fhirMeta{Profile: []string{profilePatient}},
			Identifier: []fhirIdent{{System: systemNHSNumber, Value: d.NHSNumber}},
			Name:       []officialHN{{Use: "official", Family: d.FamilyName, Given: []string{d.GivenName}}},
			Gender:     d.Gender, BirthDate: d.BirthDate,
		},
	}}}
}

// checkCall validates the provider and the person a patient-level call is made by.
func (c *Client) checkCall(p Provider, who Requester) error {
	if err := validateProvider(p); err != nil {
		return err
	}
	return who.Validate()
}

// IsVersionConflict reports whether err is a provider's answer to a stale
// If-Match: 409 or 412 with any code but DUPLICATE_REJECTED (providers differ).
func IsVersionConflict(err error) bool {
	var gerr *Error
	if !errors.As(err, &gerr) {
		return false
	}
	return (gerr.Status == http.StatusConflict && gerr.SpineCode != "DUPLICATE_REJECTED") ||
		gerr.Status == http.StatusPreconditionFailed
}

// trimWeak turns an ETag W/"17" into 17.
func trimWeak(etag string) string {
	etag = strings.TrimPrefix(strings.TrimSpace(etag), "W/")
	return strings.Trim(etag, `"`)
}
