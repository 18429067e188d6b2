package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
)

const (
	defaultPageLimit = 50
	maxPageLimit     = 200
)

// pageQuery is the validated query of a list endpoint.
type pageQuery struct {
	limit  int
	after  *store.PageKey
	values url.Values
}

// parsePageQuery validates limit and cursor and refuses parameters not in
// extra (a misspelt filter must not silently return everything). Each
// parameter may appear once. list names the endpoint a cursor belongs to.
func (s *Server) parsePageQuery(r *http.Request, list string, extra ...string) (pageQuery, *requestError) {
	q, rerr := parseListQuery(r, extra...)
	if rerr != nil || !q.values.Has("cursor") {
		return q, rerr
	}
	mac, err := s.cursorMAC(r)
	if err != nil {
		return q, &requestError{status: http.StatusServiceUnavailable, detail: "the database is unreachable; retry later"}
	}
	key, ok := decodeCursor(mac, list, q.values.Get("cursor"))
	if !ok {
		return q, badParam("cursor", "is not a cursor from this list; pass next_cursor back unchanged")
	}
	q.after = &key
	return q, nil
}

// parseListQuery is parsePageQuery for lists with cursors of their own
// shape: it checks every parameter but leaves the cursor to the caller.
func parseListQuery(r *http.Request, extra ...string) (pageQuery, *requestError) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return pageQuery{}, &requestError{status: http.StatusBadRequest,
			detail: "the query string is malformed; percent-encode parameter values"}
	}
	q := pageQuery{limit: defaultPageLimit, values: values}
	allowed := map[string]bool{"limit": true, "cursor": true}
	for _, e := range extra {
		allowed[e] = true
	}
	for name, vals := range q.values {
		if !allowed[name] {
			return q, badParam(quoteField(name), "is not a parameter of this endpoint")
		}
		if len(vals) > 1 {
			return q, badParam(name, "must be given at most once")
		}
	}
	if v := q.values.Get("limit"); q.values.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			return q, badParam("limit", "must be a whole number from 1 to "+strconv.Itoa(maxPageLimit))
		}
		q.limit = n
	}
	return q, nil
}

func badParam(name, reason string) *requestError {
	return &requestError{status: http.StatusBadRequest, detail: "query parameter " + name + " " + reason,
		fields: map[string]string{name: reason}}
}

// A cursor is base64url("<list>.<created_at unix µs>.<id>.<mac>"): opaque
// to clients, tied to one list and one practice, and signed with a key
// every replica shares (store.SigningKey), so a cursor gpfed did not issue
// is a 400 however well-formed it is.
func encodeCursor(mac cursorSigner, list string, k store.PageKey) string {
	raw := list + "." + strconv.FormatInt(k.CreatedAt.UnixMicro(), 10) + "." + k.ID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw + "." + mac(raw)))
}

func decodeCursor(mac cursorSigner, list, s string) (store.PageKey, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.PageKey{}, false
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != list {
		return store.PageKey{}, false
	}
	body := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(parts[3]), []byte(mac(body))) {
		return store.PageKey{}, false
	}
	micros, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return store.PageKey{}, false
	}
	id, err := uuid.Parse(parts[2])
	if err != nil {
		return store.PageKey{}, false
	}
	return store.PageKey{CreatedAt: time.UnixMicro(micros), ID: id}, true
}

// cursorSigner MACs a cursor body for the calling practice.
type cursorSigner func(body string) string

// cursorMAC returns the signer for r's caller: HMAC-SHA256 over the
// caller's ODS code and the cursor body, truncated to 128 bits.
func (s *Server) cursorMAC(r *http.Request) (cursorSigner, error) {
	key, err := s.loadCursorKey(r)
	if err != nil {
		return nil, err
	}
	who := caller(r).ODSCode
	return func(body string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(who + "\x00" + body))
		return hex.EncodeToString(m.Sum(nil)[:16])
	}, nil
}

// loadCursorKey reads the shared cursor key once (a failure is retried by
// the next request).
func (s *Server) loadCursorKey(r *http.Request) ([]byte, error) {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	if s.cursorKey != nil {
		return s.cursorKey, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	key, err := s.DB.SigningKey(ctx, "cursor")
	if err != nil {
		return nil, err
	}
	s.cursorKey = key
	return key, nil
}

// writeListPage answers a list endpoint with the page of rows (listPage),
// naming every item on it in the request's access record.
func writeListPage[T, J any](s *Server, w http.ResponseWriter, r *http.Request, list string, rows []T, limit int,
	key func(T) store.PageKey, conv func(T) J, id func(J) string) {
	page, err := listPage(r, s, list, rows, limit, key, conv)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	for _, it := range page.Items {
		auditResources(r, id(it))
	}
	writeJSON(w, http.StatusOK, page)
}

// listPage trims the limit+1 rows a store list returned to limit and sets the
// cursor when there are more.
func listPage[T, J any](r *http.Request, s *Server, list string, rows []T, limit int, key func(T) store.PageKey, conv func(T) J) (pageJSON[J], error) {
	out := pageJSON[J]{Items: make([]J, 0, min(len(rows), limit))}
	if len(rows) > limit {
		mac, err := s.cursorMAC(r)
		if err != nil {
			return out, err
		}
		rows = rows[:limit]
		c := encodeCursor(mac, list, key(rows[len(rows)-1]))
		out.NextCursor = &c
	}
	for _, r := range rows {
		out.Items = append(out.Items, conv(r))
	}
	return out, nil
}
