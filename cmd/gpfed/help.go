package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// helps is each command's --help text. A request for help is answered
// before the configuration is read or anything is opened, so
// `gpfed admin-key --help` can never issue a key (it once did).
var helps = map[string]string{
	"admin-key": `usage: gpfed admin-key [LABEL]

Issues a federation-admin API key (for the dashboard and the admin API) and
prints it once on standard output; only its hash is stored. LABEL (default
"admin") names the key in listings. Revoke with: gpfed practices revoke PREFIX.`,
	"capacity": `usage: gpfed capacity [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--format table|json|csv]
                      [--practice ODS]... [--role CODE] [--channel CHANNEL]

Prints free bookable capacity per practice per day from the last syncs.
  --from, --to   UK local dates, inclusive (default: today and the next GPFED_SYNC_DAYS-1 days)
  --format       table (default), json, or csv (fixed columns; see README)
  --practice     an active member's ODS code (repeatable; default all)
  --role         an SDS job role code present in the data, e.g. R0260, or "unspecified"
  --channel      In-person, Telephone, Video or "unspecified"
A filter that can match nothing (unknown practice, role or channel, dates
with no synced capacity) is an error naming the valid values (exit 2).`,
	"demo": `usage: gpfed demo [--practices N] [--sim-addr ADDR] [--exit-after-setup]

Runs a simulated federation end to end in one process: simulated GP Connect
providers (with scripted faults), the API and dashboard on GPFED_HTTP_ADDR, a
worker, the scheduler, a first sync and sample tasks. Prints the dashboard
URL and a federation-admin key. Ctrl-C stops it.`,
	"help": `usage: gpfed help [COMMAND]

Prints the list of commands, or one command's usage.`,
	"migrate": `usage: gpfed migrate

Applies the embedded database migrations that DATABASE_URL does not have yet
and lists them (every other command does this too, silently).`,
	"practices": `usage: gpfed practices import FILE.csv|-
       gpfed practices list [--all]
       gpfed practices token ODS
       gpfed practices revoke ODS|KEY_PREFIX
       gpfed practices webhook [--keep-previous DURATION] ODS URL SECRET|-
       gpfed practices webhook ODS

  import   validate every line of the member list, then upsert it (practices
           missing from the file are deactivated); README describes the columns
  list     members (--all: deactivated ones too)
  token    issue a practice API key, printed once
  revoke   revoke every key of a practice, or one key by its prefix
  webhook  set a practice's task webhook and signing secret ("-" reads the
           secret from standard input; --keep-previous signs with the old
           secret too for that long); ODS alone clears the webhook`,
	"scheduler": `usage: gpfed scheduler

Runs the cron scheduler: the capacity sync (GPFED_SYNC_SCHEDULE),
reconciliation, expiry and retention. Run one or more replicas: one leads
(a Postgres lease), the others stand by.`,
	"serve": `usage: gpfed serve

Serves the API, the dashboard, /metrics, /healthz and /readyz on GPFED_HTTP_ADDR.`,
	"sim": `usage: gpfed sim [--addr ADDR] [--practices N] [--seed N] [--slots-per-day N] [--latency D]
                 [--write-csv FILE|-] [--base-url URL] [--fault ODS=STATUS[xTIMES]|ODS=timeout|ODS=malformed]...
                 [--pre-encode-days N [--pre-encode-for ODS]]

Serves a simulated GP Connect federation (and webhook receivers) for demos,
tests and benchmarks. --write-csv writes the matching practices CSV (- prints
it and exits). --pre-encode-days encodes the responses to 14-day Slot
searches of N days from today before serving (benchmarks: the load
generator's encoding is then not counted against the consumer).`,
	"sync": `usage: gpfed sync --once [--days N] [--practice ODS]...

Runs one capacity sync now and waits for it, processing its own fetches
in-process (running workers help). Exit 0 when every practice succeeded, 1
when any failed (each listed with its status and Spine error), 2 on usage
errors. Periodic syncs: gpfed scheduler.`,
	"version": `usage: gpfed version

Prints gpfed's version, the commit it was built from and the Go version.`,
	"worker": `usage: gpfed worker

Runs a queue worker: capacity fetches, task and notification delivery. Run
any number, on any machines sharing Postgres and Redis.`,
}

// isHelpFlag reports whether arg asks for help in any usual spelling.
func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// wantsHelp reports whether a command's arguments ask for help: a help flag
// anywhere before "--", or the word help as the first or second argument
// (gpfed practices help, gpfed practices token help). No ODS code, file or
// label a command takes can be spelled that way by accident.
func wantsHelp(args []string) bool {
	for i, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) || (a == "help" && i < 2) {
			return true
		}
	}
	return false
}

// printHelp writes the usage of command name, or the command list.
func printHelp(w io.Writer, name string) {
	text, ok := helps[name]
	if !ok {
		printUsage(w)
		return
	}
	fmt.Fprintln(w, strings.TrimSpace(text))
	fmt.Fprintln(w, "\nConfiguration is read from the environment; see README.md.")
}

func init() {
	register("version", "print the version and build details", runVersion)
}

// buildVersion is the stamped version, or the module version and VCS
// revision Go recorded when the binary was built without -ldflags.
func buildVersion() (ver, revision, goVersion string) {
	ver, revision, goVersion = version, "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ver, revision, goVersion
	}
	goVersion = info.GoVersion
	if ver == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		ver = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				revision += "+dirty"
			}
		}
	}
	return ver, revision, goVersion
}
