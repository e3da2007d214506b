//! Property-based fuzzing of the parsers users feed: environment definitions, spec
//! files, durations, ports and patterns. Whatever the input, parsing returns a value or
//! diagnostics pointing inside the file; it never panics. More cases:
//! `PROPTEST_CASES=20000 cargo test --release --test suite fuzz_parsers::` (see
//! docs/reliability.md for recorded runs).

use envctl::model::assertion::pattern::Pattern;
use envctl::model::duration::HumanDuration;
use envctl::model::port::PortMapping;
use envctl::model::{environment, spec, ModelError};
use proptest::prelude::*;
use std::path::Path;

const ENV: &str = include_str!("fixtures/web/environments/web.toml");
const SPEC: &str = include_str!("fixtures/web/specs/web/web.toml");
const DEMO: &str = include_str!("../environments/demo.toml");

/// Every diagnostic names the file and a line that exists in it.
fn well_formed(err: &ModelError, text_lines: usize) -> Result<(), TestCaseError> {
    let diagnostics = err.diagnostics();
    for d in &diagnostics {
        prop_assert!(
            d.line >= 1 && d.line <= text_lines + 1,
            "line {} of {}",
            d.line,
            text_lines
        );
        prop_assert!(d.column >= 1);
        prop_assert!(!d.file.as_os_str().is_empty());
        prop_assert!(!d.message.is_empty());
    }
    // Errors that are not diagnostics must still say something.
    prop_assert!(!err.to_string().trim().is_empty());
    Ok(())
}

/// A project with `environments/e.toml` holding `bytes` (and the fixture's files so
/// valid steps resolve).
fn project(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("environments")).unwrap();
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/server.pl"), "print 1;\n").unwrap();
    std::fs::write(dir.path().join("environments/e.toml"), bytes).unwrap();
    dir
}

fn check_env(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = project(bytes);
    let lines = bytes.split(|b| *b == b'\n').count();
    if let Err(e) = environment::load(dir.path(), "e") {
        well_formed(&e, lines)?;
    }
    Ok(())
}

fn check_spec(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = project(ENV.as_bytes());
    let env = environment::load(dir.path(), "e").expect("fixture is valid");
    let specs = dir.path().join("specs/e");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(specs.join("s.toml"), bytes).unwrap();
    let lines = bytes.split(|b| *b == b'\n').count();
    if let Err(e) = spec::load(dir.path(), &env) {
        well_formed(&e, lines)?;
    }
    Ok(())
}

/// One edit of a text: replace, insert or delete a span, with TOML-ish material.
fn mutated(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let material = prop_oneof![
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("=".to_string()),
        Just(",".to_string()),
        Just("\n".to_string()),
        Just("..".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("\u{0}".to_string()),
        Just("é".to_string()),
        "[a-z_]{1,8}",
        "[0-9]{1,6}[a-z]{0,2}",
        any::<String>(),
    ];
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0usize..8, material), 1..6);
    edits.prop_map(move |edits| {
        let mut text = base.as_bytes().to_vec();
        for (at, len, with) in edits {
            let start = at.index(text.len() + 1);
            let end = (start + len).min(text.len());
            text.splice(start..end, with.into_bytes());
        }
        text
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_as_an_environment_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_env(&bytes)?;
    }

    #[test]
    fn arbitrary_text_as_an_environment_never_panics(text in "\\PC{0,512}") {
        check_env(text.as_bytes())?;
    }

    #[test]
    fn edited_fixture_environments_never_panic(bytes in mutated(ENV)) {
        check_env(&bytes)?;
    }

    #[test]
    fn edited_demo_environments_never_panic(bytes in mutated(DEMO)) {
        check_env(&bytes)?;
    }

    #[test]
    fn edited_specs_never_panic(bytes in mutated(SPEC)) {
        check_spec(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_as_a_spec_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_spec(&bytes)?;
    }

    #[test]
    fn node_fields_with_any_values_never_panic(
        key in prop::sample::select(vec!["image", "build", "command", "env", "ports", "depends_on", "replicas", "health", "provision"]),
        value in prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            "\\PC{0,40}".prop_map(|s| format!("{s:?}")),
            "\\PC{0,20}".prop_map(|s| format!("[{s:?}]")),
            "[a-z]{1,5}".prop_map(|k| format!("{{ {k} = 1 }}")),
            Just("true".to_string()),
        ],
    ) {
        let text = format!("[nodes.web]\nimage = \"debian:bookworm\"\n[nodes.x]\n{key} = {value}\n");
        check_env(text.as_bytes())?;
    }

    #[test]
    fn durations_parse_or_explain(text in "\\PC{0,24}|[0-9.]{1,12}(ms|s|m|h|d|)|[0-9]{300,400}(ms|s|h)") {
        match HumanDuration::parse(&text) {
            Ok(d) => prop_assert!(d.0.as_secs() <= 24 * 3600),
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    #[test]
    fn ports_parse_or_explain(text in "\\PC{0,16}|[0-9]{0,6}(:[0-9]{0,6})?(/(tcp|udp|x))?") {
        if let Err(why) = PortMapping::parse(&text) {
            prop_assert!(!why.is_empty());
        }
    }

    #[test]
    fn patterns_parse_or_explain(text in "!?/?\\PC{0,24}/?[a-z]{0,2}") {
        if let Err(why) = Pattern::parse(&text) {
            prop_assert!(!why.is_empty());
        }
    }
}

#[test]
fn the_fuzzed_fixtures_are_valid_to_begin_with() {
    let dir = project(ENV.as_bytes());
    environment::load(dir.path(), "e").expect("web fixture");
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("environments/demo.toml")
        .is_file());
    check_spec(SPEC.as_bytes()).unwrap();
}

// Growth: each parser of untrusted input is linear in its input. A case runs at size n
// and 8n; the larger must cost at most 32 times the smaller (linear is about 8, quadratic
// 64). Times are compared with each other, never with a fixed budget, and each is the
// fastest of five runs so a busy machine does not decide the outcome (at 24 times and
// three runs, a machine busy with two engine suites did once).

fn fastest(run: &dyn Fn()) -> std::time::Duration {
    (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .expect("five runs")
}

fn assert_linear(what: &str, small: usize, run: impl Fn(usize)) {
    let t1 = fastest(&|| run(small));
    let t8 = fastest(&|| run(small * 8));
    // Below a few milliseconds, timer and scheduler noise dominate the small run.
    let floor = std::time::Duration::from_millis(5);
    let ratio = t8.as_secs_f64() / t1.max(floor).as_secs_f64();
    assert!(
        ratio < 32.0,
        "{what}: 8x the input took {ratio:.1}x the time ({t1:?} -> {t8:?}); growth is not linear"
    );
}

#[test]
fn inventory_ranges_grow_linearly() {
    assert_linear("inventory hosts", 4, |lines| {
        let text: String = (0..lines)
            .map(|i| format!("[g{i}]\nh{i}-[0:999].example.com role=x\n"))
            .collect();
        let inv = envctl::model::inventory::parse(&text, false).unwrap();
        assert_eq!(inv.hosts.len(), lines * 1000);
    });
}

#[test]
fn command_output_is_split_in_linear_time() {
    use envctl::check::batch::Parser;
    assert_linear("many short lines", 100_000, |lines| {
        let mut out = b"@@n 0\n".to_vec();
        for i in 0..lines {
            out.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        out.extend_from_slice(b"@@n 0 err\n\n@@n 0 end 0\n");
        let mut parser = Parser::new("n");
        let done: usize = out.chunks(64 * 1024).map(|c| parser.feed(c).len()).sum();
        assert_eq!(done, 1);
    });
    assert_linear("one long line", 1 << 20, |bytes| {
        let mut parser = Parser::new("n");
        parser.feed(b"@@n 0\n");
        let line = vec![b'x'; 32 * 1024];
        for _ in 0..bytes / line.len() {
            assert!(parser.feed(&line).is_empty());
        }
        let done = parser.feed(b"\n@@n 0 err\n\n@@n 0 end 0\n");
        assert_eq!(done[0].1.stdout.len(), bytes - bytes % line.len());
    });
}

#[test]
fn changed_tasks_and_resources_are_found_in_linear_time() {
    use envctl::provision::{ansible, puppet};
    assert_linear("ansible changed tasks", 20_000, |n| {
        let text: String = (0..n)
            .map(|i| format!("TASK [t{i}] ***\nchanged: [web]\n"))
            .collect();
        assert_eq!(ansible::changed_tasks(&text).len(), n);
    });
    assert_linear("puppet changed resources", 20_000, |n| {
        let text: String = (0..n)
            .map(|i| format!("Notice: /Stage[main]/File[/f{i}]/ensure: created\n"))
            .collect();
        assert_eq!(puppet::changed_resources(&text).len(), n);
    });
}

/// A project whose environment has node `web`, with `specs/e/web.goss.yaml` holding `goss`.
fn goss_project(goss: &str) -> tempfile::TempDir {
    let dir = project(b"[nodes.web]\nimage = \"x\"\n");
    std::fs::create_dir_all(dir.path().join("specs/e")).unwrap();
    std::fs::write(dir.path().join("specs/e/web.goss.yaml"), goss).unwrap();
    dir
}

#[test]
fn goss_resources_grow_linearly_with_their_count() {
    assert_linear("goss resources", 1_000, |n| {
        let mut text = String::from("file:\n");
        for i in 0..n {
            text.push_str(&format!("  /etc/f{i}:\n    exists: true\n"));
        }
        let dir = goss_project(&text);
        let env = environment::load(dir.path(), "e").unwrap();
        assert_eq!(spec::load(dir.path(), &env).unwrap().len(), n);
    });
}

#[test]
fn goss_include_globs_grow_linearly_with_the_pattern() {
    assert_linear("goss include glob", 16, |stars| {
        let pattern = format!("{}b.yaml", "*a".repeat(stars));
        let dir = goss_project(&format!("gossfile:\n  \"{pattern}\": {{}}\n"));
        let name = format!("{}c.yaml", "a".repeat(200));
        std::fs::write(dir.path().join("specs/e").join(name), "file: {}\n").unwrap();
        let env = environment::load(dir.path(), "e").unwrap();
        let err = spec::load(dir.path(), &env).unwrap_err();
        assert!(err.to_string().contains("matches no file"), "{err}");
    });
}
