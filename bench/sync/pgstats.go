package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgActivity is the server-wide write activity around one sync: checkpoints, WAL and
// full-page images, buffers written by backends, and what autovacuum did to slots. On the
// shared server it includes other users' work; on -private-postgres it is the sync's alone.
type pgActivity struct {
	ckptTimed, ckptReq, bufCheckpoint, bufClean, bufBackend int64
	walBytes, walFPI, walRecords                            int64
}

func readActivity(ctx context.Context, conn *pgx.Conn) (pgActivity, error) {
	var a pgActivity
	err := conn.QueryRow(ctx, `SELECT b.checkpoints_timed, b.checkpoints_req, b.buffers_checkpoint, b.buffers_clean,
		b.buffers_backend, w.wal_bytes::bigint, w.wal_fpi, w.wal_records
		FROM pg_stat_bgwriter b, pg_stat_wal w`).Scan(&a.ckptTimed, &a.ckptReq, &a.bufCheckpoint, &a.bufClean,
		&a.bufBackend, &a.walBytes, &a.walFPI, &a.walRecords)
	return a, err
}

// describe sets the activity since before against the slots stored.
func (a pgActivity) describe(before pgActivity, slots int) string {
	per := func(v int64) float64 { return float64(v) / float64(max(slots, 1)) }
	return fmt.Sprintf("postgres: checkpoints %d timed + %d requested; WAL %.0f MB = %.0f B/slot in %d records, %d full-page images (%.2f/slot); buffers written by checkpoints %d, bgwriter %d, backends %d",
		a.ckptTimed-before.ckptTimed, a.ckptReq-before.ckptReq, float64(a.walBytes-before.walBytes)/1e6, per(a.walBytes-before.walBytes),
		a.walRecords-before.walRecords, a.walFPI-before.walFPI, per(a.walFPI-before.walFPI),
		a.bufCheckpoint-before.bufCheckpoint, a.bufClean-before.bufClean, a.bufBackend-before.bufBackend)
}

// slotsTable describes the slots table after the sync: its size, its indexes' and what
// autovacuum did to it.
func slotsTable(ctx context.Context, conn *pgx.Conn) string {
	var heap, idx int64
	var vac, an int64
	var idxs string
	err := conn.QueryRow(ctx, `SELECT pg_relation_size('slots'), pg_indexes_size('slots'),
		(SELECT string_agg(indexrelname || ' ' || pg_size_pretty(pg_relation_size(indexrelid)), ', ' ORDER BY indexrelname)
		 FROM pg_stat_user_indexes WHERE relname = 'slots'),
		autovacuum_count, autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'slots'`).Scan(&heap, &idx, &idxs, &vac, &an)
	if err != nil {
		return "slots table: " + err.Error()
	}
	return fmt.Sprintf("slots table %.0f MB, indexes %.0f MB (%s); autovacuum %d, autoanalyze %d during the run",
		float64(heap)/1e6, float64(idx)/1e6, idxs, vac, an)
}
