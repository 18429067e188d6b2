package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CapacityExtent returns the first and last dates that active practices
// have synced capacity for, and ok=false when nothing was ever synced. The
// CLI uses it to explain a date range that matches nothing.
func (db *DB) CapacityExtent(ctx context.Context) (first, last time.Time, ok bool, err error) {
	var lo, hi *time.Time
	err = db.Pool.QueryRow(ctx, `
		SELECT min(c.local_date), max(c.local_date)
		FROM capacity_daily c JOIN practices p USING (ods_code) WHERE p.active`).Scan(&lo, &hi)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && lo == nil) {
		return time.Time{}, time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, time.Time{}, false, translate(fmt.Errorf("capacity extent: %w", err))
	}
	return *lo, *hi, true, nil
}
