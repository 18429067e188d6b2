package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var rowHeader = regexp.MustCompile(`<tr data-ods="([A-Z0-9]+)">`)

func TestHeatmapPage(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	session, _ := e.login(e.admin)
	res, body := e.get("/", "", "Cookie", session)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	var rows []string
	for _, m := range rowHeader.FindAllStringSubmatch(body, -1) {
		rows = append(rows, m[1])
	}
	if got, want := strings.Join(rows, ","), "A81001,B82002,C83003,D84004"; got != want {
		t.Errorf("heatmap rows %s, want %s (by name, active only)", got, want)
	}
	if n := strings.Count(body, `<th scope="col" class="d`); n != 28 {
		t.Errorf("%d day columns, want 28", n)
	}
	for _, want := range []string{
		`data-date="2026-11-23"`, `data-date="2026-12-20"`,
		cell("Abbey Medical Centre (A81001), Monday 23 November 2026", e.minutes[odsAbbey]["2026-11-23"], e.slots[odsAbbey]["2026-11-23"]),
		cell("Brook Lane Surgery (B82002), Saturday 28 November 2026", e.minutes[odsBrook]["2026-11-28"], e.slots[odsBrook]["2026-11-28"]),
		// Sundays are closed at every practice: quiet and labelled, not a red zero.
		regexp.QuoteMeta(`<td class="qc" title="Abbey Medical Centre (A81001), Sunday 29 November 2026: closed (nothing free, as on every such day)"><span class="cl-l">closed</span></td>`),
		// Unknown is never zero: Castle's stale snapshot ends on the 18th, Dale never synced.
		regexp.QuoteMeta(`<td class="nd" title="Castle Health Centre (C83003), Saturday 19 December 2026: unknown (no successful sync covers this date)">?</td>`),
		regexp.QuoteMeta(`title="Dale View Practice (D84004), Monday 23 November 2026: unknown`),
		regexp.QuoteMeta(`<td class="tot" title="Dale View Practice, next 28 days: unknown (no successful sync covers this date)">unknown</td>`),
		regexp.QuoteMeta(`<span class="badge bad" title="Last fetch failed; showing data from the last successful sync">stale</span>`),
		regexp.QuoteMeta(`<span class="badge warn" title="No fetch has succeeded: capacity unknown">never synced</span>`),
		regexp.QuoteMeta(`<option value="R0260">GP</option>`), regexp.QuoteMeta(`<option value="Telephone">Telephone</option>`),
	} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("heatmap lacks %s", want)
		}
	}
	// Filtered by role: GP minutes only, and the filter stays selected.
	_, body = e.get("/?role=R0260&channel=", "", "Cookie", session)
	for _, want := range []string{
		cell("Abbey Medical Centre (A81001), Monday 23 November 2026", e.roleMinutes[odsAbbey]["2026-11-23"], 8),
		regexp.QuoteMeta(`<option value="R0260" selected>GP</option>`),
	} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("filtered heatmap lacks %s", want)
		}
	}
}

// cell matches a heatmap cell with its title (minutes and slots, then the
// bar it is measured against) and its number.
func cell(what string, minutes, slots int) string {
	s := "slots"
	if slots == 1 {
		s = "slot"
	}
	return regexp.QuoteMeta(fmt.Sprintf(`title="%s: %d free minutes in %d %s`, what, minutes, slots, s)) +
		`[^"]*">` + fmt.Sprint(minutes) + `</td>`
}

func TestPracticePage(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	session, _ := e.login(e.admin)
	res, body := e.get("/practices/A81001", "", "Cookie", session)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, want := range []string{"Abbey Medical Centre", "Riverside Branch", "Main Surgery", "Staff Nurse", "In-person",
		"Telephone", `<th scope="colgroup"`, `role="img"`, `href="/sync/runs/3"`,
		fmt.Sprintf(`Monday 23 November 2026: %d free minutes`, e.minutes[odsAbbey]["2026-11-23"])} {
		if !strings.Contains(body, want) {
			t.Errorf("practice page lacks %q", want)
		}
	}
	_, body = e.get("/practices/c83003", "", "Cookie", session)
	for _, want := range []string{"Failing, serving stale data", "ACCESS_DENIED", "ASID not authorised for Slot search", "HTTP 403"} {
		if !strings.Contains(body, want) {
			t.Errorf("stale practice page lacks %q", want)
		}
	}
	// Dale never synced: its capacity is unknown, not "no free slots", and there is no 0-to-0 chart.
	_, body = e.get("/practices/D84004", "", "Cookie", session)
	if !strings.Contains(body, `id="unknown-capacity"`) || strings.Contains(body, "No free slots") || strings.Contains(body, `role="img"`) ||
		!strings.Contains(body, "Never synced, capacity unknown") {
		t.Errorf("never-synced practice page shows capacity as zero:\n%s", body)
	}
	for _, p := range []string{"/practices/X99999", "/practices/not-ods"} {
		if res, _ := e.get(p, "", "Cookie", session); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
}

func TestSyncPages(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	session, _ := e.login(e.admin)
	_, body := e.get("/sync", "", "Cookie", session)
	var order []string
	for _, m := range rowHeader.FindAllStringSubmatch(body, -1) {
		order = append(order, m[1])
	}
	if got := strings.Join(order, ","); got != "C83003,D84004,A81001,B82002" {
		t.Errorf("sync health order %s: failing and never-synced practices must come first", got)
	}
	for _, want := range []string{"2 need attention", "ACCESS_DENIED", "ASID not authorised", ">403<", `href="/sync/runs/3">#3</a> (manual)`} {
		if !strings.Contains(body, want) {
			t.Errorf("/sync lacks %q", want)
		}
	}
	_, body = e.get("/sync/runs/2", "", "Cookie", session)
	for _, want := range []string{"Sync run #2", "INTERNAL_SERVER_ERROR", "Provider system unavailable", ">503<"} {
		if !strings.Contains(body, want) {
			t.Errorf("/sync/runs/2 lacks %q", want)
		}
	}
	for p, status := range map[string]int{"/sync/runs/999": 404, "/sync/runs/x": 400} {
		if res, _ := e.get(p, "", "Cookie", session); res.StatusCode != status {
			t.Errorf("%s: %d, want %d", p, res.StatusCode, status)
		}
	}
}

func TestTasksPageShowsNoPatientData(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	session, _ := e.login(e.admin)
	res, body := e.get("/tasks", "", "Cookie", session)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, want := range []string{
		`id="undelivered">3<`, `id="oldest">2 h 0 min<`,
		"webhook answered 410 Gone: permanent failure", "gave up after 24h: webhook timed out",
		"webhook answered 404 Not Found", "sync.failed",
		`<th scope="row">accepted</th><td class="n">3</td>`, `<th scope="row">failed</th><td class="n">2</td>`,
		// Brook's endpoint: circuit open, 7 failures, 3 waiting, next probe at 10:35 UK.
		`<tr class="bad"><th scope="row"><a href="/practices/B82002">B82002</a></th><td>open</td>`,
		`<td class="n">7</td><td class="n">0</td><td class="n">3</td>`, "Mon 23 Nov 10:35",
		// The waiting task that failed attempts comes first, with its recipient, error and next attempt.
		`<td><a href="/practices/B82002">B82002</a></td><td>action-needed</td><td>urgent</td>`,
		"(circuit open)", "webhook answered 503",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/tasks lacks %q", want)
		}
	}
	for _, secret := range []string{seedNHS, seedSubject, seedBody, "Mrs Example", "chest pain"} {
		if strings.Contains(body, secret) {
			t.Errorf("/tasks shows patient data %q", secret)
		}
	}
}
