package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	interactionSlotSearch  = "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1"
	interactionMetadata    = "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1"
	interactionFindPatient = "urn:nhs:names:services:gpconnect:fhir:rest:search:patient-1"
	interactionRegister    = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.registerpatient-1"
	interactionBook        = "urn:nhs:names:services:gpconnect:fhir:rest:create:appointment-1"
	interactionReadAppt    = "urn:nhs:names:services:gpconnect:fhir:rest:read:appointment-1"
	interactionCancel      = "urn:nhs:names:services:gpconnect:fhir:rest:cancel:appointment-1"
	interactionAmend       = "urn:nhs:names:services:gpconnect:fhir:rest:update:appointment-1"
	interactionRetrieve    = "urn:nhs:names:services:gpconnect:fhir:rest:search:patient_appointments-1"

	jwtLifetime     = 300 // exp - iat, exactly
	jwtSkew         = 60 * time.Second
	scopeOrgRead    = "organization/*.read"
	scopePatRead    = "patient/*.read"
	scopePatWrite   = "patient/*.write"
	reasonDirectCar = "directcare"
)

// checkHeaders enforces the SSP headers: all present, Ssp-To is this practice's ASID and
// Ssp-InteractionID names this endpoint.
func checkHeaders(r *http.Request, p *practice, interaction string) *apiError {
	for _, h := range []string{"Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID", "Authorization", "Accept"} {
		if r.Header.Get(h) == "" {
			return badRequest("Missing mandatory header: " + h)
		}
	}
	if !isUUID(r.Header.Get("Ssp-TraceID")) {
		return badRequest("Ssp-TraceID must be a UUID")
	}
	if got := r.Header.Get("Ssp-To"); got != p.asid {
		return badRequest(fmt.Sprintf("Ssp-To header %q does not match the ASID of this practice", got))
	}
	if got := r.Header.Get("Ssp-InteractionID"); got != interaction {
		return badRequest(fmt.Sprintf("Ssp-InteractionID %q does not match the requested endpoint (want %s)", got, interaction))
	}
	if !acceptsFHIRJSON(r.Header.Values("Accept")) {
		return &apiError{status: http.StatusNotAcceptable, code: codeBadRequest,
			diagnostics: "Accept must allow application/fhir+json (this simulator serves JSON only)"}
	}
	return nil
}

func acceptsFHIRJSON(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.TrimSpace(mt) {
			case "application/fhir+json", "application/json+fhir", "application/json", "*/*", "application/*":
				return true
			}
		}
	}
	return false
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

type jwtHeader struct {
	Alg *string `json:"alg"`
	Typ *string `json:"typ"`
}

type jwtClaims struct {
	Iss              string           `json:"iss"`
	Sub              string           `json:"sub"`
	Aud              string           `json:"aud"`
	Iat              *json.Number     `json:"iat"`
	Exp              *json.Number     `json:"exp"`
	ReasonForRequest string           `json:"reason_for_request"`
	RequestedScope   string           `json:"requested_scope"`
	Device           *jwtResource     `json:"requesting_device"`
	Organization     *jwtResource     `json:"requesting_organization"`
	Practitioner     *jwtPractitioner `json:"requesting_practitioner"`
	// RequestedRecord was removed in GP Connect 1.0.0 (technical update of
	// March 2018): a 1.2.x consumer must not send it.
	RequestedRecord json.RawMessage `json:"requested_record"`
}

type jwtResource struct {
	ResourceType string       `json:"resourceType"`
	Identifier   []identifier `json:"identifier"`
	Model        string       `json:"model"`
	Version      string       `json:"version"`
	Name         any          `json:"name"`
}

type jwtPractitioner struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
	Name         []struct {
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
}

// checkJWT enforces the GP Connect audit JWT: unsigned (alg none, empty signature), every claim
// present and valid, aud = this practice's service root, exp - iat = 300 exactly, and the
// requested_scope this interaction demands (a valid scope of another interaction is refused, as
// the provider test suite expects). It returns the claims for the audit trail.
func checkJWT(r *http.Request, serviceRoot, scope string, now time.Time) (*jwtClaims, *apiError) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, badRequest("Authorization header must be: Bearer <JWT>")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, badRequest("JWT must have three dot-separated parts")
	}
	if parts[2] != "" {
		return nil, badRequest("JWT must be unsigned: the signature part must be empty")
	}
	var hdr jwtHeader
	if err := decodeJWTPart(parts[0], &hdr); err != nil {
		return nil, badRequest("JWT header is not base64url JSON: " + err.Error())
	}
	if hdr.Alg == nil || *hdr.Alg != "none" {
		return nil, badRequest(`JWT header alg must be "none"`)
	}
	if hdr.Typ != nil && *hdr.Typ != "JWT" {
		return nil, badRequest(`JWT header typ must be "JWT"`)
	}
	var c jwtClaims
	if err := decodeJWTPart(parts[1], &c); err != nil {
		return nil, badRequest("JWT claims are not base64url JSON: " + err.Error())
	}
	for _, check := range []func() string{
		func() string { return c.checkStrings(serviceRoot, scope) },
		func() string { return c.checkTimes(now) },
		c.checkDevice, c.checkOrganization, c.checkPractitioner,
	} {
		if diag := check(); diag != "" {
			return nil, badRequest(diag)
		}
	}
	return &c, nil
}

func decodeJWTPart(part string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(part, "="))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

func (c *jwtClaims) checkStrings(serviceRoot, scope string) string {
	switch {
	case c.Iss == "":
		return "Empty JWT iss claim"
	case c.Sub == "":
		return "Empty JWT sub claim"
	case c.Aud == "":
		return "Empty JWT aud claim"
	case c.Aud != serviceRoot:
		return fmt.Sprintf("JWT aud claim %q is not the practice service root %q", c.Aud, serviceRoot)
	case c.ReasonForRequest != reasonDirectCar:
		return "JWT reason_for_request must be directcare"
	case c.RequestedScope != scope:
		return "JWT requested_scope must be " + scope + " for this interaction"
	case c.RequestedRecord != nil:
		return "JWT requested_record claim is not part of GP Connect 1.2.x"
	}
	return ""
}

func (c *jwtClaims) checkTimes(now time.Time) string {
	if c.Iat == nil || c.Exp == nil {
		return "JWT iat and exp claims are required"
	}
	iat, err1 := c.Iat.Int64()
	exp, err2 := c.Exp.Int64()
	switch {
	case err1 != nil || err2 != nil:
		return "JWT iat and exp must be integer Unix seconds"
	case exp-iat != jwtLifetime:
		return fmt.Sprintf("JWT exp must be exactly %d seconds after iat, was %d", jwtLifetime, exp-iat)
	case time.Unix(iat, 0).After(now.Add(jwtSkew)):
		return "JWT iat is in the future"
	case time.Unix(exp, 0).Before(now.Add(-jwtSkew)):
		return "JWT has expired"
	}
	return ""
}

func (c *jwtClaims) checkDevice() string {
	d := c.Device
	switch {
	case d == nil:
		return "JWT requesting_device claim is missing"
	case d.ResourceType != "Device":
		return "JWT requesting_device resourceType must be Device"
	case len(d.Identifier) == 0 || d.Identifier[0].Value == "":
		return "JWT requesting_device must have an identifier"
	case d.Model == "" || d.Version == "":
		return "JWT requesting_device must have model and version"
	}
	return ""
}

func (c *jwtClaims) checkOrganization() string {
	o := c.Organization
	switch {
	case o == nil:
		return "JWT requesting_organization claim is missing"
	case o.ResourceType != "Organization":
		return "JWT requesting_organization resourceType must be Organization"
	case identifierValue(o.Identifier, systemODS) == "":
		return "JWT requesting_organization must have an ODS code identifier"
	}
	return ""
}

func (c *jwtClaims) checkPractitioner() string {
	p := c.Practitioner
	switch {
	case p == nil:
		return "JWT requesting_practitioner claim is missing"
	case p.ResourceType != "Practitioner":
		return "JWT requesting_practitioner resourceType must be Practitioner"
	case p.ID == "":
		return "JWT requesting_practitioner must have an id"
	case p.ID != c.Sub:
		return "JWT sub claim does not match requesting_practitioner.id"
	case identifierValue(p.Identifier, systemSDSUser) == "":
		return "JWT requesting_practitioner must have an SDS user id identifier"
	case identifierValue(p.Identifier, systemSDSRole) == "":
		return "JWT requesting_practitioner must have an SDS role profile id identifier"
	case len(p.Name) == 0 || p.Name[0].Family == "":
		return "JWT requesting_practitioner must have a name with a family name"
	}
	return ""
}

func identifierValue(ids []identifier, system string) string {
	for _, id := range ids {
		if id.System == system {
			return id.Value
		}
	}
	return ""
}
