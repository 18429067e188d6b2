package store_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/cpustat"
	"github.com/gpfed/gpfed/internal/slot"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// benchSlots is a practice's 28-day snapshot in the simulator's shape: ~460 slots over weekdays,
// four schedules, real-looking text.
func benchSlots(ods string, from time.Time) []slot.Slot {
	roles := [][3]string{{"R0260", "General Medical Practitioner", "GP Morning Surgery"},
		{"R0620", "Staff Nurse", "Nurse Clinic"}, {"R1480", "Healthcare Assistant", "HCA Bloods"},
		{"R1290", "Pharmacist", "Medication Reviews"}}
	var out []slot.Slot
	for d := range 28 {
		day := from.AddDate(0, 0, d)
		if day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			continue
		}
		for k := range 23 {
			r := roles[k%4]
			start := day.Add(time.Duration(8*60+k*15) * time.Minute)
			out = append(out, slot.Slot{ID: fmt.Sprintf("%d%04d", 983000+d, k), Start: start,
				End: start.Add(10 * time.Minute), LocalDate: day.Format(time.DateOnly), DurationMinutes: 10,
				LocationID: "23", SiteName: ods + " Main Surgery", ScheduleID: fmt.Sprint(k % 4), SessionName: r[2],
				PractitionerID: fmt.Sprint(k%4 + 1), RoleCode: r[0], RoleDisplay: r[1], DeliveryChannel: "In-person",
				SlotType: "Same Day Appointment"})
		}
	}
	return out
}

// BenchmarkSaveFirstSnapshot stores first snapshots (every slot new, as in bench-sync), the
// per-slot write cost of a sync, three ways in the same run: "copy" is the floor, the decode+COPY
// limit's transaction (the slots COPYed into a copy of the table, nothing else); "alone" saves
// each practice in its own transaction (SaveSnapshot); "group" saves 16 practices per transaction
// (SaveSnapshots, as the worker's saver does when saves queue up). Reported: slots/s, this
// process's CPU per slot, and the whole machine's (Postgres included) per slot, from /proc/stat.
// Compare the three within one run: the machine's speed and load move all of them.
func BenchmarkSaveFirstSnapshot(b *testing.B) {
	db, _ := testdb.New(b)
	ctx := context.Background()
	const practices = 400
	testdb.NumberedFederation(b, db, "B", practices)
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE limit_slots (LIKE slots INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	london, _ := time.LoadLocation("Europe/London")
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, london)
	to := from.AddDate(0, 0, 28)
	slots := benchSlots("B", from)
	const group = 16
	save := map[string]func(run int64, codes []string) error{
		"copy": func(_ int64, codes []string) error {
			return db.CopySlotsInto(ctx, "limit_slots", store.PracticeSlots{ODS: codes[0], Slots: slots})
		},
		"alone": func(run int64, codes []string) error {
			_, err := db.SaveSnapshot(ctx, store.FetchOutcome{RunID: run, ODSCode: codes[0]}, from, to, slots)
			return err
		},
		"group": func(run int64, codes []string) error {
			saves := make([]store.SnapshotSave, len(codes))
			for i, c := range codes {
				saves[i] = store.SnapshotSave{Outcome: store.FetchOutcome{RunID: run, ODSCode: c}, From: from, To: to, Slots: slots}
			}
			_, err := db.SaveSnapshots(ctx, saves)
			return err
		},
	}
	for _, way := range []string{"copy", "alone", "group"} {
		per := 1
		if way == "group" {
			per = group
		}
		b.Run(way, func(b *testing.B) {
			var total atomic.Int64
			var elapsed, self, machine time.Duration
			for range b.N {
				run, codes, err := db.CreateSyncRun(ctx, "manual", from, to, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := db.Pool.Exec(ctx, `TRUNCATE slots, capacity_daily, capacity_history, limit_slots`); err != nil {
					b.Fatal(err)
				}
				if _, err := db.Pool.Exec(ctx, `CHECKPOINT`); err != nil {
					b.Fatal(err)
				}
				start, self0, machine0 := time.Now(), cpustat.Process(os.Getpid()), cpustat.Machine()
				var wg sync.WaitGroup
				next := atomic.Int64{}
				for range 4 {
					wg.Go(func() {
						for i := int(next.Add(int64(per))) - per; i < len(codes); i = int(next.Add(int64(per))) - per {
							batch := codes[i:min(i+per, len(codes))]
							if err := save[way](run.ID, batch); err != nil {
								b.Error(err)
								return
							}
							total.Add(int64(len(batch) * len(slots)))
						}
					})
				}
				wg.Wait()
				elapsed, self, machine = elapsed+time.Since(start), self+cpustat.Process(os.Getpid())-self0, machine+cpustat.Machine()-machine0
			}
			n := float64(total.Load())
			b.ReportMetric(n/elapsed.Seconds(), "slots/s")
			b.ReportMetric(float64(self.Nanoseconds())/n, "client-cpu-ns/slot")
			b.ReportMetric(float64(machine.Nanoseconds())/n, "machine-cpu-ns/slot")
		})
	}
}

// BenchmarkRoundTrips is what one round trip to Postgres costs the whole machine (this process,
// the backend, the kernel between them), against what its statements cost: one statement, and a
// pipelined batch of four (the way the snapshot save sends its statements). Reported: the machine's
// CPU per round trip, from /proc/stat.
func BenchmarkRoundTrips(b *testing.B) {
	db, _ := testdb.New(b)
	ctx := context.Background()
	const lock = `SELECT pg_advisory_xact_lock(730199, hashtext($1))`
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"select-1", func() error { _, err := db.Pool.Exec(ctx, `SELECT 1`); return err }},
		{"one-statement", func() error { _, err := db.Pool.Exec(ctx, lock, "A12345"); return err }},
		{"batch-of-four", func() error {
			batch := &pgx.Batch{}
			for range 4 {
				batch.Queue(lock, "A12345")
			}
			return db.Pool.SendBatch(ctx, batch).Close()
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			machine0 := cpustat.Machine()
			for range b.N {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpustat.Machine()-machine0).Nanoseconds())/1e3/float64(b.N), "machine-cpu-us/op")
		})
	}
}
