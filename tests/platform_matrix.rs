//! `envctl test ENV --platform A --platform B`: one environment on several Debian
//! releases in one command, side by side, each platform named in its reports.

use crate::common;

use common::{leftovers, Project};
use std::path::Path;
use std::process::Command;

const BOOKWORM: &str = "debian:bookworm";
const TRIXIE: &str = "debian:trixie";

fn codename(p: &Project, instance: &str) -> String {
    let out = p
        .run_as(
            instance,
            &[
                "exec",
                "web",
                "client",
                "--",
                "sh",
                "-c",
                ". /etc/os-release; echo $VERSION_CODENAME",
            ],
            &[],
        )
        .expect(0);
    out.stdout.trim().to_string()
}

fn validates_as_junit(file: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let schema = common::junit_schema_with_file_line(dir.path());
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint (./dev setup-test installs it)");
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Downs the kept platform instances when the test ends, passed or not.
struct DownOnDrop<'a>(&'a Project, Vec<String>);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        for i in &self.1 {
            self.0.run_as(i, &["down", "web"], &[]);
        }
    }
}

#[test]
fn one_test_runs_every_platform_side_by_side_and_each_report_names_its_platform() {
    let p = Project::fixture("web");
    let instance = p.instance.clone();
    let _down = DownOnDrop(
        &p,
        vec![
            format!("{instance}-debian-bookworm"),
            format!("{instance}-debian-trixie"),
        ],
    );
    let reports = p.path().join("reports");
    let out = p
        .run(&[
            "test",
            "web",
            "--platform",
            BOOKWORM,
            "--platform",
            TRIXIE,
            "--keep",
            "--junit",
            reports.join("junit.xml").to_str().unwrap(),
            "--json",
            reports.join("report.json").to_str().unwrap(),
            "--tap",
            reports.join("report.tap").to_str().unwrap(),
        ])
        .expect(0);
    assert!(
        out.stdout.contains("[debian:trixie] test web::home_page"),
        "{}",
        out.output()
    );
    assert!(
        out.stdout.contains("[debian:bookworm] test web::home_page"),
        "{}",
        out.output()
    );

    // Each platform ran on its own instance, on its own release.
    let (on_bookworm, on_trixie) = (
        format!("{instance}-debian-bookworm"),
        format!("{instance}-debian-trixie"),
    );
    assert_eq!(codename(&p, &on_bookworm), "bookworm");
    assert_eq!(codename(&p, &on_trixie), "trixie");

    for (platform, slug) in [(BOOKWORM, "debian-bookworm"), (TRIXIE, "debian-trixie")] {
        let junit = reports.join(format!("junit.{slug}.xml"));
        validates_as_junit(&junit);
        let xml = std::fs::read_to_string(&junit).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 4, "{xml}");
        for case in cases {
            let name = case.attribute("name").unwrap();
            assert!(name.ends_with(&format!("[{platform}]")), "{name}");
        }
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(reports.join(format!("report.{slug}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(json["platform"], platform);
        for r in json["results"].as_array().unwrap() {
            assert_eq!(r["platform"], platform, "{r}");
        }
        let tap = std::fs::read_to_string(reports.join(format!("report.{slug}.tap"))).unwrap();
        assert_eq!(
            tap.matches(&format!("platform: \"{platform}\"")).count(),
            4,
            "{tap}"
        );
    }

    for i in [&on_bookworm, &on_trixie] {
        p.run_as(i, &["down", "web"], &[]).expect(0);
        assert!(leftovers(i).is_empty(), "{:?}", leftovers(i));
    }
}

#[test]
fn a_spec_that_fails_on_one_platform_fails_the_matrix_naming_that_platform() {
    let p = Project::fixture("web");
    p.file(
        "specs/web/release.toml",
        "[[command]]\ntitle = \"runs on bookworm\"\nnode = \"client\"\nrun = \"grep -q VERSION_CODENAME=bookworm /etc/os-release\"\n",
    );
    let instance = p.instance.clone();
    let out = p.run(&["test", "web", "--platform", BOOKWORM, "--platform", TRIXIE]);
    assert_eq!(out.code, 1, "{}", out.output());
    let summary: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("  debian:"))
        .collect();
    assert!(
        summary
            .iter()
            .any(|l| l.contains(BOOKWORM) && l.contains("passed (exit 0)")),
        "{summary:?}"
    );
    assert!(
        summary
            .iter()
            .any(|l| l.contains(TRIXIE) && l.contains("specs failed (exit 1)")),
        "{summary:?}"
    );
    for slug in ["debian-bookworm", "debian-trixie"] {
        let i = format!("{instance}-{slug}");
        assert!(leftovers(&i).is_empty(), "{:?}", leftovers(&i));
    }
}

#[test]
fn bad_platforms_are_invalid_input_and_nothing_runs() {
    let p = Project::fixture("web");
    for (platforms, says) in [
        (
            &["debian:bookworm", "debian/bookworm"][..],
            "would share the instance",
        ),
        (&["bad image!"][..], "is not an image reference"),
    ] {
        let mut args = vec!["test", "web"];
        for pl in platforms {
            args.extend(["--platform", pl]);
        }
        let out = p.run(&args).expect(2);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
    let q = Project::empty();
    q.file(
        "environments/built.toml",
        "[nodes.x]\nbuild = \"img\"\ncommand = [\"sleep\", \"infinity\"]\n",
    );
    q.file("img/Dockerfile", "FROM debian:bookworm\n");
    let out = q.run(&["test", "built", "--platform", TRIXIE]).expect(2);
    assert!(
        out.stderr.contains("no node of environment `built`"),
        "{}",
        out.stderr
    );
    assert!(p.leftovers().is_empty() && q.leftovers().is_empty());
}

/// A role example of the repository, tested on bookworm and trixie in one run.
fn example_on_two_releases(env: &str, specs: &[&str]) {
    let instance = common::unique_instance(env);
    let reports = tempfile::tempdir().unwrap();
    let junit = reports.path().join("junit.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_envctl"))
        .arg("--root")
        .arg(common::repo())
        .args(["--instance", &instance, "test", env])
        .args(["--platform", BOOKWORM, "--platform", TRIXIE])
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for (platform, slug) in [(BOOKWORM, "debian-bookworm"), (TRIXIE, "debian-trixie")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("[{platform}] node `"))
                    && l.contains(": idempotent (")),
            "{stderr}"
        );
        for name in specs {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("[{platform}] test {name} "))
                        && l.ends_with("... ok")),
                "{name} did not pass on {platform}:\n{stdout}"
            );
        }
        let file = reports.path().join(format!("junit.{slug}.xml"));
        validates_as_junit(&file);
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .contains(&format!("[{platform}]")));
        let i = format!("{instance}-{slug}");
        assert!(leftovers(&i).is_empty(), "{:?}", leftovers(&i));
    }
}

#[test]
fn the_ansible_example_passes_on_bookworm_and_trixie_in_one_run() {
    example_on_two_releases(
        "web-ansible",
        &[
            "nginx::the_templated_home_page_is_served",
            "nginx::nginx_is_enabled_at_boot",
            "nginx::nginx_runs_under_systemd",
        ],
    );
}

#[test]
fn the_puppet_example_passes_on_bookworm_and_trixie_in_one_run() {
    example_on_two_releases(
        "cache-puppet",
        &[
            "redis::redis_answers_pong",
            "redis::redis_server_is_enabled_and_active_under_systemd",
        ],
    );
}
