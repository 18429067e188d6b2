// Package testredis hands each test its own logical Redis database on the
// real server, leased through a key in DB 0 so parallel test binaries never
// share one, and flushed before and after use.
package testredis

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvAddr names the variable holding the test Redis address.
const EnvAddr = "GPFED_TEST_REDIS_ADDR"

// Addr is the Redis address tests use.
func Addr() string {
	if a := os.Getenv(EnvAddr); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// DB leases a free logical database (1..15) for the test and returns its
// number and a redis:// URL for it. It waits for one to become free.
func DB(t testing.TB) (int, string) {
	t.Helper()
	ctx := context.Background()
	ctl := redis.NewClient(&redis.Options{Addr: Addr(), DB: 0})
	deadline := time.Now().Add(2 * time.Minute)
	token := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	for {
		for n := 1; n <= 15; n++ {
			key := fmt.Sprintf("gpfed:testredis:lease:%d", n)
			ok, err := ctl.SetNX(ctx, key, token, 10*time.Minute).Result()
			if err != nil {
				ctl.Close()
				t.Fatalf("testredis: lease: %v (is Redis running at %s?)", err, Addr())
			}
			if !ok {
				continue
			}
			c := redis.NewClient(&redis.Options{Addr: Addr(), DB: n})
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("testredis: flush db %d: %v", n, err)
			}
			c.Close()
			t.Cleanup(func() {
				c := redis.NewClient(&redis.Options{Addr: Addr(), DB: n})
				_ = c.FlushDB(context.Background()).Err()
				c.Close()
				if v, _ := ctl.Get(context.Background(), key).Result(); v == token {
					ctl.Del(context.Background(), key)
				}
				ctl.Close()
			})
			return n, fmt.Sprintf("redis://%s/%d", Addr(), n)
		}
		if time.Now().After(deadline) {
			ctl.Close()
			t.Fatalf("testredis: no free Redis database within 2m")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
