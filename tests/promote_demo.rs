//! Blue-green promotion of the demo app behind nginx, with etcd holding the live colour:
//! promotions alternate colours without a failed request, a broken release is never
//! switched to, and rollback restores the previous release.

mod common;
use common::Project;
use std::io::{Read, Write};
use std::path::Path;

/// A copy of the repository's demo project (definitions, provisioning files, specs).
fn demo() -> Project {
    let p = Project::empty();
    let repo = common::repo();
    for dir in ["environments", "provision/demo", "specs/demo"] {
        copy(&repo.join(dir), &p.path().join(dir));
    }
    p
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every history record of the instance.
fn history(p: &Project) -> Vec<serde_json::Value> {
    let run = p.run(&["history", "demo", "--json"]).expect(0);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The live colour, as etcd holds it.
fn live_colour(p: &Project) -> String {
    let run = p
        .run(&[
            "exec",
            "demo",
            "etcd",
            "--",
            "etcdctl",
            "get",
            "/services/app/colour",
            "--print-value-only",
        ])
        .expect(0);
    run.stdout.trim().to_string()
}

/// The body of `GET /` through the proxy's published port.
fn through_router(p: &Project) -> String {
    let status = p.run(&["status", "demo"]).expect(0);
    let text = status.output();
    let line = text
        .lines()
        .find(|l| l.starts_with("proxy "))
        .unwrap_or_else(|| panic!("no proxy in status:\n{text}"));
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split("->").next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no published port in {line:?}"));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn probe_figures(record: &serde_json::Value) -> (u64, u64) {
    let probe = &record["probe"];
    (
        probe["sent"].as_u64().unwrap(),
        probe["failed"].as_u64().unwrap(),
    )
}

#[test]
fn ten_promotions_alternate_colours_without_a_failed_request() {
    let p = demo();
    p.run(&["up", "demo"]).expect(0);
    assert_eq!(live_colour(&p), "blue");
    for i in 1..=10 {
        let release = format!("GREETING=release {i}");
        p.run(&[
            "promote",
            "demo",
            "app",
            "--release",
            &release,
            "--probe",
            "http://proxy:80/",
        ])
        .expect(0);
    }
    let records = history(&p);
    assert_eq!(records.len(), 10);
    let (mut sent, mut failed) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        let (from, to) = if i % 2 == 0 {
            ("blue", "green")
        } else {
            ("green", "blue")
        };
        assert_eq!(r["from"], from, "record {i}: {r}");
        assert_eq!(r["to"], to, "record {i}: {r}");
        assert_eq!(r["outcome"], "promoted", "record {i}: {r}");
        let (s, f) = probe_figures(r);
        assert!(s > 0, "record {i} sent no probe request: {r}");
        sent += s;
        failed += f;
    }
    assert!(sent >= 10);
    assert_eq!(failed, 0, "probe requests failed: {records:?}");
    // Ten switches from blue end on blue, serving the tenth release.
    assert_eq!(live_colour(&p), "blue");
    let body = through_router(&p);
    assert!(body.contains("release 10 (app-blue:8000)"), "{body}");
    // The old colour is stopped, not serving.
    let status = p.run(&["status", "demo"]).expect(0).output();
    let green = status
        .lines()
        .find(|l| l.starts_with("app-green "))
        .unwrap();
    assert!(green.contains("Exited"), "{status}");
    // The demo's own specs still hold after the promotions.
    p.run(&["verify", "demo"]).expect(0);
    p.run(&["down", "demo"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_broken_release_is_never_switched_to() {
    let p = demo();
    p.run(&["up", "demo"]).expect(0);
    let run = p
        .run(&[
            "promote",
            "demo",
            "app",
            "--release",
            "GREETING=internal error: database unreachable",
            "--probe",
            "http://proxy:80/",
        ])
        .expect(1);
    assert!(
        run.stderr.contains("the router stays on blue"),
        "{}",
        run.stderr
    );
    assert_eq!(live_colour(&p), "blue");
    let body = through_router(&p);
    assert!(
        body.contains("hello from the demo app (app-blue:8000)"),
        "{body}"
    );
    let records = history(&p);
    let last = records.last().unwrap();
    assert_eq!(last["outcome"], "refused");
    assert_eq!(last["exit"], 1);
    assert_eq!(last["live"], "blue");
    let (sent, failed) = probe_figures(last);
    assert!(sent > 0);
    assert_eq!(failed, 0, "{last}");
    let failing: Vec<&str> = last["specs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["passed"] == false)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["app::app_answers_directly"]);
    // The broken colour was stopped; the live one answers the specs.
    p.run(&["verify", "demo"]).expect(0);
    p.run(&["down", "demo"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn rollback_after_a_good_promotion_restores_the_previous_release() {
    let p = demo();
    p.run(&["up", "demo"]).expect(0);
    p.run(&[
        "promote",
        "demo",
        "app",
        "--release",
        "GREETING=version two",
        "--keep-previous",
    ])
    .expect(0);
    assert_eq!(live_colour(&p), "green");
    assert!(through_router(&p).contains("version two (app-green:8000)"));
    // --keep-previous leaves blue running, ready for an instant rollback.
    let status = p.run(&["status", "demo"]).expect(0).output();
    let blue = status.lines().find(|l| l.starts_with("app-blue ")).unwrap();
    assert!(
        blue.contains("Up") && !blue.contains("unhealthy"),
        "{status}"
    );
    p.run(&["rollback", "demo", "app", "--probe", "http://proxy:80/"])
        .expect(0);
    assert_eq!(live_colour(&p), "blue");
    let body = through_router(&p);
    assert!(
        body.contains("hello from the demo app (app-blue:8000)"),
        "{body}"
    );
    let records = history(&p);
    let last = records.last().unwrap();
    assert_eq!(last["action"], "rollback");
    assert_eq!(last["outcome"], "rolled back");
    assert_eq!(probe_figures(last).1, 0, "{last}");
    assert!(last["specs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["passed"] == true));
    let shown = p.run(&["history", "demo"]).expect(0).stdout;
    assert!(shown.contains("rollback"), "{shown}");
    assert!(shown.contains("GREETING=version two"), "{shown}");
    // Rolling back again returns to the second release, kept stopped in green.
    p.run(&["rollback", "demo", "app"]).expect(0);
    assert!(through_router(&p).contains("version two (app-green:8000)"));
    p.run(&["down", "demo"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn an_interrupted_promotion_leaves_the_router_on_the_old_colour() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let p = demo();
    p.run(&["up", "demo"]).expect(0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_envctl"))
        .arg("--root")
        .arg(p.path())
        .args(["--instance", &p.instance])
        .args(["promote", "demo", "app", "--release", "GREETING=never live"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        // The first step: everything after it must be undone.
        if line.contains("app: starting green") {
            Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    assert_eq!(live_colour(&p), "blue");
    assert!(through_router(&p).contains("hello from the demo app (app-blue:8000)"));
    // Green is either gone or still the idle colour as defined: never the release.
    let status = p.run(&["status", "demo"]).expect(0).output();
    let green = status.lines().find(|l| l.starts_with("app-green "));
    if green.is_some_and(|l| l.contains("Up")) {
        let env = p
            .run(&["exec", "demo", "app-green", "--", "printenv", "GREETING"])
            .expect(0);
        assert_eq!(env.stdout.trim(), "hello from the demo app", "{status}");
    }
    let records = history(&p);
    assert_eq!(records.last().unwrap()["outcome"], "interrupted");
    p.run(&["verify", "demo"]).expect(0);
    p.run(&["down", "demo"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
