package store

import (
	"context"
	"fmt"
	"time"
)

// capacityHistoryStmts keep the capacity this fetch left (copied from the
// capacity_daily rows just rebuilt) under its run, with the window it
// covered, so the planning view can show capacity as it stood at each
// sync. A repeated save for the same run replaces the entry.
func capacityHistoryStmts(o FetchOutcome, from, to time.Time) []stmt {
	f, t := from.Format(time.DateOnly), to.Format(time.DateOnly)
	return []stmt{{what: "record capacity history", sql: `
		INSERT INTO capacity_history_fetches (run_id, ods_code, window_from, window_to)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (ods_code, run_id) DO UPDATE SET window_from = $3, window_to = $4, recorded_at = now()`,
		args: []any{o.RunID, o.ODSCode, f, t}},
		{what: "replace capacity history", sql: `DELETE FROM capacity_history WHERE ods_code = $1 AND run_id = $2`,
			args: []any{o.ODSCode, o.RunID}},
		{what: "copy capacity history", sql: `
		INSERT INTO capacity_history (run_id, ods_code, local_date, free_slots, free_minutes)
		SELECT $1, ods_code, local_date, free_slots, free_minutes FROM capacity_daily
		WHERE ods_code = $2 AND local_date >= $3::date AND local_date < $4::date`, args: []any{o.RunID, o.ODSCode, f, t}}}
}

// PruneCapacityHistory deletes up to limit history entries (a practice's
// fetch in one run, with its days) recorded before cutoff, as the slot
// change history is pruned, and returns how many it deleted.
func (db *DB) PruneCapacityHistory(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	// An entry's days go with it (no foreign key does it: migration 0100).
	var n int
	err := db.Pool.QueryRow(ctx, `
		WITH gone AS (
			DELETE FROM capacity_history_fetches WHERE (ods_code, run_id) IN (
				SELECT ods_code, run_id FROM capacity_history_fetches WHERE recorded_at < $1
				ORDER BY recorded_at LIMIT $2)
			RETURNING ods_code, run_id),
		days AS (
			DELETE FROM capacity_history h USING gone WHERE h.ods_code = gone.ods_code AND h.run_id = gone.run_id)
		SELECT count(*) FROM gone`, cutoff, limit).Scan(&n)
	if err != nil {
		return 0, translate(fmt.Errorf("prune capacity history: %w", err))
	}
	return n, nil
}
