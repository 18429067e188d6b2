package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gpfed/gpfed/jobs"
)

// After retention a finished task reads back with its patient data gone:
// null NHS number, empty subject and body, redacted_at set and a
// 'redacted' event, in the task view, the inbox and the sent list alike.
func TestRedactedTaskView(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tv := f.create()
	f.deliver(tv.ID)
	if res := f.do("POST", "/v1/tasks/"+tv.ID+"/ack", f.keys[odsB], ""); res.status != http.StatusOK {
		t.Fatalf("ack: %d %s", res.status, res.body)
	}
	keep := f.create() // accepted: open work, never redacted
	ctx := context.Background()
	if _, err := f.db.Pool.Exec(ctx, `UPDATE tasks SET finished_at = now() - interval '31 days' WHERE id = $1`, tv.ID); err != nil {
		t.Fatal(err)
	}
	r := jobs.NewRetention(f.db, jobs.RetentionConfig{Tasks: 30 * 24 * time.Hour, Batch: 1}, nil)
	if rep, err := r.RunOnce(ctx); err != nil || rep.TasksRedacted != 1 {
		t.Fatalf("retention: %+v, %v; want 1 task redacted", rep, err)
	}

	type view struct {
		ID               string     `json:"id"`
		PatientNHSNumber *string    `json:"patient_nhs_number"`
		Subject          string     `json:"subject"`
		Body             string     `json:"body"`
		State            string     `json:"state"`
		RedactedAt       *time.Time `json:"redacted_at"`
		Events           []struct {
			Action string `json:"action"`
		} `json:"events"`
	}
	for _, who := range []string{odsA, odsB} {
		res := f.do("GET", "/v1/tasks/"+tv.ID, f.keys[who], "")
		var v view
		res.json(t, &v)
		if res.status != http.StatusOK || v.PatientNHSNumber != nil || v.Subject != "" || v.Body != "" ||
			v.RedactedAt == nil || v.State != "acknowledged" {
			t.Fatalf("%s reads the redacted task: %d %s", who, res.status, res.body)
		}
		if last := v.Events[len(v.Events)-1].Action; last != "redacted" {
			t.Fatalf("last event %q, want redacted", last)
		}
		if strings.Contains(string(res.body), nhsValid) || strings.Contains(string(res.body), secretBody) {
			t.Fatalf("redacted task still shows patient data: %s", res.body)
		}
	}
	lists := map[string]string{"/v1/inbox": odsB, "/v1/tasks": odsA}
	for path, who := range lists {
		res := f.do("GET", path, f.keys[who], "")
		var page struct {
			Items []view `json:"items"`
		}
		res.json(t, &page)
		found := false
		for _, it := range page.Items {
			if it.ID == tv.ID {
				found = it.PatientNHSNumber == nil && it.RedactedAt != nil && it.Body == ""
			}
		}
		if res.status != http.StatusOK || !found {
			t.Fatalf("%s: redacted task missing or not redacted: %d %s", path, res.status, res.body)
		}
	}
	res := f.do("GET", "/v1/tasks/"+keep.ID, f.keys[odsA], "")
	var raw map[string]any
	if err := json.Unmarshal(res.body, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["redacted_at"] != nil || raw["patient_nhs_number"] == nil {
		t.Fatalf("open task changed: %s", res.body)
	}
}
