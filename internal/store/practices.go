package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/practice"
)

// ImportResult counts what an import changed.
type ImportResult struct {
	Inserted, Updated, Unchanged, Deactivated int
}

// ImportPractices upserts the registry in one transaction and deactivates
// active practices missing from ps. When setWebhooks is false (the file had
// no webhook columns) existing webhook settings are left alone.
func (db *DB) ImportPractices(ctx context.Context, ps []practice.Practice, setWebhooks bool) (ImportResult, error) {
	var res ImportResult
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		codes := make([]string, 0, len(ps))
		for _, p := range ps {
			codes = append(codes, p.ODSCode)
			var inserted, changed bool
			err := tx.QueryRow(ctx, `
				INSERT INTO practices (ods_code, name, asid, endpoint, active, webhook_url, webhook_secret, low_capacity_threshold_minutes)
				VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), true, NULLIF($5, ''), NULLIF($6, ''), $7)
				ON CONFLICT (ods_code) DO UPDATE SET
					name = EXCLUDED.name, asid = EXCLUDED.asid, endpoint = EXCLUDED.endpoint, active = true,
					deactivated_at = NULL,
					webhook_url = CASE WHEN $8 THEN EXCLUDED.webhook_url ELSE practices.webhook_url END,
					webhook_secret = CASE WHEN $8 THEN EXCLUDED.webhook_secret ELSE practices.webhook_secret END,
					low_capacity_threshold_minutes = COALESCE(EXCLUDED.low_capacity_threshold_minutes, practices.low_capacity_threshold_minutes),
					updated_at = CASE WHEN (practices.name, practices.asid, practices.endpoint, practices.active)
					    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.asid, EXCLUDED.endpoint, true) THEN now() ELSE practices.updated_at END
				RETURNING (xmax = 0), updated_at = now()`,
				p.ODSCode, p.Name, p.ASID, p.Endpoint, p.WebhookURL, p.WebhookSecret, p.LowCapacityThresholdMinutes, setWebhooks,
			).Scan(&inserted, &changed)
			if err != nil {
				return fmt.Errorf("upsert %s: %w", p.ODSCode, err)
			}
			switch {
			case inserted:
				res.Inserted++
			case changed:
				res.Updated++
			default:
				res.Unchanged++
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE practices SET active = false, deactivated_at = now(), updated_at = now()
			WHERE active AND NOT (ods_code = ANY($1))`, codes)
		if err != nil {
			return fmt.Errorf("deactivate missing practices: %w", err)
		}
		res.Deactivated = int(tag.RowsAffected())
		return nil
	})
	return res, err
}

const practiceCols = `ods_code, name, COALESCE(asid, ''), COALESCE(endpoint, ''), active, COALESCE(webhook_url, ''), COALESCE(webhook_secret, ''),
	low_capacity_threshold_minutes, updated_at`

func scanPractice(row pgx.Row) (practice.Practice, error) {
	var p practice.Practice
	err := row.Scan(&p.ODSCode, &p.Name, &p.ASID, &p.Endpoint, &p.Active, &p.WebhookURL, &p.WebhookSecret,
		&p.LowCapacityThresholdMinutes, &p.UpdatedAt)
	return p, err
}

// ListPractices returns practices ordered by ODS code; activeOnly filters out deactivated ones.
func (db *DB) ListPractices(ctx context.Context, activeOnly bool) ([]practice.Practice, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+practiceCols+` FROM practices
		WHERE active OR NOT $1 ORDER BY ods_code`, activeOnly)
	if err != nil {
		return nil, translate(fmt.Errorf("list practices: %w", err))
	}
	defer rows.Close()
	var out []practice.Practice
	for rows.Next() {
		p, err := scanPractice(rows)
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, p)
	}
	return out, translate(rows.Err())
}

// GetPractice returns one practice or ErrNotFound.
func (db *DB) GetPractice(ctx context.Context, ods string) (practice.Practice, error) {
	p, err := scanPractice(db.Pool.QueryRow(ctx, `SELECT `+practiceCols+` FROM practices WHERE ods_code = $1`, ods))
	if err != nil {
		return p, translate(fmt.Errorf("get practice %s: %w", ods, err))
	}
	return p, nil
}

// SetWebhook sets (or, with url "", clears) a practice's webhook channel.
// keepPrevious > 0 rotates the secret gently: deliveries are signed with
// the secret being replaced as well, for that long, so that the receiver
// can switch at its own pace. 0 (or clearing, or the same secret) keeps no
// previous secret.
func (db *DB) SetWebhook(ctx context.Context, ods, url, secret string, keepPrevious time.Duration) error {
	tag, err := db.Pool.Exec(ctx, `WITH keep AS (
			SELECT $4::bigint > 0 AND NULLIF($3, '') IS NOT NULL AND p.webhook_secret IS NOT NULL
				AND p.webhook_secret <> $3 AS prev
			FROM practices p WHERE p.ods_code = $1)
		UPDATE practices SET webhook_url = NULLIF($2, ''), webhook_secret = NULLIF($3, ''),
			webhook_secret_previous = CASE WHEN keep.prev THEN practices.webhook_secret END,
			webhook_secret_previous_until = CASE WHEN keep.prev THEN now() + make_interval(secs => $4::bigint / 1e9) END,
			updated_at = now()
		FROM keep WHERE ods_code = $1`, ods, url, secret, keepPrevious.Nanoseconds())
	if err != nil {
		return translate(fmt.Errorf("set webhook for %s: %w", ods, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("practice %s: %w", ods, ErrNotFound)
	}
	return nil
}
