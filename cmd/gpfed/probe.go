package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

func init() {
	register("probe", "GET a URL and exit 0 on a 2xx answer (container health checks; the image has no shell or curl)", runProbe)
	helps["probe"] = `usage: gpfed probe URL

GETs URL with a 5 s timeout and exits 0 when the answer is 2xx, 1 otherwise.
For container health checks, since the image has no shell and no curl:
  healthcheck: ["CMD", "/usr/local/bin/gpfed", "probe", "http://127.0.0.1:8080/readyz"]`
}

const probeTimeout = 5 * time.Second

func runProbe(ctx context.Context, app *App, args []string) error {
	if len(args) != 1 {
		return usagef("usage: gpfed probe URL")
	}
	u, err := url.Parse(args[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("probe: %q is not an http(s) URL", args[0])
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return usagef("probe: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ExitError{Code: 1, Msg: fmt.Sprintf("probe %s: %v", u.Redacted(), err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return ExitError{Code: 1, Msg: fmt.Sprintf("probe %s: HTTP %d", u.Redacted(), resp.StatusCode)}
	}
	fmt.Fprintf(app.Stdout, "%s: HTTP %d\n", u.Redacted(), resp.StatusCode)
	return nil
}
