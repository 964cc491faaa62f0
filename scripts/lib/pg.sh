# shellcheck shell=bash
# PostgreSQL 15 clusters for tests and the quick start: initdb/pg_ctl as the postgres user
# (they refuse to run as root), loopback only, a free port. Source this file.
#
#   pg_start_cluster DIR PORT [durable]   initdb DIR if needed, then start it on 127.0.0.1:PORT
#   pg_stop_cluster DIR [mode]            pg_ctl stop (mode: fast, the default, or immediate)
#   pg_free_port                          print a free loopback TCP port
#   pg_as_owner CMD...                    run CMD as the cluster's owner (postgres when root)
#   pg_url PORT [DB] [USER]               postgresql://USER@127.0.0.1:PORT/DB (postgres, postgres)
#   pg_start_throwaway                    a temporary cluster, removed at exit; sets
#                                         PG_TMP_DATA and PG_TMP_PORT

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

pg_url() {
  echo "postgresql://${3:-postgres}@127.0.0.1:$1/${2:-postgres}"
}

# pg_start_cluster DIR PORT [durable]: without "durable", the cluster trades crash safety for
# speed (fsync=off, ...), which is right for a throwaway test server only.
pg_start_cluster() {
  local dir=$1 port=$2 durable=${3:-}
  if [ ! -s "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    pg_as_owner "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; return 1; }
    rm -f "$dir.initdb.log"
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "unix_socket_directories = ''"
      echo "max_connections = 200"
      echo "log_min_messages = warning"
      echo "log_line_prefix = '%m [%p] '"
      if [ "$durable" != durable ]; then
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } >>"$dir/postgresql.conf"
  fi
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -o "-p $port" -l "$dir/server.log" -w -t 60 start \
    >/dev/null || { tail -n 20 "$dir/server.log" >&2; return 1; }
}

pg_stop_cluster() {
  local dir=$1 mode=${2:-fast}
  [ -s "$dir/postmaster.pid" ] || return 0
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
}

# Whether the cluster in DIR runs (its postmaster answers).
pg_running() {
  pg_as_owner "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

_pg_throwaway_cleanup() {
  if [ -n "${PG_TMP_ROOT:-}" ]; then
    pg_stop_cluster "$PG_TMP_DATA" immediate
    rm -rf "$PG_TMP_ROOT"
    PG_TMP_ROOT=
  fi
}

pg_start_throwaway() {
  PG_TMP_ROOT=$(mktemp -d /tmp/tickd-pg.XXXXXX)
  chmod 755 "$PG_TMP_ROOT"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_TMP_ROOT"
  PG_TMP_DATA=$PG_TMP_ROOT/data
  PG_TMP_PORT=$(pg_free_port)
  trap _pg_throwaway_cleanup EXIT
  pg_start_cluster "$PG_TMP_DATA" "$PG_TMP_PORT"
}
