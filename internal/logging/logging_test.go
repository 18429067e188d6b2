package logging_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/logging"
)

// Issue 10: a log line repeated its component key. However a component is
// given again, each line carries exactly one, the first.
func TestOneComponentPerLine(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		l := logging.New(&buf, "debug", format)
		api := l.With("component", "api")
		api.Info("repeated at the call site", "component", "api", "n", 1)
		api.With("component", "other").Info("repeated by With", "n", 2)
		l.Info("given once", "component", "worker", "n", 3)
		l.Info("given twice on one line", "component", "a", "component", "b")
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if n := strings.Count(line, "component"); n != 1 {
				t.Errorf("%s: %d component keys: %s", format, n, line)
			}
		}
		if !strings.Contains(buf.String(), "component\":\"api") && !strings.Contains(buf.String(), "component=api") {
			t.Errorf("%s: the first component was not kept: %s", format, buf.String())
		}
	}
}
