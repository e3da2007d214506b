#!/usr/bin/env python3
"""envctl side by side with the tools users would pick instead, on one machine, in one run.

Scenarios (each repeated --runs times; medians reported, with envctl/alternative ratios):

  stack3    `envctl up`/`down` vs docker-compose (v1) for three health-chained nginx nodes
  verify    `envctl verify` vs Testinfra (pytest) for the same 4 and 100 assertions
  scale     `envctl up`/`down` of 1, 10, 25, 50 nodes vs starting/removing as many containers
            with `docker run -d` one after the other and eight at a time / `docker rm -f` (the
            raw floor); envctl's peak RSS at 50
  swarm     `envctl up`/`down` of 20 nodes on one engine vs spread over a two-machine swarm (two
            dockerds of its own, each in a network namespace), with the image on both machines
            and with the worker lacking it (envctl carries it), and carrying the image alone
  molecule  `envctl test` vs `molecule test` for one Ansible role on one node: cold with every
            cache empty, cold with only the package cache kept, warm, and the edit loop (one
            template changed, then test); each tool's own overhead (its time minus its runs
            of the user's playbook, timed by a wrapper around ansible-playbook)

Writes the figures as Markdown to stdout and JSON to --json. Run through `bench/run`, which
installs what is missing and builds envctl in release mode.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVCTL = str(ROOT / "target" / "release" / "envctl")
BENCH_IMAGE = "envctl-bench-nginx:1"
PYTHON_IMAGE = "envctl-bench-python:1"


def testinfra_python():
    """An interpreter that has Testinfra: Debian's (python3-testinfra) or this one."""
    for candidate in ("/usr/bin/python3", sys.executable):
        if subprocess.run([candidate, "-c", "import testinfra"], capture_output=True).returncode == 0:
            return candidate
    raise SystemExit("Testinfra is not installed (apt-get install python3-testinfra)")


def sh(cmd, check=True, capture=True, cwd=None, env=None):
    """Runs a command; returns its stdout."""
    result = subprocess.run(
        cmd, shell=isinstance(cmd, str), cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )
    if check and result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {cmd}\n{result.stdout}\n{result.stderr}")
    return result.stdout if capture else ""


def timed(cmd, **kw):
    """Wall-clock seconds of one run of a command (which must succeed)."""
    start = time.perf_counter()
    sh(cmd, **kw)
    return time.perf_counter() - start


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def envctl(root, *args, instance="bench"):
    return [ENVCTL, "--root", str(root), "--instance", instance, "--quiet", *args]


def cleanup():
    """Removes what an interrupted benchmark run may have left (its instance is `bench`)."""
    sh("docker ps -aq --filter label=io.envctl.instance=bench | xargs -r docker rm -f", check=False)
    sh("docker network ls -q --filter label=io.envctl.instance=bench | xargs -r docker network rm", check=False)
    sh("docker ps -aq --filter name=envctl-bench-raw- | xargs -r docker rm -f", check=False)
    if shutil.which("docker-compose"):
        sh(["docker-compose", "-p", "envctlbench", "down", "-t", "0"], check=False)


def build_image():
    for tag, directory in [(BENCH_IMAGE, "nginx"), (PYTHON_IMAGE, "python")]:
        if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
            sh(["docker", "build", "-q", "-t", tag, str(ROOT / "bench" / "images" / directory)])


# --- stack3: envctl vs docker-compose -------------------------------------------------------

def stack3(work, runs):
    project = work / "stack3"
    nodes = []
    for name, dep in [("a", None), ("b", "a"), ("c", "b")]:
        nodes.append(f"""
            [nodes.{name}]
            image = "{BENCH_IMAGE}"
            {f'depends_on = ["{dep}"]' if dep else ''}
            health = {{ http = "http://localhost:80/", interval = "250ms", timeout = "30s" }}
            """)
    write(project / "environments" / "stack3.toml", "".join(nodes))
    services = []
    for name, dep in [("a", None), ("b", "a"), ("c", "b")]:
        dep_block = f"""
            depends_on:
              {dep}:
                condition: service_healthy""" if dep else ""
        services.append(f"""
          {name}:
            image: {BENCH_IMAGE}
            healthcheck:
              test: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80"]
              interval: 250ms
              timeout: 5s
              retries: 120{dep_block}""")
    compose_file = project / "docker-compose.yml"
    compose_file.write_text('version: "2.4"\nservices:' + "".join(services) + "\n")
    compose = ["docker-compose", "-p", "envctlbench", "-f", str(compose_file)]
    results = {"envctl_up": [], "envctl_down": [], "compose_up": [], "compose_down": []}
    for _ in range(runs):
        results["envctl_up"].append(timed(envctl(project, "up", "stack3")))
        results["envctl_down"].append(timed(envctl(project, "down", "stack3")))
        results["compose_up"].append(timed(compose + ["up", "-d"]))
        results["compose_down"].append(timed(compose + ["down", "-t", "0"]))
    # A second `up` with nothing changed.
    sh(envctl(project, "up", "stack3"))
    results["envctl_noop_up"] = [timed(envctl(project, "up", "stack3")) for _ in range(runs)]
    sh(envctl(project, "down", "stack3"))
    return results


# --- verify: envctl vs Testinfra -------------------------------------------------------------

def assertions(n):
    """n mixed assertions (http, command, file), as (kind, detail) pairs."""
    kinds = ["http", "command", "file"]
    return [(kinds[i % 3], i) for i in range(n)]


def verify(work, runs):
    project = work / "verify"
    write(project / "environments" / "v.toml", f"""
        [nodes.web]
        image = "{BENCH_IMAGE}"
        ports = ["80"]
        health = {{ http = "http://localhost:80/", timeout = "30s" }}
        """)
    sh(envctl(project, "up", "v"))
    container = "envctl-v-bench-web"
    port = sh(["docker", "port", container, "80/tcp"]).strip().splitlines()[0].rsplit(":", 1)[1]
    results = {}
    for n in (4, 100):
        specs = []
        tests = [
            "import urllib.request\n",
            f'testinfra_hosts = ["docker://{container}"]\n',
        ]
        for kind, i in assertions(n):
            if kind == "http":
                specs.append(f'[[http]]\ntitle = "home {i}"\nurl = "http://web:80/"\nbody = ["hello from the benchmark"]\n')
                tests.append(
                    f"def test_home_{i}():\n"
                    f'    body = urllib.request.urlopen("http://127.0.0.1:{port}/", timeout=5).read().decode()\n'
                    f'    assert "hello from the benchmark" in body\n')
            elif kind == "command":
                specs.append(f'[[command]]\ntitle = "nginx binary {i}"\nnode = "web"\nrun = "nginx -v"\nstderr = ["nginx version"]\n')
                tests.append(
                    f"def test_nginx_{i}(host):\n"
                    f'    cmd = host.run("nginx -v")\n'
                    f"    assert cmd.rc == 0 and \"nginx version\" in cmd.stderr\n")
            else:
                specs.append(f'[[file]]\ntitle = "index {i}"\nnode = "web"\npath = "/var/www/html/index.html"\nfiletype = "file"\nmode = "0644"\ncontains = ["benchmark"]\n')
                tests.append(
                    f"def test_index_{i}(host):\n"
                    f'    f = host.file("/var/www/html/index.html")\n'
                    f'    assert f.is_file and f.mode == 0o644 and f.contains("benchmark")\n')
        spec_dir = project / "specs" / "v"
        shutil.rmtree(spec_dir, ignore_errors=True)
        write(spec_dir / "bench.toml", "\n".join(specs))
        test_file = project / f"test_bench_{n}.py"
        test_file.write_text("\n".join(tests))
        e = [timed(envctl(project, "verify", "v")) for _ in range(runs)]
        t = [timed([testinfra_python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)], cwd=project)
             for _ in range(runs)]
        results[f"envctl_verify_{n}"] = e
        results[f"testinfra_{n}"] = t
    sh(envctl(project, "down", "v"))
    return results


# --- scale: envctl vs raw docker run ---------------------------------------------------------

def scale(work, runs, sizes=(1, 10, 25, 50)):
    results = {}
    for n in sizes:
        project = work / f"scale{n}"
        body = "".join(
            f'[nodes.n{i}]\nimage = "debian:bookworm"\ncommand = ["sleep", "infinity"]\n' for i in range(n))
        write(project / "environments" / "s.toml", body)
        up, down, raw_up, raw_down, par_up = [], [], [], [], []
        for _ in range(runs):
            up.append(timed(envctl(project, "up", "s")))
            down.append(timed(envctl(project, "down", "s")))
            names = [f"envctl-bench-raw-{i}" for i in range(n)]
            start = time.perf_counter()
            for name in names:
                sh(["docker", "run", "-d", "--name", name, "debian:bookworm", "sleep", "infinity"])
            raw_up.append(time.perf_counter() - start)
            raw_down.append(timed(["docker", "rm", "-f", *names]))
            # The same containers, eight `docker run` at a time.
            start = time.perf_counter()
            sh("printf '%s\\n' " + " ".join(names) +
               " | xargs -P 8 -I{} docker run -d -q --name {} debian:bookworm sleep infinity")
            par_up.append(time.perf_counter() - start)
            sh(["docker", "rm", "-f", *names])
        results[f"docker_run_parallel8_{n}"] = par_up
        results[f"envctl_up_{n}"] = up
        results[f"envctl_down_{n}"] = down
        results[f"docker_run_{n}"] = raw_up
        results[f"docker_rm_{n}"] = raw_down
        if n == max(sizes):
            out = subprocess.run(["/usr/bin/time", "-f", "%M", *envctl(project, "up", "s")],
                                 capture_output=True, text=True)
            results["envctl_peak_rss_kb_up_50"] = [int(out.stderr.strip().splitlines()[-1])]
            out = subprocess.run(["/usr/bin/time", "-f", "%M", *envctl(project, "down", "s")],
                                 capture_output=True, text=True)
            results["envctl_peak_rss_kb_down_50"] = [int(out.stderr.strip().splitlines()[-1])]
    return results


# --- swarm: 20 nodes on one engine vs spread over two ----------------------------------------

class TwoMachines:
    """Two dockerds, each in a network namespace and a UTS namespace of its own, joined by a
    veth pair; A manages a swarm B joins. Each engine's API is on a link to this host."""

    def __init__(self, work):
        self.dir = work / "swarm"
        self.procs = []
        self.sockets = {m: f"unix://{self.dir / m / 'docker.sock'}" for m in "ab"}
        self.api = {"a": "10.246.0.2", "b": "10.247.0.2"}
        sh("ip netns add envbench-a && ip netns add envbench-b")
        sh("ip link add mnet0 netns envbench-a type veth peer name mnet0 netns envbench-b")
        for m, address in (("a", "10.248.0.1"), ("b", "10.248.0.2")):
            ns = f"envbench-{m}"
            sh(f"ip -n {ns} link set lo up && ip -n {ns} addr add {address}/24 dev mnet0 && ip -n {ns} link set mnet0 up")
            sh(f"ip link add vbench{m} type veth peer name up0 netns {ns}")
            host = self.api[m].rsplit(".", 1)[0] + ".1"
            sh(f"ip addr add {host}/30 dev vbench{m} && ip link set vbench{m} up")
            sh(f"ip -n {ns} addr add {self.api[m]}/30 dev up0 && ip -n {ns} link set up0 up")
            root = self.dir / m
            root.mkdir(parents=True)
            log = open(root / "dockerd.log", "w")
            self.procs.append(subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{ns}", "unshare", "--uts", "sh", "-c",
                 'hostname "$0" && exec /usr/sbin/dockerd "$@"', f"bench-{m}",
                 f"--host={self.sockets[m]}", f"--host=tcp://{self.api[m]}:2375",
                 f"--data-root={root / 'data'}", f"--exec-root={root / 'exec'}",
                 f"--pidfile={root / 'docker.pid'}", "--bridge=none"], stdout=log, stderr=log))
        for m in "ab":
            for _ in range(600):
                if subprocess.run(["docker", "-H", self.sockets[m], "version"], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
        self.docker("a", "swarm", "init", "--advertise-addr", "10.248.0.1", "--default-addr-pool", "10.249.0.0/16")
        token = self.docker("a", "swarm", "join-token", "-q", "worker").strip()
        self.docker("b", "swarm", "join", "--token", token, "10.248.0.1:2377")
        self.docker("a", "node", "update", "--label-add", f"io.envctl.engine=tcp://{self.api['b']}:2375", "bench-b")
        sh(f"docker save debian:bookworm | docker -H {self.sockets['a']} load -q")

    def docker(self, m, *args):
        return sh(["docker", "-H", self.sockets[m], *args])

    def env(self, engine):
        return {**os.environ, "DOCKER_HOST": f"tcp://{self.api['a']}:2375", "ENVCTL_ENGINE": engine}

    def stop(self):
        for m in "ab":
            pid = (self.dir / m / "docker.pid")
            if pid.exists():
                sh(["kill", pid.read_text().strip()], check=False)
        for p in self.procs:
            p.wait()
        sh("ip link del vbencha; ip link del vbenchb; ip netns del envbench-a; ip netns del envbench-b", check=False)
        sh(f"grep ' {self.dir}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l", check=False)


def swarm(work, runs, n=20):
    project = work / "swarm20"
    body = "".join(f'[nodes.n{i}]\nimage = "debian:bookworm"\ncommand = ["sleep", "infinity"]\n' for i in range(n))
    write(project / "environments" / "s.toml", body)
    machines = TwoMachines(work)
    results = {k: [] for k in ("one_up", "one_down", "two_up", "two_down", "two_up_cold", "carry")}
    try:
        one, two = machines.env("docker"), machines.env("swarm")
        for _ in range(runs):
            results["one_up"].append(timed(envctl(project, "up", "s"), env=one))
            results["one_down"].append(timed(envctl(project, "down", "s"), env=one))
            # The worker lacks the image: envctl carries it there during `up`.
            machines.docker("b", "image", "rm", "-f", "debian:bookworm")
            results["two_up_cold"].append(timed(envctl(project, "up", "s"), env=two))
            results["two_down"].append(timed(envctl(project, "down", "s"), env=two))
            results["two_up"].append(timed(envctl(project, "up", "s"), env=two))
            spread = [len(machines.docker(m, "ps", "-q", "--filter", "label=io.envctl.role=node").split()) for m in "ab"]
            results.setdefault("spread", []).append(spread)
            sh(envctl(project, "down", "s"), env=two)
            # The same carrying alone: the manager's export into the worker's load.
            machines.docker("b", "image", "rm", "-f", "debian:bookworm")
            results["carry"].append(timed(
                f"docker -H {machines.sockets['a']} save debian:bookworm | docker -H {machines.sockets['b']} load -q"))
    finally:
        machines.stop()
    return results


# --- molecule: envctl test vs molecule test ---------------------------------------------------

# Times every ansible-playbook run either tool makes, so each tool's own overhead (its time
# minus the runs of the user's playbook) can be told apart from the playbook's.
PLAYBOOK_SHIM = """#!/bin/sh
start=$(date +%s.%N)
"$ENVCTL_BENCH_REAL_PLAYBOOK" "$@"
code=$?
end=$(date +%s.%N)
last=""
for a in "$@"; do last="$a"; done
echo "$start $end $(basename "$last" | tr -d ' \n')" >> "$ENVCTL_BENCH_PLAYBOOK_LOG"
exit $code
"""


def playbook_seconds(log, names):
    """Seconds the logged ansible-playbook runs of the playbooks `names` took."""
    total = 0.0
    if log.exists():
        for line in log.read_text().splitlines():
            fields = line.split(" ")
            if len(fields) == 3 and fields[2] in names:
                start, end = fields[0], fields[1]
                total += float(end) - float(start)
    return total


def molecule(work, runs):
    """Same role, one node. Skipped (with the reason) when a side is unavailable."""
    project = ROOT / "bench" / "molecule"
    if shutil.which("molecule") is None:
        return {"skipped": "molecule is not installed"}
    real = shutil.which("ansible-playbook")
    shim_dir = work / "shim"
    shim_dir.mkdir(exist_ok=True)
    (shim_dir / "ansible-playbook").write_text(PLAYBOOK_SHIM)
    (shim_dir / "ansible-playbook").chmod(0o755)
    log = work / "playbook-runs.log"
    env = dict(os.environ, PATH=f"{shim_dir}:{os.environ['PATH']}",
               ENVCTL_BENCH_REAL_PLAYBOOK=real, ENVCTL_BENCH_PLAYBOOK_LOG=str(log))
    # The benchmark's provisioned images and step snapshots (the cache of its node), and
    # the package cache's volumes for its base image.
    drop_images = ("docker images -q --filter label=io.envctl.cache-key "
                   "--filter label=io.envctl.node=instance | xargs -r docker rmi -f")
    drop_packages = ("docker volume ls -q --filter label=io.envctl.package-cache "
                     "| grep '^envctl-packages-envctl-bench-python-1-' | xargs -r docker volume rm")
    template = project / "roles" / "webpage" / "templates" / "index.html.j2"
    original = template.read_text()
    results = {k: [] for k in (
        "envctl_cold_empty", "envctl_cold_packages", "envctl_warm", "envctl_edit",
        "envctl_edit_incremental", "molecule_cold", "molecule_edit",
        "envctl_cold_empty_playbooks", "envctl_cold_packages_playbooks", "envctl_edit_playbooks",
        "envctl_edit_incremental_playbooks",
        "molecule_cold_playbooks", "molecule_edit_playbooks")}

    def run(key, cmd, playbook, cwd=None):
        log.unlink(missing_ok=True)
        results[key].append(timed(cmd, cwd=cwd, env=env))
        results[f"{key}_playbooks"].append(playbook_seconds(log, {playbook}))

    try:
        for i in range(runs):
            sh(drop_images, check=False)
            sh(drop_packages, check=False)
            run("envctl_cold_empty", envctl(project, "test", "role"), "playbook.yml")
            sh(drop_images, check=False)
            run("envctl_cold_packages", envctl(project, "test", "role"), "playbook.yml")
            log.unlink(missing_ok=True)
            results["envctl_warm"].append(timed(envctl(project, "test", "role"), env=env))
            # The edit loop: one template changed, then test.
            template.write_text(original + f"<!-- edit {i} -->\n")
            run("envctl_edit", envctl(project, "test", "role"), "playbook.yml")
            # The same loop with --incremental: the edited role runs on the node's
            # previous provisioning (the image the run above made).
            template.write_text(original + f"<!-- edit {i} incremental -->\n")
            run("envctl_edit_incremental", envctl(project, "test", "role", "--incremental"),
                "playbook.yml")
            template.write_text(original)
            run("molecule_cold", ["molecule", "test"], "converge.yml", cwd=project / "roles" / "webpage")
            template.write_text(original + f"<!-- edit {i} molecule -->\n")
            run("molecule_edit", ["molecule", "test"], "converge.yml", cwd=project / "roles" / "webpage")
            template.write_text(original)
    finally:
        template.write_text(original)
    return results


# --- report ----------------------------------------------------------------------------------

def fmt(x):
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def ratio(a, b):
    return f"{median(a) / median(b):.2f}" if b and median(b) > 0 else "-"


def report(all_results, runs):
    lines = []
    s = all_results.get("stack3")
    if s:
        lines += ["### 3-node stack with health-gated dependencies (envctl vs docker-compose v1)", "",
                  "| step | envctl | docker-compose | ratio |", "|---|---|---|---|",
                  f"| up | {fmt(median(s['envctl_up']))} | {fmt(median(s['compose_up']))} | {ratio(s['envctl_up'], s['compose_up'])} |",
                  f"| down | {fmt(median(s['envctl_down']))} | {fmt(median(s['compose_down']))} | {ratio(s['envctl_down'], s['compose_down'])} |",
                  f"| up, nothing changed | {fmt(median(s['envctl_noop_up']))} | - | - |", ""]
    v = all_results.get("verify")
    if v:
        lines += ["### verify (envctl vs Testinfra/pytest, same assertions)", "",
                  "| assertions | envctl verify | Testinfra | ratio |", "|---|---|---|---|"]
        for n in (4, 100):
            lines.append(f"| {n} | {fmt(median(v[f'envctl_verify_{n}']))} | {fmt(median(v[f'testinfra_{n}']))} | "
                         f"{ratio(v[f'envctl_verify_{n}'], v[f'testinfra_{n}'])} |")
        lines.append("")
    c = all_results.get("scale")
    if c:
        lines += ["### Scaling (envctl vs raw `docker run -d` / `docker rm -f`)", "",
                  "| nodes | envctl up | docker run | ratio | docker run, 8 at a time | ratio | envctl down | docker rm -f | ratio |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for n in (1, 10, 25, 50):
            if f"envctl_up_{n}" in c:
                lines.append(
                    f"| {n} | {fmt(median(c[f'envctl_up_{n}']))} | {fmt(median(c[f'docker_run_{n}']))} | "
                    f"{ratio(c[f'envctl_up_{n}'], c[f'docker_run_{n}'])} | "
                    f"{fmt(median(c[f'docker_run_parallel8_{n}']))} | {ratio(c[f'envctl_up_{n}'], c[f'docker_run_parallel8_{n}'])} | "
                    f"{fmt(median(c[f'envctl_down_{n}']))} | "
                    f"{fmt(median(c[f'docker_rm_{n}']))} | {ratio(c[f'envctl_down_{n}'], c[f'docker_rm_{n}'])} |")
        if "envctl_peak_rss_kb_up_50" in c:
            lines += ["", f"envctl peak RSS, 50-node up: {c['envctl_peak_rss_kb_up_50'][0] / 1024:.1f} MiB; "
                          f"50-node down: {c['envctl_peak_rss_kb_down_50'][0] / 1024:.1f} MiB"]
        lines.append("")
    w = all_results.get("swarm")
    if w:
        spread = w["spread"][-1] if w.get("spread") else ["?", "?"]
        lines += ["### 20 nodes: one engine vs spread over a two-machine swarm", "",
                  "| step | one engine (the manager alone) | swarm of two | ratio |", "|---|---|---|---|",
                  f"| up, image on both machines | {fmt(median(w['one_up']))} | {fmt(median(w['two_up']))} | {ratio(w['two_up'], w['one_up'])} |",
                  f"| up, image on the manager only (envctl carries it) | - | {fmt(median(w['two_up_cold']))} | - |",
                  f"| carrying the image alone (export into load) | - | {fmt(median(w['carry']))} | - |",
                  f"| down | {fmt(median(w['one_down']))} | {fmt(median(w['two_down']))} | {ratio(w['two_down'], w['one_down'])} |",
                  "", f"Nodes per machine on the swarm (manager, worker): {spread[0]}, {spread[1]}.", ""]
    m = all_results.get("molecule")
    if m:
        if "skipped" in m:
            lines += ["### envctl test vs molecule test", "", f"Skipped: {m['skipped']}.", ""]
        else:
            def overhead(key):
                return [t - p for t, p in zip(m[key], m[f"{key}_playbooks"])]
            rows = [
                ("cold, every cache empty", "envctl_cold_empty", "molecule_cold"),
                ("cold, package cache kept", "envctl_cold_packages", "molecule_cold"),
                ("warm (nothing changed)", "envctl_warm", "molecule_cold"),
                ("edit loop (one template changed, then test)", "envctl_edit", "molecule_edit"),
                ("edit loop, `envctl test --incremental`", "envctl_edit_incremental", "molecule_edit"),
            ]
            lines += ["### One Ansible role on one node (envctl test vs molecule test)", "",
                      "| run | envctl test | molecule test | ratio |", "|---|---|---|---|"]
            for label, e, mo in rows:
                lines.append(f"| {label} | {fmt(median(m[e]))} | {fmt(median(m[mo]))} | {ratio(m[e], m[mo])} |")
            lines += ["", "| run | envctl: the two playbook runs | envctl's own overhead | molecule: the two playbook runs | molecule's own overhead |",
                      "|---|---|---|---|---|"]
            for label, e, mo in rows:
                if f"{e}_playbooks" in m:
                    lines.append(f"| {label} | {fmt(median(m[f'{e}_playbooks']))} | {fmt(median(overhead(e)))} | "
                                 f"{fmt(median(m[f'{mo}_playbooks']))} | {fmt(median(overhead(mo)))} |")
            lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=["stack3", "verify", "scale", "swarm", "molecule"])
    parser.add_argument("--json", default=str(ROOT / "target" / "bench.json"))
    args = parser.parse_args()
    build_image()
    results = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                           "date": time.strftime("%Y-%m-%d"), "runs": args.runs}}
    with tempfile.TemporaryDirectory(prefix="envctl-bench-") as tmp:
        work = Path(tmp)
        for name in args.only:
            print(f"running {name}...", file=sys.stderr)
            cleanup()
            try:
                results[name] = globals()[name](work, args.runs)
            finally:
                cleanup()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(report(results, args.runs))


if __name__ == "__main__":
    main()
