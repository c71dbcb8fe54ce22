#!/usr/bin/env bash
# LvMae's whole test suite, from a fresh Debian 12 machine: installs what is missing (apt: ffmpeg,
# patchelf, g++, redis-server, chromium + chromium-driver, mariadb-server-core; npm: the Azurite pinned in infra/azurite), restores, builds and runs every xunit
# test project. Usage: ./test.sh [extra `dotnet test` arguments, e.g. --filter FullyQualifiedName~Model]
set -euo pipefail
cd "$(dirname "$0")"
source infra/setup.sh
lvmae_setup

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
set +e
dotnet test LvMae.sln -c Release --nologo --logger "trx" --results-directory "$results" "$@" 2>&1 | tee "$results/console.log"
status=${PIPESTATUS[0]}
set -e
# One plain summary line across all test projects ('N passed, N failed').
awk '/^(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { gsub(",", "", p); printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$results/console.log"
exit "$status"
