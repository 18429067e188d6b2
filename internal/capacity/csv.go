// Package capacity renders capacity rows for people and spreadsheets; the
// CLI (`gpfed capacity --format csv`) and the API (Accept: text/csv) share it
// so both produce the same file.
package capacity

import (
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/gpfed/gpfed/internal/store"
)

// Channels are GP Connect's delivery channels (the Appointment Management
// deliveryChannel value set) plus "unspecified" for slots that carry none:
// each has its own CSV column whatever the data holds, so a spreadsheet or
// script that reads the file keeps working from one day to the next.
var Channels = []string{"In-person", "Telephone", "Video", "unspecified"}

// Header is the fixed CSV header. by_delivery_channel.other counts slots
// with a channel outside the value set; by_role lists the SDS job role
// codes of the day as CODE=SLOTS pairs, sorted, in one column (role codes
// are open-ended, so one column per code would change with the data).
var Header = func() []string {
	h := []string{"ods_code", "practice_name", "date", "free_slots", "free_minutes"}
	for _, c := range Channels {
		h = append(h, "by_delivery_channel."+c)
	}
	return append(h, "by_delivery_channel.other", "by_role")
}()

// WriteCSV writes Header and one row per practice-day.
func WriteCSV(w io.Writer, rows []store.CapacityRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{r.ODSCode, r.PracticeName, r.Date, strconv.Itoa(r.FreeSlots), strconv.Itoa(r.FreeMinutes)}
		other := 0
		for k, v := range r.ByDeliveryChannel {
			if !known(k) {
				other += v
			}
		}
		for _, c := range Channels {
			rec = append(rec, strconv.Itoa(r.ByDeliveryChannel[c]))
		}
		rec = append(rec, strconv.Itoa(other), Pairs(r.ByRole))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func known(channel string) bool {
	for _, c := range Channels {
		if c == channel {
			return true
		}
	}
	return false
}

// Pairs renders a count map as "KEY=N;KEY=N", keys sorted.
func Pairs(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, ";")
}
