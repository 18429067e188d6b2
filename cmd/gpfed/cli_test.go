package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
)

var gpfedBin string

// testSecretKey seals webhook secrets in these tests.
var testSecretKey = secret.NewKey()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gpfed-cli")
	if err != nil {
		panic(err)
	}
	gpfedBin = filepath.Join(dir, "gpfed")
	if out, err := exec.Command("go", "build", "-o", gpfedBin, ".").CombinedOutput(); err != nil {
		panic("build gpfed: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the real binary with env and returns stdout, stderr and the exit code.
func cli(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gpfedBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

type cliEnv struct {
	env []string
	fed *sim.Federation
	csv string
	db  *store.DB
}

func setup(t *testing.T, practices int) cliEnv {
	t.Helper()
	db, dbURL := testdb.New(t)
	_, redisURL := testredis.DB(t)
	fed := sim.New(sim.Config{Practices: practices, Seed: 11})
	srv := httptest.NewServer(fed.Handler())
	t.Cleanup(func() { fed.Close(); srv.Close() })
	fed.SetBaseURL(srv.URL)
	csv := filepath.Join(t.TempDir(), "federation.csv")
	f, err := os.Create(csv)
	if err != nil {
		t.Fatal(err)
	}
	if err := fed.WriteCSV(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// One gpfed process at a time per test, inside the test's slot of the
	// connection budget (internal/testdb). The simulator's receivers are
	// plain http on loopback: the explicit development settings allow
	// them, and a test key seals the secrets.
	env := []string{"DATABASE_URL=" + dbURL, "REDIS_URL=" + redisURL, "GPFED_LOG_LEVEL=error",
		"GPFED_DB_MAX_CONNS=" + strconv.Itoa(testdb.SubprocessConns),
		"GPFED_GPC_TIMEOUT=2s", "GPFED_GPC_MAX_ATTEMPTS=2", "GPFED_WEBHOOK_ALLOW_HTTP=true",
		"GPFED_WEBHOOK_ALLOW_NETS=127.0.0.0/8", "GPFED_SECRET_KEY=" + testSecretKey}
	return cliEnv{env: env, fed: fed, csv: csv, db: db}
}

func TestCLIImportReportsEveryBadLineAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	content := "ods_code,name,asid,endpoint\n" +
		"A20047,Legg,918999198993,https://p.example/A20047/STU3/1/gpconnect\n" +
		"B81016,Two,12345,ftp://p.example/B81016/STU3/1/gpconnect\n" +
		"A20047,Dup,918999198993,https://p.example/x\n"
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cli(t, e.env, "practices", "import", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", code, stderr)
	}
	for _, want := range []string{"line 3: asid", "line 3: endpoint", "line 4: ods_code", "nothing imported"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	out, _, code := cli(t, e.env, "practices", "list", "--all")
	if code != 0 || strings.Contains(out, "A20047") {
		t.Errorf("a bad file imported something (exit %d):\n%s", code, out)
	}
}

func TestCLISyncOnceExitCodesAndCapacity(t *testing.T) {
	t.Parallel()
	e := setup(t, 4)
	if out, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import exit %d: %s %s", code, out, stderr)
	}
	out, stderr, code := cli(t, e.env, "sync", "--once", "--days", "7")
	if code != 0 {
		t.Fatalf("healthy sync exit %d:\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "4 ok, 0 failed") {
		t.Errorf("summary missing:\n%s", out)
	}
	ods := e.fed.Practices()[1].ODS
	e.fed.SetFault(ods, sim.Fault{Status: 403})
	out, _, code = cli(t, e.env, "sync", "--once", "--days", "7")
	if code != 1 || !strings.Contains(out, ods) || !strings.Contains(out, "ACCESS_DENIED") {
		t.Errorf("failing sync: exit %d, want 1 with %s ACCESS_DENIED listed:\n%s", code, ods, out)
	}
	out, _, code = cli(t, e.env, "sync", "--once", "--practice", e.fed.Practices()[0].ODS, "--days", "3")
	if code != 0 || !strings.Contains(out, "1 practices, 1 ok") {
		t.Errorf("single-practice sync: exit %d:\n%s", code, out)
	}
	out, _, code = cli(t, e.env, "capacity", "--format", "json", "--practice", e.fed.Practices()[0].ODS)
	if code != 0 || !strings.Contains(out, `"free_minutes"`) || !strings.Contains(out, `"by_role"`) {
		t.Errorf("capacity json: exit %d:\n%s", code, out)
	}
	out, _, code = cli(t, e.env, "capacity", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "ods_code,practice_name,date,free_slots,free_minutes,by_delivery_channel.") || !strings.Contains(out, "R0260=") {
		t.Errorf("capacity csv: exit %d:\n%s", code, out)
	}
}

func TestCLIUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		env  []string
		args []string
	}{
		"no command":     {nil, nil},
		"unknown":        {nil, []string{"frobnicate"}},
		"sync no once":   {nil, []string{"sync"}},
		"sync bad days":  {nil, []string{"sync", "--once", "--days", "0"}},
		"bad config":     {[]string{"GPFED_CONSUMER_ASID=abc"}, []string{"practices", "list"}},
		"capacity range": {nil, []string{"capacity", "--from", "2026-12-01", "--to", "2026-11-01"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, stderr, code := cli(t, tc.env, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr)
			}
		})
	}
}

// A worker stopped by SIGTERM exits 0, and every line it wrote, the
// shutdown lines included, is a JSON log record.
func TestCLISignalShutdownLogsJSON(t *testing.T) {
	e := setup(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gpfedBin, "worker")
	cmd.Env = append(os.Environ(), e.env...)
	cmd.Env = append(cmd.Env, "GPFED_LOG_LEVEL=info", "GPFED_LOG_FORMAT=json")
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(errb.String(), `"worker started"`) {
		if ctx.Err() != nil {
			t.Fatalf("worker did not start: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker after SIGTERM: %v\n%s", err, errb.String())
	}
	var sawShutdown bool
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		if strings.HasPrefix(fmt.Sprint(rec["msg"]), "shutting down") && rec["signal"] == "terminated" {
			sawShutdown = true
		}
	}
	if !sawShutdown {
		t.Fatalf("no JSON shutting-down record with the signal in:\n%s", errb.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
