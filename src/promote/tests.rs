//! Promotion's flow against the in-memory engine: which colour runs, what the switch
//! writes and when, and what is stopped, for a gate that passes, one that says no, a
//! router that never serves the new colour, and faults before the switch. The router's
//! HTTP side is a small server on 127.0.0.1 that answers with the upstream last written
//! to the (fake) key-value store, as the demo's nginx does. tests/promote_*.rs run the
//! same flow against a real engine.

use super::flow::{self, Action, Options, FAULT, PROMOTED, REFUSED};
use super::history::Record;
use super::release::Release;
use crate::backend::fake::Fake;
use crate::backend::Backend;
use crate::events::Silent;
use crate::instance::up::{self, UpOptions};
use crate::instance::Instance;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "/services/app/upstream";

fn environment(port: u16) -> String {
    format!(
        r#"
[nodes.etcd]
image = "debian:bookworm"

[nodes.proxy]
image = "debian:bookworm"
ports = ["{port}:80"]

[nodes.app-blue]
image = "debian:bookworm"

[nodes.app-green]
image = "debian:bookworm"

[promote.app]
colours = {{ blue = "app-blue", green = "app-green" }}
router = "proxy"
kv = "etcd"
keys = {{ "{KEY}" = "{{{{node}}}}:8000" }}
reload = ["reload-router"]
serves = {{ url = "http://proxy:80/", body = "({{{{node}}}}:8000)", timeout = "1s" }}
specs = ["app"]
router_specs = []
"#
    )
}

const GATE: &str = r#"
[[command]]
title = "the colour says it is ready"
node = "app"
run = "check-app"
stdout = ["ready"]
"#;

/// A project, the fake engine holding its running instance (blue live), and the
/// router's HTTP side.
struct Stage {
    _dir: tempfile::TempDir,
    fake: Arc<Fake>,
    inst: Instance,
    rt: tokio::runtime::Runtime,
    /// When set, the router keeps answering from blue whatever is written.
    stuck: Arc<AtomicBool>,
}

impl Stage {
    fn new() -> Stage {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::create_dir_all(dir.path().join("specs/e")).unwrap();
        std::fs::write(dir.path().join("environments/e.toml"), environment(port)).unwrap();
        std::fs::write(dir.path().join("specs/e/app.toml"), GATE).unwrap();
        let env = crate::model::environment::load(dir.path(), "e").unwrap();
        let fake = Arc::new(Fake::new());
        let backend: Arc<dyn Backend> = fake.clone();
        let inst = Instance::new(backend, dir.path(), env, "default");
        rt.block_on(up::up(&inst, &Silent, &UpOptions::default()))
            .unwrap();
        fake.answer("etcd", &format!("etcdctl get {KEY}"), 0, "app-blue:8000\n");
        let stuck = Arc::new(AtomicBool::new(false));
        rt.spawn(router(listener, fake.clone(), stuck.clone()));
        fake.clear_calls();
        Stage {
            _dir: dir,
            fake,
            inst,
            rt,
            stuck,
        }
    }

    fn promote(&self) -> Record {
        self.promote_with(Options::default())
    }

    fn promote_with(&self, options: Options) -> Record {
        let p = &self.inst.env.promotions["app"];
        let specs = crate::model::spec::load(&self.inst.root, &self.inst.env).unwrap();
        let options = Options {
            quiet: true,
            jobs: 1,
            ..options
        };
        flow::run(
            self.rt.handle(),
            &self.inst,
            p,
            &specs,
            Action::Promote(Release::default()),
            &options,
            &Silent,
        )
    }

    fn running(&self, node: &str) -> bool {
        self.fake
            .nodes()
            .values()
            .any(|n| n.running && n.spec.name.ends_with(&format!(".{node}")))
    }

    /// The recorded calls whose text contains `part`.
    fn calls_with(&self, part: &str) -> Vec<String> {
        self.fake
            .calls()
            .into_iter()
            .filter(|c| c.contains(part))
            .collect()
    }
}

/// Answers every request with the upstream of the last `etcdctl put` the fake engine
/// recorded (blue before any), as `(NODE:8000)`.
async fn router(listener: tokio::net::TcpListener, fake: Arc<Fake>, stuck: Arc<AtomicBool>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let upstream = if stuck.load(Ordering::SeqCst) {
            "app-blue:8000".to_string()
        } else {
            fake.calls()
                .iter()
                .rev()
                .find_map(|c| c.split(&format!("etcdctl put {KEY} ")).nth(1))
                .unwrap_or("app-blue:8000")
                .to_string()
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let _ = socket.read(&mut buf).await;
            let body = format!("served by ({upstream})\n");
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        });
    }
}

#[test]
fn a_colour_that_passes_its_gate_gets_the_switch_and_the_old_colour_stops_after() {
    let stage = Stage::new();
    stage.fake.answer("app-green", "check-app", 0, "ready\n");
    let record = stage.promote();
    assert_eq!(record.exit, PROMOTED, "{record:#?}");
    assert_eq!(record.from.as_deref(), Some("blue"));
    assert_eq!(record.live.as_deref(), Some("green"));
    assert!(record.specs.iter().all(|s| s.passed) && !record.specs.is_empty());
    let calls = stage.fake.calls();
    let at = |part: &str| {
        calls
            .iter()
            .position(|c| c.contains(part))
            .unwrap_or_else(|| panic!("no `{part}` in {calls:#?}"))
    };
    // Green is started afresh, gated, then the switch is written and the router
    // reloaded; blue is stopped last, kept for a rollback.
    let created = calls
        .iter()
        .position(|c| c.starts_with("create ") && c.contains("app-green"))
        .expect("green created");
    assert!(created < at("check-app"));
    assert!(at("check-app") < at(&format!("etcdctl put {KEY} app-green:8000")));
    assert!(at(&format!("etcdctl put {KEY} app-green:8000")) < at("reload-router"));
    assert!(stage.running("app-green"));
    assert!(!stage.running("app-blue"));
    assert!(
        stage.fake.nodes().keys().any(|n| n.ends_with(".app-blue")),
        "the old colour stays for a rollback"
    );
}

#[test]
fn a_colour_that_fails_its_gate_is_stopped_and_the_router_is_never_written() {
    let stage = Stage::new();
    stage.fake.answer("app-green", "check-app", 0, "starting\n");
    let record = stage.promote();
    assert_eq!(record.exit, REFUSED, "{record:#?}");
    assert_eq!(record.outcome, "refused");
    assert_eq!(record.live.as_deref(), Some("blue"));
    assert!(record.specs.iter().any(|s| !s.passed));
    assert!(stage.calls_with("etcdctl put").is_empty());
    assert!(stage.calls_with("reload-router").is_empty());
    assert!(stage.running("app-blue"));
    assert!(!stage.running("app-green"));
}

#[test]
fn a_gate_cut_short_by_an_interrupt_is_not_a_pass() {
    // The signal has cancelled the assertions, but the run's own interrupt flag has not
    // turned yet: the gate's unanswered assertions must still keep the router where it is.
    let stage = Stage::new();
    stage.fake.answer("app-green", "check-app", 0, "ready\n");
    let token: &'static crate::cancel::Token = Box::leak(Box::new(crate::cancel::Token::new()));
    token.cancel();
    let record = stage.promote_with(Options {
        cancel: Some(token),
        ..Options::default()
    });
    assert_eq!(record.exit, flow::INTERRUPTED, "{record:#?}");
    assert_eq!(record.live.as_deref(), Some("blue"));
    assert!(stage.calls_with("etcdctl put").is_empty());
    assert!(stage.running("app-blue"));
    assert!(!stage.running("app-green"));
}

#[test]
fn a_router_that_never_serves_the_new_colour_is_switched_back_before_green_stops() {
    let stage = Stage::new();
    stage.fake.answer("app-green", "check-app", 0, "ready\n");
    stage.stuck.store(true, Ordering::SeqCst);
    let record = stage.promote();
    assert_eq!(record.exit, REFUSED, "{record:#?}");
    assert!(
        record
            .message
            .as_deref()
            .is_some_and(|m| m.contains("back on blue")),
        "{record:#?}"
    );
    assert_eq!(record.live.as_deref(), Some("blue"));
    let puts = stage.calls_with("etcdctl put");
    assert_eq!(
        puts.iter()
            .map(|c| c.rsplit(' ').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["app-green:8000", "app-blue:8000"],
        "switched, then back"
    );
    assert!(stage.running("app-blue"));
    assert!(!stage.running("app-green"));
}

#[test]
fn a_colour_that_cannot_start_is_a_fault_that_leaves_the_router_alone() {
    let stage = Stage::new();
    stage
        .fake
        .fail("create", "app-green", "no space left on device");
    let record = stage.promote();
    assert_eq!(record.exit, FAULT, "{record:#?}");
    assert!(
        record
            .message
            .as_deref()
            .is_some_and(|m| m.contains("no space left")),
        "{record:#?}"
    );
    assert!(stage.calls_with("etcdctl put").is_empty());
    assert!(stage.running("app-blue"));
    assert!(!stage.running("app-green"));
}

#[test]
fn a_switch_that_holds_neither_colour_is_a_fault_before_anything_starts() {
    let stage = Stage::new();
    stage.fake.answer(
        "etcd",
        &format!("etcdctl get {KEY}"),
        0,
        "somewhere-else:8000\n",
    );
    let record = stage.promote();
    assert_eq!(record.exit, FAULT, "{record:#?}");
    assert!(
        record
            .message
            .as_deref()
            .is_some_and(|m| m.contains("neither colour")),
        "{record:#?}"
    );
    assert!(stage.calls_with("create ").is_empty());
    assert!(stage.calls_with("etcdctl put").is_empty());
}
