//! Compose files as a source of nodes, on a real engine: three public compose files run
//! as published with envctl's specs and keys on top, two more refused at the lines of the
//! keys envctl does not read, and the keys compose users rely on (jobs, health checks,
//! limits, env files, interpolation, profiles, subsets) in both directions.

use crate::common;

use common::{fixtures, Project};
use std::process::Command;
use std::sync::Once;

/// Builds the stand-ins for the images the public files name (no registry is
/// reachable), once per run of this suite; the engine's build cache makes later runs quick.
fn stand_ins() {
    static BUILT: Once = Once::new();
    BUILT.call_once(|| {
        let dir = fixtures().join("compose/stand-ins");
        let build = |tag: &str, context: &str, args: &[&str]| {
            let out = Command::new("docker")
                .args(["build", "-q", "-t", tag])
                .args(args)
                .arg(dir.join(context))
                .output()
                .expect("docker runs");
            assert!(
                out.status.success(),
                "building {tag}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let tag = |from: &str, to: &str| {
            let ok = Command::new("docker")
                .args(["tag", from, to])
                .status()
                .expect("docker runs")
                .success();
            assert!(ok, "tagging {to}");
        };
        build("envctl-standin/postgres", "postgres", &[]);
        build("envctl-standin/redis", "redis", &[]);
        for to in ["postgres:18", "postgres:alpine"] {
            tag("envctl-standin/postgres", to);
        }
        tag("envctl-standin/redis", "redis:8");
        for (image, app, port) in [
            (
                "ghcr.io/paperless-ngx/paperless-ngx:latest",
                "paperless",
                "8000",
            ),
            ("gitea/gitea:latest", "gitea", "3000"),
            ("nextcloud:apache", "nextcloud", "80"),
        ] {
            let app = format!("APP={app}");
            let port = format!("PORT={port}");
            build(
                image,
                "webapp",
                &["--build-arg", &app, "--build-arg", &port],
            );
        }
    });
}

/// `envctl test ENV` on the public file of `tests/fixtures/compose/ENV`: every spec
/// passes, and nothing is left.
fn runs_with_its_specs(env: &str, assertions: usize) {
    stand_ins();
    let p = Project::fixture(&format!("compose/{env}"));
    let run = p.run(&["test", env]);
    let out = run.output();
    run.expect(0);
    assert!(
        out.contains(&format!("test result: ok. {assertions} passed; 0 failed")),
        "{out}"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn paperless_web_server_database_and_broker_run_from_their_compose_file() {
    runs_with_its_specs("paperless", 5);
}

#[test]
fn gitea_and_postgres_run_from_their_compose_file() {
    runs_with_its_specs("gitea", 3);
}

#[test]
fn nextcloud_runs_from_its_compose_file_scaled_down_in_memory() {
    runs_with_its_specs("nextcloud", 2);
}

/// A public file with keys envctl does not read is refused, each key at its line.
fn refused(env: &str, expected: &[&str]) {
    let p = Project::fixture(&format!("compose/{env}"));
    let run = p.run(&["up", env]);
    let out = run.output();
    run.expect(2);
    for line in expected {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn keys_envctl_does_not_read_are_refused_at_their_lines() {
    refused(
        "odoo",
        &[
            "compose.yaml:4:9: `services.odoo.platform`: envctl does not read this compose key",
            "compose.yaml:5:9: `services.odoo.container_name`",
            "compose.yaml:8:9: `services.odoo.tty`",
            "compose.yaml:9:9: `services.odoo.stdin_open`",
            "compose.yaml:21:9: `services.postgres.container_name`",
            "compose.yaml:16:15: `services.odoo.volumes`: `./conf` does not exist in the project",
        ],
    );
    refused(
        "nginx-nodejs-redis",
        &[
            "docker-compose.yml:10:5: `services.web1.hostname`: envctl does not read this compose key",
            "docker-compose.yml:16:5: `services.web2.hostname`",
        ],
    );
}

/// A stack written the way compose users write one: a migration job the web server waits
/// for, a database with a health check, an env file, `${VAR}` from `.env`, limits, a
/// profile and a restart policy.
const STACK: &str = r#"
x-base: &base
  image: debian:bookworm
  restart: "no"
services:
  db:
    <<: *base
    command: ["sh", "-c", "sleep 1 && touch /tmp/up && exec sleep infinity"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/up"]
      interval: 1s
      timeout: 1s
      retries: 5
    volumes:
      - data:/var/lib/data
  migrate:
    <<: *base
    command: sh -c 'echo "create table ${TABLE}" > /var/lib/data/schema && echo migrated'
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - data:/var/lib/data
  web:
    <<: *base
    entrypoint: ["sh", "-c"]
    command: ["cat /var/lib/data/schema && exec sleep infinity"]
    env_file: web.env
    environment:
      GREETING: "hello ${WHO:-world}"
    depends_on:
      migrate:
        condition: service_completed_successfully
    deploy:
      replicas: 1
      resources:
        limits:
          memory: 64M
          pids: 50
    tmpfs: /scratch
    volumes:
      - data:/var/lib/data:ro
  debug:
    <<: *base
    command: sleep infinity
    profiles: [debug]
volumes:
  data:
"#;

fn stack() -> Project {
    let p = Project::empty();
    p.file("compose.yaml", STACK);
    p.file(".env", "TABLE=accounts\n");
    p.file("web.env", "# settings\nMODE=\"small copy\"\n");
    p.file("environments/stack.toml", "compose = \"compose.yaml\"\n");
    p.file(
        "environments/debug.toml",
        "extends = \"stack\"\ncompose = { file = \"compose.yaml\", profiles = [\"debug\"] }\n",
    );
    p
}

fn exec(p: &Project, env: &str, node: &str, script: &str) -> String {
    let run = p.run(&["exec", env, node, "--", "sh", "-c", script]);
    let out = run.stdout.clone();
    run.expect(0);
    out
}

#[test]
fn compose_keys_become_the_envctl_keys_they_mean() {
    let p = stack();
    let up = p.run(&["up", "stack"]);
    let out = up.output();
    up.expect(0);
    assert!(!out.contains("debug"), "a profile's service ran:\n{out}");
    // The job ran after the database was healthy, and the web server after the job.
    let web = exec(
        &p,
        "stack",
        "web",
        "cat /var/lib/data/schema; echo \"$GREETING|$MODE\"",
    );
    assert!(web.contains("create table accounts"), "{web}");
    assert!(web.contains("hello world|small copy"), "{web}");
    let limits = exec(
        &p,
        "stack",
        "web",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; mount | grep -c ' /scratch type tmpfs'; touch /var/lib/data/x 2>&1 || echo read-only",
    );
    assert!(limits.contains("67108864"), "{limits}");
    assert!(limits.contains("50"), "{limits}");
    assert!(limits.contains("read-only"), "{limits}");
    let status = p.run(&["status", "stack"]);
    assert!(status.stdout.contains("completed"), "{}", status.stdout);
    // Unchanged, the job does not run again.
    let again = p.run(&["up", "stack"]);
    assert!(
        again.output().contains("job `migrate` completed earlier"),
        "{}",
        again.output()
    );
    again.expect(0);
    p.run(&["down", "stack"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());

    // The profile's environment has the debug service too.
    let debug = p.run(&["up", "debug"]);
    debug.expect(0);
    assert!(exec(&p, "debug", "debug", "echo here").contains("here"));
    p.run(&["down", "debug"]).expect(0);
}

#[test]
fn a_subset_of_a_compose_stack_starts_what_it_needs() {
    let p = stack();
    let up = p.run(&["up", "stack", "migrate"]);
    up.expect(0);
    let status = p.run(&["status", "stack"]).stdout;
    assert!(
        status.contains("db") && status.contains("migrate"),
        "{status}"
    );
    assert!(!status.lines().any(|l| l.starts_with("web")), "{status}");
    p.run(&["down", "stack"]).expect(0);
}

#[test]
fn a_failing_health_check_and_a_failing_job_fail_up() {
    let p = Project::empty();
    p.file(
        "compose.yaml",
        "services:\n  db:\n    image: debian:bookworm\n    command: sleep infinity\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      timeout: 1s\n      retries: 1\n",
    );
    p.file("environments/e.toml", "compose = \"compose.yaml\"\n");
    let up = p.run(&["up", "e"]);
    let out = up.output();
    up.expect(3);
    assert!(out.contains("db"), "{out}");
    p.run(&["down", "e"]).expect(0);

    p.file(
        "compose.yaml",
        "services:\n  migrate:\n    image: debian:bookworm\n    command: sh -c 'echo no such table >&2; exit 4'\n  web:\n    image: debian:bookworm\n    command: sleep infinity\n    depends_on:\n      migrate:\n        condition: service_completed_successfully\n",
    );
    let up = p.run(&["up", "e"]);
    let out = up.output();
    up.expect(3);
    assert!(out.contains("job `migrate` failed: exit code 4"), "{out}");
    assert!(out.contains("no such table"), "{out}");
    p.run(&["down", "e"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
