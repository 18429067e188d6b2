package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gpfed/gpfed/internal/nhsnumber"
	"github.com/gpfed/gpfed/internal/testdb"
)

// stackOpts chooses the throwaway services and settings of a test stack.
type stackOpts struct {
	privatePostgres bool // a cluster of the test's own (to crash); else a database on the shared server
	practices       int
	env             []string
}

// testStack is a running stack with the handles a test needs.
type testStack struct {
	*Stack
	Redis    *Redis
	Postgres *Postgres // nil unless privatePostgres
	DB       *pgxpool.Pool
	API      *Client
}

func newTestStack(t *testing.T, o stackOpts) *testStack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts servers and child processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	ts := &testStack{}
	r, err := StartRedis(mkdir(t, dir, "redis"))
	if err != nil {
		t.Fatal(err)
	}
	ts.Redis = r
	t.Cleanup(r.Stop)
	dbURL := ts.database(t, o.privatePostgres)
	st, err := NewStack(ctx, StackConfig{Bin: gpfedBin, Dir: mkdir(t, dir, "logs"), DatabaseURL: dbURL,
		RedisURL: r.URL(), Practices: o.practices, Seed: 7, Env: o.env})
	if err != nil {
		t.Fatal(err)
	}
	ts.Stack = st
	t.Cleanup(func() {
		st.Close()
		if t.Failed() {
			keepLogs(t, st)
		}
	})
	if ts.DB, err = pgxpool.New(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.DB.Close)
	ts.API = NewClient(st.APIURL)
	return ts
}

// database returns the URL of a fresh database: on a private cluster the
// test may crash, or a migrated clone on the shared server.
func (ts *testStack) database(t *testing.T, private bool) string {
	t.Helper()
	if !private {
		_, url := testdb.New(t)
		return url
	}
	// Not under t.TempDir: the postgres user must be able to reach it.
	pgDir, err := os.MkdirTemp("", "gpfed-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pgDir) })
	pg, err := StartPostgres(pgDir)
	if err != nil {
		t.Fatal(err)
	}
	ts.Postgres = pg
	t.Cleanup(pg.Stop)
	url, err := CreateDatabase(context.Background(), pg.URL("postgres"), "gpfed")
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func mkdir(t *testing.T, parent, name string) string {
	p := filepath.Join(parent, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// keepLogs copies a failed test's logs somewhere that outlives TempDir and
// shows the end of each.
func keepLogs(t *testing.T, st *Stack) {
	dst := filepath.Join(os.TempDir(), "gpfed-e2e-logs", strings.ReplaceAll(t.Name(), "/", "_"))
	_ = os.MkdirAll(dst, 0o755)
	for _, p := range st.LogPaths() {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		_ = os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o644)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("--- last lines of %s (full log kept in %s)\n%s", filepath.Base(p), dst,
			strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
}

// nhsNumbers returns n distinct valid NHS numbers, always starting with
// 9658218873.
func nhsNumbers(n int) []string {
	out := []string{"9658218873"}
	seen := map[string]bool{out[0]: true}
	r := rand.New(rand.NewPCG(3, 11))
	for len(out) < n {
		first9 := fmt.Sprintf("9%08d", r.IntN(100_000_000))
		d, ok := nhsnumber.CheckDigit(first9)
		num := first9 + string(d)
		if !ok || seen[num] || !nhsnumber.Valid(num) {
			continue
		}
		seen[num] = true
		out = append(out, num)
	}
	return out
}

// stateCounts counts tasks by state.
func stateCounts(ctx context.Context, db *pgxpool.Pool) (map[string]int, error) {
	return countBy(ctx, db, `SELECT state, count(*) FROM tasks GROUP BY state`)
}

// countBy runs a "SELECT key, count(*) ... GROUP BY key" query into a map.
func countBy(ctx context.Context, db *pgxpool.Pool, q string) (map[string]int, error) {
	rows, err := db.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// logLines reads every line of every log file of the stack.
func logLines(t *testing.T, st *Stack) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range st.LogPaths() {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			out[filepath.Base(p)] = append(out[filepath.Base(p)], sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
