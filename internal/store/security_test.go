package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

func securitySetup(t *testing.T) (*store.DB, *secret.Keyring, string) {
	t.Helper()
	db, _ := testdb.New(t)
	if _, err := db.ImportPractices(context.Background(), []practice.Practice{mk("A20047", "A"), mk("B82001", "B")}, false); err != nil {
		t.Fatal(err)
	}
	key := secret.NewKey()
	kr, err := secret.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return db, kr, key
}

func TestAccessLogFiltersAndPrune(t *testing.T) {
	t.Parallel()
	db, _, _ := securitySetup(t)
	ctx := context.Background()
	key, task := uuid.New(), uuid.NewString()
	now := time.Now()
	for _, r := range []store.AccessRecord{
		{At: now.Add(-400 * 24 * time.Hour), ActorRole: "practice", ODSCode: "A20047", APIKeyID: key, Action: "task.read", ResourceIDs: []string{task}, Status: 200},
		{At: now.Add(-time.Hour), ActorRole: "practice", ODSCode: "A20047", APIKeyID: key, Action: "task.read", ResourceIDs: []string{task}, Status: 200},
		{At: now.Add(-time.Minute), ActorRole: "practice", ODSCode: "B82001", APIKeyID: uuid.New(), Action: "task.list_inbox", ResourceIDs: []string{task, uuid.NewString()}, Status: 200},
		{ActorRole: "anonymous", Action: "auth.failed", Status: 401, Reason: "unknown_key", KeyPrefix: "gpfed_abcdef", RemoteAddr: "192.0.2.1"},
	} {
		if err := db.RecordAccess(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	count := func(f store.AccessFilter) int {
		t.Helper()
		recs, err := db.ListAccess(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	for name, c := range map[string]struct {
		f    store.AccessFilter
		want int
	}{
		"all":        {store.AccessFilter{}, 4},
		"resource":   {store.AccessFilter{ResourceID: task}, 3},
		"practice":   {store.AccessFilter{ODSCode: "A20047"}, 2},
		"key":        {store.AccessFilter{APIKeyID: key, From: now.Add(-2 * time.Hour)}, 1},
		"failures":   {store.AccessFilter{FailuresOnly: true}, 1},
		"key prefix": {store.AccessFilter{KeyPrefix: "gpfed_abcdef"}, 1},
		"before id":  {store.AccessFilter{BeforeID: 3}, 2},
		"window":     {store.AccessFilter{From: now.Add(-2 * time.Hour), To: now.Add(-30 * time.Minute)}, 1},
		"limit":      {store.AccessFilter{Limit: 2}, 2},
		"action":     {store.AccessFilter{Action: "task.list_inbox"}, 1},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("%s: %d records, want %d", name, got, c.want)
		}
	}
	n, err := db.PruneAccessLog(ctx, now.Add(-365*24*time.Hour), 100)
	if err != nil || n != 1 || count(store.AccessFilter{}) != 3 {
		t.Fatalf("prune: %d, %v; want the one record older than a year", n, err)
	}
}

// Every channel change is recorded with the origins (never paths); a
// practice's first webhook gets a sealed generated secret; the overlap is
// capped; no secret is ever stored in clear.
func TestChangeWebhookAuditAndSecrets(t *testing.T) {
	t.Parallel()
	db, kr, _ := securitySetup(t)
	ctx := context.Background()
	change := func(c store.WebhookChange) (string, store.ChannelChange) {
		t.Helper()
		c.ODS, c.Actor = "A20047", "cli:test@host"
		plain, ch, err := db.ChangeWebhook(ctx, kr, c)
		if err != nil {
			t.Fatal(err)
		}
		return plain, ch
	}
	first, ch := change(store.WebhookChange{URL: "https://a.example/hook?token=t0ps3cret"})
	if !strings.HasPrefix(first, "whsec_") || !ch.SecretRotated || ch.OldOrigin != "" || ch.NewOrigin != "https://a.example" {
		t.Fatalf("first webhook: %q %+v", first, ch)
	}
	if plain, ch := change(store.WebhookChange{URL: "https://a.example/hook?token=t0ps3cret"}); plain != "" || ch.ODSCode != "" {
		t.Fatalf("no-op change: %q %+v", plain, ch)
	}
	if plain, ch := change(store.WebhookChange{URL: "https://b.example/other"}); plain != "" || ch.SecretRotated || ch.NewOrigin != "https://b.example" || !ch.PathChanged {
		t.Fatalf("move: %q %+v", plain, ch)
	}
	second, ch := change(store.WebhookChange{URL: "https://b.example/other", Rotate: true, KeepPrevious: time.Hour})
	if second == "" || second == first || ch.PreviousUntil == nil || time.Until(*ch.PreviousUntil) > time.Hour {
		t.Fatalf("rotation: %+v", ch)
	}
	if _, _, err := db.ChangeWebhook(ctx, kr, store.WebhookChange{ODS: "A20047", URL: "https://b.example/other", Rotate: true,
		KeepPrevious: store.MaxSecretOverlap + time.Second, Actor: "x"}); !errors.Is(err, store.ErrOverlapTooLong) {
		t.Fatalf("overlap above the cap: %v", err)
	}
	if _, _, err := db.ChangeWebhook(ctx, nil, store.WebhookChange{ODS: "B82001", URL: "https://c.example/", Actor: "x"}); !errors.Is(err, store.ErrNoSecretKey) {
		t.Fatalf("a first webhook without a key: %v", err)
	}
	change(store.WebhookChange{})
	var cur, prev *string
	if err := db.Pool.QueryRow(ctx, `SELECT webhook_secret, webhook_secret_previous FROM practices WHERE ods_code = 'A20047'`).Scan(&cur, &prev); err != nil || cur != nil || prev != nil {
		t.Fatalf("cleared channel keeps secrets: %v %v %v", cur, prev, err)
	}
	changes, err := db.ChannelChanges(ctx, "A20047", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.OldOrigin+">"+c.NewOrigin)
		if c.Actor != "cli:test@host" {
			t.Errorf("actor %q", c.Actor)
		}
	}
	want := []string{"https://b.example>", "https://b.example>https://b.example", "https://a.example>https://b.example", ">https://a.example"}
	if !slices.Equal(got, want) {
		t.Fatalf("changes newest first %v, want %v", got, want)
	}
	var dump string
	if err := db.Pool.QueryRow(ctx, `SELECT string_agg(p::text, ' ') FROM practices p`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	var audit string
	if err := db.Pool.QueryRow(ctx, `SELECT string_agg(w::text, ' ') FROM webhook_channel_changes w`).Scan(&audit); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{first, second, "t0ps3cret"} {
		if strings.Contains(dump+audit, s) {
			t.Fatalf("%q is stored in clear", s)
		}
	}
}

// Plaintext secrets from before sealing, and secrets sealed with an old
// key, are resealed under the current key with their value unchanged.
func TestResealAndCheckSecrets(t *testing.T) {
	t.Parallel()
	db, oldKR, oldKey := securitySetup(t)
	ctx := context.Background()
	if err := db.SetWebhook(ctx, "A20047", "https://a.example/", "legacy-plaintext-secret", 0); err != nil {
		t.Fatal(err)
	}
	plainB, _, err := db.ChangeWebhook(ctx, oldKR, store.WebhookChange{ODS: "B82001", URL: "https://b.example/", Actor: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if problems, plain, err := db.CheckSecrets(ctx, oldKR); err != nil || len(problems) != 0 || plain != 1 {
		t.Fatalf("check: %v %d %v", problems, plain, err)
	}
	newKey := secret.NewKey()
	onlyNew, _ := secret.NewKeyring(newKey)
	problems, _, err := db.CheckSecrets(ctx, onlyNew)
	if err != nil || len(problems) != 1 || problems[0].ODSCode != "B82001" || !errors.Is(problems[0].Err, secret.ErrUnknownKey) {
		t.Fatalf("wrong key: %+v %v", problems, err)
	}
	if msg := store.SecretProblemsError(problems).Error(); !strings.Contains(msg, "B82001") || !strings.Contains(msg, "GPFED_SECRET_KEY") {
		t.Fatalf("message: %s", msg)
	}
	if _, err := db.ResealSecrets(ctx, onlyNew); !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("reseal without the old key: %v", err)
	}
	rotating, _ := secret.NewKeyring(newKey, "", oldKey)
	n, err := db.ResealSecrets(ctx, rotating)
	if err != nil || n != 2 {
		t.Fatalf("reseal: %d %v", n, err)
	}
	for ods, want := range map[string]string{"A20047": "legacy-plaintext-secret", "B82001": plainB} {
		p, err := db.GetPractice(ctx, ods)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := onlyNew.Open(p.WebhookSecret); err != nil || got != want || secret.KeyIDOf(p.WebhookSecret) != onlyNew.CurrentID() {
			t.Fatalf("%s after reseal: %q %v", ods, got, err)
		}
	}
}
