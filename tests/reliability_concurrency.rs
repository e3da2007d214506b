//! Parallel instances of one environment on one engine, and two commands on one
//! instance at once.

use crate::background;
use crate::common;

use background::{has_container, Background, SLOW_PROVISIONING};
use common::{unique_instance, Project};

#[test]
fn two_instances_of_one_environment_test_side_by_side() {
    let p = Project::fixture("web");
    let (a, b) = (unique_instance("par-a"), unique_instance("par-b"));
    let first = Background::start(&p, &a, &["test", "web"], &[]);
    let second = Background::start(&p, &b, &["test", "web"], &[]);
    let (first, second) = (first.finish(), second.finish());
    first.expect(0);
    second.expect(0);
    assert!(
        common::leftovers(&a).is_empty(),
        "{:?}",
        common::leftovers(&a)
    );
    assert!(
        common::leftovers(&b).is_empty(),
        "{:?}",
        common::leftovers(&b)
    );
}

#[test]
fn two_up_instances_get_their_own_names_networks_and_ports() {
    let p = Project::fixture("web");
    let other = unique_instance("par-c");
    p.run(&["up"]).expect(0);
    let bg = Background::start(&p, &other, &["up", "web"], &[]);
    bg.finish().expect(0);
    assert_ne!(
        common::container_ids(&p.instance),
        common::container_ids(&other)
    );
    // Each verify reaches its own instance through that instance's published ports.
    p.run(&["verify"]).expect(0);
    let bg = Background::start(&p, &other, &["verify", "web"], &[]);
    bg.finish().expect(0);
    let bg = Background::start(&p, &other, &["down", "web"], &[]);
    bg.finish().expect(0);
    assert!(common::leftovers(&other).is_empty());
    // The first instance was not touched by the other's down.
    p.run(&["verify"]).expect(0);
}

#[test]
fn a_second_command_on_the_same_instance_is_refused_naming_the_first() {
    let p = Project::empty();
    p.file("environments/slow.toml", SLOW_PROVISIONING);
    let mut bg = Background::start(&p, &p.instance, &["test", "slow"], &[]);
    bg.wait_for_provisioning();
    for verb in ["up", "down", "test"] {
        let out = p.run(&[verb, "slow"]).expect(3);
        assert!(
            out.stderr.contains(&format!(
                "instance `{}` of environment `slow` is in use by another envctl (pid {}, `envctl test slow`",
                p.instance,
                bg.pid()
            )),
            "{verb}: {}",
            out.stderr
        );
    }
    // The refused commands did not disturb the first one.
    assert!(has_container(&p.instance, "-provision-"));
    bg.signal(libc::SIGINT);
    bg.finish().expect(130);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn two_projects_with_the_same_environment_never_touch_each_other() {
    // Two checkouts, each with an environment `web`, using the same instance name.
    let (a, b) = (Project::fixture("web"), Project::fixture("web"));
    let instance = unique_instance("twoproj");
    let first = Background::start(&a, &instance, &["test", "web"], &[]);
    let second = Background::start(&b, &instance, &["test", "web"], &[]);
    let (first, second) = (first.finish(), second.finish());
    first.expect(0);
    second.expect(0);
    assert!(
        common::leftovers(&instance).is_empty(),
        "{:?}",
        common::leftovers(&instance)
    );

    // An instance of one project is neither seen nor removed from the other.
    Background::start(&a, &instance, &["up", "web"], &[])
        .finish()
        .expect(0);
    let before = common::container_ids(&instance);
    assert!(!before.is_empty());
    let status = Background::start(&b, &instance, &["status", "web"], &[]).finish();
    assert!(
        !status.stdout.contains(&a.object_prefix("web", &instance)),
        "{}",
        status.stdout
    );
    Background::start(&b, &instance, &["down", "web"], &[])
        .finish()
        .expect(0);
    assert_eq!(common::container_ids(&instance), before);
    Background::start(&a, &instance, &["verify", "web"], &[])
        .finish()
        .expect(0);
    Background::start(&a, &instance, &["down", "web"], &[])
        .finish()
        .expect(0);
    assert!(
        common::leftovers(&instance).is_empty(),
        "{:?}",
        common::leftovers(&instance)
    );
}
