// Package testdb gives each test its own Postgres database, cloned from a
// template that is migrated once per migration set, so tests run in parallel
// against the real server without seeing each other's rows.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/migrations"
)

// EnvURL names the variable holding an admin connection URL for tests.
const EnvURL = "GPFED_TEST_DATABASE_URL"

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// AdminURL is the connection URL tests use to create and drop databases.
func AdminURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return defaultURL
}

// New creates a fresh migrated database for t and returns an open store and
// its URL. The database is dropped when the test ends.
//
// The test first takes a slot of the connection budget (see budget.go),
// waiting while every slot is in use, and its pool opens all its
// connections at once, so a test that started never meets "too many
// clients" half way through.
func New(t testing.TB) (*store.DB, string) {
	t.Helper()
	ctx := context.Background()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx) })
	if templateErr != nil {
		t.Fatalf("testdb: template: %v", templateErr)
	}
	release, err := takeSlot(ctx)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	name := "gpfed_t_" + randomSuffix()
	if err := adminExec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, templateName)); err != nil {
		release()
		t.Fatalf("testdb: create %s: %v", name, err)
	}
	dbURL := WithDatabase(AdminURL(), name)
	db, err := openWarm(ctx, dbURL)
	if err != nil {
		_ = adminExec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
		release()
		t.Fatalf("testdb: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		db.Close()
		drop(name)
		release()
	})
	return db, dbURL
}

// PoolSize is the size of each test's pool, and SubprocessConns what a test
// may open besides it (a gpfed child process run with
// GPFED_DB_MAX_CONNS=SubprocessConns): together one slot of the budget.
const (
	PoolSize        = 5
	SubprocessConns = 4
)

// openWarm opens the test database and establishes all PoolSize
// connections up front, waiting while the server is at its connection
// limit (someone else's tests may briefly fill it).
func openWarm(ctx context.Context, dbURL string) (*store.DB, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		db, err := store.Open(ctx, dbURL, PoolSize)
		if err == nil {
			if err = warm(ctx, db); err == nil {
				return db, nil
			}
			db.Close()
		}
		if time.Now().After(deadline) || !tooManyClients(err) {
			return nil, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// warm acquires every connection of the pool at once and gives them back:
// they stay open and idle for the test.
func warm(ctx context.Context, db *store.DB) error {
	conns := make([]*pgxpool.Conn, 0, PoolSize)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range PoolSize {
		c, err := db.Pool.Acquire(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	return nil
}

func tooManyClients(err error) bool {
	return err != nil && strings.Contains(err.Error(), "53300")
}

// WithDatabase returns base with its database path replaced by name.
func WithDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + name
	return u.String()
}

func connectAdmin(ctx context.Context) (*pgx.Conn, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := pgx.Connect(ctx, AdminURL())
		if err == nil || time.Now().After(deadline) || !tooManyClients(err) {
			return c, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func drop(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = adminExec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
}

// ensureTemplate builds (once per migration set, across processes) a
// migrated template database and returns its name.
func ensureTemplate(ctx context.Context) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "gpfed_tmpl_" + sum[:12]
	admin, err := connectAdmin(ctx)
	if err != nil {
		return "", fmt.Errorf("connect admin (%s): %w", EnvURL, err)
	}
	defer admin.Close(ctx)
	// Serialise template builds between concurrently running test binaries.
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(7301994212)`); err != nil {
		return "", err
	}
	defer func() { _, _ = admin.Exec(ctx, `SELECT pg_advisory_unlock(7301994212)`) }()
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	build := name + "_build"
	_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, build))
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, build)); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	db, err := store.Open(ctx, WithDatabase(AdminURL(), build), 2)
	if err != nil {
		return "", err
	}
	_, err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, build, name)); err != nil {
		return "", fmt.Errorf("rename template: %w", err)
	}
	return name, nil
}

func migrationsHash() (string, error) {
	names, err := store.MigrationNames()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			return "", err
		}
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewEmpty creates an empty database (no schema) for t and returns its URL,
// for tests of the migrations themselves. It holds a budget slot and is
// dropped when the test ends.
func NewEmpty(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	release, err := takeSlot(ctx)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	name := "gpfed_t_" + randomSuffix()
	if err := adminExec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		release()
		t.Fatalf("testdb: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		drop(name)
		release()
	})
	return WithDatabase(AdminURL(), name)
}
