#!/usr/bin/env bash
# The training job across three simulated hosts, and a slow link the server names
# (scripts/demo_cluster.py). Run after scripts/setup.sh; leaves nothing behind.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -x "$repo/build/src/neutracer" || ! -x "$repo/build/src/neutracer-server" ]]; then
  echo "demo-cluster: build first: scripts/setup.sh" >&2
  exit 2
fi
exec env NT_BUILD_DIR="$repo/build" /usr/bin/python3 "$repo/scripts/demo_cluster.py" "$@"
