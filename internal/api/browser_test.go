package api_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/practice"
)

// EnvBrowserTest makes the browser test mandatory (CI sets it and installs chromium).
const EnvBrowserTest = "GPFED_BROWSER_TEST"

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(EnvBrowserTest) != "" {
		t.Fatalf("%s is set but no chromium is installed (apt-get install -y chromium)", EnvBrowserTest)
	}
	t.Skipf("browser test skipped: chromium is not installed and %s is unset (apt-get install -y chromium to run it)", EnvBrowserTest)
	return ""
}

var devtoolsLine = regexp.MustCompile(`DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)`)

// startChromium launches a headless browser and returns a DevTools client
// attached to its first page.
func startChromium(t *testing.T, bin string) *cdp {
	t.Helper()
	// The profile directory is ours to remove: chromium's helper processes
	// can still be writing to it when the browser itself has gone, which
	// t.TempDir's cleanup reports as a failure.
	profile, err := os.MkdirTemp("", "gpfed-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--font-render-hinting=none",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--window-size=1600,1000", "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Its own process group, so that cleanup stops the renderers and helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		os.RemoveAll(profile)
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		for i := 0; os.RemoveAll(profile) != nil && i < 50; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsLine.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[2]
			}
		}
	}()
	var p string
	select {
	case p = <-port:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not announce its DevTools port within 30 s")
	}
	res, err := http.Get("http://127.0.0.1:" + p + "/json/list")
	if err != nil {
		t.Fatalf("devtools targets: %v", err)
	}
	defer res.Body.Close()
	var targets []struct{ Type, WebSocketDebuggerURL string }
	if err := json.NewDecoder(res.Body).Decode(&targets); err != nil {
		t.Fatalf("decode devtools targets: %v", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			c, err := dialCDP(tg.WebSocketDebuggerURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
	}
	t.Fatalf("no page target among %+v", targets)
	return nil
}

// morePractices widens the seeded federation so the screenshot shows a
// realistic board: name, ODS code, list size factor.
var morePractices = []struct {
	ods, name string
	base      int
}{
	{"E85010", "Elmwood Family Practice", 14}, {"F86011", "Fairfield Health Centre", 9},
	{"G87012", "Greenway Surgery", 4}, {"H88013", "Harbour View Medical Group", 16},
	{"J89014", "Jubilee Street Practice", 7}, {"K90015", "Kingsmead Surgery", 11},
	{"L91016", "Lakeside Medical Centre", 2}, {"M92017", "Millbrook Partnership", 13},
}

func (e *opsEnv) seedMorePractices(ctx context.Context) {
	e.t.Helper()
	ps, err := e.db.ListPractices(ctx, true)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range morePractices {
		ps = append(ps, practice.Practice{ODSCode: m.ods, Name: m.name, ASID: "918999198993",
			Endpoint: "https://gp.example/" + m.ods + "/STU3/1/gpconnect"})
	}
	if _, err := e.db.ImportPractices(ctx, ps, false); err != nil {
		e.t.Fatal(err)
	}
	london, _ := time.LoadLocation("Europe/London")
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, london)
	for j, m := range morePractices {
		e.minutes[m.ods], e.slots[m.ods] = map[string]int{}, map[string]int{}
		for i := 0; i < 28; i++ {
			d := from.AddDate(0, 0, i)
			n := m.base + (i*7+j*3)%5
			switch d.Weekday() {
			case time.Saturday:
				n /= 4
			case time.Friday:
				n = n * 2 / 3
			}
			if i < 3 && m.base < 5 {
				n = 0 // a practice fully booked for the next few days
			}
			date := d.Format(time.DateOnly)
			for k, s := range patternSlots(m.ods, n, d) {
				start := d.Add(time.Duration(8*60+k*15) * time.Minute)
				e.exec(ctx, `INSERT INTO slots (ods_code, slot_id, start_at, end_at, local_date, duration_minutes, site_name,
					role_code, role_display, delivery_channel, first_seen_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())`,
					m.ods, fmt.Sprintf("%s-%d-%d", m.ods, i, k), start, start.Add(time.Duration(s.minutes)*time.Minute), date,
					s.minutes, s.site, s.role, s.roleDisplay, s.channel)
				e.minutes[m.ods][date] += s.minutes
				e.slots[m.ods][date]++
			}
		}
		e.exec(ctx, `INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, last_success_at, window_from, window_to, slot_count)
			VALUES ($1, 3, '2026-11-23 02:00:20Z', '2026-11-23 02:00:20Z', '2026-11-23', '2026-12-21',
				(SELECT count(*) FROM slots WHERE ods_code = $1))`, m.ods)
		e.exec(ctx, `INSERT INTO capacity_daily (ods_code, local_date, free_slots, free_minutes)
			SELECT ods_code, local_date, count(*), sum(duration_minutes) FROM slots WHERE ods_code = $1 GROUP BY 1, 2`, m.ods)
	}
	// Two practices have a low-capacity threshold (900 free minutes a week) that they miss.
	e.exec(ctx, `UPDATE practices SET low_capacity_threshold_minutes = 900 WHERE ods_code IN ('G87012', 'L91016')`)
}

type heatmapDOM struct {
	Path  string     `json:"path"`
	Dates []string   `json:"dates"`
	Rows  []heatRowD `json:"rows"`
}

type heatRowD struct {
	ODS   string   `json:"ods"`
	Cells []string `json:"cells"`
}

const readHeatmap = `JSON.stringify({
	path: location.pathname,
	dates: [...document.querySelectorAll('#heatmap thead th[data-date]')].map(th => th.dataset.date),
	rows: [...document.querySelectorAll('#heatmap tbody tr')].map(tr => ({
		ods: tr.dataset.ods,
		cells: [...tr.querySelectorAll('td:not(.tot)')].map(td => td.textContent.trim())}))})`

// TestBrowserDashboard logs in through the real form in headless Chromium,
// checks the heatmap against the seeded database and saves the screenshot
// the README shows (docs/dashboard.png, when GPFED_BROWSER_TEST is set).
func TestBrowserDashboard(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	e := newOpsEnv(t)
	e.seedMorePractices(context.Background())
	c := startChromium(t, bin)
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if err := c.call(m, map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
	}

	// An unauthenticated visit lands on the login form.
	n := c.loads
	if err := c.call("Page.navigate", map[string]any{"url": e.url + "/"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.waitLoads(n, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var path string
	if err := c.eval("location.pathname", &path); err != nil || path != "/login" {
		t.Fatalf("first page = %q (%v), want /login", path, err)
	}

	// Sign in by typing the admin key and pressing the button.
	n = c.loads
	if err := c.eval(`document.getElementById('api_key').value = `+strconv.Quote(e.admin)+`;
		document.querySelector('button[type=submit]').click(); true`, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.waitLoads(n, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := c.eval(readHeatmap, &raw); err != nil {
		t.Fatal(err)
	}
	got := heatmapDOM{}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e.expectedHeatmap(), got); diff != "" {
		t.Errorf("heatmap in the browser (-want +got):\n%s", diff)
	}
	checkNoClipping(t, c)
	// The stylesheet is allowed by its CSP hash; a mismatch would leave the page unstyled.
	var bg string
	if err := c.eval(`getComputedStyle(document.querySelector('header.top')).backgroundColor`, &bg); err != nil || bg != "rgb(11, 79, 138)" {
		t.Errorf("header background %q (%v): the inline stylesheet was blocked", bg, err)
	}
	// docs/dashboard.png (shown by the README) is rewritten when the browser
	// test is requested explicitly, as CI does; casual runs leave the tree clean.
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv(EnvBrowserTest) != "" {
		shot = filepath.Join("..", "..", "docs", "dashboard.png")
	}
	e.screenshot(t, c, shot)
	if dir := os.Getenv("GPFED_SCREENSHOT_DIR"); dir != "" { // for reviewing the other pages by eye
		for name, p := range map[string]string{"practice": "/practices/" + odsAbbey, "sync": "/sync", "tasks": "/tasks", "run": "/sync/runs/3"} {
			n := c.loads
			if err := c.call("Page.navigate", map[string]any{"url": e.url + p}, nil); err != nil {
				t.Fatal(err)
			}
			if err := c.waitLoads(n, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			e.screenshot(t, c, filepath.Join(dir, name+".png"))
		}
	}
}

// expectedHeatmap is what the seeded database must show: active practices
// by name, 28 days from Monday 23 November 2026, free minutes per cell.
func (e *opsEnv) expectedHeatmap() heatmapDOM {
	want := heatmapDOM{Path: "/"}
	london, _ := time.LoadLocation("Europe/London")
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, london)
	for i := 0; i < 28; i++ {
		want.Dates = append(want.Dates, from.AddDate(0, 0, i).Format(time.DateOnly))
	}
	names := map[string]string{}
	for k, v := range seedNames {
		names[k] = v
	}
	for _, m := range morePractices {
		names[m.ods] = m.name
	}
	order := []string{odsAbbey, odsBrook, odsCastle, odsDale}
	for _, m := range morePractices {
		order = append(order, m.ods)
	}
	sortByName(order, names)
	for _, ods := range order {
		row := heatRowD{ODS: ods}
		for _, d := range want.Dates {
			day, _ := time.Parse(time.DateOnly, d)
			switch {
			case ods == odsDale || (ods == odsCastle && d >= "2026-12-19"):
				row.Cells = append(row.Cells, "?") // unknown, never a zero
			case day.Weekday() == time.Sunday:
				row.Cells = append(row.Cells, "closed") // every practice's Sundays are empty
			default:
				row.Cells = append(row.Cells, strconv.Itoa(e.minutes[ods][d]))
			}
		}
		want.Rows = append(want.Rows, row)
	}
	return want
}

// checkNoClipping narrows the window to 1400 px, where stale and
// never-synced badges once pushed the Total column out of view, and
// checks that the heatmap fits its box: no horizontal scrolling, the Total
// column and the last day wholly visible.
func checkNoClipping(t *testing.T, c *cdp) {
	t.Helper()
	if err := c.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1400, "height": 1000,
		"deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.call("Emulation.clearDeviceMetricsOverride", map[string]any{}, nil) }()
	var fit struct {
		ScrollWidth, ClientWidth, WrapRight, TotalRight, Viewport float64
		Badges                                                    int
	}
	var raw string
	if err := c.eval(`(() => { const w = document.querySelector('.wrap'), tot = document.querySelector('#heatmap thead th.tot');
		return JSON.stringify({ScrollWidth: w.scrollWidth, ClientWidth: w.clientWidth, WrapRight: w.getBoundingClientRect().right,
			TotalRight: tot.getBoundingClientRect().right, Viewport: document.documentElement.clientWidth,
			Badges: document.querySelectorAll('#heatmap .badge').length}); })()`, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &fit); err != nil {
		t.Fatal(err)
	}
	if fit.Badges < 2 || fit.ScrollWidth > fit.ClientWidth || fit.TotalRight > fit.WrapRight || fit.WrapRight > fit.Viewport {
		t.Errorf("at 1400 px with %d badges the heatmap clips: %+v", fit.Badges, fit)
	}
	t.Logf("at 1400 px: table %v px in a %v px box, Total column ends at %v of %v", fit.ScrollWidth, fit.ClientWidth, fit.TotalRight, fit.WrapRight)
}

func sortByName(codes []string, names map[string]string) {
	for i := 1; i < len(codes); i++ {
		for j := i; j > 0 && names[codes[j]] < names[codes[j-1]]; j-- {
			codes[j], codes[j-1] = codes[j-1], codes[j]
		}
	}
}

func (e *opsEnv) screenshot(t *testing.T, c *cdp, path string) {
	t.Helper()
	// Measure the page at the window's own size, not a previous override's.
	if err := c.call("Emulation.clearDeviceMetricsOverride", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	var height int
	if err := c.eval(`Math.ceil(document.documentElement.scrollHeight)`, &height); err != nil {
		t.Fatal(err)
	}
	if err := c.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1600, "height": height,
		"deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	var shot struct{ Data string }
	if err := c.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || len(png) < 1000 || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("screenshot is not a PNG (%d bytes, %v)", len(png), err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes, 1600x%d)", path, len(png), height)
}
