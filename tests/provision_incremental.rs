//! `--incremental` on a real engine: an edited step runs on top of the node's previous
//! provisioning (what the old version of the step left stays), progress says so, the
//! idempotence check and the specs run on that image, the same run again reuses it, and
//! a run without the flag never takes it: it builds from the base (resuming from the
//! normal snapshots) as before.

use crate::common;
use common::Project;

/// A two-step node; the second step is `second`. The first step writes, once, a value
/// no later run can guess, so a rebuild of it would show.
fn two_steps(p: &Project, second: &str) {
    let marker = &p.instance;
    p.file(
        "environments/box.toml",
        format!(
            r#"
[nodes.n]
image = "debian:bookworm"
command = "sleep infinity"
provision = [
  {{ name = "first", shell = "echo {marker} > /owner && (test -f /first || cat /proc/sys/kernel/random/uuid > /first)" }},
  {{ name = "second", shell = "{second}" }},
]
"#
        ),
    );
}

/// `cat PATH` on the running node, or `absent`.
fn cat(p: &Project, path: &str) -> String {
    p.run(&[
        "exec",
        "box",
        "n",
        "--",
        "sh",
        "-c",
        &format!("cat {path} 2>/dev/null || echo absent"),
    ])
    .expect(0)
    .stdout
    .trim()
    .to_string()
}

const ON_TOP: &str =
    "step 1 unchanged, running step 2 (second) and after on top of the node's previous provisioning";

#[test]
fn an_edited_step_runs_on_the_previous_provisioning_and_a_normal_run_never_takes_it() {
    let p = Project::empty();
    two_steps(&p, "echo v1 > /v1");
    // Nothing before: the first incremental run is a build from the base.
    let first = p.run(&["up", "box", "--incremental"]).expect(0);
    assert!(
        !first.stderr.contains("previous provisioning"),
        "{}",
        first.stderr
    );
    let uuid = cat(&p, "/first");
    assert_eq!(cat(&p, "/v1"), "v1");
    p.run(&["down", "box"]).expect(0);

    // The edit: step 2 changes. It runs on the image step 2's old version made, so
    // /v1 stays and step 1 is not run again; the check and the specs see that image.
    two_steps(&p, "echo v2 > /v2");
    p.file(
        "specs/box/n.toml",
        "[[file]]\nnode = \"n\"\npath = \"/v2\"\ncontains = [\"v2\"]\n",
    );
    let tested = p.run(&["test", "box", "--incremental"]).expect(0);
    assert!(tested.stderr.contains(ON_TOP), "{}", tested.stderr);
    assert!(
        tested.stderr.contains("the second run changed nothing"),
        "{}",
        tested.stderr
    );
    assert!(tested.stdout.contains("1 passed"), "{}", tested.stdout);

    // The same run again: the incremental image is reused, nothing runs.
    let again = p.run(&["up", "box", "--incremental"]).expect(0);
    assert!(
        !again.stderr.contains("provisioning 2/2"),
        "{}",
        again.stderr
    );
    assert_eq!(cat(&p, "/v1"), "v1", "the old step's file stays");
    assert_eq!(cat(&p, "/v2"), "v2");
    assert_eq!(cat(&p, "/first"), uuid, "step 1 was not run again");
    let labelled = std::process::Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            "label=io.envctl.incremental",
            "--filter",
            "label=io.envctl.environment=box",
            "--filter",
            "label=io.envctl.node=n",
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&labelled.stdout).trim().is_empty(),
        "the image says it was made on top of a previous one"
    );

    // Without the flag: step 2 runs from step 1's normal snapshot, as a build from the
    // base would; nothing of the incremental image comes along.
    let normal = p.run(&["up", "box"]).expect(0);
    assert!(
        normal
            .stderr
            .contains("step 1 reused from the cache, resuming at step 2 (second)"),
        "{}",
        normal.stderr
    );
    assert_eq!(cat(&p, "/v1"), "absent");
    assert_eq!(cat(&p, "/v2"), "v2");
    assert_eq!(cat(&p, "/first"), uuid);
    p.run(&["down", "box"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn incremental_and_no_cache_together_are_refused() {
    let p = Project::empty();
    two_steps(&p, "true");
    let run = p
        .run(&["test", "box", "--incremental", "--no-cache"])
        .expect(2);
    assert!(run.stderr.contains("--no-cache"), "{}", run.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
