package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gpfed/gpfed/internal/service"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("demo", "run a simulated federation end to end: sync, tasks, a booking and a cancellation, dashboard (Ctrl-C to stop)", runDemo)
}

func runDemo(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	n := fs.Int("practices", 12, "practices in the simulated federation")
	simAddr := fs.String("sim-addr", "127.0.0.1:0", "address for the simulated GP Connect providers")
	exit := fs.Bool("exit-after-setup", false, "exit once the sync ran and the sample tasks were handled (smoke tests)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if *n < 10 {
		return usagef("--practices must be at least 10 (the demo scripts faults on several)")
	}
	out := app.Stdout
	demoSecurity(app, out)
	c, err := connect(ctx, app)
	if err != nil {
		return err
	}
	defer c.Close()
	db, client, inspector := c.DB, c.Client, c.Inspector

	fed, stopSim, err := startDemoSim(ctx, *n, *simAddr)
	if err != nil {
		return err
	}
	defer stopSim()
	if err := importDemoPractices(ctx, app, db, fed); err != nil {
		return err
	}
	if app.Cfg.SDS.URL == "" {
		// The federation is imported by ODS code: endpoints come from the simulated SDS.
		app.Cfg.SDS.URL, app.Cfg.SDS.APIKey = fed.SDSBaseURL(), "demo"
	}
	fmt.Fprintf(out, "simulated federation: %d practices at %s (SDS: %s)\n", *n, fed.BaseURL(), app.Cfg.SDS.URL)

	g := service.Group{Log: app.Log}
	defer g.Stop()
	if err := startDemoServices(ctx, &g, app, c); err != nil {
		return err
	}

	// The dashboard is up before the first sync: open it and watch the run.
	adminKey, _, err := db.CreateAPIKey(ctx, store.RoleAdmin, "", "demo")
	if err != nil {
		return err
	}
	base := "http://" + app.Cfg.Server.Addr
	fmt.Fprintf(out, "dashboard:  %s/  (admin key %s)\nfirst sync:\n", base, adminKey)

	syncer := newSyncer(app, db, client, inspector)
	run, err := syncer.Start(ctx, "manual", nil, app.Cfg.Sync.Days)
	if err != nil && run.ID == 0 {
		return err
	}
	final, err := waitForRun(ctx, db, run.ID, out)
	if err != nil {
		return err
	}
	if err := printSummary(ctx, out, db, final); err != nil {
		var ee ExitError
		if !errors.As(err, &ee) {
			return err
		}
		fmt.Fprintln(out, "(the failures above, and the practice SDS lists no GP Connect endpoint for, are scripted in the simulated federation)")
	}

	sent, err := sendDemoTasks(ctx, db, base, fed)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sent %d sample tasks (one to a receiver that fails permanently, one that keeps answering 500)\n", sent)
	bookingKey, err := demoBookings(ctx, out, db, base, fed)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndashboard:  %s/\nadmin key:  %s\n", base, adminKey)
	fmt.Fprintf(out, "API:        curl -H 'Authorization: Bearer %s' '%s/v1/capacity?from=%s&to=%s'\n",
		adminKey, base, final.FromDate, final.ToDate)
	fmt.Fprintf(out, "bookings:   curl -H 'Authorization: Bearer %s' '%s/v1/bookings'   (practice %s)\n",
		bookingKey, base, fed.Practices()[0].ODS)
	if *exit {
		return waitDemoTasks(ctx, db, sent)
	}
	fmt.Fprintln(out, "\nrunning; press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

// startDemoSim serves the simulated federation with scripted faults: one
// practice whose GP Connect fails, one with appointment management disabled,
// one that SDS lists no GP Connect endpoint for, one webhook that is gone for
// good and one that keeps failing.
func startDemoSim(ctx context.Context, n int, addr string) (*sim.Federation, func(), error) {
	fed := sim.New(sim.Config{Practices: n, Seed: 2026, Latency: sim.LatencyDist{Median: 30 * time.Millisecond}})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s for the simulator: %w", addr, err)
	}
	fed.SetBaseURL("http://" + ln.Addr().String())
	ps := fed.Practices()
	fed.SetFault(ps[3].ODS, sim.Fault{Status: 503, RetryAfter: time.Second})
	fed.SetFault(ps[5].ODS, sim.Fault{Status: 403, Diagnostics: "GP Connect appointment management is not enabled at this practice"})
	fed.SetWebhookFault(ps[7].ODS, sim.WebhookFault{Status: 410})
	fed.SetWebhookFault(ps[8].ODS, sim.WebhookFault{Status: 500})
	fed.SetSDSFault(ps[6].ODS, sim.SDSFault{NoEndpoint: true})
	srv := &http.Server{Handler: fed.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return fed, func() { fed.Close(); _ = srv.Close() }, nil
}

// demoSecretKey seals the demo's webhook secrets when GPFED_SECRET_KEY is
// not set. It is published here, so it protects nothing: a demo database
// holds only the simulator's secrets.
const demoSecretKey = "ZGVtbyBvbmx5OiBub3QgYSBzZWNyZXQga2V5ISEhISE="

// demoSecurity makes the explicit development settings the demo needs:
// the simulator's webhook receivers listen on plain http at 127.0.0.1, and
// the dashboard is plain http on a loopback address. None of them is a
// default of gpfed itself.
func demoSecurity(app *App, out io.Writer) {
	s := &app.Cfg.Security
	s.WebhookAllowHTTP = true
	if s.WebhookAllowNets == "" {
		s.WebhookAllowNets = "127.0.0.0/8,::1/128"
	}
	if s.SecretKey == "" {
		s.SecretKey = demoSecretKey
		fmt.Fprintln(out, "demo: webhook secrets sealed with the published demo key (set GPFED_SECRET_KEY for a real one)")
	}
	fmt.Fprintln(out, "demo: webhooks to the local simulator allowed over http (GPFED_WEBHOOK_ALLOW_HTTP, GPFED_WEBHOOK_ALLOW_NETS="+
		s.WebhookAllowNets+")")
}

// importDemoPractices imports the federation as a federation knows it: by
// ODS code and name (and webhooks), its endpoints left to SDS. Every
// webhook receiver is given the secret gpfed generated for it (rotating
// the secrets a previous demo run left, which this run's simulator does
// not know).
func importDemoPractices(ctx context.Context, app *App, db *store.DB, fed *sim.Federation) error {
	var buf bytes.Buffer
	if err := fed.WriteODSCSV(&buf); err != nil {
		return err
	}
	ps, err := practiceParser(app).Parse(&buf)
	if err != nil {
		return err
	}
	// Two practices have no webhook: their tasks wait in the API inbox.
	for i := 9; i < 11 && i < len(ps); i++ {
		ps[i].WebhookURL = ""
	}
	res, err := db.ImportPracticesWith(ctx, ps, store.ImportOptions{SetWebhooks: true, Keys: keyring(app), Actor: "demo"})
	if err != nil {
		return err
	}
	for _, p := range ps {
		secret, ok := res.NewSecrets[p.ODSCode]
		if !ok && p.WebhookURL != "" {
			secret, _, err = db.ChangeWebhook(ctx, keyring(app), store.WebhookChange{ODS: p.ODSCode, URL: p.WebhookURL,
				Rotate: true, Actor: "demo"})
			if err != nil {
				return err
			}
		}
		fed.SetWebhookSecret(p.ODSCode, secret)
	}
	return nil
}

// startDemoServices runs a worker on every queue, the scheduler and the
// API server in this process, in that start order (so the API stops
// first and the delivery completer last).
func startDemoServices(ctx context.Context, g *service.Group, app *App, c *conns) error {
	ln, err := net.Listen("tcp", app.Cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen %s (GPFED_HTTP_ADDR): %w", app.Cfg.Server.Addr, err)
	}
	engine, sweeper, err := newDelivery(app, c.DB, newWaker(app, c.Client))
	if err != nil {
		ln.Close()
		return err
	}
	mux, err := workerMux(ctx, g, app, c.DB, engine)
	if err != nil {
		ln.Close()
		return err
	}
	startWorkerServices(ctx, g, app, engine, sweeper, false) // the API's ops listener serves this process's metrics
	if err := startWorkerQueues(ctx, g, app, c.Redis, mux); err != nil {
		ln.Close()
		return err
	}
	if err := startScheduler(ctx, g, app, c.DB, c.Client, c.Inspector); err != nil {
		ln.Close()
		return err
	}
	if app.Cfg.Server.MetricsAddr == "" {
		app.Cfg.Server.MetricsAddr = "127.0.0.1:0" // beside a running serve's default
	}
	if err := startAPI(ctx, g, app, c, ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

type demoTask struct {
	from, to              int
	kind, priority, about string
}

var demoTasks = []demoTask{
	{0, 1, "action-needed", "routine", "Seen at hub: please review bloods"},
	{1, 0, "information", "routine", "Extended access appointment attended"},
	{2, 4, "action-needed", "urgent", "Hub clinician requests medication review"},
	{0, 7, "information", "routine", "Discharge summary follow-up"},
	{6, 8, "action-needed", "routine", "Please arrange spirometry"},
	{4, 9, "information", "routine", "Vaccination given at hub"},
	{2, 10, "action-needed", "routine", "Repeat prescription query"},
}

// sendDemoTasks posts sample tasks through the real API with practice keys.
func sendDemoTasks(ctx context.Context, db *store.DB, base string, fed *sim.Federation) (int, error) {
	ps := fed.Practices()
	nhs := []string{"9658218873", "9658220223"}
	keys := map[int]string{}
	sent := 0
	for i, t := range demoTasks {
		if keys[t.from] == "" {
			k, _, err := db.CreateAPIKey(ctx, store.RolePractice, ps[t.from].ODS, "demo")
			if err != nil {
				return sent, err
			}
			keys[t.from] = k
		}
		body, _ := json.Marshal(map[string]any{
			"recipient_ods": ps[t.to].ODS, "patient_nhs_number": nhs[i%len(nhs)], "type": t.kind,
			"priority": t.priority, "subject": t.about, "body": "Demo task from the gpfed simulated federation.",
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/tasks", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keys[t.from])
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("demo-%d-%d", time.Now().Unix(), i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return sent, fmt.Errorf("post demo task: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return sent, fmt.Errorf("post demo task: HTTP %d", resp.StatusCode)
		}
		sent++
	}
	return sent, nil
}

// waitDemoTasks waits until the sample tasks left 'accepted' (except the
// one whose receiver keeps failing, which stays accepted while it retries).
func waitDemoTasks(ctx context.Context, db *store.DB, sent int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var open int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE state = 'accepted'`).Scan(&open); err != nil {
			return err
		}
		if open <= 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("sample tasks were not handled within 60s")
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
