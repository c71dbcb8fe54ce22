#!/usr/bin/env bash
# Runs the benchmark harness (all suites unless named) and rewrites docs/BENCHMARKS.md.
# Usage: ./bench.sh [suite ...] [--quick]; ./bench.sh learning [options] (bench/learning.sh)
set -euo pipefail
cd "$(dirname "$0")"
source infra/setup.sh
lvmae_setup
# The learning bench drives the product's own commands (lvmae train / probe) and a PyTorch reference: a script, not a suite.
if [ "${1:-}" = learning ]; then shift; exec bench/learning.sh "$@"; fi
exec dotnet run -c Release --project bench/LvMae.Bench -- "$@"
