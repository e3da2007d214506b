//! A router switched by a template alone (no key-value store): envctl renders the
//! upstream config into the router and reloads it. The demo's nginx is switched this way
//! here, with its etcd keys left as they were.

use crate::common;
use common::Project;
use std::path::Path;

/// The config render-upstream writes from etcd, as a template for either colour (the
/// preview listener, with no preview key, routes to the live colour too).
fn template() -> String {
    std::fs::read_to_string(common::repo().join("provision/demo/proxy/upstream.conf.tmpl"))
        .unwrap()
        .replace("{{prefix}}", "/services/app")
        .replace("{{upstream}}", "{{node}}:8000")
        .replace("{{preview}}", "{{node}}:8000")
}

const PROMOTE: &str = r#"[promote.app]
colours = { blue = "app-blue", green = "app-green" }
router = "proxy"
template = "provision/demo/proxy/app.conf.tmpl"
to = "/etc/nginx/conf.d/app.conf"
reload = "nginx -t -q && nginx -s reload"
serves = { url = "http://proxy:80/", body = "({{node}}:8000)" }
specs = ["app"]
router_specs = []
"#;

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn rendered_upstream(p: &Project) -> String {
    p.run(&[
        "exec",
        "demo",
        "proxy",
        "--",
        "grep",
        "-m1",
        "server app-",
        "/etc/nginx/conf.d/app.conf",
    ])
    .expect(0)
    .stdout
    .trim()
    .to_string()
}

#[test]
fn a_template_switch_promotes_and_rolls_back_without_a_failed_request() {
    let p = Project::empty();
    let repo = common::repo();
    for dir in ["environments", "provision/demo", "specs/demo"] {
        copy(&repo.join(dir), &p.path().join(dir));
    }
    let demo = std::fs::read_to_string(repo.join("environments/demo.toml")).unwrap();
    let nodes = demo.split("[promote.app]").next().unwrap();
    p.file("environments/demo.toml", format!("{nodes}{PROMOTE}"));
    p.file("provision/demo/proxy/app.conf.tmpl", template());
    p.run(&["up", "demo"]).expect(0);
    assert_eq!(rendered_upstream(&p), "server app-blue:8000;");
    p.run(&[
        "promote",
        "demo",
        "app",
        "--release",
        "GREETING=templated",
        "--probe",
        "http://proxy:80/",
    ])
    .expect(0);
    assert_eq!(rendered_upstream(&p), "server app-green:8000;");
    p.run(&["rollback", "demo", "app", "--probe", "http://proxy:80/"])
        .expect(0);
    assert_eq!(rendered_upstream(&p), "server app-blue:8000;");
    let history = p.run(&["history", "demo", "--json"]).expect(0).stdout;
    let records: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["exit"], 0, "{r}");
        assert_eq!(r["probe"]["failed"], 0, "{r}");
        assert!(r["probe"]["sent"].as_u64().unwrap() > 0, "{r}");
    }
    p.run(&["down", "demo"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_probe_that_is_not_an_http_url_is_invalid_input() {
    let p = Project::empty();
    let repo = common::repo();
    for dir in ["environments", "provision/demo", "specs/demo"] {
        copy(&repo.join(dir), &p.path().join(dir));
    }
    let err = p
        .run(&[
            "promote",
            "demo",
            "app",
            "--release",
            "A=1",
            "--probe",
            "proxy:80",
        ])
        .expect(2)
        .stderr;
    assert!(err.contains("--probe `proxy:80`"), "{err}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
