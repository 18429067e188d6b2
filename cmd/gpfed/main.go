// Command gpfed is the federation capacity sync and task delivery service.
// main only parses the subcommand, sets up signals and the logger, and hands
// off to realMain; each subcommand lives in its own file and registers itself.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gpfed/gpfed/internal/config"
	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/sds"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, app *App, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, app *App, args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

// UsageError makes the process exit 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return UsageError{Msg: fmt.Sprintf(format, args...)} }

// ExitError carries a specific exit code with an already-printed outcome.
type ExitError struct {
	Code int
	Msg  string
}

func (e ExitError) Error() string { return e.Msg }

// App gives subcommands their configuration, logger and output streams.
type App struct {
	Cfg    *config.All
	Log    *slog.Logger
	Stdout io.Writer
	Stderr io.Writer

	// The process's one SDS client (its rate limit is the process's), built
	// on first use by sdsClient.
	sdsOnce sync.Once
	sds     *sds.Client
	sdsErr  error
}

func main() {
	ctx, stop := signalContext()
	defer stop()
	err := realMain(ctx, os.Args[1:])
	if err == nil {
		return
	}
	var ue UsageError
	var ee ExitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "gpfed: %s\n", ue.Msg)
		os.Exit(2)
	case errors.As(err, &ee):
		if ee.Msg != "" {
			fmt.Fprintf(os.Stderr, "gpfed: %s\n", ee.Msg)
		}
		os.Exit(ee.Code)
	default:
		fmt.Fprintf(os.Stderr, "gpfed: %v\n", err)
		os.Exit(1)
	}
}

// signalContext is cancelled by the first SIGINT/SIGTERM; a second one exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		signalLog("shutting down (signal again to exit at once)", sig)
		cancel()
		sig = <-ch
		signalLog("second signal, exiting now", sig)
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// processLog is the command's logger once the configuration is loaded; the
// signal handler writes through it so that the shutdown lines are in the
// same format (JSON in production) as everything else.
var processLog atomic.Pointer[slog.Logger]

func signalLog(msg string, sig os.Signal) {
	if l := processLog.Load(); l != nil {
		l.Info(msg, "component", "process", "signal", sig.String())
		return
	}
	fmt.Fprintf(os.Stderr, "gpfed: %s\n", msg)
}

func realMain(ctx context.Context, args []string) error {
	if len(args) == 0 {
		printUsage(os.Stderr)
		return UsageError{Msg: "a command is required"}
	}
	if isHelpFlag(args[0]) || args[0] == "help" {
		name := ""
		if len(args) > 1 {
			name = args[1]
		}
		printHelp(os.Stdout, name)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		printUsage(os.Stderr)
		return usagef("unknown command %q", args[0])
	}
	if wantsHelp(args[1:]) {
		// Before the configuration and any connection: help never acts.
		printHelp(os.Stdout, args[0])
		return nil
	}
	if noConfig[args[0]] {
		return cmd.run(ctx, &App{Stdout: os.Stdout, Stderr: os.Stderr}, args[1:])
	}
	cfg, err := config.Load(ctx, nil)
	if err != nil {
		return UsageError{Msg: err.Error()}
	}
	log := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	logging.CaptureLibraries(log)
	app := &App{Cfg: cfg, Log: log, Stdout: os.Stdout, Stderr: os.Stderr}
	processLog.Store(log)
	if path := os.Getenv("GPFED_CPUPROFILE"); path != "" {
		// For benchmarking: a CPU profile of the whole command, written to
		// the given path with the command's name appended (sync.pprof.serve).
		stop, err := startCPUProfile(path + "." + args[0])
		if err != nil {
			return err
		}
		defer stop()
	}
	if path := os.Getenv("GPFED_MEMPROFILE"); path != "" {
		// For benchmarking: where the command allocated (go tool pprof
		// -sample_index=alloc_space), written when it ends.
		defer writeHeapProfile(path+"."+args[0], log)
	}
	err = cmd.run(ctx, app, args[1:])
	if err != nil && loggedCommands[args[0]] && !errors.As(err, new(UsageError)) {
		// A service's last word is a log record like all its others (JSON
		// in production), so a log pipeline sees why it stopped.
		log.Error("command failed", "component", "process", "command", args[0], "error", err.Error())
		return ExitError{Code: 1}
	}
	return err
}

// noConfig commands work whatever the environment holds.
var noConfig = map[string]bool{"version": true, "probe": true}

// loggedCommands are the long-running services, whose failure is logged
// rather than printed for a person at a terminal.
var loggedCommands = map[string]bool{"serve": true, "worker": true, "scheduler": true, "demo": true, "sync": true}

// runVersion needs no configuration: it works with a broken environment.
func runVersion(_ context.Context, app *App, args []string) error {
	if len(args) > 0 {
		return usagef("version takes no arguments")
	}
	ver, rev, gover := buildVersion()
	fmt.Fprintf(app.Stdout, "gpfed %s (commit %s, %s)\n", ver, rev, gover)
	return nil
}

func printUsage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: gpfed <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", n, commands[n].summary)
	}
	b.WriteString("\n`gpfed COMMAND --help` (or `gpfed help COMMAND`) shows a command's usage.\n")
	b.WriteString("Configuration is read from the environment; see README.md.\n")
	fmt.Fprint(w, b.String())
}

func writeHeapProfile(path string, log *slog.Logger) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Warn("write memory profile", "path", path, "error", err.Error())
	}
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
