//! up / verify / status / logs / exec / down on a real engine.

use crate::common;
use common::{container_ids, Project};

#[test]
fn up_verify_down_leaves_nothing_behind() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    let verify = p.run(&["verify"]).expect(0);
    assert!(
        verify
            .stdout
            .lines()
            .any(|l| l.starts_with("test web::home_page ") && l.ends_with("... ok")),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("4 passed; 0 failed"),
        "{}",
        verify.stdout
    );
    let down = p.run(&["down"]).expect(0);
    assert!(
        down.stderr.contains("removed 2 containers, 1 network"),
        "{}",
        down.stderr
    );
    assert_eq!(p.leftovers(), Vec::<String>::new());
    // down is idempotent: labels are the truth, and there is nothing left.
    p.run(&["down"]).expect(0);
}

#[test]
fn second_up_with_nothing_changed_recreates_nothing() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    let before = container_ids(&p.instance);
    let again = p.run(&["up"]).expect(0);
    assert!(again.stderr.contains("up to date"), "{}", again.stderr);
    assert!(!again.stderr.contains("provisioning"), "{}", again.stderr);
    assert_eq!(container_ids(&p.instance), before);
}

#[test]
fn changing_a_node_recreates_only_that_node() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    let before = container_ids(&p.instance);
    let env = std::fs::read_to_string(p.path().join("environments/web.toml")).unwrap();
    p.file(
        "environments/web.toml",
        env.replace("GREETING = \"web\"", "GREETING = \"changed\""),
    );
    p.run(&["up"]).expect(0);
    let after = container_ids(&p.instance);
    let web = |ids: &std::collections::BTreeMap<String, String>| {
        ids.iter()
            .find(|(n, _)| n.ends_with(".web"))
            .map(|(_, id)| id.clone())
    };
    let client = |ids: &std::collections::BTreeMap<String, String>| {
        ids.iter()
            .find(|(n, _)| n.ends_with(".client"))
            .map(|(_, id)| id.clone())
    };
    assert_ne!(web(&before), web(&after), "web was not recreated");
    assert_eq!(
        client(&before),
        client(&after),
        "client should be untouched"
    );
    let out = p
        .run(&["exec", "client", "--", "getent", "hosts", "web"])
        .expect(0);
    assert!(out.stdout.contains("web"), "{}", out.stdout);
}

#[test]
fn status_logs_and_exec_show_the_running_nodes() {
    let p = Project::fixture("web");
    // --no-cache: provision now, so that this project has the provisioning log.
    p.run(&["up", "--no-cache"]).expect(0);
    let status = p.run(&["status"]).expect(0);
    assert!(
        status.stdout.contains("web") && status.stdout.contains("healthy"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("->8080/tcp"), "{}", status.stdout);
    let logs = p.run(&["logs", "web"]).expect(0);
    assert!(logs.stdout.contains("listening on 8080"), "{}", logs.stdout);
    let exec = p
        .run(&["exec", "web", "--", "sh", "-c", "echo $GREETING; exit 7"])
        .expect(7);
    assert_eq!(exec.stdout.trim(), "web");
    let provision_log = p.run(&["logs", "web", "--provision"]).expect(0);
    assert!(
        provision_log.stdout.contains("step 1"),
        "{}",
        provision_log.stdout
    );
}

#[test]
fn extends_scales_replicas_with_names_and_a_shared_alias() {
    let p = Project::fixture("web");
    p.file(
        "environments/scaled.toml",
        "extends = \"web\"\n[nodes.web]\nreplicas = 2\n",
    );
    p.run(&["up", "scaled"]).expect(0);
    let ids = container_ids(&p.instance);
    assert!(ids.keys().any(|n| n.ends_with(".web-1")), "{ids:?}");
    assert!(ids.keys().any(|n| n.ends_with(".web-2")), "{ids:?}");
    // Each replica answers to its own name, and `web` resolves to the replicas.
    for name in ["web-1", "web-2", "web"] {
        p.run(&["exec", "scaled", "client", "--", "getent", "hosts", name])
            .expect(0);
    }
    // Specs of the parent environment run against the child, once per replica for
    // in-node checks.
    let verify = p.run(&["verify", "scaled"]).expect(0);
    assert!(
        verify.stdout.contains("marker_file_web_1"),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("marker_file_web_2"),
        "{}",
        verify.stdout
    );
    p.run(&["down", "scaled"]).expect(0);
    assert!(p.leftovers().is_empty());
}

#[test]
fn verify_filters_select_assertions_by_name() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    let out = p.run(&["verify", "web", "home_page", "marker"]).expect(0);
    assert!(out.stdout.contains("running 2 tests"), "{}", out.stdout);
    let none = p.run(&["verify", "web", "no_such_assertion"]).expect(2);
    assert!(
        none.stderr.contains("no assertion matches"),
        "{}",
        none.stderr
    );
}

#[test]
fn build_contexts_are_built_and_reused() {
    let p = Project::empty();
    p.file(
        "images/tool/Dockerfile",
        "FROM debian:bookworm\nRUN echo built-by-dockerfile > /built.txt\nCMD [\"sleep\", \"infinity\"]\n",
    );
    p.file(
        "environments/b.toml",
        "[nodes.tool]\nbuild = \"images/tool\"\n",
    );
    p.file(
        "specs/b/tool.toml",
        "[[file]]\nnode = \"tool\"\npath = \"/built.txt\"\ncontains = [\"built-by-dockerfile\"]\n",
    );
    p.run(&["test", "b"]).expect(0);
    assert!(p.leftovers().is_empty());
}

#[test]
fn test_runs_down_even_when_specs_fail_and_keep_leaves_it_running() {
    let p = Project::fixture("web");
    p.file(
        "specs/web/broken.toml",
        "[[http]]\ntitle = \"wrong status\"\nurl = \"http://web:8080/status/503\"\nstatus = 200\n",
    );
    p.run(&["test"]).expect(1);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    p.run(&["test", "--keep", "web", "home_page"]).expect(0);
    assert!(!p.leftovers().is_empty());
}
