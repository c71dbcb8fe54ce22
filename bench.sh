#!/usr/bin/env bash
# Runs the benchmark harness (all suites unless named) and rewrites docs/BENCHMARKS.md.
# Usage: ./bench.sh [suite ...] [--quick]
set -euo pipefail
cd "$(dirname "$0")"
source infra/setup.sh
lvmae_setup
exec dotnet run -c Release --project bench/LvMae.Bench -- "$@"
