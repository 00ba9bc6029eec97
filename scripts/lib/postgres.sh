# Sourced by scripts: a throwaway PostgreSQL cluster on a private socket directory, no TCP listener.
# Installs PostgreSQL from Debian if absent. Sets PG_ROOT, PG_PORT and PG_CONNECTION; stops it on exit.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

start_throwaway_postgres() {
  local pg_bin
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$pg_bin" ]; then
    echo "PostgreSQL not found: installing it from Debian's packages"
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$pg_bin" ] || return 1
  fi
  PG_BIN=$pg_bin
  PG_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/unlearn-pg.XXXXXX")
  PG_PORT=${1:-54329}
  # initdb refuses to run as root: the cluster belongs to the postgres user then.
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PG_ROOT"
    as_pg() { runuser -u postgres -- "$@"; }
  else
    as_pg() { "$@"; }
  fi
  trap stop_throwaway_postgres EXIT
  as_pg "$PG_BIN/initdb" -D "$PG_ROOT/data" -U postgres --auth=trust -E UTF8 >"$PG_ROOT/initdb.log" 2>&1 || { cat "$PG_ROOT/initdb.log"; return 1; }
  # The socket directory is private, so the port only names the socket file.
  as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -w -l "$PG_ROOT/server.log" \
    -o "-p $PG_PORT -k $PG_ROOT -c listen_addresses= -c max_connections=300 -c fsync=off" start >/dev/null \
    || { cat "$PG_ROOT/server.log"; return 1; }
  PG_CONNECTION="Host=$PG_ROOT;Port=$PG_PORT;Username=postgres"
}

stop_throwaway_postgres() {
  [ -n "${PG_ROOT:-}" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$PG_ROOT"
}
