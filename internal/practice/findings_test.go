package practice

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/webhook"
)

// Issue 10 findings in the practices CSV: each case was accepted (or
// refused without a line number) before.
func TestParseCSVFindings(t *testing.T) {
	t.Parallel()
	const head = "ods_code,name,asid,endpoint,webhook_url\n"
	const ep = "https://p.example/A20047/STU3/1/gpconnect"
	row := func(name, hook string) string { return "A20047," + name + ",918999198993," + ep + "," + hook + "\n" }
	dev := Parser{Webhooks: webhook.Policy{AllowHTTP: true, AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	for _, c := range []struct {
		name     string
		parser   Parser
		in       string
		wantLine int    // 0: the file is accepted
		wantCol  string // the column named
		wantText string // in the reason
	}{
		{"Latin-1 name, line numbered", Parser{}, head + "B81016,Ok,918999198994," + ep + ",\n" + row("Caf\xe9 Surgery", ""), 3, "name", "Latin-1"},
		{"Latin-1 after a multi-line quoted field", Parser{}, head + "B81016,\"Two\nlines\",918999198994," + ep + ",\n" + row("S\xfcd", ""), 4, "name", "UTF-8"},
		{"webhook_secret column refused", Parser{}, "ods_code,name,asid,endpoint,webhook_url,webhook_secret\n" + "A20047,X,918999198993," + ep + ",https://h.example/a,0123456789abcdef\n", 1, "webhook_secret", "generates"},
		{"http:// webhook refused", Parser{}, head + row("X", "http://hooks.example/a"), 2, "webhook_url", "https"},
		{"http:// webhook in development", dev, head + row("X", "http://hooks.example/a"), 0, "", ""},
		{"loopback webhook refused", Parser{}, head + row("X", "https://127.0.0.1:5432/"), 2, "webhook_url", "loopback"},
		{"metadata webhook refused", Parser{}, head + row("X", "https://169.254.169.254/latest"), 2, "webhook_url", "link-local"},
		{"localhost webhook refused", Parser{}, head + row("X", "https://localhost/hook"), 2, "webhook_url", "loopback"},
		{"allow-listed loopback", dev, head + row("X", "http://127.0.0.1:9000/hooks/A20047"), 0, "", ""},
		{"name too long", Parser{}, head + row(strings.Repeat("n", 201), ""), 2, "name", "at most 200"},
		{"terminal escape in name", Parser{}, head + row("Evil\x1b]0;pwned\x07", ""), 2, "name", "control"},
		{"bidi override in name", Parser{}, head + row("Surgery\u202Egnp.exe", ""), 2, "name", "bidirectional"},
		{"zero-width only name", Parser{}, head + row("\u200b\u200b", ""), 2, "name", "invisible"},
		{"negative rate limit", Parser{}, "ods_code,name,asid,endpoint,rate_limit_per_minute\nA20047,X,918999198993," + ep + ",-1\n", 2, "rate_limit_per_minute", "requests per minute"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.parser.Parse(strings.NewReader(c.in))
			if c.wantLine == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("accepted, or not an ImportError: %v", err)
			}
			for _, l := range ie.Lines {
				if l.Line == c.wantLine && l.Column == c.wantCol && strings.Contains(l.Reason, c.wantText) {
					if strings.ContainsAny(l.Error(), "\x1b\x07\u202e") {
						t.Fatalf("the error prints the raw control characters: %q", l.Error())
					}
					return
				}
			}
			t.Fatalf("want line %d column %s mentioning %q, got %v", c.wantLine, c.wantCol, c.wantText, err)
		})
	}
}
