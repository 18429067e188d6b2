package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
)

// composeService is what the test reads of one docker-compose.yml service.
type composeService struct {
	command     []string
	healthcheck []string
}

var (
	composeServiceLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*):\s*$`)
	composeKeyLine     = regexp.MustCompile(`^\s+(command|test):\s*(\[.*)$`)
)

// readCompose extracts each service's command and health check from
// docker-compose.yml. Both are written as flow sequences of quoted strings
// (valid JSON), possibly continued on following lines.
func readCompose(t *testing.T) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]composeService{}
	lines := strings.Split(string(b), "\n")
	current := ""
	for i := 0; i < len(lines); i++ {
		if m := composeServiceLine.FindStringSubmatch(lines[i]); m != nil {
			current = m[1]
			continue
		}
		m := composeKeyLine.FindStringSubmatch(lines[i])
		if m == nil || current == "" {
			continue
		}
		text := m[2]
		for !strings.HasSuffix(strings.TrimSpace(text), "]") && i+1 < len(lines) {
			i++
			text += " " + strings.TrimSpace(lines[i])
		}
		var seq []string
		if err := json.Unmarshal([]byte(text), &seq); err != nil {
			t.Fatalf("docker-compose.yml %s %s: %v", current, m[1], err)
		}
		s := services[current]
		if m[1] == "command" {
			s.command = seq
		} else {
			s.healthcheck = seq
		}
		services[current] = s
	}
	return services
}

// The demo federation docker-compose.yml promises (simulated practices
// imported, a first sync, an admin key printed, the API ready), checked
// without Docker: each service's command from the file runs, in the order
// its depends_on conditions impose, with this build of gpfed against the
// test's Postgres and Redis. The compose host names and paths are mapped to
// loopback and a temporary directory; the image itself is not built here
// (README, Containers, says what was checked with buildah).
func TestComposeDemoSequence(t *testing.T) {
	t.Parallel()
	svc := readCompose(t)
	for _, name := range []string{"migrate", "sim", "import", "first-sync", "admin-key", "api", "worker", "scheduler"} {
		if len(svc[name].command) == 0 {
			t.Fatalf("docker-compose.yml: service %s has no command", name)
		}
	}
	shared, simPort, apiPort, opsPort := t.TempDir(), strconv.Itoa(closedPort(t)), strconv.Itoa(closedPort(t)), strconv.Itoa(closedPort(t))
	mapArgs := strings.NewReplacer("0.0.0.0:8090", "127.0.0.1:"+simPort, "http://sim:8090", "http://127.0.0.1:"+simPort,
		"127.0.0.1:8090", "127.0.0.1:"+simPort, "127.0.0.1:8080", "127.0.0.1:"+apiPort, "127.0.0.1:9090", "127.0.0.1:"+opsPort,
		"/var/lib/gpfed", shared)
	args := func(name string, seq []string) []string {
		out := make([]string, 0, len(seq))
		for _, a := range seq {
			out = append(out, mapArgs.Replace(a))
		}
		if len(out) > 0 && out[0] == "CMD" { // a health check: ["CMD", "/usr/local/bin/gpfed", ...]
			out = out[2:]
		}
		return out
	}
	_, redisURL := testredis.DB(t)
	// The compose file's development settings, with loopback for its private networks.
	env := []string{"DATABASE_URL=" + testdb.NewEmpty(t), "REDIS_URL=" + redisURL, "GPFED_LOG_LEVEL=warn",
		"GPFED_DB_MAX_CONNS=4", "GPFED_HTTP_ADDR=127.0.0.1:" + apiPort, "GPFED_METRICS_ADDR=127.0.0.1:" + opsPort,
		"GPFED_WEBHOOK_ALLOW_HTTP=true", "GPFED_WEBHOOK_ALLOW_NETS=127.0.0.0/8", "GPFED_SECRET_KEY=" + testSecretKey,
		// The practices are imported by ODS code and resolved through the simulator's SDS.
		"GPFED_SDS_URL=" + mapArgs.Replace("http://sim:8090/spine-directory/FHIR/R4"), "GPFED_SDS_API_KEY=local-simulator"}

	mustRun := func(name string) string {
		t.Helper()
		out, stderr, code := cli(t, env, args(name, svc[name].command)...)
		if code != 0 {
			t.Fatalf("%s (%v): exit %d\n%s\n%s", name, svc[name].command, code, out, stderr)
		}
		return out
	}
	mustRun("migrate")
	background(t, env, args("sim", svc["sim"].command))
	waitHealthy(t, env, args("sim", svc["sim"].healthcheck))
	if out := mustRun("import"); !strings.Contains(out, "imported 12 practices") {
		t.Errorf("import: %s", out)
	}
	if out := mustRun("first-sync"); !strings.Contains(out, "12 ok, 0 failed") {
		t.Errorf("first sync: %s", out)
	}
	if out := mustRun("admin-key"); !regexp.MustCompile(`(?m)^gpfed_\S{20,}$`).MatchString(out) {
		t.Errorf("admin-key printed no key: %q", out)
	}
	background(t, env, args("api", svc["api"].command))
	waitHealthy(t, env, args("api", svc["api"].healthcheck))
}

// background runs a long-lived gpfed command until the test ends.
func background(t *testing.T, env, args []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, gpfedBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
}

// waitHealthy runs a health check command until it succeeds (30 s at most).
func waitHealthy(t *testing.T, env, check []string) {
	t.Helper()
	if len(check) == 0 {
		t.Fatal("no health check in docker-compose.yml")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, stderr, code := cli(t, env, check...)
		if code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health check %v never passed: %s %s", check, out, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
