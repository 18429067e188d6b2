package queue_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
	"github.com/gpfed/gpfed/queue"
)

type fixture struct {
	db     *store.DB
	client *asynq.Client
	insp   *asynq.Inspector
	opt    asynq.RedisConnOpt
}

func setup(t *testing.T) *fixture {
	t.Helper()
	db, _ := testdb.New(t)
	_, url := testredis.DB(t)
	opt, err := queue.RedisOpt(url)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, client: asynq.NewClient(opt), insp: asynq.NewInspector(opt), opt: opt}
	t.Cleanup(func() { f.client.Close(); f.insp.Close() })
	ps := []practice.Practice{
		{ODSCode: "A20047", Name: "A", ASID: "918999198993", Endpoint: "https://p.example/a", Active: true},
		{ODSCode: "B82001", Name: "B", ASID: "918999198994", Endpoint: "https://p.example/b", Active: true},
	}
	if _, err := db.ImportPractices(context.Background(), ps, false); err != nil {
		t.Fatal(err)
	}
	return f
}

// accept writes n tasks and their outbox rows, one transaction each, like the API.
func (f *fixture) accept(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
		_, err := f.db.Pool.Exec(context.Background(), `WITH t AS (INSERT INTO tasks (id, sender_ods, recipient_ods,
			patient_nhs_number, type, priority, subject, body, expires_at)
			VALUES ($1, 'A20047', 'B82001', '9434765919', 'information', 'routine', 's', 'b', now() + interval '1 day'))
			INSERT INTO outbox (kind, ref_id) VALUES ('task', $1)`, ids[i])
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (f *fixture) outboxLen(t *testing.T) int {
	t.Helper()
	n, err := f.db.OutboxLen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) queued(t *testing.T) int {
	t.Helper()
	info, err := f.insp.GetQueueInfo(queue.QueueTasks)
	if err != nil {
		return 0
	}
	return info.Size
}

func deadRedis(t *testing.T) asynq.RedisConnOpt {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return asynq.RedisClientOpt{Addr: addr, DialTimeout: 200 * time.Millisecond}
}

func TestRelayKeepsRowsWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ids := f.accept(t, 5)
	dead := asynq.NewClient(deadRedis(t))
	defer dead.Close()
	down := &queue.Relay{DB: f.db, Client: dead, Log: logging.Discard()}
	for range 3 {
		if _, err := down.RunOnce(context.Background()); err == nil {
			t.Fatal("RunOnce with Redis down: want an error")
		}
	}
	if got := f.outboxLen(t); got != 5 {
		t.Fatalf("outbox rows after failed relays = %d, want 5", got)
	}
	// Redis back: the same rows go through, each under its task id.
	up := &queue.Relay{DB: f.db, Client: f.client, Log: logging.Discard()}
	if n, err := up.RunOnce(context.Background()); err != nil || n != 5 {
		t.Fatalf("RunOnce = %d, %v; want 5, nil", n, err)
	}
	if got := f.outboxLen(t); got != 0 {
		t.Fatalf("outbox rows after relay = %d, want 0", got)
	}
	for _, id := range ids {
		info, err := f.insp.GetTaskInfo(queue.QueueTasks, queue.TaskDeliverID(id))
		if err != nil {
			t.Fatalf("task %s not queued: %v", id, err)
		}
		if diff := cmp.Diff(fmt.Sprintf(`{"task_id":%q}`, id), string(info.Payload)); diff != "" {
			t.Errorf("payload (-want +got):\n%s", diff)
		}
		if info.Type != queue.TypeTaskDeliver || info.MaxRetry < 1000 || info.Retention < time.Hour {
			t.Errorf("entry %+v: want task:deliver, large MaxRetry, retention", info)
		}
	}
}

func TestRelayRunAgainstDeadRedisKeepsRows(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.accept(t, 3)
	dead := asynq.NewClient(deadRedis(t))
	defer dead.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	(&queue.Relay{DB: f.db, Client: dead, Log: logging.Discard(), Interval: 20 * time.Millisecond}).Run(ctx)
	if got := f.outboxLen(t); got != 3 {
		t.Fatalf("outbox rows after running against dead Redis = %d, want 3", got)
	}
}

// Duplicate outbox rows for one task (relay crash after enqueue, before
// commit; reconciler) yield one queue entry.
func TestRelayDuplicateRowsOneEntry(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.accept(t, 1)[0]
	for range 2 {
		if _, err := f.db.Pool.Exec(context.Background(), `INSERT INTO outbox (kind, ref_id) VALUES ('task', $1)`, id); err != nil {
			t.Fatal(err)
		}
	}
	r := &queue.Relay{DB: f.db, Client: f.client, Log: logging.Discard()}
	if n, err := r.RunOnce(context.Background()); err != nil || n != 3 {
		t.Fatalf("RunOnce = %d, %v; want 3, nil", n, err)
	}
	if got := [2]int{f.outboxLen(t), f.queued(t)}; got != [2]int{0, 1} {
		t.Fatalf("outbox, queued = %v, want [0 1]", got)
	}
}

// Many relays at once: SKIP LOCKED splits the rows, every task is queued
// exactly once, and the outbox drains.
func TestConcurrentRelays(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.accept(t, 300)
	var wg sync.WaitGroup
	claimed := make([]int, 4)
	for i := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &queue.Relay{DB: f.db, Client: f.client, Log: logging.Discard(), BatchSize: 25}
			for {
				n, err := r.RunOnce(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
				claimed[i] += n
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range claimed {
		total += n
	}
	if got := [3]int{total, f.outboxLen(t), f.queued(t)}; got != [3]int{300, 0, 300} {
		t.Fatalf("claimed, outbox, queued = %v, want [300 0 300] (per relay %v)", got, claimed)
	}
}

// A committed outbox row wakes a running relay through LISTEN/NOTIFY long
// before its poll interval.
func TestRelayWokenByCommit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&queue.Relay{DB: f.db, Client: f.client, Log: logging.Discard(), Interval: time.Hour}).Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	// The first pass runs at start; wait until the listener is up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		_ = f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("relay never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.accept(t, 2)
	for f.queued(t) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("queued %d of 2 within 10s with a 1h poll interval", f.queued(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
