//! `up --watch` and `test --watch` on a real engine, driven as a user would: envctl runs
//! in the background, the test edits files and reads what envctl prints. Editing a
//! node's template provisions again exactly that node (the other keeps its container)
//! and runs only the specs about it; editing a file under a `sync` rule copies it into
//! the running node and runs the rule's `then`, without provisioning; a broken edit is
//! reported and watching goes on; Ctrl-C stops (`up` leaves the environment up, `test`
//! removes it).

use crate::common;
use common::{container_ids, Project};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// envctl running in the background, its stdout and stderr read line by line.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
    all: Vec<String>,
}

impl Watching {
    fn start(p: &Project, args: &[&str]) -> Watching {
        let mut child = Command::new(env!("CARGO_BIN_EXE_envctl"))
            .arg("--root")
            .arg(p.path())
            .arg("--instance")
            .arg(&p.instance)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        fn pump(from: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
            std::thread::spawn(move || {
                for line in BufReader::new(from).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        pump(child.stdout.take().unwrap(), tx.clone());
        pump(child.stderr.take().unwrap(), tx);
        Watching {
            child,
            lines,
            all: Vec::new(),
        }
    }

    /// The lines printed from now until one containing `wanted` (included).
    fn until(&mut self, wanted: &str) -> Vec<String> {
        self.until_all(&[wanted])
    }

    /// The lines printed from now until, for each of `wanted`, a line containing it was
    /// seen (in any order: stdout and stderr are two pipes).
    fn until_all(&mut self, wanted: &[&str]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut got = Vec::new();
        let mut missing: Vec<&str> = wanted.to_vec();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.all.push(line.clone());
                    missing.retain(|w| !line.contains(w));
                    got.push(line);
                    if missing.is_empty() {
                        return got;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {missing:?}; envctl printed:\n{}",
            self.all.join("\n")
        );
    }

    /// Ctrl-C; the exit code.
    fn interrupt(mut self) -> (i32, Vec<String>) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.lines.try_iter().collect();
        (status.code().unwrap_or(-1), rest)
    }
}

/// Removes the instance when the test ends, passed or not (a failed assertion leaves the
/// watched environment up otherwise).
struct DownAtEnd<'a>(&'a Project);

impl Drop for DownAtEnd<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.run(&["down", "site"]);
        }
    }
}

fn project() -> Project {
    let p = Project::empty();
    p.file(
        "environments/site.toml",
        r#"
[nodes.web]
image = "debian:bookworm"
command = "sleep infinity"
provision = [{ template = "templates/page.j2", to = "/srv/page.txt" }]
sync = [{ from = "app", to = "/srv/app", then = "cp /srv/app/version /srv/restarted-with" }]

[nodes.api]
image = "debian:bookworm"
command = "sleep infinity"
provision = [{ template = "templates/api.j2", to = "/srv/api.txt" }]
"#,
    );
    p.file("templates/page.j2", "page v1\n");
    p.file("templates/api.j2", "api v1\n");
    p.file("app/version", "app v1\n");
    p.file(
        "specs/site/web.toml",
        "[[command]]\ntitle = \"web has its page\"\nnode = \"web\"\nrun = \"cat /srv/page.txt\"\nstdout = [\"page\"]\n\n[[command]]\ntitle = \"web restarted with the synced app\"\nnode = \"web\"\nrun = \"cat /srv/restarted-with\"\nstdout = [\"app\"]\n",
    );
    p.file(
        "specs/site/api.toml",
        "[[command]]\ntitle = \"api has its page\"\nnode = \"api\"\nrun = \"cat /srv/api.txt\"\nstdout = [\"api\"]\n",
    );
    p
}

fn cat(p: &Project, node: &str, path: &str) -> String {
    p.run(&["exec", "site", node, "--", "cat", path])
        .expect(0)
        .stdout
        .trim()
        .to_string()
}

fn id_of(p: &Project, node: &str) -> String {
    container_ids(&p.instance)
        .into_iter()
        .find(|(name, _)| name.ends_with(&format!(".{node}")))
        .map(|(_, id)| id)
        .unwrap_or_else(|| panic!("no container of {node}: {:?}", container_ids(&p.instance)))
}

#[test]
fn up_watch_reprovisions_exactly_the_edited_node_and_syncs_application_files() {
    let p = project();
    let _down = DownAtEnd(&p);
    let mut w = Watching::start(&p, &["up", "--watch", "site"]);
    let first = w.until("watching");
    assert!(
        first
            .iter()
            .any(|l| l
                == "web: synced app -> /srv/app, then `cp /srv/app/version /srv/restarted-with`"),
        "{first:#?}"
    );
    assert_eq!(cat(&p, "web", "/srv/restarted-with"), "app v1");
    let (web, api) = (id_of(&p, "web"), id_of(&p, "api"));

    // A template of `web`: web alone is provisioned again, restarted, its sync rule
    // applied to the new container, and verified. (stdout and stderr are two pipes: the
    // round is read to the end of both.)
    p.file("templates/page.j2", "page v2\n");
    let round = w.until_all(&["test result:", "still watching"]);
    assert!(
        round.iter().any(
            |l| l.starts_with("test web::web_restarted_with_the_synced_app ")
                && l.ends_with("... ok")
        ),
        "the new container has the synced files: {round:#?}"
    );
    assert!(
        round.iter().any(|l| l == "changed: templates/page.j2"),
        "{round:#?}"
    );
    assert!(
        round
            .iter()
            .any(|l| l == "web: inputs changed; provisioning again"),
        "{round:#?}"
    );
    assert!(
        round
            .iter()
            .any(|l| l.starts_with("test web::web_has_its_page ") && l.ends_with("... ok")),
        "{round:#?}"
    );
    assert!(!round.iter().any(|l| l.contains("api::")), "{round:#?}");
    assert_eq!(cat(&p, "web", "/srv/page.txt"), "page v2");
    assert_ne!(id_of(&p, "web"), web, "web was not recreated");
    assert_eq!(id_of(&p, "api"), api, "api was recreated");
    let web = id_of(&p, "web");

    // An application file under the sync rule: copied into the running node, `then`
    // run, no provisioning, web's specs again.
    p.file("app/version", "app v2\n");
    let round = w.until_all(&["test result:", "still watching"]);
    assert!(
        round
            .iter()
            .any(|l| l.starts_with("web: synced app -> /srv/app")),
        "{round:#?}"
    );
    assert!(
        !round.iter().any(|l| l.contains("provisioning again")),
        "{round:#?}"
    );
    assert!(
        round.iter().any(
            |l| l.starts_with("test web::web_restarted_with_the_synced_app ")
                && l.ends_with("... ok")
        ),
        "{round:#?}"
    );
    assert_eq!(cat(&p, "web", "/srv/app/version"), "app v2");
    assert_eq!(cat(&p, "web", "/srv/restarted-with"), "app v2");
    assert_eq!(id_of(&p, "web"), web);

    // A broken definition is reported at its line, and watching goes on.
    let good = std::fs::read_to_string(p.path().join("environments/site.toml")).unwrap();
    p.file(
        "environments/site.toml",
        format!("{good}\n[nodes.api]\nimage = 3\n"),
    );
    let round = w.until("still watching");
    assert!(
        round.iter().any(|l| l.contains("environments/site.toml:")),
        "{round:#?}"
    );
    p.file("environments/site.toml", &good);
    w.until("still watching");

    let (code, _) = w.interrupt();
    assert_eq!(code, 0);
    assert_eq!(id_of(&p, "web"), web, "the environment stays up");
    p.run(&["down", "site"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn test_watch_checks_again_after_an_edit_and_ctrl_c_removes_the_instance() {
    let p = project();
    let _down = DownAtEnd(&p);
    let mut w = Watching::start(&p, &["test", "--watch", "site"]);
    let first = w.until_all(&["test result:", ": watching "]);
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("test api::api_has_its_page ") && l.ends_with("... ok")),
        "{first:#?}"
    );
    p.file("templates/api.j2", "no longer\n");
    let round = w.until_all(&["test result:", "still watching"]);
    assert!(
        round
            .iter()
            .any(|l| l == "api: inputs changed; provisioning again"),
        "{round:#?}"
    );
    assert!(
        round.iter().any(|l| l.contains(": idempotent (")),
        "the idempotence check ran again: {round:#?}"
    );
    // The spec about api fails now, and says so; web's specs did not run.
    assert!(
        round
            .iter()
            .any(|l| l.starts_with("test api::api_has_its_page ") && l.ends_with("... FAILED")),
        "{round:#?}"
    );
    assert!(!round.iter().any(|l| l.contains("web::")), "{round:#?}");
    let (code, rest) = w.interrupt();
    assert_eq!(code, 1, "the last round failed: {rest:#?}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

impl Drop for Watching {
    fn drop(&mut self) {
        // A failed assertion must not leave envctl watching.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
