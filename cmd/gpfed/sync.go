package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/term"

	"github.com/gpfed/gpfed/internal/service"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
)

func init() {
	register("sync", "run one capacity sync now and wait for it: sync --once [--days N] [--practice ODS]...", runSync)
}

type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error {
	*m = append(*m, strings.ToUpper(strings.TrimSpace(v)))
	return nil
}

func runSync(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	once := fs.Bool("once", false, "run a single sync now and wait for it to finish")
	days := fs.Int("days", app.Cfg.Sync.Days, "days ahead to sync, from today")
	var practices multiFlag
	fs.Var(&practices, "practice", "ODS code to sync (repeatable; default every active practice)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if !*once || fs.NArg() > 0 {
		return usagef("usage: gpfed sync --once [--days N] [--practice ODS]... (periodic syncs: gpfed scheduler)")
	}
	if *days < 1 || *days > 366 {
		return usagef("--days must be between 1 and 366")
	}
	tuneFetchGC(app)
	c, err := connect(ctx, app)
	if err != nil {
		return err
	}
	defer c.Close()
	db, redis, client := c.DB, c.Redis, c.Client
	syncer := newSyncer(app, db, client, nil)
	run, err := syncer.Start(ctx, "manual", practices, *days)
	if errors.Is(err, store.ErrNotFound) {
		return usagef("%v", err)
	}
	if err != nil && run.ID == 0 {
		return err
	}
	return processRun(ctx, app, db, redis, run)
}

func newSyncer(app *App, db *store.DB, client *asynq.Client, insp *asynq.Inspector) *jobs.Sync {
	loc, _ := time.LoadLocation(app.Cfg.Sync.TimeZone)
	return &jobs.Sync{DB: db, Client: client, Inspector: insp, Log: app.Log.With("component", "sync"),
		Days: app.Cfg.Sync.Days, Location: loc, TaskTimeout: app.Cfg.Sync.TaskTimeout, RunDeadline: 6 * time.Hour}
}

// processRun works the run's tasks in-process (the same asynq handler path a
// worker uses), shows progress, and prints the summary.
func processRun(ctx context.Context, app *App, db *store.DB, redis asynq.RedisConnOpt, run store.SyncRun) error {
	g := service.Group{Log: app.Log}
	defer g.Stop()
	mux, err := workerMux(ctx, &g, app, db, nil)
	if err != nil {
		return err
	}
	if err := startQueueServer(ctx, &g, app, redis, mux, "capacity", map[string]int{queue.QueueCapacity: 1}, app.Cfg.Sync.Concurrency); err != nil {
		return err
	}
	final, err := waitForRun(ctx, db, run.ID, app.Stdout)
	g.Stop()
	if err != nil {
		return err
	}
	fmt.Fprintln(app.Stdout, fetchStats(app))
	return printSummary(ctx, app.Stdout, db, final)
}

func waitForRun(ctx context.Context, db *store.DB, id int64, out io.Writer) (store.SyncRun, error) {
	tty := isTerminal(out)
	// Completion is checked every tick by the run's status alone; the outcome
	// counts (a scan of the run's practices, thousands of rows in a region)
	// are read only when a progress line is due.
	every := 2 * time.Second
	if tty {
		every = time.Second
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastDone, lastRead := -1, time.Time{}
	for {
		completed, err := db.SyncRunCompleted(ctx, id)
		if err != nil {
			return store.SyncRun{}, err
		}
		if completed || time.Since(lastRead) >= every {
			r, err := db.GetSyncRun(ctx, id)
			if err != nil {
				return r, err
			}
			lastRead = time.Now()
			switch {
			case tty:
				fmt.Fprintf(out, "\rsync run %d: %d/%d practices (%s), %d slots, %s   ",
					r.ID, r.PracticesDone, r.PracticesTotal, progressCounts(r), r.SlotsTotal, time.Since(r.StartedAt).Round(time.Second))
			case r.PracticesDone != lastDone:
				fmt.Fprintf(out, "progress run=%d done=%d total=%d ok=%d failed=%d not_enabled=%d skipped=%d waiting=%d slots=%d\n",
					r.ID, r.PracticesDone, r.PracticesTotal, r.PracticesOK, r.PracticesFailed, r.PracticesNotEnabled,
					r.PracticesSkipped, r.PracticesWaiting, r.SlotsTotal)
				lastDone = r.PracticesDone
			}
			if r.Status == "completed" {
				if tty {
					fmt.Fprintln(out)
				}
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return store.SyncRun{}, fmt.Errorf("interrupted; run %d continues on other workers or the next reconciliation: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}

// progressCounts words a run's outcome counts for the live progress line,
// leaving out the zero ones besides ok and failed.
func progressCounts(r store.SyncRun) string {
	s := fmt.Sprintf("%d ok, %d failed", r.PracticesOK, r.PracticesFailed)
	for _, c := range []struct {
		n    int
		what string
	}{{r.PracticesNotEnabled, "not GP Connect enabled"}, {r.PracticesSkipped, "skipped: fetched by another run"},
		{r.PracticesWaiting, "waiting for another run's fetch"}} {
		if c.n > 0 {
			s += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	return s
}

func printSummary(ctx context.Context, out io.Writer, db *store.DB, r store.SyncRun) error {
	dur := time.Duration(0)
	if r.FinishedAt != nil {
		dur = r.FinishedAt.Sub(r.StartedAt)
	}
	fmt.Fprintf(out, "sync run %d %s..%s: %d practices, %d ok, %d failed, %d not GP Connect enabled, %d skipped, %d free slots, %s\n",
		r.ID, r.FromDate, r.ToDate, r.PracticesTotal, r.PracticesOK, r.PracticesFailed, r.PracticesNotEnabled,
		r.PracticesSkipped, r.SlotsTotal, dur.Round(time.Millisecond))
	if r.PracticesFailed+r.PracticesNotEnabled+r.PracticesSkipped > 0 {
		ps, err := db.RunPractices(ctx, r.ID)
		if err != nil {
			return err
		}
		printOutcomes(out, ps)
	}
	if r.PracticesFailed == 0 {
		return nil
	}
	return ExitError{Code: 1, Msg: fmt.Sprintf("%d of %d practices failed", r.PracticesFailed, r.PracticesTotal)}
}

// printOutcomes lists every practice that did not simply sync: failures
// with their HTTP status, Spine (or SDS) code and diagnostics; practices SDS
// lists no GP Connect endpoint for; practices another run fetched.
func printOutcomes(out io.Writer, ps []store.RunPractice) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	head := map[string]string{
		"failed":      "FAILED\tHTTP\tCODE\tDIAGNOSTICS",
		"not_enabled": "NOT GP CONNECT ENABLED\t\tCODE\tDIAGNOSTICS",
		"skipped":     "SKIPPED\t\tBY RUN\tWHY",
	}
	last := ""
	for _, p := range ps {
		h, ok := head[p.Status]
		if !ok {
			continue
		}
		if p.Status != last {
			fmt.Fprintln(tw, h)
			last = p.Status
		}
		status, code := "-", p.SpineCode
		if p.HTTPStatus != nil {
			status = fmt.Sprint(*p.HTTPStatus)
		}
		if p.Status != "failed" {
			status = ""
		}
		if p.SkippedForRun != nil {
			code = fmt.Sprint(*p.SkippedForRun)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ODSCode, status, code, oneLine(p.Diagnostics, 120))
	}
	_ = tw.Flush()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
