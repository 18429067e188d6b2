package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// fhirCall sends one patient-level request with a valid JWT for scope; mod may change the
// request and the claims before it goes.
func fhirCall(t *testing.T, p Practice, method, path, interaction, scope string, body []byte,
	mod func(*http.Request, map[string]any)) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.ServiceRoot+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Ssp-TraceID", "9f2a6c1e-3b7d-4e8a-9c5f-1d2e3f4a5b6c")
	req.Header.Set("Ssp-From", "200000000359")
	req.Header.Set("Ssp-To", p.ASID)
	req.Header.Set("Ssp-InteractionID", interaction)
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json;charset=utf-8")
	}
	claims := validClaims(p.ServiceRoot, testNow)
	claims["requested_scope"] = scope
	if mod != nil {
		mod(req, claims)
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+makeJWT(t, jwtHeaderNone(), claims))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// bookable is an unrestricted slot of practice 0 tomorrow and the fixture's book request made
// valid for it and the practice's first patient.
func bookable(t *testing.T, f *Federation) (slot, map[string]any) {
	t.Helper()
	p := f.practices[0]
	var s slot
	for _, c := range f.daySlots(p, localMidnight(testNow).AddDate(0, 0, 1)) {
		if c.restrictType == "" && c.restrictODS == "" {
			s = c
			break
		}
	}
	raw, err := os.ReadFile("testdata/appointment-book-request.json")
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	sched := &p.schedules[s.sched]
	a["start"], a["end"] = s.start.Format(fhirDateTime), s.end.Format(fhirDateTime)
	a["slot"] = []any{map[string]any{"reference": "Slot/" + s.id}}
	a["created"] = testNow.Format(fhirDateTime)
	a["participant"] = []any{
		map[string]any{"actor": map[string]any{"reference": "Patient/1"}, "status": "accepted"},
		map[string]any{"actor": map[string]any{"reference": "Location/" + p.sites[sched.site].id}, "status": "accepted"},
	}
	return s, a
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clone deep-copies a decoded JSON value.
func clone(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestBookRefusesWhatTheSpecificationForbids(t *testing.T) {
	t.Parallel()
	f, _ := setup(t, Config{Practices: 2, Seed: 21})
	p := f.Practices()[0]
	s, valid := bookable(t, f)
	org := func(a map[string]any) map[string]any { return a["contained"].([]any)[0].(map[string]any) }
	part := func(a map[string]any, i int) map[string]any { return a["participant"].([]any)[i].(map[string]any) }
	utc := s.start.UTC().Format("2006-01-02T15:04:05Z")
	tests := []struct {
		name   string
		mod    func(a map[string]any)
		req    func(*http.Request, map[string]any)
		status int
		code   string
	}{
		{"id sent", func(a map[string]any) { a["id"] = "1" }, nil, 422, codeInvalidResource},
		{"reason", func(a map[string]any) { a["reason"] = []any{map[string]any{"text": "x"}} }, nil, 422, codeInvalidResource},
		{"specialty", func(a map[string]any) { a["specialty"] = []any{} }, nil, 422, codeInvalidResource},
		{"appointmentType", func(a map[string]any) { a["appointmentType"] = map[string]any{} }, nil, 422, codeInvalidResource},
		{"supportingInformation", func(a map[string]any) { a["supportingInformation"] = []any{} }, nil, 422, codeInvalidResource},
		{"status not booked", func(a map[string]any) { a["status"] = "pending" }, nil, 422, codeInvalidResource},
		{"no profile", func(a map[string]any) { delete(a, "meta") }, nil, 422, codeInvalidResource},
		{"no description", func(a map[string]any) { delete(a, "description") }, nil, 422, codeInvalidResource},
		{"description of 101", func(a map[string]any) { a["description"] = strings.Repeat("d", 101) }, nil, 422, codeInvalidResource},
		{"comment of 501", func(a map[string]any) { a["comment"] = strings.Repeat("c", 501) }, nil, 422, codeInvalidResource},
		{"created in Z", func(a map[string]any) { a["created"] = "2025-03-24T09:00:00Z" }, nil, 422, codeInvalidResource},
		{"start rewritten in UTC", func(a map[string]any) { a["start"] = utc }, nil, 422, codeInvalidResource},
		{"end a minute later", func(a map[string]any) { a["end"] = s.end.Add(time.Minute).Format(fhirDateTime) }, nil, 422, codeInvalidResource},
		{"unknown slot", func(a map[string]any) { a["slot"] = []any{map[string]any{"reference": "Slot/6"}} }, nil, 422, codeRefNotFound},
		{"absolute slot reference", func(a map[string]any) {
			a["slot"] = []any{map[string]any{"reference": p.ServiceRoot + "/Slot/" + s.id}}
		}, nil, 422, codeInvalidResource},
		{"minutesDuration wrong", func(a map[string]any) { a["minutesDuration"] = 1 }, nil, 422, codeInvalidResource},
		{"cancellation reason on a booking", func(a map[string]any) {
			a["extension"] = append(a["extension"].([]any), map[string]any{"url": extCancelReason, "valueString": "x"})
		}, nil, 422, codeInvalidResource},
		{"no booking organisation extension", func(a map[string]any) { a["extension"] = []any{} }, nil, 422, codeInvalidResource},
		{"booking organisation without telephone", func(a map[string]any) { delete(org(a), "telecom") }, nil, 422, codeInvalidResource},
		{"booking organisation without name", func(a map[string]any) { delete(org(a), "name") }, nil, 422, codeInvalidResource},
		{"booking organisation without ODS code", func(a map[string]any) { org(a)["identifier"] = []any{} }, nil, 422, codeInvalidResource},
		{"booking organisation of an unknown type", func(a map[string]any) {
			org(a)["type"] = []any{map[string]any{"coding": []any{map[string]any{"system": systemOrgType, "code": "hospital"}}}}
		}, nil, 422, codeInvalidResource},
		{"participant without status", func(a map[string]any) { delete(part(a, 0), "status") }, nil, 422, codeInvalidResource},
		{"absolute patient reference", func(a map[string]any) {
			part(a, 0)["actor"] = map[string]any{"reference": p.ServiceRoot + "/Patient/1"}
		}, nil, 422, codeInvalidResource},
		{"patient not registered here", func(a map[string]any) {
			part(a, 0)["actor"] = map[string]any{"reference": "Patient/999"}
		}, nil, 422, codeRefNotFound},
		{"another location", func(a map[string]any) {
			part(a, 1)["actor"] = map[string]any{"reference": "Location/999"}
		}, nil, 422, codeInvalidResource},
		{"no location", func(a map[string]any) { a["participant"] = a["participant"].([]any)[:1] }, nil, 422, codeInvalidResource},
		{"read scope", nil, func(_ *http.Request, c map[string]any) { c["requested_scope"] = scopePatRead }, 400, codeBadRequest},
		{"organisation scope", nil, func(_ *http.Request, c map[string]any) { c["requested_scope"] = scopeOrgRead }, 400, codeBadRequest},
		{"requested_record claim", nil, func(_ *http.Request, c map[string]any) {
			c["requested_record"] = map[string]any{"resourceType": "Patient"}
		}, 400, codeBadRequest},
		{"read interaction id", nil, func(r *http.Request, _ map[string]any) {
			r.Header.Set("Ssp-InteractionID", interactionReadAppt)
		}, 400, codeBadRequest},
		{"plain JSON content type", nil, func(r *http.Request, _ map[string]any) {
			r.Header.Set("Content-Type", "application/json")
		}, 415, codeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := clone(valid)
			if tc.mod != nil {
				tc.mod(a)
			}
			status, body := fhirCall(t, p, http.MethodPost, "/Appointment", interactionBook, scopePatWrite, marshal(t, a), tc.req)
			if status != tc.status || spineCode(t, body) != tc.code {
				t.Errorf("%d %s, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	if got := f.Appointments(p.ODS); len(got) != 0 {
		t.Fatalf("refused bookings were booked: %+v", got)
	}
	status, body := fhirCall(t, p, http.MethodPost, "/Appointment", interactionBook, scopePatWrite, marshal(t, valid), nil)
	if status != http.StatusCreated {
		t.Fatalf("the valid booking: %d %s", status, body)
	}
	status, body = fhirCall(t, p, http.MethodPost, "/Appointment", interactionBook, scopePatWrite, marshal(t, valid), nil)
	if status != http.StatusConflict || spineCode(t, body) != codeDuplicate {
		t.Errorf("the same slot again: %d %s, want 409 DUPLICATE_REJECTED", status, body)
	}
}

func TestCancelRefusesChangesAndStaleVersions(t *testing.T) {
	t.Parallel()
	f, _ := setup(t, Config{Practices: 1, Seed: 22})
	p := f.Practices()[0]
	_, valid := bookable(t, f)
	status, body := fhirCall(t, p, http.MethodPost, "/Appointment", interactionBook, scopePatWrite, marshal(t, valid), nil)
	if status != http.StatusCreated {
		t.Fatalf("book: %d %s", status, body)
	}
	var booked map[string]any
	_ = json.Unmarshal(body, &booked)
	version := booked["meta"].(map[string]any)["versionId"].(string)
	cancel := func(mod func(a map[string]any), ifMatch string) (int, string) {
		a := clone(booked)
		a["status"] = "cancelled"
		a["extension"] = append(a["extension"].([]any), map[string]any{"url": extCancelReason, "valueString": "Unwell"})
		if mod != nil {
			mod(a)
		}
		status, body := fhirCall(t, p, http.MethodPut, "/Appointment/"+booked["id"].(string), interactionCancel, scopePatWrite,
			marshal(t, a), func(r *http.Request, _ map[string]any) { r.Header.Set("If-Match", ifMatch) })
		if status >= 400 {
			return status, spineCode(t, body)
		}
		return status, ""
	}
	tests := []struct {
		name    string
		mod     func(a map[string]any)
		ifMatch string
		status  int
		code    string
	}{
		{"stale If-Match", nil, `W/"1"`, 409, codeConstraint},
		{"description changed (the spec example's mistake)", func(a map[string]any) { a["description"] = "Free text description updated." }, `W/"` + version + `"`, 422, codeInvalidResource},
		{"empty reason", func(a map[string]any) {
			exts := a["extension"].([]any)
			exts[len(exts)-1] = map[string]any{"url": extCancelReason, "valueString": " "}
		}, `W/"` + version + `"`, 422, codeInvalidParameter},
		{"no reason", func(a map[string]any) { a["extension"] = a["extension"].([]any)[:1] }, `W/"` + version + `"`, 422, codeInvalidResource},
		{"status left booked", func(a map[string]any) { a["status"] = "booked" }, `W/"` + version + `"`, 422, codeInvalidResource},
	}
	for _, tc := range tests {
		if status, code := cancel(tc.mod, tc.ifMatch); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	if status, _ := cancel(func(a map[string]any) { delete(a, "serviceType"); delete(a, "serviceCategory") }, `W/"`+version+`"`); status != 200 {
		t.Fatalf("valid cancel (provider's serviceType removed): %d", status)
	}
	if got := f.Appointments(p.ODS); len(got) != 1 || got[0].Status != "cancelled" || got[0].CancellationReason != "Unwell" {
		t.Errorf("after cancel: %+v", got)
	}
	if status, code := cancel(nil, `W/"`+version+`"`); status != 409 || code != codeConstraint {
		t.Errorf("cancel with the version before the cancel: %d %s", status, code)
	}
}

func TestPatientAppointmentsParameters(t *testing.T) {
	t.Parallel()
	f, _ := setup(t, Config{Practices: 1, Seed: 23})
	p := f.Practices()[0]
	today := testNow.Format(time.DateOnly)
	tests := []struct {
		query  string
		status int
	}{
		{"?start=ge" + today + "&start=le" + today, 200},
		{"?start=ge" + today, 422},
		{"?start=ge2025-03-01&start=le" + today, 422},
		{"?start=ge" + today + "T09:00:00%2B00:00&start=le" + today, 422},
		{"?start=le" + today + "&start=le" + today, 422},
	}
	for _, tc := range tests {
		status, body := fhirCall(t, p, http.MethodGet, "/Patient/1/Appointment"+tc.query, interactionRetrieve, scopePatRead, nil, nil)
		if status != tc.status {
			t.Errorf("%s: %d %s", tc.query, status, body)
		}
	}
	if status, _ := fhirCall(t, p, http.MethodGet, "/Patient/1/Appointment?start=ge"+today+"&start=le"+today,
		interactionRetrieve, scopePatWrite, nil, nil); status != 400 {
		t.Errorf("retrieve with the write scope: %d, want 400", status)
	}
}

func TestFindAndRegisterPatient(t *testing.T) {
	t.Parallel()
	f, _ := setup(t, Config{Practices: 2, Seed: 24})
	p := f.Practices()[1]
	find := func(nhs string) (int, int) {
		status, body := fhirCall(t, p, http.MethodGet, "/Patient?identifier="+systemNHSNumber+"%7C"+nhs,
			interactionFindPatient, scopePatRead, nil, nil)
		var b struct{ Entry []any }
		_ = json.Unmarshal(body, &b)
		return status, len(b.Entry)
	}
	if s, n := find(f.Patients(p.ODS)[0]); s != 200 || n != 1 {
		t.Errorf("a registered patient: %d, %d entries", s, n)
	}
	outsider := f.Patients(f.Practices()[0].ODS)[0]
	if s, n := find(outsider); s != 200 || n != 0 {
		t.Errorf("another practice's patient: %d, %d entries", s, n)
	}
	if s, _ := find("9658218874"); s != 400 {
		t.Errorf("a bad check digit: %d", s)
	}
	register := func(nhs, family string) (int, []byte) {
		d := f.Demographics(nhs)
		if family == "" {
			family = d.FamilyName
		}
		body := map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "registerPatient",
			"resource": map[string]any{"resourceType": "Patient", "meta": map[string]any{"profile": []any{profilePatient}},
				"identifier": []any{map[string]any{"system": systemNHSNumber, "value": nhs}},
				"name":       []any{map[string]any{"use": "official", "family": family, "given": []any{d.GivenName}}},
				"birthDate":  d.BirthDate}}}}
		return fhirCall(t, p, http.MethodPost, "/Patient/$gpc.registerpatient", interactionRegister, scopePatWrite, marshal(t, body), nil)
	}
	if s, body := register(outsider, "Nobody"); s != 400 || spineCode(t, body) != codeBadDemographics {
		t.Errorf("demographics that fail the PDS trace: %d %s", s, body)
	}
	if s, body := register(blockedPatients[0], ""); s != 400 || spineCode(t, body) != codeBadDemographics {
		t.Errorf("a sensitive patient: %d %s", s, body)
	}
	if s, body := register(outsider, ""); s != 200 {
		t.Fatalf("register: %d %s", s, body)
	}
	if s, n := find(outsider); s != 200 || n != 1 {
		t.Errorf("after registering: %d, %d entries", s, n)
	}
	if s, body := register(outsider, ""); s != 409 || spineCode(t, body) != codeDuplicate {
		t.Errorf("registering twice: %d %s", s, body)
	}
	if s, body := register(f.Patients(p.ODS)[0], ""); s != 409 {
		t.Errorf("registering a patient on the list: %d %s", s, body)
	}
}
