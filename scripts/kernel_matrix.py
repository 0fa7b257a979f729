#!/usr/bin/env python3
"""The kernel matrix: on each kernel, which features the agent gets (its start record) and whether the
BPF test tier passes. "host" is this machine's kernel; the others are Debian's, booted under QEMU by
scripts/vmtest.sh with this machine's root filesystem, so the same build runs everywhere.

  scripts/kernel_matrix.py [--tests REGEX] [--exclude REGEX] [--doc docs/kernels.md] KERNEL...

Exits 1 when a kernel's tests fail (or it cannot boot). With --doc, the table between the markers in
that file is rewritten from this run: a feature per row, a kernel per column."""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("NT_BUILD_DIR", os.path.join(REPO, "build"))
BEGIN, END = "<!-- kernel matrix: begin -->", "<!-- kernel matrix: end -->"


def run_on(kernel, tests, exclude, timeout):
    """(start record's features, or {"error": the agent's last line} where it did not start, ctest's exit
    status, failed test names, output, seconds, release)."""
    agent = shlex.quote(os.path.join(BUILD, "src", "neutracer"))
    # The guest's /tmp is its own tmpfs; the feature line is marked for this side to find.
    probe = (f"out=$(mktemp) && err=$(mktemp) && timeout -k 5 120 {agent} record --collect all --heap --duration 0.2 --no-detect --packets -o $out "
             f">/dev/null 2>$err; echo \"@@features $(head -1 $out)\"; echo \"@@agent_error $(tail -1 $err)\"; "
             f"echo \"@@uname $(uname -r)\"; cd {shlex.quote(BUILD)} && "
             f"ctest --output-on-failure --timeout 600 -R {shlex.quote(tests)}"
             + (f" -E {shlex.quote(exclude)}" if exclude else ""))
    argv = ["bash", "-c", probe]
    if kernel != "host":
        argv = [os.path.join(REPO, "scripts", "vmtest.sh"), kernel, "--timeout", str(timeout), "--"] + argv
    started = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                          timeout=timeout + 120)
    elapsed = time.monotonic() - started
    features, release = None, kernel
    for line in proc.stdout.splitlines():
        if line.startswith("@@features {"):
            features = json.loads(line.split(" ", 1)[1]).get("features")
        elif line.startswith("@@agent_error ") and features is None:
            features = {"error": line.split(" ", 1)[1].strip()}
        elif line.startswith("@@uname "):
            release = line.split(" ", 1)[1].strip()
    failed = re.findall(r"^\s*\d+ - (\S+) \(", proc.stdout, re.M)
    return features, proc.returncode, failed, proc.stdout, elapsed, release


def cell(feature):
    if feature is None:
        return "-"  # the agent did not start
    if feature["available"]:
        return f"yes: `{feature['via']}`"
    reason = feature.get("reason", "")
    return "**no**" + (f": {reason}" if reason else "")


def table(results):
    kernels = list(results)
    names = []
    for features, *_ in results.values():
        for name in features:
            if name not in names and name != "error":
                names.append(name)
    lines = ["| feature | " + " | ".join(results[k][5] for k in kernels) + " |",
             "|---|" + "---|" * len(kernels)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cell(results[k][0].get(name)) for k in kernels) + " |")
    verdicts = []
    for k in kernels:
        features, status, failed, _, elapsed, _ = results[k]
        if "error" in features:
            verdicts.append(f"**agent did not start**: {features['error']} ({elapsed:.0f} s)")
        elif status == 0:
            verdicts.append(f"pass ({elapsed:.0f} s)")
        else:
            verdicts.append(f"**fail** {', '.join(failed) or f'status {status}'} ({elapsed:.0f} s)")
    lines.append("| BPF test tier | " + " | ".join(verdicts) + " |")
    lines += ["", "Alternatives the kernel refused before the one in use:"]
    for k in kernels:
        refused = [f"`{name}` {feature['reason']}" for name, feature in results[k][0].items()
                   if name != "error" and feature["available"] and feature.get("reason")]
        lines.append(f"- {results[k][5]}: " + ("; ".join(refused) if refused else "none"))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kernels", nargs="+", help="host, or a kernel scripts/vmtest.sh knows (6.1, 6.12, 5.10)")
    parser.add_argument("--tests", default=r"^bpf\.", help="ctest regex (default: the BPF tier)")
    parser.add_argument("--exclude", default="", help="ctest regex of tests to leave out")
    parser.add_argument("--doc", help="rewrite the table between the kernel-matrix markers of this file")
    parser.add_argument("--timeout", type=int, default=1500, help="seconds per kernel")
    args = parser.parse_args()
    results, ok = {}, True
    for kernel in args.kernels:
        print(f"kernel_matrix: {kernel}", file=sys.stderr, flush=True)
        features, status, failed, output, elapsed, release = run_on(kernel, args.tests, args.exclude, args.timeout)
        if status == 125 and features is None:
            # The guest stalled before the probe ran (scripts/vmtest.sh's boot watchdog): boot it once more.
            sys.stdout.write(output)
            print(f"kernel_matrix: {kernel}: the guest did not start; booting it again", file=sys.stderr, flush=True)
            features, status, failed, output, elapsed, release = run_on(kernel, args.tests, args.exclude, args.timeout)
        label = f"{release} (this host)" if kernel == "host" else release
        sys.stdout.write(output)
        if features is None:
            features = {"error": "no report (the guest did not boot?)"}
        if status != 0 or "error" in features:
            ok = False
            print(f"kernel_matrix: {kernel}: " + (f"the agent did not start: {features['error']}"
                                                   if "error" in features else f"failed: {' '.join(failed) or status}"),
                  file=sys.stderr)
        results[kernel] = (features, status, failed, output, elapsed, label)
    print(table(results))
    if args.doc:
        text = open(args.doc).read()
        if BEGIN not in text or END not in text:
            sys.exit(f"kernel_matrix: {args.doc} has no {BEGIN} ... {END} markers")
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        with open(args.doc, "w") as f:
            f.write(f"{head}{BEGIN}\n{table(results)}\n{END}{tail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
