//! `envctl doctor` on this machine's real engine, and against an engine that is not there.

use crate::common;
use common::Project;

/// The cgroup version the engine reports, asked directly.
fn engine_cgroup_version() -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let info = docker.info().await.expect("the engine answers");
        info.cgroup_version
            .expect("the engine reports it")
            .to_string()
    })
}

#[test]
fn doctor_passes_here_and_names_the_cgroup_version() {
    let p = Project::empty();
    let run = p.run(&["doctor"]).expect(0);
    let version = engine_cgroup_version();
    assert!(
        run.stdout.contains(&format!("cgroup v{version}")),
        "{}",
        run.output()
    );
    for check in [
        "engine",
        "cgroup",
        "systemd",
        "base image",
        "ansible",
        "puppet",
        "disk",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.get(6..).is_some_and(|rest| rest.starts_with(check))),
            "no `{check}` line:\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
}

#[test]
fn doctor_with_an_unreachable_engine_says_how_to_start_it_and_fails() {
    let p = Project::empty();
    // A socket nothing serves: bound once, then closed.
    let socket = p.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let host = format!("unix://{}", socket.display());
    let run = p.run_env(&["doctor"], &[("DOCKER_HOST", &host)]).expect(3);
    let out = run.output();
    assert!(out.contains("FAIL  engine"), "{out}");
    assert!(out.contains(&host), "{out}");
    assert!(
        out.contains("start the engine") && out.contains("systemctl start docker"),
        "{out}"
    );
    // Nothing that needs the engine is claimed to be fine.
    assert!(!out.contains("cgroup v"), "{out}");
}

#[test]
fn doctor_fails_a_project_whose_ansible_steps_cannot_run() {
    let p = Project::empty();
    p.file("site.yml", "- hosts: all\n  tasks: []\n");
    p.file(
        "environments/e.toml",
        "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ ansible = \"site.yml\" }]\n",
    );
    // A PATH without ansible-playbook: the project needs it, so doctor fails.
    let run = p
        .run_env(&["doctor"], &[("PATH", "/nonexistent")])
        .expect(3);
    assert!(run.stdout.contains("FAIL  ansible"), "{}", run.output());
    assert!(
        run.stdout.contains("apt-get install ansible"),
        "{}",
        run.output()
    );
    // With it, the same project passes.
    p.run(&["doctor"]).expect(0);
}
