// Package capacity renders capacity rows for people and spreadsheets; the
// CLI (`gpfed capacity --format csv`) and the API (Accept: text/csv) share it
// so both produce the same file.
package capacity

import (
	"encoding/csv"
	"io"
	"sort"
	"strconv"

	"github.com/gpfed/gpfed/internal/store"
)

// WriteCSV writes a header row and one row per practice-day, flattening the
// by_* maps into one column per key seen in any row
// (by_delivery_channel.<key>, by_role.<key>), sorted, 0 where absent.
func WriteCSV(w io.Writer, rows []store.CapacityRow) error {
	channels, roles := keysOf(rows, func(r store.CapacityRow) map[string]int { return r.ByDeliveryChannel }),
		keysOf(rows, func(r store.CapacityRow) map[string]int { return r.ByRole })
	header := []string{"ods_code", "date", "free_slots", "free_minutes"}
	for _, k := range channels {
		header = append(header, "by_delivery_channel."+k)
	}
	for _, k := range roles {
		header = append(header, "by_role."+k)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{r.ODSCode, r.Date, strconv.Itoa(r.FreeSlots), strconv.Itoa(r.FreeMinutes)}
		for _, k := range channels {
			rec = append(rec, strconv.Itoa(r.ByDeliveryChannel[k]))
		}
		for _, k := range roles {
			rec = append(rec, strconv.Itoa(r.ByRole[k]))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func keysOf(rows []store.CapacityRow, m func(store.CapacityRow) map[string]int) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for k := range m(r) {
			seen[k] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
