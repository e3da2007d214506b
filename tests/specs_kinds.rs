//! Every assertion kind against a real node: it passes when true and fails with a
//! precise expected-vs-actual message when false. Deadlines and retries too.

use crate::common;
use common::Project;

/// True facts about the `web` fixture's nodes (plain Debian, a perl HTTP server).
const TRUE_SPECS: &str = r#"
[[package]]
node = "web"
name = "perl-base"
versions = { semver = ">=5.30" }

[[package]]
node = "web"
name = "nginx"
installed = false

[[service]]
node = "web"
name = "perl"

[[process]]
node = "web"
name = "perl"

[[port]]
node = "web"
port = "tcp:8080"
ip = ["0.0.0.0"]

[[port]]
node = "web"
port = "udp:53"
listening = false

[[user]]
node = "web"
name = "www-data"
uid = 33
gid = { lt = 100 }
home = "/var/www"
shell = "!/bin/bash"
groups = ["www-data"]

[[group]]
node = "web"
name = "root"
gid = 0

[[dns]]
node = "client"
host = "web"
addrs = { have-len = 1 }

[[kernel-param]]
node = "web"
key = "kernel.ostype"
value = "Linux"

[[mount]]
node = "web"
path = "/proc"
filesystem = "proc"
opts = ["rw"]

[[interface]]
node = "web"
name = "eth0"
mtu = { and = [{ ge = 1000 }, { le = 65536 }] }
addrs = ["/^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$/"]

[[file]]
node = "web"
path = "/srv/www/marker.txt"
mode = "0640"
size = { gt = 0 }
contains = ["/^marker/"]

[[tcp]]
address = "web:8080"
from = "client"

[[http]]
title = "home page from the client"
url = "http://web:8080/"
from = "client"
body = ["hello from web"]

[[http]]
title = "response headers"
url = "http://web:8080/"
response_headers = ["/content-type: text/plain/i"]

[[http]]
title = "no redirect"
url = "http://web:8080/redirect"
no_redirect = true
status = 302
response_headers = ["/^location: \\//im"]

[[http]]
title = "json paths"
url = "http://web:8080/json"
json = { "$.name" = "web", "$.items[1].id" = { gt = 1 }, "$.ok" = true }
"#;

/// The same kinds, each made false, and a fragment of the message each must give.
const FALSE_SPECS: &[(&str, &str, &[&str])] = &[
    (
        "package",
        "node = \"web\"\nname = \"perl-base\"\nversions = { semver = \">=9\" }",
        &["package perl-base on web: `versions` does not match", "expected: versions semver >=9", "actual: versions [\"5."],
    ),
    (
        "package",
        "node = \"web\"\nname = \"nginx\"",
        &["package nginx on web", "expected: installed true", "actual: installed false"],
    ),
    ("service", "node = \"web\"\nname = \"nginx\"", &["service nginx on web", "actual: running false"]),
    ("process", "node = \"web\"\nname = \"nginx\"", &["process nginx on web", "actual: running false"]),
    ("port", "node = \"web\"\nport = \"tcp:9999\"", &["port tcp:9999 on web", "actual: listening false"]),
    ("port", "node = \"web\"\nport = \"tcp:8080\"\nip = [\"127.0.0.1\"]", &["expected: ip containing [\"127.0.0.1\"]", "actual: ip [\"0.0.0.0\"]"]),
    ("user", "node = \"web\"\nname = \"www-data\"\nuid = 34", &["user www-data on web", "expected: uid 34", "actual: uid 33"]),
    ("user", "node = \"web\"\nname = \"nosuchuser\"", &["user nosuchuser on web", "actual: exists false"]),
    ("group", "node = \"web\"\nname = \"root\"\ngid = { gt = 0 }", &["group root on web", "expected: gid > 0", "actual: gid 0"]),
    ("dns", "node = \"client\"\nhost = \"nosuchhost\"", &["dns nosuchhost on client", "actual: resolvable false"]),
    ("kernel-param", "node = \"web\"\nkey = \"kernel.ostype\"\nvalue = \"BSD\"", &["kernel-param kernel.ostype on web", "expected: value \"BSD\"", "actual: value \"Linux\""]),
    ("mount", "node = \"web\"\npath = \"/proc\"\nfilesystem = \"ext4\"", &["mount /proc on web", "actual: filesystem \"proc\""]),
    ("interface", "node = \"web\"\nname = \"eth9\"", &["interface eth9 on web", "actual: exists false"]),
    ("file", "node = \"web\"\npath = \"/srv/www/marker.txt\"\nmode = \"0600\"\ncontains = [\"nothing like this\"]", &["expected: mode \"0600\"", "actual: mode \"0640\"", "expected: contents to contain \"nothing like this\""]),
    ("tcp", "address = \"web:8081\"\nfrom = \"client\"", &["web:8081 from client is not reachable"]),
    ("http", "url = \"http://web:8080/\"\nfrom = \"client\"\nstatus = 404", &["wrong status", "expected: 404", "actual: 200"]),
    ("http", "url = \"http://web:8080/json\"\njson = { \"$.items[0].id\" = { ge = 5 } }", &["json $.items[0].id does not match", "expected: >= 5", "actual: 1"]),
    ("http", "url = \"http://web:8080/redirect\"\nstatus = 302", &["wrong status", "expected: 302", "actual: 200"]),
];

#[test]
fn every_kind_passes_when_true_and_fails_precisely_when_false() {
    let p = Project::fixture("web");
    p.file("specs/web/truths.toml", TRUE_SPECS);
    let mut lies = String::new();
    for (i, (kind, body, _)) in FALSE_SPECS.iter().enumerate() {
        lies.push_str(&format!("[[{kind}]]\ntitle = \"lie {i}\"\n{body}\n\n"));
    }
    p.file("specs/web/lies.toml", &lies);
    p.run(&["up"]).expect(0);

    let truths = p.run(&["verify", "truths::"]).expect(0);
    let count = TRUE_SPECS.matches("[[").count();
    assert!(
        truths.stdout.contains(&format!("{count} passed; 0 failed")),
        "{}",
        truths.stdout
    );

    let lies = p.run(&["verify", "lies::"]).expect(1);
    assert!(
        lies.stdout
            .contains(&format!("0 passed; {} failed", FALSE_SPECS.len())),
        "{}",
        lies.stdout
    );
    for (i, (kind, _, fragments)) in FALSE_SPECS.iter().enumerate() {
        let section = lies
            .stdout
            .split(&format!("---- lies::lie_{i} ----"))
            .nth(1)
            .unwrap_or_else(|| panic!("no failure for lie {i} ({kind}):\n{}", lies.stdout));
        let section = section.split("\n---- ").next().unwrap_or_default();
        for f in *fragments {
            assert!(
                section.contains(f),
                "lie {i} ({kind}): missing {f:?} in\n{section}"
            );
        }
    }
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty());
}

#[test]
fn a_hanging_probe_fails_at_its_deadline_without_holding_the_others() {
    let p = Project::fixture("web");
    // An init script whose `status` never answers hangs the service probe.
    p.file(
        "specs/web/hang.toml",
        r#"
[[command]]
title = "hangs"
node = "web"
run = "sleep 600"
timeout = "1s"

[[service]]
title = "service whose status hangs"
node = "web"
name = "hang"
timeout = "2s"

[[user]]
title = "user in the same batch"
node = "web"
name = "www-data"
timeout = "2s"

[[http]]
title = "slow page"
url = "http://web:8080/slow"
timeout = "1s"

[[file]]
title = "marker in the same batch"
node = "web"
path = "/srv/www/marker.txt"
timeout = "2s"
"#,
    );
    p.run(&["up"]).expect(0);
    p.run(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "printf '#!/bin/sh\\nsleep 600\\n' >/etc/init.d/hang && chmod +x /etc/init.d/hang",
    ])
    .expect(0);
    let out = p.run(&["verify", "hang::"]).expect(1);
    assert!(out.stdout.contains("2 passed; 3 failed"), "{}", out.stdout);
    assert!(
        out.stdout.contains("probing web did not finish within 1s"),
        "{}",
        out.stdout
    );
    assert_eq!(outcome(&out.stdout, "hang::slow_page"), Some("FAILED"));
    assert!(
        out.stdout
            .contains("`sleep 600` on web did not finish within 1s"),
        "{}",
        out.stdout
    );
    assert_eq!(
        outcome(&out.stdout, "hang::marker_in_the_same_batch"),
        Some("ok")
    );
    assert_eq!(
        outcome(&out.stdout, "hang::user_in_the_same_batch"),
        Some("ok")
    );
}

/// The result libtest printed for the assertion `name` (`ok`, `FAILED`).
fn outcome<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("test {name} ")))
        .and_then(|rest| rest.rsplit(' ').next())
}

#[test]
fn retry_timeout_waits_for_a_late_file() {
    let p = Project::fixture("web");
    p.file(
        "specs/web/late.toml",
        "[[file]]\ntitle = \"late file\"\nnode = \"web\"\npath = \"/tmp/late\"\n",
    );
    p.run(&["up"]).expect(0);
    p.run(&["verify", "late::"]).expect(1);
    p.run(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "(sleep 1; touch /tmp/late) >/dev/null 2>&1 &",
    ])
    .expect(0);
    let json = p.path().join("late.json");
    p.run(&[
        "verify",
        "late::",
        "--retry-timeout",
        "20s",
        "--json",
        json.to_str().unwrap(),
    ])
    .expect(0);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert!(
        report["results"][0]["attempts"].as_u64().unwrap() > 1,
        "{report}"
    );
}

#[test]
fn fact_specs_with_bad_attributes_are_invalid_input() {
    let p = Project::fixture("web");
    p.file(
        "specs/web/bad.toml",
        "[[user]]\nnode = \"web\"\nname = \"www-data\"\nuid = { bigger = 3 }\n\n[[port]]\nnode = \"web\"\nport = \"sctp:1\"\n\n[[package]]\nnode = \"web\"\nname = \"x\"\nversion = \"1\"\n",
    );
    let out = p.run(&["validate"]).expect(2);
    assert!(
        out.stderr.contains("specs/web/bad.toml:4:7"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown matcher `bigger`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown protocol `sctp`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("unknown attribute `version` for package"),
        "{}",
        out.stderr
    );
}

/// Probe execs (`exec_create` events whose command carries envctl's probe markers) per
/// container of `instance`, between two unix times.
fn probe_execs(
    instance: &str,
    since: u64,
    until: u64,
) -> std::collections::BTreeMap<String, usize> {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let filters = std::collections::HashMap::from([
            ("type", vec!["container"]),
            ("event", vec!["exec_create"]),
        ]);
        let label = format!("io.envctl.instance={instance}");
        let mut filters: std::collections::HashMap<String, Vec<String>> = filters
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
            .collect();
        filters.insert("label".into(), vec![label]);
        let options = bollard::query_parameters::EventsOptionsBuilder::new()
            .since(&since.to_string())
            .until(&until.to_string())
            .filters(&filters)
            .build();
        let mut stream = docker.events(Some(options));
        let mut counts = std::collections::BTreeMap::new();
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            let action = event.action.unwrap_or_default();
            if !action.contains("@@envctl") {
                continue;
            }
            let name = event
                .actor
                .and_then(|a| a.attributes)
                .and_then(|a| a.get("name").cloned())
                .unwrap_or_default();
            *counts.entry(name).or_insert(0) += 1;
        }
        counts
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn node_facts_and_commands_run_in_one_exec_per_node() {
    let p = Project::fixture("web");
    std::fs::remove_file(p.path().join("specs/web/web.toml")).unwrap();
    p.file("specs/web/truths.toml", TRUE_SPECS);
    p.file(
        "specs/web/commands.toml",
        r#"
[[command]]
title = "perl answers"
node = "web"
run = ["perl", "-e", "print 6*7"]
stdout = ["42"]

[[command]]
title = "exit code and stderr"
node = "web"
run = "echo oops >&2; exit 3"
exit = 3
stderr = ["oops"]
"#,
    );
    p.run(&["up"]).expect(0);
    let since = unix_now().saturating_sub(1);
    p.run(&["verify", "truths::", "commands::"]).expect(0);
    let until = unix_now() + 1;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let execs = probe_execs(&p.instance, since, until);
    // Twelve node facts and two commands on web make one exec; on client the dns fact is
    // its batch and the `tcp` sent `from = "client"` probes on its own.
    let web: Vec<_> = execs.iter().filter(|(n, _)| n.ends_with(".web")).collect();
    let client: Vec<_> = execs
        .iter()
        .filter(|(n, _)| n.ends_with(".client"))
        .collect();
    assert_eq!(web.len(), 1, "{execs:?}");
    assert_eq!(*web[0].1, 1, "{execs:?}");
    assert_eq!(client.len(), 1, "{execs:?}");
    assert_eq!(*client[0].1, 2, "dns batch + tcp from client: {execs:?}");
}

#[test]
fn jobs_bounds_the_commands_running_at_once_in_a_node() {
    let p = Project::fixture("web");
    std::fs::remove_file(p.path().join("specs/web/web.toml")).unwrap();
    // Each command holds a lock for a moment; one that finds it taken fails.
    let command = |n: usize| {
        format!(
            "[[command]]\ntitle = \"holder {n}\"\nnode = \"web\"\nrun = \"mkdir /tmp/lock || exit 9; sleep 0.5; rmdir /tmp/lock\"\n"
        )
    };
    p.file(
        "specs/web/locks.toml",
        (1..=3).map(command).collect::<Vec<_>>().join("\n"),
    );
    p.run(&["up"]).expect(0);
    // Side by side they collide; one at a time they do not.
    let together = p.run(&["verify"]).expect(1);
    assert!(
        together.output().contains("exited with the wrong code")
            && together.output().contains("actual: 9"),
        "{}",
        together.output()
    );
    p.run(&["verify", "--jobs", "1"]).expect(0);
    p.run(&["down"]).expect(0);
}
