package api

import (
	"encoding/base64"
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
func parsePageQuery(r *http.Request, list string, extra ...string) (pageQuery, *requestError) {
	q, rerr := parseListQuery(r, extra...)
	if rerr != nil || !q.values.Has("cursor") {
		return q, rerr
	}
	key, ok := decodeCursor(list, q.values.Get("cursor"))
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

// A cursor is "<list>.<created_at unix µs>.<id>", base64url: opaque to
// clients, and tied to one list so it cannot be replayed against another.
func encodeCursor(list string, k store.PageKey) string {
	raw := list + "." + strconv.FormatInt(k.CreatedAt.UnixMicro(), 10) + "." + k.ID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(list, s string) (store.PageKey, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.PageKey{}, false
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != list {
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

// listPage trims the limit+1 rows a store list returned to limit and sets the
// cursor when there are more.
func listPage[T, J any](list string, rows []T, limit int, key func(T) store.PageKey, conv func(T) J) pageJSON[J] {
	out := pageJSON[J]{Items: make([]J, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		c := encodeCursor(list, key(rows[len(rows)-1]))
		out.NextCursor = &c
	}
	for _, r := range rows {
		out.Items = append(out.Items, conv(r))
	}
	return out
}
