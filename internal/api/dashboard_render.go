package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed web/*.html web/style.css
var webFS embed.FS

var (
	styleCSS = mustRead("web/style.css")
	// csp allows nothing but this exact stylesheet, inline SVG and same-origin
	// forms: no scripts, no external fetches, no framing.
	csp = "default-src 'none'; style-src 'sha256-" + cssHash(styleCSS) + "'; img-src data:; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	pages = parsePages("login", "error", "heatmap", "practice", "sync", "run", "tasks", "trend", "report")
)

func mustRead(name string) string {
	b, err := webFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func cssHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func parsePages(names ...string) map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, n := range names {
		out[n] = template.Must(template.New("layout.html").Funcs(viewFuncs).ParseFS(webFS, "web/layout.html", "web/"+n+".html"))
	}
	return out
}

// pageBase is what the layout needs on every page.
type pageBase struct {
	Title     string
	Nav       string // heatmap | trend | report | sync | tasks
	CSS       template.CSS
	SignedIn  bool
	KeyPrefix string
	KeyLabel  string
	CSRFToken string
	Generated string
}

func (p *pageBase) base() *pageBase { return p }

type page interface{ base() *pageBase }

// render executes a page into a buffer first, so a template error becomes
// a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v page) {
	b := v.base()
	b.CSS = template.CSS(styleCSS)
	b.Generated = s.Now().In(london).Format("Mon 2 Jan 2006 15:04 MST")
	if sess := sessionOf(r.Context()); sess.CSRFToken != "" {
		b.SignedIn, b.KeyPrefix, b.KeyLabel, b.CSRFToken = true, sess.KeyPrefix, sess.KeyLabel, sess.CSRFToken
	}
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, v); err != nil {
		s.Log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorView struct {
	pageBase
	Heading, Message string
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	s.render(w, r, status, "error", &errorView{pageBase: pageBase{Title: heading}, Heading: heading, Message: msg})
}

// pageUnavailable is the dashboard's counterpart of unavailable().
func (s *Server) pageUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	if dbUnavailable(err) {
		w.Header().Set("Retry-After", "5")
		s.renderError(w, r, http.StatusServiceUnavailable, "Database unavailable",
			"gpfed cannot reach its database right now. Reload in a few seconds.")
		return
	}
	s.Log.ErrorContext(r.Context(), "dashboard request failed", "path", r.URL.Path, "error", err)
	s.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "The page could not be built; the error was logged.")
}

var viewFuncs = template.FuncMap{
	"ukTime":      ukTime,
	"ago":         func(now time.Time, t *time.Time) string { return agoText(now, t) },
	"ms":          msText,
	"deref":       func(p *int) string { return optInt(p) },
	"plural":      plural,
	"upper":       strings.ToUpper,
	"num":         numText,
	"roleName":    roleName,
	"runDuration": runDuration,
	"shortError":  shortError,
}

// ukTime formats a time.Time or *time.Time in UK local time; nil is a dash.
func ukTime(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "—"
	}
	return t.In(london).Format("Mon 2 Jan 15:04")
}

func agoText(now time.Time, t *time.Time) string {
	if t == nil {
		return "—"
	}
	return durationText(now.Sub(*t))
}

// durationText is a short human duration: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
func durationText(d time.Duration) string {
	switch {
	case d < 0:
		return "0 s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d %d h", int(d.Hours())/24, int(d.Hours())%24)
}

func msText(p *int) string {
	if p == nil {
		return "—"
	}
	if *p < 10_000 {
		return fmt.Sprintf("%.1f s", float64(*p)/1000)
	}
	return durationText(time.Duration(*p) * time.Millisecond)
}

func optInt(p *int) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprint(*p)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%s %s", numText(n), many)
}

// numText groups thousands with commas.
func numText(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + numText(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// knownRoles names the SDS job roles GP Connect providers commonly send.
var knownRoles = map[string]string{
	"R0260": "GP", "R0270": "Salaried GP", "R0620": "Staff Nurse", "R0610": "Nurse",
	"R1480": "Healthcare Assistant", "R1290": "Pharmacist", "R0690": "Practice Nurse",
	"unspecified": "Unspecified role",
}

func roleName(code string) string {
	if n, ok := knownRoles[code]; ok {
		return n
	}
	return code
}
