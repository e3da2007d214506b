//! `envctl gc` after runs killed with SIGKILL, and `down` trusting only labels.

use crate::background;
use crate::common;

use background::{eventually, has_container, Background, ENDLESS_SPEC, SLOW_PROVISIONING};
use common::Project;

#[test]
fn sigkill_during_test_then_gc_leaves_nothing_and_dry_run_lists_first() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let mut bg = Background::start(&p, &p.instance, &["test", "web", "never"], &[]);
    bg.wait_for_verify();
    bg.signal(libc::SIGKILL);
    bg.finish();
    let left = p.leftovers();
    assert!(left.len() >= 3, "a killed run cannot clean up: {left:?}");

    let dry = p.run(&["gc", "--dry-run"]).expect(0);
    let network = p.object_prefix("web", &p.instance);
    for name in [
        format!("container {network}.web "),
        format!("container {network}.client "),
        format!("network {network} "),
    ] {
        assert!(
            dry.stdout.lines().any(|l| l.starts_with("would remove ")
                && l.contains(&name)
                && l.contains("is gone")),
            "dry run should list `{name}`:\n{}",
            dry.stdout
        );
    }
    assert_eq!(p.leftovers(), left, "a dry run removes nothing");

    p.run(&["gc"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sigkill_during_provisioning_then_gc_removes_the_provisioning_container() {
    let p = Project::empty();
    p.file("environments/slow.toml", SLOW_PROVISIONING);
    let mut bg = Background::start(&p, &p.instance, &["up", "slow"], &[]);
    bg.wait_for_provisioning();
    bg.signal(libc::SIGKILL);
    bg.finish();
    assert!(has_container(&p.instance, "-provision-"));
    p.run(&["gc"]).expect(0);
    assert!(
        !has_container(&p.instance, "-provision-"),
        "{:?}",
        p.leftovers()
    );
    // The network of an `up` instance is the user's to remove, with `down`.
    p.run(&["down", "slow"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn gc_keeps_instances_made_by_up_and_runs_that_are_alive() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    let live = Project::empty();
    live.file("environments/slow.toml", SLOW_PROVISIONING);
    let mut bg = Background::start(&live, &live.instance, &["test", "slow"], &[]);
    bg.wait_for_provisioning();

    let dry = p.run(&["gc", "--dry-run"]).expect(0);
    assert!(!dry.stdout.contains(&p.instance), "{}", dry.stdout);
    assert!(!dry.stdout.contains(&live.instance), "{}", dry.stdout);
    // Past its lease, a live run's objects are garbage too.
    eventually("the live run is older than a 1s lease", || {
        let dry = live.run(&["gc", "--dry-run", "--lease", "1s"]).expect(0);
        dry.stdout.lines().any(|l| {
            l.contains(&live.object_prefix("slow", &live.instance))
                && l.contains("older than the lease")
        })
    });
    p.run(&["gc"]).expect(0);
    assert!(!p.leftovers().is_empty(), "gc removed an `up` instance");
    assert!(has_container(&live.instance, "-provision-"));

    bg.signal(libc::SIGINT);
    bg.finish().expect(130);
    assert!(live.leftovers().is_empty(), "{:?}", live.leftovers());
}

#[test]
fn up_after_a_killed_test_makes_an_instance_that_gc_keeps() {
    let p = Project::fixture("web");
    p.file("specs/web/endless.toml", ENDLESS_SPEC);
    let mut bg = Background::start(&p, &p.instance, &["test", "web", "never"], &[]);
    bg.wait_for_verify();
    bg.signal(libc::SIGKILL);
    bg.finish();
    p.run(&["up"]).expect(0);
    p.run(&["gc"]).expect(0);
    // The instance `up` made is still there and works.
    p.run(&["verify", "web", "home"]).expect(0);
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn gc_rejects_a_bad_lease() {
    let p = Project::empty();
    let out = p.run(&["gc", "--lease", "soon"]).expect(2);
    assert!(out.stderr.contains("--lease"), "{}", out.stderr);
}

#[test]
fn down_works_without_local_state_and_is_idempotent() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    std::fs::remove_dir_all(p.path().join(".envctl")).unwrap();
    let out = p.run(&["down"]).expect(0);
    assert!(
        out.stderr.contains("removed 2 containers, 1 network"),
        "{}",
        out.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    let again = p.run(&["down"]).expect(0);
    assert!(
        again.stderr.contains("removed 0 containers, 0 networks"),
        "{}",
        again.stderr
    );
}

#[test]
fn down_works_when_the_definition_is_broken_or_gone() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    p.file("environments/web.toml", "[nodes.web\nthis is not toml\n");
    let out = p.run(&["down", "web"]).expect(0);
    assert!(
        out.stderr.contains("removing its instance by labels only"),
        "{}",
        out.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());

    let gone = Project::fixture("web");
    gone.run(&["up"]).expect(0);
    std::fs::remove_file(gone.path().join("environments/web.toml")).unwrap();
    gone.run(&["down", "web"]).expect(0);
    assert!(gone.leftovers().is_empty(), "{:?}", gone.leftovers());
    // Without a name there is nothing to go by.
    gone.run(&["down"]).expect(2);
}

#[test]
fn down_removes_what_another_run_left_even_with_wrong_local_state() {
    let p = Project::fixture("web");
    p.run(&["up"]).expect(0);
    // Local state that disagrees with the engine: a stale lock file and logs of nodes
    // that do not exist. Labels are the truth.
    p.file(
        &format!(".envctl/locks/web.{}.lock", p.instance),
        "pid 1, `envctl up web`, since 0",
    );
    p.file(
        &format!(".envctl/logs/web/{}/ghost.provision.log", p.instance),
        "stale",
    );
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
