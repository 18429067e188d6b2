package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/slot"
)

// CopySlotsInto writes the slots of one or more practices into table, a copy of the slots table
// (same columns and indexes), in one transaction with asynchronous commit, through the same COPY
// encoder the snapshot write uses and nothing else. bench/sync uses it to measure the floor of
// storing a slot (the "decode+COPY limit") beside a whole sync.
func (db *DB) CopySlotsInto(ctx context.Context, table string, practices ...PracticeSlots) error {
	parts := make([]slotRows, len(practices))
	for i, p := range practices {
		rows := make([]insertRow, len(p.Slots))
		for j := range p.Slots {
			rows[j] = insertRow{Slot: &p.Slots[j]}
		}
		parts[i] = slotRows{ods: p.ODS, rows: rows}
	}
	return db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		sql := fmt.Sprintf(copySlotsSQLFor, pgx.Identifier{table}.Sanitize())
		return copySlotsSQLInto(ctx, tx, sql, parts, time.Now())
	})
}

// PracticeSlots is one practice's slots for CopySlotsInto.
type PracticeSlots struct {
	ODS   string
	Slots []slot.Slot
}
