package main

import "testing"

func TestFetchGC(t *testing.T) {
	t.Parallel()
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	const budget = 48 << 20
	if got, want := fetchGC(env(nil), budget), (gcSettings{percent: 200, limit: 3 * budget}); got != want {
		t.Errorf("no GOGC, no GOMEMLIMIT: %+v, want %+v", got, want)
	}
	for _, kv := range []map[string]string{{"GOGC": "100"}, {"GOMEMLIMIT": "1GiB"}, {"GOGC": "off", "GOMEMLIMIT": "200MiB"}} {
		if got := fetchGC(env(kv), budget); got != (gcSettings{}) {
			t.Errorf("%v: %+v, want the operator's settings left alone", kv, got)
		}
	}
	if got := fetchGC(env(nil), 0); got != (gcSettings{}) {
		t.Errorf("no byte budget: %+v, want nothing set", got)
	}
}
