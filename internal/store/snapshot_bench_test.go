package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// benchSlots is a practice's 28-day snapshot in the simulator's shape: ~460 slots over weekdays,
// four schedules, real-looking text.
func benchSlots(ods string, from time.Time) []store.SlotRecord {
	roles := [][3]string{{"R0260", "General Medical Practitioner", "GP Morning Surgery"},
		{"R0620", "Staff Nurse", "Nurse Clinic"}, {"R1480", "Healthcare Assistant", "HCA Bloods"},
		{"R1290", "Pharmacist", "Medication Reviews"}}
	var out []store.SlotRecord
	for d := range 28 {
		day := from.AddDate(0, 0, d)
		if day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			continue
		}
		for k := range 23 {
			r := roles[k%4]
			start := day.Add(time.Duration(8*60+k*15) * time.Minute)
			out = append(out, store.SlotRecord{SlotID: fmt.Sprintf("%d%04d", 983000+d, k), Start: start,
				End: start.Add(10 * time.Minute), LocalDate: day.Format(time.DateOnly), DurationMinutes: 10,
				LocationID: "23", SiteName: ods + " Main Surgery", ScheduleID: fmt.Sprint(k % 4), SessionName: r[2],
				PractitionerID: fmt.Sprint(k%4 + 1), RoleCode: r[0], RoleDisplay: r[1], DeliveryChannel: "In-person",
				SlotType: "Same Day Appointment"})
		}
	}
	return out
}

// BenchmarkSaveFirstSnapshot stores first snapshots (every slot new, as in bench-sync) from two
// goroutines, the per-slot write cost of a sync. Reported: slots/s.
func BenchmarkSaveFirstSnapshot(b *testing.B) {
	db, _ := testdb.New(b)
	ctx := context.Background()
	const practices = 400
	var ps []practice.Practice
	for i := range practices {
		ps = append(ps, practice.Practice{ODSCode: fmt.Sprintf("B%05d", i), Name: "P", ASID: "918999198993",
			Endpoint: "https://gp.example/x"})
	}
	if _, err := db.ImportPractices(ctx, ps, false); err != nil {
		b.Fatal(err)
	}
	london, _ := time.LoadLocation("Europe/London")
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, london)
	to := from.AddDate(0, 0, 28)
	slots := benchSlots("B", from)
	var total atomic.Int64
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for range b.N {
		run, codes, err := db.CreateSyncRun(ctx, "manual", from, to, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Pool.Exec(ctx, `TRUNCATE slots, capacity_daily`); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(len(codes)); i = next.Add(1) - 1 {
					o := store.FetchOutcome{RunID: run.ID, ODSCode: codes[i]}
					if _, err := db.SaveSnapshot(ctx, o, from, to, slots); err != nil {
						b.Error(err)
						return
					}
					total.Add(int64(len(slots)))
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(total.Load())/time.Since(start).Seconds(), "slots/s")
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(total.Load()), "client-cpu-ns/slot")
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
