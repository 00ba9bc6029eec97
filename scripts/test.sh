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
# The engine's own oneDNN setting (TorchRuntime), here before any test process loads libtorch.
export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

source scripts/lib/postgres.sh

# End-to-end tests import a subset of real data: Debian's Fashion-MNIST package.
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  echo "Fashion-MNIST not found: installing dataset-fashion-mnist from Debian's packages"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null \
    || { echo "dataset-fashion-mnist could not be installed"; echo "0 passed, 1 failed"; exit 1; }
fi

start_throwaway_postgres 54329 || { echo "PostgreSQL could not be started"; echo "0 passed, 1 failed"; exit 1; }
export UNLEARN_TEST_POSTGRES="$PG_CONNECTION"

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
