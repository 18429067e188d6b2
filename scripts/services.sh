#!/usr/bin/env bash
# Source this file: it makes sure PostgreSQL and Redis are reachable for
# gpfed, reusing running ones or starting local throwaway ones from the
# installed binaries, and exports the URLs the commands and tests read.
#   . scripts/services.sh          # Postgres and Redis, for gpfed itself
#   . scripts/services.sh tests    # Postgres only: every test binary runs
#                                  # its own private redis-server
# Respects DATABASE_URL / REDIS_URL / GPFED_TEST_DATABASE_URL when already set.

_gpfed_die() { echo "services: $*" >&2; return 1; }

_gpfed_pg_up() { pg_isready -q -h "${1:-127.0.0.1}" -p "${2:-5432}" 2>/dev/null; }

_gpfed_ensure_postgres() {
  if [ -n "${GPFED_TEST_DATABASE_URL:-}" ] && [ -n "${DATABASE_URL:-}" ]; then return 0; fi
  local port=5432
  if ! _gpfed_pg_up 127.0.0.1 $port; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
      echo "services: starting the system PostgreSQL cluster" >&2
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    fi
  fi
  if ! _gpfed_pg_up 127.0.0.1 $port; then
    # Throwaway cluster from the installed binaries, kept under .tmp/.
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$bin/initdb" ] || { _gpfed_die "PostgreSQL is not reachable on 127.0.0.1:5432 and no server binaries are installed (apt-get install postgresql)"; return 1; }
    port=55432
    local dir="$PWD/.tmp/pg"
    mkdir -p "$dir"
    local runas=()
    [ "$(id -u)" = 0 ] && { chown -R postgres "$PWD/.tmp" 2>/dev/null; runas=(runuser -u postgres --); }
    if [ ! -f "$dir/PG_VERSION" ]; then
      "${runas[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust >/dev/null || { _gpfed_die "initdb failed"; return 1; }
    fi
    _gpfed_pg_up 127.0.0.1 $port || "${runas[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/log" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null \
      || { _gpfed_die "could not start a throwaway PostgreSQL (see $dir/log)"; return 1; }
    echo "services: throwaway PostgreSQL on 127.0.0.1:$port (stop: pg_ctl -D $dir stop)" >&2
  fi
  local user=postgres
  export GPFED_TEST_DATABASE_URL="${GPFED_TEST_DATABASE_URL:-postgres://$user@127.0.0.1:$port/postgres?sslmode=disable}"
  if [ -z "${DATABASE_URL:-}" ]; then
    psql "postgres://$user@127.0.0.1:$port/postgres?sslmode=disable" -tAc "SELECT 1 FROM pg_database WHERE datname='gpfed'" 2>/dev/null | grep -q 1 \
      || psql "postgres://$user@127.0.0.1:$port/postgres?sslmode=disable" -qc "CREATE DATABASE gpfed" >/dev/null 2>&1 || true
    export DATABASE_URL="postgres://$user@127.0.0.1:$port/gpfed?sslmode=disable"
  fi
}

_gpfed_ensure_redis() {
  if [ -n "${REDIS_URL:-}" ]; then return 0; fi
  local port=6379
  if ! redis-cli -h 127.0.0.1 -p $port ping >/dev/null 2>&1; then
    command -v redis-server >/dev/null 2>&1 || { _gpfed_die "Redis is not reachable on 127.0.0.1:6379 and redis-server is not installed (apt-get install redis-server)"; return 1; }
    echo "services: starting Redis on 127.0.0.1:$port" >&2
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    if [ -w /var/lib/redis ]; then
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port $port --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    else
      mkdir -p "$PWD/.tmp/redis"
      redis-server --daemonize yes --bind 127.0.0.1 --port $port --save "" --appendonly no --dir "$PWD/.tmp/redis" --logfile "$PWD/.tmp/redis/log"
    fi
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -h 127.0.0.1 -p $port ping >/dev/null 2>&1 || { _gpfed_die "Redis did not start"; return 1; }
  fi
  export REDIS_URL="redis://127.0.0.1:$port/0"
}

# Tests never use the shared Redis (internal/testredis starts a private
# redis-server per test binary), so "tests" needs redis-server installed,
# not running.
if [ "${1:-}" = tests ]; then
  _gpfed_ensure_postgres && { command -v redis-server >/dev/null 2>&1 || _gpfed_die "redis-server is not installed (apt-get install redis-server): the tests start their own"; }
else
  _gpfed_ensure_postgres && _gpfed_ensure_redis
fi
