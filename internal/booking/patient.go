package booking

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/store"
)

// patientRef is the patient's logical id at the host practice.
type patientRef struct {
	id         string
	registered bool // gpfed registered them there temporarily
}

// patientAt finds the patient at the host practice, registering them there
// temporarily when the caller asked for it and the practice agrees. The
// detail is the audit trail of the calls (trace ids, no patient data).
func (s *Service) patientAt(ctx context.Context, host gpconnect.Provider, caller callerInfo, who gpconnect.Requester,
	req Request, slot store.BookedSlot) (patientRef, map[string]any, error) {
	detail := map[string]any{}
	found, err := s.cfg.GPC.FindPatient(ctx, host, who, req.PatientNHSNumber)
	if err != nil {
		return patientRef{}, detail, s.callRefusal("find the patient", err)
	}
	switch len(found) {
	case 1:
		detail["patient"] = "found"
		return patientRef{id: found[0].ID}, detail, nil
	case 0:
	default:
		return patientRef{}, detail, unprocessable("patient_nhs_number",
			"matches more than one patient record at "+slot.HostODS+"; the practice must resolve it (book by phone)")
	}
	if !req.RegisterIfNeeded {
		return patientRef{}, detail, unprocessable("register_if_needed", "the patient is not an active patient of "+
			slot.HostODS+"; set register_if_needed to true to register them there temporarily and book")
	}
	if !slot.PracticeRegistered {
		return patientRef{}, detail, unprocessable("register_if_needed", slot.HostODS+
			" does not take temporary registrations through gpfed (practices CSV column temporary_registration)")
	}
	d, err := s.demographics(ctx, caller, who, req)
	if err != nil {
		return patientRef{}, detail, err
	}
	pt, err := s.cfg.GPC.RegisterPatient(ctx, host, who, d)
	var gerr *gpconnect.Error
	if errors.As(err, &gerr) && gerr.Status == http.StatusConflict {
		// Already registered after all (an unverified record the search did not return).
		found, ferr := s.cfg.GPC.FindPatient(ctx, host, who, req.PatientNHSNumber)
		if ferr == nil && len(found) == 1 {
			detail["patient"] = "found after registering"
			return patientRef{id: found[0].ID}, detail, nil
		}
		return patientRef{}, detail, unprocessable("patient_nhs_number", slot.HostODS+
			" says the patient is registered there but cannot find them; the practice must resolve it (book by phone)")
	}
	if errors.As(err, &gerr) && gerr.Status == http.StatusBadRequest && gerr.SpineCode == "INVALID_PATIENT_DEMOGRAPHICS" {
		r := unprocessable("patient", "the practice could not register the patient: their demographics do not match "+
			"the NHS Spine (PDS), or the patient may not be registered this way")
		r.SpineCode = gerr.SpineCode
		return patientRef{}, detail, r
	}
	if err != nil {
		return patientRef{}, detail, s.callRefusal("register the patient", err)
	}
	detail["patient"] = "registered temporarily"
	return patientRef{id: pt.ID, registered: true}, detail, nil
}

// demographics are the request's, or those the caller's own practice holds.
func (s *Service) demographics(ctx context.Context, caller callerInfo, who gpconnect.Requester, req Request) (gpconnect.Demographics, error) {
	if req.Patient != nil {
		d := *req.Patient
		d.NHSNumber = req.PatientNHSNumber
		return d, nil
	}
	found, err := s.cfg.GPC.FindPatient(ctx, caller.provider, who, req.PatientNHSNumber)
	if err != nil || len(found) != 1 {
		return gpconnect.Demographics{}, unprocessable("patient", "registering the patient needs their family_name, "+
			"given_name and birth_date: give them in patient, since your own practice ("+caller.ods+") did not return them")
	}
	p := found[0]
	return gpconnect.Demographics{NHSNumber: req.PatientNHSNumber, FamilyName: p.FamilyName, GivenName: p.GivenName,
		BirthDate: p.BirthDate, Gender: p.Gender}, nil
}

// callRefusal describes a failed find or register call: the practice's
// refusal (403 and the rest) or its being unreachable. Nothing was booked.
func (s *Service) callRefusal(what string, err error) *Refusal {
	status, code, diag, _ := spine(err)
	r := directoryRefusal(code, what)
	switch {
	case r != nil:
	case status == http.StatusForbidden:
		r = refuse(http.StatusForbidden, "", "the practice refused to "+what)
	case status == 0 || status >= 500 || status == http.StatusTooManyRequests:
		r = refuse(http.StatusBadGateway, "", "the practice did not answer when gpfed tried to "+what+"; nothing was booked, try again")
	default:
		r = refuse(http.StatusBadGateway, "", fmt.Sprintf("the practice refused to %s (HTTP %d %s); nothing was booked", what, status, code))
	}
	r.SpineCode, r.Diagnostics = code, diag
	return r
}
