//! Reports checked by their real consumers: JUnit against the published Jenkins schema
//! (xmllint), JSON against docs/report.schema.json (python jsonschema), TAP through
//! Perl's TAP::Parser, HTML rendered by headless Chromium and looked at, and evidence.

use crate::common;
use common::{repo, Project};
use std::path::Path;
use std::process::Command;

const MIXED: &str = r#"
[[http]]
title = "home page"
url = "http://web:8080/"
body = ["hello from web"]

[[http]]
title = "wrong <status> & more"
url = "http://web:8080/"
status = 503

[[file]]
title = "marker"
node = "web"
path = "/srv/www/marker.txt"
"#;

/// Runs `verify` on the web fixture with one failing assertion, writing every report.
fn reports() -> (Project, std::path::PathBuf) {
    let p = Project::fixture("web");
    std::fs::remove_file(p.path().join("specs/web/web.toml")).unwrap();
    p.file("specs/web/mixed.toml", MIXED);
    // A repository, so evidence names the commit.
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=envctl",
                "-c",
                "user.email=envctl@localhost",
            ])
            .arg("-C")
            .arg(p.path())
            .args(args)
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        String::from_utf8_lossy(&status.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "fixture"]);
    let head = git(&["rev-parse", "HEAD"]);
    std::fs::write(p.path().join("HEAD.txt"), &head).unwrap();
    let out = p.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let arg = |name: &str| out.join(name).to_string_lossy().into_owned();
    let (junit, json, tap, html, evidence) = (
        arg("junit.xml"),
        arg("report.json"),
        arg("report.tap"),
        arg("report.html"),
        arg("evidence.json"),
    );
    p.run(&[
        "test",
        "--junit",
        &junit,
        "--json",
        &json,
        "--tap",
        &tap,
        "--html",
        &html,
        "--evidence",
        &evidence,
    ])
    .expect(1);
    assert!(p.leftovers().is_empty());
    (p, out)
}

#[test]
fn every_report_is_accepted_by_its_consumer() {
    let (p, out) = reports();

    // JUnit: every test case has `file` and `line` (as pytest writes them and GitLab
    // reads them); the Jenkins schema has no such attributes, so the report is valid
    // against that schema with exactly those two attributes added to `testcase`, and,
    // with them removed, against the schema as published.
    let xml = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 3);
    for case in &cases {
        assert_eq!(
            case.attribute("file"),
            Some("specs/web/mixed.toml"),
            "{xml}"
        );
    }
    let lines: Vec<_> = cases.iter().map(|c| c.attribute("line")).collect();
    assert_eq!(lines, [Some("2"), Some("7"), Some("12")], "{xml}");
    let extended = common::junit_schema_with_file_line(&out);
    let stripped = regex::Regex::new(r#" (file|line)="[^"]*""#)
        .unwrap()
        .replace_all(&xml, "");
    assert!(!stripped.contains("line=\""));
    std::fs::write(out.join("junit-stripped.xml"), stripped.as_bytes()).unwrap();
    for (xsd, report) in [
        (extended, out.join("junit.xml")),
        (
            repo().join("tests/fixtures/junit-10.xsd"),
            out.join("junit-stripped.xml"),
        ),
    ] {
        let lint = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(&report)
            .output()
            .expect("xmllint (libxml2-utils) is installed by ./dev test");
        assert!(
            lint.status.success(),
            "{}",
            String::from_utf8_lossy(&lint.stderr)
        );
    }
    // The published schema alone refuses the attributes: the check above is real.
    let strict = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(repo().join("tests/fixtures/junit-10.xsd"))
        .arg(out.join("junit.xml"))
        .output()
        .unwrap();
    assert!(!strict.status.success());
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    let text = failure.text().unwrap_or_default();
    assert!(
        text.contains("expected: 503") && text.contains("actual: 200"),
        "{text}"
    );
    assert!(doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .all(|n| n.attribute("time").is_some()));

    // JSON: valid against the documented schema.
    let check = Command::new("python3")
        .arg("-c")
        .arg("import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1]))); print('valid')")
        .arg(repo().join("docs/report.schema.json"))
        .arg(out.join("report.json"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["summary"]["failed"], 1);
    let lines: Vec<_> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["file"].clone(), r["line"].clone()))
        .collect();
    assert!(lines.iter().all(|(f, _)| f == "specs/web/mixed.toml"));
    assert_eq!(
        lines.iter().map(|(_, l)| l.as_u64()).collect::<Vec<_>>(),
        [Some(2), Some(7), Some(12)]
    );

    // TAP: Perl's own parser agrees on the counts.
    let tap = Command::new("perl")
        .args([
            "-MTAP::Parser",
            "-e",
            "my $p = TAP::Parser->new({source => $ARGV[0]}); while (my $r = $p->next) {} \
             printf \"%d %d %d %s\\n\", $p->tests_run, scalar($p->passed), scalar($p->failed), $p->parse_errors ? 'errors' : 'clean';",
        ])
        .arg(out.join("report.tap"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tap.stdout).trim(), "3 2 1 clean");

    // Evidence: hashes of what was verified, the image, the result.
    let evidence: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evidence.json")).unwrap()).unwrap();
    assert_eq!(evidence["passed"], false);
    let head = std::fs::read_to_string(p.path().join("HEAD.txt")).unwrap();
    assert_eq!(evidence["git"]["commit"], head.as_str());
    assert_eq!(evidence["summary"]["passed"], 2);
    let env_file = &evidence["definitions"][0];
    assert_eq!(env_file["path"], "environments/web.toml");
    assert_eq!(
        env_file["sha256"],
        sha256(&p.path().join("environments/web.toml"))
    );
    assert!(evidence["specs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["path"] == "specs/web/mixed.toml"
            && s["sha256"] == sha256(&p.path().join("specs/web/mixed.toml"))));
    assert!(evidence["images"]["web"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let phases: Vec<&str> = evidence["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["node"] == "web")
        .filter_map(|s| s["phase"].as_str())
        .collect();
    assert!(
        phases.contains(&"start") && phases.contains(&"verify"),
        "{phases:?}"
    );
}

#[test]
fn the_html_report_renders_in_chromium_with_pass_and_fail_colours() {
    let (_p, out) = reports();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("wrong &lt;status&gt; &amp; more"),
        "text is escaped"
    );
    assert!(
        !html.contains("<script") && !html.contains(" src=") && !html.contains("<link"),
        "the page is self-contained"
    );
    let profile = tempfile::tempdir().unwrap();
    let shot = out.join("shot.png");
    let status = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .expect("chromium is installed by ./dev test");
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&status.stderr));

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let near = |p: &[u8; 3], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 8);
    let count = |c: [u8; 3]| pixels.iter().filter(|p| near(p, c)).count();
    let green = count([0x2e, 0x7d, 0x32]);
    let red = count([0xc6, 0x28, 0x28]);
    let white = count([0xff, 0xff, 0xff]);
    // The summary boxes alone are thousands of pixels each; a blank page has none.
    assert!(green > 2000, "pass colour: {green} pixels");
    assert!(red > 2000, "fail colour: {red} pixels");
    assert!(white < pixels.len() * 98 / 100, "the page is blank");
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(std::fs::read(path).unwrap()))
}
