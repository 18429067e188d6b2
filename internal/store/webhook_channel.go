package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/secret"
)

// MaxSecretOverlap caps how long a replaced webhook secret keeps signing
// deliveries: long enough for a practice to update its receiver over a
// weekend, short enough that a leaked secret does not stay useful.
const MaxSecretOverlap = 72 * time.Hour

// ErrOverlapTooLong is a rotation overlap above MaxSecretOverlap.
var ErrOverlapTooLong = fmt.Errorf("the previous secret may stay valid for at most %s", MaxSecretOverlap)

// ErrInactive is returned when a change needs an active member practice:
// no webhook can be set for one that left (its patient data must not be
// redirected anywhere).
var ErrInactive = errors.New("practice is not an active member of the federation")

// ErrNoSecretKey means a webhook secret had to be generated and sealed but
// no GPFED_SECRET_KEY is configured.
var ErrNoSecretKey = secret.ErrNoKey

// ChannelChange is one audited change of a practice's webhook channel.
type ChannelChange struct {
	ID            int64
	ODSCode       string
	At            time.Time
	Actor         string
	OldOrigin     string // scheme://host[:port] or "" (no webhook)
	NewOrigin     string
	PathChanged   bool
	SecretRotated bool
	PreviousUntil *time.Time // the replaced secret signs too until then
}

// WebhookChange asks for a practice's channel to change.
type WebhookChange struct {
	ODS string
	// URL is the new webhook URL; "" removes the webhook (and its secrets).
	URL string
	// Rotate replaces the signing secret with a new generated one. A
	// practice that has no secret yet always gets one.
	Rotate bool
	// KeepPrevious keeps the replaced secret signing too for this long (at
	// most MaxSecretOverlap), so the receiver can switch at its own pace.
	KeepPrevious time.Duration
	// Actor says who made the change (e.g. "cli:alice@host").
	Actor string
}

// ChangeWebhook applies c in one transaction and records it. It returns the
// new secret in plaintext when one was generated (to be shown once, never
// stored in clear), and the change ("" ODSCode when nothing changed).
func (db *DB) ChangeWebhook(ctx context.Context, keys *secret.Keyring, c WebhookChange) (string, ChannelChange, error) {
	var plain string
	var ch ChannelChange
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		plain, ch, err = applyWebhook(ctx, tx, keys, webhookUpdate{WebhookChange: c})
		return err
	})
	return plain, ch, err
}

// SetWebhook sets (or, with url "", clears) a practice's webhook channel
// with a secret stored exactly as given, and records the change as made by
// "system". It predates generated, sealed secrets and stays for tests and
// callers that seal themselves; operators use ChangeWebhook (the CLI) or
// the CSV import. keepPrevious as in WebhookChange.
func (db *DB) SetWebhook(ctx context.Context, ods, url, stored string, keepPrevious time.Duration) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		_, _, err := applyWebhook(ctx, tx, nil, webhookUpdate{
			WebhookChange: WebhookChange{ODS: ods, URL: url, KeepPrevious: keepPrevious, Actor: ActorSystem},
			stored:        &stored,
		})
		return err
	})
}

// webhookUpdate is a WebhookChange, or (stored set) a legacy set-as-given.
type webhookUpdate struct {
	WebhookChange
	stored *string
}

type channelRow struct {
	url, secret *string
}

// applyWebhook locks the practice row, works out the new channel, writes it
// and records the change when there is one.
func applyWebhook(ctx context.Context, tx pgx.Tx, keys *secret.Keyring, u webhookUpdate) (string, ChannelChange, error) {
	if u.KeepPrevious < 0 || u.KeepPrevious > MaxSecretOverlap {
		return "", ChannelChange{}, ErrOverlapTooLong
	}
	var old channelRow
	var active bool
	// NO KEY UPDATE: a task being created for this practice (whose foreign
	// key takes a KEY SHARE lock on the row) is not held up.
	err := tx.QueryRow(ctx, `SELECT webhook_url, webhook_secret, active FROM practices WHERE ods_code = $1 FOR NO KEY UPDATE`, u.ODS).
		Scan(&old.url, &old.secret, &active)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ChannelChange{}, fmt.Errorf("practice %s: %w", u.ODS, ErrNotFound)
	}
	if err != nil {
		return "", ChannelChange{}, fmt.Errorf("lock practice %s: %w", u.ODS, err)
	}
	if !active && u.URL != "" {
		return "", ChannelChange{}, fmt.Errorf("set webhook for %s: %w", u.ODS, ErrInactive)
	}
	plain, newSecret, rotated, err := nextSecret(keys, u, old)
	if err != nil {
		return "", ChannelChange{}, fmt.Errorf("webhook secret for %s: %w", u.ODS, err)
	}
	keep := rotated && u.KeepPrevious > 0 && old.secret != nil && u.URL != ""
	// A rotation (or a legacy set-as-given, whatever it sets) decides the
	// previous secret afresh; a URL change alone leaves a running overlap.
	reset := rotated || u.stored != nil
	var until *time.Time
	err = tx.QueryRow(ctx, `UPDATE practices SET webhook_url = NULLIF($2, ''), webhook_secret = $3,
			webhook_secret_previous = CASE WHEN $2 = '' THEN NULL WHEN $4 THEN webhook_secret
				WHEN $5 THEN NULL ELSE webhook_secret_previous END,
			webhook_secret_previous_until = CASE WHEN $2 = '' THEN NULL WHEN $4 THEN now() + make_interval(secs => $6::bigint / 1e9)
				WHEN $5 THEN NULL ELSE webhook_secret_previous_until END,
			updated_at = now()
		WHERE ods_code = $1 RETURNING webhook_secret_previous_until`,
		u.ODS, u.URL, newSecret, keep, reset, u.KeepPrevious.Nanoseconds()).Scan(&until)
	if err != nil {
		return "", ChannelChange{}, fmt.Errorf("set webhook for %s: %w", u.ODS, err)
	}
	oldURL := deref(old.url)
	if oldURL == u.URL && !rotated {
		return plain, ChannelChange{}, nil
	}
	ch := ChannelChange{ODSCode: u.ODS, Actor: u.Actor, OldOrigin: origin(oldURL), NewOrigin: origin(u.URL),
		PathChanged: pathOf(oldURL) != pathOf(u.URL) && oldURL != "" && u.URL != "", SecretRotated: rotated}
	if keep {
		ch.PreviousUntil = until
	}
	err = tx.QueryRow(ctx, `INSERT INTO webhook_channel_changes (ods_code, actor, old_origin, new_origin, path_changed,
			secret_rotated, previous_valid_until) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, changed_at`,
		ch.ODSCode, clip(ch.Actor, 200), ch.OldOrigin, ch.NewOrigin, ch.PathChanged, ch.SecretRotated, ch.PreviousUntil).
		Scan(&ch.ID, &ch.At)
	if err != nil {
		return "", ChannelChange{}, fmt.Errorf("record channel change for %s: %w", u.ODS, err)
	}
	return plain, ch, nil
}

// nextSecret decides the stored secret after u: none without a URL, the
// given one (legacy), a new generated one (rotation, or a first webhook),
// or the current one.
func nextSecret(keys *secret.Keyring, u webhookUpdate, old channelRow) (plain string, stored *string, rotated bool, err error) {
	switch {
	case u.URL == "":
		return "", nil, false, nil
	case u.stored != nil:
		s := *u.stored
		if s == "" {
			return "", nil, old.secret != nil, nil
		}
		return "", &s, old.secret == nil || *old.secret != s, nil
	case u.Rotate || old.secret == nil:
		plain = secret.NewWebhookSecret()
		sealed, err := keys.Seal(plain)
		if err != nil {
			return "", nil, false, err
		}
		return plain, &sealed, true, nil
	}
	return "", old.secret, false, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// origin is scheme://host[:port] of a URL ("" for none): what the audit
// keeps, since paths and queries may carry a receiver's token.
func origin(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Scheme + "://" + u.Host
}

func pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.EscapedPath()
}

// ChannelChanges returns a practice's webhook channel changes, newest first.
func (db *DB) ChannelChanges(ctx context.Context, ods string, limit int) ([]ChannelChange, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, ods_code, changed_at, actor, old_origin, new_origin, path_changed,
			secret_rotated, previous_valid_until
		FROM webhook_channel_changes WHERE ods_code = $1 ORDER BY changed_at DESC, id DESC LIMIT $2`, ods, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("channel changes of %s: %w", ods, err))
	}
	defer rows.Close()
	var out []ChannelChange
	for rows.Next() {
		var c ChannelChange
		if err := rows.Scan(&c.ID, &c.ODSCode, &c.At, &c.Actor, &c.OldOrigin, &c.NewOrigin, &c.PathChanged,
			&c.SecretRotated, &c.PreviousUntil); err != nil {
			return nil, translate(err)
		}
		out = append(out, c)
	}
	return out, translate(rows.Err())
}
