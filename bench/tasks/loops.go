package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gpfed/gpfed/e2e"
)

var nhs = []string{"9658218873", "9434765919", "9434765870", "9876543210"}

// route picks task i's sender and recipient.
type route func(i int) (sender, recipient string)

// everyPair sends task i from practice i mod n to another, varying the pair.
func everyPair(ods []string) route {
	n := len(ods)
	return func(i int) (string, string) { return ods[i%n], ods[(i+1+(i/n)%(n-1))%n] }
}

// post sends task i (sender i mod n, another practice as recipient) to api
// and returns its id.
func post(ctx context.Context, e *env, api *e2e.Client, i int) (string, time.Duration, error) {
	return postRouted(ctx, e, api, i, everyPair(e.stack.ODS()))
}

// postRouted sends task i along r.
func postRouted(ctx context.Context, e *env, api *e2e.Client, i int, r route) (string, time.Duration, error) {
	sender, recipient := r(i)
	t := e2e.NewTask{RecipientODS: recipient, PatientNHSNumber: nhs[i%len(nhs)], Type: "information",
		Priority: "routine", Subject: fmt.Sprintf("benchmark task %d", i),
		Body: "Please review the attached discharge summary and arrange a follow-up appointment within two weeks."}
	start := time.Now()
	resp, err := api.PostTask(ctx, e.stack.Keys[sender], "", t)
	took := time.Since(start)
	if err != nil {
		return "", took, err
	}
	if resp.Status != http.StatusAccepted {
		return "", took, fmt.Errorf("POST /v1/tasks: %d %s", resp.Status, resp.Body)
	}
	return resp.ID, took, nil
}

// benchClosed runs posters flat out against gpfed and returns tasks/s from
// the first POST to the last receiver 2xx, and from the first POST to the
// last sender notified of its task's delivery (the notification is part of
// each task's work, but goes after tasks in priority, so a closed loop of
// tasks alone can leave it for later).
func benchClosed(ctx context.Context, e *env, p params) (float64, float64, error) {
	rate, err := measureClosed(ctx, e, e.api, p, 1_000_000, "[2] end to end", true)
	return rate, e.notedRate, err
}

// benchSkeleton measures the skeleton (skeleton.go) the same way, and
// stops it.
func benchSkeleton(ctx context.Context, e *env, p params, noDB bool) (float64, error) {
	if err := e.redis.FlushAll(ctx); err != nil {
		return 0, err
	}
	api, err := e.startSkeleton(p, noDB)
	if err != nil {
		return 0, err
	}
	defer func() {
		_ = e.skeleton.Stop(syscall.SIGTERM, 5*time.Second)
		e.skeleton = nil
	}()
	if noDB {
		return measureClosed(ctx, e, api, p, 3_000_000, "[1c] the skeleton without Postgres (bench/tasks/skeleton.go)", false)
	}
	return measureClosed(ctx, e, api, p, 2_000_000, "[1b] the skeleton with Postgres (bench/tasks/skeleton.go)", false)
}

// measureClosed warms api up with 300 tasks (numbered from warmOffset),
// then posts p.closedN with p.posters, waits for every receipt (and, when
// notified, for every sender's notification: the cost is read after them,
// as they are part of each task's), reports the rates and the cost per
// task; it returns delivered tasks/s (and sets e.notedRate).
func measureClosed(ctx context.Context, e *env, api *e2e.Client, p params, warmOffset int, label string, notified bool) (float64, error) {
	if _, _, err := closedLoop(ctx, e, api, 300, p.posters, warmOffset); err != nil {
		return 0, fmt.Errorf("%s: warm-up: %w", label, err)
	}
	before, engBefore := e.usage(ctx), e.engine()
	start := time.Now()
	ids, accepted, err := closedLoop(ctx, e, api, p.closedN, p.posters, 0)
	if err != nil {
		return 0, err
	}
	got, err := e.recv.wait(ids, 3*time.Minute)
	if err != nil {
		return 0, err
	}
	last := latest(got)
	rate := float64(len(ids)) / last.Sub(start).Seconds()
	fmt.Printf("\n%s, closed loop: %d posters, %d tasks (load %s)\n", label, p.posters, p.closedN, loadAvg())
	fmt.Printf("    API accepted:       %8.0f tasks/s (202s in %.2fs)\n", float64(len(ids))/accepted.Seconds(), accepted.Seconds())
	fmt.Printf("    delivered (2xx):    %8.0f tasks/s (last receipt %.2fs after the first POST)\n", rate, last.Sub(start).Seconds())
	if notified {
		noted, err := e.recv.waitNoted(ids, 3*time.Minute)
		if err != nil {
			return 0, err
		}
		lastNote := latest(noted)
		e.notedRate = float64(len(ids)) / lastNote.Sub(start).Seconds()
		fmt.Printf("    senders notified:   %8.0f tasks/s (last task.delivered %.2fs after the first POST)\n",
			e.notedRate, lastNote.Sub(start).Seconds())
	}
	reportCost(before, e.usage(ctx), len(ids))
	reportEngine(engBefore, e.engine(), len(ids))
	return rate, nil
}

func latest(ts map[string]time.Time) time.Time {
	var last time.Time
	for _, t := range ts {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// closedLoop posts n tasks with k posters (numbered from offset) and
// returns their ids and how long the API took to accept them all.
func closedLoop(ctx context.Context, e *env, api *e2e.Client, n, k, offset int) ([]string, time.Duration, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var ids []string
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				id, _, err := post(ctx, e, api, offset+i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					ids = append(ids, id)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	if offset > 0 { // warm-up: wait for it to drain
		_, err := e.recv.wait(ids, 2*time.Minute)
		return ids, took, err
	}
	return ids, took, nil
}

// benchLatency offers rate tasks/s for p.duration (open loop: each POST
// starts on schedule whether or not earlier ones finished) and reports the
// time from each POST's due moment to its receiver's 2xx.
func benchLatency(ctx context.Context, e *env, p params, rate int) error {
	fmt.Printf("\n[3] latency at a fixed offered rate: %d tasks/s for %s = %d tasks (load %s)\n",
		rate, p.duration, int(float64(rate)*p.duration.Seconds()), loadAvg())
	_, _, err := openLoop(ctx, e, p, rate, rate*1_000_000, everyPair(e.stack.ODS()), nil)
	return err
}

// openLoop offers rate tasks/s along r for p.duration, numbering them from
// offset, and prints POST -> 2xx latencies of the tasks whose recipient
// measured says to measure (nil: all). It returns their p50 and p99.
func openLoop(ctx context.Context, e *env, p params, rate, offset int, r route, measured func(recipient string) bool) (time.Duration, time.Duration, error) {
	n := int(float64(rate) * p.duration.Seconds())
	interval := time.Second / time.Duration(rate)
	due := make([]time.Time, n)
	ids := make([]string, n)
	postTook := make([]time.Duration, n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	for i := range n {
		due[i] = start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due[i]))
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, took, err := postRouted(ctx, e, e.api, offset+i, r)
			if err != nil {
				failed.Add(1)
				return
			}
			if _, to := r(offset + i); measured == nil || measured(to) {
				ids[i], postTook[i] = id, took
			}
		}()
	}
	offered := time.Since(start)
	wg.Wait()
	var accepted []string
	for _, id := range ids {
		if id != "" {
			accepted = append(accepted, id)
		}
	}
	got, waitErr := e.recv.wait(accepted, 2*time.Minute)
	var lat, apiLat []time.Duration
	for i, id := range ids {
		if t, ok := got[id]; ok {
			lat = append(lat, t.Sub(due[i]))
			apiLat = append(apiLat, postTook[i])
		}
	}
	fmt.Printf("    offered in %.2fs\n", offered.Seconds())
	fmt.Printf("    POST -> receiver 2xx: p50 %s  p90 %s  p99 %s  max %s   (target p99 < 250ms)\n",
		pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100))
	fmt.Printf("    POST -> 202 only:     p50 %s  p90 %s  p99 %s  max %s\n",
		pct(apiLat, 50), pct(apiLat, 90), pct(apiLat, 99), pct(apiLat, 100))
	fmt.Printf("    measured %d of %d; POST errors %d\n", len(lat), n, failed.Load())
	e.recv.mu.Lock()
	fmt.Printf("    receiver totals this run: %d webhook POSTs, %d task receipts, %d notifications, %d duplicates (same key answered 2xx twice)\n",
		e.recv.posts, len(e.recv.at), e.recv.notifications, e.recv.duplicates)
	e.recv.mu.Unlock()
	return pctD(lat, 50), pctD(lat, 99), waitErr
}

func pctD(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[max(min(len(s)-1, (len(s)*p+99)/100-1), 0)]
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	return pctD(ds, p).Round(100 * time.Microsecond).String()
}
