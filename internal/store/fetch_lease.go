package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// FetchClaim is what a worker learns when it claims a practice for a run:
// the practice's status in the run and, when pending, whether it now holds
// the practice's fetch lease (one fetch per practice at a time, across runs
// and processes), with everything the fetch needs.
type FetchClaim struct {
	Status   string // pending, ok, failed, not_enabled or skipped
	Acquired bool   // this claim holds the lease; Token fences its save
	Token    string
	// HolderRun is the run whose live lease kept this claim out (0: none).
	HolderRun    int64
	RunStartedAt time.Time
	From, To     time.Time // the run's window, UK local dates [From, To)
	Name         string
	// ASID and Endpoint are the practice's override ("" = resolve via SDS).
	ASID, Endpoint string
	// The practice's last successful fetch, by any run.
	LastSuccessAt          *time.Time
	LastRunID              int64
	WindowFrom, WindowTo   time.Time
	PreviousSlots          int // size of the current snapshot
	PreviousNotEnabledFrom *time.Time
	// PreviousEndpoint is what the last fetch resolved for the interaction
	// (nil: never resolved), so that a change can be logged.
	PreviousEndpoint *EndpointRecord
}

// FreshFromOtherRun reports whether another run saved this practice, for at
// least this run's window, after this run started: fetching again would
// store the same thing, so the practice is reported as skipped instead.
func (c FetchClaim) FreshFromOtherRun(runID int64) bool {
	return c.LastSuccessAt != nil && c.LastRunID != 0 && c.LastRunID != runID &&
		!c.LastSuccessAt.Before(c.RunStartedAt) && c.WindowFrom.Equal(c.From) && !c.WindowTo.Before(c.To)
}

// ClaimFetch claims practice ods for run runID on behalf of instance (one
// worker process), for a fetch through interaction. When the practice is still pending and no other live
// lease exists, it takes the lease for ttl and counts an attempt, all in one
// statement. Nothing stays locked: the lease is a row that expires unless
// instance renews it (RenewFetchLeases), so no transaction or connection is
// held across the GP Connect call.
//
// The claim commits without waiting for its WAL flush (synchronous_commit
// off; BEGIN, the claim and COMMIT are one round trip). Other sessions see
// the lease as soon as it commits, so only a database crash can lose it, and
// a lost claim is harmless: the lease is gone (or back to the lapsed one it
// replaced) and nothing else was written, so the fetch's outcome, which
// must end the lease by its token (SaveSnapshot, MarkPracticeFailed and the
// rest), fails with ErrLeaseLost and writes nothing, the task is retried and
// claims afresh. That is what a lease lapsing mid-fetch already leads to.
// Any later commit that waits for the disk flushes the claim with it.
func (db *DB) ClaimFetch(ctx context.Context, runID int64, ods, interaction, instance string, ttl time.Duration) (FetchClaim, error) {
	c := FetchClaim{Token: uuid.NewString()}
	var holder *int64
	var lastRun *int64
	var wFrom, wTo *time.Time
	var prevStatus, prevSource, prevAddr, prevASID, prevKey *string
	err := db.pipelineTx(ctx, stmt{sql: `SET LOCAL synchronous_commit = off`}, stmt{sql: `
		WITH rp AS (
			SELECT p.status, r.from_date, r.to_date, r.started_at
			FROM sync_run_practices p JOIN sync_runs r ON r.id = p.run_id
			WHERE p.run_id = $1 AND p.ods_code = $2),
		lease AS (
			INSERT INTO practice_fetch_leases AS l (ods_code, run_id, instance, token, expires_at)
			SELECT $2, $1, $3, $4::uuid, now() + make_interval(secs => $5) FROM rp WHERE rp.status = 'pending'
			ON CONFLICT (ods_code) DO UPDATE SET run_id = EXCLUDED.run_id, instance = EXCLUDED.instance,
				token = EXCLUDED.token, expires_at = EXCLUDED.expires_at, acquired_at = now()
			WHERE l.expires_at < now()
			RETURNING l.token),
		attempt AS (
			UPDATE sync_run_practices SET attempts = attempts + 1, started_at = COALESCE(started_at, now())
			WHERE run_id = $1 AND ods_code = $2 AND EXISTS (SELECT 1 FROM lease))
		SELECT rp.status, rp.from_date, rp.to_date, rp.started_at, EXISTS (SELECT 1 FROM lease),
			(SELECT l.run_id FROM practice_fetch_leases l WHERE l.ods_code = $2 AND l.expires_at >= now()),
			pr.name, COALESCE(pr.asid, ''), COALESCE(pr.endpoint, ''),
			s.last_success_at, s.last_run_id, s.window_from, s.window_to, COALESCE(s.slot_count, 0), s.not_enabled_since,
			e.status, e.source, e.address, e.asid, e.party_key
		FROM rp JOIN practices pr ON pr.ods_code = $2 LEFT JOIN practice_sync_state s ON s.ods_code = $2
		LEFT JOIN practice_endpoints e ON e.ods_code = $2 AND e.interaction = $6`,
		args: []any{runID, ods, instance, c.Token, ttl.Seconds(), interaction},
		scan: func(row pgx.Row) error {
			return row.Scan(&c.Status, &c.From, &c.To, &c.RunStartedAt, &c.Acquired, &holder, &c.Name, &c.ASID, &c.Endpoint,
				&c.LastSuccessAt, &lastRun, &wFrom, &wTo, &c.PreviousSlots, &c.PreviousNotEnabledFrom,
				&prevStatus, &prevSource, &prevAddr, &prevASID, &prevKey)
		}})
	if err != nil {
		return c, translate(fmt.Errorf("claim %s for run %d: %w", ods, runID, err))
	}
	if holder != nil && !c.Acquired {
		c.HolderRun = *holder
	}
	if lastRun != nil {
		c.LastRunID = *lastRun
	}
	if wFrom != nil && wTo != nil {
		c.WindowFrom, c.WindowTo = *wFrom, *wTo
	}
	if prevStatus != nil {
		deref := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		c.PreviousEndpoint = &EndpointRecord{Interaction: interaction, Status: *prevStatus, Source: deref(prevSource),
			Address: deref(prevAddr), ASID: deref(prevASID), PartyKey: deref(prevKey)}
	}
	return c, nil
}

// RenewFetchLeases extends every lease instance holds, in one statement (a
// worker renews all its practices at once, every few seconds).
func (db *DB) RenewFetchLeases(ctx context.Context, instance string, ttl time.Duration) (int64, error) {
	// A lease row locked by someone else is being released (a snapshot
	// saved, a fetch given up) or taken over (it lapsed): it needs no renewal,
	// and waiting for it would deadlock with a group of snapshots releasing
	// several leases in one transaction.
	tag, err := db.Pool.Exec(ctx, `UPDATE practice_fetch_leases SET expires_at = now() + make_interval(secs => $2)
		WHERE ods_code IN (SELECT ods_code FROM practice_fetch_leases WHERE instance = $1 FOR UPDATE SKIP LOCKED)`,
		instance, ttl.Seconds())
	if err != nil {
		return 0, translate(fmt.Errorf("renew fetch leases: %w", err))
	}
	return tag.RowsAffected(), nil
}

// ReleaseFetchLease gives a lease up without an outcome (shutdown: the task
// goes back to the queue and the next attempt claims again).
func (db *DB) ReleaseFetchLease(ctx context.Context, ods, token string) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM practice_fetch_leases WHERE ods_code = $1 AND token = $2::uuid`, ods, token)
	return translate(err)
}

// ErrLeaseLost means a save found its fetch lease gone: it lapsed (the
// worker stalled past its TTL) and another fetch may have taken over, so
// this one must not write.
var ErrLeaseLost = fmt.Errorf("%w: the practice's fetch lease lapsed and may have been taken over", ErrConflict)

// endLease releases the lease identified by token in tx (nil token: the
// caller holds none, as in tests and tools) and locks the practice row
// against deletion for the rest of tx, the per-practice form of the foreign
// key the slots table no longer checks per row.
func endLease(ctx context.Context, tx pgx.Tx, ods, token string) error {
	return endLeaseStmt(ods, token).run(ctx, tx)
}

// endLeaseStmt is endLease as a statement, to pipeline with others.
func endLeaseStmt(ods, token string) stmt {
	var verdict error
	s := releaseLeaseStmt(ods, token, &verdict)
	release := s.scan
	s.scan = func(row pgx.Row) error {
		if err := release(row); err != nil {
			return err
		}
		return verdict
	}
	return s
}

// releaseLeaseStmt is endLease whose verdict on the practice (ErrNotFound,
// ErrLeaseLost or nil) goes to *verdict instead of failing its batch: a
// group of snapshots saved together goes on without the practices whose
// lease lapsed.
func releaseLeaseStmt(ods, token string, verdict *error) stmt {
	var tok any
	if token != "" {
		tok = token
	}
	return stmt{sql: `
		WITH released AS (DELETE FROM practice_fetch_leases WHERE ods_code = $1 AND token = $2::uuid RETURNING 1)
		SELECT $2::uuid IS NULL OR EXISTS (SELECT 1 FROM released),
			EXISTS (SELECT 1 FROM (SELECT 1 FROM practices WHERE ods_code = $1 FOR KEY SHARE) p)`,
		args: []any{ods, tok},
		scan: func(row pgx.Row) error {
			var held, exists bool
			if err := row.Scan(&held, &exists); err != nil {
				return fmt.Errorf("end fetch lease: %w", err)
			}
			switch {
			case !exists:
				*verdict = fmt.Errorf("practice %s: %w", ods, ErrNotFound)
			case !held:
				*verdict = ErrLeaseLost
			}
			return nil
		}}
}
