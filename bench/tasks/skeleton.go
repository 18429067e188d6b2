package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gpfed/gpfed/e2e"
	"github.com/gpfed/gpfed/internal/webhook"
)

// The skeleton is the floor under issue 3's architecture: the least any
// design that keeps its rules must do per task, with nothing of gpfed's
// own. It runs as one child process (this program, re-executed with
// skeletonEnv=1) and does, per task:
//
//   - POST /v1/tasks: decode the JSON body, INSERT the task in Postgres
//     (one statement, one commit: Postgres is the source of truth), enqueue
//     it in asynq with the task id as TaskID, answer 202 with the id;
//   - the asynq handler: read the task, POST it signed to the recipient's
//     webhook (the same signed-webhook sender and the same receivers as
//     gpfed), then UPDATE it to delivered (one commit).
//
// No authentication, validation, idempotency keys, audit trail, outbox,
// row lock across the POST, sender notification, metrics or logs: its
// throughput is what the simplest design that keeps those rules reaches on
// the same machine in the same run.
//
// With SKELETON_NO_DB=true it drops Postgres too (the task travels in the
// asynq payload, which gpfed must not do): what is left is the two HTTP
// exchanges and the one asynq task that issue 3 itself prescribes.
const skeletonEnv = "GPFED_BENCH_SKELETON"

// skeletonTask is a task as the skeleton stores and delivers it.
type skeletonTask struct {
	ID           string `json:"id"`
	RecipientODS string `json:"recipient_ods"`
	Subject      string `json:"subject"`
	Body         string `json:"body"`
}

const skeletonQueue = "bench_skeleton"

// skeletonMain serves the skeleton until it is killed.
func skeletonMain() error {
	ctx := context.Background()
	concurrency, _ := strconv.Atoi(os.Getenv("SKELETON_CONCURRENCY"))
	cfg, err := pgxpool.ParseConfig(os.Getenv("SKELETON_DATABASE_URL"))
	if err != nil {
		return err
	}
	cfg.MaxConns = 40 // gpfed serve and worker have 20 each
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	noDB := os.Getenv("SKELETON_NO_DB") == "true"
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS skeleton_tasks (
		id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
		recipient_ods text NOT NULL, subject text NOT NULL, body text NOT NULL,
		state text NOT NULL DEFAULT 'accepted')`); err != nil {
		return err
	}
	hooks, err := loadHooks()
	if err != nil {
		return err
	}
	redis := asynq.RedisClientOpt{Addr: os.Getenv("SKELETON_REDIS_ADDR")}
	client := asynq.NewClient(redis)
	defer client.Close()

	sender := &webhook.Sender{Client: webhook.NewClientFor(10*time.Second, webhook.Policy{AllowHTTP: true, AllowNets: webhook.Loopback})}
	srv := asynq.NewServer(redis, asynq.Config{Concurrency: concurrency, Queues: map[string]int{skeletonQueue: 1},
		LogLevel: asynq.ErrorLevel, Logger: quietLogger{}})
	mux := asynq.NewServeMux()
	mux.HandleFunc("skeleton:deliver", func(ctx context.Context, t *asynq.Task) error {
		var task skeletonTask
		if noDB {
			if err := json.Unmarshal(t.Payload(), &task); err != nil {
				return err
			}
		} else {
			task.ID = string(t.Payload())
			if err := db.QueryRow(ctx, `SELECT recipient_ods, subject, body FROM skeleton_tasks WHERE id = $1`, task.ID).
				Scan(&task.RecipientODS, &task.Subject, &task.Body); err != nil {
				return err
			}
		}
		id := task.ID
		hook, ok := hooks[task.RecipientODS]
		if !ok {
			return fmt.Errorf("no webhook for %s", task.RecipientODS)
		}
		body, err := json.Marshal(task)
		if err != nil {
			return err
		}
		if r := sender.Send(ctx, hook[0], []string{hook[1]}, "task", id, body); r.Outcome != webhook.Delivered {
			return r.Err
		}
		if noDB {
			return nil
		}
		_, err = db.Exec(ctx, `UPDATE skeleton_tasks SET state = 'delivered' WHERE id = $1`, id)
		return err
	})
	if err := srv.Start(mux); err != nil {
		return err
	}
	defer srv.Shutdown()

	http.HandleFunc("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		var in skeletonTask
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		payload := []byte(nil)
		if noDB {
			in.ID = rand.Text()
			payload, _ = json.Marshal(in)
		} else {
			if err := db.QueryRow(r.Context(), `INSERT INTO skeleton_tasks (recipient_ods, subject, body)
			VALUES ($1, $2, $3) RETURNING id::text`, in.RecipientODS, in.Subject, in.Body).Scan(&in.ID); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			payload = []byte(in.ID)
		}
		id := in.ID
		if _, err := client.EnqueueContext(r.Context(), asynq.NewTask("skeleton:deliver", payload),
			asynq.TaskID(id), asynq.Queue(skeletonQueue)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"id":%q,"state":"accepted"}`, id)
	})
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {})
	return http.ListenAndServe(os.Getenv("SKELETON_ADDR"), nil)
}

// hooksEnv carries each practice's webhook URL and secret to the skeleton
// (JSON: ODS -> [url, secret]). gpfed stores secrets sealed; the bench
// knows them in clear because gpfed showed them once at import.
const hooksEnv = "SKELETON_HOOKS"

func loadHooks() (map[string][2]string, error) {
	hooks := map[string][2]string{}
	if err := json.Unmarshal([]byte(os.Getenv(hooksEnv)), &hooks); err != nil {
		return nil, fmt.Errorf("%s: %w", hooksEnv, err)
	}
	return hooks, nil
}

// startSkeleton runs the skeleton as a child process on the benchmark's
// database and Redis and returns a client for it.
func (e *env) startSkeleton(p params, noDB bool) (*e2e.Client, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	port, err := e2e.FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	hooks := map[string][2]string{}
	for _, pr := range e.stack.Fed.Practices() {
		hooks[pr.ODS] = [2]string{pr.WebhookURL, pr.WebhookSecret}
	}
	hooksJSON, err := json.Marshal(hooks)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), skeletonEnv+"=1", "SKELETON_ADDR="+addr, hooksEnv+"="+string(hooksJSON),
		"SKELETON_DATABASE_URL="+e.stack.Cfg.DatabaseURL, "SKELETON_REDIS_ADDR="+e.redis.Addr(),
		"SKELETON_CONCURRENCY="+strconv.Itoa(p.concurrency), "SKELETON_NO_DB="+strconv.FormatBool(noDB))
	proc := e2e.NewProc("skeleton", self, nil, env, filepath.Join(e.dir, "skeleton.log"))
	if err := proc.Start(); err != nil {
		return nil, err
	}
	e.skeleton = proc
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return e2e.NewClient("http://" + addr), nil
		}
		if ok, perr := proc.Running(); !ok {
			return nil, fmt.Errorf("skeleton exited: %v (see %s)", perr, proc.LogPath)
		}
		if time.Now().After(deadline) {
			return nil, errors.New("skeleton did not start in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
