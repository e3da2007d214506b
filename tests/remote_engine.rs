//! A Docker Engine on another machine, for real: a dockerd of the test's own in its own
//! network namespace, reached from this host over TCP (`DOCKER_HOST=tcp://ADDR:2375`)
//! through a veth pair. Its published ports are on its own loopback and its networks are
//! not routed here, as with GitLab's `docker:dind` service. envctl runs on this host; its
//! host-side checks (health, `http`, `tcp`) must still reach the nodes, with the specs
//! unchanged, and `down` must leave nothing on the remote.

mod common;
use common::Project;
use std::path::PathBuf;
use std::process::Command;

/// The remote stand-in: a network namespace joined to this host by a veth pair, and a
/// dockerd in it listening on the namespace's address. Stopped and removed on drop.
struct RemoteEngine {
    netns: String,
    host_link: String,
    dir: PathBuf,
    dockerd: std::process::Child,
    address: String,
}

impl RemoteEngine {
    fn start() -> RemoteEngine {
        let id = std::process::id();
        let netns = format!("envrem-{id}");
        let host_link = format!("vrh{}", id % 100_000);
        let peer = format!("vrr{}", id % 100_000);
        let subnet = format!("10.231.{}", id % 250);
        let address = format!("{subnet}.2");
        let dir = tempfile::Builder::new()
            .prefix("envctl-remote-engine-")
            .tempdir_in("/var/tmp")
            .unwrap()
            .keep();
        run(&["ip", "netns", "add", &netns]);
        run(&["ip", "-n", &netns, "link", "set", "lo", "up"]);
        run(&[
            "ip", "link", "add", &host_link, "type", "veth", "peer", "name", &peer,
        ]);
        run(&["ip", "link", "set", &peer, "netns", &netns]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{subnet}.1/30"),
            "dev",
            &host_link,
        ]);
        run(&["ip", "link", "set", &host_link, "up"]);
        run(&[
            "ip",
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{address}/30"),
            "dev",
            &peer,
        ]);
        run(&["ip", "-n", &netns, "link", "set", &peer, "up"]);
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        // `nsenter --net` only: `ip netns exec` remounts /sys, and dockerd then finds
        // no cgroups.
        let dockerd = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("/usr/sbin/dockerd")
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .arg("--host")
            .arg(format!("tcp://{address}:2375"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--bridge=none")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nsenter and dockerd are installed");
        let engine = RemoteEngine {
            netns,
            host_link,
            dir,
            dockerd,
            address,
        };
        engine.wait_until_it_answers();
        // The base image, as `envctl image load` or a pull would bring it there.
        let mut save = Command::new("docker")
            .args(["save", "debian:bookworm"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let loaded = Command::new("docker")
            .args(["-H", &engine.host(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save debian:bookworm");
        assert!(
            loaded.status.success(),
            "{}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        engine
    }

    fn host(&self) -> String {
        format!("tcp://{}:2375", self.address)
    }

    fn wait_until_it_answers(&self) {
        for _ in 0..600 {
            let ok = Command::new("docker")
                .args(["-H", &self.host(), "version", "-f", "{{.Server.Version}}"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "the remote dockerd did not answer:\n{}",
            std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
        );
    }

    /// `docker ps -a` / `network ls` / `volume ls` names on the remote, envctl's only
    /// (the package cache aside).
    fn objects(&self) -> Vec<String> {
        let mut names = Vec::new();
        for what in [
            &["ps", "-a", "--format", "{{.Names}}"][..],
            &["network", "ls", "--format", "{{.Name}}"][..],
            &["volume", "ls", "--format", "{{.Name}}"][..],
        ] {
            let out = Command::new("docker")
                .args(["-H", &self.host()])
                .args(what)
                .output()
                .unwrap();
            names.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    // The package cache's volumes stay, as on any engine (docs/provisioning.md).
                    .filter(|l| l.starts_with("envctl") && !l.starts_with("envctl-packages-"))
                    .map(str::to_string),
            );
        }
        names
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("docker.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.dockerd.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| std::path::Path::new(m).starts_with(&self.dir))
            .collect();
        points.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in points {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &[&str]) {
    let out = Command::new(command[0])
        .args(&command[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A web node served by Perl (the base image has it; the remote has no package mirror),
/// published on a fixed port, with an http health check; specs of every host-side kind.
const WEB: &str = r#"
[nodes.web]
image = "debian:bookworm"
ports = ["18431:8000"]
provision = [{ shell = "echo provisioned > /etc/provisioned" }]
command = ["perl", "-MIO::Socket::INET", "-e", "$s = IO::Socket::INET->new(LocalPort => 8000, Listen => 16, ReuseAddr => 1) or die $!; while ($c = $s->accept) { while (<$c>) { last if /^\\r?$/ } print $c qq(HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from web\\n); close $c }"]
health = { http = "http://localhost:8000/" }
"#;

const SPECS: &str = r#"
[[http]]
title = "the page, from the host"
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
fn host_side_checks_reach_the_nodes_of_an_engine_whose_ports_the_host_cannot_reach() {
    let remote = RemoteEngine::start();
    // What the host cannot do: the published port is on the remote's loopback.
    assert!(
        std::net::TcpStream::connect_timeout(
            &format!("{}:18431", remote.address).parse().unwrap(),
            std::time::Duration::from_secs(2)
        )
        .is_err(),
        "the remote's published port must not be reachable from the host"
    );
    let p = Project::empty();
    p.file("environments/web.toml", WEB);
    p.file("specs/web/web.toml", SPECS);
    let host = remote.host();
    let vars = [("DOCKER_HOST", host.as_str())];
    let passed = p.run_env(&["test", "web"], &vars);
    assert_eq!(passed.code, 0, "{}", passed.output());
    assert!(passed.stdout.contains("4 passed"), "{}", passed.output());
    assert!(remote.objects().is_empty(), "{:?}", remote.objects());

    // The other direction, through the same path: a page that says something else and
    // a port that does answer fail the run.
    p.file(
        "specs/web/web.toml",
        SPECS
            .replace("body = [\"hello from web\"]", "body = [\"goodbye\"]")
            .replace("address = \"web:9\"", "address = \"web:8000\""),
    );
    p.run_env(&["up", "web"], &vars).expect(0);
    let status = p.run_env(&["status", "web"], &vars).expect(0);
    assert!(
        status.stdout.contains("run from its probe container"),
        "status says where checks run from: {}",
        status.output()
    );
    let failed = p.run_env(&["verify", "web"], &vars);
    assert_eq!(failed.code, 1, "{}", failed.output());
    assert!(failed.stdout.contains("2 failed"), "{}", failed.output());
    p.run_env(&["down", "web"], &vars).expect(0);
    assert!(
        remote.objects().is_empty(),
        "down leaves nothing on the remote: {:?}",
        remote.objects()
    );
}
