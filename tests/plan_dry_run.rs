//! `up --dry-run` and `test --dry-run` on a real engine: the plan is printed from what
//! the engine holds and nothing is created; and instances belong to their project, so
//! two projects with the same environment and instance names never touch each other.

use crate::common;
use common::{container_ids, unique_instance, Project};
use std::collections::BTreeMap;

/// The fixture `web` with a provisioning step of its own, so that no other test's run
/// puts its provisioned image in the cache.
fn own_web() -> (Project, String) {
    let p = Project::fixture("web");
    let marker = unique_instance("plan");
    let env = std::fs::read_to_string(p.path().join("environments/web.toml")).unwrap();
    p.file(
        "environments/web.toml",
        env.replace(
            "echo 'marker file'",
            &format!("echo '{marker}' > /srv/plan-marker && echo 'marker file'"),
        ),
    );
    (p, marker)
}

/// Cache tags (`envctl-cache:TAG`) on the engine.
fn cache_tags() -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["images", "envctl-cache", "--format", "{{.Tag}}"])
        .output()
        .expect("docker images");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The containers of `p`'s instance, by name, for this project only.
fn own_containers(p: &Project) -> BTreeMap<String, String> {
    let prefix = format!("/{}", p.object_prefix("web", &p.instance));
    container_ids(&p.instance)
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .collect()
}

#[test]
fn up_dry_run_prints_the_plan_and_creates_nothing() {
    let (p, _) = own_web();
    let run = p.run(&["up", "--dry-run"]).expect(0);
    let out = run.stdout;
    assert!(
        out.contains("the plan (--dry-run: nothing is created)"),
        "{out}"
    );
    // web provisions (its steps are new to the cache) and starts first; client comes
    // from its base and starts once web is ready.
    let web = out
        .lines()
        .find(|l| l.contains("1. web"))
        .unwrap_or_else(|| panic!("no line for web:\n{out}"));
    // Step 1's snapshot may be in the cache from another run of the same step; the plan
    // then says it resumes after it.
    assert!(
        web.contains("provision (2 steps; not in the cache, ")
            && web.contains("kept as envctl-cache:"),
        "{web}"
    );
    let tag = web
        .split("envctl-cache:")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_hexdigit()).next())
        .unwrap()
        .to_string();
    let client = out
        .lines()
        .find(|l| l.contains("2. client"))
        .unwrap_or_else(|| panic!("no line for client:\n{out}"));
    assert!(client.contains("after web is ready"), "{client}");
    assert!(client.contains("start client"), "{client}");
    // Nothing was made: no container, network, volume or provisioned image.
    assert_eq!(p.leftovers(), Vec::<String>::new());
    assert!(
        !cache_tags().contains(&tag),
        "the dry run provisioned {tag}"
    );

    // Once up, the same plan is empty; a changed node is shown as recreated while
    // every container stays as it is.
    p.run(&["up"]).expect(0);
    assert!(cache_tags().contains(&tag), "up kept web as {tag}");
    let before = own_containers(&p);
    assert_eq!(before.len(), 2, "{before:?}");
    let again = p.run(&["up", "--dry-run"]).expect(0);
    assert!(
        again
            .stdout
            .contains("nothing to do: every node runs its current definition"),
        "{}",
        again.stdout
    );
    let env = std::fs::read_to_string(p.path().join("environments/web.toml")).unwrap();
    p.file(
        "environments/web.toml",
        env.replace("GREETING = \"web\"", "GREETING = \"changed\""),
    );
    let changed = p.run(&["up", "--dry-run"]).expect(0).stdout;
    let web = changed
        .lines()
        .find(|l| l.contains("1. web"))
        .unwrap_or_else(|| panic!("no line for web:\n{changed}"));
    assert!(web.contains("recreate (remove "), "{changed}");
    // Its environment is part of what provisioning sees, so the image is new too, and
    // not made by the dry run.
    let new_tag = web
        .split("kept as envctl-cache:")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_hexdigit()).next())
        .unwrap_or_else(|| panic!("no new image for web: {web}"))
        .to_string();
    assert_ne!(new_tag, tag);
    assert!(
        !cache_tags().contains(&new_tag),
        "the dry run provisioned {new_tag}"
    );
    let client = changed.lines().find(|l| l.contains("2. client")).unwrap();
    assert!(client.contains("unchanged"), "{changed}");
    assert_eq!(own_containers(&p), before, "the dry run changed containers");
    p.run(&["down"]).expect(0);
    // The image only this test made goes too.
    let _ = std::process::Command::new("docker")
        .args(["rmi", &format!("envctl-cache:{tag}")])
        .output();
}

#[test]
fn test_dry_run_prints_the_run_and_creates_nothing() {
    let (p, _) = own_web();
    let run = p.run(&["test", "--dry-run"]).expect(0);
    let out = run.stdout;
    assert!(out.contains("1. web"), "{out}");
    assert!(out.contains("2. client"), "{out}");
    assert!(out.contains("then verify: "), "{out}");
    assert!(out.contains("then everything is removed"), "{out}");
    let kept = p.run(&["test", "--dry-run", "--keep"]).expect(0);
    assert!(
        kept.stdout.contains("then the instance is kept (--keep)"),
        "{}",
        kept.stdout
    );
    assert_eq!(p.leftovers(), Vec::<String>::new());
    // A dry run writes no bundle: the two cannot be asked together.
    let both = p
        .run(&["test", "--dry-run", "--artifacts", "bundle"])
        .expect(2);
    assert!(both.stderr.contains("--artifacts"), "{}", both.stderr);
    assert!(!p.path().join("bundle").exists());
}

#[test]
fn two_projects_with_the_same_names_run_side_by_side_and_status_tells_them_apart() {
    // Two checkouts of different projects, each with an environment `web`, on the same
    // instance name: both `test` runs pass at the same time and neither sees the other.
    let a = Project::fixture("web");
    let b = Project::fixture("web");
    let shared = unique_instance("owner");
    let _down = DownBoth(&a, &b, &shared);
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.run_as(&shared, &["test", "web"], &[]));
        let tb = s.spawn(|| b.run_as(&shared, &["test", "web"], &[]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    ra.expect(0);
    rb.expect(0);
    assert_eq!(common::leftovers(&shared), Vec::<String>::new());

    // A's instance runs; B's `test` of the same names leaves it exactly as it was.
    a.run_as(&shared, &["up"], &[]).expect(0);
    let prefix = format!("/{}", a.object_prefix("web", &shared));
    let a_nodes = || -> BTreeMap<String, String> {
        container_ids(&shared)
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .collect()
    };
    let before = a_nodes();
    assert_eq!(before.len(), 2, "{before:?}");
    b.run_as(&shared, &["test", "web"], &[]).expect(0);
    let down = b.run_as(&shared, &["down", "web"], &[]).expect(0);
    assert!(
        !down.stderr.contains("removed 2 containers"),
        "{}",
        down.stderr
    );
    assert_eq!(a_nodes(), before, "B's runs touched A's instance");

    // B's status says that the name is taken by another project, and which one.
    let status = b.run_as(&shared, &["status", "web"], &[]).expect(0);
    let a_root = a.path().canonicalize().unwrap();
    assert!(
        status.output().contains(&format!(
            "note: web/{shared} of another project ({}) also runs on this engine (2 nodes)",
            a_root.display()
        )),
        "{}",
        status.output()
    );
    // A's own status has no such note.
    let own = a.run_as(&shared, &["status", "web"], &[]).expect(0);
    assert!(
        !own.output().contains("another project"),
        "{}",
        own.output()
    );
    a.run_as(&shared, &["down", "web"], &[]).expect(0);
    assert_eq!(common::leftovers(&shared), Vec::<String>::new());
}

/// Takes both projects' instance `web/NAME` down, even when the test fails half-way.
struct DownBoth<'a>(&'a Project, &'a Project, &'a str);

impl Drop for DownBoth<'_> {
    fn drop(&mut self) {
        for p in [self.0, self.1] {
            let _ = p.run_as(self.2, &["down", "web"], &[]);
        }
    }
}
