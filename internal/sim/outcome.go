package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Spine error codes (https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1) this
// simulator answers with.
const (
	codeBadRequest       = "BAD_REQUEST"
	codeInvalidParameter = "INVALID_PARAMETER"
	codeOrgNotFound      = "ORGANISATION_NOT_FOUND"
	codeNoRecord         = "NO_RECORD_FOUND"
	codeAccessDenied     = "ACCESS_DENIED"
	codeDuplicate        = "DUPLICATE_REJECTED"
	codeInternal         = "INTERNAL_SERVER_ERROR"
	codeInvalidResource  = "INVALID_RESOURCE"
	codeRefNotFound      = "REFERENCE_NOT_FOUND"
	codeInvalidNHS       = "INVALID_NHS_NUMBER"
	codeInvalidIDSystem  = "INVALID_IDENTIFIER_SYSTEM"
	codeBadDemographics  = "INVALID_PATIENT_DEMOGRAPHICS"
	codeConstraint       = "FHIR_CONSTRAINT_VIOLATION"
	codeNotImplemented   = "NOT_IMPLEMENTED"

	systemSpineError  = "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1"
	profileOutcome    = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1"
	contentTypeFHIR   = "application/fhir+json;charset=utf-8"
	headerContentType = "Content-Type"
)

// spineCodes gives each code its display text and FHIR issue type.
var spineCodes = map[string]struct{ display, issue string }{
	codeBadRequest:       {"Bad request", "invalid"},
	codeInvalidParameter: {"Submitted parameter is not valid.", "invalid"},
	codeOrgNotFound:      {"Organisation record not found", "not-found"},
	codeNoRecord:         {"No Record Found", "not-found"},
	codeAccessDenied:     {"Access denied", "forbidden"},
	codeDuplicate:        {"Create would lead to creation of a duplicate resource", "duplicate"},
	codeInternal:         {"Internal Server Error", "exception"},
	codeInvalidResource:  {"Submitted resource is not valid.", "invalid"},
	codeRefNotFound:      {"FHIR reference not found", "invalid"},
	codeInvalidNHS:       {"Invalid NHS number", "value"},
	codeInvalidIDSystem:  {"Invalid identifier system", "value"},
	codeBadDemographics:  {"Invalid patient demographics", "invalid"},
	codeConstraint:       {"FHIR constraint violated", "conflict"},
	codeNotImplemented:   {"Not implemented", "not-supported"},
}

func invalidResource(diag string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: codeInvalidResource, diagnostics: diag}
}

// apiError is a request the simulator refuses, answered as an OperationOutcome.
type apiError struct {
	status      int
	code        string
	diagnostics string
}

func (e *apiError) Error() string {
	return strconv.Itoa(e.status) + " " + e.code + ": " + e.diagnostics
}

func badRequest(diag string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadRequest, diagnostics: diag}
}

func invalidParam(diag string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: codeInvalidParameter, diagnostics: diag}
}

type outcomeIssue struct {
	Severity    string          `json:"severity"`
	Code        string          `json:"code"`
	Details     codeableConcept `json:"details"`
	Diagnostics string          `json:"diagnostics"`
}

type operationOutcome struct {
	ResourceType string         `json:"resourceType"`
	Meta         meta           `json:"meta"`
	Issue        []outcomeIssue `json:"issue"`
}

func outcomeJSON(code, diagnostics string) []byte {
	sc, ok := spineCodes[code]
	if !ok {
		sc.issue = "processing"
	}
	oo := operationOutcome{
		ResourceType: "OperationOutcome",
		Meta:         meta{Profile: []string{profileOutcome}},
		Issue: []outcomeIssue{{
			Severity:    "error",
			Code:        sc.issue,
			Details:     codeableConcept{Coding: []coding{{System: systemSpineError, Code: code, Display: sc.display}}},
			Diagnostics: diagnostics,
		}},
	}
	b, _ := json.Marshal(oo) // cannot fail: plain strings only
	return b
}

func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	writeFHIR(w, status, outcomeJSON(code, diagnostics))
}

func writeError(w http.ResponseWriter, e *apiError) { writeOutcome(w, e.status, e.code, e.diagnostics) }

func writeFHIR(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set(headerContentType, contentTypeFHIR)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// defaultSpineCode is the code a fault answers with when Fault.SpineCode is empty.
func defaultSpineCode(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return codeBadRequest
	case status == http.StatusForbidden:
		return codeAccessDenied
	case status == http.StatusNotFound:
		return codeOrgNotFound
	case status == http.StatusConflict:
		return codeDuplicate
	case status == http.StatusUnprocessableEntity:
		return codeInvalidParameter
	case status >= 400 && status < 500 && status != http.StatusTooManyRequests:
		return codeBadRequest
	default:
		return codeInternal
	}
}
