// Package testredis hands each test its own logical Redis database on a
// redis-server private to the test binary, so tests never touch anybody
// else's Redis data (a developer's, the demo's, another engineer's).
//
// The server is started on first use on a free loopback port, persists
// nothing, and dies with the test binary (the kernel kills it when the
// thread that started it exits; see start). Setting GPFED_TEST_REDIS_ADDR
// points the tests at a Redis given to them instead: its databases 1-15 are
// then leased through keys in database 0 and emptied before and after use,
// so only ever give a Redis that holds nothing else.
package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvAddr names the variable holding a Redis given to the tests (optional).
const EnvAddr = "GPFED_TEST_REDIS_ADDR"

// dbs is the number of logical databases leased per server (1..dbs).
const dbs = 15

var (
	serverOnce sync.Once
	serverAddr string
	serverErr  error

	mu     sync.Mutex
	leased [dbs + 1]bool // for the private server: which databases are in use
	freed  = sync.NewCond(&mu)
)

// Addr is the Redis address the tests use: GPFED_TEST_REDIS_ADDR when set,
// otherwise the private server (started on first use).
func Addr() string {
	if a := os.Getenv(EnvAddr); a != "" {
		return a
	}
	serverOnce.Do(func() { serverAddr, serverErr = start() })
	if serverErr != nil {
		panic(fmt.Sprintf("testredis: %v", serverErr))
	}
	return serverAddr
}

// DB leases a logical database (1..15) for the test and returns its number
// and a redis:// URL for it. It waits for one to become free and empties it
// before and after use.
func DB(t testing.TB) (int, string) {
	t.Helper()
	if os.Getenv(EnvAddr) == "" {
		serverOnce.Do(func() { serverAddr, serverErr = start() })
		if serverErr != nil {
			t.Fatalf("testredis: %v", serverErr)
		}
	}
	var n int
	var release func()
	if os.Getenv(EnvAddr) == "" {
		n, release = leaseLocal()
	} else {
		n, release = leaseShared(t)
	}
	addr := Addr()
	if err := flush(addr, n); err != nil {
		release()
		t.Fatalf("testredis: empty db %d at %s: %v", n, addr, err)
	}
	t.Cleanup(func() {
		_ = flush(addr, n)
		release()
	})
	return n, fmt.Sprintf("redis://%s/%d", addr, n)
}

// leaseLocal takes a free database of the private server, waiting on the
// condition variable when all are in use.
func leaseLocal() (int, func()) {
	mu.Lock()
	defer mu.Unlock()
	for {
		for n := 1; n <= dbs; n++ {
			if !leased[n] {
				leased[n] = true
				return n, func() {
					mu.Lock()
					leased[n] = false
					mu.Unlock()
					freed.Broadcast()
				}
			}
		}
		freed.Wait()
	}
}

// leaseShared takes a database of a given Redis through a SETNX key in
// database 0, so test binaries running side by side never share one.
func leaseShared(t testing.TB) (int, func()) {
	t.Helper()
	ctx := context.Background()
	ctl := redis.NewClient(&redis.Options{Addr: Addr(), DB: 0})
	deadline := time.Now().Add(2 * time.Minute)
	token := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	for {
		for n := 1; n <= dbs; n++ {
			key := fmt.Sprintf("gpfed:testredis:lease:%d", n)
			ok, err := ctl.SetNX(ctx, key, token, 10*time.Minute).Result()
			if err != nil {
				ctl.Close()
				t.Fatalf("testredis: lease: %v (is Redis running at %s, from %s?)", err, Addr(), EnvAddr)
			}
			if ok {
				return n, func() {
					if v, _ := ctl.Get(context.Background(), key).Result(); v == token {
						ctl.Del(context.Background(), key)
					}
					ctl.Close()
				}
			}
		}
		if time.Now().After(deadline) {
			ctl.Close()
			t.Fatalf("testredis: no free Redis database at %s within 2m", Addr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func flush(addr string, n int) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DB: n})
	defer c.Close()
	return c.FlushDB(context.Background()).Err()
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
