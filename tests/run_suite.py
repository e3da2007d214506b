#!/usr/bin/env python3
"""Runs envctl's tests: the unit tests, and the integration tests (tests/suite.rs, one
binary with a module per file of tests/) a module at a time, two at a time.

`cargo test` runs one test binary after the other, and one binary's tests in one
process; a module whose tests share one slow fixture keeps one core idle for minutes.
Here each module of the suite runs in a process of its own with one test thread (as if
it were a binary of its own: its fixtures and process-wide state are its own), and two
run side by side, so no more than two tests run at once (the machines have two cores)
and the slow modules overlap with the rest. The longest start first: their durations
from the last run are kept in target/test-durations.json.

Usage: tests/run_suite.py [ARGS...]   ARGS go to every test process: name filters select
tests (of the unit tests, and of the suite's modules), flags (`--ignored`...) apply to
each. ENVCTL_TEST_JOBS sets how many run at once (default 2).
Exit status 1 when any module failed; each one's output is printed when it ends.
"""

import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATIONS = os.path.join(ROOT, "target", "test-durations.json")

# Order for a first run on a machine, before any durations were recorded: the suites
# that took longest on the CI machine.
FIRST_RUN_ORDER = [
    "remote_engine",
    "vm_vagrant",
    "swarm_engine",
    "platform_matrix",
    "provision_examples",
    "promote_demo",
    "init",
    "provision_salt",
    "provision_deps",
    "ci_examples",
    "provision_idempotence",
    "compose",
    "package_cache",
    "portable_cache",
    "watch",
]


def test_binaries():
    """Builds the test binaries and returns (name, path) for each."""
    out = subprocess.run(
        [
            "cargo",
            "test",
            "--release",
            "--lib",
            "--tests",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    binaries = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        kinds = msg["target"]["kind"]
        name = "unittests" if "lib" in kinds else msg["target"]["name"]
        binaries.append((name, msg["executable"]))
    return binaries


def split_args(args):
    """ARGS as (flags, filters): `--skip` takes the next argument as its value."""
    flags, filters = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--skip" and i + 1 < len(args):
            flags += [arg, args[i + 1]]
            i += 2
            continue
        (flags if arg.startswith("-") else filters).append(arg)
        i += 1
    return flags, filters


def runs(binaries, args):
    """What to run: (name, command) for the unit tests, and one for each module of the
    suite with the names of its tests that ARGS select."""
    flags, _ = split_args(args)
    out = []
    for name, path in binaries:
        if name == "unittests":
            out.append((name, [path, "--test-threads=1", *args]))
            continue
        listed = subprocess.run(
            [path, "--list", "--format=terse", *args],
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        modules = {}
        for line in listed.splitlines():
            if not line.endswith(": test"):
                continue
            test = line[: -len(": test")]
            modules.setdefault(test.split("::", 1)[0], []).append(test)
        for module, tests in modules.items():
            out.append((module, [path, "--test-threads=1", "--exact", *flags, *tests]))
    return out


def load_durations():
    try:
        with open(DURATIONS) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def order(binaries, durations):
    def key(entry):
        name = entry[0]
        if name in durations:
            return (0, -durations[name])
        if name in FIRST_RUN_ORDER:
            return (1, FIRST_RUN_ORDER.index(name))
        return (2, name)

    return sorted(binaries, key=key)


def main(args):
    queue = order(runs(test_binaries(), args), load_durations())
    jobs = int(os.environ.get("ENVCTL_TEST_JOBS", "2"))
    lock = threading.Lock()
    results = {}
    started = time.monotonic()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                name, command = queue.pop(0)
                print(f"--- {name}: running", flush=True)
            begin = time.monotonic()
            env = dict(os.environ, CARGO_MANIFEST_DIR=ROOT)
            proc = subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            took = time.monotonic() - begin
            with lock:
                results[name] = (proc.returncode, took)
                verdict = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
                print(f"--- {name}: {verdict} in {took:.1f} s", flush=True)
                sys.stdout.write(proc.stdout)
                sys.stdout.flush()

    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    failed = sorted(name for name, (code, _) in results.items() if code != 0)
    total = time.monotonic() - started
    print(f"\n{len(results)} test processes in {total:.0f} s, {len(failed)} failed", flush=True)
    for name in failed:
        print(f"  failed: {name}")
    if not args:
        durations = load_durations()
        durations.update({name: round(took, 1) for name, (_, took) in results.items()})
        os.makedirs(os.path.dirname(DURATIONS), exist_ok=True)
        with open(DURATIONS, "w") as f:
            json.dump(durations, f, indent=1, sort_keys=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
