//! The idempotence check: a second run of the steps must change nothing; what it changed
//! is named (files, and what the tools report), and `envctl test` exits 4.

use crate::common;
use common::Project;

const COUNTER: &str = r#"
[nodes.box]
image = "debian:bookworm"
command = "sleep infinity"
provision = [
  { copy = "files/motd", to = "/etc/motd.d/envctl", mode = "0644" },
  { shell = "date +%s%N >> /var/lib/counter" IDEMPOTENT },
]
"#;

fn counter_project(idempotent: &str) -> Project {
    let p = Project::empty();
    p.file(
        "environments/counter.toml",
        COUNTER.replace("IDEMPOTENT", idempotent),
    );
    p.file("files/motd", "welcome\n");
    p.file(
        "specs/counter/box.toml",
        "[[file]]\nnode = \"box\"\npath = \"/var/lib/counter\"\n",
    );
    p
}

#[test]
fn a_non_idempotent_shell_step_makes_test_exit_4_naming_the_file() {
    let p = counter_project("");
    let run = p.run(&["test", "counter"]).expect(4);
    let out = run.output();
    assert!(out.contains("node `box`"), "{out}");
    assert!(
        out.contains("file modified: /var/lib/counter (content)"),
        "{out}"
    );
    // The copy step re-uploads the same bytes: not a change.
    assert!(!out.contains("file modified: /etc/motd.d"), "{out}");
    assert!(!out.contains("file added: "), "{out}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn provision_check_idempotence_exits_4_and_keeps_the_second_run_log() {
    let p = counter_project("");
    let run = p
        .run(&["provision", "counter", "--check-idempotence"])
        .expect(4);
    assert!(run.stderr.contains("/var/lib/counter"), "{}", run.stderr);
    // Works from the cached image too: nothing is provisioned now, the check still runs.
    let again = p
        .run(&["provision", "counter", "--check-idempotence"])
        .expect(4);
    assert!(
        again.stderr.contains("provisioned image found in cache"),
        "{}",
        again.stderr
    );
    let log = p
        .run(&["logs", "counter", "box", "--idempotence"])
        .expect(0);
    assert!(log.stdout.contains("second run, step 2"), "{}", log.stdout);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_step_marked_not_idempotent_is_not_run_again() {
    let p = counter_project(", idempotent = false");
    let run = p.run(&["test", "counter"]).expect(0);
    assert!(
        run.stderr.contains("node `box`: idempotent"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("marked idempotent = false"),
        "{}",
        run.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn ansible_tasks_that_change_on_every_run_are_named() {
    let p = Project::empty();
    p.file(
        "environments/play.toml",
        r#"
[nodes.box]
image = "debian:bookworm"
command = "sleep infinity"
provision = [{ ansible = "ansible/site.yml" }]
"#,
    );
    p.file(
        "ansible/site.yml",
        r#"- hosts: box
  gather_facts: false
  tasks:
    - name: stamp the time
      ansible.builtin.shell: date +%s%N > /var/lib/stamp
    - name: a stable file
      ansible.builtin.copy:
        content: "stable\n"
        dest: /etc/stable
"#,
    );
    let run = p
        .run(&["provision", "play", "--check-idempotence"])
        .expect(4);
    let out = run.output();
    assert!(out.contains("task `stamp the time`"), "{out}");
    assert!(
        out.contains("file modified: /var/lib/stamp (content)"),
        "{out}"
    );
    assert!(!out.contains("a stable file"), "{out}");
    assert!(!out.contains("/etc/stable"), "{out}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn puppet_resources_that_change_on_every_run_are_named() {
    let p = Project::empty();
    p.file(
        "environments/pup.toml",
        r#"
[nodes.box]
image = "debian:bookworm"
command = "sleep infinity"
provision = [{ puppet = "puppet/site.pp" }]
"#,
    );
    p.file(
        "puppet/site.pp",
        "file { '/etc/stable.conf': ensure => file, content => \"stable\\n\" }\n\
         exec { 'stamp': command => '/bin/sh -c \"date +%s%N > /var/lib/stamp\"' }\n",
    );
    let run = p
        .run(&["provision", "pup", "--check-idempotence"])
        .expect(4);
    let out = run.output();
    assert!(
        out.contains("Main/Exec[stamp]/returns: executed successfully"),
        "{out}"
    );
    assert!(
        out.contains("file modified: /var/lib/stamp (content)"),
        "{out}"
    );
    assert!(!out.contains("/etc/stable.conf"), "{out}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_passed_check_is_reused_for_the_same_cached_image_until_no_cache() {
    let p = Project::empty();
    p.file(
        "environments/calm.toml",
        r#"
[nodes.box]
image = "debian:bookworm"
command = "sleep infinity"
provision = [{ shell = "mkdir -p /srv/calm && echo calm > /srv/calm/state" }]
"#,
    );
    p.file(
        "specs/calm/box.toml",
        "[[file]]\nnode = \"box\"\npath = \"/srv/calm/state\"\ncontains = [\"calm\"]\n",
    );
    let first = p.run(&["test", "calm"]).expect(0);
    assert!(
        first.stderr.contains("the second run changed nothing"),
        "{}",
        first.stderr
    );
    let again = p.run(&["test", "calm"]).expect(0);
    assert!(
        again
            .stderr
            .contains("checked before on this provisioned image"),
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains("second run:"), "{}", again.stderr);
    let forced = p.run(&["test", "calm", "--no-cache"]).expect(0);
    assert!(
        forced.stderr.contains("the second run changed nothing"),
        "{}",
        forced.stderr
    );
    // A changed step is a new provisioned image: its check runs again.
    p.file(
        "environments/calm.toml",
        std::fs::read_to_string(p.path().join("environments/calm.toml"))
            .unwrap()
            .replace("echo calm >", "echo calm again >"),
    );
    let changed = p.run(&["test", "calm"]).expect(0);
    assert!(
        changed.stderr.contains("the second run changed nothing"),
        "{}",
        changed.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn removed_files_and_changed_modes_are_named_against_the_provisioned_image() {
    let p = Project::empty();
    p.file(
        "environments/flip.toml",
        r#"
[nodes.box]
image = "debian:bookworm"
command = "sleep infinity"
provision = [{ shell = "if [ -e /srv/flag ]; then rm /srv/flag; chmod 600 /etc/motd; else touch /srv/flag; fi" }]
"#,
    );
    let out = p
        .run(&["provision", "flip", "--check-idempotence"])
        .expect(4)
        .stderr;
    assert!(out.contains("file removed:  /srv/flag"), "{out}");
    assert!(
        out.contains("file modified: /etc/motd (mode 644 -> 600)"),
        "{out}"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
