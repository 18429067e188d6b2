package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/freeslot"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

// defaultSlotDays is the window GET /v1/slots covers without from/to.
const defaultSlotDays = 28

// listSlots answers GET /v1/slots: free slots across the federation from
// the snapshot, soonest first, in cursor pages. Filters: from/to (UK
// dates, inclusive), practice (comma-separated ODS codes), role (SDS job
// role code), channel (delivery channel). Slots a booking holds, and slots
// that have started, are left out.
func (s *Server) listSlots(w http.ResponseWriter, r *http.Request) {
	q, rerr := parseListQuery(r, "from", "to", "practice", "role", "channel")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	f, rerr := s.slotFilter(q)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	slots, err := s.DB.ListFreeSlots(r.Context(), f)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	out := pageJSON[freeslot.View]{Items: make([]freeslot.View, 0, min(len(slots), q.limit))}
	if len(slots) > q.limit {
		slots = slots[:q.limit]
		last := slots[len(slots)-1]
		c := encodeSlotCursor(store.SlotPageKey{StartAt: last.StartAt, ODS: last.HostODS, SlotID: last.SlotID})
		out.NextCursor = &c
	}
	for _, sl := range slots {
		out.Items = append(out.Items, freeslot.ToView(sl))
	}
	writeJSON(w, http.StatusOK, out)
}

// slotFilter validates the query of GET /v1/slots.
func (s *Server) slotFilter(q pageQuery) (store.SlotFilter, *requestError) {
	today := s.todayUK()
	f := store.SlotFilter{Now: s.Now(), From: today, To: today.AddDate(0, 0, defaultSlotDays-1), Limit: q.limit + 1}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if !q.values.Has(name) {
			continue
		}
		v := q.values.Get(name)
		d, err := time.ParseInLocation(time.DateOnly, v, london)
		if err != nil || len(v) != len(time.DateOnly) {
			return f, badParam(name, "must be a date written YYYY-MM-DD")
		}
		*dst = d
	}
	switch {
	case f.To.Before(f.From):
		return f, badParam("to", "must not be before from")
	case f.To.Sub(f.From) > 366*24*time.Hour:
		return f, badParam("to", "must be at most 366 days after from")
	}
	if q.values.Has("practice") {
		for _, ods := range strings.Split(q.values.Get("practice"), ",") {
			if !practice.ValidODS(ods) {
				return f, badParam("practice", "must be ODS codes (upper-case letters and digits), separated by commas")
			}
			f.Practices = append(f.Practices, ods)
		}
	}
	f.Role, f.DeliveryChannel = q.values.Get("role"), q.values.Get("channel")
	if q.values.Has("cursor") {
		key, ok := decodeSlotCursor(q.values.Get("cursor"))
		if !ok {
			return f, badParam("cursor", "is not a cursor from this list; pass next_cursor back unchanged")
		}
		f.After = &key
	}
	return f, nil
}

// A slot cursor is "slots.<start unix µs>.<ODS>.<slot id>", base64url:
// opaque to clients. Slot ids may contain dots; they come last.
func encodeSlotCursor(k store.SlotPageKey) string {
	raw := "slots." + strconv.FormatInt(k.StartAt.UnixMicro(), 10) + "." + k.ODS + "." + k.SlotID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeSlotCursor(s string) (store.SlotPageKey, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.SlotPageKey{}, false
	}
	parts := strings.SplitN(string(raw), ".", 4)
	if len(parts) != 4 || parts[0] != "slots" || !practice.ValidODS(parts[2]) || parts[3] == "" {
		return store.SlotPageKey{}, false
	}
	micros, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return store.SlotPageKey{}, false
	}
	return store.SlotPageKey{StartAt: time.UnixMicro(micros), ODS: parts[2], SlotID: parts[3]}, true
}

func writeBody(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }
