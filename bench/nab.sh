#!/usr/bin/env bash
# Runs the NAB benchmark on nt_detect: writes per-point results in NAB's layout under OUT_DIR
# (neutracer/ and neutracer_alerts/) and prints rows a (swept threshold), b (label-free alerts) and
# c (leave-one-category-out) next to the published scoreboard.
#
# Usage: bench/nab.sh [OUT_DIR]        (default: build/nab)
# Environment: NT_BUILD_DIR  build tree holding the binaries (default: build)
#              NT_NAB_DIR    NAB corpus (default: ../shared/datasets/nab beside the repository)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${NT_BUILD_DIR:-$repo/build}
nab_dir=${NT_NAB_DIR:-$repo/../shared/datasets/nab}
out_dir=${1:-$build_dir/nab}
runner=$build_dir/bench/nab/nt_nab_runner

if [[ ! -x $runner ]]; then
  echo "bench/nab.sh: $runner not found; run scripts/setup.sh first (or set NT_BUILD_DIR)" >&2
  exit 1
fi
if [[ ! -d $nab_dir/data ]]; then
  echo "bench/nab.sh: no NAB corpus at $nab_dir (set NT_NAB_DIR)" >&2
  exit 1
fi
exec "$runner" --nab-dir "$nab_dir" --out "$out_dir"
