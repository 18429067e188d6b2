package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// historyScale is how much more free capacity each seeded run saw than
// today's snapshot holds (in percent): capacity has been falling.
var historyScale = map[int]int{1: 130, 2: 115, 3: 100}

// removedSeed is how many slots each practice lost at runs 2 and 3.
var removedSeed = map[string][2]int{odsAbbey: {5, 3}, odsBrook: {2, 4}}

// seedHistory records capacity history for the seeded runs, as SaveSnapshot
// would have: each practice that succeeded in a run gets a fetch entry
// covering the run's 28 days, with today's snapshot scaled by historyScale
// (Castle only for run 1: its fetches failed since), and slot_changes for
// the slots booked between runs.
func (e *opsEnv) seedHistory(ctx context.Context, extra ...string) {
	e.t.Helper()
	fetched := map[int][]string{1: {odsAbbey, odsBrook, odsCastle}, 2: {odsAbbey, odsBrook}, 3: {odsAbbey, odsBrook}}
	for run := 1; run <= 3; run++ {
		for _, ods := range append(fetched[run], extra...) {
			e.exec(ctx, `INSERT INTO capacity_history_fetches (run_id, ods_code, window_from, window_to, recorded_at)
				SELECT id, $2, from_date, to_date, started_at + interval '10 seconds' FROM sync_runs WHERE id = $1`, run, ods)
			e.exec(ctx, `INSERT INTO capacity_history (run_id, ods_code, local_date, free_slots, free_minutes)
				SELECT $1, c.ods_code, c.local_date, c.free_slots, c.free_minutes * $3 / 100
				FROM capacity_daily c, sync_runs r
				WHERE r.id = $1 AND c.ods_code = $2 AND c.local_date >= r.from_date AND c.local_date < r.to_date`,
				run, ods, historyScale[run])
		}
	}
	for ods, n := range removedSeed {
		for i, run := range []int{2, 3} {
			for k := range n[i] {
				e.exec(ctx, `INSERT INTO slot_changes (run_id, ods_code, slot_id, change, start_at, local_date, duration_minutes, changed_at)
					SELECT $1, $2, $3, 'removed', '2026-11-30 09:00Z', '2026-11-30', 10, started_at + interval '10 seconds'
					FROM sync_runs WHERE id = $1`, run, ods, fmt.Sprintf("gone-%d-%d", run, k))
			}
		}
	}
}

// trendMinutes is a practice's seeded free minutes over the 14 days from
// from, scaled as the run saw them.
func (e *opsEnv) trendMinutes(ods, from string, scale int) int {
	start, _ := time.Parse(time.DateOnly, from)
	total := 0
	for i := range 14 {
		total += e.minutes[ods][start.AddDate(0, 0, i).Format(time.DateOnly)] * scale / 100
	}
	return total
}

func TestTrendPage(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	e.seedHistory(context.Background())
	session, _ := e.login(e.admin)
	res, body := e.get("/trend", "", "Cookie", session)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d:\n%s", res.StatusCode, body)
	}
	a1, a3 := e.trendMinutes(odsAbbey, "2026-11-21", 130), e.trendMinutes(odsAbbey, "2026-11-23", 100)
	c1 := e.trendMinutes(odsCastle, "2026-11-23", 130) // its run-1 snapshot, over the 14 days from run 3
	for _, want := range []string{
		`<th scope="col" class="n" title="sync run #1, Sat 21 Nov 2026 02:00">Sat 21 Nov<small>#1</small></th>`,
		fmt.Sprintf(`title="Abbey Medical Centre at sync run #1, Sat 21 Nov 2026 02:00: %s free minutes over the next 14 days">%s</td>`, num(a1), num(a1)),
		fmt.Sprintf(`title="Abbey Medical Centre at sync run #3, Mon 23 Nov 2026 02:00: %s free minutes over the next 14 days">%s</td>`, num(a3), num(a3)),
		// Castle's fetches failed in runs 2 and 3: its run-1 snapshot, marked as such.
		fmt.Sprintf(`<td class="n st" title="Castle Health Centre at sync run #3, Mon 23 Nov 2026 02:00: %s free minutes, from an earlier sync`, num(c1)),
		// Dale never synced: unknown, not zero.
		`title="Dale View Practice at sync run #3, Mon 23 Nov 2026 02:00: unknown (no successful sync yet)">?</td>`,
		fmt.Sprintf(`<td class="n down">▼ %d%%</td>`, (a1-a3)*100/a1),
		`<polyline points=`, `role="img"`,
		// Consumption: slots gone per day; Castle was not compared on the 22nd, Dale never.
		`title="Abbey Medical Centre, Sunday 22 November 2026: 5 slots gone between syncs (50 min), booked or withdrawn">5</td>`,
		`title="Brook Lane Surgery, Monday 23 November 2026: 4 slots gone between syncs (40 min), booked or withdrawn">4</td>`,
		`<td class="n nd" title="Castle Health Centre, Sunday 22 November 2026: unknown (no sync compared its capacity that day)">?</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("trend page lacks %s", want)
			if i := strings.Index(body, want[:40]); i >= 0 {
				t.Logf("near: %s", body[i:min(len(body), i+300)])
			}
		}
	}
}

func num(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func TestWeeklyReport(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	ctx := context.Background()
	e.seedHistory(ctx)
	e.exec(ctx, `UPDATE practices SET low_capacity_threshold_minutes = 2000 WHERE ods_code = $1`, odsBrook)
	session, _ := e.login(e.admin)
	res, body := e.get("/report", "", "Cookie", session)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d:\n%s", res.StatusCode, body)
	}
	week := 0
	for d := 23; d <= 29; d++ {
		week += e.minutes[odsAbbey][fmt.Sprintf("2026-11-%02d", d)]
	}
	for _, want := range []string{
		`9 Nov – 15 Nov`, `23 Nov – 29 Nov <small>this week</small>`, `14 Dec – 20 Dec`,
		`<td class="n wk" title="7 of 7 days known, 1 closed,`,
		`>` + num(week) + `</td>`,
		`threshold 2,000 min / 7 days`,
		`<a href="/report.csv?from=2026-11-09&amp;weeks=6" download>Download CSV</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %s", want)
			if i := strings.Index(body, "Download CSV"); i >= 0 {
				t.Logf("near: %s", body[i:min(len(body), i+200)])
			}
		}
	}
	// Brook's threshold (2,000 a week) is far above its ~600 a week: every open day is short.
	if !regexp.MustCompile(`<tr data-ods="B82002">.*?<td class="n short">6</td>`).MatchString(strings.ReplaceAll(body, "\n", "")) {
		t.Error("Brook's open days are not counted short against its threshold")
	}

	res, csvBody := e.get("/report.csv?from=2026-11-16&weeks=2", "", "Cookie", session)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(csvBody)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); !strings.HasPrefix(got, "week_start,week_end,ods_code,practice_name,free_minutes") {
		t.Errorf("csv header %s", got)
	}
	rows := map[string][]string{}
	for _, r := range recs[1:] {
		rows[r[0]+" "+r[2]] = r
	}
	// Runs 1 and 2 started on Sat 21 and Sun 22 Nov (the week of the 16th): Castle failed one.
	castle := rows["2026-11-16 C83003"]
	if castle == nil || castle[12] != "1" || castle[13] != "1" || castle[15] != "50" {
		t.Errorf("Castle, week of 16 Nov: %v; want 1 ok, 1 failed, 50%%", castle)
	}
	abbey := rows["2026-11-23 A81001"]
	if abbey == nil || abbey[4] != fmt.Sprint(week) || abbey[6] != "7" || abbey[15] != "100" {
		t.Errorf("Abbey, week of 23 Nov: %v; want %d free minutes, 7 days known, 100%%", abbey, week)
	}
	if dale := rows["2026-11-23 D84004"]; dale == nil || dale[6] != "0" || dale[15] != "" {
		t.Errorf("Dale, never synced: %v; want 0 days known and no reliability", dale)
	}
	if len(recs) != 1+4*2 {
		t.Errorf("%d csv rows, want a header and 4 practices x 2 weeks", len(recs))
	}
}
