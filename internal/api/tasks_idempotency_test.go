package api_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCreateTaskIdempotency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(), "Idempotency-Key", "ref-0001")
	if first.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	var orig taskView
	first.json(t, &orig)

	// The same task written differently: other field order, spacing, the
	// printed form of the NHS number.
	reordered := `{"body":"` + secretBody + `", "subject":"Please review bloods","priority":"urgent",
		"type":"action-needed","patient_nhs_number":"965 821 8873","recipient_ods":"B81016"}`
	tests := []struct {
		name       string
		key, ods   string
		body       string
		wantStatus int
		wantSameID bool
		wantReplay string
		wantReason string
		wantCounts [4]int
	}{
		{name: "same key, same body", ods: odsA, key: "ref-0001", body: taskBody(), wantStatus: 200, wantSameID: true, wantReplay: "true", wantCounts: [4]int{1, 1, 1, 0}},
		{name: "same key, same task written differently", ods: odsA, key: "ref-0001", body: reordered, wantStatus: 200, wantSameID: true, wantReplay: "true", wantCounts: [4]int{1, 1, 1, 0}},
		{name: "same key, different body", ods: odsA, key: "ref-0001", body: taskBody(set("priority", "routine")), wantStatus: 409, wantReason: "already used for a different request", wantCounts: [4]int{1, 1, 1, 0}},
		{name: "same key, different and invalid body", ods: odsA, key: "ref-0001", body: taskBody(set("type", "nonsense")), wantStatus: 409, wantReason: "Idempotency-Key", wantCounts: [4]int{1, 1, 1, 0}},
		{name: "same key, other sender", ods: odsC, key: "ref-0001", body: taskBody(), wantStatus: 202, wantCounts: [4]int{2, 2, 2, 0}},
		{name: "new key", ods: odsA, key: "ref-0002", body: taskBody(), wantStatus: 202, wantCounts: [4]int{3, 3, 3, 0}},
		{name: "no key twice makes two tasks", ods: odsA, body: taskBody(), wantStatus: 202, wantCounts: [4]int{4, 4, 4, 0}},
	}
	for _, tc := range tests {
		var headers []string
		if tc.key != "" {
			headers = []string{"Idempotency-Key", tc.key}
		}
		res := f.do("POST", "/v1/tasks", f.keys[tc.ods], tc.body, headers...)
		if res.status != tc.wantStatus {
			t.Fatalf("%s: status = %d, want %d; %s", tc.name, res.status, tc.wantStatus, res.body)
		}
		if tc.wantReason != "" {
			if reason := res.reason(t); !contains(reason, tc.wantReason) {
				t.Fatalf("%s: reason %q lacks %q", tc.name, reason, tc.wantReason)
			}
		} else {
			var got taskView
			res.json(t, &got)
			if (got.ID == orig.ID) != tc.wantSameID {
				t.Fatalf("%s: id %s, original %s, want same=%v", tc.name, got.ID, orig.ID, tc.wantSameID)
			}
			if loc := res.header.Get("Location"); loc != "/v1/tasks/"+got.ID {
				t.Fatalf("%s: Location = %q", tc.name, loc)
			}
		}
		if got := res.header.Get("Idempotent-Replayed"); got != tc.wantReplay {
			t.Fatalf("%s: Idempotent-Replayed = %q, want %q", tc.name, got, tc.wantReplay)
		}
		if diff := cmp.Diff(tc.wantCounts, f.counts()); diff != "" {
			t.Fatalf("%s: rows (-want +got):\n%s", tc.name, diff)
		}
	}
	// A replay shows the task as it is now.
	f.deliver(orig.ID)
	res := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(), "Idempotency-Key", "ref-0001")
	var now taskView
	res.json(t, &now)
	if res.status != 200 || now.State != "delivered" {
		t.Fatalf("replay after delivery: %d state %q, want 200 delivered", res.status, now.State)
	}
}

// TestCreateTaskConcurrentDuplicates fires the same keyed request many times
// at once: one task, one 202, the rest replays of it.
func TestCreateTaskConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 24
	var wg sync.WaitGroup
	results := make([]response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := taskBody()
			if i%4 == 3 {
				body = taskBody(set("subject", "a different task"))
			}
			results[i] = f.do("POST", "/v1/tasks", f.keys[odsA], body, "Idempotency-Key", "burst")
		}()
	}
	close(start)
	wg.Wait()
	statuses := map[int]int{}
	ids := map[string]bool{}
	for _, res := range results {
		statuses[res.status]++
		if res.status == 200 || res.status == 202 {
			var tv taskView
			res.json(t, &tv)
			ids[tv.ID] = true
		}
	}
	if statuses[202] != 1 || len(ids) != 1 || statuses[200]+statuses[202]+statuses[409] != n {
		t.Fatalf("statuses %v, distinct task ids %d; want one 202, one task, the rest 200 or 409", statuses, len(ids))
	}
	if diff := cmp.Diff([4]int{1, 1, 1, 0}, f.counts()); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
}
