package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// EndpointRecord is what a fetch resolved for one interaction: an endpoint
// found through SDS or taken from the practice's override, or SDS's answer
// that the practice has none.
type EndpointRecord struct {
	Interaction string
	Status      string // found | not_enabled
	Source      string // sds | override
	Address     string
	ASID        string
	PartyKey    string
}

// Outcome statuses of a practice in a run, besides pending.
const (
	OutcomeOK         = "ok"
	OutcomeFailed     = "failed"
	OutcomeNotEnabled = "not_enabled"
	OutcomeSkipped    = "skipped"
)

// MarkPracticeFailed records a failed fetch. The practice keeps its previous
// snapshot, now marked stale since the first failure after its last success.
func (db *DB) MarkPracticeFailed(ctx context.Context, o FetchOutcome) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		if err := endLease(ctx, tx, o.ODSCode, o.LeaseToken); err != nil {
			return err
		}
		status := httpStatusOrNull(o.HTTPStatus)
		if err := recordOutcome(ctx, tx, o, OutcomeFailed); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, stale, stale_since,
				last_http_status, last_spine_code, last_error)
			VALUES ($1, $2, now(), true, now(), $3, $4, $5)
			ON CONFLICT (ods_code) DO UPDATE SET last_run_id = $2, last_attempt_at = now(), stale = true,
				stale_since = COALESCE(practice_sync_state.stale_since, now()),
				last_http_status = $3, last_spine_code = $4, last_error = $5`,
			o.ODSCode, o.RunID, status, o.SpineCode, o.Diagnostics)
		if err != nil {
			return fmt.Errorf("record stale state: %w", err)
		}
		return nil
	})
}

// MarkPracticeNotEnabled records that SDS lists no GP Connect endpoint for
// the interaction: its own outcome, not a failure of the run. A previous
// snapshot is kept (SDS may be wrong for a night) but marked stale.
func (db *DB) MarkPracticeNotEnabled(ctx context.Context, o FetchOutcome) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		if err := endLease(ctx, tx, o.ODSCode, o.LeaseToken); err != nil {
			return err
		}
		if err := recordOutcome(ctx, tx, o, OutcomeNotEnabled); err != nil {
			return err
		}
		if err := recordEndpoint(ctx, tx, o); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, stale, not_enabled_since,
				last_http_status, last_spine_code, last_error)
			VALUES ($1, $2, now(), false, now(), NULL, $3, $4)
			ON CONFLICT (ods_code) DO UPDATE SET last_run_id = $2, last_attempt_at = now(),
				not_enabled_since = COALESCE(practice_sync_state.not_enabled_since, now()),
				stale = practice_sync_state.last_success_at IS NOT NULL,
				stale_since = CASE WHEN practice_sync_state.last_success_at IS NOT NULL
					THEN COALESCE(practice_sync_state.stale_since, now()) END,
				last_http_status = NULL, last_spine_code = $3, last_error = $4`,
			o.ODSCode, o.RunID, o.SpineCode, o.Diagnostics)
		if err != nil {
			return fmt.Errorf("record not-enabled state: %w", err)
		}
		return nil
	})
}

// RecordSkipped records that run o.RunID did not fetch the practice because
// run byRun saved it after o.RunID started; that snapshot stands.
func (db *DB) RecordSkipped(ctx context.Context, o FetchOutcome, byRun int64) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		if err := endLease(ctx, tx, o.ODSCode, o.LeaseToken); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE sync_run_practices SET status = 'skipped', skipped_for_run = $3,
			diagnostics = $4, calls = 0, finished_at = now(), duration_ms = $5 WHERE run_id = $1 AND ods_code = $2`,
			o.RunID, o.ODSCode, byRun, o.Diagnostics, o.Duration.Milliseconds())
		if err != nil {
			return fmt.Errorf("record skipped: %w", err)
		}
		return nil
	})
}

func httpStatusOrNull(s int) any {
	if s > 0 {
		return s
	}
	return nil
}

// recordOutcome sets a practice's failed or not_enabled outcome in its run.
func recordOutcome(ctx context.Context, tx pgx.Tx, o FetchOutcome, status string) error {
	if _, err := tx.Exec(ctx, `UPDATE sync_run_practices SET status = $3, http_status = $4, spine_code = $5,
		diagnostics = $6, calls = $7, finished_at = now(), duration_ms = $8 WHERE run_id = $1 AND ods_code = $2`,
		o.RunID, o.ODSCode, status, httpStatusOrNull(o.HTTPStatus), o.SpineCode, o.Diagnostics, o.Calls,
		o.Duration.Milliseconds()); err != nil {
		return fmt.Errorf("record %s outcome: %w", status, err)
	}
	return nil
}

// recordEndpoint keeps what the fetch resolved, per interaction.
func recordEndpoint(ctx context.Context, tx pgx.Tx, o FetchOutcome) error {
	if s, ok := recordEndpointStmt(o); ok {
		return s.run(ctx, tx)
	}
	return nil
}

// recordEndpointStmt is recordEndpoint as a statement (false: nothing was
// resolved, nothing to record).
func recordEndpointStmt(o FetchOutcome) (stmt, bool) {
	e := o.Endpoint
	if e == nil {
		return stmt{}, false
	}
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return stmt{what: "record endpoint", sql: `
		INSERT INTO practice_endpoints (ods_code, interaction, status, source, address, asid, party_key, run_id, resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
		ON CONFLICT (ods_code, interaction) DO UPDATE SET status = EXCLUDED.status, source = EXCLUDED.source,
			address = EXCLUDED.address, asid = EXCLUDED.asid, party_key = EXCLUDED.party_key,
			run_id = EXCLUDED.run_id, resolved_at = now()`,
		args: []any{o.ODSCode, e.Interaction, e.Status, e.Source, nullable(e.Address), nullable(e.ASID), nullable(e.PartyKey), o.RunID}}, true
}
