package testdb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/testdb"
)

// However many tests ask for a database at once, at most Slots() hold one,
// and each holds exactly PoolSize server connections from its start: the
// two facts the suite's fit in max_connections 100 rests on.
func TestBudgetBoundsHoldersAndConnections(t *testing.T) {
	t.Setenv(testdb.EnvSlots, "1") // go test runs GOMAXPROCS (here >= 2) parallel tests
	var now, peak atomic.Int32
	var mu sync.Mutex
	var problems []string
	t.Run("group", func(t *testing.T) {
		for i := range 5 {
			t.Run(string(rune('a'+i)), func(t *testing.T) {
				t.Parallel()
				db, url := testdb.New(t)
				n := now.Add(1)
				defer now.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				name := url[strings.LastIndex(url, "/")+1:]
				if i := strings.Index(name, "?"); i >= 0 {
					name = name[:i]
				}
				var conns int
				err := db.Pool.QueryRow(context.Background(),
					`SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&conns)
				time.Sleep(200 * time.Millisecond) // overlap with the others
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					problems = append(problems, err.Error())
				} else if conns != testdb.PoolSize {
					problems = append(problems, fmt.Sprintf("%s: %d connections", name, conns))
				}
			})
		}
	})
	if p := peak.Load(); p != 1 {
		t.Errorf("peak concurrent holders %d, want 1 with %s=1", p, testdb.EnvSlots)
	}
	if len(problems) > 0 {
		t.Errorf("want %d open connections per test database: %v", testdb.PoolSize, problems)
	}
}
