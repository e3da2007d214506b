//! The package cache on a real engine, against Debian's real mirror: a second provisioning
//! of the same packages downloads none of them, the provisioned image holds none of the
//! cache, `--no-package-cache` downloads everything again, and a playbook's freshness
//! check (`cache_valid_time`) decides as it would without the cache.
//!
//! Each test gives the base image a name of its own, so its cache slots are its own:
//! what another run cached cannot make a first run look warm.

use crate::common;
use common::{Project, Run};
use std::process::Command;

/// `debian:bookworm` under a name only this test uses; removed, with the cache's volumes
/// for it, when dropped.
struct Base(String);

impl Base {
    fn new(p: &Project) -> Base {
        let name = format!("envctl-pkgtest-{}:bookworm", p.instance);
        docker(&["tag", "debian:bookworm", &name]);
        Base(name)
    }

    /// `debian:bookworm` with python3 and python3-apt for Ansible's `apt`, installed from the lists the base
    /// holds, which keep their time: as old as the base.
    fn with_python(p: &Project) -> Base {
        let name = format!("envctl-pkgtest-{}:python", p.instance);
        let container = format!("envctl-pkgtest-{}-build", p.instance);
        docker(&[
            "run",
            "--name",
            &container,
            "debian:bookworm",
            "sh",
            "-c",
            "apt-get install -y -qq --no-install-recommends python3 python3-apt >/dev/null",
        ]);
        docker(&["commit", &container, &name]);
        docker(&["rm", &container]);
        Base(name)
    }

    /// The cache's volumes for this base.
    fn volumes(&self) -> Vec<String> {
        let key: String = self
            .0
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            "label=io.envctl.package-cache",
        ])
        .lines()
        .filter(|v| v.starts_with(&format!("envctl-packages-{key}-")))
        .map(str::to_string)
        .collect()
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        for v in self.volumes() {
            let _ = Command::new("docker").args(["volume", "rm", &v]).output();
        }
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A node that installs Debian's `hello` with apt-get, marked with the test's instance
/// so its provisioning is its own.
fn apt_node(p: &Project, base: &Base) {
    p.file(
        "environments/pkg.toml",
        format!(
            r#"
[nodes.box]
image = "{}"
command = "sleep infinity"
provision = [
  {{ name = "install hello", shell = "echo {} >/owner && apt-get update && apt-get install -y --no-install-recommends hello" }},
]
"#,
            base.0, p.instance
        ),
    );
}

fn provision_log(p: &Project) -> String {
    p.run(&["logs", "pkg", "box", "--provision"])
        .expect(0)
        .stdout
}

/// Whether apt fetched `hello`'s package in this log (`Get:N ... hello amd64 ...`).
fn downloaded_hello(log: &str) -> bool {
    log.lines()
        .any(|l| l.starts_with("Get:") && l.contains(" hello "))
}

fn up(p: &Project, extra: &[&str]) -> Run {
    let mut args = vec!["up", "pkg", "--no-cache"];
    args.extend_from_slice(extra);
    p.run(&args).expect(0)
}

#[test]
fn a_second_provisioning_downloads_nothing_and_the_image_holds_none_of_the_cache() {
    let p = Project::empty();
    let base = Base::new(&p);
    apt_node(&p, &base);

    up(&p, &[]);
    let first = provision_log(&p);
    assert!(
        first.contains("=== package cache: envctl-packages-"),
        "{first}"
    );
    assert!(
        downloaded_hello(&first),
        "a cold cache downloads hello:\n{first}"
    );
    // The node runs the provisioned image: hello is installed, its package file is not
    // there.
    p.run(&["exec", "pkg", "box", "--", "hello"]).expect(0);
    let archives = p
        .run(&[
            "exec",
            "pkg",
            "box",
            "--",
            "sh",
            "-c",
            "ls /var/cache/apt/archives",
        ])
        .expect(0)
        .stdout;
    assert!(
        !archives.contains(".deb"),
        "the image holds cached packages: {archives}"
    );
    // The package is in the cache's volume.
    let archives_volume = base
        .volumes()
        .into_iter()
        .find(|v| v.ends_with("-apt-archives"))
        .expect("an apt-archives volume");
    let cached = docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{archives_volume}:/c"),
        "debian:bookworm",
        "ls",
        "/c",
    ]);
    assert!(
        cached
            .lines()
            .any(|f| f.starts_with("hello_") && f.ends_with(".deb")),
        "{cached}"
    );

    // Provisioned again from the base: apt finds the package in the cache.
    up(&p, &[]);
    let second = provision_log(&p);
    assert!(
        !downloaded_hello(&second),
        "hello was downloaded again:\n{second}"
    );
    assert!(second.contains("Need to get 0 B"), "{second}");
    p.run(&["exec", "pkg", "box", "--", "hello"]).expect(0);

    // Without the cache, apt downloads it, and the log says the cache was not used.
    up(&p, &["--no-package-cache"]);
    let without = provision_log(&p);
    assert!(without.contains("=== package cache: not used"), "{without}");
    assert!(downloaded_hello(&without), "{without}");
    p.run(&["down", "pkg"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());

    // `image list` shows the cache and `image prune --packages` empties it.
    let listed = p.run(&["image", "list"]).expect(0).stdout;
    assert!(listed.contains(&archives_volume), "{listed}");
    p.run(&["image", "prune", "--packages"]).expect(0);
    assert!(base.volumes().is_empty(), "{:?}", base.volumes());
}

/// What a freshness check with `cache_valid_time: 3600` would decide, by the rule
/// Ansible's `apt` uses (the time of `/var/lib/apt/lists`).
const FRESHNESS: &str = "age=$(( $(date +%s) - $(stat -c %Y /var/lib/apt/lists) )); if [ $age -gt 3600 ]; then echo lists-are-stale; else echo lists-are-fresh; fi";

#[test]
fn a_freshness_check_decides_as_without_the_cache() {
    let p = Project::empty();
    let base = Base::with_python(&p);
    p.file(
        "environments/pkg.toml",
        format!(
            r#"
[nodes.box]
image = "{}"
command = "sleep infinity"
provision = [
  {{ name = "freshness", shell = "{FRESHNESS}" }},
  {{ ansible = "site.yml" }},
]
"#,
            base.0
        ),
    );
    p.file(
        "site.yml",
        format!(
            r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: mark {}
      ansible.builtin.command: "true"
      changed_when: false
    - name: install hello, updating apt's lists unless they are fresh
      ansible.builtin.apt:
        name: hello
        update_cache: true
        cache_valid_time: 3600
        install_recommends: false
"#,
            p.instance
        ),
    );
    let logs = p.path().join(".envctl/logs/pkg").join(&p.instance);
    // Twice through the cache, then without it: what a freshness check decides, in the
    // first run and in the idempotence check's second run, does not depend on the cache
    // (apt's lists are the image's either way); the playbook installs hello each time
    // and its second run changes nothing.
    let mut seen = Vec::new();
    for (round, extra) in [(1, None), (2, None), (3, Some("--no-package-cache"))] {
        let mut args = vec!["test", "pkg", "--no-cache"];
        args.extend(extra);
        let run = p.run(&args);
        let out = run.output();
        assert_eq!(run.code, 0, "round {round}:\n{out}");
        let first = std::fs::read_to_string(logs.join("box.provision.log")).unwrap();
        let second = std::fs::read_to_string(logs.join("box.idempotence.log")).unwrap();
        assert_eq!(
            first.contains("=== package cache: envctl-packages-"),
            extra.is_none(),
            "{first}"
        );
        assert!(
            first.contains("changed: task `install hello"),
            "round {round}:\n{first}"
        );
        let decided = |log: &str| {
            log.lines()
                .find(|l| l.starts_with("lists-are-"))
                .unwrap_or_else(|| panic!("round {round}: no freshness line in:\n{log}"))
                .to_string()
        };
        seen.push((decided(&first), decided(&second)));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "the cache changed what a freshness check decides: {seen:?}"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    drop(base);
}
