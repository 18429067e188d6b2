package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
)

// Delivery wakes: the delivery engine keeps its schedule in Postgres
// (store.Claim), and asynq carries "claim due work" requests to whichever
// worker has a free slot. A wake is cheap and idempotent: a claim that finds
// nothing due returns at once, so a lost wake costs latency (the Sweeper
// finds the work within a second) and a duplicate costs one query.

// DefaultClaimTimeout bounds one claim-and-deliver run in asynq; workers set
// it from the webhook timeout (their lease).
const DefaultClaimTimeout = time.Minute

// NewDeliveryClaimTask builds a delivery:claim entry. An empty id lets
// asynq pick one; a fixed id keeps at most one such entry queued.
func NewDeliveryClaimTask(urgent bool, id string, timeout time.Duration) *asynq.Task {
	q := QueueDelivery
	if urgent {
		q = QueueDeliveryUrgent
	}
	if timeout <= 0 {
		timeout = DefaultClaimTimeout
	}
	opts := []asynq.Option{asynq.Queue(q), asynq.MaxRetry(0), asynq.Timeout(timeout)}
	if id != "" {
		opts = append(opts, asynq.TaskID(id))
	}
	return asynq.NewTask(TypeDeliveryClaim, nil, opts...)
}

// Waker wakes the delivery engine after a commit that made delivery work
// due (accepted tasks, recorded outcomes that created notifications or
// freed an endpoint's slot, redeliveries). It is the one owner of that
// rule: nothing else in gpfed enqueues deliveries. A nil *Waker does
// nothing (the Sweeper alone then finds the work).
type Waker struct {
	client  *asynq.Client
	timeout time.Duration
	log     *slog.Logger
}

// NewWaker returns a waker enqueuing through client; claimTimeout is the
// asynq timeout of the claim runs it asks for.
func NewWaker(client *asynq.Client, claimTimeout time.Duration, log *slog.Logger) *Waker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Waker{client: client, timeout: claimTimeout, log: log.With("component", "delivery")}
}

// wakeTimeout bounds one wake: a Redis that does not answer must not hold
// up the API's answer; the Sweeper takes over.
const wakeTimeout = time.Second

// Wake asks a worker to claim due deliveries; urgent puts the request
// ahead of the others. A failure is logged, not returned: the work is in
// Postgres and the Sweeper will wake a worker for it.
func (w *Waker) Wake(ctx context.Context, urgent bool) {
	w.wake(ctx, urgent, "")
}

func (w *Waker) wake(ctx context.Context, urgent bool, id string) {
	if w == nil || w.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wakeTimeout)
	defer cancel()
	if err := Enqueue(ctx, w.client, NewDeliveryClaimTask(urgent, id, w.timeout)); err != nil {
		w.log.Debug("wake failed; the sweeper will find the work", "error", err)
	}
}

// Sweeper watches the delivery schedule in Postgres and wakes a worker
// when work falls due that no commit announced: retries and circuit probes
// reaching their time, leases of crashed workers running out, and wakes
// lost with Redis's data. It sleeps until the next due time (or MaxSleep,
// or a Poke), so retry delays are honoured to within a claim's latency.
// Any number may run; each keeps at most one wake of its own queued.
type Sweeper struct {
	db       *store.DB
	waker    *Waker
	cap      int
	id       string
	maxSleep time.Duration
	minGap   time.Duration
	log      *slog.Logger
	poke     chan struct{}

	vacuumEvery time.Duration
	vacuumDead  int64
}

// SweeperConfig configures a Sweeper.
type SweeperConfig struct {
	// EndpointCap is the default per-endpoint in-flight cap (as the engine's).
	EndpointCap int
	// Name distinguishes this sweeper's wake (one per process).
	Name string
	// MaxSleep bounds how long work can wait unnoticed (default 1s).
	MaxSleep time.Duration
	// VacuumEvery is how often the queue's dead rows are counted (default
	// 2s), and VacuumDeadRows how many make a vacuum (default 1000).
	VacuumEvery    time.Duration
	VacuumDeadRows int64
}

// NewSweeper returns a sweeper for db that wakes through waker.
func NewSweeper(db *store.DB, waker *Waker, cfg SweeperConfig, log *slog.Logger) *Sweeper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dead := cfg.VacuumDeadRows
	if dead <= 0 {
		dead = vacuumDead
	}
	return &Sweeper{db: db, waker: waker, cap: max(cfg.EndpointCap, 1), id: "delivery:sweep:" + cfg.Name,
		maxSleep: cmpOr(cfg.MaxSleep, time.Second), minGap: 100 * time.Millisecond,
		vacuumEvery: cmpOr(cfg.VacuumEvery, vacuumEvery), vacuumDead: dead,
		log: log.With("component", "sweeper"), poke: make(chan struct{}, 1)}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Poke makes the sweeper look at the schedule again now (after this
// process scheduled a retry, which may be due before its current wake-up).
func (s *Sweeper) Poke() {
	if s == nil {
		return
	}
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Run sweeps until ctx ends. Beside the schedule it keeps the queue table
// lean: every VacuumEvery it vacuums the queue when at least
// VacuumDeadRows dead rows have gathered (see store.VacuumDeliveryQueue).
func (s *Sweeper) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); s.vacuumLoop(ctx) }()
	defer func() { <-done }()
	s.sweep(ctx)
}

// Queue vacuuming defaults: how often the dead-row count is looked at, and
// how many dead rows make a vacuum worth it (a few milliseconds on a queue
// of this size; the claims it saves cost more within seconds at a busy
// federation).
const (
	vacuumEvery = 2 * time.Second
	vacuumDead  = 1000
)

func (s *Sweeper) vacuumLoop(ctx context.Context) {
	t := time.NewTicker(s.vacuumEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		dead, err := s.db.QueueDeadRows(ctx)
		if err != nil || dead < s.vacuumDead {
			continue
		}
		start := time.Now()
		if err := s.db.VacuumDeliveryQueue(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("delivery queue vacuum failed; autovacuum remains", "error", err)
			}
			continue
		}
		s.log.Debug("delivery queue vacuumed", "dead_rows", dead, "took_ms", time.Since(start).Milliseconds())
	}
}

func (s *Sweeper) sweep(ctx context.Context) {
	failures := 0
	for {
		wait := s.maxSleep
		due, ok, err := s.db.NextDue(ctx, s.cap)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			if failures == 1 || failures%60 == 0 {
				s.log.Warn("delivery schedule unreadable; retrying", "error", err, "failures", failures)
			}
		case !ok:
			failures = 0
		case due <= 0:
			failures = 0
			s.log.Debug("due work found; waking a worker")
			s.waker.wake(ctx, false, s.id)
			wait = s.minGap
		default:
			failures = 0
			wait = min(due, s.maxSleep)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.poke:
			t.Stop()
		case <-t.C:
		}
	}
}
