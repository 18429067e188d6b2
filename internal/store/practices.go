package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/practice"
)

// ImportResult counts what an import changed.
type ImportResult struct {
	Inserted, Updated, Unchanged, Deactivated int
	// FailedTasks counts undelivered tasks to departed practices, failed
	// with reason recipient_left (their senders are notified).
	FailedTasks int
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
				INSERT INTO practices (ods_code, name, asid, endpoint, active, webhook_url, webhook_secret, low_capacity_threshold_minutes,
					telephone, temporary_registration)
				VALUES ($1, $2, $3, $4, true, NULLIF($5, ''), NULLIF($6, ''), $7, NULLIF($9, ''), COALESCE($10, false))
				ON CONFLICT (ods_code) DO UPDATE SET
					name = EXCLUDED.name, asid = EXCLUDED.asid, endpoint = EXCLUDED.endpoint, active = true,
					deactivated_at = NULL,
					webhook_url = CASE WHEN $8 THEN EXCLUDED.webhook_url ELSE practices.webhook_url END,
					webhook_secret = CASE WHEN $8 THEN EXCLUDED.webhook_secret ELSE practices.webhook_secret END,
					low_capacity_threshold_minutes = COALESCE(EXCLUDED.low_capacity_threshold_minutes, practices.low_capacity_threshold_minutes),
					telephone = COALESCE(NULLIF($9, ''), practices.telephone),
					temporary_registration = COALESCE($10, practices.temporary_registration),
					updated_at = CASE WHEN (practices.name, practices.asid, practices.endpoint, practices.active)
					    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.asid, EXCLUDED.endpoint, true) THEN now() ELSE practices.updated_at END
				RETURNING (xmax = 0), updated_at = now()`,
				p.ODSCode, p.Name, p.ASID, p.Endpoint, p.WebhookURL, p.WebhookSecret, p.LowCapacityThresholdMinutes, setWebhooks,
				p.Telephone, p.TemporaryRegistration,
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
		rows, err := tx.Query(ctx, `SELECT ods_code FROM practices WHERE active AND NOT (ods_code = ANY($1))`, codes)
		if err != nil {
			return fmt.Errorf("find departed practices: %w", err)
		}
		gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("find departed practices: %w", err)
		}
		left, failed, err := deactivate(ctx, tx, gone, 0)
		if err != nil {
			return err
		}
		res.Deactivated, res.FailedTasks = len(left), failed
		return nil
	})
	return res, err
}

const practiceCols = `ods_code, name, asid, endpoint, active, COALESCE(webhook_url, ''), COALESCE(webhook_secret, ''),
	low_capacity_threshold_minutes, COALESCE(telephone, ''), temporary_registration, updated_at`

func scanPractice(row pgx.Row) (practice.Practice, error) {
	var p practice.Practice
	var reg bool
	err := row.Scan(&p.ODSCode, &p.Name, &p.ASID, &p.Endpoint, &p.Active, &p.WebhookURL, &p.WebhookSecret,
		&p.LowCapacityThresholdMinutes, &p.Telephone, &reg, &p.UpdatedAt)
	p.TemporaryRegistration = &reg
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

// ErrInactive is returned when a change needs an active member practice.
var ErrInactive = errors.New("practice is not an active member of the federation")

// SetWebhook sets (or, with url "", clears) an active practice's webhook
// channel; an inactive one gives ErrInactive (its patient data must not be
// redirected anywhere).
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
		FROM keep WHERE ods_code = $1 AND active`, ods, url, secret, keepPrevious.Nanoseconds())
	if err != nil {
		return translate(fmt.Errorf("set webhook for %s: %w", ods, err))
	}
	if tag.RowsAffected() == 0 {
		p, err := db.GetPractice(ctx, ods)
		if err != nil {
			return err
		}
		if !p.Active {
			return fmt.Errorf("set webhook for %s: %w", ods, ErrInactive)
		}
		return fmt.Errorf("set webhook for %s: not changed", ods)
	}
	return nil
}
