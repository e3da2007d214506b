//! Symlink releases on the static-site example (environments/static-site.toml): releases
//! copied into /srv/site/releases/VERSION on the web node, /srv/site/current repointed,
//! nginx reloaded, every release verified by its specs; a release failing them is undone,
//! rollback repoints the link, old releases beyond `keep` go, and the history names
//! every version. An independent client (tests/clients/http_client.py) reads the site
//! during the good releases.

use crate::common;
use common::{Answer, HttpClient, Project};
use std::process::Command;

const ENV: &str = "static-site";

/// A copy of the example, modes kept.
fn example() -> Project {
    let p = Project::empty();
    let repo = common::repo();
    for file in [
        "environments/static-site.toml",
        "provision/demo/install.sh",
        "provision/static-site/site.conf",
        "specs/static-site/site.toml",
        "site/index.html",
        "site/version.txt",
    ] {
        p.file(file, std::fs::read(repo.join(file)).unwrap());
        let mode = std::fs::metadata(repo.join(file)).unwrap().permissions();
        std::fs::set_permissions(p.path().join(file), mode).unwrap();
    }
    p
}

/// A release's files: the page names its release on its first line.
fn write_release(p: &Project, dir: &str, n: &str, title: &str) {
    p.file(
        &format!("{dir}/index.html"),
        format!("<!doctype html><title>{title}</title><p>release {n}</p>\n"),
    );
    p.file(&format!("{dir}/version.txt"), format!("release {n}\n"));
}

fn git(p: &Project, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(p.path())
        .args([
            "-c",
            "user.name=envctl tests",
            "-c",
            "user.email=tests@envctl.invalid",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn site_url(p: &Project) -> String {
    format!(
        "http://127.0.0.1:{}/",
        common::published_port(p, ENV, "web", 80)
    )
}

/// `/version.txt` as clients get it.
fn served(p: &Project) -> String {
    let out = Command::new("curl")
        .args(["-s", "-m", "10"])
        .arg(format!("{}version.txt", site_url(p)))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn in_web(p: &Project, command: &[&str]) -> String {
    let mut args = vec!["exec", ENV, "web", "--"];
    args.extend(command);
    p.run(&args).expect(0).stdout
}

/// The release directories on the node, oldest first.
fn releases(p: &Project) -> Vec<String> {
    in_web(p, &["ls", "-1", "/srv/site/releases"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn current(p: &Project) -> String {
    in_web(p, &["readlink", "/srv/site/current"])
        .trim()
        .to_string()
}

fn history(p: &Project) -> Vec<serde_json::Value> {
    p.run(&["history", ENV, "--json"])
        .expect(0)
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn promote(p: &Project, release: &str) -> common::Run {
    p.run(&["promote", ENV, "site", "--release", release])
}

/// Every answer a 200 from the site.
fn assert_all_served(answers: &[Answer]) {
    assert!(answers.len() > 5, "too few answers: {}", answers.len());
    let bad: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status != 200 || !a.body.contains("<title>envctl static site</title>"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} failed: {:?}",
        bad.len(),
        answers.len(),
        &bad[..bad.len().min(5)]
    );
}

#[test]
fn releases_go_live_through_the_symlink_and_roll_back_verified() {
    let p = example();
    p.run(&["up", ENV]).expect(0);
    // Nothing is live yet: nothing to roll back to (invalid request, nothing touched).
    let err = p.run(&["rollback", ENV, "site"]).expect(2).stderr;
    assert!(err.contains("nothing to roll back"), "{err}");

    // 1. A directory (a build's output).
    write_release(&p, "build/one", "1", "envctl static site");
    promote(&p, "build/one").expect(0);
    assert_eq!(served(&p), "release 1");
    let first = history(&p).last().unwrap()["to"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(current(&p), format!("/srv/site/releases/{first}"));

    // 2. A git revision of the project's site/ directory, read by a client meanwhile.
    write_release(&p, "site", "2", "envctl static site");
    git(&p, &["init", "-q"]);
    git(&p, &["add", "site"]);
    git(&p, &["commit", "-q", "-m", "site release 2"]);
    // The working tree moves on; the revision is what is released.
    write_release(&p, "site", "uncommitted", "envctl static site");
    let client = HttpClient::start(&site_url(&p));
    promote(&p, "git:HEAD").expect(0);
    assert_all_served(&client.stop());
    assert_eq!(served(&p), "release 2");
    let second = history(&p).last().unwrap()["to"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);

    // 3. A release failing its specs is undone: the link is back, its copy gone.
    write_release(&p, "build/broken", "broken", "an error page");
    let err = promote(&p, "build/broken").expect(1).stderr;
    assert!(err.contains("failed its specs"), "{err}");
    assert!(err.contains(&format!("back on {second}")), "{err}");
    assert_eq!(served(&p), "release 2");
    assert_eq!(releases(&p), [first.clone(), second.clone()]);

    // 4. Rollback: back to the first release, verified.
    p.run(&["rollback", ENV, "site"]).expect(0);
    assert_eq!(served(&p), "release 1");
    assert_eq!(current(&p), format!("/srv/site/releases/{first}"));

    // 5. Two more releases; `keep = 3` removes the oldest, never the live one.
    let client = HttpClient::start(&site_url(&p));
    write_release(&p, "build/three", "3", "envctl static site");
    promote(&p, "build/three").expect(0);
    write_release(&p, "build/four", "4", "envctl static site");
    promote(&p, "build/four").expect(0);
    assert_all_served(&client.stop());
    assert_eq!(served(&p), "release 4");
    let records = history(&p);
    let third = records[records.len() - 2]["to"]
        .as_str()
        .unwrap()
        .to_string();
    let fourth = records[records.len() - 1]["to"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        releases(&p),
        [second.clone(), third.clone(), fourth.clone()]
    );

    // The history names every version: from, to, outcome, each verified by the specs.
    let seen: Vec<(String, String, String, u64)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["from"].as_str().unwrap_or("").to_string(),
                r["to"].as_str().unwrap().to_string(),
                r["exit"].as_u64().unwrap(),
            )
        })
        .collect();
    let broken = seen[2].2.clone();
    let expected = [
        ("promote", "", first.as_str(), 0),
        ("promote", first.as_str(), second.as_str(), 0),
        ("promote", second.as_str(), broken.as_str(), 1),
        ("rollback", second.as_str(), first.as_str(), 0),
        ("promote", first.as_str(), third.as_str(), 0),
        ("promote", third.as_str(), fourth.as_str(), 0),
    ];
    let expected: Vec<(String, String, String, u64)> = expected
        .iter()
        .map(|(a, f, t, e)| (a.to_string(), f.to_string(), t.to_string(), *e))
        .collect();
    assert_eq!(seen, expected);
    for r in &records {
        let specs = r["specs"].as_array().unwrap();
        assert!(!specs.is_empty(), "{r}");
        let all_passed = specs.iter().all(|s| s["passed"] == true);
        assert_eq!(all_passed, r["exit"] == 0, "{r}");
    }
    assert!(
        records[1]["release"]["source"]
            .as_str()
            .unwrap()
            .starts_with("git "),
        "{}",
        records[1]
    );
    assert_eq!(records[0]["release"]["source"], "build/one");
    let text = p.run(&["history", ENV]).expect(0).stdout;
    for v in [&first, &second, &broken, &third, &fourth] {
        assert!(text.contains(v.as_str()), "{v} not in\n{text}");
    }
    assert!(text.contains("rolled back"), "{text}");

    p.run(&["down", ENV]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
