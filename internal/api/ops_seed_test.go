package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// The seeded federation: Abbey and Brook synced fine, Castle's last fetch
// failed (it serves a stale snapshot), Dale has never synced, and Zed has
// left the federation.
const (
	odsAbbey  = "A81001"
	odsBrook  = "B82002"
	odsCastle = "C83003"
	odsDale   = "D84004"
	odsZed    = "Z89009"

	// secrets that must never reach a dashboard page
	seedNHS     = "9434765919"
	seedSubject = "Bloods for Mrs Example please"
	seedBody    = "Patient says the chest pain started on Tuesday"
)

var seedNames = map[string]string{
	odsAbbey: "Abbey Medical Centre", odsBrook: "Brook Lane Surgery", odsCastle: "Castle Health Centre",
	odsDale: "Dale View Practice", odsZed: "Zed Former Surgery",
}

// seedToday is the fixed "now" of every ops test: Monday 23 November 2026, UK.
var seedNow = time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)

type opsEnv struct {
	t        *testing.T
	db       *store.DB
	srv      *api.Server
	url      string
	opsURL   string // OpsHandler: /metrics, /readyz
	admin    string // raw admin key
	practice string // raw practice key (Abbey)
	revoked  string // raw admin key, revoked
	// minutes[ods][date] and slots[ods][date] as seeded (all roles/channels)
	minutes, slots map[string]map[string]int
	roleMinutes    map[string]map[string]int // R0260 only
}

type opsOption func(*api.Server)

func newOpsEnv(t *testing.T, opts ...opsOption) *opsEnv {
	t.Helper()
	db, _ := testdb.New(t)
	e := &opsEnv{t: t, db: db}
	e.seed(context.Background())
	e.srv = &api.Server{DB: db, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return seedNow }}
	for _, o := range opts {
		o(e.srv)
	}
	ts := httptest.NewServer(e.srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	ops := httptest.NewServer(e.srv.OpsHandler())
	t.Cleanup(ops.Close)
	e.opsURL = ops.URL
	return e
}

// opsGet reads path from the operations listener (/metrics, /readyz).
func (e *opsEnv) opsGet(path string) (*http.Response, string) {
	e.t.Helper()
	res, err := http.Get(e.opsURL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, string(b)
}

func (e *opsEnv) exec(ctx context.Context, sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Pool.Exec(ctx, sql, args...); err != nil {
		e.t.Fatalf("seed: %v\n%s", err, sql)
	}
}

func (e *opsEnv) seed(ctx context.Context) {
	t := e.t
	t.Helper()
	var ps []practice.Practice
	for _, ods := range []string{odsAbbey, odsBrook, odsCastle, odsDale, odsZed} {
		ps = append(ps, practice.Practice{ODSCode: ods, Name: seedNames[ods], ASID: "918999198993",
			Endpoint: "https://gp.example/" + ods + "/STU3/1/gpconnect"})
	}
	if _, err := e.db.ImportPractices(ctx, ps, false); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.admin, _, err = e.db.CreateAPIKey(ctx, store.RoleAdmin, "", "ops lead"); err != nil {
		t.Fatal(err)
	}
	if e.practice, _, err = e.db.CreateAPIKey(ctx, store.RolePractice, odsAbbey, "abbey"); err != nil {
		t.Fatal(err)
	}
	var k store.APIKey
	if e.revoked, k, err = e.db.CreateAPIKey(ctx, store.RoleAdmin, "", "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RevokeAPIKeys(ctx, "", k.Prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.ImportPractices(ctx, ps[:4], false); err != nil { // Zed leaves
		t.Fatal(err)
	}
	e.seedRuns(ctx)
	e.seedSlots(ctx)
	e.seedTasks(ctx)
}

// seedRuns: run 1 (all ok), run 2 (Castle failed), run 3 (Castle failed again).
func (e *opsEnv) seedRuns(ctx context.Context) {
	e.exec(ctx, `INSERT INTO sync_runs (id, trigger, from_date, to_date, status, practices_total, started_at, finished_at) VALUES
		(1, 'schedule', '2026-11-21', '2026-12-19', 'completed', 3, '2026-11-21 02:00Z', '2026-11-21 02:00:41Z'),
		(2, 'schedule', '2026-11-22', '2026-12-20', 'completed', 3, '2026-11-22 02:00Z', '2026-11-22 02:00:38Z'),
		(3, 'manual',   '2026-11-23', '2026-12-21', 'completed', 3, '2026-11-23 02:00Z', '2026-11-23 02:01:05Z')`)
	e.exec(ctx, `SELECT setval('sync_runs_id_seq', 3)`)
	e.exec(ctx, `INSERT INTO sync_run_practices (run_id, ods_code, status, attempts, http_status, spine_code, diagnostics, slots, calls, duration_ms, finished_at) VALUES
		(1, 'A81001', 'ok', 1, NULL, NULL, NULL, 300, 2, 900, '2026-11-21 02:00:10Z'),
		(1, 'B82002', 'ok', 1, NULL, NULL, NULL, 200, 2, 800, '2026-11-21 02:00:11Z'),
		(1, 'C83003', 'ok', 1, NULL, NULL, NULL, 100, 2, 700, '2026-11-21 02:00:12Z'),
		(2, 'A81001', 'ok', 1, NULL, NULL, NULL, 300, 2, 900, '2026-11-22 02:00:10Z'),
		(2, 'B82002', 'ok', 1, NULL, NULL, NULL, 200, 2, 800, '2026-11-22 02:00:11Z'),
		(2, 'C83003', 'failed', 4, 503, 'INTERNAL_SERVER_ERROR', 'Provider system unavailable', NULL, 4, 21000, '2026-11-22 02:00:30Z'),
		(3, 'C83003', 'failed', 1, 403, 'ACCESS_DENIED', 'ASID not authorised for Slot search', NULL, 1, 300, '2026-11-23 02:00:05Z'),
		(3, 'A81001', 'ok', 1, NULL, NULL, NULL, 310, 2, 950, '2026-11-23 02:00:10Z'),
		(3, 'B82002', 'ok', 2, NULL, NULL, NULL, 205, 3, 1900, '2026-11-23 02:00:11Z')`)
	e.exec(ctx, `INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, last_success_at, stale, stale_since,
			last_http_status, last_spine_code, last_error, window_from, window_to, slot_count) VALUES
		('A81001', 3, '2026-11-23 02:00:10Z', '2026-11-23 02:00:10Z', false, NULL, NULL, NULL, NULL, '2026-11-23', '2026-12-21', 0),
		('B82002', 3, '2026-11-23 02:00:11Z', '2026-11-23 02:00:11Z', false, NULL, NULL, NULL, NULL, '2026-11-23', '2026-12-21', 0),
		('C83003', 3, '2026-11-23 02:00:05Z', '2026-11-21 02:00:12Z', true, '2026-11-22 02:00:30Z', 403, 'ACCESS_DENIED',
			'ASID not authorised for Slot search', '2026-11-21', '2026-12-19', 0)`)
}

type seedSlot struct {
	site, role, roleDisplay, channel string
	minutes                          int
}

// daySlots is the deterministic free-slot pattern of a practice on day i.
// Sundays have nothing; Castle's stale snapshot ends on 2026-12-18.
func daySlots(ods string, i int, d time.Time) []seedSlot {
	return patternSlots(ods, map[string]int{odsAbbey: 12, odsBrook: 6, odsCastle: 3}[ods]+i%5, d)
}

func patternSlots(ods string, n int, d time.Time) []seedSlot {
	if d.Weekday() == time.Sunday {
		return nil
	}
	var out []seedSlot
	for k := 0; k < n; k++ {
		s := seedSlot{site: "Main Surgery", role: "R0260", roleDisplay: "General Medical Practitioner", channel: "In-person", minutes: 10}
		if k%3 == 1 {
			s = seedSlot{site: "Main Surgery", role: "R0620", roleDisplay: "Staff Nurse", channel: "Telephone", minutes: 15}
		}
		if ods == odsAbbey && k%4 == 3 {
			s.site = "Riverside Branch"
		}
		out = append(out, s)
	}
	return out
}

func (e *opsEnv) seedSlots(ctx context.Context) {
	e.minutes, e.slots, e.roleMinutes = map[string]map[string]int{}, map[string]map[string]int{}, map[string]map[string]int{}
	london, _ := time.LoadLocation("Europe/London")
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, london)
	for _, ods := range []string{odsAbbey, odsBrook, odsCastle} {
		e.minutes[ods], e.slots[ods], e.roleMinutes[ods] = map[string]int{}, map[string]int{}, map[string]int{}
		for i := 0; i < 28; i++ {
			d := from.AddDate(0, 0, i)
			date := d.Format(time.DateOnly)
			if ods == odsCastle && date >= "2026-12-19" {
				continue
			}
			for k, s := range daySlots(ods, i, d) {
				start := d.Add(time.Duration(9*60+k*15) * time.Minute)
				e.exec(ctx, `INSERT INTO slots (ods_code, slot_id, start_at, end_at, local_date, duration_minutes, site_name,
					role_code, role_display, delivery_channel, first_seen_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())`,
					ods, fmt.Sprintf("%s-%d-%d", ods, i, k), start, start.Add(time.Duration(s.minutes)*time.Minute), date,
					s.minutes, s.site, s.role, s.roleDisplay, s.channel)
				e.minutes[ods][date] += s.minutes
				e.slots[ods][date]++
				if s.role == "R0260" {
					e.roleMinutes[ods][date] += s.minutes
				}
			}
		}
	}
	e.exec(ctx, `INSERT INTO capacity_daily (ods_code, local_date, free_slots, free_minutes, by_delivery_channel, by_role, by_site)
		SELECT ods_code, local_date, count(*), sum(duration_minutes),
			(SELECT jsonb_object_agg(delivery_channel, n) FROM (SELECT delivery_channel, count(*) n FROM slots x
				WHERE x.ods_code = s.ods_code AND x.local_date = s.local_date GROUP BY 1) a),
			(SELECT jsonb_object_agg(role_code, n) FROM (SELECT role_code, count(*) n FROM slots x
				WHERE x.ods_code = s.ods_code AND x.local_date = s.local_date GROUP BY 1) b),
			(SELECT jsonb_object_agg(site_name, n) FROM (SELECT site_name, count(*) n FROM slots x
				WHERE x.ods_code = s.ods_code AND x.local_date = s.local_date GROUP BY 1) c)
		FROM slots s GROUP BY ods_code, local_date`)
	e.exec(ctx, `UPDATE practice_sync_state p SET slot_count = (SELECT count(*) FROM slots s WHERE s.ods_code = p.ods_code)`)
}

// seedTasks: 3 accepted (oldest 2 h old; one has failed 3 attempts with a
// 503 and Brook's circuit is open), 2 delivered, 1 acknowledged, 2 failed
// (one webhook 410), 1 cancelled; notifications 1 pending (queued to Abbey), 1 failed.
func (e *opsEnv) seedTasks(ctx context.Context) {
	type task struct {
		state, lastErr string
		age            time.Duration
	}
	tasks := []task{
		{"accepted", "webhook answered 503", 2 * time.Hour}, {"accepted", "", 30 * time.Minute}, {"accepted", "", time.Minute},
		{"delivered", "", time.Hour}, {"delivered", "", time.Hour}, {"acknowledged", "", 3 * time.Hour},
		{"failed", "webhook answered 410 Gone: permanent failure", 5 * time.Hour},
		{"failed", "gave up after 24h: webhook timed out", 26 * time.Hour},
		{"cancelled", "", 4 * time.Hour},
	}
	for i, tk := range tasks {
		created := seedNow.Add(-tk.age)
		var finished any
		if tk.state == "failed" || tk.state == "acknowledged" || tk.state == "cancelled" {
			finished = created.Add(time.Duration(i) * time.Minute)
		}
		e.exec(ctx, `INSERT INTO tasks (id, sender_ods, recipient_ods, patient_nhs_number, type, priority, subject, body,
			state, channel, attempts, last_error, created_at, updated_at, finished_at, expires_at)
			VALUES ($1, 'A81001', 'B82002', $2, 'action-needed', 'urgent', $3, $4, $5, 'webhook', $6, NULLIF($7, ''), $8, $8, $9, $8::timestamptz + interval '24 hours')`,
			uuid.New(), seedNHS, seedSubject, seedBody, tk.state, i%4+1, tk.lastErr, created, finished)
	}
	// The open tasks wait in the delivery queue; Brook's webhook keeps failing.
	e.exec(ctx, `INSERT INTO delivery_queue (ref_id, kind, endpoint, priority, due_at, created_at)
		SELECT id, 'task', recipient_ods, 0, created_at + interval '1 hour', created_at FROM tasks WHERE state = 'accepted'`)
	e.exec(ctx, `INSERT INTO endpoint_health (ods_code, state, consecutive_failures, opened_at, next_probe_at, probe_backoff_ms,
			last_status, last_error, last_failure_at)
		VALUES ('B82002', 'open', 7, $1::timestamptz - interval '90 minutes', $1::timestamptz + interval '5 minutes', 600000,
			503, 'webhook answered 503', $1::timestamptz - interval '10 minutes')`, seedNow)
	e.exec(ctx, `INSERT INTO notifications (id, recipient_ods, kind, state, channel, attempts, last_error, created_at, finished_at, expires_at) VALUES
		($1, 'A81001', 'task.failed', 'pending', 'feed', 0, NULL, $3::timestamptz - interval '10 minutes', NULL, $3::timestamptz + interval '1 day'),
		($2, 'C83003', 'sync.failed', 'failed', 'webhook', 7, 'webhook answered 404 Not Found', $3::timestamptz - interval '1 day', $3::timestamptz - interval '20 hours', $3)`,
		uuid.New(), uuid.New(), seedNow)
	e.exec(ctx, `INSERT INTO delivery_queue (ref_id, kind, endpoint, due_at, created_at)
		SELECT id, 'notification', recipient_ods, created_at, created_at FROM notifications WHERE state = 'pending'`)
}

// get performs a request with optional bearer key and headers (name, value pairs).
func (e *opsEnv) get(path, key string, headers ...string) (*http.Response, string) {
	e.t.Helper()
	return e.do(http.MethodGet, path, key, nil, headers...)
}
