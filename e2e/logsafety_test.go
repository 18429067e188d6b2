package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

// TestLogsCarryNoPatientData runs a busy federation with debug logging in
// every process (deliveries, retries, permanent failures, an inbox-only
// practice, acks, cancels, rejected requests, a capacity sync with a
// failing practice) and checks that no log line holds an NHS number (plain
// or printed with spaces) or any subject or body text.
func TestLogsCarryNoPatientData(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, stackOpts{practices: 6, env: []string{"GPFED_SYNC_DAYS=7"}})
	ods := ts.ODS()
	ts.Fed.SetWebhookFault(ods[1], sim.WebhookFault{Status: 500, Times: 3})
	ts.Fed.SetWebhookFault(ods[2], sim.WebhookFault{Status: 410})
	ts.Fed.SetWebhookFault(ods[4], sim.WebhookFault{Delay: 100 * time.Millisecond})
	ts.Fed.SetFault(ods[5], sim.Fault{Status: 500})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	if _, err := ts.Run(ctx, "practices", "webhook", ods[3]); err != nil { // inbox only
		t.Fatal(err)
	}
	startAll(t, ts)

	secrets := newSecrets()
	s := newSubmitter(ts)
	s.nhs = secrets.nhs
	s.text = secrets.text
	const tasks = 60
	s.run(ctx, tasks, 8)
	s.summary(t)
	busyAfterwards(ctx, t, ts, s, secrets)
	if _, err := ts.Run(ctx, "sync", "--once"); err != nil {
		t.Logf("capacity sync with a failing practice: %v", err)
	}
	waitSettled(ctx, t, ts, tasks)
	exports := readAudit(ctx, t, ts)
	ts.Close() // flush and end every log before reading them

	checkLogs(t, ts, secrets)
	checkAuditRecords(ctx, t, ts, secrets, exports)
}

// readAudit exercises the admin's access-audit endpoints and CLI (JSON,
// CSV, filters) and returns what they produced, for the patient-data scan.
func readAudit(ctx context.Context, t *testing.T, ts *testStack) []string {
	t.Helper()
	out, err := ts.Run(ctx, "admin-key", "log-safety")
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(out)
	var exports []string
	for _, c := range []struct{ path, accept string }{
		{"/v1/audit?limit=1000", ""}, {"/v1/audit?action=task.read", ""}, {"/v1/audit?failures=true", ""},
		{"/v1/audit", "text/csv"},
	} {
		resp, err := ts.API.DoWith(ctx, admin, "GET", c.path, nil, "Accept", c.accept)
		if err != nil || resp.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s (err %v)", c.path, resp.Status, resp.Body, err)
		}
		exports = append(exports, string(resp.Body))
	}
	for _, args := range [][]string{{"audit", "--format", "csv"}, {"audit", "--failures", "true"}, {"audit", "--format", "json"}} {
		out, err := ts.Run(ctx, args...)
		if err != nil {
			t.Errorf("gpfed %v: %v", args, err)
		}
		exports = append(exports, out)
	}
	if !strings.Contains(exports[3], "task.read") || !strings.Contains(exports[3], "auth.failed") {
		t.Errorf("the CSV export lacks the reads and the wrong-key request:\n%.500s", exports[3])
	}
	return exports
}

// checkAuditRecords scans every access record, channel change and audit
// export for patient data and for webhook secrets.
func checkAuditRecords(ctx context.Context, t *testing.T, ts *testStack, sec *secrets, exports []string) {
	t.Helper()
	var rows []string
	for _, q := range []string{`SELECT a::text FROM access_log a`, `SELECT w::text FROM webhook_channel_changes w`} {
		r, err := ts.DB.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, s)
		}
		r.Close()
	}
	forbidden := append(append([]string(nil), sec.forbidden...), "whsec_")
	for i, text := range append(rows, exports...) {
		for _, f := range forbidden {
			if strings.Contains(text, f) {
				t.Errorf("audit record or export %d holds %q: %.300s", i, f, text)
			}
		}
	}
	var reads, failures int
	if err := ts.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action IN ('task.read', 'task.list_inbox', 'notification.list')),
		count(*) FILTER (WHERE action = 'auth.failed') FROM access_log`).Scan(&reads, &failures); err != nil {
		t.Fatal(err)
	}
	if reads == 0 || failures == 0 {
		t.Errorf("access log: %d reads, %d auth failures; the scenario made both", reads, failures)
	}
	t.Logf("scanned %d access records and channel changes, %d exports", len(rows), len(exports))
}

// secrets are the patient data the scenario sends; none may be logged.
type secrets struct {
	nhs       []string
	forbidden []string
}

func newSecrets() *secrets {
	s := &secrets{nhs: nhsNumbers(20)}
	for _, n := range append(s.nhs, "9658218874") { // the last fails Modulus 11
		s.forbidden = append(s.forbidden, n, n[:3]+" "+n[3:6]+" "+n[6:])
	}
	for i := range 60 {
		subj, body := s.text(i)
		s.forbidden = append(s.forbidden, subj, strings.Fields(body)[0])
	}
	s.forbidden = append(s.forbidden, "Pemberton-Quayle", "haemoptysis")
	return s
}

func (s *secrets) text(i int) (string, string) {
	return fmt.Sprintf("SUBJECT-Kx%03d Mrs Pemberton-Quayle", i),
		fmt.Sprintf("BODY-Kx%03d reports haemoptysis since Tuesday; please review and call back.", i)
}

// busyAfterwards drives the rest of the API: rejected requests that carry
// patient data, printed-form NHS numbers, reads, acks and cancels.
func busyAfterwards(ctx context.Context, t *testing.T, ts *testStack, s *submitter, sec *secrets) {
	t.Helper()
	ods := ts.ODS()
	key := ts.Keys[ods[0]]
	spaced := NewTask{RecipientODS: ods[3], PatientNHSNumber: sec.nhs[1][:3] + " " + sec.nhs[1][3:6] + " " + sec.nhs[1][6:],
		Type: "action-needed", Priority: "urgent", Subject: "SUBJECT-Kx059 Mrs Pemberton-Quayle", Body: "BODY-Kx059 printed form",
		DueDate: time.Now().AddDate(0, 0, 3).Format(time.DateOnly)}
	badNHS := spaced
	badNHS.PatientNHSNumber = "9658218874"
	for _, c := range []struct {
		name string
		do   func() (Response, error)
		want int
	}{
		{"printed NHS number", func() (Response, error) { return ts.API.PostTask(ctx, key, "", spaced) }, http.StatusAccepted},
		{"bad check digit", func() (Response, error) { return ts.API.PostTask(ctx, key, "", badNHS) }, http.StatusUnprocessableEntity},
		{"unknown field named like patient data", func() (Response, error) {
			return ts.API.Do(ctx, key, "POST", "/v1/tasks", []byte(`{"9658218873":"haemoptysis"}`))
		}, http.StatusBadRequest},
		{"wrong key", func() (Response, error) { return ts.API.PostTask(ctx, "gpfed_wrong", "", spaced) }, http.StatusUnauthorized},
	} {
		resp, err := c.do()
		if err != nil || resp.Status != c.want {
			t.Errorf("%s: got %d %s (err %v), want %d", c.name, resp.Status, resp.Body, err, c.want)
		}
	}
	waitOpen(ctx, t, ts)
	for key, id := range s.accepted {
		sender, task := s.task(taskIndex(key))
		_, _ = ts.API.Do(ctx, ts.Keys[task.RecipientODS], "POST", "/v1/tasks/"+id+"/ack", nil)
		_, _ = ts.API.Do(ctx, ts.Keys[sender], "POST", "/v1/tasks/"+id+"/cancel", nil)
		_, _ = ts.API.Do(ctx, ts.Keys[sender], "GET", "/v1/tasks/"+id, nil)
	}
	for _, o := range ods {
		for _, path := range []string{"/v1/inbox", "/v1/inbox?state=delivered", "/v1/notifications"} {
			if resp, err := ts.API.Do(ctx, ts.Keys[o], "GET", path, nil); err != nil || resp.Status != http.StatusOK {
				t.Errorf("GET %s as %s: %d %s (err %v)", path, o, resp.Status, resp.Body, err)
			}
		}
	}
}

func taskIndex(key string) int {
	var i int
	fmt.Sscanf(key, "e2e-%d", &i)
	return i
}

// waitOpen waits until no task is still accepted except at the failing
// receivers (which retry for a while).
func waitOpen(ctx context.Context, t *testing.T, ts *testStack) {
	t.Helper()
	err := waitFor(60*time.Second, func() error {
		var n int
		err := ts.DB.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE state = 'accepted' AND recipient_ods <> $1`, ts.ODS()[1]).Scan(&n)
		if err == nil && n > 0 {
			err = fmt.Errorf("%d tasks still accepted", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitSettled waits until every task has left 'accepted' and no
// notification is pending, so every delivery path has logged.
func waitSettled(ctx context.Context, t *testing.T, ts *testStack, tasks int) {
	t.Helper()
	err := waitFor(90*time.Second, func() error {
		var open, pending int
		err := ts.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM tasks WHERE state = 'accepted'),
			(SELECT count(*) FROM notifications WHERE state = 'pending')`).Scan(&open, &pending)
		if err == nil && open+pending > 0 {
			err = fmt.Errorf("%d tasks accepted, %d notifications pending", open, pending)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
	counts, _ := stateCounts(ctx, ts.DB)
	t.Logf("tasks by state: %v", counts)
	for _, want := range []string{"acknowledged", "failed"} {
		if counts[want] == 0 {
			t.Errorf("the scenario produced no %s task; it is not as busy as it claims", want)
		}
	}
}

// checkLogs scans every line of every process's log.
func checkLogs(t *testing.T, ts *testStack, sec *secrets) {
	t.Helper()
	total, debug := 0, 0
	msgs := map[string]int{}
	for file, lines := range logLines(t, ts.Stack) {
		for n, line := range lines {
			total++
			for _, f := range append(sec.forbidden, "whsec_") {
				if strings.Contains(line, f) {
					t.Errorf("%s:%d holds patient data or a webhook secret %q: %.300s", file, n+1, f, line)
				}
			}
			if c := strings.Count(line, `"component":`); c > 1 {
				t.Errorf("%s:%d repeats its component key: %.300s", file, n+1, line)
			}
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("%s:%d is not a JSON record: %.200s", file, n+1, line)
				continue
			}
			if m, ok := rec["msg"].(string); ok {
				msgs[m]++
			}
			if rec["level"] == "DEBUG" {
				debug++
			}
			if _, ok := rec["component"]; !ok {
				t.Errorf("%s:%d has no component: %.300s", file, n+1, line)
			}
		}
	}
	// The scan only means something if every path logged.
	seen := map[string]int{}
	for _, want := range []string{"task accepted", "delivered", "delivery attempt failed; will retry",
		"delivery failed permanently", "sync run started"} {
		seen[want] = msgs[want]
		if msgs[want] == 0 {
			t.Errorf("no %q line: the scenario did not exercise that path", want)
		}
	}
	t.Logf("scanned %d log lines (%d at debug level, %d distinct messages); %v", total, debug, len(msgs), seen)
}
