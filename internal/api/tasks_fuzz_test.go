package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeCreateTask feeds arbitrary bodies through decoding and
// validation: no panics, every rejection has a status and a reason, and no
// reason quotes the NHS number the body carried.
func FuzzDecodeCreateTask(f *testing.F) {
	f.Add(`{"recipient_ods":"B81016","patient_nhs_number":"9658218873","type":"information","priority":"routine","subject":"s","body":"b"}`)
	f.Add(`{"patient_nhs_number":"9658218874","due_date":"2030-02-30"}`)
	f.Add(`{"a":1}`)
	f.Add(`[1,2]`)
	f.Add(`{"subject":"\u0000"} {}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/tasks", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		req, rerr := decodeCreateTask(httptest.NewRecorder(), r)
		if rerr != nil {
			if rerr.status < 400 || rerr.detail == "" {
				t.Fatalf("rejection without status or reason: %+v", rerr)
			}
			return
		}
		nhs := req.PatientNHSNumber
		errs := req.Validate("A20047", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
		_ = req.hash()
		for field, reason := range errs {
			if len(nhs) >= 9 && strings.Contains(reason, nhs) {
				t.Fatalf("reason for %s quotes the NHS number: %q", field, reason)
			}
		}
	})
}
