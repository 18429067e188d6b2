package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gpfed/gpfed/e2e"
)

// env is the running benchmark deployment.
type env struct {
	dir      string
	redis    *e2e.Redis
	adminURL string
	dbName   string
	stack    *e2e.Stack
	api      *e2e.Client
	timer    *providerTimer
	keep     bool
}

func (e *env) close() {
	if e.stack != nil {
		e.stack.Close()
	}
	if e.redis != nil {
		e.redis.Stop()
	}
	if e.dbName != "" && !e.keep {
		if err := e2e.DropDatabase(context.Background(), e.adminURL, e.dbName); err != nil {
			fmt.Fprintln(os.Stderr, "bench-booking: drop database:", err)
		}
	}
	if e.keep {
		fmt.Fprintf(os.Stderr, "bench-booking: logs kept in %s, database %s\n", e.dir, e.dbName)
		return
	}
	os.RemoveAll(e.dir)
}

// adminURL is a connection to the server's maintenance database.
func adminURL() string {
	if u := os.Getenv("GPFED_TEST_DATABASE_URL"); u != "" {
		return u
	}
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	if err != nil || u.Host == "" {
		return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u.Path = "/postgres"
	return u.String()
}

// booking is one planned booking: a distinct slot at host for a distinct
// patient of host, made by caller.
type booking struct {
	caller, host, slot, slotRef, nhs string
}

// plan lists n bookings, round robin over the practices, each slot and each
// patient used once.
func (e *env) plan(ctx context.Context, n int) ([]booking, error) {
	ods := e.stack.ODS()
	slots := map[string][]string{}
	for _, host := range ods {
		res, err := e.api.Do(ctx, e.stack.Keys[host], http.MethodGet, "/v1/slots?limit=200&practice="+host, nil)
		if err != nil || res.Status != http.StatusOK {
			return nil, fmt.Errorf("slots of %s: %v %d %s", host, err, res.Status, res.Body)
		}
		var page struct{ Items []struct{ ID string } }
		if err := json.Unmarshal(res.Body, &page); err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			slots[host] = append(slots[host], it.ID)
		}
	}
	used := map[string]int{}
	var out []booking
	for i := 0; len(out) < n; i++ {
		host := ods[i%len(ods)]
		k := used[host]
		patients := e.stack.Fed.Patients(host)
		if k >= len(slots[host]) || k >= len(patients) {
			if i > n*len(ods) {
				return nil, fmt.Errorf("the federation has room for %d distinct bookings, %d asked: lower -rate or -duration, or raise -practices", len(out), n)
			}
			continue
		}
		used[host]++
		caller := ods[(i+1+i/len(ods))%len(ods)]
		if caller == host {
			caller = ods[(i+1)%len(ods)]
		}
		_, ref, _ := strings.Cut(slots[host][k], ":")
		out = append(out, booking{caller: caller, host: host, slot: slots[host][k], slotRef: ref, nhs: patients[k]})
	}
	return out, nil
}

// result is one booking's outcome.
type result struct {
	b        booking
	status   int
	total    time.Duration
	provider time.Duration
	err      error
}

var booker = map[string]string{"sds_user_id": "687227875014", "sds_role_profile_id": "418825193014",
	"family_name": "Okafor", "given_name": "Ngozi"}

// offer sends the plan at rate per second, each on its own schedule (open
// loop: a slow answer does not delay the next booking).
func (e *env) offer(ctx context.Context, plan []booking, rate int) []result {
	out := make([]result, len(plan))
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i, b := range plan {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = e.book(ctx, b)
		}()
	}
	wg.Wait()
	for i := range out {
		out[i].provider = e.timer.spent("nhs:"+out[i].b.nhs) + e.timer.spent("slot:"+out[i].b.host+"/"+out[i].b.slotRef)
	}
	return out
}

func (e *env) book(ctx context.Context, b booking) result {
	body, _ := json.Marshal(map[string]any{"slot_id": b.slot, "patient_nhs_number": b.nhs,
		"description": "Benchmark booking", "booked_by": booker})
	t0 := time.Now()
	res, err := e.api.Do(ctx, e.stack.Keys[b.caller], http.MethodPost, "/v1/bookings", body)
	return result{b: b, status: res.Status, total: time.Since(t0), err: err}
}

// sampleFloor times GET /healthz every 20 ms while bookings run: the
// latency of gpfed's HTTP stack doing nothing, on the same machine under
// the same load, reported as the floor the overhead is read against.
func (e *env) sampleFloor(ctx context.Context) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		var ds []time.Duration
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				out <- ds
				return
			case <-tick.C:
			}
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.stack.APIURL+"/healthz", nil)
			resp, err := e.api.HTTP.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ds = append(ds, time.Since(t0))
		}
	}()
	return out
}

// providerTimer times every GP Connect request inside the simulated
// provider and files it under the booking it belongs to: a Find patient by
// its NHS number, a Book by its practice and slot.
type providerTimer struct {
	mu   sync.Mutex
	took map[string]time.Duration
}

func newProviderTimer() *providerTimer { return &providerTimer{took: map[string]time.Duration{}} }

var (
	findRe = regexp.MustCompile(`^/([A-Z0-9]+)/STU3/1/gpconnect/Patient$`)
	bookRe = regexp.MustCompile(`^/([A-Z0-9]+)/STU3/1/gpconnect/Appointment$`)
	slotRe = regexp.MustCompile(`"Slot/([^"]+)"`)
)

func (pt *providerTimer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := ""
		switch {
		case r.Method == http.MethodGet && findRe.MatchString(r.URL.Path):
			_, nhs, _ := strings.Cut(r.URL.Query().Get("identifier"), "|")
			key = "nhs:" + nhs
		case r.Method == http.MethodPost && bookRe.MatchString(r.URL.Path):
			raw, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(raw))
			if m := slotRe.FindSubmatch(raw); m != nil {
				key = "slot:" + bookRe.FindStringSubmatch(r.URL.Path)[1] + "/" + string(m[1])
			}
		}
		t0 := time.Now()
		next.ServeHTTP(w, r)
		if key != "" {
			pt.mu.Lock()
			pt.took[key] += time.Since(t0)
			pt.mu.Unlock()
		}
	})
}

func (pt *providerTimer) spent(key string) time.Duration {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.took[key]
}
