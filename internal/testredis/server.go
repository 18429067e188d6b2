package testredis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// start runs a private redis-server for this test binary and returns its
// address once it answers PING. It persists nothing and binds loopback only.
//
// The server must not outlive the binary, which may end in os.Exit or a
// panic with no cleanup run: the process is started from a goroutine locked
// to its OS thread with a parent-death signal, and that goroutine then waits
// on it for ever, so the thread (and with it the server) lives exactly as
// long as the test binary.
func start() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server is not installed (apt-get install redis-server), or set %s to a Redis the tests may empty: %w", EnvAddr, err)
	}
	port, err := freePort()
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	dir, err := os.MkdirTemp("", "gpfed-testredis-")
	if err != nil {
		return "", err
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning", "--databases", strconv.Itoa(dbs + 1),
		"--logfile", filepath.Join(dir, "redis.log")}
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the server
		cmd := exec.Command(bin, args...)
		setParentDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
		_ = os.RemoveAll(dir)
	}()
	if err := <-started; err != nil {
		return "", fmt.Errorf("start redis-server: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitReady(addr, exited); err != nil {
		return "", fmt.Errorf("redis-server on %s (log %s): %w", addr, filepath.Join(dir, "redis.log"), err)
	}
	return addr, nil
}

func waitReady(addr string, exited <-chan error) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return errors.Join(errors.New("exited before answering"), err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within 10s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
