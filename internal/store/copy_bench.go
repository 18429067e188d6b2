package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CopySlotsInto writes slots for practice ods into table, a copy of the slots table (same
// columns and indexes), in one transaction with asynchronous commit, through the same COPY
// encoder the snapshot write uses and nothing else. bench/sync uses it to measure the floor of
// storing a slot (the "decode+COPY limit") beside a whole sync.
func (db *DB) CopySlotsInto(ctx context.Context, table, ods string, slots []SlotRecord) error {
	rows := make([]insertRow, len(slots))
	for i := range slots {
		rows[i] = insertRow{SlotRecord: &slots[i]}
	}
	return db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		sql := fmt.Sprintf(copySlotsSQLFor, pgx.Identifier{table}.Sanitize())
		return copySlotsSQLInto(ctx, tx, sql, ods, 0, rows, time.Now())
	})
}
