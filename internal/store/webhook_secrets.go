package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gpfed/gpfed/internal/secret"
)

// ResealSecrets seals every stored webhook secret (current and previous)
// that is not sealed under the keyring's current key: plaintext secrets
// written before sealing existed, and secrets sealed with an older key
// (after a key rotation). The values do not change, only their sealing.
// It reads without locks and rewrites practice by practice, each as a
// compare-and-set, so it never holds up task creation (whose foreign keys
// lock practice rows) and a value changed meanwhile (sealed by its writer)
// is left alone. If any stored value cannot be opened it changes nothing
// and says which. It returns how many practices it rewrote; without a
// current key it does nothing.
func (db *DB) ResealSecrets(ctx context.Context, keys *secret.Keyring) (int, error) {
	if !keys.HasKey() {
		return 0, nil
	}
	todo, err := db.secretsToReseal(ctx, keys)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range todo {
		tag, err := db.Pool.Exec(ctx, `UPDATE practices SET webhook_secret = NULLIF($4, ''), webhook_secret_previous = NULLIF($5, '')
			WHERE ods_code = $1 AND COALESCE(webhook_secret, '') = $2 AND COALESCE(webhook_secret_previous, '') = $3`,
			r.ods, r.cur, r.prev, r.newCur, r.newPrev)
		if err != nil {
			return n, translate(fmt.Errorf("reseal %s: %w", r.ods, err))
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

type resealRow struct{ ods, cur, prev, newCur, newPrev string }

// secretsToReseal reads the stored secrets and seals afresh those that
// need it, in memory.
func (db *DB) secretsToReseal(ctx context.Context, keys *secret.Keyring) ([]resealRow, error) {
	rows, err := db.Pool.Query(ctx, `SELECT ods_code, COALESCE(webhook_secret, ''), COALESCE(webhook_secret_previous, '')
		FROM practices WHERE webhook_secret IS NOT NULL OR webhook_secret_previous IS NOT NULL ORDER BY ods_code`)
	if err != nil {
		return nil, translate(fmt.Errorf("read webhook secrets: %w", err))
	}
	defer rows.Close()
	var todo []resealRow
	for rows.Next() {
		var r resealRow
		if err := rows.Scan(&r.ods, &r.cur, &r.prev); err != nil {
			return nil, translate(err)
		}
		if !keys.NeedsReseal(r.cur) && !keys.NeedsReseal(r.prev) {
			continue
		}
		if r.newCur, err = resealOne(keys, r.cur); err != nil {
			return nil, fmt.Errorf("webhook secret of %s: %w", r.ods, err)
		}
		if r.newPrev, err = resealOne(keys, r.prev); err != nil {
			return nil, fmt.Errorf("previous webhook secret of %s: %w", r.ods, err)
		}
		todo = append(todo, r)
	}
	return todo, translate(rows.Err())
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
