//! Faults mid-run: the engine connection lost, a node that dies during provisioning or
//! verify. Each exits 3 with a message naming what failed, and nothing is left behind
//! once the engine is reachable again.

use crate::background;
use crate::common;

use background::{
    Background, ENDLESS_SPEC, FAULT_SECRET, SLOW_PROVISIONING, SLOW_PROVISIONING_WITH_SECRET,
};
use common::Project;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// A unix-socket proxy in front of the real engine socket, which a test can cut off:
/// envctl talks to it through `DOCKER_HOST`, and the shared engine stays up.
struct EngineProxy {
    path: PathBuf,
    streams: Arc<Mutex<Vec<UnixStream>>>,
    frozen: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

/// Forwards `from` to `to` until either closes; once `frozen`, holds what it reads and
/// keeps the connection open without a word, as a hung engine does.
fn forward(mut from: UnixStream, mut to: UnixStream, frozen: Arc<AtomicBool>) {
    use std::io::{Read, Write};
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl EngineProxy {
    fn start() -> EngineProxy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let streams: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let frozen: Arc<AtomicBool> = Arc::default();
        let (kept, freeze) = (streams.clone(), frozen.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if freeze.load(SeqCst) {
                    // Accepted, never answered.
                    kept.lock().unwrap().push(client);
                    continue;
                }
                let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
                    return;
                };
                let mut list = kept.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(engine.try_clone().unwrap());
                drop(list);
                let (c1, e1) = (client.try_clone().unwrap(), engine.try_clone().unwrap());
                let (f1, f2) = (freeze.clone(), freeze.clone());
                std::thread::spawn(move || forward(c1, e1, f1));
                std::thread::spawn(move || forward(engine, client, f2));
            }
        });
        EngineProxy {
            path,
            streams,
            frozen,
            _dir: dir,
        }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The engine "goes away": the socket disappears and open connections are cut.
    fn cut(&self) {
        let _ = std::fs::remove_file(&self.path);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The engine freezes: connections stay open and are accepted, nothing is answered.
    fn freeze(&self) {
        self.frozen.store(true, SeqCst);
    }
}

#[test]
fn engine_gone_during_provisioning_exits_3_then_down_and_gc_clean_up() {
    let p = Project::empty();
    p.file("environments/slow.toml", SLOW_PROVISIONING);
    let proxy = EngineProxy::start();
    let host = proxy.docker_host();
    let mut bg = Background::start(
        &p,
        &p.instance,
        &["test", "slow"],
        &[("DOCKER_HOST", &host)],
    );
    bg.wait_for_provisioning();
    proxy.cut();
    let out = bg.finish().expect(3);
    assert!(
        out.stderr.contains("node `box`")
            && out
                .stderr
                .contains("lost the connection to the Docker Engine"),
        "names the node and the engine: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // What it could not remove is found by labels once the engine is back.
    let dry = p.run(&["gc", "--dry-run"]).expect(0);
    assert!(dry.stdout.contains(&p.instance), "{}", dry.stdout);
    p.run(&["gc"]).expect(0);
    p.run(&["down", "slow"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn engine_gone_during_verify_exits_3_with_a_message() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let proxy = EngineProxy::start();
    let host = proxy.docker_host();
    let mut bg = Background::start(
        &p,
        &p.instance,
        &["test", "web", "never"],
        &[("DOCKER_HOST", &host)],
    );
    bg.wait_for_verify();
    proxy.cut();
    let out = bg.finish().expect(3);
    assert!(out.stderr.contains("Docker Engine"), "{}", out.stderr);
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_node_killed_during_verify_exits_3_naming_it_with_its_log_and_writes_its_report() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let junit = p.path().join("junit.xml");
    let mut bg = Background::start(
        &p,
        &p.instance,
        &["test", "web", "never", "--junit", junit.to_str().unwrap()],
        &[],
    );
    bg.wait_for_verify();
    kill_container(&format!("{}.web", p.object_prefix("web", &p.instance)));
    let out = bg.finish().expect(3);
    assert!(out.stderr.contains("node `web`"), "{}", out.stderr);
    assert!(
        out.stderr.contains("listening on 8080"),
        "log tail: {}",
        out.stderr
    );
    // The run stopped at the fault and still wrote its report: the assertion it cut
    // short says so, and is not a pass.
    let report = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    assert!(
        report.contains("<skipped") && report.contains("interrupted"),
        "{report}"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_node_that_dies_during_provisioning_exits_3_naming_it_with_its_output() {
    let p = Project::empty();
    p.file("environments/slow.toml", SLOW_PROVISIONING);
    let mut bg = Background::start(&p, &p.instance, &["test", "slow"], &[]);
    bg.wait_for_provisioning();
    let name = background::container_names(&p.instance)
        .into_iter()
        .find(|n| n.contains("-provision-"))
        .unwrap();
    // Wait until the step runs (it has printed by then), so there is output to show.
    background::eventually("the step has started", || {
        exec_output(
            name.trim_start_matches('/'),
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done",
        )
        .is_some_and(|procs| procs.contains("sleep 600"))
    });
    kill_container(name.trim_start_matches('/'));
    let out = bg.finish().expect(3);
    assert!(out.stderr.contains("node `box`"), "{}", out.stderr);
    assert!(
        out.stderr.contains("step started"),
        "shows its output: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

/// Output of a command in a container, when it could run.
fn exec_output(container: &str, command: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults().ok()?;
        let exec = docker
            .create_exec(
                container,
                bollard::models::ExecConfig {
                    cmd: Some(vec!["sh".into(), "-c".into(), command.into()]),
                    attach_stdout: Some(true),
                    ..Default::default()
                },
            )
            .await
            .ok()?;
        match docker.start_exec(&exec.id, None).await.ok()? {
            bollard::exec::StartExecResults::Attached { mut output, .. } => {
                use futures_util::StreamExt;
                let mut text = String::new();
                while let Some(Ok(chunk)) = output.next().await {
                    text.push_str(&chunk.to_string());
                }
                Some(text)
            }
            bollard::exec::StartExecResults::Detached => None,
        }
    })
}

fn kill_container(name: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        docker
            .kill_container(
                name,
                None::<bollard::query_parameters::KillContainerOptions>,
            )
            .await
            .unwrap();
    });
}

#[test]
fn a_frozen_engine_during_verify_exits_3_with_a_message() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let proxy = EngineProxy::start();
    let host = proxy.docker_host();
    let mut bg = Background::start(
        &p,
        &p.instance,
        &["test", "web", "never"],
        &[("DOCKER_HOST", &host)],
    );
    bg.wait_for_verify();
    proxy.freeze();
    let out = bg.finish().expect(3);
    assert!(
        out.stderr.contains("has not answered"),
        "says the engine stopped answering: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // Through the real engine, what the run could not remove goes.
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sigterm_ends_envctl_when_the_engine_is_frozen() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let proxy = EngineProxy::start();
    let host = proxy.docker_host();
    let mut bg = Background::start(
        &p,
        &p.instance,
        &["test", "web", "never"],
        &[("DOCKER_HOST", &host)],
    );
    bg.wait_for_verify();
    proxy.freeze();
    bg.signal(libc::SIGTERM);
    // It ends (interrupted, or the engine fault if the watchdog saw it first), saying
    // what is left to clean up.
    let out = bg.finish();
    assert!(
        out.code == 130 || out.code == 3,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    assert!(
        out.stderr.contains("envctl gc") || out.stderr.contains("envctl down"),
        "{}",
        out.stderr
    );
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_frozen_engine_during_provisioning_of_up_exits_3_with_a_message() {
    // Every engine request has a deadline, and a command that runs long (a provisioning
    // step) checks that the engine still answers: `up` ends instead of hanging.
    let p = Project::empty();
    p.file("environments/slow.toml", SLOW_PROVISIONING_WITH_SECRET);
    let proxy = EngineProxy::start();
    let host = proxy.docker_host();
    let mut bg = Background::start(
        &p,
        &p.instance,
        &["up", "slow"],
        &[
            ("DOCKER_HOST", &host),
            ("ENVCTL_ENGINE_TIMEOUT", "3"),
            ("ENVCTL_TEST_FAULT_SECRET", FAULT_SECRET),
        ],
    );
    bg.wait_for_provisioning();
    proxy.freeze();
    let out = bg.finish().expect(3);
    assert!(
        out.stderr.contains("has not answered"),
        "says the engine stopped answering: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        common::shown_secrets(&out.output(), &[FAULT_SECRET]).is_empty(),
        "{}",
        out.output()
    );
    common::assert_no_secret_under_envctl(p.path(), &[FAULT_SECRET]);
    p.run_env(
        &["down", "slow"],
        &[("ENVCTL_TEST_FAULT_SECRET", FAULT_SECRET)],
    )
    .expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
