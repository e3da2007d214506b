//! The provisioning cache on systemd nodes: an unchanged node comes back from its cached
//! image without provisioning; editing one template re-provisions only that node.

use crate::common;
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

/// This project's provisioned images on the engine, as (id, tag).
fn cache_images(p: &Project) -> Vec<(String, String)> {
    let project = envctl::instance::project_id(&p.path().canonicalize().unwrap());
    let out = std::process::Command::new("docker")
        .args([
            "images",
            "-a",
            "--filter",
            &format!("label=io.envctl.project={project}"),
            "--filter",
            "label=io.envctl.cache-key",
            "--format",
            "{{.ID}} {{.Tag}}",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, tag)| (id.to_string(), tag.to_string()))
        .collect()
}

#[test]
fn provisioning_again_replaces_the_cached_image_and_gc_removes_one_a_node_still_used() {
    let p = Project::empty();
    // A step of its own, so that no other project shares the cache key.
    p.file(
        "environments/e.toml",
        format!(
            "[nodes.box]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\nprovision = [{{ shell = \"echo {} $(date +%s%N) > /etc/provisioned-at\" }}]\n",
            p.instance
        ),
    );
    p.run(&["provision", "e"]).expect(0);
    let first = cache_images(&p);
    assert_eq!(first.len(), 1, "{first:?}");
    // Nothing uses the image it replaces: that one goes at once.
    p.run(&["provision", "e", "--no-cache"]).expect(0);
    let second = cache_images(&p);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(first[0].0, second[0].0);
    // `up --no-cache` of a running node provisions again and recreates the node from the
    // new image; the replaced one was still in use while provisioning ran, so it stays
    // until gc finds it unused.
    let stamp = || {
        p.run(&["exec", "e", "box", "--", "cat", "/etc/provisioned-at"])
            .expect(0)
            .stdout
    };
    p.run(&["up", "e"]).expect(0);
    let before = stamp();
    p.run(&["up", "e", "--no-cache"]).expect(0);
    assert_ne!(stamp(), before, "the node still runs the old provisioning");
    let replaced = second[0].0.clone();
    let images = cache_images(&p);
    assert_eq!(images.len(), 2, "{images:?}");
    assert!(
        images.contains(&(replaced.clone(), "<none>".into())),
        "{images:?}"
    );
    let dry = p.run(&["gc", "--dry-run"]).expect(0);
    assert!(
        dry.stdout
            .lines()
            .any(|l| l.starts_with(&format!("would remove image {replaced}"))
                && l.contains("(e/box)")
                && l.contains("replaced in the provisioning cache")),
        "{}",
        dry.stdout
    );
    assert_eq!(cache_images(&p).len(), 2, "a dry run removed something");
    p.run(&["gc"]).expect(0);
    let left = cache_images(&p);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0].1, "<none>", "{left:?}");
    // The node runs on, from the image that stays.
    stamp();
    p.run(&["down", "e"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
