//! SIGINT and SIGTERM at several moments of `envctl test`, `up` and `verify`: exit 130
//! and nothing of the instance left on the engine.

use crate::background;
use crate::common;

use background::{
    has_container, Background, ENDLESS_SPEC, FAULT_SECRET, SLOW_PROVISIONING,
    SLOW_PROVISIONING_WITH_SECRET,
};
use common::Project;

/// A node that starts but never becomes healthy.
const NEVER_HEALTHY: &str = r#"
[nodes.box]
image = "debian:bookworm"
command = ["sleep", "infinity"]
health = { command = "false", interval = "200ms", timeout = "20m" }
"#;

fn interrupted_cleanly(run: common::Run, p: &Project) {
    let run = run.expect(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    assert!(
        p.leftovers().is_empty(),
        "left behind: {:?}\n{}",
        p.leftovers(),
        run.stderr
    );
}

#[test]
fn sigint_during_provisioning_of_test_exits_130_and_leaves_nothing() {
    let p = Project::empty();
    p.file("environments/slow.toml", SLOW_PROVISIONING_WITH_SECRET);
    let mut bg = Background::start(
        &p,
        &p.instance,
        &["test", "slow"],
        &[("ENVCTL_TEST_FAULT_SECRET", FAULT_SECRET)],
    );
    let instance = p.instance.clone();
    bg.wait_until("the step printed the secret and sleeps", |_| {
        background::container_names(&instance)
            .iter()
            .filter(|n| n.contains("-provision-"))
            .any(|name| {
                std::process::Command::new("docker")
                    .args(["exec", name.trim_start_matches('/'), "sh", "-c"])
                    .arg("grep -qa '^slee[p]' /proc/[0-9]*/cmdline")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
    });
    bg.signal(libc::SIGINT);
    let out = bg.finish();
    assert!(
        common::shown_secrets(&out.output(), &[FAULT_SECRET]).is_empty(),
        "{}",
        out.output()
    );
    common::assert_no_secret_under_envctl(p.path(), &[FAULT_SECRET]);
    interrupted_cleanly(out, &p);
}

#[test]
fn sigint_while_test_waits_for_health_exits_130_and_leaves_nothing() {
    let p = Project::empty();
    p.file("environments/sick.toml", NEVER_HEALTHY);
    let mut bg = Background::start(&p, &p.instance, &["test", "sick"], &[]);
    let name = format!("{}.box", p.object_prefix("sick", &p.instance));
    let inst = p.instance.clone();
    bg.wait_until("the node container exists", |_| has_container(&inst, &name));
    bg.signal(libc::SIGINT);
    interrupted_cleanly(bg.finish(), &p);
}

#[test]
fn sigint_during_verify_of_test_exits_130_and_leaves_nothing() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let mut bg = Background::start(&p, &p.instance, &["test", "web", "never"], &[]);
    bg.wait_for_verify();
    bg.signal(libc::SIGINT);
    interrupted_cleanly(bg.finish(), &p);
}

#[test]
fn sigterm_during_verify_of_test_exits_130_and_leaves_nothing() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let mut bg = Background::start(&p, &p.instance, &["test", "web", "never"], &[]);
    bg.wait_for_verify();
    bg.signal(libc::SIGTERM);
    interrupted_cleanly(bg.finish(), &p);
}

#[test]
fn sigint_during_up_removes_what_the_run_created_and_exits_130() {
    let p = Project::empty();
    p.file("environments/slow.toml", SLOW_PROVISIONING);
    let mut bg = Background::start(&p, &p.instance, &["up", "slow"], &[]);
    bg.wait_for_provisioning();
    bg.signal(libc::SIGINT);
    interrupted_cleanly(bg.finish(), &p);
}

#[test]
fn sigint_during_up_keeps_the_instance_that_was_already_running() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    let before = common::container_ids(&p.instance);
    // Changing the client's definition makes the next `up` recreate it.
    p.file(
        "environments/web.toml",
        std::fs::read_to_string(p.path().join("environments/web.toml"))
            .unwrap()
            .replace(
                "command = [\"sleep\", \"infinity\"]",
                "command = [\"sleep\", \"infinity\"]\nprovision = [{ shell = \"sleep 600\" }]",
            ),
    );
    let mut bg = Background::start(&p, &p.instance, &["up", "web"], &[]);
    bg.wait_for_provisioning();
    bg.signal(libc::SIGINT);
    bg.finish().expect(130);
    // The running instance is untouched: same containers, nothing half-made.
    assert_eq!(common::container_ids(&p.instance), before);
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sigint_during_verify_exits_130_and_leaves_the_instance_running() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    p.run(&["up"]).expect(0);
    let before = common::container_ids(&p.instance);
    let mut bg = Background::start(&p, &p.instance, &["verify", "web", "never"], &[]);
    bg.wait_for_verify();
    bg.signal(libc::SIGINT);
    let run = bg.finish().expect(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    assert_eq!(common::container_ids(&p.instance), before);
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sighup_during_verify_of_test_exits_130_and_leaves_nothing() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let mut bg = Background::start(&p, &p.instance, &["test", "web", "never"], &[]);
    bg.wait_for_verify();
    bg.signal(libc::SIGHUP);
    interrupted_cleanly(bg.finish(), &p);
}

#[test]
fn an_interrupted_verify_reports_interrupted_and_no_failure() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let reports = tempfile::tempdir().unwrap();
    let junit = reports.path().join("junit.xml");
    let tap = reports.path().join("report.tap");
    let mut bg = Background::start(
        &p,
        &p.instance,
        &[
            "test",
            "web",
            "never",
            "--junit",
            junit.to_str().unwrap(),
            "--tap",
            tap.to_str().unwrap(),
        ],
        &[],
    );
    bg.wait_for_verify();
    bg.signal(libc::SIGINT);
    interrupted_cleanly(bg.finish(), &p);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("interrupted"), "{xml}");
    assert!(
        !xml.contains("<failure"),
        "a failure made up by the teardown: {xml}"
    );
    let tap = std::fs::read_to_string(&tap).unwrap();
    assert!(tap.contains("# SKIP interrupted"), "{tap}");
    assert!(!tap.contains("not ok"), "{tap}");
}

#[test]
fn a_closed_stdout_is_not_a_panic_and_test_still_cleans_up() {
    use std::io::BufRead;
    let p = Project::fixture("web");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_envctl"))
        .arg("--root")
        .arg(p.path())
        .arg("--instance")
        .arg(&p.instance)
        .args(["test", "web"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -2`: read two lines, then go away.
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    for _ in 0..2 {
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
    }
    drop(lines);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("down, removed"), "{stderr}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn an_interrupt_during_exec_exits_130_at_once_and_says_the_command_may_run_on() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    let mut bg = Background::start(
        &p,
        &p.instance,
        &[
            "exec",
            "web",
            "client",
            "--",
            "sh",
            "-c",
            "touch /tmp/exec-started; sleep 300",
        ],
        &[],
    );
    let started = || {
        p.run(&[
            "exec",
            "web",
            "client",
            "--",
            "test",
            "-e",
            "/tmp/exec-started",
        ])
        .code
            == 0
    };
    bg.wait_until("the command runs in the node", |_| started());
    bg.signal(libc::SIGINT);
    let out = bg.finish().expect(130);
    assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
    assert!(
        out.stderr.contains("may still be running in node `client`"),
        "{}",
        out.stderr
    );
    // exec creates nothing: the instance is as it was, and down removes all of it.
    p.run(&["verify"]).expect(0);
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
