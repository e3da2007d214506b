//! What a node mounts, may use and how long it runs, on a real engine: named volumes
//! across `down --keep-volumes`, project paths bound read-only, tmpfs, memory/CPU/pids
//! limits seen and enforced inside the node, and jobs (`run = "once"`) that run before
//! their dependents, once.

use crate::background;
use crate::common;

use background::{eventually, Background};
use common::Project;

const DATABASE: &str = r#"
[nodes.db]
image = "debian:bookworm"
command = "mkdir -p /var/lib/data && exec sleep infinity"
volumes = ["data:/var/lib/data", "./seed:/seed"]
tmpfs = ["/scratch:size=8m"]
"#;

fn database() -> Project {
    let p = Project::empty();
    p.file("environments/db.toml", DATABASE);
    p.file("seed/schema.sql", "create table rows (n int);\n");
    p
}

fn rows(p: &Project) -> common::Run {
    p.run(&["exec", "db", "db", "--", "cat", "/var/lib/data/rows"])
}

#[test]
fn a_named_volume_keeps_its_data_across_down_keep_volumes_and_loses_it_after_down() {
    let p = database();
    p.run(&["up", "db"]).expect(0);
    p.run(&[
        "exec",
        "db",
        "db",
        "--",
        "sh",
        "-c",
        "echo row-1 >> /var/lib/data/rows",
    ])
    .expect(0);
    let kept = p.run(&["down", "db", "--keep-volumes"]).expect(0);
    assert!(kept.stderr.contains("kept 1 volume"), "{}", kept.stderr);
    let left = p.leftovers();
    assert_eq!(left.len(), 1, "only the volume stays: {left:?}");
    assert!(
        left[0].starts_with("volume ") && left[0].ends_with(".data"),
        "{left:?}"
    );

    p.run(&["up", "db"]).expect(0);
    let again = rows(&p).expect(0);
    assert_eq!(again.stdout.trim(), "row-1", "{}", again.stderr);

    let down = p.run(&["down", "db"]).expect(0);
    assert!(down.stderr.contains("1 volume"), "{}", down.stderr);
    assert_eq!(p.leftovers(), Vec::<String>::new());
    p.run(&["up", "db"]).expect(0);
    let fresh = rows(&p);
    assert_ne!(
        fresh.code, 0,
        "a plain down removed the data: {}",
        fresh.stdout
    );
    p.run(&["down", "db"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

#[test]
fn a_project_path_is_bound_read_only_and_tmpfs_is_memory() {
    let p = database();
    p.run(&["up", "db"]).expect(0);
    let schema = p
        .run(&["exec", "db", "db", "--", "cat", "/seed/schema.sql"])
        .expect(0);
    assert!(schema.stdout.contains("create table"), "{}", schema.stdout);
    let write = p.run(&["exec", "db", "db", "--", "touch", "/seed/new"]);
    assert_ne!(write.code, 0, "the bound project path is writable");
    assert!(!p.path().join("seed/new").exists());
    let mounts = p
        .run(&["exec", "db", "db", "--", "cat", "/proc/mounts"])
        .expect(0);
    let scratch = mounts
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/scratch"))
        .unwrap_or_else(|| panic!("no /scratch mount:\n{}", mounts.stdout));
    assert!(scratch.starts_with("tmpfs "), "{scratch}");
    assert!(scratch.contains("size=8192k"), "{scratch}");
    // `:rw` makes the same path writable.
    p.file(
        "environments/db.toml",
        DATABASE.replace("./seed:/seed", "./seed:/seed:rw"),
    );
    p.run(&["up", "db"]).expect(0);
    p.run(&["exec", "db", "db", "--", "touch", "/seed/new"])
        .expect(0);
    assert!(p.path().join("seed/new").exists());
    p.run(&["down", "db"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

/// The node's own cgroup value for a v1 file or its v2 equivalent.
fn cgroup(p: &Project, v1: &str, v2: &str) -> String {
    let script = format!("cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}");
    p.run(&["exec", "small", "app", "--", "sh", "-c", &script])
        .expect(0)
        .stdout
        .trim()
        .to_string()
}

#[test]
fn memory_cpu_and_pids_limits_hold_inside_the_node() {
    let p = Project::empty();
    p.file(
        "environments/prod.toml",
        r#"
[nodes.app]
image = "debian:bookworm"
command = "sleep infinity"
memory = "1g"
"#,
    );
    // Production, scaled down in size as well.
    p.file(
        "environments/small.toml",
        r#"
extends = "prod"
[nodes.app]
memory = "64m"
cpus = 0.5
pids = 64
"#,
    );
    p.run(&["up", "small"]).expect(0);
    assert_eq!(
        cgroup(&p, "memory/memory.limit_in_bytes", "memory.max"),
        (64 << 20).to_string()
    );
    let cpu = cgroup(&p, "cpu/cpu.cfs_quota_us", "cpu.max");
    assert!(cpu == "50000" || cpu.starts_with("50000 "), "{cpu}");
    assert_eq!(cgroup(&p, "pids/pids.max", "pids.max"), "64");
    // `tail` holds a line without newline whole: 16 MiB fits, 200 MiB is killed.
    let fits = p.run(&[
        "exec",
        "small",
        "app",
        "--",
        "sh",
        "-c",
        "head -c 16m /dev/zero | tail >/dev/null",
    ]);
    assert_eq!(fits.code, 0, "{}", fits.output());
    let over = p.run(&[
        "exec",
        "small",
        "app",
        "--",
        "sh",
        "-c",
        "head -c 200m /dev/zero | tail >/dev/null",
    ]);
    assert_eq!(
        over.code,
        137,
        "not killed for going over 64m: {}",
        over.output()
    );
    // The node itself survives: only the process that went over was killed.
    p.run(&["exec", "small", "app", "--", "true"]).expect(0);
    p.run(&["down", "small"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

const JOBS: &str = r#"
[nodes.db]
image = "debian:bookworm"
command = "exec sleep infinity"
volumes = ["data:/data"]

[nodes.migrate]
image = "debian:bookworm"
run = "once"
depends_on = ["db"]
volumes = ["data:/data"]
command = "echo 'create table rows' >> /data/schema && echo migrated"

[nodes.web]
image = "debian:bookworm"
depends_on = ["migrate"]
volumes = ["data:/data:ro"]
# Fails at once when the migration has not run before it.
command = "test -s /data/schema && exec sleep infinity"
"#;

#[test]
fn a_job_completes_before_its_dependent_starts_and_is_not_run_again() {
    let p = Project::empty();
    p.file("environments/app.toml", JOBS);
    p.run(&["up", "app"]).expect(0);
    let schema = || {
        p.run(&["exec", "app", "web", "--", "cat", "/data/schema"])
            .expect(0)
            .stdout
    };
    assert_eq!(schema(), "create table rows\n");
    let logs = p.run(&["logs", "app", "migrate"]).expect(0);
    assert!(logs.stdout.contains("migrated"), "{}", logs.stdout);

    let again = p.run(&["up", "app"]).expect(0);
    assert!(
        again.stderr.contains("job `migrate` completed earlier")
            && again.stderr.contains("not run again"),
        "{}",
        again.stderr
    );
    assert_eq!(schema(), "create table rows\n", "the job ran twice");
    // `verify` and `test` take a completed job as done, not as a stopped node.
    p.run(&["verify", "app"]).expect(0);
    let status = p.run(&["status", "app"]).expect(0);
    let migrate = status
        .stdout
        .lines()
        .find(|l| l.starts_with("migrate "))
        .unwrap_or_else(|| panic!("{}", status.stdout));
    assert!(migrate.contains("completed"), "{migrate}");

    // A changed job runs again.
    p.file(
        "environments/app.toml",
        JOBS.replace("echo migrated", "echo migrated twice"),
    );
    p.run(&["up", "app"]).expect(0);
    assert_eq!(schema(), "create table rows\ncreate table rows\n");
    p.run(&["down", "app"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

#[test]
fn a_failing_job_fails_up_with_its_output_and_its_dependents_never_start() {
    let p = Project::empty();
    p.file(
        "environments/app.toml",
        JOBS.replace(
            "command = \"echo 'create table rows' >> /data/schema && echo migrated\"",
            "command = \"echo 'relation rows already exists' && exit 3\"",
        ),
    );
    let up = p.run(&["up", "app"]).expect(3);
    assert!(
        up.stderr.contains("job `migrate` failed: exit code 3"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains("relation rows already exists"),
        "{}",
        up.stderr
    );
    let containers: Vec<String> = p
        .leftovers()
        .into_iter()
        .filter(|l| l.starts_with("container "))
        .collect();
    assert!(
        !containers.iter().any(|c| c.contains(".web")),
        "web started after its job failed: {containers:?}"
    );
    p.run(&["down", "app"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

#[test]
fn gc_finds_the_volumes_of_a_killed_test_run() {
    let p = Project::empty();
    p.file(
        "environments/hang.toml",
        r#"
[nodes.db]
image = "debian:bookworm"
command = "exec sleep infinity"
volumes = ["data:/data"]
health = { command = "false", timeout = "10m" }
"#,
    );
    let mut bg = Background::start(&p, &p.instance, &["test", "hang"], &[]);
    bg.wait_until("the node waits for its health", |_| {
        p.leftovers().iter().any(|l| l.starts_with("container "))
    });
    bg.signal(libc::SIGKILL);
    bg.finish();
    eventually("the killed run's volume is listed", || {
        p.leftovers().iter().any(|l| l.starts_with("volume "))
    });
    let dry = p.run(&["gc", "--dry-run"]).expect(0);
    assert!(
        dry.stdout
            .lines()
            .any(|l| l.starts_with("would remove volume ")
                && l.contains(".data")
                && l.contains("is gone")),
        "{}",
        dry.stdout
    );
    p.run(&["gc"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

#[test]
fn keys_only_containers_serve_are_refused_on_machines_at_their_line() {
    let p = database();
    let out = p.run(&["up", "db", "--engine", "qemu"]).expect(2);
    assert!(
        out.stderr.contains("environments/db.toml:5:")
            && out.stderr.contains("`nodes.db.volumes`")
            && out
                .stderr
                .contains("qemu engine does not support `volumes`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`tmpfs`"), "{}", out.stderr);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

#[test]
fn bad_volumes_and_limits_are_invalid_input_naming_the_line() {
    for (bad, field, says) in [
        (
            "volumes = [\"/etc:/host-etc\"]",
            "nodes.x.volumes",
            "outside the project",
        ),
        (
            "volumes = [\"../up:/up\"]",
            "nodes.x.volumes",
            "outside the project",
        ),
        (
            "volumes = [\"data:relative\"]",
            "nodes.x.volumes",
            "not an absolute path",
        ),
        ("memory = \"1m\"", "nodes.x.memory", "minimum of 6m"),
        ("memory = \"lots\"", "nodes.x.memory", "not a size"),
        ("cpus = 0", "nodes.x.cpus", "out of range"),
        ("pids = 0", "nodes.x.pids", "at least 1"),
        ("run = \"twice\"", "nodes.x.run", "unknown run"),
        (
            "tmpfs = [\"/t:uid=0\"]",
            "nodes.x.tmpfs",
            "unknown tmpfs option",
        ),
    ] {
        let p = Project::empty();
        p.file(
            "environments/e.toml",
            format!("[nodes.x]\nimage = \"debian:bookworm\"\n{bad}\n"),
        );
        let out = p.run(&["up", "e"]).expect(2);
        assert!(
            out.stderr.contains("environments/e.toml:3:")
                && out.stderr.contains(&format!("`{field}`"))
                && out.stderr.contains(says),
            "{bad}:\n{}",
            out.stderr
        );
        assert_eq!(p.leftovers(), Vec::<String>::new(), "{bad}");
    }
}

#[test]
fn up_of_some_nodes_starts_them_with_their_dependencies_and_verify_keeps_to_them() {
    let p = Project::empty();
    p.file(
        "environments/app.toml",
        format!("{JOBS}\n[nodes.cache]\nimage = \"debian:bookworm\"\ncommand = \"exec sleep infinity\"\n"),
    );
    p.file(
        "specs/app/app.toml",
        r#"
[[command]]
title = "web sees the schema"
node = "web"
run = "cat /data/schema"
stdout = ["create table rows"]

[[command]]
title = "cache runs"
node = "cache"
run = "true"
"#,
    );
    let up = p.run(&["up", "app", "web"]).expect(0);
    assert!(up.stderr.contains("not starting cache"), "{}", up.stderr);
    let started: Vec<String> = p
        .leftovers()
        .into_iter()
        .filter(|l| l.starts_with("container "))
        .collect();
    for node in ["db", "migrate", "web"] {
        assert!(
            started.iter().any(|c| c.contains(&format!(".{node}\""))),
            "{node} not started: {started:?}"
        );
    }
    assert!(!started.iter().any(|c| c.contains(".cache")), "{started:?}");

    let verify = p.run(&["verify", "app"]).expect(0);
    assert!(
        verify
            .stderr
            .contains("1 assertion about other nodes skipped"),
        "{}",
        verify.stderr
    );
    assert!(verify.stdout.contains("1 passed"), "{}", verify.stdout);
    // The full environment: every assertion runs again.
    p.run(&["up", "app"]).expect(0);
    let verify = p.run(&["verify", "app"]).expect(0);
    assert!(!verify.stderr.contains("skipped"), "{}", verify.stderr);
    assert!(verify.stdout.contains("2 passed"), "{}", verify.stdout);

    let unknown = p.run(&["up", "app", "nope"]).expect(2);
    assert!(
        unknown.stderr.contains("starts no node `nope`"),
        "{}",
        unknown.stderr
    );
    p.run(&["down", "app"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

/// `slow` becomes healthy only once `web` has started: waiting for its health first
/// (what `depends_on = ["slow"]` means) can never finish, waiting for its start can.
const STARTED: &str = r#"
[nodes.slow]
image = "debian:bookworm"
command = "exec sleep infinity"
volumes = ["shared:/shared"]
health = { command = "test -f /shared/web-started", timeout = "4s" }

[nodes.web]
image = "debian:bookworm"
depends_on = [DEP]
volumes = ["shared:/shared"]
command = "touch /shared/web-started && exec sleep infinity"
"#;

#[test]
fn a_dependency_written_as_started_is_waited_for_until_it_starts_only() {
    let p = Project::empty();
    p.file(
        "environments/s.toml",
        STARTED.replace("DEP", "\"slow:started\""),
    );
    p.run(&["up", "s"]).expect(0);
    p.run(&["down", "s"]).expect(0);
    p.file("environments/s.toml", STARTED.replace("DEP", "\"slow\""));
    let up = p.run(&["up", "s"]).expect(3);
    assert!(
        up.stderr.contains("`slow` did not become healthy"),
        "{}",
        up.stderr
    );
    p.run(&["down", "s"]).expect(0);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}
