package testdb

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The connection budget keeps every test binary of a run (go test runs
// several packages at once, each with parallel tests) inside a stock
// PostgreSQL's max_connections of 100, shared with whatever else uses the
// server. A test holds one of Slots slots for its whole life; a slot is a
// session advisory lock on the process's admin connection, so a killed
// test binary frees its slots with its connection. Each slot stands for
// PoolSize + SubprocessConns connections, each test binary adds its one
// admin connection: 7 x 9 + one per binary stays well under 100.
const (
	// EnvSlots overrides the number of slots (a server with a larger
	// max_connections can run more tests at once).
	EnvSlots     = "GPFED_TEST_DB_SLOTS"
	defaultSlots = 7
	slotLockKey  = 730199 // advisory lock class of the slots
	slotWait     = 10 * time.Minute
)

var (
	adminMu   sync.Mutex // guards adminConn and held; pgx.Conn is not concurrent
	adminConn *pgx.Conn
	held      = map[int]bool{} // slots this binary holds (advisory locks stack per session)
	adminGen  int              // bumped when adminConn is replaced (its locks died with it)
)

// Slots is the number of tests that may hold a database at once across all
// test binaries sharing the server.
func Slots() int {
	if n, err := strconv.Atoi(os.Getenv(EnvSlots)); err == nil && n > 0 {
		return n
	}
	return defaultSlots
}

// takeSlot waits for a free slot and returns its release.
func takeSlot(ctx context.Context) (func(), error) {
	deadline := time.Now().Add(slotWait)
	for {
		slot, gen, err := tryTakeSlot(ctx)
		if err != nil {
			return nil, fmt.Errorf("connection budget: %w", err)
		}
		if slot >= 0 {
			return func() { releaseSlot(slot, gen) }, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connection budget: all %d slots busy for %s (%s)", Slots(), slotWait, EnvSlots)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tryTakeSlot(ctx context.Context) (int, int, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if err := ensureAdminLocked(ctx); err != nil {
		return -1, 0, err
	}
	for slot := range Slots() {
		if held[slot] {
			continue
		}
		var ok bool
		if err := adminConn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, slotLockKey, slot).Scan(&ok); err != nil {
			resetAdminLocked()
			return -1, 0, err
		}
		if ok {
			held[slot] = true
			return slot, adminGen, nil
		}
	}
	return -1, 0, nil
}

func releaseSlot(slot, gen int) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if gen != adminGen || adminConn == nil {
		return // the connection that held it is gone, and the lock with it
	}
	delete(held, slot)
	if _, err := adminConn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, $2)`, slotLockKey, slot); err != nil {
		resetAdminLocked()
	}
}

// adminExec runs one statement on the shared admin connection (CREATE and
// DROP DATABASE), so a test binary needs no further connections for them.
func adminExec(ctx context.Context, sql string) error {
	adminMu.Lock()
	defer adminMu.Unlock()
	if err := ensureAdminLocked(ctx); err != nil {
		return err
	}
	if _, err := adminConn.Exec(ctx, sql); err != nil {
		if adminConn.IsClosed() {
			resetAdminLocked()
		}
		return err
	}
	return nil
}

func ensureAdminLocked(ctx context.Context) error {
	if adminConn != nil && !adminConn.IsClosed() {
		return nil
	}
	c, err := connectAdmin(ctx)
	if err != nil {
		return fmt.Errorf("connect admin (%s): %w", EnvURL, err)
	}
	adminConn = c
	return nil
}

// resetAdminLocked drops a broken admin connection. Its advisory locks went
// with it, so the slots this binary holds are no longer reserved: forget
// them rather than unlock them twice.
func resetAdminLocked() {
	if adminConn != nil {
		_ = adminConn.Close(context.Background())
	}
	adminConn = nil
	adminGen++
	clear(held)
}
