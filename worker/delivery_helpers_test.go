package worker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

const (
	sender    = "A20047" // no webhook: gets its notifications in the feed
	recipient = "B82001" // webhook receiver
	inboxOnly = "C81002" // no webhook
	secret    = "whsec-test"
	nhsNumber = "9434765919"
	bodyText  = "Please review the attached blood results"
)

// receiver is a real webhook endpoint that verifies signatures like a
// practice would and answers from a script (then 200).
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	script   []int          // statuses to answer first, in order
	hold     chan struct{}  // when set, requests wait on it
	requests []recorded     // every request, verified or not
	ok       map[string]int // idempotency key -> 2xx answers
	entered  chan struct{}  // signalled when a request arrives
}

type recorded struct {
	Event, Key string
	Signatures int // v1 entries in Gpfed-Signature
	Verified   bool
	Body       string
	Status     int
}

func newReceiver(t *testing.T, script ...int) *receiver {
	rc := &receiver{script: script, ok: map[string]int{}, entered: make(chan struct{}, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	select {
	case rc.entered <- struct{}{}:
	default: // nobody is watching arrivals
	}
	rc.mu.Lock()
	hold := rc.hold
	rc.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	rec := recorded{Event: r.Header.Get(webhook.HeaderEvent), Key: r.Header.Get(webhook.HeaderIdempotencyKey), Body: string(body),
		Signatures: strings.Count(r.Header.Get(webhook.HeaderSignature), "v1="),
		Verified:   webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body) == nil}
	rc.mu.Lock()
	rec.Status = http.StatusOK
	switch {
	case !rec.Verified:
		rec.Status = http.StatusUnauthorized
	case len(rc.script) > 0:
		rec.Status, rc.script = rc.script[0], rc.script[1:]
	}
	if rec.Status/100 == 2 {
		rc.ok[rec.Key]++
	}
	rc.requests = append(rc.requests, rec)
	rc.mu.Unlock()
	w.WriteHeader(rec.Status)
}

func (rc *receiver) snapshot() ([]recorded, map[string]int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ok := map[string]int{}
	for k, v := range rc.ok {
		ok[k] = v
	}
	return append([]recorded(nil), rc.requests...), ok
}

type env struct {
	db     *store.DB
	client *asynq.Client
	insp   *asynq.Inspector
	rc     *receiver
	relay  *queue.Relay
}

// setup builds a fresh database, Redis DB, practices, a webhook receiver
// for the recipient, an in-process asynq worker with fast retries, and a
// running relay.
func setup(t *testing.T, script ...int) *env {
	t.Helper()
	return setupWith(t, nil, script...)
}

// setupWith is setup whose worker enqueues the notifications deliveries
// create itself and, when fast is set, makes their first attempt on the
// fast path.
func setupWith(t *testing.T, fast *worker.FastPath, script ...int) *env {
	t.Helper()
	ctx := context.Background()
	db, _ := testdb.New(t)
	_, redisURL := testredis.DB(t)
	ps := []practice.Practice{
		{ODSCode: sender, Name: "Sender", ASID: "918999198993", Endpoint: "https://p.example/a", Active: true},
		{ODSCode: recipient, Name: "Recipient", ASID: "918999198994", Endpoint: "https://p.example/b", Active: true},
		{ODSCode: inboxOnly, Name: "Inbox", ASID: "918999198995", Endpoint: "https://p.example/c", Active: true},
	}
	if _, err := db.ImportPractices(ctx, ps, false); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, script...)
	if err := db.SetWebhook(ctx, recipient, rc.srv.URL+"/hooks/"+recipient, secret, 0); err != nil {
		t.Fatal(err)
	}
	opt, err := queue.RedisOpt(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, client: asynq.NewClient(opt), insp: asynq.NewInspector(opt), rc: rc}
	t.Cleanup(func() { e.client.Close(); e.insp.Close() })
	// The receiver is plain http on loopback: allowed explicitly (issue 10).
	deps := worker.DeliveryDeps{HTTPClient: webhook.NewClientFor(2*time.Second, webhook.Policy{AllowHTTP: true, AllowNets: webhook.Loopback}),
		WebhookTimeout: 2 * time.Second}
	if fast != nil {
		deps.Enqueuer, deps.FastPath = e.client, fast
		t.Cleanup(func() { fast.Close(5 * time.Second) })
	}
	startWorker(t, opt, db, deps)
	rctx, cancel := context.WithCancel(ctx)
	e.relay = &queue.Relay{DB: db, Client: e.client, Log: logging.Discard(), Interval: 50 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); e.relay.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func startWorker(t *testing.T, opt asynq.RedisConnOpt, db *store.DB, deps worker.DeliveryDeps) {
	t.Helper()
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: 4, Queues: queue.Queues, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 50 * time.Millisecond,
		RetryDelayFunc: worker.RetryPolicy{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond}.Delay,
	})
	mux := worker.NewMux(worker.Deps{DB: db, Log: logging.Discard(), Delivery: deps})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// newTask writes a task and its outbox row in one transaction, as the API's
// accept path does.
func newTask(t *testing.T, db *store.DB, to string, maxAge time.Duration) uuid.UUID {
	t.Helper()
	return insertTask(t, db, to, maxAge, true)
}

func insertTask(t *testing.T, db *store.DB, to string, maxAge time.Duration, outbox bool) uuid.UUID {
	t.Helper()
	id := uuid.New()
	err := db.InTx(context.Background(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `INSERT INTO tasks (id, sender_ods, recipient_ods, patient_nhs_number,
			type, priority, subject, body, due_date, expires_at) VALUES ($1, $2, $3, $4, 'action-needed', 'urgent',
			'Bloods', $5, '2026-02-01', now() + make_interval(secs => $6))`, id, sender, to, nhsNumber, bodyText,
			maxAge.Seconds()); err != nil {
			return err
		}
		if !outbox {
			return nil
		}
		_, err := tx.Exec(context.Background(), `INSERT INTO outbox (kind, ref_id) VALUES ('task', $1)`, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type taskRow struct {
	State, Channel, LastError string
	Attempts                  int
}

func getTask(t *testing.T, db *store.DB, id uuid.UUID) taskRow {
	t.Helper()
	var r taskRow
	err := db.Pool.QueryRow(context.Background(), `SELECT state, COALESCE(channel, ''), COALESCE(last_error, ''), attempts
		FROM tasks WHERE id = $1`, id).Scan(&r.State, &r.Channel, &r.LastError, &r.Attempts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitState polls until the task reaches state or the deadline passes.
func waitState(t *testing.T, db *store.DB, id uuid.UUID, state string) taskRow {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := getTask(t, db, id)
		if r.State == state {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: state %q after 15s, want %q (%+v)", id, r.State, state, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type noteRow struct {
	Recipient, Kind, State, Channel string
	Data                            map[string]any
}

// waitNotes polls until the notifications about task are all finished
// (not pending) and there are want of them.
func waitNotes(t *testing.T, db *store.DB, task uuid.UUID, want int) []noteRow {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows, err := db.Pool.Query(context.Background(), `SELECT recipient_ods, kind, state, COALESCE(channel, ''), data
			FROM notifications WHERE task_id = $1 ORDER BY created_at, kind`, task)
		if err != nil {
			t.Fatal(err)
		}
		notes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (noteRow, error) {
			var n noteRow
			return n, r.Scan(&n.Recipient, &n.Kind, &n.State, &n.Channel, &n.Data)
		})
		if err != nil {
			t.Fatal(err)
		}
		done := len(notes) == want
		for _, n := range notes {
			done = done && n.State != store.NotificationPending
		}
		if done {
			return notes
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications for %s after 15s: %+v, want %d finished", task, notes, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func auditTrail(t *testing.T, db *store.DB, id uuid.UUID) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT actor || ':' || action || ':' || COALESCE(from_state, '') || '>' || COALESCE(to_state, '')
		FROM task_events WHERE task_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}
