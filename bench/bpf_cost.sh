#!/usr/bin/env bash
# Per-event cost of each NeuTracer BPF program during an iperf3 TCP run over loopback:
# run_time_ns / run_cnt from the kernel (kernel.bpf_stats_enabled on only for the measurement).
# Usage: bench/bpf_cost.sh [SECONDS] [-- extra record args]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
shift || true
[[ ${1:-} == -- ]] && shift
neutracer="${NT_BUILD_DIR:-$repo/build}/src/neutracer"
[[ -x $neutracer ]] || { echo "bpf_cost.sh: $neutracer not built: run scripts/setup.sh" >&2; exit 1; }

previous=$(sysctl -n kernel.bpf_stats_enabled)
port=$((20000 + RANDOM % 20000))
cleanup() { sysctl -qw kernel.bpf_stats_enabled="$previous"; kill "${agent:-}" "${server:-}" 2>/dev/null || true; }
trap cleanup EXIT

out=$(mktemp)
"$neutracer" record -o "$out" "$@" &
agent=$!
until grep -q '"type":"start"' "$out" 2>/dev/null; do sleep 0.05; done
sysctl -qw kernel.bpf_stats_enabled=1
iperf3 -s -1 -p "$port" >/dev/null &
server=$!
sleep 0.3
iperf3 -c 127.0.0.1 -p "$port" -t "$seconds" >/dev/null
wait "$server"
kill -INT "$agent"; wait "$agent" || true
printf '%-22s %12s %14s %10s\n' program events run_time_ns ns/event
grep '"type":"summary"' "$out" | /usr/bin/python3 -c '
import json, sys
for p in json.load(sys.stdin)["bpf_programs"]:
    if p["run_count"]:
        print("%-22s %12d %14d %10.1f" % (p["name"], p["run_count"], p["run_time_ns"], p["run_time_ns"] / p["run_count"]))
'
rm -f "$out"
