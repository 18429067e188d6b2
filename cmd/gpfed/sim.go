package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

func init() {
	register("sim", "serve a simulated GP Connect federation (and webhook receivers) for demos, tests and benchmarks", runSim)
}

func runSim(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	n := fs.Int("practices", 12, "number of practices")
	seed := fs.Int64("seed", 1, "data seed (same seed, same federation)")
	perDay := fs.Int("slots-per-day", 40, "approximate free slots per practice per weekday")
	median := fs.Duration("latency", 0, "median provider latency (lognormal), e.g. 200ms")
	csvPath := fs.String("write-csv", "", "write the matching practices CSV to this file (- = print it and exit)")
	base := fs.String("base-url", "", "public base URL (default http://<addr>)")
	odsOnly := fs.Bool("ods-only", false, "write the CSV without endpoints (ods_code,name,...): gpfed resolves them through the simulated SDS")
	preDays := fs.Int("pre-encode-days", 0, "encode the responses to 14-day Slot searches of this many days from today before serving (benchmarks: the load generator's encoding is not the consumer's cost); 0 = encode on request")
	preFor := fs.String("pre-encode-for", "Y90001", "the consumer ODS code whose searchFilter the pre-encoded searches carry")
	var faults, sdsFaults multiFlag
	fs.Var(&faults, "fault", "ODS=STATUS[xTIMES] | ODS=timeout | ODS=malformed (repeatable), e.g. B81016=503x2")
	fs.Var(&sdsFaults, "sds-fault", "ODS=none | ODS=multi | ODS=nodevice | ODS=STATUS[xTIMES] | ODS=slow (repeatable): SDS directory faults")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	fed := sim.New(sim.Config{Practices: *n, Seed: *seed, SlotsPerDay: *perDay,
		Latency: sim.LatencyDist{Median: *median}, Logger: app.Log})
	if *csvPath == "-" {
		// Print the practices CSV and exit (containers without a shell).
		if *base == "" {
			return usagef("--write-csv - needs --base-url (the address practices will be reached at)")
		}
		fed.SetBaseURL(*base)
		if *odsOnly {
			return fed.WriteODSCSV(app.Stdout)
		}
		return fed.WriteCSV(app.Stdout)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	if *base == "" {
		*base = "http://" + ln.Addr().String()
	}
	fed.SetBaseURL(*base)
	if err := applyFaults(fed, faults, sdsFaults); err != nil {
		return err
	}
	if *preDays > 0 {
		started := time.Now()
		n := fed.PreEncodeSearches(fed.FortnightWindows(*preDays), sim.SearchFilter{ODS: *preFor, OrgType: sim.OrgTypeGPPractice})
		fmt.Fprintf(app.Stderr, "pre-encoded %d days of Slot searches for %s: %.0f MB in %s\n", *preDays, *preFor, float64(n)/1e6,
			time.Since(started).Round(time.Millisecond))
		defer func() {
			stored, encoded := fed.PreEncodedServed()
			fmt.Fprintf(app.Stderr, "slot searches answered with pre-encoded bytes: %d; encoded on request: %d\n", stored, encoded)
		}()
	}
	if *csvPath != "" {
		if err := writeSimCSV(fed, *csvPath, *odsOnly); err != nil {
			return err
		}
		fmt.Fprintf(app.Stderr, "wrote %s (%d practices)\n", *csvPath, *n)
	}
	// /healthz answers once the CSV is written and the port is open: a
	// container health check (gpfed probe) that others can wait on.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("/", fed.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); fed.Close(); _ = srv.Close() }()
	fmt.Fprintf(app.Stderr, "simulated federation of %d practices at %s (SDS: GPFED_SDS_URL=%s, any GPFED_SDS_API_KEY)\n",
		*n, *base, fed.SDSBaseURL())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeSimCSV writes the file under a temporary name and renames it, so a
// reader waiting for it never sees half a file.
func writeSimCSV(fed *sim.Federation, path string, odsOnly bool) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	write := fed.WriteCSV
	if odsOnly {
		write = fed.WriteODSCSV
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func applyFaults(fed *sim.Federation, faults, sdsFaults []string) error {
	for _, f := range faults {
		if err := applyFault(fed, f); err != nil {
			return usagef("--fault %s: %v", f, err)
		}
	}
	for _, f := range sdsFaults {
		if err := applySDSFault(fed, f); err != nil {
			return usagef("--sds-fault %s: %v", f, err)
		}
	}
	return nil
}

// applyFault parses ODS=503, ODS=503x2, ODS=timeout, ODS=malformed, ODS=hook500, ODS=hook410.
func applyFault(fed *sim.Federation, spec string) error {
	ods, what, ok := strings.Cut(strings.ToUpper(spec), "=")
	if !ok {
		return fmt.Errorf("want ODS=FAULT")
	}
	switch {
	case what == "TIMEOUT":
		fed.SetFault(ods, sim.Fault{Timeout: true})
	case what == "MALFORMED":
		fed.SetFault(ods, sim.Fault{Malformed: true})
	case strings.HasPrefix(what, "HOOK"):
		code, err := strconv.Atoi(strings.TrimPrefix(what, "HOOK"))
		if err != nil {
			return fmt.Errorf("webhook fault must be hookNNN")
		}
		fed.SetWebhookFault(ods, sim.WebhookFault{Status: code})
	default:
		status, times, _ := strings.Cut(what, "X")
		code, err := strconv.Atoi(status)
		if err != nil {
			return fmt.Errorf("unknown fault %q", what)
		}
		n := 0
		if times != "" {
			if n, err = strconv.Atoi(times); err != nil {
				return fmt.Errorf("bad repeat count %q", times)
			}
		}
		fed.SetFault(ods, sim.Fault{Status: code, Times: n, RetryAfter: time.Second})
	}
	return nil
}

// applySDSFault parses ODS=none, ODS=multi, ODS=nodevice, ODS=503[x2], ODS=slow.
func applySDSFault(fed *sim.Federation, spec string) error {
	ods, what, ok := strings.Cut(strings.ToUpper(spec), "=")
	if !ok {
		return fmt.Errorf("want ODS=FAULT")
	}
	switch what {
	case "NONE":
		fed.SetSDSFault(ods, sim.SDSFault{NoEndpoint: true})
	case "MULTI":
		fed.SetSDSFault(ods, sim.SDSFault{TwoEndpoints: true})
	case "NODEVICE":
		fed.SetSDSFault(ods, sim.SDSFault{NoDevice: true})
	case "SLOW":
		fed.SetSDSFault(ods, sim.SDSFault{Latency: 3 * time.Second})
	default:
		status, times, _ := strings.Cut(what, "X")
		code, err := strconv.Atoi(status)
		if err != nil {
			return fmt.Errorf("unknown SDS fault %q", what)
		}
		n := 0
		if times != "" {
			if n, err = strconv.Atoi(times); err != nil {
				return fmt.Errorf("bad repeat count %q", times)
			}
		}
		fed.SetSDSFault(ods, sim.SDSFault{Status: code, Times: n})
	}
	return nil
}
