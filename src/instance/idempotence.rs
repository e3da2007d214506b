//! The idempotence check of an instance: for every provisioned node, a container is
//! started from its provisioned image (fresh from this `up` or from the cache alike), the
//! steps run a second time (except those marked `idempotent = false`), and every path the
//! engine saw written is compared with its state before (in the image, or as the start
//! left it); the differences are reported together with what the tools said they
//! changed. The containers are removed afterwards; running nodes are untouched.
//!
//! A passing check is recorded against the provisioned image it ran on. When the node
//! later starts from that same cached image (same provisioning key, same image id), the
//! recorded verdict is reused, as the cached image itself is, unless asked to check again.

use super::up::{self, UpError};
use super::Instance;
use crate::backend::node::FsChange;

use crate::backend::labels::{self, ROLE_PROVISION};
use crate::backend::EngineError;
use crate::events::{Event, Observer, Phase};
use crate::model::{Init, Node};
use crate::provision::idempotence::{self, NodeReport};
use crate::provision::{self, StepLog};
use futures_util::future::try_join_all;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest a filesystem snapshot may take.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

/// Checks every node that has provisioning steps; one report per node. With `reuse`, a
/// node whose provisioned image already passed the check is not run again.
///
/// # Errors
/// [`UpError`] when a node has no provisioned image (run `up` or `provision` first) or
/// the second run itself fails.
pub async fn check(
    inst: &Instance,
    observer: &dyn Observer,
    reuse: bool,
) -> Result<Vec<NodeReport>, UpError> {
    inst.backend
        .ensure_network(&inst.id.network(), inst.id.labels())
        .await?;
    let result = check_nodes(inst, observer, reuse).await;
    let settled = inst.settle().await;
    let result = result.and_then(|reports| settled.map(|()| reports).map_err(UpError::from));
    // Check containers are gone by now; the network goes too unless nodes run in it
    // (`envctl provision --check-idempotence` on an instance that is not up).
    if let Ok(remaining) = inst.containers().await {
        let others: Vec<_> = remaining
            .iter()
            .filter(|c| c.label(labels::ROLE) != Some(ROLE_PROVISION))
            .collect();
        if others.is_empty() {
            for c in &remaining {
                let _ = inst.backend.remove_node(&c.id).await;
            }
            let _ = super::down::remove_networks(inst).await;
        }
    }
    result
}

/// [`check`] on an instance whose network exists.
///
/// # Errors
/// As [`check`].
async fn check_nodes(
    inst: &Instance,
    observer: &dyn Observer,
    reuse: bool,
) -> Result<Vec<NodeReport>, UpError> {
    let nodes = inst
        .env
        .nodes
        .values()
        .filter(|n| n.replicas > 0 && !n.provision.is_empty());
    try_join_all(nodes.map(|n| check_node(inst, n, observer, reuse))).await
}

async fn check_node(
    inst: &Instance,
    node: &Node,
    observer: &dyn Observer,
    reuse: bool,
) -> Result<NodeReport, UpError> {
    let note = |msg: &str| observer.event(&Event::Note(msg.to_string()));
    let base = inst
        .backend
        .prepare_image(&inst.root, &node.image, &note)
        .await?;
    let (base, key) = up::node_key(inst, node, base, &note).await?;
    let tag = up::provisioned_tag(inst, &key).await?;
    let Some(image) = inst.backend.image(&tag).await? else {
        return Err(UpError::Engine(EngineError::Other(format!(
            "node `{}` has no provisioned image ({tag}); run `{}` or `{}` first",
            node.name,
            crate::hint::command(&format!("up {}", inst.env.name)),
            crate::hint::command(&format!("provision {}", inst.env.name))
        ))));
    };
    let record = up::cache_record(inst, &tag, "idempotent");
    if reuse && recorded_pass(&record, &image.id) {
        let report = NodeReport {
            node: node.name.clone(),
            recorded: Some(tag.clone()),
            ..NodeReport::default()
        };
        write_log(inst, &report, &[]);
        return Ok(report);
    }
    let mut spec = up::provision_spec(inst, node, &tag, "idempotence");
    spec.boot_image = Some(base.id);
    // The second run downloads through the package cache as the first did.
    let packages = up::package_lease(inst, node, &mut spec).await?;
    let id = inst
        .backend
        .create_node(&spec)
        .await
        .map_err(|e| UpError::from(e).on_node(&node.name))?;
    let result = second_run(inst, node, &id, &tag, observer).await;
    drop(packages);
    let (report, logs) = match result {
        Ok(done) => {
            // Removed while the rest goes on; `up` and `check` wait for it at the end.
            inst.remove_later(id);
            done
        }
        Err(e) => {
            let _ = inst.backend.remove_node(&id).await;
            return Err(e.on_node(&node.name));
        }
    };
    write_log(inst, &report, &logs);
    if report.is_idempotent() && report.skipped.is_empty() {
        // Only a full pass is recorded; a failing check runs again next time.
        let _ = crate::model::secrets::create_private_dir(record.parent().unwrap_or(&inst.root))
            .and_then(|()| {
                crate::model::secrets::write_private(&record, &format!("{}\n", image.id))
            });
    }
    Ok(report)
}

/// Whether the check recorded in `record` passed on the image `image_id`.
fn recorded_pass(record: &std::path::Path, image_id: &str) -> bool {
    std::fs::read_to_string(record).is_ok_and(|text| text.trim() == image_id)
}

async fn second_run(
    inst: &Instance,
    node: &Node,
    id: &str,
    tag: &str,
    observer: &dyn Observer,
) -> Result<(NodeReport, Vec<StepLog>), UpError> {
    // The image's state of what the second run writes is read in a container of its
    // own, started beside the run so that it is ready when the run ends.
    let reference = reference_container(inst, node, tag);
    let (started, reference) = futures_util::future::join(
        async {
            inst.backend.start_node(id, &node.name).await?;
            if node.init == Init::Systemd {
                inst.backend.wait_booted(id, up::BOOT_TIMEOUT).await?;
            }
            Ok::<_, UpError>(())
        },
        reference,
    )
    .await;
    let reference = reference?;
    let result = async {
        started?;
        compare(inst, node, id, &reference, observer).await
    }
    .await;
    inst.remove_later(reference);
    result
}

/// The second run in the started container `id`, its writes compared with their state
/// before: as the start left them, or as in the image (read in `reference`).
async fn compare(
    inst: &Instance,
    node: &Node,
    id: &str,
    reference: &str,
    observer: &dyn Observer,
) -> Result<(NodeReport, Vec<StepLog>), UpError> {
    let ignore = &node.idempotence_ignore;
    // Booting systemd may already write: those paths are compared with their state
    // now, every other path with its state in the image. A node without an init starts
    // `sleep`, which writes nothing.
    let at_start = if node.init == Init::Systemd {
        changed_paths(inst, id, ignore).await?
    } else {
        Vec::new()
    };
    let before_run = snapshot(inst, node, id, &present(&at_start)).await?;
    let total = node.provision.len();
    let host = provision::OnEngine(inst.backend.as_ref());
    let target = provision::Target {
        host: &host,
        root: &inst.root,
        id,
        node,
        env: &inst.env,
        hosts: up::host_names(inst),
        second_run: true,
    };
    let logs = provision::run(&target, &|index, step| {
        observer.event(&Event::Node {
            node: node.name.clone(),
            phase: Phase::Provisioning {
                index,
                total,
                label: format!("second run: {}", step.label()),
            },
        })
    })
    .await?;
    // Only paths the engine saw written can differ; each is compared in full.
    let written = changed_paths(inst, id, ignore).await?;
    let after = snapshot(inst, node, id, &present(&written)).await?;
    let from_image: Vec<String> = written
        .iter()
        .filter(|(path, _)| !at_start.iter().any(|(p, _)| p == path))
        .map(|(path, _)| path.clone())
        .collect();
    let mut before = before_run;
    if !from_image.is_empty() {
        before.extend(snapshot(inst, node, reference, &from_image).await?);
    }
    let report = NodeReport {
        node: node.name.clone(),
        files: idempotence::diff(&before, &after, ignore),
        reported: logs
            .iter()
            .flat_map(|l| l.changed.iter().map(move |c| format!("{}: {c}", l.label)))
            .collect(),
        skipped: logs
            .iter()
            .filter(|l| l.skipped)
            .map(|l| l.label.clone())
            .collect(),
        recorded: None,
    };
    Ok((report, logs))
}

/// The paths the container changed relative to its image, without ignored ones.
async fn changed_paths(
    inst: &Instance,
    id: &str,
    ignore: &[String],
) -> Result<Vec<(String, FsChange)>, UpError> {
    Ok(inst
        .backend
        .changes(id)
        .await?
        .into_iter()
        .filter(|(path, _)| !idempotence::ignored(path, ignore))
        .collect())
}

/// The changed paths that still exist.
fn present(changes: &[(String, FsChange)]) -> Vec<String> {
    changes
        .iter()
        .filter(|(_, kind)| *kind != FsChange::Deleted)
        .map(|(path, _)| path.clone())
        .collect()
}

/// A short-lived container of the provisioned image `tag`, started, where the image's
/// state of paths is read; removed by the caller.
async fn reference_container(inst: &Instance, node: &Node, tag: &str) -> Result<String, UpError> {
    let mut spec = up::provision_spec(inst, node, tag, "reference");
    // Nothing runs in it but the snapshot: no init, whatever the node boots.
    spec.entrypoint = Some(vec!["sleep".into()]);
    spec.cmd = Some(vec!["infinity".into()]);
    spec.systemd = false;
    let id = inst.backend.create_node(&spec).await?;
    if let Err(e) = inst.backend.start_node(&id, &spec.name).await {
        let _ = inst.backend.remove_node(&id).await;
        return Err(e.into());
    }
    Ok(id)
}

type Snapshot = BTreeMap<String, idempotence::Entry>;

/// The state of `paths` in container `id`, a thousand paths per exec.
async fn snapshot(
    inst: &Instance,
    node: &Node,
    id: &str,
    paths: &[String],
) -> Result<Snapshot, UpError> {
    let mut snapshot = Snapshot::new();
    for chunk in paths.chunks(1000) {
        let cmd = idempotence::snapshot_command(chunk);
        let out = inst.backend.exec(id, &cmd, &[], SNAPSHOT_TIMEOUT).await?;
        if !out.stdout.contains("--- content") {
            return Err(UpError::Engine(EngineError::Other(format!(
                "cannot read the files of node `{}` for the idempotence check (it needs `sh`, GNU `find` and `md5sum`): {}",
                node.name,
                out.stderr.trim()
            ))));
        }
        snapshot.extend(idempotence::parse_snapshot(&out.stdout));
    }
    Ok(snapshot)
}

fn write_log(inst: &Instance, report: &NodeReport, logs: &[StepLog]) {
    let mut text = format!("{report}\n");
    for (i, s) in logs.iter().enumerate() {
        text.push_str(&format!(
            "=== second run, step {} ({}) in {}\n{}\n",
            i + 1,
            s.label,
            crate::wait::human(s.duration),
            s.output
        ));
    }
    super::keep_log(
        &inst.log_dir(),
        &format!("{}.idempotence.log", report.node),
        &text,
    );
}
