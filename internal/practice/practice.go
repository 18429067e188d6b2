// Package practice holds the federation's member-practice registry model
// and its CSV import rules: every row is validated, every bad line is
// reported by number, and a file with any error imports nothing.
package practice

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gpfed/gpfed/internal/textrule"
	"github.com/gpfed/gpfed/internal/webhook"
)

// Practice is one member of the federation.
type Practice struct {
	ODSCode string
	Name    string
	// ASID and Endpoint are an optional override ("" = none): when set, the
	// practice is called at that FHIR service root with that Ssp-To instead
	// of what the Spine Directory Service says (test environments whose
	// endpoints SDS does not list). Both or neither.
	ASID       string
	Endpoint   string
	Active     bool
	WebhookURL string
	// WebhookSecret is the stored (sealed) secret when read from the
	// store; never set from a CSV file (gpfed generates secrets).
	WebhookSecret               string
	LowCapacityThresholdMinutes *int
	// RateLimitPerMinute bounds each of the practice's API keys; nil
	// follows GPFED_RATE_LIMIT_PER_MINUTE, 0 is unlimited.
	RateLimitPerMinute *int
	// Telephone is the practice's number, sent as the booking organisation's
	// telecom when it books appointments at other practices.
	Telephone string
	// TemporaryRegistration is the local agreement that gpfed may register
	// patients temporarily at this practice so that they can be booked
	// there (GP Connect Register a patient). nil: not set by the file.
	TemporaryRegistration *bool
	UpdatedAt             time.Time
}

// Required CSV columns, in any order; extra columns are allowed.
var Required = []string{"ods_code", "name"}

// Override columns: optional, but a file that has one must have both.
var Override = []string{"asid", "endpoint"}

// HasOverride reports whether the practice carries its own endpoint and
// ASID rather than relying on SDS discovery.
func (p Practice) HasOverride() bool { return p.Endpoint != "" && p.ASID != "" }

var (
	odsRe  = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	asidRe = regexp.MustCompile(`^[0-9]{12}$`)
	// phoneRe is lenient about spacing: UK numbers are written many ways.
	phoneRe = regexp.MustCompile(`^\+?[0-9][0-9 ]{5,24}$`)
)

// ValidODS reports whether code has the shape of an ODS organisation code
// as gpfed stores them: 3 to 10 upper-case letters and digits.
func ValidODS(code string) bool { return odsRe.MatchString(code) }

// ValidASID reports whether asid has the shape of a Spine Accredited System
// ID: 12 digits.
func ValidASID(asid string) bool { return asidRe.MatchString(asid) }

// LineError is one problem on one line of the CSV (1-based, header = 1).
type LineError struct {
	Line   int
	Column string
	Reason string
}

func (e LineError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Column, e.Reason)
}

// ImportError carries every problem found in a file.
type ImportError struct{ Lines []LineError }

func (e *ImportError) Error() string {
	parts := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		parts[i] = l.Error()
	}
	return fmt.Sprintf("%d problem(s) in practices CSV, nothing imported:\n  %s", len(e.Lines), strings.Join(parts, "\n  "))
}

// MaxNameChars bounds a practice name (ODS names are far shorter).
const MaxNameChars = 200

// Parser reads practices files under a webhook Policy.
type Parser struct {
	// Webhooks is where webhook URLs may point (https only, public
	// addresses only, unless the policy's development settings say
	// otherwise).
	Webhooks webhook.Policy
}

// ParseCSV reads a practices file under the production webhook policy.
func ParseCSV(r io.Reader) ([]Practice, error) { return Parser{}.Parse(r) }

// Parse reads and validates a practices file. On any problem it returns
// an *ImportError listing every bad line, and no practices.
func (ps Parser) Parse(r io.Reader) ([]Practice, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ImportError{Lines: []LineError{{Line: 1, Reason: "empty file: a header row is required"}}}
	}
	if err != nil {
		return nil, &ImportError{Lines: []LineError{{Line: 1, Reason: err.Error()}}}
	}
	cols, lerrs := columns(header)
	if len(lerrs) > 0 {
		return nil, &ImportError{Lines: lerrs}
	}
	var out []Practice
	seen := map[string]int{}
	line := 1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			lerrs = append(lerrs, LineError{Line: line, Reason: "unreadable CSV: " + err.Error()})
			continue
		}
		line, _ = cr.FieldPos(0) // a quoted field may span lines
		if isBlank(rec) {
			continue
		}
		if e, bad := checkEncoding(rec, header, line); bad {
			lerrs = append(lerrs, e)
			continue
		}
		p, errs := ps.parseRow(rec, cols, line)
		if first, dup := seen[p.ODSCode]; dup && p.ODSCode != "" {
			errs = append(errs, LineError{Line: line, Column: "ods_code", Reason: fmt.Sprintf("duplicate of line %d (%s)", first, p.ODSCode)})
		} else if p.ODSCode != "" {
			seen[p.ODSCode] = line
		}
		lerrs = append(lerrs, errs...)
		out = append(out, p)
	}
	if len(lerrs) > 0 {
		return nil, &ImportError{Lines: lerrs}
	}
	if len(out) == 0 {
		return nil, &ImportError{Lines: []LineError{{Line: 2, Reason: "no practices: the file has a header but no rows"}}}
	}
	return out, nil
}

// checkEncoding refuses a row that is not UTF-8, naming the line and the
// column (a spreadsheet saved as Latin-1 or Windows-1252 is the usual cause).
func checkEncoding(rec, header []string, line int) (LineError, bool) {
	for i, f := range rec {
		if utf8.ValidString(f) {
			continue
		}
		col := ""
		if i < len(header) {
			col = strings.ToLower(strings.TrimSpace(header[i]))
		}
		return LineError{Line: line, Column: col,
			Reason: "is not UTF-8 text (the file looks like Latin-1 or Windows-1252: save it as CSV UTF-8)"}, true
	}
	return LineError{}, false
}

func columns(header []string) (map[string]int, []LineError) {
	cols := map[string]int{}
	var errs []LineError
	for i, h := range header {
		if !utf8.ValidString(h) {
			errs = append(errs, LineError{Line: 1, Reason: "the header row is not UTF-8 text (save the file as CSV UTF-8)"})
			continue
		}
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := cols[h]; dup && h != "" {
			errs = append(errs, LineError{Line: 1, Column: h, Reason: "column appears twice"})
		}
		cols[h] = i
	}
	for _, r := range Required {
		if _, ok := cols[r]; !ok {
			errs = append(errs, LineError{Line: 1, Column: r, Reason: "required column missing (need " + strings.Join(Required, ",") + ")"})
		}
	}
	if _, ok := cols["webhook_secret"]; ok {
		errs = append(errs, LineError{Line: 1, Column: "webhook_secret", Reason: "gpfed generates webhook secrets: " +
			"remove this column (a practice's first webhook gets a generated secret, shown once; " +
			"`gpfed practices webhook --rotate ODS URL` replaces one)"})
	}
	_, hasASID := cols["asid"]
	_, hasEndpoint := cols["endpoint"]
	if hasASID != hasEndpoint {
		missing := "asid"
		if hasASID {
			missing = "endpoint"
		}
		errs = append(errs, LineError{Line: 1, Column: missing,
			Reason: "asid and endpoint are an override pair: give both columns or neither (SDS discovery)"})
	}
	return cols, errs
}

func (ps Parser) parseRow(rec []string, cols map[string]int, line int) (Practice, []LineError) {
	get := func(name string) string {
		i, ok := cols[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var errs []LineError
	bad := func(col, reason string) { errs = append(errs, LineError{Line: line, Column: col, Reason: reason}) }
	p := Practice{
		ODSCode:    strings.ToUpper(get("ods_code")),
		Name:       get("name"),
		ASID:       get("asid"),
		Endpoint:   get("endpoint"),
		Active:     true,
		WebhookURL: get("webhook_url"),
	}
	if !odsRe.MatchString(p.ODSCode) {
		bad("ods_code", fmt.Sprintf("%q is not an ODS code (3-10 letters and digits, e.g. A20047)", textrule.Printable(p.ODSCode)))
	}
	if reason := CheckName(p.Name); reason != "" {
		bad("name", reason)
	}
	checkOverride(p, bad)
	if p.WebhookURL != "" {
		if reason := ps.CheckWebhookURL(p.WebhookURL); reason != "" {
			bad("webhook_url", reason)
		}
	}
	p.Telephone = get("telephone")
	if p.Telephone != "" && !phoneRe.MatchString(p.Telephone) {
		bad("telephone", fmt.Sprintf("%q is not a telephone number (digits, spaces and + only, 6 to 20 digits)", textrule.Printable(p.Telephone)))
	}
	if v := get("temporary_registration"); v != "" {
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			bad("temporary_registration", fmt.Sprintf("%q is not true or false", textrule.Printable(v)))
		} else {
			p.TemporaryRegistration = &b
		}
	}
	p.LowCapacityThresholdMinutes = optCount(get("low_capacity_threshold_minutes"), "low_capacity_threshold_minutes",
		"a whole number of minutes >= 0", bad)
	p.RateLimitPerMinute = optCount(get("rate_limit_per_minute"), "rate_limit_per_minute",
		"a whole number of requests per minute >= 0 (0: unlimited)", bad)
	return p, errs
}

// optCount reads an optional non-negative whole number column.
func optCount(v, col, want string, bad func(col, reason string)) *int {
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		bad(col, fmt.Sprintf("%q is not %s", textrule.Printable(v), want))
		return nil
	}
	return &n
}

// CheckName explains what is wrong with a practice name, or "". Names are
// printed on terminals and pages, so they follow the free-text rules and
// a length bound.
func CheckName(s string) string {
	if n := utf8.RuneCountInString(s); n > MaxNameChars {
		return fmt.Sprintf("must be at most %d characters (got %d)", MaxNameChars, n)
	}
	if reason := textrule.Problem(s, false); reason != "" {
		return reason
	}
	if textrule.Blank(s) {
		return "must not be empty"
	}
	return ""
}

// CheckWebhookURL explains what is wrong with a webhook URL under the
// parser's policy, or "".
func (ps Parser) CheckWebhookURL(s string) string {
	if reason := checkURL(s); reason != "" {
		return reason
	}
	if err := ps.Webhooks.CheckURL(s); err != nil {
		return err.Error()
	}
	return ""
}

// checkOverride validates the optional endpoint/ASID pair: both empty (SDS
// discovery) or both valid.
func checkOverride(p Practice, bad func(col, reason string)) {
	if p.ASID == "" && p.Endpoint == "" {
		return
	}
	const pair = "set both asid and endpoint (an override) or neither (SDS discovery)"
	switch {
	case p.ASID == "":
		bad("asid", "empty while endpoint is set: "+pair)
	case !asidRe.MatchString(p.ASID):
		bad("asid", fmt.Sprintf("%q is not an ASID (12 digits)", p.ASID))
	}
	if p.Endpoint == "" {
		bad("endpoint", "empty while asid is set: "+pair)
	} else if reason := CheckEndpoint(p.Endpoint); reason != "" {
		bad("endpoint", reason)
	}
}

// CheckEndpoint explains what is wrong with a FHIR service root, or "". A
// root is used byte for byte (the SSP compares it with the directory), so a
// trailing slash is allowed and kept: SDS itself holds such roots.
func CheckEndpoint(s string) string {
	return checkURL(s)
}

func checkURL(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if textrule.Problem(s, false) != "" {
		return "must be a URL without control or invisible characters"
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q must be an absolute http(s) URL", s)
	}
	if u.Host == "" {
		return fmt.Sprintf("%q has no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, " \t") {
		return fmt.Sprintf("%q must not have a query, fragment or spaces", s)
	}
	return ""
}

func isBlank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}
