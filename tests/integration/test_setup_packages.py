"""Acceptance 7 of the foundation issue: scripts/setup.sh names every Debian package that the build
and the tests use. Every system header the build read, every shared library the binaries load and
every command the tests and build run must belong to a package that setup.sh lists, or to one that a
listed package depends on (or to an Essential package, present on every Debian system)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import BUILD, NEUTRACER, TRAFFIC  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PYTHON = "/usr/bin/python3"


def run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout


def listed_packages():
    return set(run([os.path.join(REPO, "scripts", "setup.sh"), "--print-packages"]).split())


def allowed_packages(listed):
    deps = run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests",
                "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *sorted(listed)])
    allowed = set(listed)
    for line in deps.splitlines():
        name = line.strip().split(":")[-1].strip() if ":" in line else line.strip()
        allowed.add(name.strip("<>").split(":")[0])
    for line in run(["dpkg-query", "-W", "-f", "${Package} ${Essential} ${Priority}\n"]).splitlines():
        name, essential, priority = (line.split() + ["", ""])[:3]
        if essential == "yes" or priority == "required":
            allowed.add(name)
    return allowed


def owners(paths):
    """path -> owning packages, trying the path as given and with merged-/usr spellings."""
    result = {}
    for path in paths:
        real = os.path.realpath(path)
        candidates = {path, real}
        for p in list(candidates):
            candidates.add(p[4:] if p.startswith("/usr/") else "/usr" + p)
        out = run(["dpkg", "-S", *sorted(candidates)])
        pkgs = set()
        for line in out.splitlines():
            if ": " in line and not line.startswith("diversion"):
                pkgs.update(p.strip().split(":")[0] for p in line.split(": ")[0].split(","))
        result[path] = pkgs
    return result


def headers_read_by_build():
    deps = run(["ninja", "-C", BUILD, "-t", "deps"])
    return sorted({line.strip() for line in deps.splitlines() if line.strip().startswith("/usr/")})


def libraries_loaded():
    libs = set()
    for binary in [NEUTRACER, TRAFFIC, *glob.glob(os.path.join(BUILD, "tests", "*_test"))]:
        for line in run(["ldd", binary]).splitlines():
            m = re.search(r"=> (/\S+)", line)
            if m:
                libs.add(m.group(1))
    return sorted(libs)


def commands_run():
    """Commands the Python tests start (a literal first in run/Popen/argv/sh calls) and the build tools."""
    names = {"cmake", "ninja", "clang", "bpftool", "pkg-config", "g++", "dpkg", "apt-cache", "ldd"}
    for path in glob.glob(os.path.join(REPO, "tests", "**", "*.py"), recursive=True):
        names.update(re.findall(r'\b(?:run|Popen|argv|sh)\(\s*\[?\s*"([a-z][a-z0-9_.+-]*)"', open(path).read()))
    found = {}
    for name in sorted(names):
        where = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        found[name] = where
    found["python3"] = PYTHON
    return found


class SetupNamesEveryPackage(unittest.TestCase):
    def setUp(self):
        self.listed = listed_packages()
        self.allowed = allowed_packages(self.listed)

    def assert_owned(self, paths, what):
        unlisted = {}
        for path, pkgs in owners(paths).items():
            if not pkgs:
                unlisted[path] = "no Debian package owns it"
            elif not pkgs & self.allowed:
                unlisted[path] = ", ".join(sorted(pkgs))
        self.assertEqual(unlisted, {}, f"{what} from packages setup.sh does not name")

    def test_every_listed_package_is_installed(self):
        status = run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *sorted(self.listed)])
        installed = {line.split()[0] for line in status.splitlines() if line.endswith(" installed")}
        self.assertEqual(self.listed - installed, set())

    def test_headers(self):
        headers = headers_read_by_build()
        self.assertGreater(len(headers), 50, "ninja -t deps found no system headers: is the build there?")
        self.assert_owned(headers, "headers")

    def test_libraries(self):
        libs = libraries_loaded()
        self.assertTrue(any("libbpf" in lib for lib in libs), libs)
        self.assert_owned(libs, "shared libraries")

    def test_commands(self):
        commands = commands_run()
        missing = [name for name, path in commands.items() if path is None]
        self.assertEqual(missing, [], "commands the tests use that are not installed")
        self.assert_owned(sorted(commands.values()), "commands")

    def test_python_modules(self):
        torch = run([PYTHON, "-c", "import torch, numpy; print(torch.__file__); print(numpy.__file__)"]).split()
        self.assertEqual(len(torch), 2, "Debian's python3 cannot import torch and numpy")
        self.assert_owned(torch, "Python modules")


if __name__ == "__main__":
    unittest.main()
