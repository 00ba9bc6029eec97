#!/usr/bin/env bash
# Runs every test against real parts: builds the solution, starts a throwaway PostgreSQL cluster on a private
# socket directory (installing PostgreSQL and the Fashion-MNIST data from Debian if absent), runs `dotnet test`,
# tears the cluster down, and ends with the line "N passed, N failed".
# Usage: scripts/test.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Startup]
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# libgomp's busy-waiting threads make libtorch several times slower on a small shared machine.
export OMP_WAIT_POLICY=PASSIVE
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_bin" ]; then
  echo "PostgreSQL not found: installing it from Debian's packages"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$pg_bin" ] || { echo "PostgreSQL could not be installed"; echo "0 passed, 1 failed"; exit 1; }
fi

# End-to-end tests import a subset of real data: Debian's Fashion-MNIST package.
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  echo "Fashion-MNIST not found: installing dataset-fashion-mnist from Debian's packages"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null \
    || { echo "dataset-fashion-mnist could not be installed"; echo "0 passed, 1 failed"; exit 1; }
fi

pg_root=$(mktemp -d "${TMPDIR:-/tmp}/unlearn-pg.XXXXXX")
pg_port=54329
# initdb refuses to run as root: the cluster belongs to the postgres user then.
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$pg_root"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
stop_pg() { as_pg "$pg_bin/pg_ctl" -D "$pg_root/data" -m immediate stop >/dev/null 2>&1; rm -rf "$pg_root"; }
trap stop_pg EXIT

as_pg "$pg_bin/initdb" -D "$pg_root/data" -U postgres --auth=trust -E UTF8 >"$pg_root/initdb.log" 2>&1 \
  || { cat "$pg_root/initdb.log"; echo "0 passed, 1 failed"; exit 1; }
# No TCP listener: the socket directory is private, so the port only names the socket file.
as_pg "$pg_bin/pg_ctl" -D "$pg_root/data" -w -l "$pg_root/server.log" \
  -o "-p $pg_port -k $pg_root -c listen_addresses= -c max_connections=300 -c fsync=off" start >/dev/null \
  || { cat "$pg_root/server.log"; echo "0 passed, 1 failed"; exit 1; }
export UNLEARN_TEST_POSTGRES="Host=$pg_root;Port=$pg_port;Username=postgres"

results="$repo/artifacts/test-results"
rm -rf "$results"
dotnet test UnlearnService.sln -c Release --logger "trx" --results-directory "$results" "$@"
status=$?

passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a build or runner failure counts as a failure
echo "$passed passed, $failed failed"
exit "$status"
