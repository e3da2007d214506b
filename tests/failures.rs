//! Failing specs (exit 1) and faults (exit 3) with clear messages and cleanup.

use crate::common;
use common::Project;

#[test]
fn failing_spec_exits_1_with_expected_and_actual_and_a_junit_failure() {
    let p = Project::fixture("web");
    p.file(
        "specs/web/broken.toml",
        r#"
[[http]]
title = "wrong status"
url = "http://web:8080/status/503"
status = 200

[[file]]
title = "wrong content"
node = "web"
path = "/srv/www/marker.txt"
contains = ["no such text"]

[[command]]
title = "wrong exit"
node = "client"
run = "echo out; echo err >&2; exit 3"
exit = 0
"#,
    );
    p.run(&["up"]).expect(0);
    let junit = p.path().join("report.xml");
    let json = p.path().join("report.json");
    let out = p.run(&[
        "verify",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = out.expect(1);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("test broken::wrong_status ") && l.ends_with("... FAILED")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("expected: 200") && out.stdout.contains("actual: 503"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("contents \"no such text\"")
            || out.stdout.contains("to contain \"no such text\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("expected: 0") && out.stdout.contains("actual: 3"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("4 passed; 3 failed"), "{}", out.stdout);

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit report is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("7"));
    assert_eq!(root.attribute("failures"), Some("3"));
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 3);
    assert!(failures
        .iter()
        .any(|f| f.text().unwrap_or_default().contains("actual: 503")));

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["failed"], 3);
    assert_eq!(report["summary"]["passed"], 4);
}

#[test]
fn eventually_retries_until_the_deadline() {
    let p = Project::fixture("web");
    p.file(
        "specs/web/later.toml",
        r#"
[[command]]
title = "file appears later"
node = "client"
run = "test -f /tmp/later || { (sleep 1; touch /tmp/later) >/dev/null 2>&1 & exit 1; }"
eventually = "20s"
"#,
    );
    p.run(&["up"]).expect(0);
    p.run(&["verify", "web", "later"]).expect(0);
    p.file(
        "specs/web/never.toml",
        "[[command]]\ntitle = \"never true\"\nnode = \"client\"\nrun = \"false\"\neventually = \"1s\"\n",
    );
    let out = p.run(&["verify", "web", "never"]).expect(1);
    assert!(
        out.stdout.contains("still failing after 1s"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_node_that_never_becomes_healthy_exits_3_names_it_and_cleans_up() {
    let p = Project::fixture("web");
    p.file(
        "environments/sick.toml",
        "extends = \"web\"\n[nodes.web]\nhealth = { http = \"http://localhost:8080/status/500\", interval = \"100ms\", timeout = \"2s\" }\n",
    );
    let out = p.run(&["test", "sick"]).expect(3);
    assert!(
        out.stderr.contains("node `web` did not become healthy"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("answered 500"), "{}", out.stderr);
    assert!(
        out.stderr.contains("listening on 8080"),
        "shows the log tail: {}",
        out.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_published_port_nothing_listens_on_is_not_healthy() {
    // The engine's proxy accepts connections on a published port whether or not the
    // node listens; the tcp health check must not take that for an answer.
    let p = Project::empty();
    p.file(
        "environments/deaf.toml",
        "[nodes.deaf]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\nports = [\"7000\"]\nhealth = { tcp = 7000, interval = \"100ms\", timeout = \"2s\" }\n",
    );
    let out = p.run(&["up", "deaf"]).expect(3);
    assert!(
        out.stderr.contains("node `deaf` did not become healthy"),
        "{}",
        out.stderr
    );
    // The failure names the address tried and what the node itself said.
    assert!(
        regex::Regex::new(r"tcp 7000: \d+\.\d+\.\d+\.\d+:7000: ")
            .unwrap()
            .is_match(&out.stderr),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("inside the node nothing listens on port 7000"),
        "{}",
        out.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_node_that_exits_fails_fast_with_its_output() {
    let p = Project::empty();
    p.file(
        "environments/crash.toml",
        "[nodes.crash]\nimage = \"debian:bookworm\"\ncommand = \"echo about to fail; exit 42\"\nhealth = { command = \"true\", timeout = \"60s\" }\n",
    );
    let out = p.run(&["up", "crash"]).expect(3);
    assert!(out.stderr.contains("exit code 42"), "{}", out.stderr);
    assert!(out.stderr.contains("about to fail"), "{}", out.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_failing_provisioning_step_names_node_and_step_and_keeps_only_that_node() {
    let p = Project::empty();
    p.file(
        "environments/prov.toml",
        "[nodes.box]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\nprovision = [\n  { shell = \"echo step one\" },\n  { name = \"break things\", shell = \"echo going wrong; echo details >&2; exit 5\" },\n]\n",
    );
    let out = p.run(&["up", "prov"]).expect(3);
    assert!(
        out.stderr
            .contains("provisioning node `box` failed at step 2 (break things)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("exit code 5"), "{}", out.stderr);
    assert!(
        out.stderr.contains("going wrong") && out.stderr.contains("details"),
        "{}",
        out.stderr
    );
    p.assert_only_the_failed_node_is_kept(&out, "prov", "box");
    let log = p.run(&["logs", "prov", "box", "--provision"]).expect(0);
    assert!(log.stdout.contains("going wrong"), "{}", log.stdout);
}

#[test]
fn a_step_that_hangs_is_stopped_at_its_timeout() {
    let p = Project::empty();
    p.file(
        "environments/hang.toml",
        "[nodes.box]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\nprovision = [{ shell = \"sleep 600\", timeout = \"1s\" }]\n",
    );
    let out = p.run(&["up", "hang"]).expect(3);
    assert!(
        out.stderr.contains("did not finish within 1s"),
        "{}",
        out.stderr
    );
    p.assert_only_the_failed_node_is_kept(&out, "hang", "box");
}

#[test]
fn an_unreachable_engine_exits_3_and_says_how_to_start_it() {
    let p = Project::fixture("web");
    let out = p
        .run_env(
            &["up"],
            &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        )
        .expect(3);
    assert!(
        out.stderr.contains("cannot reach the Docker Engine"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("start it"), "{}", out.stderr);
    let verify = p
        .run_env(
            &["verify"],
            &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        )
        .expect(3);
    assert!(verify.stderr.contains("cannot reach the Docker Engine"));
}

#[test]
fn verify_without_a_running_instance_exits_3() {
    let p = Project::fixture("web");
    let out = p.run(&["verify"]).expect(3);
    assert!(out.stderr.contains("is not running"), "{}", out.stderr);
}

#[test]
fn a_missing_image_that_cannot_be_pulled_says_what_to_do() {
    let p = Project::empty();
    p.file(
        "environments/img.toml",
        "[nodes.x]\nimage = \"envctl-test-no-such-image:1\"\n",
    );
    let out = p.run(&["up", "img"]).expect(3);
    assert!(
        out.stderr
            .contains("image `envctl-test-no-such-image:1` is not present"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("docker load"), "{}", out.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn up_fails_when_a_node_is_not_running_at_its_end() {
    let p = Project::empty();
    p.file(
        "environments/quits.toml",
        r#"
# `quits` runs when it is checked, and exits while `up` waits for `stays`.
[nodes.quits]
image = "debian:bookworm"
command = ["sh", "-c", "sleep 1; exit 7"]

[nodes.stays]
image = "debian:bookworm"
depends_on = ["quits"]
command = ["sh", "-c", "sleep 4; touch /tmp/ready; exec sleep infinity"]
health = { command = "test -e /tmp/ready", interval = "100ms", timeout = "60s" }
"#,
    );
    let out = p.run(&["up", "quits"]);
    assert_eq!(out.code, 3, "{}", out.output());
    assert!(out.stderr.contains("`quits`"), "{}", out.stderr);
    assert!(!out.stderr.contains("`stays`"), "{}", out.stderr);
    p.run(&["down", "quits"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());

    // Both directions: the same environment whose nodes keep running comes up.
    p.file(
        "environments/quits.toml",
        "[nodes.stays]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\n",
    );
    p.run(&["up", "quits"]).expect(0);
    p.run(&["down", "quits"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
