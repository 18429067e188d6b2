package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	systemNHSNumber = "https://fhir.nhs.uk/Id/nhs-number"
	profilePatient  = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1"
	profileBundle   = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Searchset-Bundle-1"
	extRegDetails   = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-RegistrationDetails-1"
	maxBodyBytes    = 1 << 20
)

type patientName struct {
	Use    string   `json:"use"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type regExtension struct {
	URL       string           `json:"url"`
	Extension []regExtension   `json:"extension,omitempty"`
	ValueCC   *codeableConcept `json:"valueCodeableConcept,omitempty"`
}

type patientResource struct {
	ResourceType         string         `json:"resourceType"`
	ID                   string         `json:"id"`
	Meta                 meta           `json:"meta"`
	Extension            []regExtension `json:"extension,omitempty"`
	Identifier           []identifier   `json:"identifier"`
	Active               bool           `json:"active"`
	Name                 []patientName  `json:"name"`
	Gender               string         `json:"gender"`
	BirthDate            string         `json:"birthDate"`
	ManagingOrganization reference      `json:"managingOrganization"`
}

func (f *Federation) patientResource(p *practice, id, nhs string, temporary bool) patientResource {
	d := f.Demographics(nhs)
	res := patientResource{
		ResourceType: "Patient", ID: id, Meta: meta{Profile: []string{profilePatient}},
		Identifier: []identifier{{System: systemNHSNumber, Value: nhs}}, Active: true,
		Name:   []patientName{{Use: "official", Family: d.FamilyName, Given: []string{d.GivenName}}},
		Gender: d.Gender, BirthDate: d.BirthDate, ManagingOrganization: reference{Reference: "Organization/" + p.orgID},
	}
	if temporary {
		res.Extension = []regExtension{{URL: extRegDetails, Extension: []regExtension{{URL: "registrationType",
			ValueCC: &codeableConcept{Coding: []coding{{System: "https://fhir.nhs.uk/CareConnect-RegistrationType-1", Code: "T"}}}}}}}
	}
	return res
}

// serveFindPatient answers GET /Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|<nhs>: a
// searchset with the active patient, or an empty one (never registered here, left, deceased,
// sensitive: a consumer cannot tell which).
func (f *Federation) serveFindPatient(c *callCtx) *apiError {
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return badRequest("Malformed query string: " + err.Error())
	}
	for k := range q {
		if k != "identifier" && k != "_format" {
			return badRequest("Unknown or unsupported search parameter: " + k)
		}
	}
	ids := q["identifier"]
	switch {
	case len(ids) == 0:
		return badRequest("Missing mandatory parameter: identifier")
	case len(ids) > 1:
		return badRequest("Parameter identifier must be sent exactly once")
	}
	system, value, ok := strings.Cut(ids[0], "|")
	switch {
	case !ok || system == "" || value == "":
		return invalidParam("The identifier must be system|value with both parts present")
	case system != systemNHSNumber:
		return &apiError{status: http.StatusBadRequest, code: codeInvalidIDSystem, diagnostics: "Identifier system must be " + systemNHSNumber}
	case !validNHS(value):
		return &apiError{status: http.StatusBadRequest, code: codeInvalidNHS, diagnostics: "The NHS number is not valid"}
	}
	b := bundle{ResourceType: "Bundle", Type: "searchset", Entry: []bundleEntry{}}
	if id, ok := f.lookupPatient(c.p, value); ok {
		_, temp := f.patients(c.p).index[value]
		b.Entry = append(b.Entry, bundleEntry{Resource: f.patientResource(c.p, id, value, !temp)})
	}
	return writeJSONResource(c.w, http.StatusOK, b)
}

// registerBody is the Parameters resource of $gpc.registerpatient.
type registerBody struct {
	ResourceType string `json:"resourceType"`
	Parameter    []struct {
		Name     string          `json:"name"`
		Resource json.RawMessage `json:"resource"`
	} `json:"parameter"`
}

type registerPatientIn struct {
	ResourceType string       `json:"resourceType"`
	Meta         meta         `json:"meta"`
	Identifier   []identifier `json:"identifier"`
	Name         []struct {
		Use    string   `json:"use"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	Gender    string `json:"gender"`
	BirthDate string `json:"birthDate"`
}

// registerAllowed are the Patient elements a registration may carry (required, should, may).
var registerAllowed = []string{"resourceType", "meta", "identifier", "name", "gender", "birthDate", "address",
	"telecom", "extension"}

// serveRegister answers POST /Patient/$gpc.registerpatient: a temporary registration after a
// PDS trace, or 409 DUPLICATE_REJECTED for a patient already registered here.
func (f *Federation) serveRegister(c *callCtx) *apiError {
	raw, e := readBody(c.r)
	if e != nil {
		return e
	}
	var body registerBody
	if err := json.Unmarshal(raw, &body); err != nil || body.ResourceType != "Parameters" {
		return invalidResource("The body must be a Parameters resource")
	}
	if len(body.Parameter) != 1 || body.Parameter[0].Name != "registerPatient" {
		return invalidResource("Parameters must hold exactly one parameter, registerPatient")
	}
	pt, e := parseRegisterPatient(body.Parameter[0].Resource)
	if e != nil {
		return e
	}
	nhs := pt.Identifier[0].Value
	pds := f.Demographics(nhs)
	switch {
	case slices.Contains(blockedPatients, nhs):
		return &apiError{status: http.StatusBadRequest, code: codeBadDemographics, diagnostics: "PDS trace failed: the patient may not be registered"}
	case !strings.EqualFold(pt.Name[0].Family, pds.FamilyName) || !strings.EqualFold(pt.Name[0].Given[0], pds.GivenName) ||
		pt.BirthDate != pds.BirthDate:
		return &apiError{status: http.StatusBadRequest, code: codeBadDemographics, diagnostics: "PDS trace failed: demographics do not match"}
	}
	if _, ok := f.lookupPatient(c.p, nhs); ok {
		return &apiError{status: http.StatusConflict, code: codeDuplicate, diagnostics: "Patient record already exists with that NHS number"}
	}
	id := c.p.bk.register(nhs)
	res := f.patientResource(c.p, id, nhs, true)
	b := struct {
		ResourceType string        `json:"resourceType"`
		Meta         meta          `json:"meta"`
		Type         string        `json:"type"`
		Entry        []bundleEntry `json:"entry"`
	}{"Bundle", meta{Profile: []string{profileBundle}}, "searchset", []bundleEntry{{Resource: res}}}
	return writeJSONResource(c.w, http.StatusOK, b)
}

// parseRegisterPatient checks the Patient: profile, a valid NHS number, one official name with
// family and given, a birth date, nothing outside what the operation allows.
func parseRegisterPatient(raw json.RawMessage) (*registerPatientIn, *apiError) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, invalidResource("registerPatient must hold a Patient resource")
	}
	for k := range keys {
		if !slices.Contains(registerAllowed, k) {
			return nil, invalidResource("Element " + k + " is not allowed in a patient registration")
		}
	}
	var pt registerPatientIn
	if err := json.Unmarshal(raw, &pt); err != nil || pt.ResourceType != "Patient" {
		return nil, invalidResource("registerPatient must hold a Patient resource")
	}
	switch {
	case !slices.Contains(pt.Meta.Profile, profilePatient):
		return nil, invalidResource("Patient meta.profile must be " + profilePatient)
	case len(pt.Identifier) != 1 || pt.Identifier[0].System != systemNHSNumber:
		return nil, invalidResource("Patient must have one NHS number identifier")
	case !validNHS(pt.Identifier[0].Value):
		return nil, &apiError{status: http.StatusBadRequest, code: codeInvalidNHS, diagnostics: "The NHS number is not valid"}
	case len(pt.Name) != 1 || pt.Name[0].Use != "official" || pt.Name[0].Family == "" || len(pt.Name[0].Given) == 0 || pt.Name[0].Given[0] == "":
		return nil, invalidResource("Patient must have one official name with family and given names")
	}
	if _, err := time.Parse(time.DateOnly, pt.BirthDate); err != nil {
		return nil, invalidResource("Patient birthDate must be YYYY-MM-DD")
	}
	return &pt, nil
}

func readBody(r *http.Request) ([]byte, *apiError) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, badRequest("The request body could not be read")
	}
	if len(raw) > maxBodyBytes {
		return nil, badRequest("The request body is too large")
	}
	return raw, nil
}

func writeJSONResource(w http.ResponseWriter, status int, v any) *apiError {
	body, err := json.Marshal(v)
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, code: codeInternal, diagnostics: "encode: " + err.Error()}
	}
	writeFHIR(w, status, body)
	return nil
}

// register adds a temporary registration and returns its logical id.
func (b *bookState) register(nhs string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.temp == nil {
		b.temp = map[string]string{}
	}
	if id, ok := b.temp[nhs]; ok {
		return id
	}
	id := "T" + strconv.Itoa(len(b.temp)+1)
	b.temp[nhs] = id
	return id
}

// errorf is a shorthand for a 422 INVALID_RESOURCE with a formatted diagnostic.
func errorf(format string, args ...any) *apiError {
	return invalidResource(fmt.Sprintf(format, args...))
}
