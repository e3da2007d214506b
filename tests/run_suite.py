#!/usr/bin/env python3
"""Runs envctl's test binaries (the unit tests and every tests/*.rs) two at a time.

`cargo test` runs one binary after the other; a binary whose tests share one slow
fixture keeps one core idle for minutes. Here each binary runs with one test thread and
two binaries run side by side, so no more than two tests run at once (the machines
have two cores) and the slow suites overlap with the rest. The longest binaries start
first: their durations from the last run are kept in target/test-durations.json.

Usage: tests/run_suite.py [ARGS...]   ARGS go to every test binary (a name filter,
`--ignored`...). ENVCTL_TEST_JOBS sets how many binaries run at once (default 2).
Exit status 1 when any binary failed; each binary's output is printed when it ends.
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
    binaries = order(test_binaries(), load_durations())
    jobs = int(os.environ.get("ENVCTL_TEST_JOBS", "2"))
    lock = threading.Lock()
    queue = list(binaries)
    results = {}
    started = time.monotonic()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                name, path = queue.pop(0)
                print(f"--- {name}: running", flush=True)
            begin = time.monotonic()
            env = dict(os.environ, CARGO_MANIFEST_DIR=ROOT)
            proc = subprocess.run(
                [path, "--test-threads=1", *args],
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
    print(f"\n{len(results)} test binaries in {total:.0f} s, {len(failed)} failed", flush=True)
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
