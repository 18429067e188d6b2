// Package testfed wires a complete capacity-sync stack for integration
// tests and benchmarks: a strict simulated federation on a loopback HTTP
// server, a fresh Postgres database, a private Redis database, the real
// GP Connect client, the real asynq worker mux and the sync job.
package testfed

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/flight"
	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/sds"
	"github.com/gpfed/gpfed/internal/service"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

// Options shape the stack.
type Options struct {
	Practices   int
	Seed        int64
	SlotsPerDay int
	Days        int           // booking horizon of the simulator and days a sync covers (default 28)
	Latency     time.Duration // median provider latency
	Concurrency int           // asynq worker concurrency
	MaxGlobal   int           // GP Connect concurrent calls
	Log         *slog.Logger
	// SDS imports the practices by ODS code and name only, so that every
	// endpoint and ASID is resolved through the simulator's SDS.
	SDS bool
}

// Fed is a running stack.
type Fed struct {
	DB       *store.DB
	DBURL    string
	RedisURL string
	Redis    asynq.RedisConnOpt
	Sim      *sim.Federation
	SimURL   string
	GPC      *gpconnect.Client
	Client   *asynq.Client
	Insp     *asynq.Inspector
	Sync     *jobs.Sync
	Log      *slog.Logger
	London   *time.Location
	// Fetch is the endpoint discovery the workers use (SDS when Options.SDS).
	Fetch worker.FetchDeps
}

// New builds the stack and imports the simulated practices. Workers are not
// started: call StartWorker.
func New(t testing.TB, o Options) *Fed {
	t.Helper()
	if o.Practices == 0 {
		o.Practices = 20
	}
	if o.Seed == 0 {
		o.Seed = 7
	}
	if o.Concurrency == 0 {
		o.Concurrency = 20
	}
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	if o.Days == 0 {
		o.Days = 28
	}
	db, dbURL := testdb.New(t)
	_, redisURL := testredis.DB(t)
	redis, err := queue.RedisOpt(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	fed := sim.New(sim.Config{Practices: o.Practices, Seed: o.Seed, SlotsPerDay: o.SlotsPerDay, Days: o.Days,
		Latency: sim.LatencyDist{Median: o.Latency}, MaxHang: 30 * time.Second})
	srv := httptest.NewServer(fed.Handler())
	t.Cleanup(func() { fed.Close(); srv.Close() })
	fed.SetBaseURL(srv.URL)

	var buf bytes.Buffer
	write := fed.WriteCSV
	if o.SDS {
		write = fed.WriteODSCSV
	}
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	// The stack syncs capacity only: the simulator's http:// loopback
	// webhooks are parsed under an explicit development policy and not
	// imported (delivery tests set up their own receivers).
	dev := practice.Parser{Webhooks: webhook.Policy{AllowHTTP: true, AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	ps, err := dev.Parse(&buf)
	if err != nil {
		t.Fatalf("sim CSV does not import: %v", err)
	}
	if _, err := db.ImportPractices(context.Background(), ps, false); err != nil {
		t.Fatal(err)
	}
	var directory *sds.Client
	if o.SDS {
		directory = newSDS(t, fed, o.Log)
	}
	gpc, err := gpconnect.New(gpconnect.Config{
		Consumer: gpconnect.Consumer{ODS: "Y90001", ASID: "200000000359", Name: "Test Federation Hub",
			EndpointURL: "https://gpfed.invalid/", ProductName: "gpfed", ProductVersion: "test",
			Practitioner: gpconnect.Practitioner{ID: "T1", SDSUserID: "UNK", SDSRoleProfileID: "UNK",
				FamilyName: "Tester", GivenName: "Tess"}},
		RequestTimeout: 5 * time.Second, MaxAttempts: 3, BackoffBase: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond, MaxGlobal: o.MaxGlobal, Logger: o.Log, Resolve: directory.Resolver(),
		Observer: func(ci gpconnect.CallInfo) { metrics.ObserveGPConnectCall(ci.Interaction, ci.Status, ci.Duration) },
	})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redis)
	insp := asynq.NewInspector(redis)
	t.Cleanup(func() { client.Close(); insp.Close() })
	london, _ := time.LoadLocation("Europe/London")
	f := &Fed{DB: db, DBURL: dbURL, RedisURL: redisURL, Redis: redis, Sim: fed, SimURL: srv.URL, GPC: gpc,
		Client: client, Insp: insp, Log: o.Log, London: london}
	f.Sync = &jobs.Sync{DB: db, Client: client, Inspector: insp, Log: o.Log, Days: o.Days, Location: london,
		TaskTimeout: time.Minute, RunDeadline: time.Hour}
	// A small byte budget, so that every test sync runs through admission and overdraft.
	f.Fetch.Budget = flight.New(2 << 20)
	if directory != nil {
		// Capacity fetches resolve once per run (cached); booking calls per call (Resolve).
		f.Fetch.SDS = sds.NewCache(directory, time.Hour)
	}
	return f
}

// newSDS is a client of the simulator's SDS.
func newSDS(t testing.TB, fed *sim.Federation, log *slog.Logger) *sds.Client {
	t.Helper()
	sc, err := sds.New(sds.Config{BaseURL: fed.SDSBaseURL(), APIKey: "test-key", Timeout: 2 * time.Second,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// StartWorker runs an in-process asynq server on the capacity queue until
// the test ends (or the returned stop func is called).
func (f *Fed) StartWorker(t testing.TB, concurrency int) (stop func()) {
	t.Helper()
	fetch := f.Fetch
	var g service.Group
	if fetch.Saver == nil {
		// Snapshots are saved as a worker saves them: in groups.
		fetch.Saver = worker.NewSnapshotSaver(f.DB, f.Log)
		g.Start(context.Background(), "snapshot saver", fetch.Saver.Run)
	}
	mux := worker.NewMux(worker.Deps{DB: f.DB, Log: f.Log, Capacity: worker.CapacityDeps{GPC: f.GPC}, Fetch: fetch})
	stopServer := f.serve(t, mux, concurrency, 10*time.Second, queue.QueueCapacity)
	// The handlers first, then the saver they hand snapshots to (both stop once).
	stop = func() { stopServer(); g.Stop() }
	t.Cleanup(stop)
	return stop
}

// serve runs an in-process asynq server for mux on one queue until the test
// ends (or the returned stop func is called).
func (f *Fed) serve(t testing.TB, mux *asynq.ServeMux, concurrency int, shutdown time.Duration, q string) (stop func()) {
	t.Helper()
	srv := worker.NewServer(f.Redis, concurrency, shutdown, f.Log, map[string]int{q: 1})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	done := false
	stop = func() {
		if !done {
			done = true
			srv.Shutdown()
		}
	}
	t.Cleanup(stop)
	return stop
}

// WaitRun polls until the run completes or the deadline passes.
func (f *Fed) WaitRun(t testing.TB, id int64, within time.Duration) store.SyncRun {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := f.DB.GetSyncRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == "completed" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d not complete within %s: %+v", id, within, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ODS returns the simulated practices' codes in directory order.
func (f *Fed) ODS() []string {
	var out []string
	for _, p := range f.Sim.Practices() {
		out = append(out, p.ODS)
	}
	return out
}
