#!/usr/bin/env bash
# Sets up, builds, and traces a real 2-rank PyTorch DDP training on loopback for about 20 s,
# then prints the per-process table. The JSON Lines record is left in build/demo.jsonl.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/setup.sh"
echo "demo: tracing a 2-rank DDP training (gloo, loopback) for about 20 s..." >&2
"$repo/build/src/neutracer" record --table -o "$repo/build/demo.jsonl" -- \
  /usr/bin/python3 "$repo/scripts/ddp_demo.py" --seconds 18
echo "demo: JSON Lines in $repo/build/demo.jsonl" >&2
