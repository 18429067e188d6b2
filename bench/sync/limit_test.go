package main

import (
	"slices"
	"testing"
)

// Both orders give every practice of a limit run its own code (a repeat
// would fail the COPY on the primary key), ascending in ascending order and
// scattered out of it (grouped as ascending).
func TestLimitKeys(t *testing.T) {
	for _, order := range []string{"ascending", "scattered", "grouped"} {
		seen := map[string]bool{}
		var keys []string
		for i := int64(1); i <= 200_000; i++ {
			k := limitKey(i, order)
			if seen[k] || len(k) != 9 {
				t.Fatalf("%s: key %d is %q (seen before: %v)", order, i, k, seen[k])
			}
			seen[k] = true
			keys = append(keys, k)
		}
		if sorted := slices.IsSorted(keys); sorted != (order != "scattered") {
			t.Fatalf("%s: keys sorted = %v", order, sorted)
		}
	}
}
