package sim

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSlotSearchReturnsExpectedSlots(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 3, Seed: 7})
	start := testNow
	end := start.Add(14 * 24 * time.Hour)
	for _, p := range f.Practices() {
		t.Run(p.ODS, func(t *testing.T) {
			resp, body := validCall(p, start, end).do(t, srv.Client(), p)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
				t.Errorf("Content-Type %q", ct)
			}
			b, heads := parseBundle(t, body)
			if b.ResourceType != "Bundle" || b.Type != "searchset" {
				t.Fatalf("not a searchset: %s %s", b.ResourceType, b.Type)
			}
			want := f.ExpectedFreeSlots(p.ODS, start, end)
			if got := countType(heads, "Slot"); got != want || want == 0 {
				t.Errorf("slots = %d, want ExpectedFreeSlots %d (> 0)", got, want)
			}
			checkSlotsShape(t, heads, start, end)
			for _, typ := range []string{"Schedule", "Practitioner", "Location"} {
				if countType(heads, typ) == 0 {
					t.Errorf("no %s entries", typ)
				}
			}
			if countType(heads, "Organization") != 1 {
				t.Errorf("want exactly one Organization")
			}
		})
	}
}

// checkSlotsShape checks each Slot is free, inside the window, carries the UK offset of its date
// and references a Schedule present in the Bundle, and that every Schedule actor resolves.
func checkSlotsShape(t *testing.T, heads []resourceHead, start, end time.Time) {
	t.Helper()
	present := map[string]bool{}
	for _, h := range heads {
		present[h.ResourceType+"/"+h.ID] = true
	}
	ids := map[string]bool{}
	for _, h := range heads {
		switch h.ResourceType {
		case "Slot":
			if ids[h.ID] {
				t.Errorf("duplicate slot id %s", h.ID)
			}
			ids[h.ID] = true
			checkSlot(t, h, start, end)
			if !present[h.Schedule.Reference] {
				t.Errorf("slot %s references missing %s", h.ID, h.Schedule.Reference)
			}
		case "Schedule":
			for _, a := range h.Actor {
				if !present[a.Reference] {
					t.Errorf("schedule %s actor %s missing", h.ID, a.Reference)
				}
			}
		}
	}
}

func checkSlot(t *testing.T, h resourceHead, start, end time.Time) {
	t.Helper()
	s, err1 := time.Parse(fhirDateTime, h.Start)
	e, err2 := time.Parse(fhirDateTime, h.End)
	if err1 != nil || err2 != nil {
		t.Fatalf("slot %s times %q %q", h.ID, h.Start, h.End)
	}
	if s.Before(start) || e.After(end) || h.Status != "free" {
		t.Errorf("slot %s %s-%s status %s outside window or not free", h.ID, h.Start, h.End, h.Status)
	}
	if want := s.In(london).Format("-07:00"); !strings.HasSuffix(h.Start, want) {
		t.Errorf("slot %s start %s lacks UK offset %s", h.ID, h.Start, want)
	}
	if d := e.Sub(s); d != 10*time.Minute && d != 15*time.Minute {
		t.Errorf("slot %s lasts %s", h.ID, d)
	}
	for _, x := range h.Extension {
		if x.URL == extDeliveryChannel && x.ValueCode != "In-person" && x.ValueCode != "Telephone" && x.ValueCode != "Video" {
			t.Errorf("slot %s delivery channel %q", h.ID, x.ValueCode)
		}
	}
}

func TestSlotSearchIncludes(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 7})
	p := f.Practices()[0]
	c := validCall(p, testNow, testNow.AddDate(0, 0, 7))
	c.dropParam("_include:recurse")
	resp, body := c.do(t, srv.Client(), p)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	_, heads := parseBundle(t, body)
	if countType(heads, "Practitioner")+countType(heads, "Location") != 0 {
		t.Errorf("Practitioner/Location returned without _include:recurse")
	}
	if countType(heads, "Schedule") == 0 || countType(heads, "Organization") != 1 {
		t.Errorf("Schedule and Organization must always come with slots")
	}
}

func TestSlotSearchEmptyOutsideHorizon(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 7, Days: 7})
	p := f.Practices()[0]
	start := testNow.AddDate(0, 0, 8)
	resp, body := validCall(p, start, start.AddDate(0, 0, 5)).do(t, srv.Client(), p)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if want := `{"resourceType":"Bundle","type":"searchset","entry":[]}`; string(body) != want {
		t.Errorf("body = %s, want %s", body, want)
	}
}

func TestRestrictedSlotsNeedMatchingSearchFilter(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 7})
	p := f.Practices()[0]
	start, end := testNow, testNow.Add(14*24*time.Hour)
	count := func(filters ...string) int {
		c := validCall(p, start, end)
		c.dropParam("searchFilter")
		for _, v := range filters {
			c.params = append(c.params, [2]string{"searchFilter", v})
		}
		resp, body := c.do(t, srv.Client(), p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		_, heads := parseBundle(t, body)
		return countType(heads, "Slot")
	}
	none := count()
	gp := count(systemOrgType + "|gp-practice")
	urgent := count(systemOrgType + "|urgent-care")
	partner := count(systemODS+"|"+f.RestrictedODS(), systemOrgType+"|gp-practice")
	if none >= gp || none >= urgent || gp >= partner {
		t.Errorf("want none < gp-practice, none < urgent-care, gp-practice < restricted org; got %d %d %d %d", none, gp, urgent, partner)
	}
	if want := f.CountFreeSlots(p.ODS, start, end, SearchFilter{}); none != want {
		t.Errorf("no filter: %d slots, CountFreeSlots says %d", none, want)
	}
	if want := f.ExpectedFreeSlots(p.ODS, start, end); gp != want {
		t.Errorf("gp-practice: %d slots, ExpectedFreeSlots says %d", gp, want)
	}
}

func TestSameSeedSameBody(t *testing.T) {
	t.Parallel()
	bodies := make([][]byte, 3)
	for i, seed := range []int64{11, 11, 12} {
		f, srv := setup(t, Config{Practices: 5, Seed: seed})
		p := f.Practices()[3]
		resp, body := validCall(p, testNow, testNow.AddDate(0, 0, 14)).do(t, srv.Client(), p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		bodies[i] = body
	}
	if !bytes.Equal(bodies[0], bodies[1]) {
		t.Error("same seed gave different bodies")
	}
	if bytes.Equal(bodies[0], bodies[2]) {
		t.Error("different seeds gave the same body")
	}
}

func TestDirectory(t *testing.T) {
	t.Parallel()
	f, _ := setup(t, Config{Practices: 200, Seed: 3})
	ps := f.Practices()
	if p := ps[0]; p.ODS != "A20047" || p.Name != "Dr Legg's Surgery" || p.ASID != "918999198993" {
		t.Errorf("practice 0 = %+v", p)
	}
	seenODS, seenASID := map[string]bool{}, map[string]bool{}
	for _, p := range ps {
		if !shaped(p.ODS[1:], "ddddd") || p.ODS[0] < 'A' || p.ODS[0] > 'Z' || len(p.ASID) != 12 || !shaped(p.ASID, "dddddddddddd") {
			t.Errorf("implausible practice %+v", p)
		}
		if seenODS[p.ODS] || seenASID[p.ASID] {
			t.Errorf("duplicate ODS or ASID: %+v", p)
		}
		seenODS[p.ODS], seenASID[p.ASID] = true, true
		if p.ServiceRoot != f.BaseURL()+"/"+p.ODS+"/STU3/1/gpconnect" || p.WebhookURL != f.BaseURL()+"/hooks/"+p.ODS {
			t.Errorf("urls %+v", p)
		}
		if ps := f.byODS[p.ODS]; len(ps.sites) < 1 || len(ps.sites) > 3 {
			t.Errorf("%s has %d sites", p.ODS, len(ps.sites))
		}
	}
}

func TestWriteCSV(t *testing.T) {
	t.Parallel()
	f, _ := setup(t, Config{Practices: 3, Seed: 3})
	var buf bytes.Buffer
	if err := f.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || lines[0] != "ods_code,name,asid,endpoint,webhook_url,telephone,temporary_registration" {
		t.Fatalf("csv:\n%s", buf.String())
	}
	p := f.Practices()[0]
	want := strings.Join([]string{p.ODS, p.Name, p.ASID, f.BaseURL() + "/A20047/STU3/1/gpconnect", f.BaseURL() + "/hooks/A20047",
		p.Telephone, "true"}, ",")
	if lines[1] != want {
		t.Errorf("row 1 = %s, want %s", lines[1], want)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1})
	p := f.Practices()[0]
	c := validCall(p, testNow, testNow)
	c.path, c.params = "metadata", nil
	c.headers["Ssp-InteractionID"] = interactionMetadata
	resp, body := c.do(t, srv.Client(), p)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"resourceType":"CapabilityStatement","version":"1.2.7"`)) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	c.headers["Ssp-InteractionID"] = interactionSlotSearch
	if resp, body := c.do(t, srv.Client(), p); resp.StatusCode != http.StatusBadRequest || spineCode(t, body) != codeBadRequest {
		t.Errorf("slot interaction on metadata: %d %s", resp.StatusCode, body)
	}
}

func BenchmarkSlotSearch(b *testing.B) {
	f := New(Config{Practices: 1000, Seed: 1, Now: func() time.Time { return testNow }})
	f.SetBaseURL("http://sim.test")
	h := f.Handler()
	p := f.Practices()[500]
	req := validCall(p, testNow, testNow.Add(14*24*time.Hour)).request(b, p)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := newDiscardRecorder()
		h.ServeHTTP(rec, req)
		if rec.status != http.StatusOK {
			b.Fatalf("status %d", rec.status)
		}
		b.SetBytes(int64(rec.n))
	}
}

// discardRecorder is a ResponseWriter that only counts, so the benchmark measures the simulator.
type discardRecorder struct {
	h      http.Header
	status int
	n      int
}

func newDiscardRecorder() *discardRecorder { return &discardRecorder{h: http.Header{}} }

func (r *discardRecorder) Header() http.Header         { return r.h }
func (r *discardRecorder) WriteHeader(status int)      { r.status = status }
func (r *discardRecorder) Write(b []byte) (int, error) { r.n += len(b); return len(b), nil }
