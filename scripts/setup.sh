#!/usr/bin/env bash
# Installs every Debian package NeuTracer builds, tests and demos with, then builds it.
# Idempotent and non-interactive. Usage: scripts/setup.sh [--no-build]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

# One package a line, grouped by use. tests/integration/test_setup_packages.py checks that every
# header, library and command the build and tests touch belongs to one of these (or to what they pull in).
PACKAGES=(
  # toolchain
  g++ make cmake ninja-build pkg-config
  # the syscall name tables are generated from the kernel's UAPI headers
  linux-libc-dev
  # BPF: compiler, loader library, skeleton generator
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  # --heap names user stacks with libdw (elfutils)
  libdw-dev systemtap-sdt-dev
  # C++ libraries
  libcli11-dev nlohmann-json3-dev prometheus-cpp-dev libncurses-dev
  # the server: gRPC and protobuf, SQLite, HTTP (with TLS), snappy for remote write; libFuzzer targets
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libsqlite3-dev libcpp-httplib-dev
  libssl-dev libsnappy-dev libclang-rt-14-dev openssl
  # tests and benchmarks
  libgtest-dev libbenchmark-dev python3 iproute2 nftables iperf3 procps util-linux tmux prometheus
  bpftrace nethogs strace
  # the kernel matrix: Debian's kernels under QEMU (scripts/vmtest.sh)
  qemu-system-x86 busybox-static kmod xz-utils zstd
  # the demo workload: PyTorch DistributedDataParallel with gloo
  python3-torch python3-numpy
  # the dashboard (web/): Node.js builds it (its packages from npm), headless Chromium tests it
  nodejs chromium
)

if [[ ${1:-} == --print-packages ]]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: must run as root (it installs packages and the tracer needs root)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

# npm: NodeSource's nodejs package carries its own (and conflicts with Debian's); Debian's nodejs does not.
if ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# bpftrace's tracepoints (the benchmark's comparison) need tracefs; some hosts boot without it.
if [[ -d /sys/kernel/tracing && ! -e /sys/kernel/tracing/events ]]; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi

if [[ ${1:-} == --no-build ]]; then
  exit 0
fi

# The dashboard's toolchain (Vite 8, Playwright) wants Node.js 20.19 or newer.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a == 20 && b >= 19) ? 0 : 1)'; then
  echo "setup.sh: the dashboard needs Node.js 20.19 or newer; this is $(node --version)" >&2
  exit 1
fi
# The dashboard's packages, exactly as package-lock.json pins them; again only when the lock changed.
if [[ ! "$repo/web/node_modules/.package-lock.json" -nt "$repo/web/package-lock.json" ]]; then
  (cd "$repo/web" && npm ci --no-audit --no-fund --loglevel=error)
fi

cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$repo/build" -j "$(nproc)"
