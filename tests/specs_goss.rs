//! goss files in goss's own format against a real nginx node.

use crate::common;
use common::Project;

#[test]
fn a_goss_file_runs_unchanged_against_nginx_and_fails_when_made_false() {
    let p = Project::fixture("nginx");
    p.run(&["up"]).expect(0);
    let out = p.run(&["verify"]).expect(0);
    // package, process, port, file, two commands, http, user (+ included group,
    // kernel-param and service)
    assert!(out.stdout.contains("11 passed; 0 failed"), "{}", out.stdout);
    for name in [
        "web.goss::package_nginx_light",
        "web.goss::process_nginx",
        "web.goss::port_tcp_80",
        "web.goss::file_etc_nginx_nginx_conf",
        "web.goss::command_nginx_t",
        "web.goss::http_http_localhost",
        "web.goss::user_www_data",
        "web.goss::group_www_data",
        "web.goss::command_nginx_v",
        "web.goss::service_nginx",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("test {name} ")) && l.ends_with("ok")),
            "{name}:\n{}",
            out.stdout
        );
    }

    let goss = std::fs::read_to_string(p.path().join("specs/nginx/web.goss.yaml")).unwrap();
    let lies = goss
        .replace(">=1.18.0", ">=99")
        .replace("  nginx:\n    running", "  apache2:\n    running")
        .replace("tcp:80:", "tcp:8081:")
        .replace("mode: \"0644\"", "mode: \"0600\"")
        .replace("- syntax is ok", "- syntax is broken")
        .replace("Welcome to nginx", "Welcome to apache")
        .replace("uid: 33", "uid: 0")
        .replace(
            "contain-substring: nginx version",
            "contain-substring: nginx 0.1",
        );
    assert_ne!(goss, lies);
    p.file("specs/nginx/web.goss.yaml", lies);
    let out = p.run(&["verify"]).expect(1);
    assert!(out.stdout.contains("3 passed; 8 failed"), "{}", out.stdout);
    for fragment in [
        "expected: versions semver >=99",
        "process apache2 on web: `running` does not match",
        "port tcp:8081 on web: `listening` does not match",
        "expected: mode \"0600\"",
        "expected: stderr to contain \"syntax is broken\"",
        "expected: body to contain \"Welcome to apache\"",
        "expected: uid 0",
        "expected: stderr containing \"nginx 0.1\"",
    ] {
        assert!(out.stdout.contains(fragment), "{fragment}:\n{}", out.stdout);
    }
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty());
}

#[test]
fn invalid_or_unsupported_goss_is_reported_with_file_and_line() {
    let p = Project::fixture("nginx");
    let cases: &[(&str, &[&str])] = &[
        (
            "package:\n  nginx-light: {installed: true}\npackage:\n  curl: {installed: true}\n",
            &["specs/nginx/web.goss.yaml:3:1", "duplicate"],
        ),
        (
            "service:\n  nginx:\n    running: true\n    colour: blue\n",
            &[
                "specs/nginx/web.goss.yaml:4:5",
                "unknown attribute `colour` for a goss service",
            ],
        ),
        (
            "package:\n  {{ .Vars.nope }}: {}\n",
            &[
                "specs/nginx/web.goss.yaml:2:1",
                "no entry for key `Vars.nope`",
            ],
        ),
        (
            "gossfile:\n  missing/*.yaml: {}\n",
            &["specs/nginx/web.goss.yaml:2:3", "matches no file"],
        ),
    ];
    for (text, fragments) in cases {
        p.file("specs/nginx/web.goss.yaml", text);
        let out = p.run(&["validate"]).expect(2);
        for f in *fragments {
            assert!(
                out.stderr.contains(f),
                "{text}\nmissing {f:?} in:\n{}",
                out.stderr
            );
        }
    }
    p.file("specs/nginx/db.goss.yaml", "package:\n  x: {}\n");
    let out = p.run(&["validate"]).expect(2);
    assert!(out.stderr.contains("`db` is not a node"), "{}", out.stderr);
}
