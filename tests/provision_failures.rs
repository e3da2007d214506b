//! Provisioning failures name the node and the step, show the tail of the tool's output,
//! keep the full output for `envctl logs --provision`, exit 3 and leave nothing behind.

use crate::common;
use common::Project;

#[test]
fn a_failing_ansible_task_names_node_step_and_output_and_exits_3() {
    let p = Project::empty();
    p.file(
        "environments/play.toml",
        r#"
[nodes.box]
image = "debian:bookworm"
command = "sleep infinity"
provision = [
  { shell = "echo first step" },
  { ansible = "ansible/site.yml", name = "site playbook" },
]
"#,
    );
    p.file(
        "ansible/site.yml",
        "- hosts: box\n  gather_facts: false\n  tasks:\n    - name: refuse\n      ansible.builtin.fail:\n        msg: the deliberate failure\n",
    );
    let run = p.run(&["up", "play"]).expect(3);
    let err = run.stderr.clone();
    assert!(
        err.contains("provisioning node `box` failed at step 2 (site playbook)"),
        "{err}"
    );
    assert!(err.contains("the deliberate failure"), "{err}");
    let log = p.run(&["logs", "play", "box", "--provision"]).expect(0);
    assert!(log.stdout.contains("TASK [refuse]"), "{}", log.stdout);
    p.assert_only_the_failed_node_is_kept(&run, "play", "box");
}

#[test]
fn a_missing_playbook_is_invalid_input() {
    let p = Project::empty();
    p.file(
        "environments/play.toml",
        "[nodes.box]\nimage = \"debian:bookworm\"\nprovision = [{ ansible = \"nope.yml\" }]\n",
    );
    let run = p.run(&["validate", "play"]).expect(2);
    assert!(
        run.stderr.contains("environments/play.toml:3:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`nope.yml` does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn systemd_nodes_cannot_also_set_a_command() {
    let p = Project::empty();
    p.file(
        "environments/s.toml",
        "[nodes.box]\nimage = \"debian:bookworm\"\ninit = \"systemd\"\ncommand = \"sleep 1\"\n",
    );
    let run = p.run(&["validate", "s"]).expect(2);
    assert!(run.stderr.contains("`command`"), "{}", run.stderr);
    assert!(run.stderr.contains("systemd"), "{}", run.stderr);
}

/// A Debian image whose package manager is gone: nothing can be added to it.
fn project_without_apt(env: &str) -> Project {
    let p = Project::empty();
    p.file(
        "images/noapt/Dockerfile",
        "FROM debian:bookworm\nRUN rm -f /usr/bin/apt-get /usr/bin/python3\n",
    );
    p.file("environments/bare.toml", env);
    p.file(
        "ansible/site.yml",
        "- hosts: box\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n",
    );
    p
}

#[test]
fn systemd_on_an_image_without_systemd_or_apt_is_a_clear_error() {
    let p = project_without_apt("[nodes.box]\nbuild = \"images/noapt\"\ninit = \"systemd\"\n");
    let run = p.run(&["up", "bare"]).expect(3);
    assert!(
        run.stderr.contains("no systemd and no apt-get"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("node `box`"), "{}", run.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn ansible_on_a_node_without_python3_or_apt_is_a_clear_error() {
    let p = project_without_apt(
        "[nodes.box]\nbuild = \"images/noapt\"\ncommand = \"sleep infinity\"\nprovision = [{ ansible = \"ansible/site.yml\" }]\n",
    );
    let run = p.run(&["up", "bare"]).expect(3);
    assert!(run.stderr.contains("node `box`"), "{}", run.stderr);
    assert!(run.stderr.contains("has no python3"), "{}", run.stderr);
    p.assert_only_the_failed_node_is_kept(&run, "bare", "box");
}
