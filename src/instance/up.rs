//! `up`: makes the engine match the definition. Base images and provisioned images are
//! prepared for all nodes at once; each node's containers then start as soon as the nodes
//! it depends on are ready (healthy, or completed for a job; started when so written). Unchanged nodes are left alone, changed
//! ones (definition hash) recreated, nodes no longer defined removed.

use super::health::{self, HealthError};
use super::{package_cache, Instance};
use crate::backend::labels::{self, ROLE_NODE, ROLE_PROVISION};
use crate::backend::node::{ImageDetails, NodeInfo, NodeSpec, SYSTEMD_INIT};
use crate::backend::EngineError;
use crate::events::{Event, Observer, Phase};
use crate::model::environment::{Condition, Run};
use crate::model::mounts::Mount;
use crate::model::{ImageSource, Init, Node};
use crate::plan::reconcile::{
    self, Existing, ImageAction, ImageState, NodePlan, Plan, RemovalWhy, Resume,
};
use crate::plan::{hash, order};
use crate::provision::{self, ProvisionError};
use futures_util::future::try_join_all;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Choices for one `up`.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Provision again even when a provisioned image with the same key exists.
    pub no_cache: bool,
    /// Where a failed `up` leaves what its nodes said before they are removed.
    pub artifacts: Option<super::artifacts::Bundle>,
    /// When a provisioning step fails, leave its container running as the step left
    /// it, for a look inside (`envctl shell`), instead of removing it.
    pub keep_failed: bool,
    /// Start these nodes only (`up ENV NODE...`, with their dependencies); the
    /// instance's other nodes are left as they are. `None`: every node.
    pub only: Option<std::collections::BTreeSet<String>>,
}

/// What `up` did to each node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOutcome {
    /// Running with the same definition; nothing done.
    Unchanged,
    /// Containers (re)created; `provisioned` tells whether provisioning ran now.
    Started { provisioned: bool },
}

/// Why `up` failed. Every variant is an environment error (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// A step failed and its container (`container`, an engine id, renamed as
    /// [`kept_name`] says) was kept running as the step left it.
    #[error("{error}")]
    Kept {
        error: Box<ProvisionError>,
        container: String,
    },
    /// A step failed and its container was to be kept, but could not be (`why`).
    #[error("{error}\n  its node could not be kept: {why}")]
    NotKept {
        error: Box<ProvisionError>,
        why: String,
    },
    #[error(transparent)]
    Health(#[from] HealthError),
    #[error(transparent)]
    Job(#[from] super::health::JobError),
}

impl UpError {
    /// Says which node an engine request failed for.
    pub fn on_node(self, node: &str) -> UpError {
        match self {
            UpError::Engine(e) => UpError::Engine(e.on_node(node)),
            other => other,
        }
    }
}

/// A node's image, ready to run.
pub(crate) struct Prepared {
    /// Image to start the node's containers from.
    pub(crate) image: String,
    /// Definition hash put on its containers.
    hash: String,
    /// Whether provisioning ran in this `up`.
    provisioned: bool,
    /// The node's image before provisioning, which a systemd node's boot helper runs.
    boot_image: String,
    /// Which replicas stay, go and are created.
    plan: NodePlan,
}

/// Brings the instance up to date with its definition.
///
/// # Errors
/// [`UpError`]; what this run created is removed before returning it.
pub async fn up(
    inst: &Instance,
    observer: &dyn Observer,
    options: &UpOptions,
) -> Result<BTreeMap<String, NodeOutcome>, UpError> {
    let result = bring_up(inst, observer, options).await;
    let settled = inst.settle().await;
    let result = result.and_then(|outcomes| settled.map(|()| outcomes).map_err(UpError::from));
    if let Err(e) = &result {
        if let Some(bundle) = &options.artifacts {
            if let Err(e) = super::artifacts::collect(inst, bundle).await {
                observer.event(&Event::Note(format!(
                    "the failure bundle is incomplete: {e}"
                )));
            }
        }
        let kept = match e {
            UpError::Kept { container, .. } => Some(container.as_str()),
            _ => None,
        };
        remove_run_except(inst, kept).await;
    }
    result
}

/// Provisions the nodes' images (from the cache when present) without starting the
/// nodes: `envctl provision`.
///
/// # Errors
/// [`UpError`]; what this run created is removed before returning.
pub async fn provision_only(
    inst: &Instance,
    observer: &dyn Observer,
    options: &UpOptions,
) -> Result<(), UpError> {
    let result = async {
        inst.backend
            .ensure_network(&inst.id.network(), inst.id.labels())
            .await?;
        let note = |msg: &str| observer.event(&Event::Note(msg.to_string()));
        for node in inst.env.nodes.values() {
            if node.replicas == 0 || node.provision.is_empty() {
                continue;
            }
            if let Some(warning) = node.privileges.warning(&node.name) {
                note(&warning);
            }
            let base = inst
                .backend
                .prepare_image(&inst.root, &node.image, &note)
                .await?;
            prepare(inst, node, base, observer, options).await?;
        }
        Ok(())
    }
    .await;
    let settled = inst.settle().await;
    remove_run(inst).await;
    result.and_then(|()| settled.map_err(UpError::from))
}

/// What ends the name of a failed step's provisioning container that was kept running
/// (`up`, `test --keep`): `gc` treats it as one of the instance's nodes, `down` and the
/// next `up` remove it.
pub const KEPT_SUFFIX: &str = "-failed";

/// The name of node `node`'s kept provisioning container.
pub fn kept_name(inst: &Instance, node: &str) -> String {
    format!("{}.{node}{KEPT_SUFFIX}", inst.id.prefix())
}

/// Whether a container is a failed step's node kept running.
pub fn is_kept(c: &NodeInfo) -> bool {
    c.label(labels::ROLE) == Some(ROLE_PROVISION)
        && c.name.trim_start_matches('/').ends_with(KEPT_SUFFIX)
}

/// Removes what this run created: provisioning containers and node containers (the
/// instance keeps what earlier runs made), and the network when nothing uses it.
pub async fn remove_run(inst: &Instance) {
    remove_run_except(inst, None).await;
}

/// [`remove_run`], leaving the container `kept` (a failed step's) and the network it is on.
async fn remove_run_except(inst: &Instance, kept: Option<&str>) {
    inst.backend.settled().await;
    // A second pass catches what a removal refused the first time (a container still
    // starting when the run was dropped).
    for _ in 0..5 {
        let Ok(containers) = inst.containers().await else {
            return;
        };
        let mine: Vec<&NodeInfo> = containers
            .iter()
            .filter(|c| {
                Some(c.id.as_str()) != kept
                    && (c.label(labels::RUN) == Some(&inst.id.run)
                        || c.label(labels::ROLE) == Some(ROLE_PROVISION)
                            && c.label(labels::OWNER) == Some(&labels::owner()))
            })
            .collect();
        let _ =
            futures_util::future::join_all(mine.iter().map(|c| inst.backend.remove_node(&c.id)))
                .await;
        if containers.len() == mine.len() {
            let _ = super::down::remove_networks(inst).await;
        }
        // Volumes this run created hold only what this run wrote.
        if let Ok(volumes) = inst.backend.list_volumes(&inst.id.filters()).await {
            for (name, labels) in volumes {
                if labels.get(labels::RUN) == Some(&inst.id.run) {
                    let _ = inst.backend.remove_volume(&name).await;
                }
            }
        }
        if mine.is_empty() {
            break;
        }
    }
}

/// What the engine holds for the instance, in the terms the plan decides in.
pub fn observed(containers: &[NodeInfo]) -> Vec<Existing> {
    containers
        .iter()
        .map(|c| Existing {
            id: c.id.clone(),
            name: c.name.clone(),
            node: c.label(labels::NODE).unwrap_or_default().to_string(),
            replica: c.label(labels::REPLICA).map(str::to_string),
            hash: c.label(labels::HASH).map(str::to_string),
            running: c.running,
            completed: c.exit_code() == Some(0),
            provisioning: c.label(labels::ROLE) == Some(ROLE_PROVISION),
        })
        .collect()
}

/// The nodes `up` starts (defined, not scaled to zero) and the distinct base images
/// they use, each once however many nodes share it.
fn started_nodes<'i>(
    inst: &'i Instance,
    options: &UpOptions,
) -> (Vec<&'i Node>, Vec<&'i ImageSource>) {
    let nodes: Vec<&Node> = inst
        .env
        .nodes
        .values()
        .filter(|n| n.replicas > 0 && options.only.as_ref().is_none_or(|o| o.contains(&n.name)))
        .collect();
    let mut sources: Vec<&ImageSource> = nodes.iter().map(|n| &n.image).collect();
    sources.sort_by_key(|s| format!("{s:?}"));
    sources.dedup();
    (nodes, sources)
}

/// What `up` would do, found by looking only: nothing is pulled, built, derived or
/// created (`up --dry-run`).
///
/// # Errors
/// Engine failures; provisioning files that cannot be read.
pub async fn plan(inst: &Instance, options: &UpOptions) -> Result<Plan, UpError> {
    let existing = observed(&inst.containers().await?);
    let (nodes, sources) = started_nodes(inst, options);
    let mut pending = Vec::new();
    let mut bases = Vec::new();
    for source in sources {
        let found = inst.backend.find_image(&inst.root, source).await?;
        if let Err(how) = &found {
            pending.push((source_name(source), how.clone()));
        }
        bases.push((source, found));
    }
    let mut images = BTreeMap::new();
    for node in nodes {
        let base = bases
            .iter()
            .find(|(s, _)| *s == &node.image)
            .map(|(_, b)| b.clone())
            .expect("every node's image was looked up");
        let state = match base {
            Err(_) => ImageState::Pending {
                action: format!("prepare {}", source_name(&node.image)),
            },
            Ok(base) if node.init == Init::Systemd => {
                match inst.backend.find_systemd_image(&base).await? {
                    Some(derived) => known_state(inst, node, &derived).await?,
                    None => {
                        let how = format!("systemd added once (for node `{}`)", node.name);
                        if !pending.iter().any(|(i, _)| *i == short_id(&base.id)) {
                            pending.push((short_id(&base.id), how));
                        }
                        ImageState::Pending {
                            action: "add systemd".into(),
                        }
                    }
                }
            }
            Ok(base) => known_state(inst, node, &base).await?,
        };
        images.insert(node.name.clone(), state);
    }
    Ok(reconcile::reconcile_part(
        &inst.env,
        &existing,
        &images,
        pending,
        options.no_cache,
        options.only.as_ref(),
    ))
}

fn source_name(source: &ImageSource) -> String {
    match source {
        ImageSource::Image(r) => r.clone(),
        ImageSource::Build(dir) => format!("build = \"{}\"", dir.display()),
    }
}

fn short_id(id: &str) -> String {
    let hex = id.trim_start_matches("sha256:");
    format!("image {}", &hex[..12.min(hex.len())])
}

/// A node's key from the image its provisioning starts from, whether the cache holds
/// its provisioned image (a node without steps has none to look for), and else the
/// latest step snapshot its provisioning can resume from.
async fn known_state(
    inst: &Instance,
    node: &Node,
    start: &ImageDetails,
) -> Result<ImageState, UpError> {
    if node.provision.is_empty() {
        return Ok(ImageState::Known {
            key: start.id.clone(),
            cached: false,
            resume: None,
        });
    }
    let keys = step_keys(inst, node, start)?;
    let key = keys.last().cloned().expect("a node with steps has a chain");
    let cached = inst.backend.image(&cache_tag(&key)).await?.is_some();
    let mut present = std::collections::BTreeSet::new();
    if !cached {
        for k in &keys[..keys.len() - 1] {
            let tag = reconcile::snapshot_tag(k);
            if inst.backend.image(&tag).await?.is_some() {
                present.insert(tag);
            }
        }
    }
    let resume = reconcile::resume_point(node, &keys, |t| present.contains(t));
    if !cached && inst.incremental {
        // An image made by an earlier `--incremental` run of these very steps, or
        // else the node's previous provisioning to run the changed steps on.
        let incremental = hash::incremental_key(&key);
        if inst
            .backend
            .image(&cache_tag(&incremental))
            .await?
            .is_some()
        {
            return Ok(ImageState::Known {
                key: incremental,
                cached: true,
                resume: None,
            });
        }
        if let Some(previous) =
            previous_provisioning(inst, node, start, &keys, resume.as_ref()).await?
        {
            return Ok(ImageState::Known {
                key: incremental,
                cached: false,
                resume: Some(previous),
            });
        }
    }
    Ok(ImageState::Known {
        key,
        cached,
        resume,
    })
}

/// `--incremental`: the node's latest provisioned image or snapshot (this project,
/// environment and node) that shares the first steps with `keys` and holds an older
/// version of the step after them, when it is further along than the snapshot `exact`
/// resumes from. Its changed steps run on top of it.
async fn previous_provisioning(
    inst: &Instance,
    node: &Node,
    start: &ImageDetails,
    keys: &[String],
    exact: Option<&reconcile::Resume>,
) -> Result<Option<reconcile::Resume>, UpError> {
    let ours = hash::chain_label(&hash::start_key(&start.id, node), keys);
    let images = inst
        .backend
        .list_images(vec![
            format!("{}={}", labels::PROJECT, inst.id.project),
            format!("{}={}", labels::ENVIRONMENT, inst.env.name),
            format!("{}={}", labels::NODE, node.name),
            labels::CHAIN.to_string(),
        ])
        .await?;
    let exact = exact.map_or(0, |r| r.after);
    let best = images
        .iter()
        .filter_map(|image| {
            let chain = image.labels.get(labels::CHAIN)?;
            // The start is shared, then `unchanged` steps; the image holds more.
            let shared = hash::chain_common(&ours, chain);
            let held = chain.split(' ').count() - 1;
            let unchanged = shared.checked_sub(1)?;
            (held > unchanged && unchanged >= exact && unchanged < node.provision.len())
                .then_some((unchanged, image.created, image))
        })
        .max_by_key(|(unchanged, created, _)| (*unchanged, *created));
    Ok(best.map(|(after, _, image)| reconcile::Resume {
        after,
        tag: image.id.clone(),
        next: node.provision[after].label(),
        incremental: true,
    }))
}

/// The tag of the node's provisioned image for the steps' key `key`: the one a normal
/// run makes, or with `--incremental` and none of those, the incremental one.
///
/// # Errors
/// Engine failures.
pub async fn provisioned_tag(inst: &Instance, key: &str) -> Result<String, UpError> {
    let tag = cache_tag(key);
    if inst.incremental && inst.backend.image(&tag).await?.is_none() {
        return Ok(cache_tag(&hash::incremental_key(key)));
    }
    Ok(tag)
}

async fn bring_up(
    inst: &Instance,
    observer: &dyn Observer,
    options: &UpOptions,
) -> Result<BTreeMap<String, NodeOutcome>, UpError> {
    let existing = observed(&inst.containers().await?);
    // Left by an interrupted run; never reused.
    for e in existing.iter().filter(|e| e.provisioning) {
        inst.backend.remove_node(&e.id).await?;
    }
    inst.backend
        .ensure_network(&inst.id.network(), inst.id.labels())
        .await?;

    let (nodes, sources) = started_nodes(inst, options);
    ensure_volumes(inst, &nodes).await?;
    let note = |msg: &str| observer.event(&Event::Note(msg.to_string()));
    for node in &nodes {
        if let Some(warning) = node.privileges.warning(&node.name) {
            note(&warning);
        }
        observer.event(&Event::Node {
            node: node.name.clone(),
            phase: Phase::Image,
        });
    }
    let bases = try_join_all(
        sources
            .iter()
            .map(|source| inst.backend.prepare_image(&inst.root, source, &note)),
    )
    .await?;
    let bases: Vec<(&ImageSource, ImageDetails)> = sources.into_iter().zip(bases).collect();
    let starts = try_join_all(nodes.iter().map(|node| {
        let base = bases
            .iter()
            .find(|(s, _)| *s == &node.image)
            .map(|(_, b)| b.clone())
            .expect("every node's image was resolved");
        async {
            let start = start_image(inst, node, base, &note).await?;
            let state = known_state(inst, node, &start).await?;
            Ok::<_, UpError>((start, state))
        }
    }))
    .await?;
    let images: BTreeMap<String, ImageState> = nodes
        .iter()
        .zip(&starts)
        .map(|(n, (_, state))| (n.name.clone(), state.clone()))
        .collect();
    let existing: Vec<Existing> = existing.into_iter().filter(|e| !e.provisioning).collect();
    let plan = reconcile::reconcile_part(
        &inst.env,
        &existing,
        &images,
        vec![],
        options.no_cache,
        options.only.as_ref(),
    );
    for node in nodes.iter().filter(|n| n.run == Run::Once) {
        if plan.node(&node.name).is_some_and(NodePlan::unchanged) {
            note(&format!(
                "job `{}` completed earlier with the same image, command and environment; not run again",
                node.name
            ));
        }
    }

    let prepared: Vec<Option<Prepared>> =
        try_join_all(nodes.iter().zip(starts).map(|(node, (start, _))| {
            let node_plan = plan
                .node(&node.name)
                .cloned()
                .expect("every started node is planned");
            carry_out(inst, node, start, node_plan, observer, options)
        }))
        .await?;
    let prepared: BTreeMap<&str, Option<Prepared>> = nodes
        .iter()
        .map(|n| n.name.as_str())
        .zip(prepared)
        .collect();

    let client = crate::check::http::client();
    let outcomes = start_in_order(inst, &prepared, observer, &client).await?;
    let mut gone: BTreeMap<&str, ()> = BTreeMap::new();
    for r in plan
        .remove
        .iter()
        .filter(|r| r.why == RemovalWhy::Undefined)
    {
        inst.backend.remove_node(&r.id).await?;
        if let Some(e) = existing.iter().find(|e| e.id == r.id) {
            gone.insert(e.node.as_str(), ());
        }
    }
    for name in gone.keys() {
        observer.event(&Event::Node {
            node: name.to_string(),
            phase: Phase::Removed,
        });
    }
    Ok(outcomes)
}

/// Starts every node as soon as the nodes it depends on are ready (or only started, for
/// a dependency written `NODE:started`): each node waits for its own dependencies only,
/// not for a whole wave, and its containers are created while it waits. The first
/// failure stops the rest.
async fn start_in_order(
    inst: &Instance,
    prepared: &BTreeMap<&str, Option<Prepared>>,
    observer: &dyn Observer,
    client: &reqwest::Client,
) -> Result<BTreeMap<String, NodeOutcome>, UpError> {
    use futures_util::future::{FutureExt, LocalBoxFuture, Shared, TryFutureExt};
    use std::sync::Mutex;
    // `Err(())` tells dependents not to start; the error itself is kept here.
    let failures: Mutex<Vec<UpError>> = Mutex::new(Vec::new());
    let outcomes: Mutex<BTreeMap<String, NodeOutcome>> = Mutex::new(BTreeMap::new());
    let mut ready: BTreeMap<&str, Shared<LocalBoxFuture<'_, Result<(), ()>>>> = BTreeMap::new();
    let mut started: BTreeMap<&str, Shared<LocalBoxFuture<'_, Result<(), ()>>>> = BTreeMap::new();
    // Waves list every node after its dependencies, so theirs already exist here.
    for name in order::waves(&inst.env.nodes).into_iter().flatten() {
        let (Some(node), Some(prep)) = (inst.env.nodes.get(&name), prepared.get(name.as_str()))
        else {
            continue;
        };
        // A dependency waited for as `started` counts once its containers run; the
        // others once they are ready (healthy, booted, completed).
        let deps: Vec<_> = node
            .depends_on
            .iter()
            .filter_map(|d| {
                let dep = inst.env.nodes.get(d)?;
                match node.condition_on(dep) {
                    Condition::Started => started.get(d.as_str()),
                    Condition::Healthy | Condition::Completed => ready.get(d.as_str()),
                }
                .cloned()
            })
            .collect();
        let (tell_started, on_start) = tokio::sync::oneshot::channel::<()>();
        started.insert(
            node.name.as_str(),
            on_start.map(|r| r.map_err(drop)).boxed_local().shared(),
        );
        let (failures, outcomes) = (&failures, &outcomes);
        let node_up = async move {
            // Containers are created while the dependencies start; `None` is a
            // dependency's failure, told by that dependency.
            let create = async {
                match prep {
                    Some(p) => Ok(Some((p, create_node(inst, node, p).await?))),
                    None => Ok(None),
                }
            };
            let result = match futures_util::future::try_join(
                try_join_all(deps).map_err(|()| None),
                create.map_err(Some),
            )
            .await
            {
                Ok((_, None)) => {
                    let _ = tell_started.send(());
                    Ok((node.name.clone(), NodeOutcome::Unchanged))
                }
                Ok((_, Some((prep, created)))) => {
                    run_node(
                        inst,
                        node,
                        prep,
                        created,
                        Some(tell_started),
                        observer,
                        client,
                    )
                    .await
                }
                Err(None) => return Err(()),
                Err(Some(e)) => Err(e),
            };
            match result {
                Ok((name, outcome)) => {
                    outcomes.lock().expect("not poisoned").insert(name, outcome);
                    Ok(())
                }
                Err(e) => {
                    failures
                        .lock()
                        .expect("not poisoned")
                        .push(e.on_node(&node.name));
                    Err(())
                }
            }
        }
        .boxed_local()
        .shared();
        ready.insert(node.name.as_str(), node_up);
    }
    let all = try_join_all(ready.into_values()).await;
    drop(started);
    if let Some(first) = failures
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .next()
    {
        return Err(first);
    }
    debug_assert!(all.is_ok(), "a node failed without saying why");
    Ok(outcomes.into_inner().expect("not poisoned"))
}

pub use crate::plan::reconcile::cache_tag;

/// The image a node's provisioning starts from (its base, with systemd added for
/// `init = "systemd"`) and its provisioning key.
///
/// # Errors
/// Engine failures deriving the systemd image; unreadable provisioning files.
pub async fn node_key(
    inst: &Instance,
    node: &Node,
    base: ImageDetails,
    note: &(dyn Fn(&str) + Sync),
) -> Result<(ImageDetails, String), UpError> {
    let start = start_image(inst, node, base, note).await?;
    let key = provision_key(inst, node, &start)?;
    Ok((start, key))
}

/// The image a node's provisioning starts from: its base, with systemd added for
/// `init = "systemd"`.
///
/// # Errors
/// Engine failures deriving the systemd image.
async fn start_image(
    inst: &Instance,
    node: &Node,
    base: ImageDetails,
    note: &(dyn Fn(&str) + Sync),
) -> Result<ImageDetails, UpError> {
    Ok(if node.init == Init::Systemd {
        let mut labels = inst.id.labels();
        labels.insert(labels::ROLE.into(), ROLE_PROVISION.into());
        labels.insert(labels::NODE.into(), node.name.clone());
        inst.backend
            .prepare_systemd_image(&base, &inst.id.network(), labels, note)
            .await
            .map_err(|e| match e {
                EngineError::Other(m) => {
                    EngineError::Other(format!("node `{}` (init = \"systemd\"): {m}", node.name))
                }
                other => other,
            })?
    } else {
        base
    })
}

/// A node's provisioning key from the image its provisioning starts from (that image's
/// id when it has no steps).
fn provision_key(inst: &Instance, node: &Node, start: &ImageDetails) -> Result<String, UpError> {
    Ok(step_keys(inst, node, start)?
        .pop()
        .unwrap_or_else(|| start.id.clone()))
}

/// The keys of a node's filesystem after each of its steps (`hash::step_keys`), from
/// the image its provisioning starts from.
fn step_keys(inst: &Instance, node: &Node, start: &ImageDetails) -> Result<Vec<String>, UpError> {
    Ok(
        hash::step_keys(&inst.root, &start.id, node, &inst.env.vars).map_err(|e| {
            EngineError::Other(format!(
                "reading provisioning files of node `{}`: {e}",
                node.name
            ))
        })?,
    )
}

/// Container names of every replica of the instance, by replica name.
pub fn host_names(inst: &Instance) -> BTreeMap<String, String> {
    inst.env
        .nodes
        .values()
        .flat_map(|n| n.replica_names())
        .map(|r| (r.clone(), inst.id.container(&r)))
        .collect()
}

/// Command of a node's containers started from its prepared image.
fn node_command(node: &Node) -> Option<Vec<String>> {
    match node.init {
        Init::Systemd => Some(vec![SYSTEMD_INIT.to_string()]),
        Init::None => node.command.as_ref().map(|c| c.0.clone()),
    }
}

/// Resolves the node's image and provisions it unless cached, for a node started
/// afresh (promotion's new colour).
pub(crate) async fn prepare(
    inst: &Instance,
    node: &Node,
    base: ImageDetails,
    observer: &dyn Observer,
    options: &UpOptions,
) -> Result<Option<Prepared>, UpError> {
    let note = |msg: &str| observer.event(&Event::Note(msg.to_string()));
    let start = start_image(inst, node, base, &note).await?;
    let state = known_state(inst, node, &start).await?;
    let node_plan = reconcile::plan_node(node, 1, &[], &state, options.no_cache);
    carry_out(inst, node, start, node_plan, observer, options).await
}

/// Makes the node's image as its plan says (nothing, its base, the cached image, or
/// provisioning now). `None` means its containers are current and nothing needs doing.
async fn carry_out(
    inst: &Instance,
    node: &Node,
    start: ImageDetails,
    plan: NodePlan,
    observer: &dyn Observer,
    options: &UpOptions,
) -> Result<Option<Prepared>, UpError> {
    let emit = |phase: Phase| {
        observer.event(&Event::Node {
            node: node.name.clone(),
            phase,
        })
    };
    let hash = plan.hash.clone().unwrap_or_default();
    let (image, provisioned) = match &plan.image {
        ImageAction::Unchanged => {
            emit(Phase::Unchanged);
            return Ok(None);
        }
        ImageAction::Base => (start.id.clone(), false),
        ImageAction::Cached { tag } => {
            emit(Phase::Cached);
            note_cached_log(inst, node, tag);
            (tag.clone(), false)
        }
        ImageAction::Provision { tag, resume, .. } => {
            let tag = tag.clone().expect("the key of a prepared image is known");
            let keys = step_keys(inst, node, &start)?;
            let from = Provisioning {
                base: &start,
                keys: &keys,
                tag: &tag,
                resume: resume.as_ref(),
                keep_failed: options.keep_failed,
            };
            provision_image(inst, node, &from, observer).await?;
            (tag, true)
        }
    };
    Ok(Some(Prepared {
        image,
        hash,
        provisioned,
        boot_image: start.id,
        plan,
    }))
}

/// What one provisioning of a node starts from and keeps.
struct Provisioning<'a> {
    /// The image the steps start from when no snapshot is reused.
    base: &'a ImageDetails,
    /// The node's chain (`hash::step_keys`): the snapshot after step k is kept under
    /// link k, the provisioned image under the last.
    keys: &'a [String],
    /// The provisioned image's tag.
    tag: &'a str,
    /// The snapshot to start from instead of the base, skipping the steps it holds.
    resume: Option<&'a Resume>,
    /// A failed step's container stays running ([`UpOptions::keep_failed`]).
    keep_failed: bool,
}

/// Runs the node's steps in a short-lived container, keeping a snapshot after each
/// step but the last, and commits the result as the provisioned image.
async fn provision_image(
    inst: &Instance,
    node: &Node,
    from: &Provisioning<'_>,
    observer: &dyn Observer,
) -> Result<(), UpError> {
    let image = from
        .resume
        .map_or(from.base.id.as_str(), |r| r.tag.as_str());
    let mut spec = provision_spec(inst, node, image, "provision");
    let packages = package_lease(inst, node, &mut spec).await?;
    let id = inst
        .backend
        .create_node(&spec)
        .await
        .map_err(|e| UpError::from(e).on_node(&node.name))?;
    let cache_slot = packages.as_ref().map(|l| l.slot.as_str());
    let emit = |phase: Phase| {
        observer.event(&Event::Node {
            node: node.name.clone(),
            phase,
        })
    };
    let (cmd, entrypoint) = match node.init {
        Init::Systemd => (Some(vec![SYSTEMD_INIT.to_string()]), None),
        Init::None => (from.base.cmd.clone(), from.base.entrypoint.clone()),
    };
    let result = async {
        inst.backend.start_node(&id, &spec.name).await?;
        if node.init == Init::Systemd {
            inst.backend.wait_booted(&id, BOOT_TIMEOUT).await?;
        }
        let total = node.provision.len();
        let host = provision::OnEngine(inst.backend.as_ref());
        let target = provision::Target {
            host: &host,
            root: &inst.root,
            id: &id,
            node,
            env: &inst.env,
            hosts: host_names(inst),
            second_run: false,
        };
        let done = from.resume.map_or(0, |r| r.after);
        let incremental = from.resume.filter(|r| r.incremental);
        if let Some(r) = from.resume {
            emit(Phase::Resumed {
                after: r.after,
                next: r.next.clone(),
                incremental: r.incremental,
            });
        }
        let start = hash::start_key(&from.base.id, node);
        let mut logs = Vec::new();
        for (i, step) in node.provision.iter().enumerate().skip(done) {
            let index = i + 1;
            emit(Phase::Provisioning {
                index,
                total,
                label: step.label(),
            });
            match provision::run_step(&target, index, step).await {
                Ok(log) => logs.push(log),
                Err(e) => {
                    write_provision_log(inst, node, from, cache_slot, &logs, Some(&e));
                    return Err(UpError::Provision(e));
                }
            }
            // Snapshots hold what a build from the base holds: none is kept on top of
            // a previous provisioning.
            if index < total && incremental.is_none() {
                let snapshot = reconcile::snapshot_tag(&from.keys[i]);
                let mut step_labels = image_labels(inst, node, &from.keys[i]);
                step_labels.insert(labels::STEP.into(), index.to_string());
                step_labels.insert(
                    labels::CHAIN.into(),
                    hash::chain_label(&start, &from.keys[..index]),
                );
                keep_image(inst, &id, &snapshot, step_labels, &cmd, &entrypoint).await?;
            }
        }
        write_provision_log(inst, node, from, cache_slot, &logs, None);
        provision::finish(&target).await;
        let key = from.keys.last().expect("a provisioned node has steps");
        let mut final_labels = match incremental {
            Some(previous) => {
                let mut l = image_labels(inst, node, &hash::incremental_key(key));
                l.insert(labels::INCREMENTAL.into(), previous.tag.clone());
                l
            }
            None => image_labels(inst, node, key),
        };
        final_labels.insert(labels::CHAIN.into(), hash::chain_label(&start, from.keys));
        keep_image(inst, &id, from.tag, final_labels, &cmd, &entrypoint).await
    }
    .await;
    if from.keep_failed {
        if let Err(UpError::Provision(error)) = result {
            // Renamed, the container tells `gc` and the next `up` that it was kept.
            let name = kept_name(inst, &node.name);
            return Err(match inst.backend.rename_node(&id, &name).await {
                Ok(()) => UpError::Kept {
                    error: Box::new(error),
                    container: id,
                },
                Err(why) => {
                    let _ = inst.backend.remove_node(&id).await;
                    UpError::NotKept {
                        error: Box::new(error),
                        why: why.to_string(),
                    }
                }
            });
        }
    }
    // The step's own failure comes first; a failed removal must not hide it. Once the
    // image is kept, the nodes need not wait for the container to go.
    drop(packages);
    match result {
        Ok(()) => {
            inst.remove_later(id);
            Ok(())
        }
        Err(e) => {
            let _ = inst.backend.remove_node(&id).await;
            Err(e.on_node(&node.name))
        }
    }
}

/// The labels of a provisioned image or step snapshot of `key`: the cache's, which
/// `image list`, `image prune` and `gc` select by.
fn image_labels(inst: &Instance, node: &Node, key: &str) -> HashMap<String, String> {
    HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::CACHE_KEY.to_string(), key.to_string()),
        (labels::NODE.to_string(), node.name.clone()),
        (labels::ENVIRONMENT.to_string(), inst.env.name.clone()),
        (labels::PROJECT.to_string(), inst.id.project.clone()),
    ])
}

/// Commits the provisioning container `id` as `tag`. The image this one replaces under
/// `tag` (`--no-cache`, or another run that provisioned the same key at the same time)
/// goes unless a container or a later image uses it; `envctl gc` removes it once none
/// does.
async fn keep_image(
    inst: &Instance,
    id: &str,
    tag: &str,
    image_labels: HashMap<String, String>,
    cmd: &Option<Vec<String>>,
    entrypoint: &Option<Vec<String>>,
) -> Result<(), UpError> {
    let previous = inst.backend.image(tag).await?.map(|i| i.id);
    let committed = inst
        .backend
        .snapshot(id, tag, image_labels, cmd.clone(), entrypoint.clone())
        .await?;
    if let Some(previous) = previous.filter(|p| *p != committed) {
        let _ = inst.backend.remove_image_unless_used(&previous).await;
    }
    Ok(())
}

/// The container of one replica of a node, from its prepared image.
fn replica_spec(
    inst: &Instance,
    node: &Node,
    prep: &Prepared,
    replica: &str,
    mounts: &[Mount],
) -> NodeSpec {
    let mut labels = inst.id.labels();
    labels.insert(labels::ROLE.into(), ROLE_NODE.into());
    labels.insert(labels::NODE.into(), node.name.clone());
    labels.insert(labels::REPLICA.into(), replica.to_string());
    labels.insert(labels::HASH.into(), prep.hash.clone());
    let mut aliases = vec![replica.to_string()];
    if replica != node.name {
        aliases.push(node.name.clone());
    }
    NodeSpec {
        name: inst.id.container(replica),
        image: prep.image.clone(),
        cmd: node_command(node),
        entrypoint: match node.init {
            Init::None => node.entrypoint.as_ref().map(|e| e.0.clone()),
            Init::Systemd => None,
        },
        env: env_list(node),
        labels,
        network: inst.id.network(),
        aliases,
        hostname: replica.to_string(),
        ports: node.ports.clone(),
        systemd: node.init == Init::Systemd,
        boot_image: Some(prep.boot_image.clone()),
        privileges: node.privileges.clone(),
        mounts: mounts.to_vec(),
        resources: node.resources,
        restart: node.restart,
        place: node.place.clone(),
    }
}

/// A node's mounts as the engine takes them: each named volume by the instance's name
/// for it, each project path by where it is now (still inside the project).
///
/// # Errors
/// A project path that no longer resolves inside the project.
fn engine_mounts(inst: &Instance, node: &Node) -> Result<Vec<Mount>, UpError> {
    let root = crate::model::confine::Root::new(&inst.root);
    node.mounts
        .iter()
        .map(|m| {
            Ok(match m {
                Mount::Volume {
                    name,
                    target,
                    read_only,
                } => Mount::Volume {
                    name: inst.id.volume(name),
                    target: target.clone(),
                    read_only: *read_only,
                },
                Mount::Bind {
                    source,
                    target,
                    read_only,
                } => Mount::Bind {
                    source: root.resolve(&source.display().to_string()).map_err(|why| {
                        UpError::Engine(EngineError::Other(format!(
                            "node `{}` binds {}: {why}",
                            node.name,
                            source.display()
                        )))
                    })?,
                    target: target.clone(),
                    read_only: *read_only,
                },
                tmpfs @ Mount::Tmpfs { .. } => tmpfs.clone(),
            })
        })
        .collect()
}

/// Creates the named volumes of the nodes `up` starts, unless they exist (an earlier
/// `up`, or one kept by `down --keep-volumes`).
async fn ensure_volumes(inst: &Instance, nodes: &[&Node]) -> Result<(), UpError> {
    let names: std::collections::BTreeSet<&str> = nodes
        .iter()
        .flat_map(|n| &n.mounts)
        .filter_map(|m| match m {
            Mount::Volume { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for name in names {
        inst.backend
            .ensure_volume(&inst.id.volume(name), inst.id.labels())
            .await?;
    }
    Ok(())
}

/// Longest a systemd node may take to boot.
pub const BOOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A short-lived container of this run that runs provisioning steps (`purpose` names
/// it: `provision`, `idempotence`...): it idles (`sleep infinity`), or boots systemd for
/// `init = "systemd"` so steps can manage services. Its labels mark it as provisioning
/// work, which cleanup and `gc` remove.
pub fn provision_spec(inst: &Instance, node: &Node, image: &str, purpose: &str) -> NodeSpec {
    let mut labels = inst.id.labels();
    labels.insert(labels::ROLE.into(), ROLE_PROVISION.into());
    labels.insert(labels::NODE.into(), node.name.clone());
    let name = format!(
        "{}.{}-{purpose}-{}",
        inst.id.prefix(),
        node.name,
        inst.id.run
    );
    let systemd = node.init == Init::Systemd;
    NodeSpec {
        name,
        image: image.to_string(),
        entrypoint: (!systemd).then(|| vec!["sleep".into()]),
        cmd: Some(if systemd {
            vec![SYSTEMD_INIT.into()]
        } else {
            vec!["infinity".into()]
        }),
        // Secrets reach steps through each exec's environment only: the committed image
        // keeps the container's environment, and must not keep them.
        env: crate::model::secrets::without(env_list(node), &inst.env.secrets),
        labels,
        network: inst.id.network(),
        aliases: vec![],
        hostname: node.name.clone(),
        ports: vec![],
        systemd,
        boot_image: None,
        privileges: node.privileges.clone(),
        // Steps see the image alone, so a provisioned image never holds a volume's
        // contents; limits are the running node's, not its provisioning's.
        mounts: vec![],
        resources: Default::default(),
        restart: Default::default(),
        place: node.place.clone(),
    }
}

/// Mounts a slot of the package cache into the provisioning container `spec`, unless
/// the instance runs without it; the slot is held until the lease is dropped.
///
/// # Errors
/// Engine failures creating the cache's volumes.
pub async fn package_lease(
    inst: &Instance,
    node: &Node,
    spec: &mut NodeSpec,
) -> Result<Option<package_cache::Lease>, UpError> {
    if !inst.package_cache {
        return Ok(None);
    }
    let base = match &node.image {
        ImageSource::Image(reference) => reference.as_str(),
        ImageSource::Build(_) => "built",
    };
    let lease = package_cache::lease(inst.backend.as_ref(), base, &node.name)
        .await
        .map_err(|e| UpError::from(e).on_node(&node.name))?;
    if let Some(l) = &lease {
        spec.mounts.extend(l.mounts.iter().cloned());
    }
    Ok(lease)
}

/// Where the output of the provisioning that made a cached image is kept, so that a
/// node started from the cache can still show it.
fn cached_log_path(inst: &Instance, tag: &str) -> std::path::PathBuf {
    cache_record(inst, tag, "provision.log")
}

/// A file kept about the provisioned image `tag` (`KEY.SUFFIX` under
/// `.envctl/logs/cache`).
pub fn cache_record(inst: &Instance, tag: &str, suffix: &str) -> std::path::PathBuf {
    let key = tag.rsplit(':').next().unwrap_or(tag);
    inst.root
        .join(".envctl")
        .join("logs")
        .join("cache")
        .join(format!("{key}.{suffix}"))
}

/// Writes the instance's provisioning log of the steps that ran (`steps`, after those a
/// reused snapshot held) and the one that `failed`; a provisioning that succeeded is
/// kept beside its cached image too.
fn write_provision_log(
    inst: &Instance,
    node: &Node,
    from: &Provisioning<'_>,
    cache_slot: Option<&str>,
    steps: &[provision::StepLog],
    failed: Option<&ProvisionError>,
) {
    let mut text = String::new();
    text.push_str(&match cache_slot {
        Some(slot) => format!("=== package cache: {slot} (apt archives, pip)\n"),
        None => "=== package cache: not used\n".to_string(),
    });
    let done = from.resume.map_or(0, |r| r.after);
    if let Some(r) = from.resume {
        text.push_str(&format!("=== {r} (snapshot {})\n", r.tag));
    }
    for (i, s) in steps.iter().enumerate() {
        text.push_str(&format!(
            "=== step {} ({}) ok in {}\n{}\n",
            done + i + 1,
            s.label,
            crate::wait::human(s.duration),
            s.output
        ));
        for c in &s.changed {
            text.push_str(&format!("changed: {c}\n"));
        }
    }
    match failed {
        Some(e) => text.push_str(&format!(
            "=== step {} ({}) failed: {}\n{}\n",
            e.index, e.label, e.reason, e.output
        )),
        None => {
            let kept = cached_log_path(inst, from.tag);
            if let (Some(dir), Some(name)) = (kept.parent(), kept.file_name()) {
                super::keep_log(dir, &name.to_string_lossy(), &text);
            }
        }
    }
    super::keep_log(
        &inst.log_dir(),
        &format!("{}.provision.log", node.name),
        &text,
    );
}

/// Records in the instance's provisioning log that the image came from the cache.
fn note_cached_log(inst: &Instance, node: &Node, tag: &str) {
    let earlier = std::fs::read_to_string(cached_log_path(inst, tag))
        .map(|t| format!("--- output of the provisioning that made it:\n{t}"))
        .unwrap_or_default();
    super::keep_log(
        &inst.log_dir(),
        &format!("{}.provision.log", node.name),
        &format!("=== provisioned image {tag} reused from the cache; no step ran in this up (use `envctl up --no-cache` to provision again)\n{earlier}"),
    );
}

fn env_list(node: &Node) -> Vec<String> {
    node.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Creates and starts the node's missing or outdated replicas, then waits until all of
/// them are ready.
pub(crate) async fn start_node(
    inst: &Instance,
    node: &Node,
    prepared: Option<&Prepared>,
    observer: &dyn Observer,
    client: &reqwest::Client,
) -> Result<(String, NodeOutcome), UpError> {
    let Some(prep) = prepared else {
        return Ok((node.name.clone(), NodeOutcome::Unchanged));
    };
    let created = create_node(inst, node, prep).await?;
    run_node(inst, node, prep, created, None, observer, client).await
}

/// Removes the node's outdated replicas and creates (without starting) the missing ones,
/// as its plan says: nothing runs yet, so this need not wait for the node's dependencies.
async fn create_node(
    inst: &Instance,
    node: &Node,
    prep: &Prepared,
) -> Result<Vec<(String, String)>, UpError> {
    try_join_all(
        prep.plan
            .replace
            .iter()
            .map(|(id, _)| inst.backend.remove_node(id)),
    )
    .await?;
    // Replicas are created side by side.
    let mounts = engine_mounts(inst, node)?;
    let mounts = &mounts;
    let fresh = try_join_all(prep.plan.create.iter().map(|replica| async move {
        let spec = replica_spec(inst, node, prep, replica, mounts);
        let id = inst.backend.create_node(&spec).await?;
        Ok::<_, UpError>((replica.clone(), id))
    }))
    .await?;
    Ok(fresh)
}

/// Starts the replicas `create_node` made, side by side, and waits until all of them are
/// ready.
async fn run_node(
    inst: &Instance,
    node: &Node,
    prep: &Prepared,
    fresh: Vec<(String, String)>,
    tell_started: Option<tokio::sync::oneshot::Sender<()>>,
    observer: &dyn Observer,
    client: &reqwest::Client,
) -> Result<(String, NodeOutcome), UpError> {
    let began = Instant::now();
    let emit = |phase: Phase| {
        observer.event(&Event::Node {
            node: node.name.clone(),
            phase,
        })
    };
    emit(Phase::Starting);
    try_join_all(fresh.iter().map(|(replica, id)| async move {
        inst.backend
            .start_node(id, &inst.id.container(replica))
            .await
    }))
    .await?;
    if let Some(tell) = tell_started {
        let _ = tell.send(());
    }
    emit(Phase::WaitingHealthy);
    let ids: Vec<String> = fresh.iter().map(|(_, id)| id.clone()).collect();
    let listed = inst
        .backend
        .list_nodes(&HashMap::from([("id".to_string(), ids)]))
        .await?;
    let network = inst.id.network();
    try_join_all(fresh.iter().map(|(replica, id)| {
        let info = listed.iter().find(|c| &c.id == id).cloned();
        let network = &network;
        async move {
            let info = info.ok_or_else(|| {
                UpError::Engine(EngineError::NodeMissing {
                    node: replica.clone(),
                    hint: " (its container disappeared right after it started)".into(),
                })
            })?;
            // A job is done once it has run to completion.
            if node.run == Run::Once {
                return health::wait_completed(
                    inst.backend.as_ref(),
                    replica,
                    &info,
                    health::JOB_TIMEOUT,
                )
                .await
                .map_err(UpError::from);
            }
            // A systemd node is ready once booted (its units started), then healthy.
            if node.init == Init::Systemd {
                inst.backend.wait_booted(id, BOOT_TIMEOUT).await?;
            }
            health::wait_ready(
                inst.backend.as_ref(),
                network,
                replica,
                &info,
                node.health.as_ref(),
                client,
            )
            .await
            .map_err(UpError::from)
        }
    }))
    .await
    .inspect_err(|_| emit(Phase::Failed))?;
    emit(Phase::Ready {
        elapsed: began.elapsed(),
    });
    Ok((
        node.name.clone(),
        NodeOutcome::Started {
            provisioned: prep.provisioned,
        },
    ))
}
