//! Bad promotion definitions and arguments: exit 2, the error names file, line and field,
//! and nothing is created.

use crate::common;
use common::Project;

const NODES: &str = r#"
[nodes.kv]
image = "debian:bookworm"

[nodes.app-blue]
image = "debian:bookworm"

[nodes.app-green]
image = "debian:bookworm"

[nodes.proxy]
image = "debian:bookworm"
"#;

/// A valid promotion of `app`; the tests break one thing in it at a time.
const PROMOTE: &str = r#"[promote.app]
colours = { blue = "app-blue", green = "app-green" }
router = "proxy"
kv = "kv"
keys = { "/app/upstream" = "{{node}}:8000" }
serves = { url = "http://proxy:80/", body = "({{node}}:8000)" }
"#;

fn project(promote: &str) -> Project {
    let p = Project::empty();
    p.file("environments/shop.toml", format!("{NODES}\n{promote}"));
    p
}

#[test]
fn a_colour_that_is_not_a_node_is_reported_with_its_line() {
    let p = project(&PROMOTE.replace("green = \"app-green\"", "green = \"app-grene\""));
    let run = p.run(&["validate", "shop"]).expect(2);
    let err = run.stderr;
    assert!(err.contains("environments/shop.toml:15"), "{err}");
    assert!(err.contains("colours"), "{err}");
    assert!(err.contains("`app-grene` is not a node"), "{err}");
    // promote refuses before touching the engine.
    p.run(&["promote", "shop", "app", "--release", "V=2"])
        .expect(2);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn unknown_placeholders_and_a_missing_switch_are_reported() {
    let p = project(
        r#"[promote.app]
colours = { blue = "app-blue", green = "app-green" }
router = "proxy"
serves = { url = "http://proxy:80/", body = "{{address}}" }
"#,
    );
    let err = p.run(&["validate", "shop"]).expect(2).stderr;
    assert!(err.contains("unknown placeholder `{{address}}`"), "{err}");
    assert!(err.contains("serves.body"), "{err}");
    assert!(err.contains("say how the router is switched"), "{err}");
}

#[test]
fn a_router_url_must_go_through_the_router() {
    let p = project(&PROMOTE.replace("http://proxy:80/", "http://app-blue:8000/"));
    let err = p.run(&["validate", "shop"]).expect(2).stderr;
    assert!(err.contains("serves.url"), "{err}");
    assert!(err.contains("http://proxy:PORT/PATH"), "{err}");
}

#[test]
fn unknown_services_and_bad_releases_exit_2_before_anything_is_created() {
    let p = project(PROMOTE);
    p.run(&["validate", "shop"]).expect(0);
    let err = p
        .run(&["promote", "shop", "web", "--release", "V=2"])
        .expect(2)
        .stderr;
    assert!(
        err.contains("`web` is not a promotable service of environment `shop` (it has: app"),
        "{err}"
    );
    let err = p
        .run(&["promote", "shop", "app", "--release", "9LIVES=1"])
        .expect(2)
        .stderr;
    assert!(err.contains("`9LIVES` is not a variable name"), "{err}");
    p.run(&["rollback", "shop", "nope"]).expect(2);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn promoting_an_instance_that_is_not_running_is_a_fault() {
    let p = project(PROMOTE);
    let err = p
        .run(&["promote", "shop", "app", "--release", "V=2"])
        .expect(3)
        .stderr;
    let up = format!(
        "is not running; start it with `envctl --root {} --instance {} up shop`",
        p.path().display(),
        p.instance
    );
    assert!(err.contains(&up), "{err}");
    let history = p.run(&["history", "shop"]).expect(0).stdout;
    assert!(history.contains("failed"), "{history}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_drain_must_name_nodes_of_the_environment_and_call_nothing_outside_it() {
    let p = project(&format!(
        "{PROMOTE}\n[promote.app.drain]\nnode = \"lb\"\nrun = \"drain {{{{node}}}}\"\nundo_http = {{ url = \"http://10.0.0.1:9000/members/{{{{colour}}}}\" }}\n"
    ));
    let err = p.run(&["validate", "shop"]).expect(2).stderr;
    assert!(err.contains("drain.node"), "{err}");
    assert!(err.contains("`lb` is not a node"), "{err}");
    assert!(err.contains("drain.undo_http"), "{err}");
    assert!(
        err.contains("envctl calls nothing outside the instance"),
        "{err}"
    );
    let p = project(&format!("{PROMOTE}\n[promote.app.drain]\nport = 8000\n"));
    let err = p.run(&["validate", "shop"]).expect(2).stderr;
    assert!(err.contains("`run` (a command) or `http`"), "{err}");
    let p = project(&format!(
        "{PROMOTE}\n[promote.app.drain]\nrun = \"drain {{{{host}}}}\"\n"
    ));
    let err = p.run(&["validate", "shop"]).expect(2).stderr;
    assert!(err.contains("unknown placeholder `{{host}}`"), "{err}");
    assert!(err.contains("drain.run"), "{err}");
    p.run(&["promote", "shop", "app", "--release", "V=2"])
        .expect(2);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

/// A valid symlink release of `site`; the tests break one thing in it at a time.
const RELEASES: &str = r#"[releases.site]
nodes = ["app-blue"]
path = "/srv/site"
source = "site"
restart = "true"
keep = 3
"#;

fn releases_project(releases: &str) -> Project {
    let p = project(&format!("{PROMOTE}\n{releases}"));
    p.file("site/index.html", "hello\n");
    p
}

#[test]
fn symlink_release_definitions_are_checked_with_file_line_and_field() {
    let p = releases_project(RELEASES);
    p.run(&["validate", "shop"]).expect(0);
    for (broken, field, message) in [
        (
            RELEASES.replace(r#"["app-blue"]"#, r#"["web"]"#),
            "releases.site.nodes",
            "`web` is not a node",
        ),
        (
            RELEASES.replace(r#"["app-blue"]"#, "[]"),
            "releases.site.nodes",
            "at least one node",
        ),
        (
            RELEASES.replace("\"/srv/site\"", "\"srv/site\""),
            "releases.site.path",
            "must be an absolute path",
        ),
        (
            RELEASES.replace("\"/srv/site\"", "\"/srv/../etc\""),
            "releases.site.path",
            "`.` or `..`",
        ),
        (
            RELEASES.replace("\"/srv/site\"", "\"/\""),
            "releases.site.path",
            "cannot be the root directory",
        ),
        (
            RELEASES.replace("\"site\"\n", "\"../elsewhere\"\n"),
            "releases.site.source",
            "outside the project",
        ),
        (
            RELEASES.replace("\"site\"\n", "\"missing\"\n"),
            "releases.site.source",
            "not a directory of the project",
        ),
        (
            RELEASES.replace("keep = 3", "keep = 1"),
            "releases.site.keep",
            "keep 2 to 1000 releases",
        ),
    ] {
        let p = releases_project(&broken);
        let err = p.run(&["validate", "shop"]).expect(2).stderr;
        assert!(err.contains("environments/shop.toml:"), "{err}");
        assert!(err.contains(field), "{field}: {err}");
        assert!(err.contains(message), "{message}: {err}");
        p.run(&["promote", "shop", "site", "--release", "site"])
            .expect(2);
    }
    let p = releases_project(&RELEASES.replace("keep = 3", "keep = 3\ncopies = 2"));
    let err = p.run(&["validate", "shop"]).expect(2).stderr;
    assert!(err.contains("unknown field `copies`"), "{err}");
    // One service, one strategy.
    let p = releases_project(&RELEASES.replace("[releases.site]", "[releases.app]"));
    let err = p.run(&["validate", "shop"]).expect(2).stderr;
    assert!(
        err.contains("both as [promote.app] and [releases.app]"),
        "{err}"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn bad_symlink_releases_exit_2_before_anything_is_created() {
    let p = releases_project(RELEASES);
    for (release, message) in [
        ("nowhere", "`nowhere`: not a directory"),
        ("git:HEAD", "not in a git repository"),
        ("git:--output=/tmp/x", "not a git revision"),
    ] {
        let err = p
            .run(&["promote", "shop", "site", "--release", release])
            .expect(2)
            .stderr;
        assert!(err.contains(message), "{release}: {err}");
    }
    let err = p
        .run(&[
            "promote",
            "shop",
            "site",
            "--release",
            "site",
            "--release",
            "site",
        ])
        .expect(2)
        .stderr;
    assert!(err.contains("takes one --release"), "{err}");
    let err = p
        .run(&[
            "promote",
            "shop",
            "site",
            "--release",
            "site",
            "--keep-previous",
        ])
        .expect(2)
        .stderr;
    assert!(err.contains("--keep-previous is for blue-green"), "{err}");
    // A git revision the repository does not have.
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(p.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@envctl.invalid"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "site"]);
    let err = p
        .run(&["promote", "shop", "site", "--release", "git:no-such-branch"])
        .expect(2)
        .stderr;
    assert!(
        err.contains("not a revision of the project's git repository"),
        "{err}"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    assert!(!p.path().join(".envctl/history").exists());
}

#[test]
fn promotion_on_a_vm_engine_is_refused_before_anything_is_created() {
    let p = releases_project(RELEASES);
    for args in [
        &[
            "--engine",
            "vagrant",
            "promote",
            "shop",
            "site",
            "--release",
            "site",
        ][..],
        &["--engine", "qemu", "rollback", "shop", "site"][..],
        &[
            "--engine",
            "vagrant",
            "promote",
            "shop",
            "app",
            "--release",
            "V=2",
        ][..],
    ] {
        let err = p.run(args).expect(2).stderr;
        assert!(
            err.contains("run on the Docker engine only"),
            "{args:?}: {err}"
        );
    }
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
