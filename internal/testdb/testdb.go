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
func New(t testing.TB) (*store.DB, string) {
	t.Helper()
	ctx := context.Background()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx) })
	if templateErr != nil {
		t.Fatalf("testdb: template: %v", templateErr)
	}
	name := "gpfed_t_" + randomSuffix()
	admin, err := connectAdmin(ctx)
	if err != nil {
		t.Fatalf("testdb: connect admin: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, templateName)); err != nil {
		t.Fatalf("testdb: create %s: %v", name, err)
	}
	dbURL := WithDatabase(AdminURL(), name)
	db, err := openRetrying(ctx, dbURL)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		db.Close()
		drop(name)
	})
	return db, dbURL
}

// poolSize bounds each test's pool: many tests run in parallel against one
// server whose max_connections is finite.
const poolSize = 8

// openRetrying opens the test database, waiting while the server is at its
// connection limit (parallel packages can briefly exhaust it).
func openRetrying(ctx context.Context, dbURL string) (*store.DB, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := store.Open(ctx, dbURL, poolSize)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "53300") {
			return db, err
		}
		time.Sleep(250 * time.Millisecond)
	}
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
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := pgx.Connect(ctx, AdminURL())
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "53300") {
			return c, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func drop(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := connectAdmin(ctx)
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
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
