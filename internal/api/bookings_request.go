package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/nhsnumber"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

// Booking request limits (GP Connect's, for description and comment).
const (
	maxDescriptionChars = 100
	maxCommentChars     = 500
	maxReasonChars      = 500
	maxNameChars        = 100
)

var (
	// slotIDRe is "<ODS>:<FHIR id of the slot at that practice>".
	slotIDRe = regexp.MustCompile(`^([A-Z0-9]{3,10}):([A-Za-z0-9\-.]{1,64})$`)
	// sdsIDRe: SDS user and role profile ids are digits (12 today); a
	// booking is made by a named person, so the "UNK" placeholder is refused.
	sdsIDRe  = regexp.MustCompile(`^[0-9]{6,20}$`)
	userIDRe = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)
)

// personJSON is the named person a GP Connect call is attributed to.
type personJSON struct {
	SDSUserID        string `json:"sds_user_id"`
	SDSRoleProfileID string `json:"sds_role_profile_id"`
	FamilyName       string `json:"family_name"`
	GivenName        string `json:"given_name"`
	UserID           string `json:"user_id,omitempty"`
}

var personFields = map[string]bool{"sds_user_id": true, "sds_role_profile_id": true, "family_name": true,
	"given_name": true, "user_id": true}

func (p personJSON) store() store.Person {
	return store.Person{UserID: p.UserID, SDSUserID: p.SDSUserID, SDSRoleProfileID: p.SDSRoleProfileID,
		FamilyName: p.FamilyName, GivenName: p.GivenName}
}

// validate adds field reasons under prefix (booked_by, cancelled_by).
func (p personJSON) validate(prefix string, errs map[string]string) {
	if !sdsIDRe.MatchString(p.SDSUserID) {
		errs[prefix+".sds_user_id"] = "must be the person's SDS user id (digits)"
	}
	if !sdsIDRe.MatchString(p.SDSRoleProfileID) {
		errs[prefix+".sds_role_profile_id"] = "must be the person's SDS role profile id (digits)"
	}
	for name, v := range map[string]string{"family_name": p.FamilyName, "given_name": p.GivenName} {
		if reason := checkText(v, maxNameChars, false); reason != "" {
			errs[prefix+"."+name] = reason
		} else if strings.TrimSpace(v) == "" {
			errs[prefix+"."+name] = "is required"
		}
	}
	if p.UserID != "" && !userIDRe.MatchString(p.UserID) {
		errs[prefix+".user_id"] = "must be 1 to 64 visible ASCII characters"
	}
}

// patientJSON is the patient's demographics, for a temporary registration.
type patientJSON struct {
	FamilyName string `json:"family_name"`
	GivenName  string `json:"given_name"`
	BirthDate  string `json:"birth_date"`
	Gender     string `json:"gender,omitempty"`
}

var patientFields = map[string]bool{"family_name": true, "given_name": true, "birth_date": true, "gender": true}

// createBookingRequest is the body of POST /v1/bookings.
type createBookingRequest struct {
	SlotID           string       `json:"slot_id"`
	PatientNHSNumber string       `json:"patient_nhs_number"`
	Description      string       `json:"description"`
	Comment          string       `json:"comment,omitempty"`
	BookedBy         personJSON   `json:"booked_by"`
	RegisterIfNeeded bool         `json:"register_if_needed,omitempty"`
	Patient          *patientJSON `json:"patient,omitempty"`

	present map[string]bool
	hostODS string
	slotID  string
}

var createBookingFields = map[string]bool{"slot_id": true, "patient_nhs_number": true, "description": true,
	"comment": true, "booked_by": true, "register_if_needed": true, "patient": true}

// cancelBookingRequest is the body of POST /v1/bookings/{id}/cancel.
type cancelBookingRequest struct {
	Reason      string     `json:"reason"`
	CancelledBy personJSON `json:"cancelled_by"`

	present map[string]bool
}

var cancelBookingFields = map[string]bool{"reason": true, "cancelled_by": true}

// readJSONBody reads a strict JSON object body into v: exact field names
// at the top level and in the named nested objects, each once.
func readJSONBody(w http.ResponseWriter, r *http.Request, v any, top map[string]bool, nested map[string]map[string]bool) (map[string]bool, *requestError) {
	if err := checkJSONContentType(r); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge,
			detail: fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes)}
	}
	if err != nil {
		return nil, &requestError{status: http.StatusBadRequest, detail: "the request body could not be read"}
	}
	present, rerr := scanObject(raw, top)
	if rerr != nil {
		return nil, rerr
	}
	var fields map[string]json.RawMessage
	if len(nested) > 0 {
		_ = json.Unmarshal(raw, &fields) // scanObject proved it is an object
	}
	for name, allowed := range nested {
		if !present[name] {
			continue
		}
		if v := bytes.TrimSpace(fields[name]); len(v) == 0 || v[0] != '{' {
			return nil, &requestError{status: http.StatusBadRequest, detail: "field " + name + " has the wrong type",
				fields: map[string]string{name: "must be a JSON object"}}
		}
		if _, rerr := scanObject(fields[name], allowed); rerr != nil {
			rerr.detail = name + ": " + rerr.detail
			return nil, rerr
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, typeError(err)
	}
	return present, nil
}

// typeError names the field whose JSON type is wrong and what it must be.
func typeError(err error) *requestError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := "a JSON string"
		switch te.Type.Kind().String() {
		case "bool":
			want = "true or false"
		case "struct", "ptr":
			want = "a JSON object"
		}
		return &requestError{status: http.StatusBadRequest, detail: "field " + te.Field + " has the wrong type",
			fields: map[string]string{te.Field: "must be " + want}}
	}
	return &requestError{status: http.StatusBadRequest, detail: "the request body does not match the expected shape"}
}

// Validate checks the request at now, puts the NHS number into its 10
// digits and splits the slot id. Reasons never repeat what was sent.
func (req *createBookingRequest) Validate(now time.Time) map[string]string {
	errs := map[string]string{}
	for _, f := range []string{"slot_id", "patient_nhs_number", "description", "booked_by"} {
		if !req.present[f] {
			errs[f] = "is required"
		}
	}
	if m := slotIDRe.FindStringSubmatch(req.SlotID); errs["slot_id"] == "" && (m == nil || !practice.ValidODS(m[1])) {
		errs["slot_id"] = "must be a slot id from GET /v1/slots (<ODS code>:<slot>)"
	} else if m != nil {
		req.hostODS, req.slotID = m[1], m[2]
	}
	if errs["patient_nhs_number"] == "" {
		if nhs, err := nhsnumber.Parse(req.PatientNHSNumber); err != nil {
			errs["patient_nhs_number"] = err.Error()
		} else {
			req.PatientNHSNumber = nhs
		}
	}
	if errs["description"] == "" {
		if reason := checkText(req.Description, maxDescriptionChars, false); reason != "" {
			errs["description"] = reason
		} else if strings.TrimSpace(req.Description) == "" {
			errs["description"] = "must not be blank"
		}
	}
	if reason := checkText(req.Comment, maxCommentChars, true); reason != "" {
		errs["comment"] = reason
	}
	if errs["booked_by"] == "" {
		req.BookedBy.validate("booked_by", errs)
	}
	if req.Patient != nil {
		req.Patient.validate(now, errs)
	}
	return errs
}

func (p *patientJSON) validate(now time.Time, errs map[string]string) {
	for name, v := range map[string]string{"family_name": p.FamilyName, "given_name": p.GivenName} {
		if reason := checkText(v, maxNameChars, false); reason != "" {
			errs["patient."+name] = reason
		} else if strings.TrimSpace(v) == "" {
			errs["patient."+name] = "is required"
		}
	}
	d, err := time.ParseInLocation(time.DateOnly, p.BirthDate, ukZone)
	switch {
	case err != nil || len(p.BirthDate) != len(time.DateOnly):
		errs["patient.birth_date"] = "must be a date written YYYY-MM-DD"
	case d.After(now):
		errs["patient.birth_date"] = "must not be in the future"
	}
	if p.Gender != "" && !slices.Contains([]string{"male", "female", "other", "unknown"}, p.Gender) {
		errs["patient.gender"] = "must be male, female, other or unknown"
	}
}

// demographics is the request's patient for a registration, or nil.
func (req *createBookingRequest) demographics() *gpconnect.Demographics {
	if req.Patient == nil {
		return nil
	}
	return &gpconnect.Demographics{FamilyName: req.Patient.FamilyName, GivenName: req.Patient.GivenName,
		BirthDate: req.Patient.BirthDate, Gender: req.Patient.Gender}
}

// hash is the SHA-256 of the canonical request (after Validate): the same
// booking sent twice hashes the same whatever its JSON layout.
func (req *createBookingRequest) hash() []byte {
	canon, _ := json.Marshal([]any{"v1", req.SlotID, req.PatientNHSNumber, req.Description, req.Comment,
		req.BookedBy, req.RegisterIfNeeded, req.Patient})
	sum := sha256.Sum256(canon)
	return sum[:]
}

// Validate checks a cancel request.
func (req *cancelBookingRequest) Validate() map[string]string {
	errs := map[string]string{}
	for _, f := range []string{"reason", "cancelled_by"} {
		if !req.present[f] {
			errs[f] = "is required"
		}
	}
	if errs["reason"] == "" {
		if reason := checkText(req.Reason, maxReasonChars, false); reason != "" {
			errs["reason"] = reason
		} else if strings.TrimSpace(req.Reason) == "" {
			errs["reason"] = "must not be blank"
		}
	}
	if errs["cancelled_by"] == "" {
		req.CancelledBy.validate("cancelled_by", errs)
	}
	return errs
}

// fieldsDetail lists the failing fields in a fixed order.
func fieldsDetail(what string, order []string, errs map[string]string) string {
	var names []string
	for _, f := range order {
		for k := range errs {
			if k == f || strings.HasPrefix(k, f+".") {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return what + "; fix " + strings.Join(names, ", ") + " (see errors)"
}
