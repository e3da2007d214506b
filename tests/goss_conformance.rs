//! goss conformance: goss files written from goss's documentation and taken from its own
//! test files, run against one real node, must get the verdict goss gives, in both
//! directions. Every resource of `tests/fixtures/conformance` says its verdict in its
//! title (`pass: ...`, `fail: ...`, `skip: ...`); goss's own matcher test files pass
//! (`matching_basic.yaml`, `matching_transformers.yaml`) or fail (`*_failing.yaml`) whole.
//! One instance serves the whole suite.

use crate::common;
use common::Project;
use serde_json::Value;

/// The verdict a resource must get.
fn expected(title: &str, file: &str) -> &'static str {
    if let Some(v) = ["pass", "fail", "skip"]
        .into_iter()
        .find(|v| title.starts_with(&format!("{v}:")))
    {
        return v;
    }
    if file.ends_with("_failing.yaml") {
        "fail"
    } else {
        "pass"
    }
}

#[test]
fn goss_files_get_goss_verdicts_against_a_real_node_and_toml_kinds_agree() {
    let p = Project::fixture("conformance");
    // `cache` listens on its loopback only: its tcp health check sees it from inside.
    p.run(&["up"]).expect(0);
    let report = p.path().join("report.json");
    // Templates read envctl's environment (`getEnv`, `.Env`).
    let run = p.run_env(
        &["verify", "--json", report.to_str().unwrap()],
        &[("ENVCTL_CONFORMANCE", "goss")],
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let outcomes = doc["results"].as_array().expect("results in the report");
    let mut wrong = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for o in outcomes {
        let title = o["title"].as_str().unwrap_or_default();
        let file = o["file"].as_str().unwrap_or_default();
        let got = if o["skipped"] == true {
            "skip"
        } else if o["passed"] == true {
            "pass"
        } else {
            "fail"
        };
        let want = expected(title, file);
        // Every result says where its resource or table is written.
        if o["line"].as_u64().unwrap_or(0) == 0 {
            wrong.push(format!("{title} ({file}): no line"));
        }
        *counts.entry(want).or_insert(0) += 1;
        // goss's test files skip one resource of their own.
        let skip_in_upstream =
            got == "skip" && file.contains("upstream/") && title.contains("skip");
        if got != want && !skip_in_upstream {
            wrong.push(format!(
                "{} ({file}): goss says {want}, envctl {got}\n    {}",
                o["name"].as_str().unwrap_or_default(),
                o["message"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('\n', "\n    ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} verdicts differ from goss's:\n{}\n--- verify output\n{}",
        wrong.len(),
        outcomes.len(),
        wrong.join("\n"),
        run.stdout
    );
    // Both directions, for many behaviours, ran.
    assert!(counts.get("pass").copied().unwrap_or(0) >= 60, "{counts:?}");
    assert!(counts.get("fail").copied().unwrap_or(0) >= 40, "{counts:?}");
    assert!(counts.get("skip").copied().unwrap_or(0) >= 2, "{counts:?}");
    assert_eq!(run.code, 1, "some cases are meant to fail");
    // Skipped resources are reported as such.
    assert!(
        run.stdout.contains("ignored"),
        "libtest's summary counts skipped resources as ignored:\n{}",
        run.stdout
    );

    // A failure names what was tried and what was found.
    let message = |name: &str| -> String {
        outcomes
            .iter()
            .find(|o| o["name"].as_str().is_some_and(|n| n.ends_with(name)))
            .and_then(|o| o["message"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let m = message("toml::fail_tcp_to_a_published_port_nothing_listens_on");
    assert!(m.contains("nothing in web listens on port 9999"), "{m}");

    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn gosss_own_integration_test_files_load() {
    let p = Project::fixture("goss-upstream");
    let out = p.run_env(&["validate", "upstream"], &[("OS", "bullseye")]);
    assert_eq!(out.code, 0, "{}", out.output());
    // Every resource of the bullseye set and the shared files it includes.
    assert!(
        out.stdout.contains("ok: upstream: 1 node, 66 assertions"),
        "{}",
        out.output()
    );
}

#[test]
fn unsupported_goss_features_are_refused_with_file_line_and_feature() {
    let p = Project::fixture("conformance");
    let cases: &[(&str, &[&str])] = &[
        (
            "package:\n  nginx-light: {installed: true}\npackage:\n  curl: {installed: true}\n",
            &["specs/conformance/web.goss.yaml:3:1", "duplicate"],
        ),
        (
            "matching:\n  x:\n    content: '<a/>'\n    matches:\n      xml: {xpath: a, result: b}\n",
            &["web.goss.yaml:5:", "`xml` (XPath) matcher is not supported"],
        ),
        (
            "{{ define \"x\" }}a{{ end }}\n",
            &["web.goss.yaml:1:1", "`{{define}}` is not supported"],
        ),
        (
            "file:\n  /etc/passwd: {exists: true}\n{{ template \"x\" }}\n",
            &["web.goss.yaml:3:1", "`{{template}}` is not supported"],
        ),
        (
            "{{ block \"x\" . }}a{{ end }}\n",
            &["web.goss.yaml:1:1", "`{{block}}` is not supported"],
        ),
        (
            "a: 1\nfile:\n  {{ uuidv4 }}: {exists: true}\n",
            &["web.goss.yaml:3:1", "template function `uuidv4` is not supported"],
        ),
        (
            "addr:\n  udp://localhost:53:\n    reachable: true\n",
            &["web.goss.yaml:2:3", "tcp:// addresses"],
        ),
        (
            "file:\n  /etc/passwd:\n    exists: true\n    mode: 0644\n",
            &["web.goss.yaml:4:11", "write the mode quoted"],
        ),
        (
            "file:\n  /etc/passwd:\n    exsts: true\n",
            &["web.goss.yaml:2:3", "needs `exists`"],
        ),
        (
            "file:\n  /etc/passwd:\n    exists: true\n    colour: blue\n",
            &["web.goss.yaml:4:5", "`file./etc/passwd.colour`", "unknown attribute `colour`"],
        ),
        (
            "registry:\n  HKLM\\Software\\x:\n    exists: true\n",
            &["web.goss.yaml:1:1", "`registry`", "Windows registry resource) is not supported"],
        ),
        (
            "widget:\n  x: {}\n",
            &["web.goss.yaml:1:1", "`widget` is not a goss resource type"],
        ),
        (
            "user:\n  root:\n    exists: true\n    uid: {bigger: 1}\n",
            &["web.goss.yaml:4:10", "unknown matcher `bigger`"],
        ),
        (
            "package:\n  x:\n    installed: true\n    versions: {semver-constraint: \"~~1\"}\n",
            &["web.goss.yaml:4:15", "not a semver constraint"],
        ),
        (
            "dns:\n  MX:example.com:\n    resolvable: true\n",
            &["web.goss.yaml:2:3", "looked up at a `server`"],
        ),
        (
            "package:\n  {{ .Vars.nope }}: {}\n",
            &["web.goss.yaml:2:1", "no entry for key `Vars.nope`"],
        ),
        (
            "gossfile:\n  missing/*.yaml: {}\n",
            &["web.goss.yaml:2:3", "matches no file"],
        ),
        (
            "gossfile:\n  ../../../../../../etc/*: {}\n",
            &["web.goss.yaml:2:3"],
        ),
    ];
    for (text, fragments) in cases {
        p.file("specs/conformance/web.goss.yaml", text);
        let out = p.run(&["validate", "conformance"]);
        assert_eq!(out.code, 2, "{text}\n{}", out.output());
        for f in *fragments {
            assert!(
                out.stderr.contains(f),
                "{text}\nmissing {f:?} in:\n{}",
                out.stderr
            );
        }
    }
}

#[test]
fn gossfile_includes_stay_in_the_project_and_may_be_shared() {
    let p = Project::fixture("conformance");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.yaml"),
        "file:\n  /etc/shadow-secret-text:\n    exists: true\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        p.path().join("specs/conformance/linked.yaml"),
    )
    .unwrap();
    p.file(
        "specs/conformance/web.goss.yaml",
        "gossfile:\n  linked.yaml: {}\n",
    );
    let out = p.run(&["validate", "conformance"]);
    assert_eq!(out.code, 2, "{}", out.output());
    assert!(out.stderr.contains("outside the project"), "{}", out.stderr);
    assert!(
        !out.output().contains("shadow-secret-text"),
        "{}",
        out.output()
    );

    // Two files including the same one is no cycle; a file including itself is.
    std::fs::remove_file(p.path().join("specs/conformance/linked.yaml")).unwrap();
    p.file(
        "specs/conformance/shared/common.yaml",
        "kernel-param:\n  kernel.ostype: {value: Linux}\n",
    );
    p.file(
        "specs/conformance/shared/a.yaml",
        "gossfile:\n  common.yaml: {}\n",
    );
    p.file(
        "specs/conformance/shared/b.yaml",
        "gossfile:\n  common.yaml: {}\n",
    );
    p.file(
        "specs/conformance/web.goss.yaml",
        "gossfile:\n  shared/a.yaml: {}\n  shared/b.yaml: {}\n",
    );
    p.run(&["validate", "conformance"]).expect(0);
    p.file(
        "specs/conformance/shared/common.yaml",
        "gossfile:\n  a.yaml: {}\n",
    );
    let out = p.run(&["validate", "conformance"]);
    assert_eq!(out.code, 2, "{}", out.output());
    assert!(out.stderr.contains("cycle"), "{}", out.stderr);
}
