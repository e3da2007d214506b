//! Malformed definitions and specs: each exits 2, names file, line and field, and
//! creates nothing on the engine.

use crate::common;
use common::Project;

const GOOD_NODE: &str =
    "[nodes.web]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\n";

/// (case, file, contents, expected fragments of the error)
fn cases() -> Vec<(&'static str, &'static str, Vec<u8>, Vec<&'static str>)> {
    vec![
        (
            "bad TOML",
            "environments/e.toml",
            b"[nodes.web\nimage = \"x\"\n".to_vec(),
            vec!["environments/e.toml:1:"],
        ),
        (
            "unknown key",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nimgae = \"typo\"\n".to_vec(),
            vec!["environments/e.toml:3:1", "nodes.web.imgae", "unknown field `imgae`"],
        ),
        (
            "unknown top-level key",
            "environments/e.toml",
            b"descriptoin = \"x\"\n[nodes.web]\nimage = \"debian:bookworm\"\n".to_vec(),
            vec!["environments/e.toml:1:1", "descriptoin", "unknown field"],
        ),
        (
            "wrong type",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nreplicas = \"two\"\n".to_vec(),
            vec!["environments/e.toml:3:12", "nodes.web.replicas", "invalid type"],
        ),
        (
            "dangling depends_on",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\ndepends_on = [\"db\"]\n".to_vec(),
            vec!["environments/e.toml:3:15", "depends_on", "`db`, which is not a node"],
        ),
        (
            "dependency cycle",
            "environments/e.toml",
            b"[nodes.a]\nimage = \"debian:bookworm\"\ndepends_on = [\"b\"]\n[nodes.b]\nimage = \"debian:bookworm\"\ndepends_on = [\"a\"]\n".to_vec(),
            vec!["environments/e.toml:3:15", "depends_on", "dependency cycle: a -> b -> a"],
        ),
        (
            "invalid port",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nports = [\"80\", \"99999:80\"]\n".to_vec(),
            vec!["environments/e.toml:3:16", "nodes.web.ports", "out of range"],
        ),
        (
            "port that is not a number",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nports = [\"http\"]\n".to_vec(),
            vec!["environments/e.toml:3:10", "nodes.web.ports", "not a port"],
        ),
        (
            "missing script",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ script = \"provision/missing.sh\" }]\n".to_vec(),
            vec!["environments/e.toml:3:25", "script", "does not exist"],
        ),
        (
            "missing script in shell form",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ shell = \"provision/missing.sh\" }]\n".to_vec(),
            vec!["environments/e.toml:3:24", "shell", "does not exist"],
        ),
        (
            "bad duration",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nhealth = { tcp = 80, timeout = \"5 parsecs\" }\n".to_vec(),
            vec!["environments/e.toml:3:32", "timeout", "not a duration"],
        ),
        (
            "duration without unit",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nhealth = { tcp = 80, interval = \"30\" }\n".to_vec(),
            vec!["environments/e.toml:3:33", "interval", "no unit"],
        ),
        (
            "missing extends target",
            "environments/e.toml",
            b"extends = \"production\"\n[nodes.web]\nimage = \"debian:bookworm\"\n".to_vec(),
            vec!["environments/e.toml:1:11", "extends", "environment `production` does not exist"],
        ),
        (
            "non-UTF-8",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:\xff\xfe\"\n".to_vec(),
            vec!["environments/e.toml:2:17", "not valid UTF-8"],
        ),
        (
            "node without image",
            "environments/e.toml",
            b"[nodes.web]\ncommand = \"true\"\n".to_vec(),
            vec!["environments/e.toml:1:8", "needs `image` or `build`"],
        ),
        (
            "image and build together",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nbuild = \"images/web\"\n".to_vec(),
            vec!["environments/e.toml:3:9", "either `image` or `build`"],
        ),
        (
            "fixed host port with replicas",
            "environments/e.toml",
            b"[nodes.web]\nimage = \"debian:bookworm\"\nreplicas = 2\nports = [\"8080:80\"]\n".to_vec(),
            vec!["environments/e.toml:4:10", "ports", "fixed host port 8080"],
        ),
        (
            "bad node name",
            "environments/e.toml",
            b"[nodes.Web_Server]\nimage = \"debian:bookworm\"\n".to_vec(),
            vec!["environments/e.toml:1:8", "node name `Web_Server`"],
        ),
        (
            "spec with unknown node",
            "specs/e/web.toml",
            b"[[command]]\nnode = \"db\"\nrun = \"true\"\n".to_vec(),
            vec!["specs/e/web.toml:2:8", "`db` is not a node"],
        ),
        (
            "spec with bad regex",
            "specs/e/web.toml",
            b"[[command]]\nnode = \"web\"\nrun = \"true\"\nstdout = [\"/(unclosed/\"]\n".to_vec(),
            vec!["specs/e/web.toml:4:11", "stdout", "invalid regular expression"],
        ),
        (
            "spec with unknown key",
            "specs/e/web.toml",
            b"[[http]]\nurl = \"http://web:80/\"\nstatuss = 200\n".to_vec(),
            vec!["specs/e/web.toml:3:1", "statuss", "unknown field"],
        ),
        (
            "spec with bad duration",
            "specs/e/web.toml",
            b"[[tcp]]\naddress = \"web:80\"\neventually = \"soon\"\n".to_vec(),
            vec!["specs/e/web.toml:3:14", "eventually", "not a duration"],
        ),
    ]
}

#[test]
fn malformed_definitions_exit_2_naming_file_line_and_field_and_create_nothing() {
    let mut failures = Vec::new();
    for (case, file, contents, expected) in cases() {
        let p = Project::empty();
        if file.starts_with("specs/") {
            p.file("environments/e.toml", GOOD_NODE);
        }
        p.file(file, contents);
        // `up` reads definitions; `test` reads definitions and specs.
        let runs = if file.starts_with("specs/") {
            vec![p.run(&["test", "e"]), p.run(&["validate", "e"])]
        } else {
            vec![p.run(&["up", "e"]), p.run(&["test", "e"])]
        };
        for r in &runs {
            let text = r.output();
            if r.code != 2 {
                failures.push(format!("{case}: exit {} (want 2)\n{text}", r.code));
            }
            for fragment in &expected {
                if !text.contains(fragment) {
                    failures.push(format!("{case}: output lacks `{fragment}`:\n{text}"));
                }
            }
            if text.contains("panicked") {
                failures.push(format!("{case}: panicked\n{text}"));
            }
        }
        if !p.leftovers().is_empty() {
            failures.push(format!("{case}: created {:?}", p.leftovers()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn validate_checks_every_environment_without_an_engine() {
    let p = Project::empty();
    p.file("environments/good.toml", GOOD_NODE);
    p.file("environments/bad.toml", "[nodes.web]\nimage = 5\n");
    let out = p
        .run_env(
            &["validate"],
            &[("DOCKER_HOST", "unix:///nonexistent.sock")],
        )
        .expect(2);
    assert!(
        out.stderr.contains("environments/bad.toml:2:9"),
        "{}",
        out.stderr
    );
    let good = p
        .run_env(
            &["validate", "good"],
            &[("DOCKER_HOST", "unix:///nonexistent.sock")],
        )
        .expect(0);
    assert!(
        good.stdout.contains("ok: good: 1 node, 0 assertions"),
        "{}",
        good.stdout
    );
}

#[test]
fn bad_arguments_exit_2() {
    let p = Project::empty();
    p.file("environments/e.toml", GOOD_NODE);
    p.run(&["up", "nope"]).expect(2);
    p.run(&["frobnicate"]).expect(2);
    let bad_instance = common::Project::empty();
    bad_instance.file("environments/e.toml", GOOD_NODE);
    let out = bad_instance.run(&["--instance", "Bad Name!", "up"]);
    assert_eq!(out.code, 2, "{}", out.output());
}
