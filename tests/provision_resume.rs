//! The edit loop on a real engine: provisioning resumes from the snapshot after the last
//! step that succeeded, an edit to an earlier input invalidates the later snapshots, and
//! `--no-cache` starts from nothing; a failed step's node is kept running as the step left
//! it, `envctl shell` enters it, and the printed `down` command removes it.

use crate::common;
use common::{Project, Run};

/// A five-step node whose first step records a value no later run can guess, and whose
/// fifth step is `fifth`. `marker` makes the steps (and so the snapshots' keys) this
/// test's own.
fn five_steps(p: &Project, fifth: &str) {
    let marker = &p.instance;
    p.file(
        "environments/box.toml",
        format!(
            r#"
[nodes.n]
image = "debian:bookworm"
command = "sleep infinity"
provision = [
  {{ name = "first", shell = "echo {marker} > /owner && cat /proc/sys/kernel/random/uuid | tee /first" }},
  {{ name = "copy", copy = "files/f.txt", to = "/f.txt" }},
  {{ name = "third", shell = "echo 3 >> /steps" }},
  {{ name = "fourth", shell = "echo 4 >> /steps" }},
  {{ name = "fifth", shell = "{fifth}" }},
]
"#
        ),
    );
}

/// The first UUID in `text`.
fn uuid(text: &str) -> String {
    let re =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    re.find(text)
        .unwrap_or_else(|| panic!("no uuid in:\n{text}"))
        .as_str()
        .to_string()
}

fn cat(p: &Project, path: &str) -> String {
    p.run(&["exec", "box", "n", "--", "cat", path])
        .expect(0)
        .stdout
        .trim()
        .to_string()
}

fn resumed_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.contains("reused from the cache, resuming at"))
        .collect()
}

#[test]
fn a_fixed_step_resumes_where_it_failed_and_an_earlier_edit_invalidates_the_later_snapshots() {
    let p = Project::empty();
    p.file("files/f.txt", "one\n");
    five_steps(&p, "echo fifth fails; cat /first; exit 1");
    let failed = p.run(&["up", "box"]).expect(3);
    assert!(failed.stderr.contains("fifth fails"), "{}", failed.stderr);
    let first = uuid(&failed.stderr);
    p.run(&["down", "box"]).expect(0);

    // The fix: only step 5 changes, so steps 1-4 come from their snapshots.
    five_steps(&p, "cat /first");
    let fixed = p.run(&["up", "box"]).expect(0);
    assert_eq!(
        resumed_lines(&fixed).len(),
        1,
        "progress says where it resumed:\n{}",
        fixed.stderr
    );
    assert!(
        fixed
            .stderr
            .contains("steps 1-4 reused from the cache, resuming at step 5 (fifth)"),
        "{}",
        fixed.stderr
    );
    // Step 1 did not run again: its value is the failed attempt's, and steps 3 and 4
    // ran once.
    assert_eq!(cat(&p, "/first"), first);
    assert_eq!(cat(&p, "/steps"), "3\n4");
    let log = p.run(&["logs", "box", "n", "--provision"]).expect(0);
    assert!(log.stdout.contains("resuming at step 5"), "{}", log.stdout);
    assert!(!log.stdout.contains("step 3 (third) ok"), "{}", log.stdout);
    p.run(&["down", "box"]).expect(0);

    // An edit to step 2's file: step 1's snapshot still holds, every later one is stale.
    p.file("files/f.txt", "two\n");
    let edited = p.run(&["up", "box"]).expect(0);
    assert!(
        edited
            .stderr
            .contains("step 1 reused from the cache, resuming at step 2 (copy)"),
        "{}",
        edited.stderr
    );
    assert_eq!(cat(&p, "/first"), first);
    assert_eq!(cat(&p, "/f.txt"), "two");
    assert_eq!(cat(&p, "/steps"), "3\n4");
    p.run(&["down", "box"]).expect(0);

    // --no-cache starts from the base image: step 1 runs again.
    let fresh = p.run(&["up", "box", "--no-cache"]).expect(0);
    assert!(resumed_lines(&fresh).is_empty(), "{}", fresh.stderr);
    assert_ne!(cat(&p, "/first"), first);
    p.run(&["down", "box"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());

    // The snapshots are cache images: listed, and removed by `image prune`.
    let listed = p.run(&["image", "list"]).expect(0);
    assert!(listed.stdout.contains("envctl-step:"), "{}", listed.stdout);
}

/// The command the failure printed for removing what it kept.
fn printed_down(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find(|l| l.contains("remove it with `"))
        .unwrap_or_else(|| panic!("no down command in:\n{stderr}"));
    let command = line.split('`').nth(1).unwrap();
    command.split(' ').map(str::to_string).collect()
}

/// Runs `line` (as printed, `envctl ...`) from the project's parent directory.
fn run_printed(line: &[String]) -> std::process::Output {
    assert_eq!(line[0], "envctl", "{line:?}");
    std::process::Command::new(env!("CARGO_BIN_EXE_envctl"))
        .args(&line[1..])
        .output()
        .unwrap()
}

/// Runs `envctl shell` under a pseudo-terminal (`script`), typing `keys`.
fn shell_in_a_tty(p: &Project, keys: &str) -> String {
    use std::io::Write;
    let line = format!(
        "{} --root {} --instance {} shell box n",
        env!("CARGO_BIN_EXE_envctl"),
        p.path().display(),
        p.instance
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(keys.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_failed_step_leaves_its_node_running_to_enter_and_the_printed_down_removes_it() {
    let p = Project::empty();
    p.file("files/f.txt", "one\n");
    five_steps(&p, "echo half-done > /half && exit 7");
    let failed = p.run(&["test", "box", "--keep"]).expect(3);
    assert!(
        failed
            .stderr
            .contains("kept node `n` running as its failed step left it"),
        "{}",
        failed.stderr
    );
    assert!(
        !failed.stderr.contains("nothing was kept"),
        "{}",
        failed.stderr
    );
    // What the failed step wrote is there; exec reaches the kept node too.
    assert_eq!(cat(&p, "/half"), "half-done");

    // A shell in a TTY: the typed commands run in the node.
    let typed = shell_in_a_tty(&p, "tty; cat /half; echo at-$((6*7)); exit 5\n");
    assert!(typed.contains("/dev/pts/"), "a terminal: {typed}");
    assert!(typed.contains("half-done"), "{typed}");
    assert!(typed.contains("at-42"), "{typed}");

    // `gc` keeps it: the user asked for it.
    p.run(&["gc"]).expect(0);
    assert_eq!(cat(&p, "/half"), "half-done");

    // The down command, exactly as printed, removes it (it names --root and --instance).
    let down = printed_down(&failed.stderr);
    assert!(down.contains(&"--root".to_string()), "{down:?}");
    assert!(down.contains(&"--instance".to_string()), "{down:?}");
    let out = run_printed(&down);
    assert!(out.status.success(), "{out:?}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_test_that_fails_before_any_step_says_that_nothing_was_kept() {
    let p = Project::empty();
    p.file(
        "environments/box.toml",
        r#"
[nodes.n]
image = "debian:bookworm"
command = "sleep infinity"
health = { command = "false", timeout = "2s" }
"#,
    );
    let failed = p.run(&["test", "box", "--keep"]).expect(3);
    assert!(
        failed.stderr.contains("nothing was kept"),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains("kept box/"), "{}", failed.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn without_keep_a_failed_test_leaves_nothing_and_up_keeps_the_node_until_the_next_up() {
    let p = Project::empty();
    p.file("files/f.txt", "one\n");
    five_steps(&p, "exit 7");
    p.run(&["test", "box"]).expect(3);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());

    // `up` keeps the failed node; the next `up` replaces it.
    p.run(&["up", "box"]).expect(3);
    assert!(!p.leftovers().is_empty());
    five_steps(&p, "true");
    p.run(&["up", "box"]).expect(0);
    let left = p.leftovers();
    assert!(
        !left.iter().any(|name| name.ends_with("-failed")),
        "{left:?}"
    );
    p.run(&["down", "box"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
