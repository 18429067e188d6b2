package api_test

import (
	"context"
	"testing"
	"time"
)

func TestListSlotsPagesSoonestFirst(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{noWorker: true})
	var total int
	if err := f.fed.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM slots WHERE start_at > now()`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var prev time.Time
	query := "limit=37"
	for pages := 0; ; pages++ {
		p := f.slots(query)
		for _, s := range p.Items {
			start, err := time.Parse(time.RFC3339, s.Start)
			if err != nil {
				t.Fatalf("start %q: %v", s.Start, err)
			}
			if start.Before(prev) {
				t.Fatalf("slot %s starts before the one listed before it", s.ID)
			}
			prev = start
			if seen[s.ID] {
				t.Fatalf("slot %s listed twice", s.ID)
			}
			seen[s.ID] = true
			if s.AsOf == nil || s.Practice.Name == "" || s.Minutes <= 0 || s.Location == nil {
				t.Fatalf("slot %+v lacks as_of, practice name, minutes or location", s)
			}
		}
		if p.NextCursor == nil {
			break
		}
		query = "limit=37&cursor=" + *p.NextCursor
		if pages > 1000 {
			t.Fatal("too many pages")
		}
	}
	if len(seen) != total {
		t.Errorf("listed %d slots, the snapshot has %d future ones", len(seen), total)
	}
}

func TestListSlotsFilters(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{noWorker: true})
	host := f.ods[2]
	all := f.slots("practice=" + host + "&limit=200").Items
	if len(all) == 0 {
		t.Fatal("no slots")
	}
	first := all[0]
	role, channel := first.Role.Code, *first.DeliveryChannel
	for _, s := range f.slots("role=" + role + "&channel=" + channel + "&limit=200").Items {
		if s.Role == nil || s.Role.Code != role || s.DeliveryChannel == nil || *s.DeliveryChannel != channel {
			t.Errorf("filtered list has %+v", s)
		}
	}
	day := first.Start[:10]
	for _, s := range f.slots("from=" + day + "&to=" + day + "&practice=" + host + "," + f.ods[3]).Items {
		if s.Start[:10] != day || (s.Practice.ID != host && s.Practice.ID != f.ods[3]) {
			t.Errorf("slot %s on %s at %s", s.ID, s.Start, s.Practice.ID)
		}
	}
	if res := f.do("GET", "/v1/slots?limit=1", f.keys["admin"], ""); res.status != 200 {
		t.Errorf("admin key: %d", res.status)
	}
	for q, want := range map[string]string{
		"from=2026-13-01":               "from: must be a date",
		"from=2030-01-02&to=2030-01-01": "to: must not be before from",
		"practice=a20047":               "practice: must be ODS codes",
		"cursor=abc":                    "cursor: is not a cursor",
		"rolle=R0260":                   "rolle: is not a parameter",
		"limit=0":                       "limit: must be a whole number",
	} {
		res := f.do("GET", "/v1/slots?"+q, f.keys[f.ods[0]], "")
		if res.status != 400 || !contains(res.reason(t), want) {
			t.Errorf("%s: %d %s", q, res.status, res.body)
		}
	}
	if res := f.do("POST", "/v1/slots", f.keys[f.ods[0]], "{}"); res.status != 405 {
		t.Errorf("POST /v1/slots: %d", res.status)
	}
}
