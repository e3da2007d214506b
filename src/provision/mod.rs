//! Provisioning: runs a node's steps, in order, inside a container through the engine
//! or on a machine over SSH (its [`StepHost`]), keeping each step's output. A
//! container's provisioned filesystem is then committed by `instance` as an image keyed
//! by the node's provisioning hash. One file per step kind that needs
//! more than an exec (`template`, `ansible`, `puppet`, `salt`); `idempotence` compares two runs.

pub mod ansible;
pub mod dependencies;
pub mod host;
pub mod idempotence;
pub mod puppet;
pub mod salt;
pub mod template;

use crate::backend::{archive, EngineError};
use crate::model::{Environment, Node, Step, StepKind};
pub use host::{OnEngine, StepHost};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a node's steps run.
pub struct Target<'a> {
    /// What the steps run on: an engine's nodes ([`OnEngine`]) or machines over SSH.
    pub host: &'a dyn StepHost,
    /// The project root (scripts, templates, playbooks are relative to it).
    pub root: &'a Path,
    /// The container (or machine) the steps run in.
    pub id: &'a str,
    pub node: &'a Node,
    pub env: &'a Environment,
    /// The container (or machine) of every replica of the instance, by replica name,
    /// for the inventory Ansible steps get.
    pub hosts: BTreeMap<String, String>,
    /// Skip steps marked `idempotent = false` (the idempotence check's second run).
    pub second_run: bool,
}

pub use crate::model::environment::DEFAULT_STEP_TIMEOUT;

/// Where scripts are staged inside the node while provisioning; removed afterwards.
pub(crate) const STAGING: &str = "/tmp/envctl-provision";

/// A provisioning step that failed.
#[derive(Debug, thiserror::Error)]
#[error("provisioning node `{node}` failed at step {index} ({label}): {reason}{}", log_tail(.output))]
pub struct ProvisionError {
    pub node: String,
    pub index: usize,
    pub label: String,
    pub reason: String,
    pub output: String,
}

fn log_tail(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!(
            "\n  last lines of its output:\n{}",
            crate::backend::docker::tail(output, 15)
                .lines()
                .map(|l| format!("    | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// The output of one step.
#[derive(Debug, Clone)]
pub struct StepLog {
    pub label: String,
    pub output: String,
    pub duration: Duration,
    /// What the tool reported as changed: Ansible tasks, Puppet resources, Salt states, a template.
    pub changed: Vec<String>,
    /// Not run (second run of a step marked `idempotent = false`).
    pub skipped: bool,
}

/// Runs every step of `node` in `container`. `on_step` is told before each step starts.
///
/// # Errors
/// [`ProvisionError`] naming the node and step, with the tail of its output.
pub async fn run(
    target: &Target<'_>,
    on_step: &(dyn Fn(usize, &Step) + Sync),
) -> Result<Vec<StepLog>, ProvisionError> {
    let mut logs = Vec::new();
    for (i, step) in target.node.provision.iter().enumerate() {
        let index = i + 1;
        if target.second_run && !step.idempotent {
            logs.push(StepLog {
                label: step.label(),
                output: "skipped: marked idempotent = false".into(),
                duration: Duration::ZERO,
                changed: Vec::new(),
                skipped: true,
            });
            continue;
        }
        on_step(index, step);
        logs.push(run_step(target, index, step).await?);
    }
    finish(target).await;
    Ok(logs)
}

/// Runs step `index` (from 1) of the node, `step`, in the target's container.
///
/// # Errors
/// [`ProvisionError`] naming the node and step, with the tail of its output.
pub async fn run_step(
    target: &Target<'_>,
    index: usize,
    step: &Step,
) -> Result<StepLog, ProvisionError> {
    let (host, root, id, node) = (target.host, target.root, target.id, target.node);
    let env: Vec<String> = node.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    {
        let started = Instant::now();
        let fail = |reason: String, output: String| ProvisionError {
            node: node.name.clone(),
            index,
            label: step.label(),
            reason,
            output,
        };
        let timeout = step.timeout.unwrap_or(DEFAULT_STEP_TIMEOUT);
        let mut changed = Vec::new();
        let output = match &step.kind {
            StepKind::Shell { command } => {
                let cmd = vec!["sh".to_string(), "-c".to_string(), command.clone()];
                exec_step(host, id, &cmd, &env, timeout)
                    .await
                    .map_err(|(reason, out)| fail(reason, out))?
            }
            StepKind::Script { path, args } => {
                let name = format!("step-{index}-{}", file_name(path));
                let data = std::fs::read(root.join(path)).map_err(|e| {
                    fail(
                        format!("cannot read {}: {e}", path.display()),
                        String::new(),
                    )
                })?;
                stage(host, id, &name, &data)
                    .await
                    .map_err(|e| fail(e.to_string(), String::new()))?;
                let staged = format!("{STAGING}/{name}");
                // Run with its own interpreter when it has a shebang, with sh otherwise.
                let mut cmd = vec![
                    "sh".to_string(),
                    "-c".to_string(),
                    r#"if [ "$(head -c2 "$1")" = '#!' ]; then exec "$@"; else exec sh "$@"; fi"#
                        .to_string(),
                    "envctl-step".to_string(),
                    staged,
                ];
                cmd.extend(args.iter().cloned());
                exec_step(host, id, &cmd, &env, timeout)
                    .await
                    .map_err(|(reason, out)| fail(reason, out))?
            }
            StepKind::Copy { from, to, mode } => {
                copy(host, id, &root.join(from), to, *mode)
                    .await
                    .map_err(|e| fail(e.to_string(), String::new()))?;
                String::new()
            }
            StepKind::Template {
                from,
                to,
                mode,
                owner,
            } => {
                let placed = template::place(target, from, to, *mode, owner.as_deref())
                    .await
                    .map_err(|e| fail(e, String::new()))?;
                if placed.changed {
                    changed.push(format!("template {to}"));
                }
                placed.output
            }
            StepKind::Ansible {
                playbook,
                dependencies,
                ..
            } => {
                let result = ansible::run(target, playbook, dependencies, timeout)
                    .await
                    .map_err(|(reason, out)| fail(reason, out))?;
                changed = result.changed;
                result.output
            }
            StepKind::Puppet {
                manifest,
                modules,
                vendor,
            } => {
                let paths = puppet::ModulePath {
                    modules: modules.as_deref(),
                    vendor: vendor.as_deref(),
                };
                let result = puppet::run(target, index, manifest, paths, &env, timeout)
                    .await
                    .map_err(|(reason, out)| fail(reason, out))?;
                changed = result.changed;
                result.output
            }
            StepKind::Salt {
                states,
                pillar,
                state,
            } => {
                let result = salt::run(
                    target,
                    index,
                    states,
                    pillar.as_deref(),
                    state.as_deref(),
                    &env,
                    timeout,
                )
                .await
                .map_err(|(reason, out)| fail(reason, out))?;
                changed = result.changed;
                result.output
            }
        };
        Ok(StepLog {
            label: step.label(),
            output,
            duration: started.elapsed(),
            changed,
            skipped: false,
        })
    }
}

/// Removes what the steps staged in the container (scripts, manifests, state trees),
/// once the last step ran.
pub async fn finish(target: &Target<'_>) {
    if target.node.provision.iter().any(|s| {
        matches!(
            s.kind,
            StepKind::Script { .. } | StepKind::Puppet { .. } | StepKind::Salt { .. }
        )
    }) {
        let cleanup = vec!["rm".to_string(), "-rf".to_string(), STAGING.to_string()];
        let _ = target
            .host
            .exec(target.id, &cleanup, &[], Duration::from_secs(30))
            .await;
    }
}

pub(crate) async fn exec_step(
    host: &dyn StepHost,
    id: &str,
    cmd: &[String],
    env: &[String],
    timeout: Duration,
) -> Result<String, (String, String)> {
    match host.exec(id, cmd, env, timeout).await {
        Ok(out) => {
            let text = format!("{}{}", out.stdout, out.stderr);
            if out.exit_code == 0 {
                Ok(text)
            } else {
                Err((format!("exit code {}", out.exit_code), text))
            }
        }
        Err(EngineError::ExecTimeout { timeout, .. }) => Err((
            format!("did not finish within {}", crate::wait::human(timeout)),
            String::new(),
        )),
        Err(e) => Err((e.to_string(), String::new())),
    }
}

pub(crate) async fn stage(
    host: &dyn StepHost,
    id: &str,
    name: &str,
    data: &[u8],
) -> Result<(), EngineError> {
    let mkdir = vec!["mkdir".to_string(), "-p".to_string(), STAGING.to_string()];
    host.exec(id, &mkdir, &[], Duration::from_secs(30)).await?;
    let tar = archive::bytes(name, data, 0o755).map_err(|e| EngineError::Other(e.to_string()))?;
    host.upload(id, STAGING, tar).await
}

pub(crate) async fn copy(
    host: &dyn StepHost,
    id: &str,
    from: &Path,
    to: &str,
    mode: Option<u32>,
) -> Result<(), EngineError> {
    let io = |e: std::io::Error| EngineError::Other(format!("reading {}: {e}", from.display()));
    let (dir, tar) = if from.is_dir() {
        (to.to_string(), archive::entry(from, ".", mode).map_err(io)?)
    } else {
        let to_path = PathBuf::from(to);
        let dir = to_path
            .parent()
            .map_or_else(|| "/".to_string(), |p| p.display().to_string());
        let name = file_name(&to_path);
        (dir, archive::entry(from, &name, mode).map_err(io)?)
    };
    let mkdir = vec!["mkdir".to_string(), "-p".to_string(), dir.clone()];
    let out = host.exec(id, &mkdir, &[], Duration::from_secs(30)).await?;
    if out.exit_code != 0 {
        return Err(EngineError::Other(format!(
            "cannot create {dir}: {}",
            out.stderr.trim()
        )));
    }
    host.upload(id, &dir, tar).await
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into())
}
