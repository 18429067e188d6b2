package testredis_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gpfed/gpfed/internal/testredis"
)

// Without GPFED_TEST_REDIS_ADDR the tests run on a private server, never on
// the well-known port that a developer's or the demo's Redis uses, and two
// leases are two databases that do not see each other's keys.
func TestPrivateServerAndIsolatedDatabases(t *testing.T) {
	if os.Getenv(testredis.EnvAddr) != "" {
		t.Skipf("%s is set: the tests use the Redis it names", testredis.EnvAddr)
	}
	if addr := testredis.Addr(); addr == "127.0.0.1:6379" || addr == "localhost:6379" {
		t.Fatalf("tests use the shared Redis at %s", addr)
	}
	n1, _ := testredis.DB(t)
	n2, url2 := testredis.DB(t)
	if n1 == n2 {
		t.Fatalf("two leases got database %d", n1)
	}
	ctx := context.Background()
	c1 := redis.NewClient(&redis.Options{Addr: testredis.Addr(), DB: n1})
	defer c1.Close()
	opt, err := redis.ParseURL(url2)
	if err != nil {
		t.Fatal(err)
	}
	c2 := redis.NewClient(opt)
	defer c2.Close()
	if err := c1.Set(ctx, "k", "one", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c2.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("database %d sees database %d's key: %d %v", n2, n1, n, err)
	}
}

// A released database comes back empty to the next test.
func TestReleasedDatabaseIsEmptied(t *testing.T) {
	var n int
	t.Run("writer", func(t *testing.T) {
		var url string
		n, url = testredis.DB(t)
		opt, _ := redis.ParseURL(url)
		c := redis.NewClient(opt)
		defer c.Close()
		if err := c.Set(context.Background(), "left", "behind", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	c := redis.NewClient(&redis.Options{Addr: testredis.Addr(), DB: n})
	defer c.Close()
	if size, err := c.DBSize(context.Background()).Result(); err != nil || size != 0 {
		t.Fatalf("database %d after release: %d keys, %v", n, size, err)
	}
}
