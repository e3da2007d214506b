//! The failure bundle (`--artifacts DIR`): written when a run fails, before anything is
//! removed, with each node's output and description, the provisioning logs and the
//! reports, and never a secret; not written after a pass unless asked.

use crate::common;

use common::Project;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Hostile values: a quote, a backslash and unicode; several lines. Nodes print them
/// with printf, as `echo` in dash would turn `\a` into another byte.
const DB_PASSWORD: &str = "bundle-pw\"7e1d\\a4c2-ünï-🔑";
const API_TOKEN: &str = "bundle-tok-one-5c9e\nbundle-tok-two-21fb";
const ALL: &[&str] = &[DB_PASSWORD, API_TOKEN];
const VARS: &[(&str, &str)] = &[("ENVCTL_TEST_BUNDLE_PW", DB_PASSWORD)];

fn project() -> Project {
    let p = Project::fixture("web");
    p.file("secrets/token", format!("{API_TOKEN}\n"));
    p.file(
        "environments/sec.toml",
        r#"
extends = "web"

[secrets]
DB_PASSWORD = { env = "ENVCTL_TEST_BUNDLE_PW" }
API_TOKEN = { file = "secrets/token" }

[nodes.client]
command = ["sh", "-c", "echo client-output-marker; printf '%s\n' \"$API_TOKEN\" \"$DB_PASSWORD\"; exec sleep infinity"]
provision = [{ shell = "printf 'provisioning-marker %s\\n' \"$DB_PASSWORD\" \"$API_TOKEN\"" }]
"#,
    );
    p.file(
        "specs/sec/s.toml",
        r#"
[[command]]
title = "a failure that prints the secrets"
node = "client"
run = "printf 'password is %s\\n' \"$DB_PASSWORD\"; printf 'token %s\\n' \"$API_TOKEN\" >&2; exit 1"
stdout = ["nothing like this"]
"#,
    );
    p
}

/// Every file of the bundle: no secret in its text, nor in any string of a JSON file
/// once decoded (an escaped quote must not hide one), and readable by its owner only.
fn assert_bundle_clean(dir: &Path) {
    let files = common::files_under(dir);
    assert!(!files.is_empty(), "the bundle {} is empty", dir.display());
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(&bytes);
        let shown = common::shown_secrets(&text, ALL);
        assert!(
            shown.is_empty(),
            "{} holds {shown:?}:\n{text}",
            path.display()
        );
        if path.extension().is_some_and(|e| e == "json") {
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let mut strings = Vec::new();
            collect_strings(&value, &mut strings);
            for s in strings {
                let shown = common::shown_secrets(&s, ALL);
                assert!(
                    shown.is_empty(),
                    "{} holds {shown:?} in {s:?}",
                    path.display()
                );
            }
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            collect_strings(v, out);
        }),
        _ => {}
    }
}

/// The client's provisioning log is in the bundle: its steps' output, or (when another
/// test provisioned the same image first) the note that it came from the cache.
fn assert_provision_log(bundle: &Path) {
    let provision = read(&bundle.join("logs/client.provision.log"));
    assert!(
        provision.contains("provisioning-marker [redacted]")
            || provision.contains("reused from the cache"),
        "{provision}"
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_failing_test_leaves_each_nodes_log_its_description_and_the_reports_and_no_secret() {
    let p = project();
    let bundle = p.path().join("bundle");
    let run = p
        .run_env(
            &["test", "sec", "--artifacts", bundle.to_str().unwrap()],
            VARS,
        )
        .expect(1);
    assert!(
        run.stderr
            .contains("wrote the run's artifacts (--artifacts) to"),
        "{}",
        run.output()
    );
    // The instance is gone, but what its nodes said is in the bundle.
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    let client = read(&bundle.join("nodes/client.log"));
    assert!(client.contains("client-output-marker"), "{client}");
    assert!(client.contains("[redacted]"), "{client}");
    assert!(bundle.join("nodes/web.log").is_file());
    let inspect: serde_json::Value =
        serde_json::from_str(&read(&bundle.join("nodes/client.inspect.json"))).unwrap();
    let env: Vec<&str> = inspect["Config"]["Env"]
        .as_array()
        .expect("the description has the node's environment")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"DB_PASSWORD=[redacted]"), "{env:?}");
    let table = read(&bundle.join("nodes.txt"));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("client\tnode\trunning")),
        "{table}"
    );
    assert_provision_log(&bundle);
    let junit = read(&bundle.join("junit.xml"));
    assert!(junit.contains("<failure"), "{junit}");
    // The failed case on `client` attaches the client's output and provisioning log
    // (the form Jenkins' JUnit Attachments plugin reads), files the bundle holds.
    for file in ["nodes/client.log", "logs/client.provision.log"] {
        let path = bundle.join(file);
        assert!(
            junit.contains(&format!("[[ATTACHMENT|{}]]", path.display())),
            "{junit}"
        );
        assert!(path.is_file(), "{}", path.display());
    }
    assert!(bundle.join("report.json").is_file() && bundle.join("report.html").is_file());
    assert_bundle_clean(&bundle);
}

#[test]
fn a_failed_up_leaves_what_its_nodes_said_and_its_timeline_before_it_removes_them() {
    let p = project();
    // The client starts, prints, and exits while `up` waits for it to be healthy.
    p.file(
        "environments/leak.toml",
        "extends = \"sec\"\n[nodes.client]\ncommand = [\"sh\", \"-c\", \"printf 'exit-marker token=%s pw=%s\\\\n' \\\"$API_TOKEN\\\" \\\"$DB_PASSWORD\\\"; exit 7\"]\nhealth = { command = \"false\", timeout = \"30s\" }\n",
    );
    let bundle = p.path().join("up-bundle");
    let run = p
        .run_env(
            &["up", "leak", "--artifacts", bundle.to_str().unwrap()],
            VARS,
        )
        .expect(3);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    let client = read(&bundle.join("nodes/client.log"));
    assert!(
        client.contains("exit-marker token=[redacted]"),
        "{client}\n{}",
        run.output()
    );
    let table = read(&bundle.join("nodes.txt"));
    assert!(
        table.lines().any(|l| l.starts_with("client\tnode\texited")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("web\tnode\trunning")),
        "{table}"
    );
    assert!(bundle.join("nodes/web.inspect.json").is_file());
    assert_provision_log(&bundle);
    let html = read(&bundle.join("report.html"));
    assert!(html.contains("client"), "the timeline names the nodes");
    assert!(!bundle.join("junit.xml").exists(), "no specs ran");
    assert_bundle_clean(&bundle);
}

#[test]
fn a_passing_run_writes_a_bundle_only_when_asked_to_always() {
    let p = Project::fixture("web");
    let skipped = p.path().join("not-written");
    p.run(&["test", "--artifacts", skipped.to_str().unwrap()])
        .expect(0);
    assert!(!skipped.exists(), "a passing run wrote a bundle");

    let always = p.path().join("always");
    p.run(&["up"]).expect(0);
    p.run(&[
        "verify",
        "--artifacts",
        always.to_str().unwrap(),
        "--artifacts-always",
    ])
    .expect(0);
    let web = read(&always.join("nodes/web.log"));
    assert!(always.join("nodes/client.log").is_file());
    let junit = read(&always.join("junit.xml"));
    assert!(junit.contains("<testcase"), "{junit}");
    assert!(
        !junit.contains("[[ATTACHMENT|"),
        "passing cases attach nothing: {junit}"
    );
    assert!(!web.contains("envctl: the output ends here"), "{web}");
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn artifacts_always_needs_artifacts() {
    let p = Project::fixture("web");
    let run = p.run(&["test", "--artifacts-always"]).expect(2);
    assert!(run.stderr.contains("--artifacts"), "{}", run.stderr);
}
