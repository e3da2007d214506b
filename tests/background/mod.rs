//! Support for reliability tests: envctl running in the background (so a test can
//! signal it at a chosen moment), polling the engine for a condition, and the names of
//! an instance's objects.

#![allow(dead_code)]

use crate::common::{Project, Run};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An envctl process started in the background, its output going to files.
pub struct Background {
    child: Child,
    instance: String,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
}

impl Background {
    /// Starts envctl in `project` with `--instance instance`.
    pub fn start(project: &Project, instance: &str, args: &[&str], vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("stdout");
        let err = dir.path().join("stderr");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_envctl"));
        cmd.arg("--root")
            .arg(project.path())
            .arg("--instance")
            .arg(instance)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Background {
            child: cmd.spawn().expect("envctl starts"),
            instance: instance.to_string(),
            out,
            err,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (`libc::SIGINT`, `SIGTERM`, `SIGKILL`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// What it printed so far (stdout then stderr).
    pub fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    /// Waits until `condition` holds, failing the test (with the output so far) when
    /// the process ends first or the deadline passes.
    pub fn wait_until(&mut self, what: &str, mut condition: impl FnMut(&Background) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if condition(self) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("envctl ended ({status}) before {what}\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the run's provisioning container exists.
    pub fn wait_for_provisioning(&mut self) {
        let instance = self.instance.clone();
        self.wait_until("a provisioning container runs", |_| {
            has_container(&instance, "-provision-")
        });
    }

    /// Waits until verify runs its (endless) assertions.
    pub fn wait_for_verify(&mut self) {
        self.wait_until("verify has started", |bg| {
            bg.output().contains("running 1 test")
        });
    }

    /// Waits for the process to end.
    pub fn finish(mut self) -> Run {
        let status = self.child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: status
                .code()
                .unwrap_or_else(|| 1000 + status.signal().unwrap_or_default()),
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A node whose provisioning step says it started, then hangs until the run is
/// stopped.
pub const SLOW_PROVISIONING: &str = r#"
[nodes.box]
image = "debian:bookworm"
command = ["sleep", "infinity"]
provision = [{ shell = "echo step started; sleep 600", timeout = "20m" }]
"#;

/// A secret with a quote, a backslash, unicode and two lines, as fault tests use it.
pub const FAULT_SECRET: &str = "fault-pw\"7d1e\\b4-ünï-🔑\nsecond-line-93c1";

/// [`SLOW_PROVISIONING`] with a secret that the node's env and its step print.
pub const SLOW_PROVISIONING_WITH_SECRET: &str = r#"
[secrets]
FAULT_SECRET = { env = "ENVCTL_TEST_FAULT_SECRET" }

[nodes.box]
image = "debian:bookworm"
command = ["sleep", "infinity"]
provision = [{ shell = "printf '%s\n' \"$FAULT_SECRET\"; echo step started; sleep 600", timeout = "20m" }]
"#;

/// A spec on the `web` fixture that keeps failing, so verify runs until stopped.
pub const ENDLESS_SPEC: &str = r#"
[[command]]
title = "never true"
node = "client"
run = "false"
eventually = "20m"
"#;

/// Polls `condition` until it holds (a test's precondition, not a timing assertion).
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Names of the containers carrying `instance`'s label.
pub fn container_names(instance: &str) -> Vec<String> {
    crate::common::container_ids(instance).into_keys().collect()
}

/// Whether a container whose name contains `fragment` exists for `instance`.
pub fn has_container(instance: &str, fragment: &str) -> bool {
    container_names(instance)
        .iter()
        .any(|n| n.contains(fragment))
}
