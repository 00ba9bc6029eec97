#!/usr/bin/env bash
# Load benchmark of the request path against PostgreSQL, in one command: builds the service in Release, starts a
# throwaway PostgreSQL, imports Fashion-MNIST (with subjects of 20 images) and a small CNN, then
#  1. measures the time from a submission to a worker picking its run up (idle system, 3 samples), and
#  2. runs wrk against POST /v1/deletion-requests and prints submissions per second and p50/p99 latency.
# Installs wrk, PostgreSQL and dataset-fashion-mnist from Debian if absent. Options: DURATION=20s CONNECTIONS=16.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
source scripts/lib/postgres.sh
duration=${DURATION:-20s}
connections=${CONNECTIONS:-16}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || missing+=(dataset-fashion-mnist)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
start_throwaway_postgres 54331

dotnet build src/UnlearnService -c Release -v q -nologo >/dev/null
dotnet build src/UnlearnService.Cli -c Release -v q -nologo >/dev/null
work=$(mktemp -d)
service="dotnet src/UnlearnService/bin/Release/net10.0/UnlearnService.dll"
export Database__Provider=postgres Database__ConnectionString="$PG_CONNECTION;Database=postgres" Service__DataDirectory="$work" \
  Pipeline__BatchWindow=00:00:00 Kestrel__Endpoints__Http__Url=http://127.0.0.1:5099 Serilog__MinimumLevel__Default=Warning
$service migrate >/dev/null
key=$($service create-key --tenant load --scopes admin | tail -n 1)
$service >"$work/service.log" 2>&1 &
service_pid=$!
trap 'kill $service_pid 2>/dev/null; stop_throwaway_postgres; rm -rf "$work"' EXIT
# Polls "$@" every $1 seconds for at most $2 seconds; fails with a message naming what never happened.
wait_for() {
  local every=$1 limit=$2 what=$3; shift 3
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then echo "loadtest: gave up after ${limit}s waiting for $what" >&2; tail -n 20 "$work/service.log" >&2; exit 1; fi
    sleep "$every"
  done
}
wait_for 1 120 "the service to be ready" curl -sf http://127.0.0.1:5099/health/ready -o /dev/null
auth="Authorization: Bearer $key"
fashion=$(dirname "$(dpkg -L dataset-fashion-mnist | grep '/train-images-idx3-ubyte.gz$')")

echo "Importing Fashion-MNIST (70,000 images) …"
dataset=$(curl -sf -H "$auth" -F name=fashion -F format=idx -F subject_size=20 \
  -F train_images=@"$fashion/train-images-idx3-ubyte.gz" -F train_labels=@"$fashion/train-labels-idx1-ubyte.gz" \
  -F test_images=@"$fashion/t10k-images-idx3-ubyte.gz" -F test_labels=@"$fashion/t10k-labels-idx1-ubyte.gz" \
  http://127.0.0.1:5099/v1/datasets | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
dotnet src/UnlearnService.Cli/bin/Release/net10.0/unlearn.dll train --data fashion-mnist --subset 2000 --epochs 1 --width 4 --out "$work/m.safetensors" >/dev/null
model=$(curl -sf -H "$auth" -F name=cnn -F dataset_id="$dataset" -F weights=@"$work/m.safetensors" http://127.0.0.1:5099/v1/models \
  | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
# Wait while the worker pre-computes SSD's importance for the current version: an idle system, as the measure says.
importance_cached() {
  # The current version is the last of the lineage.
  curl -sf -H "$auth" "http://127.0.0.1:5099/v1/models/$model/versions" | grep -o '"importanceCached":[a-z]*' | tail -n 1 | grep -q true
}
picked_up() {
  # Running, or already past it: a run can finish between two polls.
  curl -sf -H "$auth" "http://127.0.0.1:5099$location" | grep -q '"runStatus":"\(running\|completed\|needs_retraining\|failed\|cancelled\)"'
}
finished() {
  curl -sf -H "$auth" "http://127.0.0.1:5099$location" | grep -q '^{[^[]*"status":"\(completed\|failed\|needs_retraining\|cancelled\|rejected\)"'
}
wait_idle() { wait_for 0.5 600 "SSD's importance of the current version" importance_cached; }

echo "Time from submission to a worker picking the run up (idle system):"
for i in 1 2 3; do
  wait_idle
  start=$(date +%s.%N)
  location=$(curl -sf -D - -o /dev/null -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"subjectIds\":[\"subject-$i\"],\"method\":\"ssd\"}" http://127.0.0.1:5099/v1/deletion-requests | tr -d '\r' | sed -n 's/^Location: //Ip')
  wait_for 0.05 300 "a worker to pick up request $i" picked_up
  echo "  sample $i: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }') s"
  # Let the run finish (whatever its verdict) before the next sample.
  wait_for 0.2 600 "request $i to finish" finished
done

echo "wrk: $connections connections, 2 threads, $duration"
wrk -t2 -c"$connections" -d"$duration" --latency -s scripts/loadtest.lua http://127.0.0.1:5099 -- 3000 "$key" | tee "$work/wrk.txt" | grep -E 'Requests/sec|Latency|RESULT|50%|99%'
