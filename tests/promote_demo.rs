//! Blue-green promotion of the demo app behind nginx, with etcd holding the live colour,
//! held against an independent client process (tests/clients/http_client.py, a new
//! connection per request) that hammers the proxy during every promotion: good
//! releases reach clients without a failed request, a release failing its specs or not
//! served by the router never does (or, without a preview, only for seconds), a slow
//! release fails the capacity gate, and rollback restores the previous release.
//!
//! One demo instance serves every test of this file (tests take turns); each test reads
//! the live colour instead of assuming one.

use crate::common;
use common::{Answer, HttpClient, Project, Shared};
use std::path::Path;

/// The shared demo instance, brought up on first use.
fn demo() -> Shared {
    Shared::get(|| {
        let p = Project::empty();
        let repo = common::repo();
        for dir in ["environments", "provision/demo", "specs/demo"] {
            copy(&repo.join(dir), &p.path().join(dir));
        }
        p.run(&["up", "demo"]).expect(0);
        p
    })
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
    etcd_get(p, "/services/app/colour")
}

fn etcd_get(p: &Project, key: &str) -> String {
    let run = p
        .run(&[
            "exec",
            "demo",
            "etcd",
            "--",
            "etcdctl",
            "get",
            key,
            "--print-value-only",
        ])
        .expect(0);
    run.stdout.trim().to_string()
}

fn other(colour: &str) -> &'static str {
    if colour == "blue" {
        "green"
    } else {
        "blue"
    }
}

/// The proxy's live route, as clients reach it.
fn proxy_url(p: &Project) -> String {
    format!(
        "http://127.0.0.1:{}/",
        common::published_port(p, "demo", "proxy", 80)
    )
}

/// The body of `GET /` through the proxy, on a new connection.
fn through_router(p: &Project) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "10"])
        .arg(proxy_url(p))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Promotes with the envctl probe running too.
fn promote(p: &Project, release: &[&str], extra: &[&str]) -> common::Run {
    let mut args = vec!["promote", "demo", "app", "--probe", "http://proxy:80/"];
    for r in release {
        args.extend(["--release", r]);
    }
    args.extend(extra);
    p.run(&args)
}

/// Every answer was a 200, whole, from the app.
fn assert_all_served(answers: &[Answer]) {
    assert!(answers.len() > 20, "too few answers: {}", answers.len());
    let bad: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status != 200 || !a.body.contains(":8000)"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} answers failed: {:?}",
        bad.len(),
        answers.len(),
        &bad[..bad.len().min(5)]
    );
}

fn probe_figures(record: &serde_json::Value) -> (u64, u64) {
    let probe = &record["probe"];
    (
        probe["sent"].as_u64().unwrap(),
        probe["failed"].as_u64().unwrap(),
    )
}

#[test]
fn good_releases_alternate_colours_and_no_client_sees_a_failure() {
    let p = demo();
    let before = history(&p).len();
    let client = HttpClient::start(&proxy_url(&p));
    let mut live = live_colour(&p);
    for i in 1..=3 {
        let release = format!("GREETING=good release {i}");
        promote(&p, &[&release], &[]).expect(0);
        let now = live_colour(&p);
        assert_eq!(now, other(&live), "promotion {i} switches colours");
        live = now;
    }
    let answers = client.stop();
    assert_all_served(&answers);
    // The client saw the releases arrive in order, each from its own colour.
    let last = answers.last().unwrap();
    assert!(
        last.body
            .contains(&format!("good release 3 (app-{live}:8000)")),
        "{last:?}"
    );
    let records = history(&p);
    assert_eq!(records.len(), before + 3);
    for r in &records[before..] {
        assert_eq!(r["outcome"], "promoted", "{r}");
        assert_eq!(r["exit"], 0, "{r}");
        let (sent, failed) = probe_figures(r);
        assert!(sent > 0, "{r}");
        assert_eq!(failed, 0, "{r}");
        // Answers per colour, with latency percentiles.
        let colours = r["probe"]["colours"].as_object().unwrap();
        assert!(colours.contains_key(r["to"].as_str().unwrap()), "{r}");
        for figures in colours.values() {
            assert!(figures["count"].as_u64().unwrap() > 0, "{r}");
            assert!(figures["p99_ms"].as_f64().unwrap() >= figures["p50_ms"].as_f64().unwrap());
        }
        // The capacity gate ran on the new colour.
        assert!(
            r["specs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"].as_str().unwrap().starts_with("capacity::")),
            "{r}"
        );
    }
    // The old colour is stopped, not serving.
    let status = p.run(&["status", "demo"]).expect(0).output();
    let old = status
        .lines()
        .find(|l| l.starts_with(&format!("app-{} ", other(&live))))
        .unwrap();
    assert!(old.contains("Exited"), "{status}");
    p.run(&["verify", "demo"]).expect(0);
}

#[test]
fn a_release_failing_its_specs_never_reaches_a_client() {
    let p = demo();
    let live = live_colour(&p);
    let client = HttpClient::start(&proxy_url(&p));
    let bundle = p.path().join("refused-bundle");
    let run = promote(
        &p,
        &["GREETING=internal error: database unreachable"],
        &["--artifacts", bundle.to_str().unwrap()],
    )
    .expect(1);
    let answers = client.stop();
    // The failure bundle has the attempt's record and the nodes as the run left them.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("promote.json")).unwrap()).unwrap();
    assert_eq!(record["outcome"], "refused", "{record}");
    let nodes = std::fs::read_to_string(bundle.join("nodes.txt")).unwrap();
    assert!(
        nodes.lines().any(|l| l.starts_with("proxy\tnode\trunning")),
        "{nodes}"
    );
    assert!(bundle.join("nodes/proxy.log").is_file());
    assert!(
        run.stderr.contains(&format!("the router stays on {live}")),
        "{}",
        run.stderr
    );
    assert_all_served(&answers);
    assert!(
        answers.iter().all(|a| !a.body.contains("internal error")),
        "the refused release reached a client"
    );
    assert_eq!(live_colour(&p), live);
    let records = history(&p);
    let last = records.last().unwrap();
    assert_eq!(last["outcome"], "refused");
    assert_eq!(last["exit"], 1);
    assert_eq!(last["live"], live.as_str());
    assert_eq!(probe_figures(last).1, 0, "{last}");
    let failing: Vec<&str> = last["specs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["passed"] == false)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["app::app_answers_directly"]);
    p.run(&["verify", "demo"]).expect(0);
}

/// A release that passes its own specs but announces the live colour's address: the
/// router, pointed at it, does not serve what `serves` expects.
fn unserved_release(live: &str) -> [String; 2] {
    [
        "GREETING=unserved release".to_string(),
        format!("APP_ADDRESS=app-{live}:8000"),
    ]
}

#[test]
fn a_release_the_router_does_not_serve_is_refused_before_any_client_sees_it() {
    let p = demo();
    let live = live_colour(&p);
    let target = other(&live);
    let release = unserved_release(&live);
    let client = HttpClient::start(&proxy_url(&p));
    let run = promote(&p, &[&release[0], &release[1]], &[]).expect(1);
    let answers = client.stop();
    let err = &run.stderr;
    assert!(
        err.contains(&format!(
            "the router does not serve {target} through its preview"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("(app-{target}:8000)")), "{err}");
    assert_all_served(&answers);
    assert!(
        answers.iter().all(|a| !a.body.contains("unserved")),
        "the unserved release reached a client"
    );
    assert_eq!(live_colour(&p), live);
    // The preview points at the live colour again: nothing names a stopped node.
    assert_eq!(
        etcd_get(&p, "/services/app/preview"),
        format!("app-{live}:8000")
    );
    let last = history(&p).pop().unwrap();
    assert_eq!(
        (last["outcome"].as_str(), last["exit"].as_u64()),
        (Some("refused"), Some(1))
    );
    let steps = last["evidence"]["steps"].to_string();
    assert!(!steps.contains("switching the router to"), "{steps}");
    p.run(&["verify", "demo"]).expect(0);
}

/// Rewrites the demo's definition for one test and puts it back afterwards.
struct Edited<'a> {
    file: std::path::PathBuf,
    original: String,
    _p: &'a Project,
}

impl<'a> Edited<'a> {
    fn new(p: &'a Project, edit: impl FnOnce(&str) -> String) -> Edited<'a> {
        let file = p.path().join("environments/demo.toml");
        let original = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, edit(&original)).unwrap();
        Edited {
            file,
            original,
            _p: p,
        }
    }
}

impl Drop for Edited<'_> {
    fn drop(&mut self) {
        std::fs::write(&self.file, &self.original).unwrap();
    }
}

#[test]
fn without_a_preview_an_unserved_release_is_switched_back_within_seconds() {
    let p = demo();
    let _edited = Edited::new(&p, |text| {
        let start = text.find("[promote.app.preview]").unwrap();
        text[..start].to_string()
    });
    p.run(&["validate", "demo"]).expect(0);
    let live = live_colour(&p);
    let target = other(&live);
    let release = unserved_release(&live);
    let client = HttpClient::start(&proxy_url(&p));
    let run = promote(
        &p,
        &[&release[0], &release[1]],
        &["--probe-body", "!unserved"],
    )
    .expect(1);
    let answers = client.stop();
    let err = &run.stderr;
    assert!(
        err.contains(&format!("the router does not serve {target}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("the router is back on {live}")),
        "{err}"
    );
    // No failed request; the unserved release was visible, but only for seconds:
    // `serves.timeout` (5s) and the switch back.
    assert_all_served(&answers);
    let seen: Vec<f64> = answers
        .iter()
        .filter(|a| a.body.contains("unserved"))
        .map(|a| a.at)
        .collect();
    assert!(!seen.is_empty(), "the switch never happened");
    let window = seen.last().unwrap() - seen.first().unwrap();
    assert!(window < 10.0, "visible for {window:.1}s");
    let after = answers
        .iter()
        .rev()
        .take(5)
        .all(|a| !a.body.contains("unserved"));
    assert!(after, "still served after the switch back");
    assert_eq!(live_colour(&p), live);
    // envctl's own probe judged the content: the unserved answers are its failures.
    let last = history(&p).pop().unwrap();
    assert_eq!(last["exit"], 1);
    let (_, failed) = probe_figures(&last);
    assert!(failed > 0, "{last}");
    assert!(
        last["probe"]["failures"][0]
            .as_str()
            .unwrap()
            .contains("not to contain \"unserved\""),
        "{last}"
    );
}

#[test]
fn a_slow_release_is_refused_by_the_capacity_gate() {
    let p = demo();
    let live = live_colour(&p);
    let client = HttpClient::start(&proxy_url(&p));
    let run = promote(&p, &["GREETING=slow release", "DELAY_MS=1500"], &[]).expect(1);
    let answers = client.stop();
    assert!(run.stderr.contains("failed its specs"), "{}", run.stderr);
    assert_all_served(&answers);
    assert!(answers.iter().all(|a| !a.body.contains("slow release")));
    assert_eq!(live_colour(&p), live);
    let last = history(&p).pop().unwrap();
    let failing: Vec<&str> = last["specs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["passed"] == false)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failing,
        ["capacity::app_keeps_up_with_20_requests_per_second"]
    );
}

#[test]
fn the_capacity_assertion_fails_on_a_slow_node_and_passes_otherwise() {
    let p = demo();
    let live = format!("app-{}", live_colour(&p));
    let out = tempfile::tempdir().unwrap();
    let reports = |name: &str| -> Vec<String> {
        ["junit.xml", "report.json", "report.html"]
            .iter()
            .map(|f| out.path().join(format!("{name}-{f}")).display().to_string())
            .collect()
    };
    let verify = |name: &str, code: i32| {
        let r = reports(name);
        p.run(&[
            "verify", "demo", "capacity", "--junit", &r[0], "--json", &r[1], "--html", &r[2],
        ])
        .expect(code);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&r[1]).unwrap()).unwrap();
        json["results"][0].clone()
    };
    // Slowed down: every answer waits 1.5 s, so p90 breaks its 750 ms threshold.
    p.run(&[
        "exec",
        "demo",
        &live,
        "--",
        "sh",
        "-c",
        "echo 1500 > /tmp/app-delay-ms",
    ])
    .expect(0);
    let slow = verify("slow", 1);
    p.run(&["exec", "demo", &live, "--", "rm", "-f", "/tmp/app-delay-ms"])
        .expect(0);
    assert_eq!(slow["kind"], "load");
    assert_eq!(slow["passed"], false);
    assert!(slow["message"].as_str().unwrap().contains("p90 "), "{slow}");
    assert!(
        slow["load"]["latency_ms"]["p90"].as_f64().unwrap() >= 1500.0,
        "{slow}"
    );
    // As it is: the same assertion passes.
    let normal = verify("normal", 0);
    assert_eq!(normal["passed"], true, "{normal}");
    assert_eq!(normal["load"]["sent"], 40, "{normal}");
    assert_eq!(normal["load"]["failed"], 0, "{normal}");
    assert!(normal["load"]["latency_ms"]["p90"].as_f64().unwrap() < 750.0);

    for name in ["slow", "normal"] {
        let r = reports(name);
        // JSON: valid against the documented schema.
        let check = std::process::Command::new("python3")
            .arg("-c")
            .arg("import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))")
            .arg(common::repo().join("docs/report.schema.json"))
            .arg(&r[1])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        // JUnit: valid against the Jenkins schema (with the `file` and `line` attributes
        // every envctl test case carries), with the percentiles.
        let schema =
            common::junit_schema_with_file_line(std::path::Path::new(&r[0]).parent().unwrap());
        let lint = std::process::Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&schema)
            .arg(&r[0])
            .output()
            .unwrap();
        assert!(
            lint.status.success(),
            "{}",
            String::from_utf8_lossy(&lint.stderr)
        );
        let xml = std::fs::read_to_string(&r[0]).unwrap();
        for figure in [
            "latency_p50_ms",
            "latency_p90_ms",
            "latency_p99_ms",
            "threshold p90",
        ] {
            assert!(xml.contains(figure), "{figure} missing in {xml}");
        }
    }
    // HTML: the latency plot is drawn, as a real browser shows it.
    let html_file = reports("slow")[2].clone();
    let html = std::fs::read_to_string(&html_file).unwrap();
    assert!(
        html.contains("Latency under load") && html.contains("<svg"),
        "{html}"
    );
    let pixels = common::screenshot(Path::new(&html_file), "1200,1000");
    let area = common::pixels_near(&pixels, "#e1bee7");
    let line = common::pixels_near(&pixels, "#6a1b9a");
    assert!(area > 5000, "plot area: {area} pixels");
    assert!(line > 300, "plot line: {line} pixels");
}

#[test]
fn rollback_after_a_good_promotion_restores_the_previous_release() {
    let p = demo();
    let first = live_colour(&p);
    let second = other(&first);
    p.run(&[
        "promote",
        "demo",
        "app",
        "--release",
        "GREETING=version two",
        "--keep-previous",
    ])
    .expect(0);
    assert_eq!(live_colour(&p), second);
    assert!(through_router(&p).contains(&format!("version two (app-{second}:8000)")));
    // --keep-previous leaves the old colour running, ready for an instant rollback.
    let status = p.run(&["status", "demo"]).expect(0).output();
    let old = status
        .lines()
        .find(|l| l.starts_with(&format!("app-{first} ")))
        .unwrap();
    assert!(old.contains("Up") && !old.contains("unhealthy"), "{status}");
    let before = through_router(&p);
    let client = HttpClient::start(&proxy_url(&p));
    p.run(&["rollback", "demo", "app", "--probe", "http://proxy:80/"])
        .expect(0);
    let answers = client.stop();
    assert_all_served(&answers);
    assert_eq!(live_colour(&p), first);
    let body = through_router(&p);
    assert!(body.contains(&format!("(app-{first}:8000)")), "{body}");
    assert_ne!(body, before);
    let records = history(&p);
    let last = records.last().unwrap();
    assert_eq!(last["action"], "rollback");
    assert_eq!(last["outcome"], "rolled back");
    assert_eq!(probe_figures(last).1, 0, "{last}");
    let shown = p.run(&["history", "demo"]).expect(0).stdout;
    assert!(shown.contains("rollback"), "{shown}");
    assert!(shown.contains("GREETING=version two"), "{shown}");
    // Rolling back again returns to the second release, kept stopped.
    p.run(&["rollback", "demo", "app"]).expect(0);
    assert!(through_router(&p).contains(&format!("version two (app-{second}:8000)")));
}

#[test]
fn an_interrupted_promotion_leaves_the_router_on_the_old_colour() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let p = demo();
    let live = live_colour(&p);
    let target = other(&live);
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
        if line.contains(&format!("app: starting {target}")) {
            Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    assert_eq!(live_colour(&p), live);
    assert!(through_router(&p).contains(&format!("(app-{live}:8000)")));
    // The target is either gone or still the idle colour as it was: never the release.
    let status = p.run(&["status", "demo"]).expect(0).output();
    let node = format!("app-{target}");
    let line = status.lines().find(|l| l.starts_with(&format!("{node} ")));
    if line.is_some_and(|l| l.contains("Up")) {
        let env = p
            .run(&["exec", "demo", &node, "--", "printenv", "GREETING"])
            .expect(0);
        assert_ne!(env.stdout.trim(), "never live", "{status}");
    }
    let records = history(&p);
    assert_eq!(records.last().unwrap()["outcome"], "interrupted");
    p.run(&["verify", "demo"]).expect(0);
}

/// A slow request through the proxy, sent by curl (a process of its own): its status
/// and body once it ends.
struct SlowRequest(std::process::Child);

impl SlowRequest {
    fn start(p: &Project, seconds: u32) -> SlowRequest {
        let child = std::process::Command::new("curl")
            .args(["-s", "-m", "90", "-w", "\n%{http_code}"])
            .arg(format!("{}slow?seconds={seconds}", proxy_url(p)))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // In flight (nginx has passed it on) before the caller goes on.
        std::thread::sleep(std::time::Duration::from_millis(800));
        SlowRequest(child)
    }

    fn answer(self) -> String {
        let out = self.0.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn steps(record: &serde_json::Value) -> Vec<String> {
    record["evidence"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn position(steps: &[String], text: &str) -> usize {
    steps
        .iter()
        .position(|s| s.contains(text))
        .unwrap_or_else(|| panic!("no step {text:?} in {steps:#?}"))
}

#[test]
fn a_drained_colour_finishes_its_requests_in_flight_and_rollback_puts_it_back() {
    let p = demo();
    let first = live_colour(&p);
    let second = other(&first);
    let registered = |colour: &str| etcd_get(&p, &format!("/services/app/colours/{colour}"));
    assert_eq!(registered(&first), format!("app-{first}:8000"));

    // A request that takes 12 s is in flight on the live colour when the promotion
    // starts; the old colour is drained before the switch and stopped only once that
    // request has its whole answer.
    let slow = SlowRequest::start(&p, 12);
    promote(&p, &["GREETING=after the drain"], &[]).expect(0);
    let answer = slow.answer();
    assert!(
        answer.contains(&format!("(app-{first}:8000) after 12s: complete"))
            && answer.ends_with("200"),
        "{answer}"
    );
    let last = history(&p).pop().unwrap();
    let s = steps(&last);
    assert!(
        position(&s, &format!("draining {first}"))
            < position(&s, &format!("switching the router to {second}"))
    );
    let idle = &s[position(&s, &format!("{first} has no request in flight"))];
    assert!(
        !idle.contains("(0 seen"),
        "the slow request was not seen in flight: {idle}"
    );
    assert!(position(&s, "has no request in flight") < position(&s, &format!("stopping {first}")));
    assert_eq!(
        registered(&first),
        "",
        "{first} was not taken out of service"
    );

    // Kept running after a drain, then rolled back to: `undo` puts it back into service
    // (it is not restarted, so it does not register itself).
    promote(&p, &["GREETING=kept for rollback"], &["--keep-previous"]).expect(0);
    assert_eq!(
        registered(second),
        "",
        "{second} was not taken out of service"
    );
    p.run(&["rollback", "demo", "app"]).expect(0);
    assert_eq!(live_colour(&p), second);
    assert_eq!(registered(second), format!("app-{second}:8000"));
    assert_eq!(
        registered(&first),
        "",
        "{first} was drained by the rollback"
    );
    let s = steps(&history(&p).pop().unwrap());
    assert!(
        position(
            &s,
            &format!("putting {second} (app-{second}) back into service")
        ) < position(&s, &format!("switching the router to {second}"))
    );
}

#[test]
fn without_a_drain_a_request_in_flight_on_the_old_colour_is_cut() {
    let p = demo();
    let _edited = Edited::new(&p, |text| {
        let start = text.find("[promote.app.drain]").unwrap();
        let end = text.find("[promote.app.preview]").unwrap();
        format!("{}{}", &text[..start], &text[end..])
    });
    let live = live_colour(&p);
    let slow = SlowRequest::start(&p, 20);
    promote(&p, &["GREETING=no drain"], &[]).expect(0);
    let answer = slow.answer();
    assert!(!answer.contains("complete"), "{answer}");
    let s = steps(&history(&p).pop().unwrap());
    assert!(!s.iter().any(|s| s.contains("in flight")), "{s:#?}");
    assert_ne!(live_colour(&p), live);
}
