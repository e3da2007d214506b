//! The provisioning cache on systemd nodes: an unchanged node comes back from its cached
//! image without provisioning; editing one template re-provisions only that node.

mod common;
use common::Project;

fn provisioned(run: &common::Run, node: &str) -> bool {
    run.stderr
        .lines()
        .any(|l| l.contains(&format!("{node}: provisioning ")))
}

fn cached(run: &common::Run, node: &str) -> bool {
    run.stderr
        .lines()
        .any(|l| l.contains(&format!("{node}: provisioned image found in cache")))
}

#[test]
fn unchanged_systemd_nodes_come_back_from_the_cache_and_one_template_edit_reprovisions_one_node() {
    let p = Project::fixture("systemd-pair");
    // The first up provisions (or finds images other runs made from the same inputs).
    p.run(&["up", "pair"]).expect(0);
    p.run(&["down", "pair"]).expect(0);

    let again = p.run(&["up", "pair"]).expect(0);
    for node in ["alpha", "beta"] {
        assert!(
            cached(&again, node),
            "{node} not from cache:\n{}",
            again.stderr
        );
        assert!(
            !provisioned(&again, node),
            "{node} provisioned again:\n{}",
            again.stderr
        );
    }
    let pid1 = p
        .run(&["exec", "pair", "alpha", "--", "cat", "/proc/1/comm"])
        .expect(0);
    assert_eq!(pid1.stdout.trim(), "systemd");
    let log = p.run(&["logs", "pair", "alpha", "--provision"]).expect(0);
    assert!(
        log.stdout.contains("reused from the cache"),
        "{}",
        log.stdout
    );

    // A marker unique to this test makes the edited template's key new.
    let marker = format!("edited by {}", p.instance);
    p.file(
        "templates/alpha.conf.j2",
        format!("# alpha\ngreeting = {{{{ greeting }}}}\nnode = {{{{ node }}}}\n{marker}\n"),
    );
    let edited = p.run(&["up", "pair"]).expect(0);
    assert!(provisioned(&edited, "alpha"), "{}", edited.stderr);
    assert!(!provisioned(&edited, "beta"), "{}", edited.stderr);
    assert!(
        edited.stderr.lines().any(|l| l.contains("beta: unchanged")),
        "{}",
        edited.stderr
    );
    let conf = p
        .run(&["exec", "pair", "alpha", "--", "cat", "/etc/pair/alpha.conf"])
        .expect(0);
    assert!(conf.stdout.contains(&marker), "{}", conf.stdout);
    p.run(&["verify", "pair"]).expect(0);
    p.run(&["down", "pair"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn no_cache_provisions_again_and_cached_images_are_listed() {
    let p = Project::fixture("systemd-pair");
    let run = p.run(&["provision", "pair", "--no-cache"]).expect(0);
    assert!(
        provisioned(&run, "alpha") && provisioned(&run, "beta"),
        "{}",
        run.stderr
    );
    let listed = p.run(&["image", "list"]).expect(0);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.contains("pair") && l.contains("alpha")),
        "{}",
        listed.stdout
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
