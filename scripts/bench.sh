#!/usr/bin/env bash
# The unlearning benchmark in one command: installs Debian's Fashion-MNIST (and PyTorch, for the throughput
# comparison) if absent, builds the CLI in Release and runs `unlearn bench`, which rewrites BENCHMARKS.md and
# artifacts/benchmark.json. Arguments go to `unlearn bench`, e.g. --full (60,000 images), --no-tune, --width 32.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

source scripts/lib/postgres.sh
install_package() {
  echo "Installing $1 from Debian's packages"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || install_package dataset-fashion-mnist
# PyTorch is only the throughput comparison: without it the benchmark says "not measured" and goes on.
dpkg -s python3-torch >/dev/null 2>&1 || install_package python3-torch || echo "python3-torch could not be installed: skipping the PyTorch comparison"
# Debian's PyTorch lives in the system Python, which may not be the first python3 on PATH.
for python in python3 /usr/bin/python3; do
  if "$python" -c 'import torch' 2>/dev/null; then export UNLEARN_BENCH_PYTHON="$python"; break; fi
done

dotnet build src/UnlearnService.Cli -c Release -v q -nologo
dotnet src/UnlearnService.Cli/bin/Release/net10.0/unlearn.dll bench "$@"
