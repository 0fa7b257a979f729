#!/usr/bin/env bash
# Per-event cost of the byte-counting hooks on each kernel of the matrix, beside bpftrace's equivalent
# on the same kernel in the same VM: the fexit path on 6.1, the sock tracepoints on 6.12 and on this
# host. Writes bench/KERNELS.md. Usage: bench/kernels.sh [KERNEL...]   (default: host 6.12 6.1)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/bench/KERNELS.md
kernels=("$@")
((${#kernels[@]})) || kernels=(host 6.12 6.1)
cost=(/usr/bin/python3 "$repo/bench/kernel_cost.py" --seconds 3 --rounds 2)

{
  echo "# Per-event cost by kernel"
  echo
  echo "\`bench/kernels.sh ${kernels[*]}\` ($(date -u +%Y-%m-%d)). Each kernel but the host's runs under QEMU"
  echo "with TCG emulation (scripts/vmtest.sh), about 10x slower than the host: compare the two tools"
  echo "within a kernel, not nanoseconds across kernels."
  echo
  for kernel in "${kernels[@]}"; do
    if [[ $kernel == host ]]; then
      "${cost[@]}"
    else
      "$repo/scripts/vmtest.sh" "$kernel" --timeout 1200 -- "${cost[@]}" | sed -n '/^## Kernel/,$p'
    fi
  done
} >"$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
