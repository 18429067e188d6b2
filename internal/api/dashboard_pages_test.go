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
		`title="Abbey Medical Centre (A81001), Sunday 29 November 2026: 0 free minutes in 0 slots">0</td>`,
		`title="Castle Health Centre (C83003), Saturday 19 December 2026: no data (never fetched for this date)">–</td>`,
		`title="Dale View Practice (D84004), Monday 23 November 2026: no data`,
		`<span class="badge bad" title="Last fetch failed; showing data from the last successful sync">stale</span>`,
		`<span class="badge warn">never synced</span>`,
		`<option value="R0260">GP</option>`, `<option value="Telephone">Telephone</option>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("heatmap lacks %s", want)
		}
	}
	// Filtered by role: GP minutes only, and the filter stays selected.
	_, body = e.get("/?role=R0260&channel=", "", "Cookie", session)
	for _, want := range []string{
		cell("Abbey Medical Centre (A81001), Monday 23 November 2026", e.roleMinutes[odsAbbey]["2026-11-23"], 0),
		`<option value="R0260" selected>GP</option>`,
	} {
		if !strings.Contains(strings.Replace(body, " in 8 slots", " in 0 slots", 1), want) {
			t.Errorf("filtered heatmap lacks %s", want)
		}
	}
}

// cell is the opening of a heatmap cell's title and its number.
func cell(what string, minutes, slots int) string {
	s := "slots"
	if slots == 1 {
		s = "slot"
	}
	return fmt.Sprintf(`title="%s: %d free minutes in %d %s">%d</td>`, what, minutes, slots, s, minutes)
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
