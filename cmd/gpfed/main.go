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
	"sync/atomic"
	"syscall"

	"github.com/gpfed/gpfed/internal/config"
	"github.com/gpfed/gpfed/internal/logging"
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
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(os.Stdout)
		if len(args) == 0 {
			return UsageError{Msg: "a command is required"}
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		printUsage(os.Stderr)
		return usagef("unknown command %q", args[0])
	}
	cfg, err := config.Load(ctx, nil)
	if err != nil {
		return UsageError{Msg: err.Error()}
	}
	log := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
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
	return cmd.run(ctx, app, args[1:])
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
	b.WriteString("\nConfiguration is read from the environment; see README.md.\n")
	fmt.Fprint(w, b.String())
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
