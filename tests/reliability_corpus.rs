//! The malformed-input corpus (`tests/corpus/`): every case is a small project whose
//! definitions or specs are wrong in one way, with `expect.toml` giving the position
//! (`at = "FILE:LINE"`) and the field that the error must name. Each must exit 2 with
//! that diagnostic, never panic, and create nothing (no engine object, no local state).

use crate::common;

use common::Project;
use std::path::{Path, PathBuf};

struct Case {
    name: String,
    dir: PathBuf,
    at: String,
    field: Option<String>,
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<Case> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|dir| {
            let expect: toml::Table =
                toml::from_str(&std::fs::read_to_string(dir.join("expect.toml")).unwrap()).unwrap();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                at: expect["at"].as_str().unwrap().to_string(),
                field: expect
                    .get("field")
                    .and_then(|f| f.as_str())
                    .map(str::to_string),
                dir,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

fn copy_case(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_case(&entry.path(), &target);
        } else if entry.file_name() != "expect.toml" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Checks one run against the expected diagnostic; returns what is wrong.
fn judge(case: &str, verb: &str, run: &common::Run, at: &str, field: Option<&str>) -> Vec<String> {
    let mut wrong = Vec::new();
    let text = run.output();
    if run.code != 2 {
        wrong.push(format!(
            "{case} ({verb}): exit {} (want 2)\n{text}",
            run.code
        ));
    }
    if text.contains("panicked") {
        wrong.push(format!("{case} ({verb}): panicked\n{text}"));
    }
    let pattern = match field {
        Some(f) => format!(r"(?m)^{}:\d+: `{}`: ", regex::escape(at), regex::escape(f)),
        None => format!(r"(?m)^{}:\d+: ", regex::escape(at)),
    };
    if !regex::Regex::new(&pattern).unwrap().is_match(&text) {
        wrong.push(format!(
            "{case} ({verb}): no diagnostic at {at} naming {field:?}\n{text}"
        ));
    }
    wrong
}

#[test]
fn the_corpus_has_at_least_100_cases() {
    let n = cases().len();
    assert!(n >= 100, "only {n} cases in tests/corpus");
}

#[test]
fn every_malformed_case_exits_2_naming_file_line_and_field_and_creates_nothing() {
    let mut wrong = Vec::new();
    for case in cases() {
        let p = Project::empty();
        copy_case(&case.dir, p.path());
        // `up` stops at definitions; `test` reads the specs too.
        let verbs: &[&str] = if case.dir.join("specs").is_dir() {
            &["validate", "test"]
        } else {
            &["validate", "up"]
        };
        for verb in verbs {
            let run = p.run(&[verb, "e"]);
            wrong.extend(judge(
                &case.name,
                verb,
                &run,
                &case.at,
                case.field.as_deref(),
            ));
        }
        if p.path().join(".envctl").exists() {
            wrong.push(format!("{}: wrote local state (.envctl)", case.name));
        }
        if !p.leftovers().is_empty() {
            wrong.push(format!("{}: created {:?}", case.name, p.leftovers()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// Cases too large to keep in the repository are generated here.
#[test]
fn huge_and_deeply_nested_files_exit_2_without_crashing() {
    let head = "[nodes.web]\nimage = \"debian:bookworm\"\n";
    let padding = format!("# {}\n", "x".repeat(97));
    let generated: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        (
            "over the size limit",
            format!("{head}{}", padding.repeat(90_000)).into_bytes(),
            "environments/e.toml:1",
            None,
        ),
        (
            "large, with the error on its last line",
            format!("{head}{}replicas = \"x\"\n", padding.repeat(60_000)).into_bytes(),
            "environments/e.toml:60003",
            Some("nodes.web.replicas"),
        ),
        (
            "arrays nested 100000 deep",
            format!(
                "{head}command = {}{}\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
            .into_bytes(),
            "environments/e.toml:3",
            Some("nodes.web.command"),
        ),
        (
            "inline tables nested 100000 deep",
            format!(
                "{head}env = {}{}\n",
                "{ a = ".repeat(100_000),
                "}".repeat(100_000)
            )
            .into_bytes(),
            "environments/e.toml:3",
            None,
        ),
        (
            "twenty thousand nodes",
            "[nodes]\n"
                .bytes()
                .chain((0..20_000).flat_map(|i| {
                    format!("n{i:05} = {{ image = \"debian:bookworm\" }}\n").into_bytes()
                }))
                .collect(),
            "environments/e.toml:202",
            Some("nodes.n00200"),
        ),
    ];
    let mut wrong = Vec::new();
    for (case, bytes, at, field) in generated {
        let p = Project::empty();
        p.file("environments/e.toml", &bytes);
        for verb in ["validate", "up"] {
            wrong.extend(judge(case, verb, &p.run(&[verb, "e"]), at, field));
        }
        if !p.leftovers().is_empty() {
            wrong.push(format!("{case}: created {:?}", p.leftovers()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
