package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpfed/gpfed/internal/cpustat"
	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/slot"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/worker"
)

// limit is the decode+COPY floor measured in the same run. Its fields are
// exported because it travels as JSON from the process that measures it.
type limit struct {
	Order                 string // of the practice codes: ascending or scattered
	Practices, Goroutines int
	BodyBytes             int64
	Slots                 int64
	Elapsed               time.Duration
	SlotsPerSec           float64
	DecodePerSec          float64 // decoding alone, same goroutines
	BenchCPU, Other       time.Duration
	LoadBefore, LoadAfter string
}

// describe words the limit's key order and transaction size.
func (l limit) describe() string {
	if l.Order == "grouped" {
		return fmt.Sprintf("under ascending practice codes, %d practices per transaction", worker.SaveGroupMax)
	}
	return fmt.Sprintf("under %s practice codes, one practice per transaction", l.Order)
}

func (l limit) print() {
	fmt.Printf("\ndecode+COPY limit: the responses of %d practices (%.1f MB, both 14-day windows each) decoded by gpfed's parser and COPYed by its encoder into a copy of the slots table %s, %d goroutines, for %.1fs\n",
		l.Practices, float64(l.BodyBytes)/1e6, l.describe(), l.Goroutines, l.Elapsed.Seconds())
	fmt.Printf("  %d slots = %.0f slots/s (decoding alone: %.0f slots/s); cpu: the limit's own process %.1fs, everything else (postgres, other users) %.1fs; load average %s -> %s\n",
		l.Slots, l.SlotsPerSec, l.DecodePerSec, l.BenchCPU.Seconds(), l.Other.Seconds(), l.LoadBefore, l.LoadAfter)
}

// limitChildEnv makes this program measure one limit (the order it names) and print it as JSON.
const limitChildEnv = "GPFED_BENCH_LIMIT_ORDER"

// measureLimitApart measures a limit in a process of its own (this program, re-executed). The
// limit holds its sample responses in memory, and a process's peak RSS passes to the children it
// starts afterwards (Go starts them with vfork, and Linux carries the peak of the memory map an
// exec leaves into the child's maxrss): measured in this process, it would inflate every later
// sync's peak RSS.
func measureLimitApart(ctx context.Context, p params, order string) (limit, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), limitChildEnv+"="+order, "GPFED_TEST_DATABASE_URL="+adminURL())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return limit{}, fmt.Errorf("limit (%s) in its own process: %w", order, err)
	}
	var l limit
	if err := json.Unmarshal(out, &l); err != nil {
		return limit{}, fmt.Errorf("limit (%s): %w: %q", order, err, out)
	}
	return l, nil
}

// limitChild is the re-executed program's work: one limit, as JSON on stdout.
func limitChild(ctx context.Context, p params, order string) error {
	l, err := measureLimit(ctx, p, order)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(l)
}

// consumerFilter is what gpfed's default configuration sends in searchFilter.
var consumerFilter = sim.SearchFilter{ODS: "Y90001", OrgType: sim.OrgTypeGPPractice}

// measureLimit replays sample responses of the same simulated federation the syncs used.
func measureLimit(ctx context.Context, p params, order string) (limit, error) {
	l := limit{Order: order, Practices: min(p.limitPractices, p.practices), Goroutines: p.limitGoroutines}
	bodies, err := sampleBodies(p, l.Practices)
	if err != nil {
		return l, err
	}
	for _, b := range bodies {
		l.BodyBytes += int64(len(b[0]) + len(b[1]))
	}
	dbURL, drop, err := freshDB(ctx, fmt.Sprintf("gpfed_bench_limit_%d", os.Getpid()))
	if err != nil {
		return l, err
	}
	defer drop()
	db, err := store.Open(ctx, dbURL, int32(l.Goroutines+1))
	if err != nil {
		return l, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return l, err
	}
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE limit_slots (LIKE slots INCLUDING ALL)`); err != nil {
		return l, err
	}
	l.DecodePerSec = replay(ctx, bodies, l.Goroutines, 2*time.Second, nil, order).perSec
	l.LoadBefore = loadAverage()
	self0, machine0 := cpustat.Process(os.Getpid()), cpustat.Machine()
	r := replay(ctx, bodies, l.Goroutines, p.limitDuration, db, order)
	l.BenchCPU, l.LoadAfter = cpustat.Process(os.Getpid())-self0, loadAverage()
	l.Other = cpustat.Machine() - machine0 - l.BenchCPU
	if r.err != nil {
		return l, r.err
	}
	l.Slots, l.Elapsed, l.SlotsPerSec = r.slots, r.elapsed, r.perSec
	return l, nil
}

// sampleBodies builds n practices' two window responses, spread over the federation.
func sampleBodies(p params, n int) ([][2][]byte, error) {
	fed := sim.New(sim.Config{Practices: p.practices, Seed: 1, SlotsPerDay: p.perDay})
	london, _ := time.LoadLocation("Europe/London")
	now := time.Now().In(london)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, london)
	mid, to := from.AddDate(0, 0, 14), from.AddDate(0, 0, 28)
	all := fed.Practices()
	out := make([][2][]byte, 0, n)
	for i := range n {
		ods := all[i*len(all)/n].ODS
		a, ok1 := fed.SearchBody(ods, from, mid, consumerFilter)
		b, ok2 := fed.SearchBody(ods, mid, to, consumerFilter)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("no responses for %s", ods)
		}
		out = append(out, [2][]byte{a, b})
	}
	return out, nil
}

type replayed struct {
	slots   int64
	elapsed time.Duration
	perSec  float64
	err     error
}

// limitKey is the code the limit stores its i-th practice under. Ascending
// codes put every insert at the right edge of the primary key (Postgres's
// cheapest insert, which a federation's sync does not get: its practices
// finish in no order of their codes); scattered codes spread them over
// the key space as a sync's do; grouped codes ascend. Either way each code
// is used once.
func limitKey(i int64, order string) string {
	if order == "scattered" {
		i = i * 2654435761 % 100_000_000 // a bijection on the codes used: 2654435761 is odd and prime to 10^8
	}
	return fmt.Sprintf("L%08d", i)
}

// replay decodes (and with db, stores) practices' responses from goroutines for d. In order
// "grouped", each transaction stores worker.SaveGroupMax practices, as the sync's saver does when
// saves queue up; otherwise one.
func replay(ctx context.Context, bodies [][2][]byte, goroutines int, d time.Duration, db *store.DB, order string) replayed {
	group := int64(1)
	if order == "grouped" {
		group = worker.SaveGroupMax
	}
	var next, slots atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				last := next.Add(group)
				ps := make([]store.PracticeSlots, 0, group)
				for i := last - group + 1; i <= last; i++ {
					recs, err := decodeOne(bodies[int(i)%len(bodies)])
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					ps = append(ps, store.PracticeSlots{ODS: limitKey(i, order), Slots: recs})
				}
				if db != nil {
					if err := db.CopySlotsInto(ctx, "limit_slots", ps...); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
				for _, p := range ps {
					slots.Add(int64(len(p.Slots)))
				}
			}
		})
	}
	wg.Wait()
	r := replayed{slots: slots.Load(), elapsed: time.Since(start)}
	r.perSec = float64(r.slots) / r.elapsed.Seconds()
	if err, ok := firstErr.Load().(error); ok {
		r.err = err
	}
	return r
}

// decodeOne decodes a practice's two windows into the slots a sync stores, gathered in one slice
// as a search gathers them.
func decodeOne(bodies [2][]byte) ([]slot.Slot, error) {
	var slots []slot.Slot
	for _, b := range bodies {
		var err error
		if slots, err = gpconnect.AppendSlotBundle(slots, b); err != nil {
			return nil, err
		}
	}
	return slots, nil
}
