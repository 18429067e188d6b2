package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/e2e"
)

// env is the running benchmark deployment.
type env struct {
	dir      string
	redis    *e2e.Redis
	adminURL string
	dbName   string
	stack    *e2e.Stack
	api      *e2e.Client
	recv     *receipts
	keep     bool
	procs    []*e2e.Proc
	pg       *e2e.Postgres // private cluster, when asked for
	pgDir    string
	skeleton *e2e.Proc // the floor, while it runs
	// notedRate is the last gpfed closed loop's tasks/s to the last sender notified.
	notedRate float64
	// workerMetrics is the gpfed worker's /metrics address.
	workerMetrics string
}

func setUp(p params) (*env, error) {
	dir, err := os.MkdirTemp("", "gpfed-bench-tasks-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, recv: &receipts{at: map[string]time.Time{}, notes: map[string]bool{}, noted: map[string]time.Time{}}, keep: p.keep}
	if e.redis, err = e2e.StartRedis(dir); err != nil {
		e.close()
		return nil, err
	}
	e.adminURL = adminURL()
	if p.privatePG {
		pgDir, err := os.MkdirTemp("", "gpfed-bench-pg-")
		if err != nil {
			e.close()
			return nil, err
		}
		e.pgDir = pgDir
		if e.pg, err = e2e.StartPostgres(pgDir); err != nil {
			e.close()
			return nil, err
		}
		e.adminURL = e.pg.URL("postgres")
	}
	e.dbName = fmt.Sprintf("gpfed_bench_tasks_%d", os.Getpid())
	dbURL, err := e2e.CreateDatabase(context.Background(), e.adminURL, e.dbName)
	if err != nil {
		e.close()
		return nil, err
	}
	e.stack, err = e2e.NewStack(context.Background(), e2e.StackConfig{Bin: p.bin, Dir: dir, DatabaseURL: dbURL,
		RedisURL: e.redis.URL(), Practices: p.practices, Seed: 1, WrapHooks: e.recv.wrap,
		Env: benchEnv(p)})
	if err != nil {
		e.close()
		return nil, err
	}
	e.api = e2e.NewClient(e.stack.APIURL)
	if p.dbSQL != "" {
		if err := execSQL(dbURL, p.dbSQL); err != nil {
			e.close()
			return nil, fmt.Errorf("-db-sql: %w", err)
		}
	}
	return e, nil
}

// execSQL runs sql (one or more statements) on the database at url.
func execSQL(url, sql string) error {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

// adminURL is a connection to the server's maintenance database.
func adminURL() string {
	if u := os.Getenv("GPFED_TEST_DATABASE_URL"); u != "" {
		return u
	}
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	if err != nil || u.Host == "" {
		return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u.Path = "/postgres"
	return u.String()
}

// flushAndStart empties Redis after the raw run and starts serve and worker.
func (e *env) flushAndStart(ctx context.Context, p params) error {
	if err := e.redis.FlushAll(ctx); err != nil {
		return err
	}
	port, err := e2e.FreePort()
	if err != nil {
		return err
	}
	e.workerMetrics = fmt.Sprintf("127.0.0.1:%d", port)
	for _, name := range []string{"serve", "worker"} {
		var extra []string
		if name == "worker" {
			extra = append(extra, "GPFED_METRICS_ADDR="+e.workerMetrics)
		}
		p, err := e.stack.Start(name, []string{name}, extra...)
		if err != nil {
			return err
		}
		e.procs = append(e.procs, p)
	}
	return e.stack.WaitReady(30 * time.Second)
}

func (e *env) close() {
	if e.stack != nil {
		e.stack.Close()
	}
	if e.dbName != "" {
		if err := e2e.DropDatabase(context.Background(), e.adminURL, e.dbName); err != nil {
			fmt.Fprintln(os.Stderr, "drop bench database:", err)
		}
	}
	if e.redis != nil {
		e.redis.Stop()
	}
	if e.pg != nil {
		e.pg.Stop()
		os.RemoveAll(e.pgDir)
	}
	if e.keep {
		fmt.Println("logs kept in", e.dir)
		return
	}
	os.RemoveAll(e.dir)
}

// receipts records when each task's webhook was first answered 2xx and
// when its sender's first notification about it was, and counts
// duplicates: a task or notification answered 2xx more than once.
type receipts struct {
	mu            sync.Mutex
	at            map[string]time.Time
	notes         map[string]bool
	noted         map[string]time.Time // task id -> its first notification's 2xx
	notifications int
	posts         int
	duplicates    int
}

func (r *receipts) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasPrefix(req.URL.Path, "/hooks/") {
			next.ServeHTTP(w, req)
			return
		}
		task := req.Header.Get("Gpfed-Event") == "task"
		var body []byte
		if !task { // keep the body: the notification names its task
			body, _ = io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, req)
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts++
		if sw.status/100 != 2 {
			return
		}
		key := req.Header.Get("Idempotency-Key")
		if !task {
			r.notifications++
			if r.notes[key] {
				r.duplicates++
			}
			r.notes[key] = true
			var n struct {
				TaskID string `json:"task_id"`
			}
			if json.Unmarshal(body, &n) == nil && n.TaskID != "" {
				if _, ok := r.noted[n.TaskID]; !ok {
					r.noted[n.TaskID] = now
				}
			}
			return
		}
		if _, ok := r.at[key]; !ok {
			r.at[key] = now
		} else {
			r.duplicates++
		}
	})
}

// wait blocks until every id has a receipt or timeout passes, and returns
// the receipt times found. It polls cheaply (only the ids still missing,
// every 20ms) because it runs while gpfed is still delivering; the times
// themselves are taken by the receiver, so polling adds no latency.
func (r *receipts) wait(ids []string, timeout time.Duration) (map[string]time.Time, error) {
	return r.waitFor(r.at, ids, timeout, "tasks received")
}

// waitNoted is wait for the senders' notifications about the tasks ids.
func (r *receipts) waitNoted(ids []string, timeout time.Duration) (map[string]time.Time, error) {
	return r.waitFor(r.noted, ids, timeout, "senders notified")
}

func (r *receipts) waitFor(times map[string]time.Time, ids []string, timeout time.Duration, what string) (map[string]time.Time, error) {
	deadline := time.Now().Add(timeout)
	got := make(map[string]time.Time, len(ids))
	missing := ids
	for {
		r.mu.Lock()
		still := missing[:0:0]
		for _, id := range missing {
			if t, ok := times[id]; ok {
				got[id] = t
			} else {
				still = append(still, id)
			}
		}
		r.mu.Unlock()
		missing = still
		if len(missing) == 0 {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%d of %d %s after %s", len(got), len(ids), what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// benchEnv is the environment of the gpfed processes under test;
// GPFED_CPUPROFILE passes through so that serve and worker can be profiled.
func benchEnv(p params) []string {
	env := []string{"GPFED_LOG_LEVEL=" + p.logLevel, fmt.Sprintf("GPFED_WORKER_CONCURRENCY=%d", p.concurrency)}
	if path := os.Getenv("GPFED_CPUPROFILE"); path != "" {
		env = append(env, "GPFED_CPUPROFILE="+path)
	}
	return append(env, p.extraEnv...)
}
