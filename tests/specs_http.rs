//! http extras against a real nginx serving https with a self-signed certificate:
//! insecure TLS, redirects followed through published ports, and no-redirect.

use crate::common;
use common::Project;

#[test]
fn https_insecure_and_redirects_pass_when_true_and_fail_when_false() {
    let p = Project::fixture("tls");
    p.run(&["up"]).expect(0);
    let out = p.run(&["verify"]).expect(0);
    assert!(out.stdout.contains("3 passed; 0 failed"), "{}", out.stdout);

    p.file(
        "specs/tls/lies.toml",
        r#"
[[http]]
title = "strict tls"
url = "https://tls:443/"

[[http]]
title = "followed redirect is not a 301"
url = "https://tls:443/moved"
insecure = true
status = 301
"#,
    );
    let out = p.run(&["verify", "lies::"]).expect(1);
    assert!(out.stdout.contains("0 passed; 2 failed"), "{}", out.stdout);
    assert!(
        out.stdout.contains("invalid peer certificate"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("expected: 301") && out.stdout.contains("actual: 200"),
        "{}",
        out.stdout
    );
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty());
}
