package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/secret"
)

// ResealSecrets seals every stored webhook secret (current and previous)
// that is not sealed under the keyring's current key: plaintext secrets
// written before sealing existed, and secrets sealed with an older key
// (after a key rotation). It runs in one transaction, so deliveries read
// either the old or the new values, both of which open; it returns how many
// values it rewrote. Without a current key it does nothing.
func (db *DB) ResealSecrets(ctx context.Context, keys *secret.Keyring) (int, error) {
	if !keys.HasKey() {
		return 0, nil
	}
	n := 0
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT ods_code, COALESCE(webhook_secret, ''), COALESCE(webhook_secret_previous, '')
			FROM practices WHERE webhook_secret IS NOT NULL OR webhook_secret_previous IS NOT NULL FOR UPDATE`)
		if err != nil {
			return fmt.Errorf("read webhook secrets: %w", err)
		}
		type row struct{ ods, cur, prev string }
		var todo []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.ods, &r.cur, &r.prev); err != nil {
				return err
			}
			if keys.NeedsReseal(r.cur) || keys.NeedsReseal(r.prev) {
				todo = append(todo, r)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range todo {
			cur, err := resealOne(keys, r.cur)
			if err != nil {
				return fmt.Errorf("webhook secret of %s: %w", r.ods, err)
			}
			prev, err := resealOne(keys, r.prev)
			if err != nil {
				return fmt.Errorf("previous webhook secret of %s: %w", r.ods, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE practices SET webhook_secret = NULLIF($2, ''),
				webhook_secret_previous = NULLIF($3, '') WHERE ods_code = $1`, r.ods, cur, prev); err != nil {
				return fmt.Errorf("reseal %s: %w", r.ods, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

func resealOne(keys *secret.Keyring, stored string) (string, error) {
	if !keys.NeedsReseal(stored) {
		return stored, nil
	}
	return keys.Reseal(stored)
}

// SecretProblem is a stored webhook secret the keyring cannot use.
type SecretProblem struct {
	ODSCode string
	Err     error
}

// CheckSecrets opens every stored webhook secret of an active practice
// (and every previous one still in its overlap) with keys and reports
// those that fail, plus how many are still plaintext. Workers run it at
// start-up, so a missing or wrong GPFED_SECRET_KEY stops them with a clear
// message instead of failing deliveries one by one.
func (db *DB) CheckSecrets(ctx context.Context, keys *secret.Keyring) (problems []SecretProblem, plaintext int, err error) {
	rows, err := db.Pool.Query(ctx, `SELECT ods_code, webhook_secret,
			CASE WHEN webhook_secret_previous_until > now() THEN COALESCE(webhook_secret_previous, '') ELSE '' END
		FROM practices WHERE active AND webhook_secret IS NOT NULL ORDER BY ods_code`)
	if err != nil {
		return nil, 0, translate(fmt.Errorf("read webhook secrets: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var ods, cur, prev string
		if err := rows.Scan(&ods, &cur, &prev); err != nil {
			return nil, 0, translate(err)
		}
		for _, v := range []string{cur, prev} {
			if v != "" && !secret.IsSealed(v) {
				plaintext++
			}
			if _, err := keys.Open(v); err != nil {
				problems = append(problems, SecretProblem{ODSCode: ods, Err: err})
				break
			}
		}
	}
	return problems, plaintext, translate(rows.Err())
}

// SecretProblemsError words CheckSecrets' findings for an operator.
func SecretProblemsError(problems []SecretProblem) error {
	if len(problems) == 0 {
		return nil
	}
	var codes []string
	for _, p := range problems {
		codes = append(codes, p.ODSCode)
	}
	first := problems[0].Err
	hint := "set GPFED_SECRET_KEY to the key that sealed them (and any older key in GPFED_SECRET_KEY_PREVIOUS)"
	if errors.Is(first, secret.ErrCorrupt) {
		hint = "rotate the affected secrets with `gpfed practices webhook --rotate ODS URL`"
	}
	return fmt.Errorf("the webhook secrets of %d practice(s) cannot be opened (%s): %w; %s",
		len(problems), strings.Join(codes, ", "), first, hint)
}
