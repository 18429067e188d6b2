package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seedMoreRuns gives the extra practices of the screenshot federation a
// history (runs 1 to 3, all ok), so the trend and report pages show a
// realistic board.
func (e *opsEnv) seedMoreRuns(ctx context.Context) {
	e.t.Helper()
	var extra []string
	for _, m := range morePractices {
		extra = append(extra, m.ods)
		for run := 1; run <= 3; run++ {
			status := "ok"
			if m.ods == "L91016" && run == 2 {
				status = "failed"
			}
			e.exec(ctx, `INSERT INTO sync_run_practices (run_id, ods_code, status, attempts, slots, calls, duration_ms, finished_at)
				SELECT id, $2, $3, 1, 100, 2, 900, started_at + interval '20 seconds' FROM sync_runs WHERE id = $1`, run, m.ods, status)
		}
	}
	e.seedHistory(ctx, extra...)
}

// navigate loads url in the browser and waits for it.
func navigate(t *testing.T, c *cdp, url string) {
	t.Helper()
	n := c.loads
	if err := c.call("Page.navigate", map[string]any{"url": url}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.waitLoads(n, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// browserLogin signs in through the real login form.
func browserLogin(t *testing.T, c *cdp, e *opsEnv) {
	t.Helper()
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if err := c.call(m, map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	navigate(t, c, e.url+"/login")
	n := c.loads
	if err := c.eval(`document.getElementById('api_key').value = `+strconv.Quote(e.admin)+`;
		document.querySelector('button[type=submit]').click(); true`, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.waitLoads(n, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// screenshotPath is docs/NAME.png when the browser test is requested (CI),
// else a temporary file: casual runs leave the tree clean.
func screenshotPath(t *testing.T, name string) string {
	if os.Getenv(EnvBrowserTest) != "" {
		return filepath.Join("..", "..", "docs", name+".png")
	}
	return filepath.Join(t.TempDir(), name+".png")
}

// TestBrowserPlanning opens the trend and weekly report pages in headless
// Chromium: what they show against the seeded history, the report's print
// layout (no navigation, a landscape PDF) and the README's screenshots
// (docs/trend.png, docs/report.png).
func TestBrowserPlanning(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	e := newOpsEnv(t)
	ctx := context.Background()
	e.seedMorePractices(ctx)
	e.seedMoreRuns(ctx)
	c := startChromium(t, bin)
	browserLogin(t, c, e)

	navigate(t, c, e.url+"/trend")
	var raw string
	if err := c.eval(`JSON.stringify({
		rows: document.querySelectorAll('#trend tbody tr').length,
		runs: document.querySelectorAll("#trend thead th.n").length, // the runs and the change
		dots: document.querySelectorAll('svg.chart circle').length,
		abbey: [...document.querySelectorAll('#trend tr[data-ods=A81001] td.n')].map(td => td.textContent.trim()),
		dale: [...document.querySelectorAll('#trend tr[data-ods=D84004] td.n')].map(td => td.textContent.trim()),
		consumed: document.querySelector('#consumption-table tfoot td:last-child').textContent.trim()})`, &raw); err != nil {
		t.Fatal(err)
	}
	var trend struct {
		Rows, Runs, Dots int
		Abbey, Dale      []string
		Consumed         string
	}
	if err := json.Unmarshal([]byte(raw), &trend); err != nil {
		t.Fatal(err)
	}
	a1, a3 := e.trendMinutes(odsAbbey, "2026-11-21", 130), e.trendMinutes(odsAbbey, "2026-11-23", 100)
	if trend.Rows != 12 || trend.Runs != 3+1 || trend.Dots != 3 || len(trend.Abbey) != 4 ||
		trend.Abbey[0] != num(a1) || trend.Abbey[2] != num(a3) || !strings.HasPrefix(trend.Abbey[3], "▼") ||
		strings.Join(trend.Dale, ",") != "?,?,?,–" || trend.Consumed != "14" {
		t.Errorf("trend page in the browser: %+v (Abbey %d -> %d)", trend, a1, a3)
	}
	e.screenshot(t, c, screenshotPath(t, "trend"))

	navigate(t, c, e.url+"/report")
	var report struct {
		Rows, Weeks int
		Current     string
	}
	if err := c.eval(`JSON.stringify({rows: document.querySelectorAll('#report tbody tr').length,
		weeks: document.querySelectorAll('#report thead th[scope=colgroup]').length,
		current: document.querySelector('#report th.cur').textContent.trim()})`, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &report); err != nil {
		t.Fatal(err)
	}
	if report.Rows != 12 || report.Weeks != 6 || report.Current != "23 Nov – 29 Nov this week" {
		t.Errorf("report in the browser: %+v", report)
	}
	e.screenshot(t, c, screenshotPath(t, "report"))
	checkPrintable(t, c)
}

// pdfPage matches a page object of a PDF (not the /Pages tree).
var pdfPage = regexp.MustCompile(`/Type\s*/Page[^s]`)

// checkPrintable switches to print media: the navigation and the CSV link
// disappear, and the page prints as a PDF.
func checkPrintable(t *testing.T, c *cdp) {
	t.Helper()
	if err := c.call("Emulation.setEmulatedMedia", map[string]any{"media": "print"}, nil); err != nil {
		t.Fatal(err)
	}
	var hidden string
	if err := c.eval(`getComputedStyle(document.querySelector('header.top')).display + ',' +
		getComputedStyle(document.querySelector('.noprint')).display`, &hidden); err != nil {
		t.Fatal(err)
	}
	if hidden != "none,none" {
		t.Errorf("print media: header and CSV link display %q, want none,none", hidden)
	}
	if err := c.call("Emulation.setEmulatedMedia", map[string]any{"media": ""}, nil); err != nil {
		t.Fatal(err)
	}
	var pdf struct{ Data string }
	if err := c.call("Page.printToPDF", map[string]any{"preferCSSPageSize": true, "printBackground": true}, &pdf); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(pdf.Data)
	if err != nil || !strings.HasPrefix(string(b), "%PDF") {
		t.Fatalf("printToPDF gave no PDF (%d bytes, %v)", len(b), err)
	}
	pages := len(pdfPage.FindAll(b, -1))
	if pages < 1 || pages > 2 {
		t.Errorf("the report prints on %d pages, want 1 or 2 (A4 landscape)", pages)
	}
	t.Logf("report PDF: %d bytes, %d page(s)", len(b), pages)
	if dir := os.Getenv("GPFED_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "report.pdf"), b, 0o644)
	}
}
