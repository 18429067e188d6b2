package api_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// pgProxy forwards TCP to the real Postgres and can fail on demand: refuse
// everything (down), or cut a connection the moment the client sends a
// statement containing killOn (Postgres dying mid-transaction).
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	killOn []byte
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *pgProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[s] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(c, s); c.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			kill := len(p.killOn) > 0 && bytes.Contains(buf[:n], p.killOn)
			p.mu.Unlock()
			if kill {
				break
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
	s.Close()
}

// setDown refuses new connections and cuts the live ones (or stops doing so).
func (p *pgProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

func (p *pgProxy) killWhenSent(stmt string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killOn = []byte(stmt)
}

func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	_, dbURL := testdb.New(t)
	proxy := startProxy(t, "127.0.0.1:5432")
	proxied := strings.Replace(dbURL, "127.0.0.1:5432", proxy.ln.Addr().String(), 1)
	if proxied == dbURL {
		t.Skipf("test database URL %q does not point at 127.0.0.1:5432", dbURL)
	}
	db, err := store.Open(context.Background(), proxied, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	f := newFixtureWithDB(t, db)

	// Postgres dies while the intake statement (task, event and queue row
	// in one) is on its way: it never commits and the caller hears 503.
	// (This runs first: pgx sends a statement's text only until it is
	// prepared.)
	proxy.killWhenSent("INSERT INTO delivery_queue")
	res := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(), "Idempotency-Key", "during-crash")
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("mid-transaction crash: %d Retry-After %q; %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if reason := res.reason(t); !strings.Contains(reason, "nothing was stored") {
		t.Fatalf("reason %q", reason)
	}
	proxy.killWhenSent("")
	delivered := f.create()
	f.deliver(delivered.ID)

	proxy.setDown(true)
	for _, tc := range []struct{ method, path string }{
		{"POST", "/v1/tasks"},
		{"GET", "/v1/tasks/" + delivered.ID},
		{"POST", "/v1/tasks/" + delivered.ID + "/ack"},
		{"POST", "/v1/tasks/" + delivered.ID + "/cancel"},
		{"GET", "/v1/tasks"},
		{"GET", "/v1/inbox"},
		{"GET", "/v1/notifications"},
		{"POST", "/v1/notifications/" + delivered.ID + "/ack"},
	} {
		body := ""
		if tc.path == "/v1/tasks" {
			body = taskBody()
		}
		res := f.do(tc.method, tc.path, f.keys[odsB], body)
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
			t.Fatalf("%s %s while down: %d Retry-After %q; %s", tc.method, tc.path, res.status, res.header.Get("Retry-After"), res.body)
		}
		res.reason(t)
	}
	for _, path := range []string{"/v1/practices", "/v1/capacity", "/v1/sync-runs"} {
		res := f.do("GET", path, f.keys["admin"], "")
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
			t.Fatalf("GET %s while down: %d Retry-After %q; %s", path, res.status, res.header.Get("Retry-After"), res.body)
		}
		res.reason(t)
	}
	// The dashboard cannot look the session up: a 503 page, not a 500 or the login form.
	res = f.do("GET", "/", "", "", "Cookie", "gpfed_session=any-session")
	if res.status != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "Database unavailable") {
		t.Fatalf("dashboard while down: %d; %s", res.status, res.body)
	}
	proxy.setDown(false)

	// Back up: the retried request is accepted once; only it and the
	// first task exist.
	deadline := time.Now().Add(20 * time.Second)
	for {
		res = f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(), "Idempotency-Key", "during-crash")
		if res.status == http.StatusAccepted || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res.status != http.StatusAccepted {
		t.Fatalf("after recovery: %d %s", res.status, res.body)
	}
	// first task: accepted + delivered events, a task.delivered notification
	// (queued) to A; second: accepted and queued. No ack went through.
	if diff := cmp.Diff([4]int{2, 3, 2, 1}, f.counts()); diff != "" {
		t.Fatalf("rows after the outage (-want +got):\n%s", diff)
	}
}
