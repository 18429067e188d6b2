package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/queue"
)

// Practices of every fixture: A sends, B receives, C is a bystander, Z has
// left the federation.
const (
	odsA = "A20047"
	odsB = "B81016"
	odsC = "M85015"
	odsZ = "Z99999"

	nhsValid   = "9658218873"
	nhsValid2  = "9658220223"
	secretBody = "Patient reports chest pain since Tuesday"
)

type fixture struct {
	t      *testing.T
	db     *store.DB
	url    string
	keys   map[string]string // ODS -> practice key; "admin" -> admin key
	logs   *syncBuffer
	client *http.Client
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFixture(t *testing.T, opts ...func(*api.Server)) *fixture {
	t.Helper()
	db, _ := testdb.New(t)
	return newFixtureWithDB(t, db, opts...)
}

func newFixtureWithDB(t *testing.T, db *store.DB, opts ...func(*api.Server)) *fixture {
	t.Helper()
	ctx := context.Background()
	mk := func(ods string) practice.Practice {
		return practice.Practice{ODSCode: ods, Name: "Practice " + ods, ASID: "918999198993",
			Endpoint: "https://p.example/" + ods + "/STU3/1/gpconnect"}
	}
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk(odsA), mk(odsB), mk(odsC), mk(odsZ)}, false); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, keys: map[string]string{}, logs: &syncBuffer{}, client: &http.Client{Timeout: 30 * time.Second}}
	for _, ods := range []string{odsA, odsB, odsC, odsZ} {
		raw, _, err := db.CreateAPIKey(ctx, store.RolePractice, ods, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.keys[ods] = raw
	}
	raw, _, err := db.CreateAPIKey(ctx, store.RoleAdmin, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	f.keys["admin"] = raw
	// Z leaves the federation: its key stops working and it is no recipient.
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk(odsA), mk(odsB), mk(odsC)}, false); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "api")
	intake := queue.NewIntake(db, nil, queue.IntakeConfig{})
	ictx, stopIntake := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); intake.Run(ictx) }()
	t.Cleanup(func() { stopIntake(); <-stopped })
	srv := &api.Server{DB: db, Log: log, TaskMaxAge: 6 * time.Hour, Intake: intake}
	for _, o := range opts {
		o(srv)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request as key ("" = no Authorization). Headers come in pairs.
func (f *fixture) do(method, path, key string, body string, headers ...string) response {
	f.t.Helper()
	return send(f.t, f.client, f.url, method, path, key, body, headers...)
}

// send makes one request to the server at base as key ("" = no
// Authorization). Headers come in pairs; the value "<unset>" removes one.
func send(t *testing.T, client *http.Client, base, method, path, key, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "<unset>" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// taskBody is a valid POST /v1/tasks body from A to B, changed by mods.
func taskBody(mods ...func(map[string]any)) string {
	m := map[string]any{
		"recipient_ods": odsB, "patient_nhs_number": nhsValid, "type": "action-needed",
		"priority": "urgent", "subject": "Please review bloods", "body": secretBody,
	}
	for _, mod := range mods {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func set(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
func del(k string) func(map[string]any)        { return func(m map[string]any) { delete(m, k) } }

// taskView is the part of the task JSON the tests read.
type taskView struct {
	ID               string     `json:"id"`
	SenderODS        string     `json:"sender_ods"`
	RecipientODS     string     `json:"recipient_ods"`
	PatientNHSNumber string     `json:"patient_nhs_number"`
	Type             string     `json:"type"`
	Priority         string     `json:"priority"`
	Subject          string     `json:"subject"`
	Body             string     `json:"body"`
	DueDate          *string    `json:"due_date"`
	State            string     `json:"state"`
	Attempts         int        `json:"attempts"`
	ExpiresAt        time.Time  `json:"expires_at"`
	CreatedAt        time.Time  `json:"created_at"`
	AcknowledgedAt   *time.Time `json:"acknowledged_at"`
	Events           []struct {
		Actor     string  `json:"actor"`
		Action    string  `json:"action"`
		FromState *string `json:"from_state"`
		ToState   *string `json:"to_state"`
	} `json:"events"`
}

// create posts a valid task from A and returns it.
func (f *fixture) create(mods ...func(map[string]any)) taskView {
	f.t.Helper()
	res := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(mods...))
	if res.status != http.StatusAccepted {
		f.t.Fatalf("create task: %d %s", res.status, res.body)
	}
	var tv taskView
	res.json(f.t, &tv)
	return tv
}

// deliver records what the delivery engine records for an inbox-only
// recipient (store.RecordOutcomes), so a cancel can win instead.
func (f *fixture) deliver(id string) bool {
	f.t.Helper()
	rep, err := f.db.RecordOutcomes(context.Background(), []store.Outcome{{Kind: store.KindTask, ID: uuid.MustParse(id),
		Endpoint: odsB, Result: store.Delivered, Channel: "inbox"}}, store.RecordOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return rep.Applied == 1
}

// counts returns the rows in tasks, task_events, delivery_queue and notifications.
func (f *fixture) counts() [4]int {
	f.t.Helper()
	var c [4]int
	err := f.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events),
		(SELECT count(*) FROM delivery_queue), (SELECT count(*) FROM notifications)`).Scan(&c[0], &c[1], &c[2], &c[3])
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// problem is an RFC 9457 body.
type problem struct {
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Errors map[string]string `json:"errors"`
}

// reason returns detail and field reasons as one string for matching.
func (r response) reason(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problem
	r.json(t, &p)
	if p.Status != r.status {
		t.Fatalf("problem status %d != HTTP status %d", p.Status, r.status)
	}
	var b strings.Builder
	b.WriteString(p.Detail)
	for k, v := range p.Errors {
		b.WriteString(" | " + k + ": " + v)
	}
	return b.String()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
