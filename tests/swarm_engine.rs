//! A two-machine Docker Swarm, for real: two dockerds of the test's own, each in a network
//! namespace and a UTS namespace of its own (hostnames `envsw-a-N`, `envsw-b-N`), joined
//! by a veth pair as their machine network (the swarm's control traffic and the overlay's
//! VXLAN run over it), each reached from this host over TCP on a link of its own. A is the
//! manager, B a worker whose node label `io.envctl.engine` names its engine. Their
//! published ports are on their own loopbacks and their overlays are not routed here, so
//! every host-side check must go through envctl's probe. Only A is given the base image:
//! whatever B runs, envctl carried there. One swarm serves every test of the binary; it
//! is stopped and removed when the binary exits.

use crate::background;
use crate::common;

use common::Project;
use std::path::PathBuf;
use std::process::Command;

struct Machine {
    netns: String,
    hostname: String,
    /// Address of its engine's API on its link to this host.
    api: String,
    /// Address on the machine network (the swarm's).
    address: String,
    socket: String,
}

struct Swarm {
    dir: PathBuf,
    machines: [Machine; 2],
    host_links: Vec<String>,
    dockerds: Vec<std::process::Child>,
    /// The demo's provisioned images are loaded on the manager.
    demo_loaded: bool,
    /// The systemd image of the base is on the manager.
    systemd_carried: bool,
}

static SWARM: std::sync::Mutex<Option<Swarm>> = std::sync::Mutex::new(None);

extern "C" fn stop_swarm() {
    let mut guard = SWARM.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mut swarm) = guard.take() {
        swarm.stop();
    }
}

fn swarm() -> std::sync::MutexGuard<'static, Option<Swarm>> {
    let mut guard = SWARM.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        // SAFETY: registers a plain function to run at exit; it only touches the static.
        unsafe { libc::atexit(stop_swarm) };
        *guard = Some(Swarm::start());
    }
    guard
}

impl Swarm {
    fn start() -> Swarm {
        let n = std::process::id() % 250;
        let dir = tempfile::Builder::new()
            .prefix("envctl-swarm-")
            .tempdir_in("/var/tmp")
            .unwrap()
            .keep();
        let machines = ["a", "b"].map(|m| {
            let side = if m == "a" { 1 } else { 2 };
            Machine {
                netns: format!("envsw-{m}-{n}"),
                hostname: format!("envsw-{m}-{n}"),
                api: format!("10.23{}.{n}.2", 5 + side),
                // (this host's end of that link is .1)
                address: format!("10.238.{n}.{side}"),
                socket: format!("unix://{}", dir.join(m).join("docker.sock").display()),
            }
        });
        let mut swarm = Swarm {
            dir,
            machines,
            host_links: Vec::new(),
            dockerds: Vec::new(),
            demo_loaded: false,
            systemd_carried: false,
        };
        let [a, b] = [&swarm.machines[0], &swarm.machines[1]];
        for m in [a, b] {
            common::must(&["ip", "netns", "add", &m.netns]);
            common::must(&["ip", "-n", &m.netns, "link", "set", "lo", "up"]);
        }
        // The machine network: one veth pair between the two namespaces.
        common::must(&[
            "ip", "link", "add", "mnet0", "netns", &a.netns, "type", "veth", "peer", "name",
            "mnet0", "netns", &b.netns,
        ]);
        for m in [a, b] {
            let cidr = format!("{}/24", m.address);
            common::must(&["ip", "-n", &m.netns, "addr", "add", &cidr, "dev", "mnet0"]);
            common::must(&["ip", "-n", &m.netns, "link", "set", "mnet0", "up"]);
        }
        // This host's link to each engine's API.
        let mut links = Vec::new();
        for (i, m) in [a, b].into_iter().enumerate() {
            let link = format!("vsw{}{n}", ["a", "b"][i]);
            let host_address = format!("10.23{}.{n}.1/30", 6 + i);
            common::must(&[
                "ip", "link", "add", &link, "type", "veth", "peer", "name", "up0", "netns",
                &m.netns,
            ]);
            common::must(&["ip", "addr", "add", &host_address, "dev", &link]);
            common::must(&["ip", "link", "set", &link, "up"]);
            let cidr = format!("{}/30", m.api);
            common::must(&["ip", "-n", &m.netns, "addr", "add", &cidr, "dev", "up0"]);
            common::must(&["ip", "-n", &m.netns, "link", "set", "up0", "up"]);
            links.push(link);
        }
        let mut dockerds = Vec::new();
        for (i, m) in [a, b].into_iter().enumerate() {
            let root = swarm.dir.join(["a", "b"][i]);
            std::fs::create_dir_all(&root).unwrap();
            let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
            // `nsenter --net` (not `ip netns exec`, which remounts /sys and hides the
            // cgroups), and a UTS namespace so that each machine has its own hostname.
            let dockerd = Command::new("nsenter")
                .arg(format!("--net=/run/netns/{}", m.netns))
                .args(["unshare", "--uts", "sh", "-c"])
                .arg(r#"hostname "$0" && exec /usr/sbin/dockerd "$@""#)
                .arg(&m.hostname)
                .arg(format!("--host={}", m.socket))
                .arg(format!("--host=tcp://{}:2375", m.api))
                .arg(format!("--data-root={}", root.join("data").display()))
                .arg(format!("--exec-root={}", root.join("exec").display()))
                .arg(format!("--pidfile={}", root.join("docker.pid").display()))
                .arg("--bridge=none")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("nsenter and dockerd are installed");
            dockerds.push(dockerd);
        }
        swarm.host_links = links;
        swarm.dockerds = dockerds;
        for m in &swarm.machines {
            wait_until_it_answers(m, &swarm.dir);
        }
        let (a, b) = (&swarm.machines[0], &swarm.machines[1]);
        docker(
            a,
            &[
                "swarm",
                "init",
                "--advertise-addr",
                &a.address,
                "--default-addr-pool",
                "10.239.0.0/16",
            ],
        );
        let token = docker(a, &["swarm", "join-token", "-q", "worker"]);
        docker(
            b,
            &[
                "swarm",
                "join",
                "--token",
                token.trim(),
                &format!("{}:2377", a.address),
            ],
        );
        docker(
            a,
            &[
                "node",
                "update",
                "--label-add",
                &format!("io.envctl.engine=tcp://{}:2375", b.api),
                "--label-add",
                "zone=b",
                &b.hostname,
            ],
        );
        // The base image reaches the manager as a pull would; B gets nothing.
        swarm.carry("debian:bookworm");
        swarm
    }

    fn manager(&self) -> &Machine {
        &self.machines[0]
    }

    fn worker(&self) -> &Machine {
        &self.machines[1]
    }

    /// Copies a local image to the manager.
    fn carry(&self, image: &str) {
        common::carry_image(&self.manager().socket, image);
    }

    /// What envctl is given: the manager's API, and the swarm engine.
    fn vars(&self) -> Vec<(String, String)> {
        vec![
            (
                "DOCKER_HOST".into(),
                format!("tcp://{}:2375", self.manager().api),
            ),
            ("ENVCTL_ENGINE".into(), "swarm".into()),
        ]
    }

    fn envctl(&self, p: &Project, args: &[&str]) -> common::Run {
        let owned = self.vars();
        let vars: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        p.run_env(args, &vars)
    }

    /// envctl's objects left on each machine.
    fn objects(&self) -> Vec<String> {
        self.machines
            .iter()
            .flat_map(|m| {
                common::engine_objects(&m.socket)
                    .into_iter()
                    .map(move |o| format!("{}: {o}", m.hostname))
            })
            .collect()
    }

    /// The names of envctl's node containers on machine `m`.
    fn nodes_on(&self, m: &Machine) -> Vec<String> {
        docker(
            m,
            &[
                "ps",
                "--filter",
                "label=io.envctl.role=node",
                "--format",
                "{{.Names}}",
            ],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// The demo's images, provisioned on this host and loaded on the manager (no machine
    /// of the swarm has a package mirror), as `image save` / `image load` carry them
    /// between CI jobs.
    fn load_demo(&mut self, p: &Project) {
        if self.demo_loaded {
            return;
        }
        p.run(&["provision", "demo"]).expect(0);
        let file = p.path().join("demo.images");
        p.run(&["image", "save", "demo", file.to_str().unwrap()])
            .expect(0);
        self.envctl(p, &["image", "load", file.to_str().unwrap()])
            .expect(0);
        self.demo_loaded = true;
    }

    fn stop(&mut self) {
        for m in &self.machines {
            let root = self
                .dir
                .join(if m.netns.contains("-a-") { "a" } else { "b" });
            let pid = std::fs::read_to_string(root.join("docker.pid")).unwrap_or_default();
            if let Ok(pid) = pid.trim().parse::<i32>() {
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        for d in &mut self.dockerds {
            let _ = d.wait();
        }
        for link in &self.host_links {
            let _ = Command::new("ip").args(["link", "del", link]).status();
        }
        for m in &self.machines {
            let _ = Command::new("ip").args(["netns", "del", &m.netns]).status();
        }
        common::unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_until_it_answers(m: &Machine, dir: &std::path::Path) {
    for _ in 0..600 {
        let ok = Command::new("docker")
            .args(["-H", &m.socket, "version", "-f", "{{.Server.Version}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let side = if m.netns.contains("-a-") { "a" } else { "b" };
    panic!(
        "dockerd of {} did not answer:\n{}",
        m.hostname,
        std::fs::read_to_string(dir.join(side).join("dockerd.log")).unwrap_or_default()
    );
}

/// The docker CLI against machine `m`; must succeed.
fn docker(m: &Machine, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["-H", &m.socket])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?} on {}: {}",
        m.hostname,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A web node and a client node; `place` lines for each when given.
fn two(web_place: &str, client_place: &str) -> String {
    format!(
        r#"
[nodes.web]
image = "debian:bookworm"
ports = ["18441:8000"]
provision = [{{ shell = "echo provisioned > /etc/provisioned" }}]
command = ["perl", "-MIO::Socket::INET", "-e", "$SIG{{PIPE}} = q(IGNORE); $s = IO::Socket::INET->new(LocalPort => 8000, Listen => 16, ReuseAddr => 1) or die $!; while ($c = $s->accept) {{ while (<$c>) {{ last if /^\\r?$/ }} print $c qq(HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from web\\n); close $c }}"]
health = {{ http = "http://localhost:8000/" }}
{web_place}

[nodes.client]
image = "debian:bookworm"
command = ["sleep", "infinity"]
{client_place}
"#
    )
}

const TWO_SPECS: &str = r#"
[[http]]
title = "the page, from the host"
url = "http://web:8000/"
status = 200
body = ["hello from web"]

[[http]]
title = "the page, from the other node"
from = "client"
url = "http://web:8000/"
status = 200
body = ["hello from web"]

[[tcp]]
title = "the port accepts"
address = "web:8000"

[[tcp]]
title = "nothing on port 9"
address = "web:9"
reachable = false

[[file]]
title = "provisioned"
node = "web"
path = "/etc/provisioned"
contains = ["provisioned"]
"#;

#[test]
fn nodes_spread_over_both_machines_and_host_checks_reach_them_through_the_overlay() {
    let mut guard = swarm();
    let swarm = guard.as_mut().unwrap();
    let p = Project::empty();
    p.file("environments/two.toml", two("", ""));
    p.file("specs/two/two.toml", TWO_SPECS);
    let tested = swarm.envctl(&p, &["test", "two"]);
    assert_eq!(tested.code, 0, "{}", tested.output());
    assert!(tested.stdout.contains("5 passed"), "{}", tested.output());
    assert!(swarm.objects().is_empty(), "{:?}", swarm.objects());

    swarm.envctl(&p, &["up", "two"]).expect(0);
    let (on_a, on_b) = (
        swarm.nodes_on(swarm.manager()),
        swarm.nodes_on(swarm.worker()),
    );
    assert_eq!(
        (on_a.len(), on_b.len()),
        (1, 1),
        "one node each: {on_a:?} {on_b:?}"
    );
    let status = swarm.envctl(&p, &["status", "two"]).expect(0);
    assert!(status.stdout.contains("MACHINE"), "{}", status.stdout);
    for m in &swarm.machines {
        assert!(status.stdout.contains(&m.hostname), "{}", status.stdout);
    }
    // The worker had no image but what envctl carried there.
    let images = docker(swarm.worker(), &["images", "--format", "{{.Repository}}"]);
    assert!(!images.trim().is_empty(), "the worker's images: {images}");

    // The other direction: specs the nodes do not meet fail, on either machine.
    p.file(
        "specs/two/two.toml",
        "[[http]]\nurl = \"http://web:8000/\"\nbody = [\"hello from elsewhere\"]\n\n[[file]]\nnode = \"client\"\npath = \"/etc/provisioned\"\n",
    );
    let failed = swarm.envctl(&p, &["verify", "two"]);
    assert_eq!(failed.code, 1, "{}", failed.output());
    assert!(failed.stdout.contains("2 failed"), "{}", failed.output());
    swarm.envctl(&p, &["down", "two"]).expect(0);
    assert!(
        swarm.objects().is_empty(),
        "down leaves nothing: {:?}",
        swarm.objects()
    );
}

#[test]
fn place_puts_each_node_where_its_constraints_hold_and_refuses_what_none_meets() {
    let mut guard = swarm();
    let swarm = guard.as_mut().unwrap();
    let p = Project::empty();
    let (a, b) = (
        swarm.manager().hostname.clone(),
        swarm.worker().hostname.clone(),
    );
    // Against the spread: both on the worker, by hostname and by label.
    p.file(
        "environments/two.toml",
        two(
            &format!("place = [\"node.hostname == {b}\"]"),
            "place = [\"node.labels.zone == b\", \"node.role == worker\"]",
        ),
    );
    p.file("specs/two/two.toml", TWO_SPECS);
    swarm.envctl(&p, &["up", "two"]).expect(0);
    assert!(
        swarm.nodes_on(swarm.manager()).is_empty(),
        "{:?}",
        swarm.nodes_on(swarm.manager())
    );
    assert_eq!(swarm.nodes_on(swarm.worker()).len(), 2);
    let verified = swarm.envctl(&p, &["verify", "two"]);
    assert_eq!(verified.code, 0, "{}", verified.output());
    swarm.envctl(&p, &["down", "two"]).expect(0);

    // Both on the manager.
    p.file(
        "environments/two.toml",
        two(
            &format!("place = [\"node.hostname != {b}\"]"),
            "place = [\"node.role == manager\"]",
        ),
    );
    swarm.envctl(&p, &["up", "two"]).expect(0);
    assert_eq!(swarm.nodes_on(swarm.manager()).len(), 2, "on {a}");
    swarm.envctl(&p, &["down", "two"]).expect(0);

    // No machine is in zone c: a fault naming the node, its constraint and the machines,
    // and nothing left.
    p.file(
        "environments/two.toml",
        two("place = [\"node.labels.zone == c\"]", ""),
    );
    let refused = swarm.envctl(&p, &["up", "two"]);
    assert_eq!(refused.code, 3, "{}", refused.output());
    for part in ["`web`", "node.labels.zone == c", &a, &b] {
        assert!(
            refused.stderr.contains(part),
            "{part}: {}",
            refused.output()
        );
    }
    assert!(swarm.objects().is_empty(), "{:?}", swarm.objects());

    // A malformed constraint is invalid input, at its line; `place` on one engine too.
    p.file(
        "environments/two.toml",
        two("place = [\"node.zone == c\"]", ""),
    );
    let bad = swarm.envctl(&p, &["up", "two"]);
    assert_eq!(bad.code, 2, "{}", bad.output());
    assert!(
        bad.stderr.contains("two.toml:") && bad.stderr.contains("node.zone"),
        "{}",
        bad.output()
    );
    p.file(
        "environments/two.toml",
        two("place = [\"node.role == worker\"]", ""),
    );
    let local = swarm.envctl(&p, &["--engine", "docker", "up", "two"]);
    assert_eq!(local.code, 2, "{}", local.output());
    assert!(
        local.stderr.contains("nodes.web.place") && local.stderr.contains("swarm"),
        "{}",
        local.output()
    );
    assert!(swarm.objects().is_empty(), "{:?}", swarm.objects());
}

/// A copy of the repository's demo (nodes, provisioning, specs, promotion).
fn demo() -> Project {
    Project::from_repo(&["environments", "provision/demo", "specs/demo"])
}

#[test]
fn the_demo_passes_and_promotes_with_nodes_on_both_machines() {
    let mut guard = swarm();
    let swarm = guard.as_mut().unwrap();
    let p = demo();
    swarm.load_demo(&p);
    let tested = swarm.envctl(&p, &["test", "demo"]);
    assert_eq!(tested.code, 0, "{}", tested.output());
    assert!(tested.stdout.contains("10 passed"), "{}", tested.output());
    assert!(swarm.objects().is_empty(), "{:?}", swarm.objects());

    swarm.envctl(&p, &["up", "demo"]).expect(0);
    let (on_a, on_b) = (
        swarm.nodes_on(swarm.manager()),
        swarm.nodes_on(swarm.worker()),
    );
    assert_eq!(on_a.len() + on_b.len(), 4, "{on_a:?} {on_b:?}");
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "nodes on both machines: {on_a:?} {on_b:?}"
    );
    let promoted = swarm.envctl(
        &p,
        &[
            "promote",
            "demo",
            "app",
            "--release",
            "GREETING=from the swarm",
            "--probe",
            "http://proxy:80/",
        ],
    );
    assert_eq!(promoted.code, 0, "{}", promoted.output());
    assert!(
        promoted.stderr.contains("probe http://proxy:80/"),
        "{}",
        promoted.output()
    );
    swarm.envctl(&p, &["down", "demo"]).expect(0);
    assert!(
        swarm.objects().is_empty(),
        "down leaves nothing: {:?}",
        swarm.objects()
    );
}

#[test]
fn a_provisioned_systemd_node_passes_on_the_worker() {
    let mut guard = swarm();
    let swarm = guard.as_mut().unwrap();
    let p = Project::empty();
    p.file("environments/sysd.toml", common::SYSTEMD_ENV);
    p.file("specs/sysd/sysd.toml", common::SYSTEMD_SPECS);
    if !swarm.systemd_carried {
        // Here, to derive the image (no machine of the swarm has a package mirror).
        p.run(&["provision", "sysd"]).expect(0);
        swarm.carry(&common::systemd_image());
        swarm.systemd_carried = true;
    }
    let passed = swarm.envctl(&p, &["test", "sysd"]);
    assert_eq!(passed.code, 0, "{}", passed.output());
    assert!(passed.stdout.contains("2 passed"), "{}", passed.output());
    assert!(swarm.objects().is_empty(), "{:?}", swarm.objects());

    // The one node goes to the worker (workers before managers), booted there.
    swarm.envctl(&p, &["up", "sysd"]).expect(0);
    assert_eq!(swarm.nodes_on(swarm.worker()).len(), 1);
    let state = swarm.envctl(
        &p,
        &[
            "exec",
            "sysd",
            "svc",
            "--",
            "systemctl",
            "is-system-running",
        ],
    );
    assert!(
        ["running", "degraded"].contains(&state.stdout.trim()),
        "{}",
        state.output()
    );
    swarm.envctl(&p, &["down", "sysd"]).expect(0);
    assert!(swarm.objects().is_empty(), "{:?}", swarm.objects());
}

#[test]
fn a_run_killed_mid_up_leaves_nothing_on_either_machine_after_gc() {
    let mut guard = swarm();
    let swarm = guard.as_mut().unwrap();
    let p = Project::empty();
    // Two nodes whose provisioning takes long: one on each machine when the kill comes.
    let slow = "[nodes.one]\nimage = \"debian:bookworm\"\nprovision = [{ shell = \"sleep 300\" }]\n\n[nodes.two]\nimage = \"debian:bookworm\"\nprovision = [{ shell = \"sleep 301\" }]\n";
    p.file("environments/slow.toml", slow);
    let owned = swarm.vars();
    let vars: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut run = background::Background::start(&p, &p.instance, &["test", "slow"], &vars);
    let (a, b) = (
        swarm.manager().socket.clone(),
        swarm.worker().socket.clone(),
    );
    let provisioning = |socket: &str| {
        let out = Command::new("docker")
            .args([
                "-H",
                socket,
                "ps",
                "--filter",
                "label=io.envctl.role=provision",
                "-q",
            ])
            .output()
            .unwrap();
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    };
    run.wait_until("provisioning on both machines", |_| {
        provisioning(&a) && provisioning(&b)
    });
    run.signal(libc::SIGKILL);
    run.finish();
    let left = swarm.objects();
    assert!(
        left.iter().any(|o| o.starts_with(&swarm.worker().hostname))
            && left
                .iter()
                .any(|o| o.starts_with(&swarm.manager().hostname)),
        "a killed run cannot clean up, on either machine: {left:?}"
    );
    // `gc` knows the manager's swarm without being told.
    let gc = p.run_env(&["gc"], &[("DOCKER_HOST", vars[0].1)]);
    assert_eq!(gc.code, 0, "{}", gc.output());
    assert!(
        swarm.objects().is_empty(),
        "gc leaves nothing: {:?}",
        swarm.objects()
    );
}
