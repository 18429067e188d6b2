package testdb

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SnapshotDump renders every stored slot (what sync runs produced, without
// the first-seen bookkeeping) and the capacity aggregates, one sorted line
// each, so that two states of a database can be compared.
func SnapshotDump(t testing.TB, db *pgxpool.Pool) []string {
	t.Helper()
	return Strings(t, db, `
		SELECT concat_ws('|', ods_code, slot_id, start_at, end_at, local_date, duration_minutes, location_id, site_name,
			schedule_id, session_name, practitioner_id, role_code, role_display, delivery_channel, slot_type) FROM slots
		UNION ALL SELECT concat_ws('|', 'cap', ods_code, local_date, free_slots, free_minutes, by_role, by_delivery_channel)
			FROM capacity_daily
		ORDER BY 1`)
}

// Strings runs a query of one text column and returns its rows in order.
func Strings(t testing.TB, db *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("testdb: %s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("testdb: %s: %v", sql, err)
	}
	return out
}
