//! Gathers what `envctl doctor` judges: asks the engine, boots a systemd node when a
//! systemd image exists, runs the host tools' `--version`, reads free disk space.

use super::{Finding, SystemdBoot};
use crate::backend::docker::engine_info::{self, EngineFacts, EngineKind};
use crate::backend::docker::{bootstrap, systemd, Docker};
use crate::backend::labels::InstanceId;
use crate::backend::node::NodeSpec;
use crate::model::{ImageSource, Project, StepKind};
use std::path::Path;
use std::time::{Duration, Instant};

/// What the project (when there is one) asks of the machine.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// Base image references its nodes start from (`debian:bookworm` outside a project).
    pub bases: Vec<String>,
    /// Whether any node has an `ansible` step.
    pub ansible: bool,
}

impl Needs {
    /// Reads every environment of the project at `root`; outside a project (or where
    /// nothing loads) the Debian base envctl builds itself.
    pub fn of(root: &Path) -> Needs {
        let mut needs = Needs::default();
        if let Ok(project) = Project::open(root) {
            for name in project.environment_names().unwrap_or_default() {
                let Ok(env) = project.environment(&name) else {
                    continue;
                };
                for node in env.nodes.values() {
                    if let ImageSource::Image(reference) = &node.image {
                        if !needs.bases.contains(reference) {
                            needs.bases.push(reference.clone());
                        }
                    }
                    needs.ansible |= node
                        .provision
                        .iter()
                        .any(|s| matches!(s.kind, StepKind::Ansible { .. }));
                }
            }
        }
        if needs.bases.is_empty() {
            needs.bases.push("debian:bookworm".into());
        }
        needs
    }
}

/// Longest a systemd node may take to boot here before the check fails.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs every check, in the order a person fixes them.
pub async fn run(needs: &Needs) -> Vec<Finding> {
    let endpoint = engine_info::endpoint();
    let connected = match Docker::connect().await {
        Ok(docker) => match docker.facts().await {
            Ok(facts) => Ok((docker, facts)),
            Err(e) => Err(e.to_string()),
        },
        Err(crate::backend::EngineError::Unreachable { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    };
    let facts: Result<EngineFacts, String> = connected
        .as_ref()
        .map(|(_, f)| f.clone())
        .map_err(Clone::clone);
    let mut findings = vec![super::engine(&facts, &endpoint)];
    if let Ok((docker, facts)) = &connected {
        findings.push(super::cgroup(facts));
        findings.push(super::systemd(
            &systemd_boot(docker).await,
            facts.cgroup_version,
        ));
        let debootstrap = bootstrap::which("debootstrap").is_some();
        for reference in &needs.bases {
            let present = docker.image(reference).await.ok().flatten();
            findings.push(super::base_image(
                reference,
                present.as_ref().map(|i| i.id.as_str()),
                bootstrap::suite_for(reference).is_some(),
                debootstrap,
            ));
        }
    }
    let ansible = first_line(&["ansible-playbook", "--version"]).await;
    let collection = match ansible {
        Some(_) => community_docker().await,
        None => None,
    };
    findings.push(super::ansible(
        ansible.as_deref(),
        collection.as_deref(),
        needs.ansible,
    ));
    findings.push(super::puppet(
        first_line(&["puppet", "--version"]).await.as_deref(),
    ));
    if let Ok((_, facts)) = &connected {
        let dir = facts
            .root_dir
            .clone()
            .unwrap_or_else(|| "/var/lib/docker".into());
        let free = match facts.kind {
            EngineKind::Remote => None,
            _ => free_bytes(&dir).await,
        };
        findings.push(super::disk(&dir, free));
    }
    findings
}

/// Boots a throwaway node from a systemd image envctl derived earlier, and waits for
/// systemd to finish booting. Labelled as an ephemeral run, so `envctl gc` removes it
/// should doctor be killed half-way.
async fn systemd_boot(docker: &Docker) -> SystemdBoot {
    let images = docker
        .list_images(vec![systemd::DERIVED_FROM.to_string()])
        .await
        .unwrap_or_default();
    let Some(image) = images
        .iter()
        .max_by_key(|i| i.created)
        .and_then(|i| i.tags.first().cloned())
    else {
        return SystemdBoot::NotTried;
    };
    let id = InstanceId {
        project: "doctor".into(),
        project_dir: String::new(),
        environment: "doctor".into(),
        instance: format!("p{}", std::process::id()),
        run: crate::instance::run_id(),
        ephemeral: true,
    };
    let spec = NodeSpec {
        name: format!("{}-systemd", id.prefix()),
        image: image.clone(),
        cmd: Some(vec![systemd::INIT.into()]),
        labels: id.labels(),
        network: "none".into(),
        hostname: "doctor".into(),
        systemd: true,
        ..Default::default()
    };
    let started = Instant::now();
    let container = match docker.create_container(&spec).await {
        Ok(c) => c,
        Err(e) => {
            return SystemdBoot::Failed {
                image,
                reason: e.to_string(),
            }
        }
    };
    let booted = async {
        docker.start(&container, &spec.name).await?;
        systemd::wait_booted(docker, &container, BOOT_TIMEOUT).await
    }
    .await;
    let millis = started.elapsed().as_millis();
    let _ = docker.remove_container(&container).await;
    match booted {
        Ok(()) => SystemdBoot::Booted { image, millis },
        Err(e) => SystemdBoot::Failed {
            image,
            reason: e.to_string(),
        },
    }
}

/// The first line a command prints, or `None` when it is missing or fails.
async fn first_line(command: &[&str]) -> Option<String> {
    let out = output(command).await?;
    out.lines().next().map(|l| l.trim().to_string())
}

async fn output(command: &[&str]) -> Option<String> {
    let run = tokio::process::Command::new(command[0])
        .args(&command[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .ok()?
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The version of the community.docker collection ansible-playbook finds.
async fn community_docker() -> Option<String> {
    let out = output(&["ansible-galaxy", "collection", "list", "community.docker"]).await?;
    collection_version(&out, "community.docker")
}

/// `NAME VERSION` from `ansible-galaxy collection list` output.
fn collection_version(listing: &str, name: &str) -> Option<String> {
    listing.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(name)).then(|| words.next().unwrap_or("?").to_string())
    })
}

/// Free bytes on the filesystem holding `dir` (`df -Pk`), when this host can see it.
async fn free_bytes(dir: &str) -> Option<u64> {
    let out = output(&["df", "-Pk", dir]).await?;
    df_available(&out)
}

/// The available kilobytes of `df -Pk`'s one filesystem line, in bytes.
fn df_available(out: &str) -> Option<u64> {
    let line = out.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_collection_version_from_the_listing() {
        let listing = "\n# /usr/lib/python3/dist-packages/ansible_collections\nCollection       Version\n---------------- -------\ncommunity.docker 3.4.0  \n";
        assert_eq!(
            collection_version(listing, "community.docker").as_deref(),
            Some("3.4.0")
        );
        assert_eq!(
            collection_version("Collection Version\n", "community.docker"),
            None
        );
    }

    #[test]
    fn reads_available_space_from_df() {
        let out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 1000 400 600 40% /\n";
        assert_eq!(df_available(out), Some(600 * 1024));
        assert_eq!(df_available("Filesystem\n"), None);
    }

    #[test]
    fn outside_a_project_the_needs_are_the_debian_base() {
        let dir = tempfile::tempdir().unwrap();
        let needs = Needs::of(dir.path());
        assert_eq!(needs.bases, ["debian:bookworm"]);
        assert!(!needs.ansible);
    }

    #[test]
    fn a_project_with_ansible_steps_needs_ansible() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::write(dir.path().join("site.yml"), "- hosts: all\n  tasks: []\n").unwrap();
        std::fs::write(
            dir.path().join("environments/e.toml"),
            "[nodes.web]\nimage = \"debian:trixie\"\nprovision = [{ ansible = \"site.yml\" }]\n",
        )
        .unwrap();
        let needs = Needs::of(dir.path());
        assert_eq!(needs.bases, ["debian:trixie"]);
        assert!(needs.ansible);
    }
}
