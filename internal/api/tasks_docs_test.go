package api_test

import (
	"os"
	"strings"
	"testing"
)

// TestTaskAPIDocumented keeps docs/openapi.yaml and docs/API.md in step
// with the routes: every method and path is described in both.
func TestTaskAPIDocumented(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	routes := []struct{ method, path string }{
		{"post", "/v1/tasks"},
		{"get", "/v1/tasks"},
		{"get", "/v1/tasks/{id}"},
		{"post", "/v1/tasks/{id}/cancel"},
		{"post", "/v1/tasks/{id}/ack"},
		{"get", "/v1/inbox"},
		{"get", "/v1/notifications"},
		{"post", "/v1/notifications/{id}/ack"},
	}
	for _, rt := range routes {
		block, ok := pathBlock(string(spec), rt.path)
		if !ok || !strings.Contains(block, "\n    "+rt.method+":") {
			t.Errorf("openapi.yaml does not describe %s %s", strings.ToUpper(rt.method), rt.path)
		}
		if !strings.Contains(string(guide), strings.ToUpper(rt.method)+" "+rt.path) {
			t.Errorf("API.md does not describe %s %s", strings.ToUpper(rt.method), rt.path)
		}
	}
}

// pathBlock returns the text of one entry under paths:.
func pathBlock(spec, path string) (string, bool) {
	start := strings.Index(spec, "\n  "+path+":\n")
	if start < 0 {
		return "", false
	}
	rest := spec[start+1:]
	end := strings.Index(rest[3:], "\n  /")
	if c := strings.Index(rest, "\ncomponents:"); end < 0 || (c >= 0 && c < end) {
		end = c
	}
	if end < 0 {
		return rest, true
	}
	return rest[:end+3], true
}
