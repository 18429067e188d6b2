package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
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

// bookingStatus is what the curl shim reports for each request.
var bookingStatus = regexp.MustCompile(`(?m)^booking-doc-test HTTP (\d{3}) (\S+)$`)

// TestBookingDocsRunAgainstDemo runs the booking curl examples of the
// README and docs/API.md verbatim with bash against a running `gpfed demo`
// (its own database and Redis): every block runs to the end, every request
// is answered 200, 201 or 202, and a booking is made and cancelled.
func TestBookingDocsRunAgainstDemo(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed; the examples use it")
	}
	env, base := startBookingDemo(t)
	shim := t.TempDir()
	script := "#!/bin/sh\nexec " + curl + " -w '%{stderr}booking-doc-test HTTP %{http_code} %{url_effective}\\n' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(shim, "curl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env = append(env, "PATH="+shim+":"+filepath.Dir(gpfedBin)+":"+os.Getenv("PATH"), "GPFED="+base, "HOME="+t.TempDir())
	for _, doc := range []string{"../../README.md", "../../docs/API.md"} {
		blocks := bookingBlocks(t, doc)
		if len(blocks) < 1 {
			t.Fatalf("%s: no booking examples found", doc)
		}
		// The API.md blocks share one shell (KEY, then SLOT and BOOKING carry over).
		prelude := "KEY=$(gpfed practices token A20047)\n"
		t.Run(filepath.Base(doc), func(t *testing.T) { runBookingBlocks(t, env, prelude+strings.Join(blocks, "\n")) })
	}
}

// bookingBlocks returns the ```sh blocks of a Markdown file that call the
// slot or booking API.
func bookingBlocks(t *testing.T, path string) []string {
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
			if s := cur.String(); strings.Contains(s, "curl ") && (strings.Contains(s, "/v1/bookings") || strings.Contains(s, "/v1/slots")) {
				blocks = append(blocks, s)
			}
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

func runBookingBlocks(t *testing.T, env []string, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Env = env
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("the examples stopped: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	calls := bookingStatus.FindAllStringSubmatch(errb.String(), -1)
	if want := strings.Count(script, "curl "); len(calls) < want {
		t.Errorf("%d requests made, want at least the %d curl commands", len(calls), want)
	}
	byCode := map[int]int{}
	for _, c := range calls {
		code, _ := strconv.Atoi(c[1])
		byCode[code]++
		if code != 200 && code != 201 && code != 202 {
			t.Errorf("HTTP %d from %s", code, c[2])
		}
	}
	t.Logf("%d requests, by status %v", len(calls), byCode)
	if byCode[201] == 0 || byCode[202] == 0 {
		t.Errorf("the examples neither booked (201) nor cancelled (202): %v\n%s", byCode, out.String())
	}
}

// startBookingDemo runs `gpfed demo` on a free loopback port until it is
// ready and returns the environment reaching its database and Redis, and
// its base URL.
func startBookingDemo(t *testing.T) ([]string, string) {
	t.Helper()
	_, dbURL := testdb.New(t)
	_, redisURL := testredis.DB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+redisURL, "GPFED_LOG_LEVEL=error", "GPFED_HTTP_ADDR="+addr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, gpfedBin, "demo")
	cmd.Env = append(append([]string{}, env...), "GPFED_DB_MAX_CONNS=6")
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
	return append(env, "GPFED_DB_MAX_CONNS=1"), "http://" + addr
}
