//! CI systems read more than a JUnit file: GitHub Actions annotations and the job
//! summary, GitLab's Code Quality report.

use crate::common;
use common::Project;

const FAILING: &str = r#"# line 1
[[http]]
title = "home page"
url = "http://web:8080/"
body = ["hello from web"]

[[http]]
title = "wrong status"
url = "http://web:8080/"
status = 503
"#;

#[test]
fn a_failing_spec_under_github_actions_is_annotated_at_its_line_and_summarised() {
    let p = Project::fixture("web");
    std::fs::remove_file(p.path().join("specs/web/web.toml")).unwrap();
    p.file("specs/web/mixed.toml", FAILING);
    let summary = p.path().join("summary.md");
    let run = p
        .run_env(
            &["test"],
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ],
        )
        .expect(1);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(
        errors[0].starts_with(
            "::error file=specs/web/mixed.toml,line=7,title=spec failed%3A mixed%3A%3Awrong_status::"
        ),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("expected: 503"), "{}", errors[0]);
    let md = std::fs::read_to_string(&summary).expect("the job summary is written");
    assert!(md.contains("1 passed, 1 failed, 2 total"), "{md}");
    assert!(
        md.contains("| mixed::wrong_status | web | specs/web/mixed.toml:7 |"),
        "{md}"
    );
    assert!(p.leftovers().is_empty());
}

#[test]
fn a_passing_run_writes_the_summary_and_no_error() {
    let p = Project::fixture("web");
    let summary = p.path().join("summary.md");
    let run = p
        .run_env(
            &["--annotations", "github", "test"],
            &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
        )
        .expect(0);
    assert!(!run.stdout.contains("::error"), "{}", run.stdout);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("passed") && md.contains(" 0 failed"), "{md}");
}

#[test]
fn an_invalid_definition_is_annotated_at_its_line_and_nothing_runs() {
    let p = Project::empty();
    p.file(
        "environments/web.toml",
        "[nodes.web]\nimage = \"debian:bookworm\"\n\nports = [\"x:80\"]\n",
    );
    let run = p
        .run_env(&["test", "web"], &[("GITHUB_ACTIONS", "true")])
        .expect(2);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.output());
    assert!(
        errors[0].starts_with("::error file=environments/web.toml,line=4,col="),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("title=invalid input%3A nodes.web.ports"),
        "{}",
        errors[0]
    );
    // Without GitHub Actions there is no workflow command.
    let plain = p
        .run_env(&["test", "web"], &[("GITHUB_ACTIONS", "")])
        .expect(2);
    assert!(!plain.output().contains("::error"), "{}", plain.output());
    assert!(p.leftovers().is_empty());
}

#[test]
fn validate_writes_a_code_quality_report_of_every_problem() {
    let p = Project::empty();
    p.file(
        "environments/web.toml",
        "[nodes.web]\nimage = \"debian:bookworm\"\n",
    );
    p.file(
        "specs/web/web.toml",
        "[[http]]\nurl = \"http://web:80/\"\n\n[[http]]\nurl = \"http://web:80/\"\nstatus = 700\n",
    );
    let report = p.path().join("gl-code-quality.json");
    p.run(&["validate", "--codequality", report.to_str().unwrap()])
        .expect(2);
    let issues: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let issues = issues.as_array().unwrap();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["location"]["path"], "specs/web/web.toml");
    assert_eq!(issues[0]["location"]["lines"]["begin"], 6);
    assert!(issues[0]["description"]
        .as_str()
        .unwrap()
        .contains("700 is not an HTTP status"));

    // Fixed: the report is an empty list, and validate passes.
    p.file("specs/web/web.toml", "[[http]]\nurl = \"http://web:80/\"\n");
    p.run(&["validate", "--codequality", report.to_str().unwrap()])
        .expect(0);
    assert_eq!(std::fs::read_to_string(&report).unwrap().trim(), "[]");
}
