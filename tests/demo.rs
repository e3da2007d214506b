//! The demo environment shipped in the repository: `envctl test demo` passes and
//! leaves nothing behind.

use crate::common;
use common::{leftovers, repo, unique_instance};
use std::process::Command;

#[test]
fn envctl_test_demo_passes_and_leaves_nothing() {
    let instance = unique_instance("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_envctl"))
        .arg("--root")
        .arg(repo())
        .args(["--instance", &instance, "test", "demo"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for name in [
        "proxy::home_page_through_the_proxy",
        "etcd::etcd_holds_the_app_s_upstream",
        "proxy::rendered_upstream_matches_the_etcd_key",
    ] {
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
