// Package audit is the federation admin's view of the access log: the
// filters both `gpfed audit` and GET /v1/audit accept, and the CSV an
// information-governance review receives. Records hold ids, codes and
// addresses, never patient data.
package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

// Filter parameters, as query parameters and (with -- in front) CLI flags.
var Params = []string{"from", "to", "practice", "key", "key_prefix", "action", "resource", "failures"}

var (
	actionRe = regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)
	prefixRe = regexp.MustCompile(`^gpfed_[A-Za-z0-9_-]{6}$`)
)

// ParseFilter reads the filter parameters in v. Times are RFC 3339 or UK
// calendar dates (YYYY-MM-DD: midnight in London; "to" is exclusive). It
// returns parameter -> reason for every bad one.
func ParseFilter(v url.Values, london *time.Location) (store.AccessFilter, map[string]string) {
	var f store.AccessFilter
	errs := map[string]string{}
	for _, name := range []string{"from", "to"} {
		if s := v.Get(name); s != "" {
			t, ok := parseTime(s, london)
			if !ok {
				errs[name] = "must be an RFC 3339 time or a date written YYYY-MM-DD"
				continue
			}
			if name == "from" {
				f.From = t
			} else {
				f.To = t
			}
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		errs["to"] = "must be after from"
	}
	if s := v.Get("practice"); s != "" {
		if f.ODSCode = strings.ToUpper(s); !practice.ValidODS(f.ODSCode) {
			errs["practice"] = "must be an ODS code"
		}
	}
	if s := v.Get("key"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			errs["key"] = "must be an API key id (a UUID)"
		}
		f.APIKeyID = id
	}
	if s := v.Get("key_prefix"); s != "" {
		if f.KeyPrefix = s; !prefixRe.MatchString(s) {
			errs["key_prefix"] = "must be a key prefix such as gpfed_AbC123"
		}
	}
	if s := v.Get("action"); s != "" {
		if f.Action = s; !actionRe.MatchString(s) {
			errs["action"] = "must be an action such as task.read or auth.failed"
		}
	}
	if s := v.Get("resource"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			errs["resource"] = "must be a resource id (a UUID)"
		}
		f.ResourceID = id.String()
	}
	switch v.Get("failures") {
	case "", "false":
	case "true":
		f.FailuresOnly = true
	default:
		errs["failures"] = "must be true or false"
	}
	return f, errs
}

func parseTime(s string, london *time.Location) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, london); err == nil && len(s) == len(time.DateOnly) {
		return t, true
	}
	return time.Time{}, false
}

// Header is the CSV header row.
var Header = []string{"id", "at", "actor_role", "ods_code", "api_key_id", "key_prefix", "action", "method", "route",
	"resource_ids", "status", "reason", "remote_addr", "forwarded_for"}

// CSVWriter writes access records as CSV, safe to open in a spreadsheet.
type CSVWriter struct{ w *csv.Writer }

// NewCSVWriter writes the header row and returns the writer.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	c := &CSVWriter{w: csv.NewWriter(w)}
	if err := c.w.Write(Header); err != nil {
		return nil, fmt.Errorf("write audit CSV header: %w", err)
	}
	return c, nil
}

// Write adds records.
func (c *CSVWriter) Write(recs []store.AccessRecord) error {
	for _, r := range recs {
		key := ""
		if r.APIKeyID != uuid.Nil {
			key = r.APIKeyID.String()
		}
		row := []string{strconv.FormatInt(r.ID, 10), r.At.UTC().Format(time.RFC3339Nano), r.ActorRole, r.ODSCode, key,
			r.KeyPrefix, r.Action, r.Method, r.Route, strings.Join(r.ResourceIDs, " "), strconv.Itoa(r.Status), r.Reason,
			r.RemoteAddr, r.ForwardedFor}
		for i := range row {
			row[i] = cell(row[i])
		}
		if err := c.w.Write(row); err != nil {
			return fmt.Errorf("write audit CSV: %w", err)
		}
	}
	return nil
}

// Flush ends the CSV.
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// cell defuses values a spreadsheet would run as a formula (a forwarded-for
// header is the client's to choose).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Writer takes pages of records (CSVWriter, JSONLines).
type Writer interface {
	Write(recs []store.AccessRecord) error
}

// JSONLines writes one JSON object per record and line.
type JSONLines struct{ enc *json.Encoder }

// NewJSONLines writes to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{enc: json.NewEncoder(w)} }

// Write adds records.
func (j *JSONLines) Write(recs []store.AccessRecord) error {
	for _, r := range recs {
		if err := j.enc.Encode(r); err != nil {
			return fmt.Errorf("write audit JSON: %w", err)
		}
	}
	return nil
}

// Export writes every record matching f, newest first, reading batch
// records at a time, at most max (0: no bound). It returns how many it
// wrote.
func Export(ctx context.Context, list func(store.AccessFilter) ([]store.AccessRecord, error), f store.AccessFilter, w Writer, batch, max int) (int, error) {
	n := 0
	f.Limit = batch
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		recs, err := list(f)
		if err != nil {
			return n, err
		}
		if max > 0 && n+len(recs) > max {
			recs = recs[:max-n]
		}
		if err := w.Write(recs); err != nil {
			return n, err
		}
		n += len(recs)
		if len(recs) < batch || (max > 0 && n >= max) {
			return n, nil
		}
		f.BeforeID = recs[len(recs)-1].ID
	}
}
