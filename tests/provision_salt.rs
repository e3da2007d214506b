//! Salt steps in both directions, with the real salt-call: a failing state is a
//! provisioning failure (exit 3) naming the state, a state that changes something on
//! every run fails the idempotence check (exit 4) naming it, and a step that cannot be
//! run is invalid input (exit 2, nothing created). The passing direction is the
//! salt-nginx example (tests/provision_examples.rs).

use crate::common;
use common::Project;

/// A project with a Salt state tree: `ok` (a managed file), `broken` (a command that
/// fails) and `drift` (a command that changes a file on every run).
fn project() -> Project {
    let p = Project::empty();
    p.file("salt/states/top.sls", "base:\n  '*':\n    - ok\n");
    p.file(
        "salt/states/ok.sls",
        "salt-managed-file:\n  file.managed:\n    - name: /etc/salt-managed\n    - contents: managed by salt\n",
    );
    p.file(
        "salt/states/broken.sls",
        "salt-managed-file:\n  file.managed:\n    - name: /etc/salt-managed\n    - contents: managed by salt\n\nbreaks-on-purpose:\n  cmd.run:\n    - name: echo salt-state-output; exit 3\n",
    );
    p.file(
        "salt/states/drift.sls",
        "stamp-every-run:\n  cmd.run:\n    - name: date +%s%N > /etc/salt-stamp\n",
    );
    for (env, state) in [("broken", "broken"), ("drift", "drift")] {
        p.file(
            &format!("environments/{env}.toml"),
            format!(
                "[nodes.minion]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\nprovision = [{{ salt = \"salt/states\", state = \"{state}\" }}]\n"
            ),
        );
    }
    p
}

#[test]
fn a_failing_state_exits_3_naming_it_and_leaves_nothing() {
    let p = project();
    let run = p.run(&["test", "broken"]).expect(3);
    let text = run.output();
    assert!(text.contains("breaks-on-purpose"), "{text}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_state_that_changes_on_every_run_fails_the_idempotence_check_with_exit_4() {
    let p = project();
    let run = p.run(&["test", "drift"]).expect(4);
    let text = run.output();
    assert!(text.contains("stamp-every-run"), "{text}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn salt_steps_that_cannot_run_are_invalid_input_naming_line_and_field() {
    let p = project();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), p.path().join("salt/linked")).unwrap();
    for (step, field_or_words) in [
        ("{ salt = \"salt/missing\" }", "salt/missing"),
        ("{ salt = \"../elsewhere\" }", "outside the project"),
        ("{ salt = \"salt/linked\" }", "outside the project"),
        (
            "{ salt = \"salt/states\", pillar = \"salt/no-pillar\" }",
            "salt/no-pillar",
        ),
        ("{ pillar = \"salt/states\" }", "exactly one"),
        (
            "{ salt = \"salt/states\", state = \"ok;rm -rf /\" }",
            "state",
        ),
        (
            "{ salt = \"salt/states\", shell = \"true\" }",
            "exactly one",
        ),
    ] {
        p.file(
            "environments/bad.toml",
            format!("[nodes.minion]\nimage = \"debian:bookworm\"\nprovision = [\n  {step},\n]\n"),
        );
        let run = p.run(&["validate", "bad"]).expect(2);
        assert!(
            run.stderr.contains("environments/bad.toml:4:") && run.stderr.contains(field_or_words),
            "{step}:\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&outside.path().display().to_string()),
            "{}",
            run.stderr
        );
        // `up` refuses it the same way, before the engine sees anything.
        p.run(&["up", "bad"]).expect(2);
    }
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
