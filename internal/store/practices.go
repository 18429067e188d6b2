package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/secret"
)

// ImportResult counts what an import changed.
type ImportResult struct {
	Inserted, Updated, Unchanged, Deactivated int
	// NewSecrets maps each practice that got a generated webhook secret to
	// it, in plaintext: show it once, never store it.
	NewSecrets map[string]string
	// Channels lists every webhook channel change the import made.
	Channels []ChannelChange
	// FailedTasks counts undelivered tasks to departed practices, failed
	// with reason recipient_left (their senders are notified).
	FailedTasks int
}

// ImportOptions shape an import.
type ImportOptions struct {
	// SetWebhooks applies each row's webhook URL (the file had the
	// column); otherwise existing webhook settings are left alone.
	SetWebhooks bool
	// Keys seals the secrets generated for practices that get their first
	// webhook. Required when any does.
	Keys *secret.Keyring
	// Actor is recorded with each channel change (default "import").
	Actor string
}

// ImportPractices is ImportPracticesWith without a keyring.
func (db *DB) ImportPractices(ctx context.Context, ps []practice.Practice, setWebhooks bool) (ImportResult, error) {
	return db.ImportPracticesWith(ctx, ps, ImportOptions{SetWebhooks: setWebhooks})
}

// ImportPracticesWith upserts the registry in one transaction and
// deactivates active practices missing from ps. With SetWebhooks, each
// practice's webhook URL is set as its row says (a first webhook gets a
// generated secret; a practice's existing secret is kept), and every
// channel change is recorded and counted as an update. A Practice's
// WebhookSecret, when set, is stored as given (tests and pre-sealed
// values; the CSV format has no secret column).
func (db *DB) ImportPracticesWith(ctx context.Context, ps []practice.Practice, o ImportOptions) (ImportResult, error) {
	var res ImportResult
	if o.Actor == "" {
		o.Actor = "import"
	}
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		codes := make([]string, 0, len(ps))
		for _, p := range ps {
			codes = append(codes, p.ODSCode)
			inserted, changed, err := upsertPractice(ctx, tx, p)
			if err != nil {
				return err
			}
			if o.SetWebhooks {
				ch, err := importWebhook(ctx, tx, o, p, &res)
				if err != nil {
					return err
				}
				changed = changed || ch
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
	if err != nil {
		return ImportResult{}, err
	}
	return res, nil
}

// upsertPractice writes everything but the webhook channel and reports
// whether the row was new or changed.
func upsertPractice(ctx context.Context, tx pgx.Tx, p practice.Practice) (inserted, changed bool, err error) {
	err = tx.QueryRow(ctx, `
		INSERT INTO practices (ods_code, name, asid, endpoint, active, low_capacity_threshold_minutes, rate_limit_per_minute,
			telephone, temporary_registration)
		VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), true, $5, $6, NULLIF($7, ''), COALESCE($8, false))
		ON CONFLICT (ods_code) DO UPDATE SET
			name = EXCLUDED.name, asid = EXCLUDED.asid, endpoint = EXCLUDED.endpoint, active = true,
			deactivated_at = NULL,
			low_capacity_threshold_minutes = COALESCE(EXCLUDED.low_capacity_threshold_minutes, practices.low_capacity_threshold_minutes),
			rate_limit_per_minute = COALESCE(EXCLUDED.rate_limit_per_minute, practices.rate_limit_per_minute),
			telephone = COALESCE(NULLIF($7, ''), practices.telephone),
			temporary_registration = COALESCE($8, practices.temporary_registration),
			updated_at = CASE WHEN (practices.name, practices.asid, practices.endpoint, practices.active,
				practices.rate_limit_per_minute)
			    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.asid, EXCLUDED.endpoint, true,
				COALESCE(EXCLUDED.rate_limit_per_minute, practices.rate_limit_per_minute)) THEN now() ELSE practices.updated_at END
		RETURNING (xmax = 0), updated_at = now()`,
		p.ODSCode, p.Name, p.ASID, p.Endpoint, p.LowCapacityThresholdMinutes, p.RateLimitPerMinute,
		p.Telephone, p.TemporaryRegistration,
	).Scan(&inserted, &changed)
	if err != nil {
		return false, false, fmt.Errorf("upsert %s: %w", p.ODSCode, err)
	}
	return inserted, changed, nil
}

// importWebhook applies one row's webhook column and records the outcome
// in res; it reports whether the channel changed.
func importWebhook(ctx context.Context, tx pgx.Tx, o ImportOptions, p practice.Practice, res *ImportResult) (bool, error) {
	u := webhookUpdate{WebhookChange: WebhookChange{ODS: p.ODSCode, URL: p.WebhookURL, Actor: o.Actor}}
	if p.WebhookSecret != "" {
		u.stored = &p.WebhookSecret
	}
	plain, ch, err := applyWebhook(ctx, tx, o.Keys, u)
	if err != nil {
		return false, err
	}
	if plain != "" {
		if res.NewSecrets == nil {
			res.NewSecrets = map[string]string{}
		}
		res.NewSecrets[p.ODSCode] = plain
	}
	if ch.ODSCode == "" {
		return false, nil
	}
	res.Channels = append(res.Channels, ch)
	return true, nil
}

const practiceCols = `ods_code, name, COALESCE(asid, ''), COALESCE(endpoint, ''), active, COALESCE(webhook_url, ''),
	COALESCE(webhook_secret, ''), low_capacity_threshold_minutes, rate_limit_per_minute, COALESCE(telephone, ''),
	temporary_registration, updated_at`

// scanPractice reads a practice; WebhookSecret is the stored (sealed) value.
func scanPractice(row pgx.Row) (practice.Practice, error) {
	var p practice.Practice
	var reg bool
	err := row.Scan(&p.ODSCode, &p.Name, &p.ASID, &p.Endpoint, &p.Active, &p.WebhookURL, &p.WebhookSecret,
		&p.LowCapacityThresholdMinutes, &p.RateLimitPerMinute, &p.Telephone, &reg, &p.UpdatedAt)
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

// SetRateLimit sets a practice's per-key API rate limit (requests per
// minute; nil follows the federation default, 0 is unlimited).
func (db *DB) SetRateLimit(ctx context.Context, ods string, perMinute *int) error {
	tag, err := db.Pool.Exec(ctx, `UPDATE practices SET rate_limit_per_minute = $2, updated_at = now() WHERE ods_code = $1`,
		ods, perMinute)
	if err != nil {
		return translate(fmt.Errorf("set rate limit of %s: %w", ods, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("practice %s: %w", ods, ErrNotFound)
	}
	return nil
}
