package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bookState is a practice's appointment book: what was booked through GP Connect, which slots
// that took, and the patients registered temporarily.
type bookState struct {
	mu    sync.Mutex
	seq   int
	appts map[string]*appointment
	order []string
	taken map[string]string // slot id -> id of the booked appointment holding it
	temp  map[string]string // NHS number -> logical id of a temporary registration
}

// appointment is one booked (or since cancelled) appointment.
type appointment struct {
	id, version, status string
	res                 map[string]any // the resource as the provider answers it
	slotIDs             []string
	patientID, nhs      string
	start               time.Time
	bookingODS          string
	bookedBy, cancelBy  Requester
	reason              string
}

// Requester is who a call was attributed to in its JWT.
type Requester struct {
	ID, SDSUserID, SDSRoleProfileID, FamilyName, GivenName string
	OrganisationODS, Scope                                 string
}

// Appointment is a booked or cancelled appointment as a test sees it.
type Appointment struct {
	ID, Version, Status string
	SlotIDs             []string
	PatientNHS          string
	BookingODS          string
	Start, End          string
	Description         string
	Comment             string
	CancellationReason  string
	BookedBy, CancelBy  Requester
}

func requesterOf(c *jwtClaims) Requester {
	r := Requester{Scope: c.RequestedScope}
	if p := c.Practitioner; p != nil {
		r.ID = p.ID
		r.SDSUserID = identifierValue(p.Identifier, systemSDSUser)
		r.SDSRoleProfileID = identifierValue(p.Identifier, systemSDSRole)
		if len(p.Name) > 0 {
			r.FamilyName = p.Name[0].Family
			if len(p.Name[0].Given) > 0 {
				r.GivenName = p.Name[0].Given[0]
			}
		}
	}
	if c.Organization != nil {
		r.OrganisationODS = identifierValue(c.Organization.Identifier, systemODS)
	}
	return r
}

// Appointments lists the appointments booked at a practice through GP Connect, oldest first.
func (f *Federation) Appointments(ods string) []Appointment {
	p := f.byODS[ods]
	if p == nil {
		return nil
	}
	p.bk.mu.Lock()
	defer p.bk.mu.Unlock()
	out := make([]Appointment, 0, len(p.bk.order))
	for _, id := range p.bk.order {
		a := p.bk.appts[id]
		str := func(k string) string { s, _ := a.res[k].(string); return s }
		out = append(out, Appointment{ID: a.id, Version: a.version, Status: a.status, SlotIDs: slices.Clone(a.slotIDs),
			PatientNHS: a.nhs, BookingODS: a.bookingODS, Start: str("start"), End: str("end"),
			Description: str("description"), Comment: str("comment"), CancellationReason: a.reason,
			BookedBy: a.bookedBy, CancelBy: a.cancelBy})
	}
	return out
}

// takenSet is the ids of slots booked at the practice (nil when none), for slot search.
func (b *bookState) takenSet() map[string]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.taken) == 0 {
		return nil
	}
	out := make(map[string]bool, len(b.taken))
	for id := range b.taken {
		out[id] = true
	}
	return out
}

// anyTaken reports whether any slot of the practice is booked.
func (b *bookState) anyTaken() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.taken) > 0
}

// nextVersion is an opaque, increasing versionId. Call with b.mu held.
func (b *bookState) nextVersion() string {
	b.seq++
	return fmt.Sprintf("%d%04d", time.Now().UnixMilli(), b.seq%10000)
}

// serveBook answers POST /Appointment: 201 with the booked Appointment, 409 DUPLICATE_REJECTED
// when a slot is taken, 422 for anything the checks refuse.
func (f *Federation) serveBook(c *callCtx) *apiError {
	raw, e := readBody(c.r)
	if e != nil {
		return e
	}
	br, e := f.checkAppointment(c.p, raw)
	if e != nil {
		return e
	}
	b := &c.p.bk
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range br.slots {
		if _, taken := b.taken[s.id]; taken {
			return &apiError{status: http.StatusConflict, code: codeDuplicate, diagnostics: "Slot/" + s.id + " is already booked"}
		}
	}
	if b.appts == nil {
		b.appts, b.taken = map[string]*appointment{}, map[string]string{}
	}
	a := &appointment{id: strconv.Itoa(len(b.appts) + 1), version: b.nextVersion(), status: "booked", res: br.res,
		patientID: br.patientID, nhs: br.nhs, start: br.slots[0].start, bookingODS: br.bookingODS,
		bookedBy: requesterOf(c.claims)}
	for _, s := range br.slots {
		a.slotIDs = append(a.slotIDs, s.id)
		b.taken[s.id] = a.id
	}
	c.p.providerFields(a, br.slots[0])
	b.appts[a.id] = a
	b.order = append(b.order, a.id)
	c.w.Header().Set("Location", f.serviceRoot(c.r, c.p)+"/Appointment/"+a.id+"/_history/"+a.version)
	return writeAppointment(c.w, http.StatusCreated, a)
}

// providerFields fills in what a provider adds to a booked appointment: id, version, slot type,
// schedule type, and the practitioner role and delivery channel extensions.
func (p *practice) providerFields(a *appointment, s slot) {
	sched := &p.schedules[s.sched]
	a.res["id"] = a.id
	a.res["meta"] = map[string]any{"versionId": a.version, "profile": []any{profileAppointment}}
	a.res["serviceType"] = []any{map[string]any{"text": s.slotType}}
	a.res["serviceCategory"] = map[string]any{"text": sched.category}
	exts, _ := a.res["extension"].([]any)
	kept := exts[:0]
	for _, e := range exts {
		if m, ok := e.(map[string]any); ok && (m["url"] == extPractitionerRole || m["url"] == extDeliveryChannel) {
			continue
		}
		kept = append(kept, e)
	}
	kept = append(kept, map[string]any{"url": extPractitionerRole, "valueCodeableConcept": map[string]any{
		"coding": []any{map[string]any{"system": systemSDSJobRole, "code": sched.role.code, "display": sched.role.display}}}})
	if s.channel != "" {
		kept = append(kept, map[string]any{"url": extDeliveryChannel, "valueCode": s.channel})
	}
	a.res["extension"] = kept
}

func writeAppointment(w http.ResponseWriter, status int, a *appointment) *apiError {
	w.Header().Set("ETag", `W/"`+a.version+`"`)
	return writeJSONResource(w, status, a.res)
}

// serveReadAppointment answers GET /Appointment/<id>.
func (f *Federation) serveReadAppointment(c *callCtx) *apiError {
	b := &c.p.bk
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.appts[c.args[0]]
	if a == nil {
		return &apiError{status: http.StatusNotFound, code: codeNoRecord, diagnostics: "No appointment with this id"}
	}
	return writeAppointment(c.w, http.StatusOK, a)
}

// serveCancel answers PUT /Appointment/<id> with the cancel interaction: the resource as last
// read with exactly two changes (status cancelled, a non-empty cancellation reason), If-Match
// naming the current version when sent.
func (f *Federation) serveCancel(c *callCtx) *apiError {
	raw, e := readBody(c.r)
	if e != nil {
		return e
	}
	var in map[string]any
	if err := json.Unmarshal(raw, &in); err != nil {
		return badRequest("The body is not a JSON resource")
	}
	b := &c.p.bk
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.appts[c.args[0]]
	if a == nil {
		return &apiError{status: http.StatusNotFound, code: codeNoRecord, diagnostics: "No appointment with this id"}
	}
	if im := c.r.Header.Get("If-Match"); im != "" && im != `W/"`+a.version+`"` {
		return &apiError{status: http.StatusConflict, code: codeConstraint, diagnostics: "If-Match does not name the current version"}
	}
	reason, e := checkCancel(a, in, f.cfg.Now())
	if e != nil {
		return e
	}
	a.status, a.reason, a.version = "cancelled", reason, b.nextVersion()
	a.cancelBy = requesterOf(c.claims)
	a.res = in
	a.res["meta"] = map[string]any{"versionId": a.version, "profile": []any{profileAppointment}}
	for _, s := range a.slotIDs {
		if b.taken[s] == a.id {
			delete(b.taken, s)
		}
	}
	return writeAppointment(c.w, http.StatusOK, a)
}

// checkCancel returns the reason of a valid cancellation of a.
func checkCancel(a *appointment, in map[string]any, now time.Time) (string, *apiError) {
	switch {
	case in["resourceType"] != "Appointment" || in["id"] != a.id:
		return "", invalidResource("The body must be the Appointment with the id in the URL")
	case a.status == "cancelled":
		return "", invalidResource("The appointment is already cancelled")
	case !a.start.After(now):
		return "", invalidResource("Past appointments cannot be cancelled")
	case in["status"] != "cancelled":
		return "", invalidResource("status must be cancelled")
	}
	reason, found := "", false
	exts, _ := in["extension"].([]any)
	for _, e := range exts {
		if m, ok := e.(map[string]any); ok && m["url"] == extCancelReason {
			found = true
			reason, _ = m["valueString"].(string)
		}
	}
	if !found {
		return "", invalidResource("The cancellation reason extension is required")
	}
	if strings.TrimSpace(reason) == "" {
		return "", invalidParam("The cancellation reason must not be empty")
	}
	if !reflect.DeepEqual(comparable(a.res), comparable(in)) {
		return "", invalidResource("Only status and the cancellation reason may change when cancelling")
	}
	return reason, nil
}

// comparable is the resource without what a cancel may change or leave out: status, meta, the
// cancellation reason, and the provider's serviceType and serviceCategory.
func comparable(res map[string]any) map[string]any {
	out := make(map[string]any, len(res))
	for k, v := range res {
		switch k {
		case "status", "meta", "serviceType", "serviceCategory":
			continue
		case "extension":
			exts, _ := v.([]any)
			var kept []any
			for _, e := range exts {
				if m, ok := e.(map[string]any); ok && m["url"] == extCancelReason {
					continue
				}
				kept = append(kept, e)
			}
			v = kept
		}
		out[k] = v
	}
	return out
}

// servePatientAppointments answers GET /Patient/<id>/Appointment?start=ge<date>&start=le<date>:
// every appointment of the patient at this practice starting on those dates, any status.
func (f *Federation) servePatientAppointments(c *callCtx) *apiError {
	from, to, e := retrieveRange(c.r.URL.RawQuery, f.cfg.Now())
	if e != nil {
		return e
	}
	if _, ok := f.patientByID(c.p, c.args[0]); !ok {
		return &apiError{status: http.StatusNotFound, code: codeNoRecord, diagnostics: "No patient with this id"}
	}
	b := &c.p.bk
	b.mu.Lock()
	out := bundle{ResourceType: "Bundle", Type: "searchset", Entry: []bundleEntry{}}
	for _, id := range b.order {
		a := b.appts[id]
		day := a.start.In(london).Format(time.DateOnly)
		if a.patientID == c.args[0] && day >= from && day <= to {
			out.Entry = append(out.Entry, bundleEntry{Resource: a.res})
		}
	}
	body, err := json.Marshal(out)
	b.mu.Unlock()
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, code: codeInternal, diagnostics: "encode: " + err.Error()}
	}
	writeFHIR(c.w, http.StatusOK, body)
	return nil
}

// retrieveRange checks the two start parameters: one ge, one le, dates only, none in the past.
func retrieveRange(rawQuery string, now time.Time) (from, to string, e *apiError) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", "", badRequest("Malformed query string: " + err.Error())
	}
	for k := range q {
		if k != "start" && k != "_format" {
			return "", "", invalidParam("Unknown or unsupported search parameter: " + k)
		}
	}
	today := now.In(london).Format(time.DateOnly)
	for _, v := range q["start"] {
		prefix, date := v[:min(2, len(v))], v[min(2, len(v)):]
		if _, err := time.Parse(time.DateOnly, date); err != nil || len(date) != len(time.DateOnly) {
			return "", "", invalidParam("start must be ge<yyyy-mm-dd> and le<yyyy-mm-dd>, dates only")
		}
		switch {
		case prefix == "ge" && from == "":
			from = date
		case prefix == "le" && to == "":
			to = date
		default:
			return "", "", invalidParam("start must be sent twice: once with ge, once with le")
		}
	}
	switch {
	case from == "" || to == "":
		return "", "", invalidParam("start must be sent twice: once with ge, once with le")
	case from < today || to < today:
		return "", "", invalidParam("The search range must not be in the past")
	case to < from:
		return "", "", invalidParam("The search range ends before it starts")
	}
	return from, to, nil
}
