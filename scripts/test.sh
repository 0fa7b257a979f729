#!/usr/bin/env bash
# Sets up, builds, and runs every test (ctest). This is what CI runs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/setup.sh"
cd "$repo/build"
# Every test has its own limit; --timeout is the default for any that would not.
ctest --output-on-failure -j1 --timeout 600 "$@"
