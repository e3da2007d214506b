//! `envctl doctor`: why this machine does or does not run envctl. [`probe`] gathers
//! facts (the engine, cgroups, images, host tools, disk space); the functions here judge
//! them, each problem with the fix a person can type. Pure, so both directions of every
//! judgement are unit-tested without an engine.

pub mod probe;

use crate::backend::docker::engine_info::{EngineFacts, EngineKind};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Works, but something a project may need is missing or unproven.
    Warn,
    /// envctl cannot work here until it is fixed.
    Fail,
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked: `engine`, `cgroup`, `systemd`...
    pub check: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    /// What to do about it; always present unless the outcome is [`Outcome::Ok`].
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            outcome: Outcome::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn problem(
        check: &'static str,
        outcome: Outcome,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            outcome,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Whether the machine is healthy: no finding failed.
pub fn healthy(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.outcome != Outcome::Fail)
}

/// The engine answered (or not).
pub fn engine(result: &Result<EngineFacts, String>, endpoint: &str) -> Finding {
    match result {
        Ok(f) => {
            let name = match f.kind {
                EngineKind::Podman => "Podman (Docker-compatible API)",
                _ => "Docker Engine",
            };
            let os = if f.os.is_empty() {
                String::new()
            } else {
                format!(", on {}", f.os)
            };
            Finding::ok(
                "engine",
                format!("{name} {}, {} ({}){os}", f.version, f.kind, f.endpoint),
            )
        }
        Err(reason) => {
            let fix = if endpoint == "unix:///var/run/docker.sock" {
                "start it: `sudo systemctl start docker` (or `sudo dockerd &` where systemd does not run); `./dev setup` installs and starts it".to_string()
            } else {
                format!("start the engine that DOCKER_HOST names ({endpoint}), or unset DOCKER_HOST to use the local one (`sudo systemctl start docker`, or `sudo dockerd &`)")
            };
            Finding::problem(
                "engine",
                Outcome::Fail,
                format!("cannot reach the engine at {endpoint}: {reason}"),
                fix,
            )
        }
    }
}

/// The engine host's cgroup version.
pub fn cgroup(facts: &EngineFacts) -> Finding {
    match facts.cgroup_version {
        Some(v) => Finding::ok("cgroup", format!("cgroup v{v}")),
        None => Finding::problem(
            "cgroup",
            Outcome::Warn,
            "the engine does not say which cgroup version its host uses",
            "systemd nodes may not boot; `docker info` shows the engine's cgroup driver",
        ),
    }
}

/// What is known about booting `init = "systemd"` nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemdBoot {
    /// A systemd node was booted just now.
    Booted { image: String, millis: u128 },
    /// Booting one failed.
    Failed { image: String, reason: String },
    /// No systemd image exists yet to boot (it is derived on first use).
    NotTried,
}

/// Whether systemd nodes boot on this engine.
pub fn systemd(boot: &SystemdBoot, cgroup_version: Option<u8>) -> Finding {
    match boot {
        SystemdBoot::Booted { image, millis } => Finding::ok(
            "systemd",
            format!("systemd nodes boot: {image} booted to `running` in {millis} ms"),
        ),
        SystemdBoot::Failed { image, reason } => Finding::problem(
            "systemd",
            Outcome::Fail,
            format!("a systemd node ({image}) did not boot: {reason}"),
            "systemd needs the host's cgroup tree and most capabilities (see docs/provisioning.md, systemd nodes); on a rootless or restricted engine, use nodes without `init = \"systemd\"`",
        ),
        SystemdBoot::NotTried => Finding::problem(
            "systemd",
            Outcome::Warn,
            format!(
                "not tried: no systemd image on the engine yet (cgroup v{})",
                cgroup_version.map_or("?".into(), |v| v.to_string())
            ),
            "the first node with `init = \"systemd\"` derives one (a minute, once); run `envctl doctor` again after it to boot one",
        ),
    }
}

/// A base image nodes start from. `debian`: envctl can build it with debootstrap (a
/// Debian suite it knows); `debootstrap`: debootstrap is installed.
pub fn base_image(
    reference: &str,
    present: Option<&str>,
    debian: bool,
    debootstrap: bool,
) -> Finding {
    match (present, debian, debootstrap) {
        (Some(id), _, _) => Finding::ok(
            "base image",
            format!("{reference} is present ({})", short_id(id)),
        ),
        (None, true, true) => Finding::problem(
            "base image",
            Outcome::Warn,
            format!("{reference} is not on the engine yet; envctl builds it with debootstrap on first use (about 30 s)"),
            format!("build it now: `envctl image bootstrap {reference}`"),
        ),
        (None, true, false) => Finding::problem(
            "base image",
            Outcome::Fail,
            format!("{reference} is not on the engine and debootstrap is not installed to build it"),
            format!("`sudo apt-get install debootstrap`, then `envctl image bootstrap {reference}`; or `docker load` it"),
        ),
        (None, false, _) => Finding::problem(
            "base image",
            Outcome::Fail,
            format!("{reference} is not on the engine (pulling it needs a registry)"),
            format!("`docker pull {reference}` where a registry is reachable, `docker load` it, or start from a directory with a Dockerfile (`build = \"DIR\"`)"),
        ),
    }
}

/// `ansible-playbook` and the collection envctl connects to nodes with. `needed` when
/// the project has `ansible` steps: then a missing piece fails.
pub fn ansible(version: Option<&str>, community_docker: Option<&str>, needed: bool) -> Finding {
    let missing = if needed { Outcome::Fail } else { Outcome::Warn };
    let why = if needed {
        "this project's `ansible` steps need it"
    } else {
        "needed by `ansible` steps"
    };
    match (version, community_docker) {
        (Some(v), Some(c)) => Finding::ok(
            "ansible",
            format!("{v}, community.docker {c} (the docker_api connection)"),
        ),
        (Some(v), None) => Finding::problem(
            "ansible",
            missing,
            format!("{v} without the community.docker collection ({why})"),
            "`ansible-galaxy collection install community.docker` (Debian's `ansible` package bundles it)",
        ),
        (None, _) => Finding::problem(
            "ansible",
            missing,
            format!("ansible-playbook is not installed ({why})"),
            "`sudo apt-get install ansible python3-docker` (or `pip install ansible`)",
        ),
    }
}

/// Puppet runs inside nodes; on the host it matters only to Vagrant's puppet provisioner.
pub fn puppet(host_version: Option<&str>) -> Finding {
    match host_version {
        Some(v) => Finding::ok(
            "puppet",
            format!("puppet {v} on this host; `puppet` steps run `puppet apply` inside the node"),
        ),
        None => Finding::ok(
            "puppet",
            "`puppet` steps run `puppet apply` inside the node and install Puppet there from the node's apt when missing; nothing needed on this host",
        ),
    }
}

/// Below this much free space the engine's disk fails provisioning (a systemd image with
/// a service is several hundred MiB; a provisioning commit copies a layer).
pub const DISK_FAIL_BYTES: u64 = 2 << 30;
/// Below this much a few more cached images fill it.
pub const DISK_WARN_BYTES: u64 = 5 << 30;

/// Free space where the engine keeps images, when envctl can see it (a local engine).
pub fn disk(path: &str, free: Option<u64>) -> Finding {
    let fix = "remove this project's cached images (`envctl image prune`), what dead runs left (`envctl gc`), or other images (`docker system df` shows what uses the space)";
    match free {
        None => Finding::problem(
            "disk",
            Outcome::Warn,
            format!("cannot tell the free space of {path} (a remote engine's disk is on its host)"),
            "check the engine host's free space there (`docker system df`)",
        ),
        Some(b) if b < DISK_FAIL_BYTES => Finding::problem(
            "disk",
            Outcome::Fail,
            format!(
                "{} free in {path}: provisioning and cached images need more",
                gib(b)
            ),
            fix,
        ),
        Some(b) if b < DISK_WARN_BYTES => Finding::problem(
            "disk",
            Outcome::Warn,
            format!(
                "{} free in {path}: a few more cached images fill it",
                gib(b)
            ),
            fix,
        ),
        Some(b) => Finding::ok("disk", format!("{} free in {path}", gib(b))),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

fn short_id(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..id.len().min(12)]
}

/// The report as a person reads it: one line per check, its fix under it.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let word = match f.outcome {
            Outcome::Ok => "ok",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
        };
        out.push_str(&format!("{word:<5} {:<11} {}\n", f.check, f.detail));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("{:17} fix: {fix}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cgroup: Option<u8>) -> EngineFacts {
        EngineFacts {
            endpoint: "unix:///var/run/docker.sock".into(),
            kind: EngineKind::Local,
            version: "20.10.24".into(),
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            cgroup_version: cgroup,
            root_dir: Some("/var/lib/docker".into()),
        }
    }

    #[test]
    fn a_reachable_engine_passes_with_its_version_and_kind() {
        let f = engine(&Ok(facts(Some(1))), "unix:///var/run/docker.sock");
        assert_eq!(f.outcome, Outcome::Ok);
        assert!(
            f.detail.contains("20.10.24") && f.detail.contains("local"),
            "{f:?}"
        );
    }

    #[test]
    fn an_unreachable_local_engine_fails_saying_how_to_start_it() {
        let f = engine(
            &Err("connection refused".into()),
            "unix:///var/run/docker.sock",
        );
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.fix.unwrap().contains("systemctl start docker"));
    }

    #[test]
    fn an_unreachable_docker_host_names_it_in_the_fix() {
        let f = engine(&Err("refused".into()), "tcp://10.0.0.5:2375");
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.fix.unwrap().contains("tcp://10.0.0.5:2375"));
    }

    #[test]
    fn cgroup_names_the_version_and_warns_when_unknown() {
        assert_eq!(cgroup(&facts(Some(2))).detail, "cgroup v2");
        assert_eq!(cgroup(&facts(Some(1))).outcome, Outcome::Ok);
        assert_eq!(cgroup(&facts(None)).outcome, Outcome::Warn);
    }

    #[test]
    fn systemd_passes_only_when_a_node_booted() {
        let booted = SystemdBoot::Booted {
            image: "envctl-systemd:x".into(),
            millis: 900,
        };
        assert_eq!(systemd(&booted, Some(1)).outcome, Outcome::Ok);
        let failed = SystemdBoot::Failed {
            image: "envctl-systemd:x".into(),
            reason: "systemd is `starting`".into(),
        };
        assert_eq!(systemd(&failed, Some(2)).outcome, Outcome::Fail);
        assert_eq!(
            systemd(&SystemdBoot::NotTried, Some(1)).outcome,
            Outcome::Warn
        );
    }

    #[test]
    fn a_missing_base_fails_only_when_it_cannot_be_built() {
        let present = base_image("debian:bookworm", Some("sha256:abc"), true, false);
        assert_eq!(present.outcome, Outcome::Ok);
        assert_eq!(
            base_image("debian:bookworm", None, true, true).outcome,
            Outcome::Warn
        );
        let f = base_image("debian:bookworm", None, true, false);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.fix.unwrap().contains("apt-get install debootstrap"));
        let f = base_image("nginx:1.25", None, false, true);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.fix.unwrap().contains("docker load"));
    }

    #[test]
    fn ansible_fails_only_when_the_project_needs_it() {
        assert_eq!(
            ansible(Some("ansible-playbook [core 2.14.3]"), Some("3.4.0"), true).outcome,
            Outcome::Ok
        );
        assert_eq!(ansible(None, None, false).outcome, Outcome::Warn);
        assert_eq!(ansible(None, None, true).outcome, Outcome::Fail);
        let f = ansible(Some("ansible-playbook [core 2.14.3]"), None, true);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.fix.unwrap().contains("community.docker"));
    }

    #[test]
    fn disk_fails_below_two_gib_and_warns_below_five() {
        assert_eq!(
            disk("/var/lib/docker", Some(1 << 30)).outcome,
            Outcome::Fail
        );
        assert_eq!(
            disk("/var/lib/docker", Some(3 << 30)).outcome,
            Outcome::Warn
        );
        assert_eq!(disk("/var/lib/docker", Some(50 << 30)).outcome, Outcome::Ok);
        assert_eq!(disk("/var/lib/docker", None).outcome, Outcome::Warn);
    }

    #[test]
    fn healthy_means_nothing_failed() {
        let ok = Finding::ok("engine", "x");
        let warn = Finding::problem("disk", Outcome::Warn, "x", "y");
        let fail = Finding::problem("disk", Outcome::Fail, "x", "y");
        assert!(healthy(&[ok.clone(), warn.clone()]));
        assert!(!healthy(&[ok, warn, fail]));
    }

    #[test]
    fn every_problem_has_its_fix_under_it() {
        let text = render(&[Finding::problem(
            "disk",
            Outcome::Fail,
            "1.0 GiB free",
            "prune",
        )]);
        assert!(text.starts_with("FAIL  disk"), "{text}");
        assert!(
            text.lines().nth(1).unwrap().trim() == "fix: prune",
            "{text}"
        );
    }
}
