package gpconnect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/sim"
)

// simBundles fetches real response bodies from the strict simulator: a few practices, both
// 14-day windows each.
func simBundles(t testing.TB, practices int) [][]byte {
	t.Helper()
	fed := sim.New(sim.Config{Practices: practices, Seed: 5, SlotsPerDay: 24})
	srv := httptest.NewServer(fed.Handler())
	t.Cleanup(func() { fed.Close(); srv.Close() })
	fed.SetBaseURL(srv.URL)
	c, err := New(Config{Consumer: testConsumer, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	from := localMidnight(time.Now())
	var out [][]byte
	for _, p := range fed.Practices() {
		prov := Provider{ODS: p.ODS, ASID: p.ASID, ServiceRoot: p.ServiceRoot}
		for _, w := range splitWindows(from, from.AddDate(0, 0, 28)) {
			cr, err := c.get(t.Context(), prov, InteractionSearchSlots, "/Slot?"+slotQuery(w, testConsumer.ODS, "gp-practice"))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cr.body)
		}
	}
	return out
}

// TestDecoderMatchesReference: on realistic Bundles and on variants a lenient reader must take in
// its stride (members in another order, whitespace, unknown elements at every level, single
// objects for one-element arrays, escaped characters, explicit nulls), the scanner decodes exactly
// what encoding/json decoded.
func TestDecoderMatchesReference(t *testing.T) {
	t.Parallel()
	bodies := simBundles(t, 4)
	bodies = append(bodies, fixture(t, "slot-search-response.json"), []byte(emptyBundle),
		[]byte(bundleJSON(slotJSON("a", "2026-10-25T09:00:00+00:00", "2026-10-25T09:15:00+00:00", ""), scheduleS1, locationL1Object, practitionerP1)))
	r := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for i, body := range bodies {
		var tree any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&tree); err != nil {
			t.Fatal(err)
		}
		variants := map[string][]byte{"as sent": body, "indented": indent(t, body)}
		for v := range 3 {
			var b strings.Builder
			mutate(r, tree, "", &b)
			variants[fmt.Sprintf("mutated %d", v)] = []byte(b.String())
		}
		for name, data := range variants {
			want, werr := ParseSlotBundleStd(data)
			got, gerr := ParseSlotBundle(data)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("body %d %s: reference error %v, scanner error %v\n%.400s", i, name, werr, gerr, data)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("body %d %s (-reference +scanner):\n%s\n%.400s", i, name, diff, data)
			}
			checked += len(got)
		}
	}
	if checked < 1000 {
		t.Errorf("only %d slots compared", checked)
	}
}

func indent(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, b, " ", "\t"); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// oneOrManyElements are the elements the decoder accepts as an array or a single object.
var oneOrManyElements = []string{"extension", "serviceType", "serviceCategory", "coding", "actor", "name"}

// mutate writes v as JSON with random but meaning-preserving changes.
func mutate(r *rand.Rand, v any, key string, b *strings.Builder) {
	ws := func() {
		if r.IntN(4) == 0 {
			b.WriteString([]string{" ", "\n", "\t ", "\r\n  "}[r.IntN(4)])
		}
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		b.WriteByte('{')
		first := true
		member := func(k string, val any) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			ws()
			writeString(r, k, b, false)
			ws()
			b.WriteByte(':')
			ws()
			mutate(r, val, k, b)
			ws()
		}
		if r.IntN(3) == 0 {
			member("zzFuture", map[string]any{"deep": []any{json.Number("1.5e3"), nil, true, map[string]any{"s": "x\u00e9"}}})
		}
		for _, k := range keys {
			member(k, x[k])
		}
		if r.IntN(4) == 0 {
			member("modifierExtensionX", nil)
		}
		b.WriteByte('}')
	case []any:
		if len(x) == 1 && slices.Contains(oneOrManyElements, key) && r.IntN(2) == 0 {
			if _, obj := x[0].(map[string]any); obj {
				mutate(r, x[0], "", b)
				return
			}
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			ws()
			mutate(r, e, "", b)
		}
		b.WriteByte(']')
	case string:
		writeString(r, x, b, true)
	case json.Number:
		b.WriteString(x.String())
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	}
}

// writeString quotes s, escaping some characters that need no escape when escape is set.
func writeString(r *rand.Rand, s string, b *strings.Builder, escape bool) {
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		case escape && c == '/' && r.IntN(2) == 0:
			b.WriteString(`\/`)
		case escape && r.IntN(12) == 0 && c < 0x10000:
			fmt.Fprintf(b, `\u%04X`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
}

// TestDecoderStrictness: the scanner rejects what is not JSON, or not a Bundle object, anywhere in
// the document, including inside elements it skips.
func TestDecoderStrictness(t *testing.T) {
	t.Parallel()
	slot := slotJSON("a", "2026-10-25T09:00:00+00:00", "2026-10-25T09:15:00+00:00", "")
	for name, body := range map[string]string{
		"bad number in unknown element": bundleJSON(strings.Replace(slot, `"status"`, `"x":01,"status"`, 1)),
		"bad literal":                   bundleJSON(strings.Replace(slot, `"status"`, `"x":nul,"status"`, 1)),
		"control character in string":   bundleJSON(strings.Replace(slot, `"id":"a"`, "\"id\":\"a\x01\"", 1)),
		"bad escape":                    bundleJSON(strings.Replace(slot, `"id":"a"`, `"id":"a\q"`, 1)),
		"unterminated":                  bundleJSON(slot)[:40],
		"trailing comma":                `{"resourceType":"Bundle","entry":[` + slot + `,]}`,
		"entry not an array":            `{"resourceType":"Bundle","entry":{}}`,
		"resourceType a number":         `{"resourceType":5}`,
		"array at the top":              `[` + bundleJSON(slot) + `]`,
		"two documents":                 bundleJSON(slot) + bundleJSON(slot),
		"nested too deep":               `{"resourceType":"Bundle","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
		"NUL in a stored text":          bundleJSON(strings.Replace(slot, `"id":"a"`, `"id":"a\u0000"`, 1)),
	} {
		if _, err := ParseSlotBundle([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDecoderKeepsLaterSlotsAfterATypeError: a wrong-typed value inside one slot's extension is
// that element's problem only; encoding/json stopped decoding there and dropped the rest.
func TestDecoderKeepsLaterSlotsAfterATypeError(t *testing.T) {
	t.Parallel()
	bad := slotJSON("a", "2026-10-25T09:00:00+00:00", "2026-10-25T09:15:00+00:00", `,"extension":[{"url":5}]`)
	good := slotJSON("b", "2026-10-25T10:00:00+00:00", "2026-10-25T10:15:00+00:00", "")
	got, err := ParseSlotBundle([]byte(bundleJSON(bad, good, scheduleS1)))
	if err != nil || len(got) != 2 {
		t.Fatalf("%d slots, %v; want both", len(got), err)
	}
}

// TestFastInstantMatchesTimeParse: whatever the allocation-free path accepts, time.Parse reads as
// the same instant; anything it declines is left to time.Parse.
func TestFastInstantMatchesTimeParse(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	d2 := func(max int) string { return fmt.Sprintf("%02d", r.IntN(max)) }
	accepted := 0
	for range 200000 {
		s := fmt.Sprintf("%04d-%s-%sT%s:%s:%s", r.IntN(10000), d2(14), d2(33), d2(26), d2(62), d2(62))
		switch r.IntN(3) {
		case 0:
			s += "Z"
		default:
			s += []string{"+", "-"}[r.IntN(2)] + d2(26) + ":" + d2(62)
		}
		fast, ok := fastInstant([]byte(s))
		slow, err := parseInstant(s)
		if !ok {
			continue
		}
		accepted++
		if err != nil || !fast.Equal(slow) || fast.Location() != slow.Location() {
			t.Fatalf("%s: fast %v, time.Parse %v (%v)", s, fast, slow, err)
		}
	}
	if accepted < 10000 {
		t.Errorf("only %d valid instants generated", accepted)
	}
	for _, s := range []string{"2026-03-29T01:30:00+00:00", "2026-10-25T01:30:00+01:00", "2024-02-29T23:59:59-11:30", "0001-01-01T00:00:00Z"} {
		fast, ok := fastInstant([]byte(s))
		slow, err := parseInstant(s)
		if !ok || err != nil || !fast.Equal(slow) {
			t.Errorf("%s: fast %v %v, time.Parse %v %v", s, fast, ok, slow, err)
		}
	}
}
