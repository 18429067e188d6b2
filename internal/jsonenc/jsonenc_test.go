package jsonenc

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzAppendStringMatchesEncodingJSON: every string comes out as the same
// bytes encoding/json writes.
func FuzzAppendStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\s`, "<a href='x'>&amp;</a>", "\b\f\n\r\t\x00\x1f\x7f",
		"line\u2028para\u2029", "bad \xff\xfe utf8 \xed\xa0\x80", "é中😀", "\u00a0\ufeff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

func TestAppendTimeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	zones := []*time.Location{time.UTC, time.FixedZone("BST", 3600), time.FixedZone("odd", -(3*3600 + 30*60))}
	for _, tm := range []time.Time{time.Date(2026, 11, 29, 21, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 123456789, zones[1]),
		time.Date(1, 1, 1, 0, 0, 0, 0, zones[2]), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), {}} {
		want, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := AppendTime(nil, tm)
		if !ok || string(got) != string(want) {
			t.Errorf("AppendTime(%v) = %s, %v; encoding/json %s", tm, got, ok, want)
		}
	}
	if _, ok := AppendTime(nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("AppendTime accepted year 10000, which encoding/json refuses")
	}
}
