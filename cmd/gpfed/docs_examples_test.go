package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
)

// shellBlocks returns the ```sh code blocks of a Markdown file that call
// curl, in document order: the API examples a reader copies into a shell.
func shellBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			if strings.Contains(cur.String(), "curl ") {
				blocks = append(blocks, cur.String())
			}
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// docStatus is what the curl shim reports for each request.
var docStatus = regexp.MustCompile(`(?m)^gpfed-doc-test HTTP (\d{3}) (\S+)$`)

// The README's and docs/API.md's curl examples, run verbatim with bash, in
// document order, against a running `gpfed demo` on loopback (its own
// database, its own Redis): every block runs to the end and every request
// is answered 200, 202 or 409 (409 only where the docs say a request may
// lose a race: cancel after delivery, acknowledge before it).
func TestDocsCurlExamplesRunAgainstDemo(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("docs examples skipped: curl is not installed")
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("docs examples skipped: jq is not installed (apt-get install -y jq); the examples use it")
	}
	env, base := startDemo(t)
	shim := t.TempDir()
	script := "#!/bin/sh\nexec " + curl + " -w '%{stderr}gpfed-doc-test HTTP %{http_code} %{url_effective}\\n' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(shim, "curl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env = append(env, "PATH="+shim+":"+filepath.Dir(gpfedBin)+":"+os.Getenv("PATH"), "GPFED="+base,
		"HOME="+t.TempDir())
	for _, doc := range []string{"../../README.md", "../../docs/API.md"} {
		t.Run(filepath.Base(doc), func(t *testing.T) {
			blocks := shellBlocks(t, doc)
			if len(blocks) < 2 {
				t.Fatalf("%s: %d curl blocks found; the extraction is broken", doc, len(blocks))
			}
			runDocBlocks(t, env, strings.Join(blocks, "\n"))
		})
	}
}

func runDocBlocks(t *testing.T, env []string, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Env = env
	cmd.Dir = t.TempDir() // files the examples write (an audit export) land there, not in the source tree
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("the examples stopped: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	calls := docStatus.FindAllStringSubmatch(errb.String(), -1)
	if want := strings.Count(script, "curl "); len(calls) < want {
		t.Errorf("%d requests made, want at least the %d curl commands", len(calls), want)
	}
	created, byCode := 0, map[string]int{}
	for _, c := range calls {
		byCode[c[1]]++
		code, _ := strconv.Atoi(c[1])
		switch code {
		case 200, 409:
		case 201, 202: // a booking made; a task (or a cancel) accepted
			created++
		default:
			t.Errorf("HTTP %d from %s", code, c[2])
		}
	}
	t.Logf("%d requests, by status %v", len(calls), byCode)
	if created == 0 {
		t.Errorf("no example created a task or a booking (no 201 or 202); requests:\n%s", errb.String())
	}
}

// startDemo runs `gpfed demo` on a free loopback port and waits until its
// first sync and sample tasks are done. It returns the environment that
// reaches the demo's database and Redis, and the base URL.
func startDemo(t *testing.T) ([]string, string) {
	t.Helper()
	dbURL := testdb.NewEmpty(t) // the demo migrates it; the slot's connections are all its own
	_, redisURL := testredis.DB(t)
	addr := "127.0.0.1:" + strconv.Itoa(closedPort(t))
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+redisURL, "GPFED_LOG_LEVEL=error",
		"GPFED_HTTP_ADDR="+addr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, gpfedBin, "demo")
	cmd.Env = append(append([]string{}, env...), "GPFED_DB_MAX_CONNS="+strconv.Itoa(testdb.PoolSize+testdb.SubprocessConns-2))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "running; press Ctrl-C to stop") {
				ready <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- fmt.Errorf("demo ended before it was ready: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("demo not ready within 3m:\n%s", errb.String())
	}
	// The examples' commands open their own small pools (gpfed practices token).
	return append(env, "GPFED_DB_MAX_CONNS=1"), "http://" + addr
}
