package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server that persists nothing, on its own port,
// so FLUSHALL and restarts hit only its owner.
type Redis struct {
	Port int
	proc *Proc
}

// StartRedis starts redis-server with its files and log under dir.
func StartRedis(dir string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--port", itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning"}
	r := &Redis{Port: port, proc: NewProc("redis", "redis-server", args, os.Environ(), filepath.Join(dir, "redis.log"))}
	if err := r.proc.Start(); err != nil {
		return nil, err
	}
	if err := waitFor(10*time.Second, r.ping); err != nil {
		r.Stop()
		return nil, fmt.Errorf("redis on %d: %w", port, err)
	}
	return r, nil
}

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Addr is host:port.
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

func (r *Redis) client() *redis.Client { return redis.NewClient(&redis.Options{Addr: r.Addr()}) }

func (r *Redis) ping() error {
	c := r.client()
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

// FlushAll empties this private server.
func (r *Redis) FlushAll(ctx context.Context) error {
	c := r.client()
	defer c.Close()
	return c.FlushAll(ctx).Err()
}

// Pid is the server's process id.
func (r *Redis) Pid() int { return r.proc.Pid() }

// Stop shuts the server down.
func (r *Redis) Stop() { _ = r.proc.Stop(syscall.SIGTERM, 5*time.Second) }

// PGBin is where the PostgreSQL server binaries live: GPFED_PG_BIN, else
// the newest /usr/lib/postgresql/*/bin (Debian's layout).
var PGBin = pgBin()

func pgBin() string {
	if d := os.Getenv("GPFED_PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	if len(dirs) == 0 {
		return "/usr/lib/postgresql/15/bin"
	}
	return dirs[len(dirs)-1]
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Postgres is a private PostgreSQL cluster (trust auth, its own port and
// socket directory) that its owner may stop, crash and restart.
type Postgres struct {
	Port int
	Dir  string
	proc *Proc
}

// StartPostgres runs initdb in dir/data and starts the server. As root it
// runs both as the postgres user (initdb refuses root).
func StartPostgres(dir string) (*Postgres, error) { return StartPostgresWith(dir) }

// StartPostgresWith is StartPostgres with extra server settings
// ("name=value", applied after the defaults, so they win).
func StartPostgresWith(dir string, settings ...string) (*Postgres, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(PGBin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// fsync off: a stop (even an immediate one) loses nothing while the
	// kernel keeps running, and the tests get faster on a busy machine.
	args := []string{"-D", data, "-p", itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "max_connections=200", "-c", "log_min_messages=warning"}
	for _, kv := range settings {
		args = append(args, "-c", kv)
	}
	pg := &Postgres{Port: port, Dir: dir,
		proc: NewProc("postgres", filepath.Join(PGBin, "postgres"), args, os.Environ(), filepath.Join(dir, "postgres.log"))}
	pg.proc.cred = cred
	if err := pg.Start(); err != nil {
		return nil, err
	}
	return pg, nil
}

func postgresCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("chown %s: %w", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Start (re)starts the server and waits until it accepts connections.
func (pg *Postgres) Start() error {
	if err := pg.proc.Start(); err != nil {
		return err
	}
	return waitFor(30*time.Second, func() error {
		if ok, err := pg.proc.Running(); !ok {
			return fmt.Errorf("postgres exited: %v (see %s)", err, pg.proc.LogPath)
		}
		c, err := pgx.Connect(context.Background(), pg.URL("postgres"))
		if err != nil {
			return err
		}
		return c.Close(context.Background())
	})
}

// Pid is the postmaster's process id.
func (pg *Postgres) Pid() int { return pg.proc.Pid() }

// Crash stops the server the hard way (immediate shutdown: no checkpoint,
// clients cut off; the next start replays the WAL).
func (pg *Postgres) Crash() error { return pg.proc.Stop(syscall.SIGQUIT, 10*time.Second) }

// Stop shuts the server down cleanly (fast shutdown).
func (pg *Postgres) Stop() { _ = pg.proc.Stop(syscall.SIGINT, 15*time.Second) }

// URL is the connection URL of database name.
func (pg *Postgres) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, name)
}

// CreateDatabase creates database name on the server behind adminURL and
// returns its URL (same server and credentials).
func CreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect admin: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(cfg.Host, "/") { // a Unix socket directory
		return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", cfg.User, name, cfg.Host, cfg.Port), nil
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name), nil
}

// DropDatabase drops name, disconnecting whoever still uses it.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect admin: %w", err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}
