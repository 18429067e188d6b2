package gpconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// CodeUnexpectedStatus marks a 2xx other than the one an interaction
// answers with (a booking answers 201 only): the write may have happened.
const CodeUnexpectedStatus = "UNEXPECTED_STATUS"

// BookAppointment posts the Appointment (POST /Appointment) and returns the
// provider's 201 body. It is never retried: GP Connect has no idempotency
// key and no conditional create, so a lost answer is reconciled by reading
// the patient's appointments (errors.As *Error, OutcomeUnknown), never by
// posting again.
func (c *Client) BookAppointment(ctx context.Context, p Provider, who Requester, a NewAppointment) (*Appointment, error) {
	if err := c.checkCall(p, who); err != nil {
		return nil, fmt.Errorf("book appointment: %w", err)
	}
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("book appointment: %w", err)
	}
	body, err := json.Marshal(a.request(c.cfg.Now()))
	if err != nil {
		return nil, fmt.Errorf("book appointment: %w", err)
	}
	cr, err := c.call(ctx, p, request{method: http.MethodPost, pathAndQuery: "/Appointment",
		interaction: InteractionCreateAppointment, scope: jwtScopePatientWrite, body: body, who: &who})
	if err != nil {
		return nil, fmt.Errorf("book appointment at %s: %w", p.ODS, err)
	}
	if cr.status != http.StatusCreated {
		return nil, fmt.Errorf("book appointment at %s: %w", p.ODS, &Error{Status: cr.status,
			SpineCode: CodeUnexpectedStatus, TraceID: cr.traceID, Interaction: InteractionCreateAppointment,
			Attempts: len(cr.traceIDs), Err: fmt.Errorf("HTTP %d where 201 Created was due", cr.status)})
	}
	appt, err := parseAppointment(cr.body, cr.header.Get("ETag"))
	if err != nil {
		return nil, fmt.Errorf("book appointment at %s: %w", p.ODS, c.malformed(InteractionCreateAppointment, cr, err))
	}
	return appt, nil
}

// ReadAppointment reads one appointment (GET /Appointment/<id>).
func (c *Client) ReadAppointment(ctx context.Context, p Provider, who Requester, id string) (*Appointment, error) {
	if err := c.checkCall(p, who); err != nil {
		return nil, fmt.Errorf("read appointment: %w", err)
	}
	cr, err := c.call(ctx, p, request{method: http.MethodGet, pathAndQuery: "/Appointment/" + url.PathEscape(id),
		interaction: InteractionReadAppointment, scope: jwtScopePatientRead, who: &who, retry: true})
	if err != nil {
		return nil, fmt.Errorf("read appointment %s at %s: %w", id, p.ODS, err)
	}
	appt, err := parseAppointment(cr.body, cr.header.Get("ETag"))
	if err != nil {
		return nil, fmt.Errorf("read appointment %s at %s: %w", id, p.ODS, c.malformed(InteractionReadAppointment, cr, err))
	}
	return appt, nil
}

// CancelAppointment cancels current, the appointment as last read from the
// provider: it sends that resource back with status cancelled and the
// reason extension, with If-Match on the version read (PUT
// /Appointment/<id>, cancel interaction). A stale version is answered 409 or
// 412 (IsVersionConflict): read again and decide. Like booking it is never
// retried blind.
func (c *Client) CancelAppointment(ctx context.Context, p Provider, who Requester, current *Appointment, reason string) (*Appointment, error) {
	if err := c.checkCall(p, who); err != nil {
		return nil, fmt.Errorf("cancel appointment: %w", err)
	}
	if current == nil || current.ID == "" || current.VersionID == "" || len(current.Raw) == 0 {
		return nil, errors.New("cancel appointment: the current appointment (id, version, resource) is required")
	}
	if reason == "" {
		return nil, errors.New("cancel appointment: a reason is required")
	}
	body, err := cancelledResource(current.Raw, reason)
	if err != nil {
		return nil, err
	}
	cr, err := c.call(ctx, p, request{method: http.MethodPut, pathAndQuery: "/Appointment/" + url.PathEscape(current.ID),
		interaction: InteractionCancelAppointment, scope: jwtScopePatientWrite, body: body,
		ifMatch: `W/"` + current.VersionID + `"`, who: &who})
	if err != nil {
		return nil, fmt.Errorf("cancel appointment %s at %s: %w", current.ID, p.ODS, err)
	}
	appt, err := parseAppointment(cr.body, cr.header.Get("ETag"))
	if err != nil {
		return nil, fmt.Errorf("cancel appointment %s at %s: %w", current.ID, p.ODS, c.malformed(InteractionCancelAppointment, cr, err))
	}
	return appt, nil
}

// PatientAppointments lists the patient's appointments at the practice whose
// start falls on the UK local dates from..to (YYYY-MM-DD, inclusive, neither
// in the past), every status included, whoever booked them.
func (c *Client) PatientAppointments(ctx context.Context, p Provider, who Requester, patientID, from, to string) ([]Appointment, error) {
	if err := c.checkCall(p, who); err != nil {
		return nil, fmt.Errorf("patient appointments: %w", err)
	}
	q := "/Patient/" + url.PathEscape(patientID) + "/Appointment?start=ge" + from + "&start=le" + to
	cr, err := c.call(ctx, p, request{method: http.MethodGet, pathAndQuery: q,
		interaction: InteractionPatientAppointments, scope: jwtScopePatientRead, who: &who, retry: true})
	if err != nil {
		return nil, fmt.Errorf("patient appointments at %s: %w", p.ODS, err)
	}
	appts, err := parseAppointmentBundle(cr.body)
	if err != nil {
		return nil, fmt.Errorf("patient appointments at %s: %w", p.ODS, c.malformed(InteractionPatientAppointments, cr, err))
	}
	return appts, nil
}

func parseAppointmentBundle(data []byte) ([]Appointment, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, &ParseError{Reason: "not a JSON Bundle", Err: err}
	}
	if b.ResourceType != "Bundle" {
		return nil, &ParseError{Reason: fmt.Sprintf("resourceType %.40q, want Bundle", b.ResourceType)}
	}
	out := []Appointment{}
	for _, e := range b.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(e.Resource, &head) != nil || head.ResourceType != "Appointment" {
			continue // only Appointments are expected; anything else is ignored
		}
		a, err := parseAppointment(e.Resource, "")
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, nil
}
