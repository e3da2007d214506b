//! The repository's production-like examples, for real: an Ansible playbook that installs
//! nginx as an enabled systemd service with a templated page (nodes from the production
//! inventory, scaled down), and a Puppet module that runs redis under systemd. Both pass
//! `envctl test` (up, idempotence check, specs, down) and leave nothing behind.

use crate::common;
use common::{leftovers, repo, unique_instance};
use std::process::Command;

fn envctl_test(env: &str, specs: &[&str]) {
    let instance = unique_instance(env);
    let out = Command::new(env!("CARGO_BIN_EXE_envctl"))
        .arg("--root")
        .arg(repo())
        .args(["--instance", &instance, "test", env])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains(": idempotent ("), "{stderr}");
    for name in specs {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("test {name} ")) && l.ends_with("... ok")),
            "{name} did not pass:\n{stdout}"
        );
    }
    assert!(
        leftovers(&instance).is_empty(),
        "{:?}",
        leftovers(&instance)
    );
}

#[test]
fn ansible_example_serves_its_templated_page_from_enabled_nginx_under_systemd() {
    envctl_test(
        "web-ansible",
        &[
            "nginx::the_templated_home_page_is_served",
            "nginx::nginx_is_enabled_at_boot",
            "nginx::nginx_runs_under_systemd",
            "nginx::systemd_is_pid_1",
        ],
    );
}

#[test]
fn puppet_example_runs_configured_redis_under_systemd() {
    envctl_test(
        "cache-puppet",
        &[
            "redis::redis_answers_pong",
            "redis::the_configured_memory_limit_is_live",
            "redis::redis_server_is_enabled_and_active_under_systemd",
            "redis::configuration_comes_from_the_module_s_template",
            "redis::the_vendored_sysctl_module_sets_overcommit_for_redis",
        ],
    );
}

#[test]
fn salt_example_serves_its_pillar_page_from_enabled_nginx_under_systemd() {
    envctl_test(
        "salt-nginx",
        &[
            "nginx::the_page_from_the_pillar_is_served",
            "nginx::nginx_is_enabled_at_boot",
            "nginx::nginx_runs_under_systemd",
            "nginx::the_page_comes_from_the_state_s_template",
        ],
    );
}
