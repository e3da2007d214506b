//! systemd nodes on a cgroup v2 host, for real. Our machines' kernels mount cgroup v1,
//! so this suite boots a Debian VM under QEMU (software emulation), whose systemd mounts
//! the unified hierarchy, with the Docker Engine (and AppArmor, as Debian ships it) and
//! Ansible installed (images/qemu-node/build.sh with ENVCTL_VM_PACKAGES; `./dev test-vm`
//! builds that disk once and sets ENVCTL_DOCKER_HOST_IMAGE). envctl runs inside the VM
//! against the VM's engine: a systemd node boots and cannot change the VM (its clock,
//! modules, devices, cgroup tree, filesystems), exactly as tests/provision_privileges.rs
//! shows on this cgroup v1 host; with `ENVCTL_CGROUP_V2_EXAMPLES=1`, the Ansible nginx
//! example and the Puppet redis example then pass `envctl test` there and leave nothing,
//! as tests/provision_examples.rs shows on cgroup v1. The examples take over half an
//! hour under emulation, so CI runs the boot and the probes only.
//!
//! The VM is the suite's one fixture: it boots once and every check runs in it.

use crate::common;
use common::{assert_cannot_change_its_host, probe_results, repo, PRIVILEGE_PROBES};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A booted VM, stopped (and its overlay disk removed) when dropped.
struct Vm {
    dir: tempfile::TempDir,
    image: PathBuf,
    ssh_port: u16,
}

impl Vm {
    fn boot(image: &Path) -> Vm {
        let dir = tempfile::tempdir().unwrap();
        let overlay = dir.path().join("disk.qcow2");
        let backing = image.join("disk.qcow2");
        let made = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&backing)
            .arg(&overlay)
            .status()
            .unwrap();
        assert!(made.success(), "qemu-img create failed");
        let ssh_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = |p: &Path| p.display().to_string();
        let status = Command::new("qemu-system-x86_64")
            .args(["-accel", "tcg", "-smp", "2", "-m", "3072"])
            .args(["-display", "none", "-daemonize"])
            .args(["-pidfile", &path(&dir.path().join("pid"))])
            .args([
                "-serial",
                &format!("file:{}", path(&dir.path().join("console.log"))),
            ])
            .args(["-kernel", &path(&image.join("vmlinuz"))])
            .args(["-initrd", &path(&image.join("initrd.img"))])
            .args(["-append", "root=/dev/vda rw console=ttyS0 quiet"])
            .args([
                "-drive",
                &format!("file={},if=virtio,format=qcow2", path(&overlay)),
            ])
            .args([
                "-netdev",
                &format!("user,id=n0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22"),
            ])
            .args(["-device", "virtio-net-pci,netdev=n0"])
            .status()
            .unwrap();
        assert!(status.success(), "qemu-system-x86_64 did not start");
        let vm = Vm {
            dir,
            image: image.to_path_buf(),
            ssh_port,
        };
        let start = Instant::now();
        loop {
            let out = vm.sh("systemctl is-active docker");
            if String::from_utf8_lossy(&out.stdout).trim() == "active" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "the VM's engine did not start; console: {}",
                std::fs::read_to_string(vm.dir.path().join("console.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_secs(3));
        }
        vm
    }

    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-q", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "ConnectTimeout=10", "-o", "BatchMode=yes"])
            .arg("-i")
            .arg(self.image.join("key"))
            .args(["-p", &self.ssh_port.to_string(), "vagrant@127.0.0.1"]);
        cmd
    }

    /// Runs a shell script as root in the VM.
    fn sh(&self, script: &str) -> Output {
        self.ssh()
            .args(["sudo", "sh", "-c"])
            .arg(shell_quote(script))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `script` as root in the VM with `input` on its stdin.
    fn sh_with_input(&self, script: &str, input: &mut dyn std::io::Read) {
        let mut child = self
            .ssh()
            .args(["sudo", "sh", "-c"])
            .arg(shell_quote(script))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::copy(input, child.stdin.as_mut().unwrap()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "{script} failed in the VM");
    }

    /// Runs envctl in the VM, in the project copied to /srv/project.
    fn envctl(&self, args: &str) -> Run {
        let out = self.sh(&format!("cd /srv/project && envctl {args}"));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn passed(run: &Run, specs: &[&str]) {
    assert!(run.stderr.contains(": idempotent ("), "{}", run.stderr);
    for name in specs {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("test {name} ")) && l.ends_with("... ok")),
            "{name} did not pass:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// What the VM's engine holds that envctl made.
fn envctl_objects(vm: &Vm) -> String {
    let out = vm.sh("docker ps -aq --filter label=io.envctl.managed; \
         docker network ls -q --filter label=io.envctl.managed; \
         docker volume ls -q --filter label=io.envctl.managed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "boots a real VM under QEMU; run with ./dev test-vm"]
fn systemd_nodes_provision_and_stay_confined_on_a_cgroup_v2_host() {
    let image = PathBuf::from(std::env::var("ENVCTL_DOCKER_HOST_IMAGE").expect(
        "ENVCTL_DOCKER_HOST_IMAGE names the docker-host VM disk; run this suite with ./dev test-vm",
    ));
    let started = Instant::now();
    let mut last = started;
    // How long each part takes under software emulation (docs/vms.md quotes it).
    let mut phase = |what: &str| {
        eprintln!(
            "[{:>6.1}s] {what} done in {:.1}s",
            started.elapsed().as_secs_f64(),
            last.elapsed().as_secs_f64()
        );
        last = Instant::now();
    };
    let vm = Vm::boot(&image);
    phase("boot");

    // A real unified hierarchy, and an engine that knows it.
    let fs = vm.sh("stat -fc %T /sys/fs/cgroup");
    assert_eq!(String::from_utf8_lossy(&fs.stdout).trim(), "cgroup2fs");
    let version = vm.sh("docker info --format '{{.CgroupVersion}}'");
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), "2");

    // envctl, the examples as a fresh clone has them, and the base image from this host.
    vm.sh_with_input(
        "cat > /usr/local/bin/envctl && chmod 0755 /usr/local/bin/envctl",
        &mut std::fs::File::open(env!("CARGO_BIN_EXE_envctl")).unwrap(),
    );
    let tar = Command::new("tar")
        .arg("-C")
        .arg(repo())
        .args(["-c", "environments", "provision", "specs"])
        .output()
        .unwrap();
    assert!(tar.status.success());
    vm.sh_with_input(
        "mkdir -p /srv/project/environments && tar -C /srv/project -x",
        &mut tar.stdout.as_slice(),
    );
    vm.sh_with_input(
        "mkdir -p /srv/project/environments && cat > /srv/project/environments/box.toml",
        &mut "[nodes.plain]\nimage = \"debian:bookworm\"\ninit = \"systemd\"\n".as_bytes(),
    );
    let mut save = Command::new("docker")
        .args(["save", "debian:bookworm"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    vm.sh_with_input("docker load >/dev/null", save.stdout.as_mut().unwrap());
    assert!(save.wait().unwrap().success());
    phase("copying envctl, the project and debian:bookworm in");

    // envctl's own view of the host: cgroup v2, systemd nodes can boot.
    let doctor = vm.envctl("doctor");
    assert!(
        doctor.stdout.contains("cgroup v2") || doctor.stderr.contains("cgroup v2"),
        "{}\n{}",
        doctor.stdout,
        doctor.stderr
    );

    // Least privilege on v2: nothing a node does reaches the VM.
    vm.envctl("--instance v2 up box").expect(0);
    let probe = vm.envctl(&format!(
        "--instance v2 exec box plain -- env PROBE=envctl-probe sh -c {}",
        shell_quote(PRIVILEGE_PROBES)
    ));
    let r = probe_results(&probe.stdout);
    assert!(r.contains_key("systemd"), "{}", probe.stderr);
    assert_cannot_change_its_host(&r);
    // The node's /sys/fs/cgroup is its own subtree (a private cgroup namespace): a
    // cgroup it makes lands under its container's cgroup, never at the VM's root.
    assert_eq!(r["cgroup_root_mkdir"], "ok", "{r:?}");
    let root = vm.sh("test -e /sys/fs/cgroup/envctl-probe && echo present || echo absent");
    assert_eq!(String::from_utf8_lossy(&root.stdout).trim(), "absent");
    let nested = vm.sh("find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -name envctl-probe -type d");
    assert!(
        String::from_utf8_lossy(&nested.stdout).contains("/docker"),
        "{}",
        String::from_utf8_lossy(&nested.stdout)
    );
    vm.envctl("--instance v2 exec box plain -- rmdir /sys/fs/cgroup/envctl-probe")
        .expect(0);
    vm.envctl("--instance v2 down box").expect(0);
    phase("the privilege probes");
    assert_eq!(envctl_objects(&vm), "", "down left objects behind");

    // The Ansible and Puppet examples, unchanged, side by side: over half an hour
    // under software emulation, so only when asked (`ENVCTL_CGROUP_V2_EXAMPLES=1`).
    if std::env::var_os("ENVCTL_CGROUP_V2_EXAMPLES").is_none() {
        eprintln!(
            "not running the Ansible and Puppet examples in the VM (over 30 minutes): set ENVCTL_CGROUP_V2_EXAMPLES=1"
        );
        return;
    }
    let ansible = vm.envctl("--instance v2 test web-ansible").expect(0);
    phase("envctl test web-ansible");
    passed(
        &ansible,
        &[
            "nginx::the_templated_home_page_is_served",
            "nginx::nginx_is_enabled_at_boot",
            "nginx::nginx_runs_under_systemd",
            "nginx::systemd_is_pid_1",
        ],
    );
    let puppet = vm.envctl("--instance v2 test cache-puppet").expect(0);
    phase("envctl test cache-puppet");
    passed(
        &puppet,
        &[
            "redis::redis_answers_pong",
            "redis::the_configured_memory_limit_is_live",
            "redis::redis_server_is_enabled_and_active_under_systemd",
            "redis::configuration_comes_from_the_module_s_template",
        ],
    );
    assert_eq!(envctl_objects(&vm), "", "envctl test left objects behind");
}
