package api_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/api"
)

const (
	specPath  = "../../docs/openapi.yaml"
	guidePath = "../../docs/API.md"
)

var (
	specPathLine   = regexp.MustCompile(`^  (/\S*):\s*$`)
	specMethodLine = regexp.MustCompile(`^    (get|put|post|delete|patch|head|options):\s*$`)
)

// specOperations reads "METHOD /path" for every operation under paths: in
// docs/openapi.yaml (two-space paths, four-space methods, as the file is
// written).
func specOperations(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(specPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ops []string
	path, inPaths := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && line != "" && !strings.HasPrefix(line, " "):
			inPaths = false
		case inPaths && specPathLine.MatchString(line):
			path = specPathLine.FindStringSubmatch(line)[1]
		case inPaths && path != "" && specMethodLine.MatchString(line):
			ops = append(ops, strings.ToUpper(specMethodLine.FindStringSubmatch(line)[1])+" "+path)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

// Every route serve answers (practice and admin API, health, metrics) is in
// docs/openapi.yaml and docs/API.md, and the document describes no route
// that is not served.
func TestOpenAPIMatchesServedRoutes(t *testing.T) {
	t.Parallel()
	served, pages := api.Routes()
	if len(served) == 0 || len(pages) == 0 {
		t.Fatalf("routes: %d API, %d pages", len(served), len(pages))
	}
	documented := specOperations(t)
	slices.Sort(served)
	slices.Sort(documented)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("served API routes (-) vs docs/openapi.yaml operations (+):\n%s", diff)
	}
	guide, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range served {
		if !strings.Contains(string(guide), r) {
			t.Errorf("docs/API.md does not mention %s", r)
		}
	}
}

// lintProblem is one problem line of redocly's stylish format ("  18:10  warning  rule  message").
var lintProblem = regexp.MustCompile(`(?m)^\s*\d+:\d+\s+(error|warning)\s.*$`)

// EnvOpenAPILint makes the lint test mandatory (CI sets it; make test
// installs the pinned linter first).
const EnvOpenAPILint = "GPFED_OPENAPI_LINT"

// docs/openapi.yaml lints clean, no error and no warning, under Redocly's
// recommended OpenAPI 3.1 rules, with the linter pinned in
// scripts/openapi-lint/package-lock.json (installed by make test).
func TestOpenAPILintsClean(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs("../../scripts/openapi-lint")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "redocly")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv(EnvOpenAPILint) != "" {
			t.Fatalf("%s is set but the linter is not installed: %v (make openapi-lint-deps)", EnvOpenAPILint, err)
		}
		t.Skipf("OpenAPI lint skipped: the pinned linter is not installed (make openapi-lint-deps, which needs npm); %s=1 makes this a failure", EnvOpenAPILint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lint", "--config", filepath.Join(dir, "redocly.yaml"), "--format", "stylish", specPath)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly lint failed: %v\n%s", err, out)
	}
	problems := lintProblem.FindAllString(string(out), -1)
	if len(problems) > 0 || !strings.Contains(string(out), "Your API description is valid") {
		t.Errorf("lint problems %q in:\n%s", problems, out)
	}
}
