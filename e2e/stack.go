package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/testdb"
)

// StackConfig describes a gpfed deployment made of child processes.
type StackConfig struct {
	Bin         string // the gpfed binary
	Dir         string // logs and the practices CSV go here
	DatabaseURL string
	RedisURL    string
	Practices   int   // simulated member practices (default 8)
	Seed        int64 // federation seed
	// Env adds or overrides KEY=VALUE settings for every command (the
	// defaults are debug JSON logs and reconciliation every 2s).
	Env []string
	// WrapHooks, when set, wraps the simulated federation's handler (for
	// example to time webhook deliveries).
	WrapHooks func(http.Handler) http.Handler
	// SimLatency is added to every GP Connect answer of the simulated
	// practices (zero: none).
	SimLatency sim.LatencyDist
}

// Stack is a simulated federation plus gpfed processes sharing one
// database and one Redis.
type Stack struct {
	Cfg     StackConfig
	Fed     *sim.Federation
	APIURL  string
	Keys    map[string]string // ODS -> practice API key
	env     []string
	fedSrv  *http.Server
	procs   []*Proc
	apiAddr string
	opsAddr string // serve's /metrics and /readyz
}

// NewStack serves the simulated federation, imports its practices (which
// also migrates the database) and issues an API key per practice.
func NewStack(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if cfg.Practices <= 0 {
		cfg.Practices = 8
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	opsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Stack{Cfg: cfg, Keys: map[string]string{}, apiAddr: fmt.Sprintf("127.0.0.1:%d", port),
		opsAddr: fmt.Sprintf("127.0.0.1:%d", opsPort)}
	s.APIURL = "http://" + s.apiAddr
	s.env = s.buildEnv()
	if err := s.startFederation(); err != nil {
		return nil, err
	}
	if err := s.importPractices(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// buildEnv is every command's environment. The simulator's receivers are
// plain http on loopback, so the stack allows exactly that, explicitly;
// a fresh key seals the secrets gpfed generates; the per-key rate limit is
// off because tests and benchmarks submit far faster than a practice.
func (s *Stack) buildEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=Europe/London",
		"DATABASE_URL=" + s.Cfg.DatabaseURL, "REDIS_URL=" + s.Cfg.RedisURL, "GPFED_HTTP_ADDR=" + s.apiAddr,
		"GPFED_LOG_LEVEL=debug", "GPFED_LOG_FORMAT=json", "GPFED_RECONCILE_SCHEDULE=@every 2s",
		"GPFED_SHUTDOWN_TIMEOUT=5s", "GPFED_WEBHOOK_ALLOW_HTTP=true", "GPFED_WEBHOOK_ALLOW_NETS=127.0.0.0/8",
		"GPFED_SECRET_KEY=" + secret.NewKey(), "GPFED_RATE_LIMIT_PER_MINUTE=0",
		// Several stacks run at once against one stock PostgreSQL
		// (max_connections 100): each process stays within what a test
		// may open besides its own pool (testdb.SubprocessConns).
		"GPFED_DB_MAX_CONNS=" + strconv.Itoa(testdb.SubprocessConns)}
	return append(env, s.Cfg.Env...)
}

func (s *Stack) startFederation() error {
	s.Fed = sim.New(sim.Config{Practices: s.Cfg.Practices, Seed: s.Cfg.Seed, Days: 14, Latency: s.Cfg.SimLatency})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the federation: %w", err)
	}
	s.Fed.SetBaseURL("http://" + ln.Addr().String())
	h := s.Fed.Handler()
	if s.Cfg.WrapHooks != nil {
		h = s.Cfg.WrapHooks(h)
	}
	s.fedSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.fedSrv.Serve(ln) }()
	return nil
}

func (s *Stack) importPractices(ctx context.Context) error {
	csvPath := filepath.Join(s.Cfg.Dir, "practices.csv")
	var b bytes.Buffer
	if err := s.Fed.WriteCSV(&b); err != nil {
		return err
	}
	if err := os.WriteFile(csvPath, b.Bytes(), 0o644); err != nil {
		return err
	}
	out, err := s.Run(ctx, "practices", "import", csvPath)
	if err != nil {
		return err
	}
	// gpfed generated each receiver's secret and showed it once.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "webhook" && f[1] == "secret" {
			s.Fed.SetWebhookSecret(f[2], f[3])
		}
	}
	for _, p := range s.Fed.Practices() {
		out, err := s.Run(ctx, "practices", "token", p.ODS)
		if err != nil {
			return err
		}
		s.Keys[p.ODS] = strings.TrimSpace(out)
	}
	return nil
}

// ODS lists the practices in federation order.
func (s *Stack) ODS() []string {
	var out []string
	for _, p := range s.Fed.Practices() {
		out = append(out, p.ODS)
	}
	return out
}

// Run runs a one-shot gpfed command and returns its stdout; its stderr
// (logs) is appended to Dir/cli.log.
func (s *Stack) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Cfg.Bin, args...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout = &out
	logf, err := os.OpenFile(filepath.Join(s.Cfg.Dir, "cli.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("gpfed %s: %w (see %s)", strings.Join(args, " "), err, logf.Name())
	}
	return out.String(), nil
}

// Start runs a long-lived gpfed command (serve, worker, scheduler) with its
// log in Dir/<name>.log; extraEnv overrides the stack's settings. serve
// gets the stack's operations address for /metrics and /readyz.
func (s *Stack) Start(name string, args []string, extraEnv ...string) (*Proc, error) {
	env := append([]string(nil), s.env...)
	if len(args) > 0 && args[0] == "serve" {
		env = append(env, "GPFED_METRICS_ADDR="+s.opsAddr)
	}
	env = append(env, extraEnv...)
	p := NewProc(name, s.Cfg.Bin, args, env, filepath.Join(s.Cfg.Dir, name+".log"))
	if err := p.Start(); err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

// StartAll starts serve, worker and scheduler and waits for the API to be
// ready.
func (s *Stack) StartAll(workerEnv ...string) (serve, worker, scheduler *Proc, err error) {
	if serve, err = s.Start("serve", []string{"serve"}); err != nil {
		return
	}
	if worker, err = s.Start("worker", []string{"worker"}, workerEnv...); err != nil {
		return
	}
	if scheduler, err = s.Start("scheduler", []string{"scheduler"}); err != nil {
		return
	}
	err = s.WaitReady(30 * time.Second)
	return
}

// WaitReady polls GET /readyz until it answers 200.
func (s *Stack) WaitReady(timeout time.Duration) error {
	return waitFor(timeout, func() error {
		for _, p := range s.procs {
			if ok, err := p.Running(); !ok && p.Name == "serve" {
				return fmt.Errorf("serve exited: %v (see %s)", err, p.LogPath)
			}
		}
		resp, err := http.Get(s.OpsURL() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// OpsURL is serve's operations listener (/metrics, /readyz), apart from
// the public API.
func (s *Stack) OpsURL() string { return "http://" + s.opsAddr }

// LogPaths lists every log file the stack's processes wrote.
func (s *Stack) LogPaths() []string {
	paths, _ := filepath.Glob(filepath.Join(s.Cfg.Dir, "*.log"))
	return paths
}

// Close stops every process (SIGTERM, then SIGKILL) and the federation.
func (s *Stack) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		_ = s.procs[i].Stop(syscall.SIGTERM, 10*time.Second)
	}
	if s.Fed != nil {
		s.Fed.Close()
	}
	if s.fedSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.fedSrv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			_ = s.fedSrv.Close()
		}
	}
}
