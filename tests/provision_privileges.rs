//! systemd nodes run with least privilege, against the real engine: what would change
//! the host (its clock, kernel modules, devices, cgroup tree, filesystems) fails inside
//! one, while a node that asks for a capability gets it and envctl says so. Bad
//! `privileged` / `capabilities` values are invalid input.

use crate::common;
use common::{assert_cannot_change_its_host, probe_results, Project, PRIVILEGE_PROBES};

fn probe(p: &Project, node: &str, name: &str) -> std::collections::BTreeMap<String, String> {
    let run = p
        .run_env(
            &[
                "exec",
                "box",
                node,
                "--",
                "env",
                &format!("PROBE={name}"),
                "sh",
                "-c",
                PRIVILEGE_PROBES,
            ],
            &[],
        )
        .expect(0);
    probe_results(&run.stdout)
}

#[test]
fn a_systemd_node_cannot_set_the_clock_load_modules_make_devices_mount_or_write_host_cgroups() {
    let p = Project::empty();
    p.file(
        "environments/box.toml",
        r#"
[nodes.plain]
image = "debian:bookworm"
init = "systemd"

[nodes.devices]
image = "debian:bookworm"
init = "systemd"
capabilities = ["mknod"]
"#,
    );
    let up = p.run(&["up", "box"]).expect(0);
    assert!(
        up.stderr
            .contains("node `devices` runs with extra capabilities: MKNOD"),
        "{}",
        up.stderr
    );
    assert!(!up.stderr.contains("node `plain` runs"), "{}", up.stderr);
    let probe_dir = format!("envctl-probe-{}", p.instance);
    let r = probe(&p, "plain", &probe_dir);
    assert_cannot_change_its_host(&r);
    assert!(r["cgroup_mkdir"].contains("Read-only file system"), "{r:?}");
    // The node's /sys/fs/cgroup is its own: a directory made at its root (which
    // works) is not in the host's.
    assert_eq!(r["cgroup_root_mkdir"], "ok", "{r:?}");
    assert!(
        !std::path::Path::new("/sys/fs/cgroup")
            .join(&probe_dir)
            .exists(),
        "the node created a directory in the host's /sys/fs/cgroup"
    );
    // A private cgroup namespace: the hierarchy's root (and its release_agent) is not
    // even visible.
    assert!(r["release_agent"].contains("Permission denied"), "{r:?}");
    assert!(
        !std::path::Path::new("/sys/fs/cgroup/pids")
            .join(&probe_dir)
            .exists(),
        "the node created a cgroup in the host's tree"
    );
    // No host device nodes: only the engine's standard set.
    for dev in r["devices"].split(' ') {
        assert!(
            [
                "console", "core", "fd", "full", "initctl", "log", "mqueue", "null", "ptmx", "pts",
                "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero", ""
            ]
            .contains(&dev),
            "unexpected device /dev/{dev}: {r:?}"
        );
    }
    // The same probe passes where the node asked for the capability: the probe can fail.
    let d = probe(&p, "devices", &probe_dir);
    assert_eq!(d["mknod"], "ok", "{d:?}");
    assert_eq!(d["systemd"], "running", "{d:?}");
    assert!(d["clock"].contains("Operation not permitted"), "{d:?}");
    p.run(&["down", "box"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn privileged_nodes_are_announced_and_refused_clearly_where_the_engine_cannot_run_them() {
    let p = Project::empty();
    p.file(
        "environments/box.toml",
        "[nodes.box]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\nprivileged = true\n",
    );
    let up = p.run(&["up", "box"]);
    assert!(
        up.stderr
            .contains("node `box` runs privileged (privileged = true)"),
        "{}",
        up.stderr
    );
    match up.code {
        // Engines whose capability bounding set lacks some capability (ours).
        3 => assert!(
            up.stderr.contains("cannot run privileged containers")
                && up.stderr.contains("capabilities = ["),
            "{}",
            up.stderr
        ),
        0 => {
            let r = p
                .run(&[
                    "exec",
                    "box",
                    "box",
                    "--",
                    "sh",
                    "-c",
                    "grep CapEff /proc/self/status",
                ])
                .expect(0);
            assert!(!r.stdout.contains("00000000a80425fb"), "{}", r.stdout);
        }
        other => panic!("unexpected exit {other}: {}", up.output()),
    }
    p.run(&["down", "box"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn bad_privilege_values_are_invalid_input_naming_file_and_line() {
    for (body, wanted) in [
        (
            "capabilities = [\"NET_ADMN\"]\n",
            "unknown capability `NET_ADMN`",
        ),
        ("capabilities = [\"ALL\"]\n", "privileged = true"),
        ("privileged = \"yes\"\n", "privileged"),
        (
            "privileged = true\ncapabilities = [\"NET_ADMIN\"]\n",
            "already grants every capability",
        ),
    ] {
        let p = Project::empty();
        p.file(
            "environments/box.toml",
            format!("[nodes.box]\nimage = \"debian:bookworm\"\n{body}"),
        );
        let run = p.run(&["up", "box"]).expect(2);
        assert!(
            run.stderr.contains(wanted) && run.stderr.contains("box.toml:"),
            "{body}: {}",
            run.stderr
        );
        assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    }
}
