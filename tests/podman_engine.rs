//! Podman, the engine Debian ships (4.3, rootful), through its Docker-compatible API: a
//! `podman system service` of the test's own, with storage of its own, on a socket of
//! its own (`DOCKER_HOST=unix://SOCKET`). The same environments and specs as on the
//! Docker Engine, unchanged: shell provisioning, a systemd node, the demo; `envctl test`
//! passes, a spec that must fail fails, and nothing is left on the engine.

use crate::common;
use common::Project;
use std::path::PathBuf;
use std::process::Command;

/// A Podman service in a directory of its own. Stopped and removed on drop.
struct Podman {
    dir: PathBuf,
    service: std::process::Child,
}

impl Podman {
    fn start() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("envctl-podman-")
            .tempdir_in("/var/tmp")
            .unwrap()
            .keep();
        // Rootful Podman asks for more open files and processes than this machine's
        // limits allow a container (its runtime then fails with "error setting
        // rlimits"); the engine's own configuration says what to give instead.
        let limit = |flag: &str| {
            let out = Command::new("sh")
                .args(["-c", &format!("ulimit -H{flag}")])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .unwrap_or(1_048_576)
        };
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let (files, processes) = (limit("n"), limit("u").min(pid_max));
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile={files}:{files}\", \"nproc={processes}:{processes}\"]\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("podman.log")).unwrap();
        let service = Command::new("podman")
            .args(Self::global(&dir))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", dir.join("podman.sock").display()))
            .env("CONTAINERS_CONF", dir.join("containers.conf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("podman is installed");
        let engine = Podman { dir, service };
        engine.wait_until_it_answers();
        // The base image, as a pull would bring it.
        let mut save = Command::new("docker")
            .args(["save", "debian:bookworm"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let loaded = engine
            .podman_cmd(&["load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success());
        assert!(
            loaded.status.success(),
            "{}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        engine
    }

    /// Podman's options for this engine's storage and this machine (no systemd here:
    /// cgroupfs, events in a file; runc, the runtime Debian's podman depends on).
    fn global(dir: &std::path::Path) -> Vec<String> {
        vec![
            format!("--root={}", dir.join("root").display()),
            format!("--runroot={}", dir.join("run").display()),
            "--cgroup-manager=cgroupfs".into(),
            "--events-backend=file".into(),
            "--runtime=runc".into(),
        ]
    }

    fn podman_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.args(Self::global(&self.dir))
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"));
        cmd
    }

    fn socket(&self) -> String {
        format!("unix://{}", self.dir.join("podman.sock").display())
    }

    fn wait_until_it_answers(&self) {
        for _ in 0..300 {
            let ok = Command::new("docker")
                .args(["-H", &self.socket(), "version", "-f", "{{.Server.Version}}"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "the Podman service did not answer:\n{}",
            std::fs::read_to_string(self.dir.join("podman.log")).unwrap_or_default()
        );
    }

    fn envctl(&self, p: &Project, args: &[&str]) -> common::Run {
        p.run_env(args, &[("DOCKER_HOST", self.socket().as_str())])
    }

    /// envctl's objects left on this engine.
    fn objects(&self) -> Vec<String> {
        common::engine_objects(&self.socket())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Whatever a failed test left: its containers, and the networks whose bridges
        // and firewall rules Podman made on this machine.
        let _ = self.podman_cmd(&["rm", "-af", "-t", "0"]).output();
        let _ = self.podman_cmd(&["network", "prune", "-f"]).output();
        let _ = self.service.kill();
        let _ = self.service.wait();
        let _ = self.podman_cmd(&["system", "reset", "-f"]).output();
        // Podman 4.3 leaves the monitor (conmon) of every exec session running after its
        // container is gone; they are this engine's, named by its storage directory.
        let ours = self.dir.display().to_string();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.starts_with("/usr/bin/conmon") && cmdline.contains(&ours) {
                if let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        // And netavark the firewall rules of networks it has removed.
        let rules = Command::new("iptables").arg("-S").output().unwrap();
        for rule in String::from_utf8_lossy(&rules.stdout).lines() {
            let gone = rule
                .split_whitespace()
                .skip_while(|w| *w != "-i" && *w != "-o")
                .nth(1)
                .is_some_and(|link| {
                    link.starts_with("podman")
                        && !std::path::Path::new("/sys/class/net").join(link).exists()
                });
            if rule.starts_with("-A NETAVARK") && gone {
                let mut delete = Command::new("iptables");
                delete.arg("-D").args(rule.split_whitespace().skip(1));
                let _ = delete.status();
            }
        }
        common::unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A web node served by Perl, published on a port of the host, with an http health
/// check; specs of the host-side kinds and an in-node one.
const WEB: &str = r#"
[nodes.web]
image = "debian:bookworm"
ports = ["18441:8000"]
provision = [{ shell = "echo provisioned > /etc/provisioned" }]
command = ["perl", "-MIO::Socket::INET", "-e", "$SIG{PIPE} = q(IGNORE); $s = IO::Socket::INET->new(LocalPort => 8000, Listen => 16, ReuseAddr => 1) or die $!; while ($c = $s->accept) { while (<$c>) { last if /^\\r?$/ } print $c qq(HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from web\\n); close $c }"]
health = { http = "http://localhost:8000/" }
"#;

const SPECS: &str = r#"
[[http]]
url = "http://web:8000/"
status = 200
body = ["hello from web"]

[[tcp]]
address = "web:8000"

[[tcp]]
title = "nothing on port 9"
address = "web:9"
reachable = false

[[file]]
node = "web"
path = "/etc/provisioned"
contains = ["provisioned"]
"#;

/// One engine for the suite's environments, in one test: starting Podman and loading
/// the base is most of the cost.
#[test]
fn the_same_environments_and_specs_pass_on_podman_and_leave_nothing() {
    let podman = Podman::start();

    let p = Project::empty();
    p.file("environments/web.toml", WEB);
    p.file("specs/web/web.toml", SPECS);
    let passed = podman.envctl(&p, &["test", "web"]);
    assert_eq!(passed.code, 0, "{}", passed.output());
    assert!(passed.stdout.contains("4 passed"), "{}", passed.output());
    assert!(podman.objects().is_empty(), "{:?}", podman.objects());
    // The other direction: a page that says something else and a port that answers.
    p.file(
        "specs/web/web.toml",
        SPECS
            .replace("body = [\"hello from web\"]", "body = [\"goodbye\"]")
            .replace("address = \"web:9\"", "address = \"web:8000\""),
    );
    let failed = podman.envctl(&p, &["test", "web"]);
    assert_eq!(failed.code, 1, "{}", failed.output());
    assert!(failed.stdout.contains("2 failed"), "{}", failed.output());
    // Stopped under envctl (Podman's passing `stopping`/`stopped` states): status and
    // down still read the engine.
    podman.envctl(&p, &["up", "web"]).expect(0);
    let stopped = podman
        .podman_cmd(&["stop", "-a", "-t", "1"])
        .output()
        .unwrap();
    assert!(stopped.status.success());
    podman.envctl(&p, &["status", "web"]).expect(0);
    podman.envctl(&p, &["down", "web"]).expect(0);
    assert!(podman.objects().is_empty(), "{:?}", podman.objects());

    // A systemd node: systemd boots, provisioning enables a service, specs see it.
    let s = Project::empty();
    s.file("environments/sysd.toml", common::SYSTEMD_ENV);
    s.file("specs/sysd/sysd.toml", common::SYSTEMD_SPECS);
    let booted = podman.envctl(&s, &["test", "sysd"]);
    assert_eq!(booted.code, 0, "{}", booted.output());
    assert!(booted.stdout.contains("2 passed"), "{}", booted.output());
    assert!(podman.objects().is_empty(), "{:?}", podman.objects());

    // The demo: four nodes provisioned there (packages from the mirror), every spec.
    let demo = Project::from_repo(&["environments", "provision/demo", "specs/demo"]);
    let tested = podman.envctl(&demo, &["test", "demo"]);
    assert_eq!(tested.code, 0, "{}", tested.output());
    assert!(tested.stdout.contains("10 passed"), "{}", tested.output());
    assert!(podman.objects().is_empty(), "{:?}", podman.objects());
}
