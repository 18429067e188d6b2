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
	"github.com/gpfed/gpfed/internal/service"
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
	other     = "D82002" // a second webhook receiver
	secret    = "whsec-test"
	nhsNumber = "9434765919"
)

// receiver is a real webhook endpoint that verifies signatures like a
// practice would and answers from a script (then 200), or holds requests.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	script   []int         // statuses to answer first, in order
	always   int           // when set, the status of every answer after the script
	hold     chan struct{} // when set, requests wait on it
	requests []recorded    // every request, verified or not
	inFlight int
	peak     int
	ok       map[string]int // idempotency key -> 2xx answers
}

type recorded struct {
	Event, Key string
	Signatures int // v1 entries in Gpfed-Signature
	Verified   bool
	Body       string
	Status     int
	At         time.Time
}

func newReceiver(t *testing.T, script ...int) *receiver {
	rc := &receiver{script: script, ok: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	hold := rc.hold
	rc.inFlight++
	rc.peak = max(rc.peak, rc.inFlight)
	rc.mu.Unlock()
	defer func() { rc.mu.Lock(); rc.inFlight--; rc.mu.Unlock() }()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	rec := recorded{Event: r.Header.Get(webhook.HeaderEvent), Key: r.Header.Get(webhook.HeaderIdempotencyKey), Body: string(body),
		Signatures: strings.Count(r.Header.Get(webhook.HeaderSignature), "v1="), At: time.Now(),
		Verified: webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body) == nil}
	rc.mu.Lock()
	rec.Status = http.StatusOK
	switch {
	case !rec.Verified:
		rec.Status = http.StatusUnauthorized
	case len(rc.script) > 0:
		rec.Status, rc.script = rc.script[0], rc.script[1:]
	case rc.always != 0:
		rec.Status = rc.always
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

func (rc *receiver) set(f func(rc *receiver)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f(rc)
}

type env struct {
	db      *store.DB
	rc      *receiver // recipient's
	rc2     *receiver // other's
	client  *asynq.Client
	waker   *queue.Waker
	engine  *worker.Engine
	sweeper *queue.Sweeper
}

// options adjust the engine a test runs.
type options struct {
	cfg    worker.DeliveryConfig
	script []int
	// noWorker builds the environment without starting the queue server.
	noWorker bool
}

// setup builds a fresh database, Redis DB, practices (recipient and other
// with webhook receivers), and a running worker: asynq server with the
// delivery engine, its completer and a sweeper, with fast retries.
func setup(t *testing.T, opts options) *env {
	t.Helper()
	db, _ := testdb.New(t)
	_, redisURL := testredis.DB(t)
	testdb.Federation(t, db, sender, recipient, inboxOnly, other)
	e := &env{db: db, rc: newReceiver(t, opts.script...), rc2: newReceiver(t)}
	testdb.SetWebhook(t, db, recipient, e.rc.srv.URL+"/hooks/"+recipient, secret)
	testdb.SetWebhook(t, db, other, e.rc2.srv.URL+"/hooks/"+other, secret)
	opt, err := queue.RedisOpt(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	e.client = asynq.NewClient(opt)
	t.Cleanup(func() { e.client.Close() })
	cfg := opts.cfg
	cfg.WebhookTimeout = max(cfg.WebhookTimeout, 2*time.Second)
	if cfg.HTTPClient == nil {
		// The receivers are plain http on loopback: allowed explicitly (issue 10).
		cfg.HTTPClient = webhook.NewClientFor(cfg.WebhookTimeout, webhook.Policy{AllowHTTP: true, AllowNets: webhook.Loopback})
	}
	if cfg.Retry.Base == 0 {
		cfg.Retry = worker.RetryPolicy{Base: 40 * time.Millisecond, Max: 200 * time.Millisecond}
	}
	if cfg.Breaker.FailuresToOpen == 0 {
		cfg.Breaker = store.BreakerPolicy{FailuresToOpen: 100, ProbeMin: time.Second, ProbeMax: time.Second, NotifyEvery: time.Hour}
	}
	e.waker = queue.NewWaker(e.client, time.Minute, logging.Discard())
	e.sweeper = queue.NewSweeper(db, e.waker, queue.SweeperConfig{EndpointCap: max(cfg.EndpointCap, 8), Name: t.Name(),
		MaxSleep: 200 * time.Millisecond}, logging.Discard())
	e.engine, err = worker.NewEngine(db, e.waker, e.sweeper, cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if opts.noWorker {
		return e
	}
	g := &service.Group{}
	t.Cleanup(g.Stop)
	ctx := context.Background()
	g.Start(ctx, "completer", e.engine.Run)
	g.Start(ctx, "sweeper", e.sweeper.Run)
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 8, Queues: queue.Queues, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: 3 * time.Second})
	if err := srv.Start(worker.NewMux(worker.Deps{DB: db, Log: logging.Discard(), Delivery: e.engine})); err != nil {
		t.Fatal(err)
	}
	g.Start(ctx, "queue server", func(ctx context.Context) { <-ctx.Done(); srv.Shutdown() })
	return e
}

// accept stores a task as the API does and wakes the engine.
func (e *env) accept(t *testing.T, task store.Task) uuid.UUID {
	t.Helper()
	id := testdb.Accept(t, e.db, task)
	e.waker.Wake(context.Background(), task.Priority == "urgent")
	return id
}

// send accepts an urgent action task from sender to, expiring after maxAge.
func (e *env) send(t *testing.T, to string, maxAge time.Duration) uuid.UUID {
	t.Helper()
	task := testdb.TaskSpec(sender, to)
	task.Type, task.Priority, task.DueDate = "action-needed", "urgent", "2026-02-01"
	task.ExpiresAt = time.Now().Add(maxAge)
	return e.accept(t, task)
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

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState polls until the task reaches state.
func waitState(t *testing.T, db *store.DB, id uuid.UUID, state string) taskRow {
	t.Helper()
	var r taskRow
	waitFor(t, 15*time.Second, "task "+id.String()+" to be "+state, func() bool {
		r = getTask(t, db, id)
		return r.State == state
	})
	return r
}

type noteRow struct {
	Recipient, Kind, State, Channel string
	Data                            map[string]any
}

// waitNotes polls until the notifications about task are all finished
// (not pending) and there are want of them.
func waitNotes(t *testing.T, db *store.DB, task uuid.UUID, want int) []noteRow {
	t.Helper()
	var notes []noteRow
	waitFor(t, 15*time.Second, "notifications about "+task.String(), func() bool {
		rows, err := db.Pool.Query(context.Background(), `SELECT recipient_ods, kind, state, COALESCE(channel, ''), data
			FROM notifications WHERE task_id = $1 ORDER BY created_at, kind`, task)
		if err != nil {
			t.Fatal(err)
		}
		notes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (noteRow, error) {
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
		return done
	})
	return notes
}

func auditTrail(t *testing.T, db *store.DB, id uuid.UUID) []string {
	t.Helper()
	return testdb.Strings(t, db.Pool, `SELECT actor || ':' || action || ':' || COALESCE(from_state, '') || '>' || COALESCE(to_state, '')
		FROM task_events WHERE task_id = $1 ORDER BY id`, id)
}
