package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
	"github.com/gpfed/gpfed/queue"
)

type fixture struct {
	db     *store.DB
	client *asynq.Client
	insp   *asynq.Inspector
	waker  *queue.Waker
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, _ := testdb.New(t)
	_, url := testredis.DB(t)
	opt, err := queue.RedisOpt(url)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, client: asynq.NewClient(opt), insp: asynq.NewInspector(opt)}
	t.Cleanup(func() { f.client.Close(); f.insp.Close() })
	f.waker = queue.NewWaker(f.client, time.Minute, nil)
	testdb.Federation(t, db, "A20047", "B82001")
	return f
}

// pending counts delivery:claim entries waiting in q.
func (f *fixture) pending(t *testing.T, q string) int {
	t.Helper()
	info, err := f.insp.GetQueueInfo(q)
	if err != nil {
		return 0 // the queue does not exist yet
	}
	return info.Pending
}

func run(t *testing.T, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Concurrent accepts share statements; each group wakes the engine once,
// on the urgent queue when it holds an urgent task.
func TestIntakeCommitsInGroupsAndWakes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := queue.NewIntake(f.db, f.waker, queue.IntakeConfig{MaxBatch: 16, Flushers: 1})
	run(t, in.Run)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task := testdb.TaskSpec("A20047", "B82001")
			if i == 0 {
				task.Priority = "urgent"
			}
			res, err := in.Accept(context.Background(), task, nil)
			if err != nil || !res.Created {
				t.Errorf("accept %d: %+v %v", i, res, err)
			}
		}()
	}
	wg.Wait()
	if n := testdb.Count(t, f.db, `SELECT count(*) FROM delivery_queue`); n != 64 {
		t.Fatalf("queued %d, want 64", n)
	}
	wakes := f.pending(t, queue.QueueDelivery) + f.pending(t, queue.QueueDeliveryUrgent)
	if wakes < 4 || wakes >= 64 || f.pending(t, queue.QueueDeliveryUrgent) != 1 {
		t.Fatalf("%d wakes (%d urgent) for 64 accepts in groups of up to 16; want one per group, one urgent",
			wakes, f.pending(t, queue.QueueDeliveryUrgent))
	}
}

// The sweeper wakes the engine when work falls due (here a retry set a
// moment ahead) and again after Redis lost its wake, and keeps at most one
// wake of its own queued.
func TestSweeperWakesWhenWorkFallsDue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := testdb.Task(t, f.db, "A20047", "B82001")
	testdb.Exec(t, f.db, `UPDATE delivery_queue SET due_at = now() + interval '700 milliseconds' WHERE ref_id = $1`, id)
	sw := queue.NewSweeper(f.db, f.waker, queue.SweeperConfig{EndpointCap: 8, Name: "test", MaxSleep: 5 * time.Second}, nil)
	run(t, sw.Run)
	time.Sleep(400 * time.Millisecond)
	if n := f.pending(t, queue.QueueDelivery); n != 0 {
		t.Fatalf("woken %d times before the work was due", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for f.pending(t, queue.QueueDelivery) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no wake once the work was due")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // still due, wake still queued: no second one
	if n := f.pending(t, queue.QueueDelivery); n != 1 {
		t.Fatalf("%d wakes queued, want 1", n)
	}
	if _, err := f.insp.DeleteAllPendingTasks(queue.QueueDelivery); err != nil { // as a Redis flush would
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for f.pending(t, queue.QueueDelivery) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no new wake after the first was lost")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The sweeper vacuums the queue once enough dead rows have gathered (the
// statistics report them within a second or so), and not before.
func TestSweeperVacuumsTheQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	vacuums := func() int64 {
		var n int64
		if err := f.db.Pool.QueryRow(context.Background(), `SELECT vacuum_count FROM pg_stat_user_tables
			WHERE relid = 'delivery_queue'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	testdb.Exec(t, f.db, `INSERT INTO delivery_queue (ref_id, kind, endpoint)
		SELECT gen_random_uuid(), 'task', 'B82001' FROM generate_series(1, 50)`)
	testdb.Exec(t, f.db, `DELETE FROM delivery_queue`)
	sw := queue.NewSweeper(f.db, nil, queue.SweeperConfig{EndpointCap: 8, Name: "test", VacuumEvery: 100 * time.Millisecond,
		VacuumDeadRows: 40}, nil)
	run(t, sw.Run)
	deadline := time.Now().Add(15 * time.Second)
	for vacuums() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("50 dead rows, threshold 40: no vacuum within 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if dead, err := f.db.QueueDeadRows(context.Background()); err != nil || dead >= 40 {
		t.Fatalf("after the vacuum: %d dead rows (%v)", dead, err)
	}
	before := vacuums()
	time.Sleep(500 * time.Millisecond)
	if n := vacuums(); n != before {
		t.Errorf("vacuumed %d more times with no dead rows", n-before)
	}
}
