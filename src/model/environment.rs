//! The resolved environment: an `environments/NAME.toml` file with its `extends` chain
//! applied and every reference checked. This is what the planner and engine consume.

use super::confine::{Refused, Root};
use super::duration::NonZeroDuration;
use super::environment_file::{
    RawCompose, RawEnvironment, RawHealth, RawInventory, RawNode, RawStep,
};
use super::inventory;
use super::port::PortMapping;
use super::scalar::CommandLine;
pub use super::source::Location;
use super::source::{Diagnostic, SourceFile};
use super::template::{self, TemplateContext};
use super::ModelError;
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A value together with where it was written.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub at: Location,
}

/// One environment, ready to plan.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub name: String,
    pub description: Option<String>,
    pub vars: BTreeMap<String, String>,
    /// Secret values by name; every node gets them as environment variables, and they
    /// are redacted from all output.
    pub secrets: BTreeMap<String, String>,
    /// Nodes by name, in name order.
    pub nodes: BTreeMap<String, Node>,
    /// The environment files this one was built from, child first.
    pub files: Vec<PathBuf>,
    /// Names of the environments this one extends, nearest first.
    pub ancestors: Vec<String>,
    /// Promotable services by name (`[promote.SERVICE]`).
    pub promotions: BTreeMap<String, super::promotion::Promotion>,
    /// Services released into a directory behind a symlink, by name (`[releases.SERVICE]`).
    pub releases: BTreeMap<String, super::symlink_release::SymlinkRelease>,
    /// The engine that runs it (`engine = ...`, nearest file wins).
    pub engine: super::EngineKind,
}

impl Environment {
    /// `names` and every node they depend on, directly or not: what `up ENV NODE...`
    /// starts.
    ///
    /// # Errors
    /// A message naming a node the environment does not define (or scales to zero).
    pub fn with_dependencies(&self, names: &[String]) -> Result<BTreeSet<String>, String> {
        let mut wanted = BTreeSet::new();
        let mut todo: Vec<String> = names.to_vec();
        while let Some(name) = todo.pop() {
            let Some(node) = self.nodes.get(&name).filter(|n| n.replicas > 0) else {
                let started: Vec<&str> = self
                    .nodes
                    .values()
                    .filter(|n| n.replicas > 0)
                    .map(|n| n.name.as_str())
                    .collect();
                return Err(format!(
                    "environment `{}` starts no node `{name}` (nodes: {})",
                    self.name,
                    started.join(", ")
                ));
            };
            if wanted.insert(name.clone()) {
                todo.extend(node.depends_on.iter().cloned());
            }
        }
        Ok(wanted)
    }
}

/// Where a node's image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageSource {
    /// An image reference such as `debian:bookworm`.
    Image(String),
    /// A directory with a Dockerfile, relative to the project root.
    Build(PathBuf),
}

/// A container (or VM) definition.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub image: ImageSource,
    pub command: Option<CommandLine>,
    /// Replaces the image's entrypoint; `command` (or nothing) is its arguments.
    pub entrypoint: Option<CommandLine>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<PortMapping>,
    pub depends_on: Vec<String>,
    pub replicas: u32,
    pub health: Option<Health>,
    pub provision: Vec<Step>,
    /// What runs as PID 1.
    pub init: Init,
    /// Ansible groups of the node's hosts besides the group named after the node.
    pub groups: Vec<String>,
    /// Host variables carried over from an imported inventory.
    pub host_vars: BTreeMap<String, String>,
    /// Path prefixes the idempotence check ignores on this node, besides the defaults.
    pub idempotence_ignore: Vec<String>,
    /// What its containers may do beyond the least-privilege defaults.
    pub privileges: super::Privileges,
    /// Volumes, project paths and tmpfs mounted in its containers (not while provisioning).
    pub mounts: Vec<super::mounts::Mount>,
    /// Limits of each of its containers.
    pub resources: super::resources::Resources,
    /// A service that keeps running, or a job that runs to completion.
    pub run: Run,
    /// When the engine restarts an exited container.
    pub restart: Restart,
    /// Conditions written on `depends_on` entries (`"db:healthy"`), by dependency; a
    /// dependency without one is waited for as [`Node::condition_on`] says.
    pub conditions: BTreeMap<String, Condition>,
    /// Keys written for this node that only a container engine serves (`volumes`,
    /// `memory`...), with where: a VM engine refuses them there.
    pub container_keys: Vec<(&'static str, Location)>,
    /// What `up --watch` copies into its running containers when it changes.
    pub sync: Vec<SyncRule>,
    /// Where on a swarm it may run: every constraint must hold for a machine.
    pub place: Vec<super::placement::Constraint>,
    /// Where `place` was written: only the swarm engine serves it.
    pub place_at: Option<Location>,
}

/// A `sync` rule: project files copied into a running node by `up --watch` when they
/// change, without provisioning again, then `then` run in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncRule {
    /// A file or directory of the project (project path).
    pub from: PathBuf,
    /// Where it goes in the node.
    pub to: String,
    pub then: Option<String>,
}

/// What a node waits for of a node it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// Its containers have started.
    Started,
    /// It passes its health check.
    Healthy,
    /// It is a job and has completed successfully.
    Completed,
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
        })
    }
}

impl std::str::FromStr for Condition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "started" => Ok(Condition::Started),
            "healthy" => Ok(Condition::Healthy),
            "completed" => Ok(Condition::Completed),
            other => Err(format!(
                "unknown condition `{other}`; use started, healthy or completed"
            )),
        }
    }
}

/// Whether a node keeps running or runs once to completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Run {
    /// A service: ready when it runs (and is healthy); exiting is a failure.
    #[default]
    Always,
    /// A job (a migration, a seed): done when its command exits 0.
    Once,
}

/// When the engine restarts a node's container that exited (compose's `restart`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never: a service that exits fails `up` and `test`.
    #[default]
    No,
    Always,
    UnlessStopped,
    /// When it exits non-zero, at most this many times (no bound when `None`).
    OnFailure(Option<u32>),
}

impl std::str::FromStr for Restart {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "no" => Restart::No,
            "always" => Restart::Always,
            "unless-stopped" => Restart::UnlessStopped,
            "on-failure" => Restart::OnFailure(None),
            other => match other.strip_prefix("on-failure:").map(str::parse) {
                Some(Ok(n)) => Restart::OnFailure(Some(n)),
                _ => {
                    return Err(format!(
                        "unknown restart `{other}`; use \"no\", \"always\", \"unless-stopped\", \"on-failure\" or \"on-failure:N\""
                    ))
                }
            },
        })
    }
}

/// What a node's containers run as PID 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The node's `command` (or the image's).
    #[default]
    None,
    /// systemd, so services are managed with systemctl as in production.
    Systemd,
}

impl Node {
    /// The Ansible groups its hosts belong to: the node's name, then `groups`.
    pub fn ansible_groups(&self) -> Vec<String> {
        let mut groups = vec![self.name.clone()];
        for g in &self.groups {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        groups
    }

    /// What this node waits for of `dep`, one of its `depends_on`: the condition written,
    /// else a job's completion, a node's health when it has a check, its start otherwise
    /// (a systemd node's boot included).
    pub fn condition_on(&self, dep: &Node) -> Condition {
        self.conditions
            .get(&dep.name)
            .copied()
            .unwrap_or(match (dep.run, &dep.health) {
                (Run::Once, _) => Condition::Completed,
                (Run::Always, Some(_)) => Condition::Healthy,
                (Run::Always, None) => Condition::Started,
            })
    }

    /// Names of this node's replicas: `web` for one, `web-1`, `web-2`... for several.
    pub fn replica_names(&self) -> Vec<String> {
        if self.replicas == 1 {
            vec![self.name.clone()]
        } else {
            (1..=self.replicas)
                .map(|i| format!("{}-{i}", self.name))
                .collect()
        }
    }
}

/// How envctl decides that a node is ready.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    pub check: HealthCheck,
    pub interval: Duration,
    pub timeout: Duration,
}

/// The condition polled by a health check.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheck {
    /// A URL as seen from inside the node (`http://localhost:80/`); `status` if given,
    /// otherwise any 2xx/3xx.
    Http { url: String, status: Option<u16> },
    /// A TCP port of the node accepting connections.
    Tcp { port: u16 },
    /// A command run inside the node exiting 0.
    Command { command: CommandLine },
}

/// Longest a step may run when it sets no `timeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One provisioning step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub name: Option<String>,
    pub timeout: Option<Duration>,
    /// `false`: deliberately not idempotent; the idempotence check does not run it again.
    pub idempotent: bool,
    /// Where the step was written, for errors found after overlaying.
    #[serde(skip)]
    pub at: Option<Location>,
}

/// What a provisioning step does.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Inline shell, run with `sh -c`.
    Shell { command: String },
    /// A script file from the project (path relative to the project root), with arguments.
    Script { path: PathBuf, args: Vec<String> },
    /// A file or directory from the project copied into the node.
    Copy {
        from: PathBuf,
        to: String,
        mode: Option<u32>,
    },
    /// A minijinja template rendered with the environment's `vars` and placed in the node.
    Template {
        from: PathBuf,
        to: String,
        mode: Option<u32>,
        owner: Option<String>,
    },
    /// An Ansible playbook run against the node with an inventory envctl generates,
    /// after its roles and collections from the project are installed.
    Ansible {
        playbook: PathBuf,
        /// The requirements file the step names (else those beside the playbook).
        #[serde(skip_serializing_if = "Option::is_none")]
        requirements: Option<PathBuf>,
        /// What the requirements files declare (hashed from the files themselves).
        #[serde(skip)]
        dependencies: super::ansible_requirements::Requirements,
    },
    /// A Puppet manifest applied inside the node, with an optional module path and
    /// vendored modules.
    Puppet {
        manifest: PathBuf,
        modules: Option<PathBuf>,
        #[serde(skip_serializing_if = "Option::is_none")]
        vendor: Option<PathBuf>,
    },
    /// A Salt state tree applied masterless inside the node, with an optional pillar tree
    /// and the states to apply (the top file's highstate when `None`).
    Salt {
        states: PathBuf,
        pillar: Option<PathBuf>,
        state: Option<String>,
    },
}

impl Step {
    /// The label with the step's number (`index` from 1), as machines' logs and
    /// Vagrant's provisioners name a step: `03 record the kernel`.
    pub fn numbered_label(&self, index: usize) -> String {
        format!("{index:02} {}", self.label())
    }

    /// A short description for progress output and errors.
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.kind {
            StepKind::Shell { command } => {
                let first = command.lines().next().unwrap_or_default();
                let mut s: String = first.chars().take(60).collect();
                if first.len() > 60 || command.lines().count() > 1 {
                    s.push('…');
                }
                format!("shell `{s}`")
            }
            StepKind::Script { path, args } if args.is_empty() => {
                format!("script {}", path.display())
            }
            StepKind::Script { path, args } => {
                format!("script {} {}", path.display(), args.join(" "))
            }
            StepKind::Copy { from, to, .. } => format!("copy {} -> {to}", from.display()),
            StepKind::Template { from, to, .. } => {
                format!("template {} -> {to}", from.display())
            }
            StepKind::Ansible { playbook, .. } => format!("ansible {}", playbook.display()),
            StepKind::Puppet { manifest, .. } => format!("puppet {}", manifest.display()),
            StepKind::Salt { states, state, .. } => match state {
                Some(state) => format!("salt {} ({state})", states.display()),
                None => format!("salt {}", states.display()),
            },
        }
    }
}

/// Default interval between health polls.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_millis(200);
/// Default time a node has to become healthy.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Most replicas a node may ask for.
const MAX_REPLICAS: u32 = 100;
/// Most nodes an environment may have (a scaled-down copy, on one engine).
const MAX_NODES: usize = 200;

/// What a top-level playbook or manifest may read from beside it (its directory, when it
/// has one, is read whole). The cache key hashes these, and each must stay in the project.
pub const TOP_LEVEL_INPUTS: &[&str] = &[
    "ansible.cfg",
    "roles",
    "collections",
    "group_vars",
    "host_vars",
    "library",
    "filter_plugins",
    "files",
    "templates",
    "modules",
    "manifests",
    // A role checkout as the project (what `envctl init` makes of one): the role itself
    // and its Molecule scenarios, which a top-level playbook imports.
    "tasks",
    "handlers",
    "defaults",
    "vars",
    "meta",
    "molecule",
];

/// Checks what a playbook or manifest reads beside it: its directory, or for a file at
/// the top of the project, the [`TOP_LEVEL_INPUTS`] there.
fn check_beside(root: &Root, file: &Path) -> Result<(), Refused> {
    match file.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => root.tree(&root.real().join(dir), &dir.display().to_string()),
        None => {
            for known in TOP_LEVEL_INPUTS {
                let path = root.real().join(known);
                if std::fs::symlink_metadata(&path).is_ok() {
                    let real = root.confine(&path, known)?;
                    if real.is_dir() {
                        root.tree(&real, known)?;
                    }
                }
            }
            Ok(())
        }
    }
}

/// Loads `environments/NAME.toml` from `root`, following `extends`.
///
/// # Errors
/// [`ModelError`] with every problem found, each naming file, line and field.
pub fn load(root: &Path, name: &str) -> Result<Environment, ModelError> {
    load_with_engine(root, name, super::EngineKind::default())
}

/// [`load`], with the engine an environment runs on when none of its files names one
/// (`envctl.toml`'s `engine`).
///
/// # Errors
/// As [`load`].
pub fn load_with_engine(
    root: &Path,
    name: &str,
    engine: super::EngineKind,
) -> Result<Environment, ModelError> {
    let mut chain: Vec<(String, Arc<SourceFile>, RawEnvironment)> = Vec::new();
    let mut current = name.to_string();
    let mut referenced_at: Option<Location> = None;
    loop {
        if !valid_name(&current) {
            let message = name_message(&current, "environment");
            return Err(ModelError::Diagnostics(vec![match &referenced_at {
                Some(at) => at.diagnostic(Some("extends"), message),
                None => Diagnostic {
                    file: PathBuf::from("environments").join(format!("{current}.toml")),
                    line: 1,
                    column: 1,
                    field: None,
                    message,
                },
            }]));
        }
        let display = PathBuf::from("environments").join(format!("{current}.toml"));
        let path = root.join(&display);
        if !path.is_file() {
            return Err(match referenced_at {
                Some(at) => ModelError::Diagnostics(vec![at.diagnostic(
                    Some("extends"),
                    format!(
                        "environment `{current}` does not exist (no {})",
                        display.display()
                    ),
                )]),
                None => ModelError::UnknownEnvironment {
                    name: current,
                    available: environment_names(root).unwrap_or_default(),
                },
            });
        }
        let real = Root::new(root)
            .confine(&path, &display.display().to_string())
            .map_err(|why| {
                ModelError::Diagnostics(vec![Diagnostic {
                    file: display.clone(),
                    line: 1,
                    column: 1,
                    field: None,
                    message: why.to_string(),
                }])
            })?;
        let src = SourceFile::read(&real, display)?;
        let raw: RawEnvironment = toml::from_str(&src.text)
            .map_err(|e| ModelError::Diagnostics(vec![toml_diagnostic(&src, &e)]))?;
        let parent = raw.extends.clone();
        if let Some(p) = &parent {
            let at = Location {
                src: src.clone(),
                span: p.span(),
            };
            if p.get_ref() == &current || chain.iter().any(|(n, _, _)| n == p.get_ref()) {
                return Err(ModelError::Diagnostics(vec![at.diagnostic(
                    Some("extends"),
                    format!(
                        "`extends` forms a cycle through environment `{}`",
                        p.get_ref()
                    ),
                )]));
            }
            referenced_at = Some(at);
        }
        chain.push((current.clone(), src, raw));
        match parent {
            Some(p) => current = p.into_inner(),
            None => break,
        }
    }
    resolve(root, name, chain, engine)
}

/// Turns a TOML parse or type error into a diagnostic naming the field.
pub fn toml_diagnostic(src: &SourceFile, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim().to_string();
    src.diagnostic(err.span(), message)
}

/// A node as one file describes it: every field optional so a child file can override
/// only what it names.
#[derive(Default, Clone)]
struct PartialNode {
    header: Option<Location>,
    image: Option<Located<ImageSource>>,
    command: Option<CommandLine>,
    entrypoint: Option<CommandLine>,
    env: BTreeMap<String, String>,
    ports: Option<Vec<Located<PortMapping>>>,
    depends_on: Option<Vec<Located<String>>>,
    /// Conditions written with `depends_on` (replaced with it).
    conditions: BTreeMap<String, Located<Condition>>,
    replicas: Option<u32>,
    health: Option<Health>,
    provision: Option<Vec<Step>>,
    init: Option<Init>,
    groups: Option<Vec<String>>,
    host_vars: BTreeMap<String, String>,
    idempotence_ignore: Option<Vec<String>>,
    privileged: Option<bool>,
    capabilities: Option<Vec<String>>,
    volumes: Option<Located<Vec<super::mounts::Mount>>>,
    tmpfs: Option<Located<Vec<super::mounts::Mount>>>,
    cpus: Option<Located<i64>>,
    memory: Option<Located<i64>>,
    pids: Option<Located<i64>>,
    run: Option<Run>,
    restart: Option<Located<Restart>>,
    /// The environment's `compose` key, for a node that is a compose service.
    compose: Option<Location>,
    sync: Option<Located<Vec<SyncRule>>>,
    place: Option<Located<Vec<super::placement::Constraint>>>,
}

fn resolve(
    root: &Path,
    name: &str,
    mut chain: Vec<(String, Arc<SourceFile>, RawEnvironment)>,
    mut engine: super::EngineKind,
) -> Result<Environment, ModelError> {
    let mut errors = Vec::new();
    let mut description = None;
    let mut vars = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    let mut nodes: BTreeMap<String, PartialNode> = BTreeMap::new();
    let mut promote = BTreeMap::new();
    let mut symlinked = BTreeMap::new();
    let files = chain.iter().map(|(_, s, _)| s.display.clone()).collect();
    let ancestors = chain.iter().skip(1).map(|(n, _, _)| n.clone()).collect();
    // Inventory hosts are the base layer; `[nodes.HOST]` tables override them.
    let mut merged: Option<MergedInventory> = None;
    for (_, src, raw) in chain.iter_mut().rev() {
        if let Some(inv) = raw.inventory.take() {
            merged
                .get_or_insert_with(MergedInventory::default)
                .add(src, inv);
        }
    }
    // So are a compose file's services (the last `compose` of the chain).
    let mut compose = None;
    for (_, src, raw) in chain.iter_mut().rev() {
        if let Some(c) = raw.compose.take() {
            compose = Some((src.clone(), c));
        }
    }
    if let Some((src, c)) = compose {
        if merged.is_some() {
            errors.push(src.diagnostic_for(
                c.span(),
                "compose",
                "an environment takes nodes from an inventory or from a compose file, not both",
            ));
        }
        // `${VAR}` in the compose file reads the environment's vars (child wins).
        let vars: BTreeMap<String, String> = chain
            .iter()
            .rev()
            .flat_map(|(_, _, raw)| raw.vars.iter().map(|(k, v)| (k.clone(), v.0.clone())))
            .collect();
        for (node_name, partial) in compose_nodes(root, &src, c, &vars, &mut errors) {
            nodes.insert(node_name, partial);
        }
    }
    if let Some(inv) = merged {
        for (node_name, partial) in inventory_nodes(root, inv, &mut errors) {
            nodes.insert(node_name, partial);
        }
    }
    // Apply the root ancestor first so that each child overrides its parent.
    for (_, src, raw) in chain.into_iter().rev() {
        if raw.description.is_some() {
            description = raw.description;
        }
        vars.extend(raw.vars.into_iter().map(|(k, v)| (k, v.0)));
        secrets.extend(super::secrets::resolve(
            root,
            &src,
            raw.secrets,
            &|k| std::env::var(k).ok(),
            &mut errors,
        ));
        if let Some(e) = &raw.engine {
            match e.get_ref().parse() {
                Ok(kind) => engine = kind,
                Err(message) => errors.push(src.diagnostic_for(e.span(), "engine", message)),
            }
        }
        for (service, p) in raw.promote {
            promote.insert(service.get_ref().clone(), (src.clone(), service, p));
        }
        for (service, r) in raw.releases {
            symlinked.insert(service.get_ref().clone(), (src.clone(), service, r));
        }
        for (node_name, raw_node) in raw.nodes {
            let at = Location {
                src: src.clone(),
                span: node_name.span(),
            };
            check_name(&at, node_name.get_ref(), "node", &mut errors);
            let layer = partial_node(root, &src, raw_node, &mut errors);
            let entry = nodes.entry(node_name.into_inner()).or_default();
            overlay(entry, layer, at);
        }
    }
    if nodes.len() > MAX_NODES {
        let (name, first_extra) = nodes.iter().nth(MAX_NODES).expect("more than MAX_NODES");
        if let Some(at) = &first_extra.header {
            errors.push(at.diagnostic(
                Some(&format!("nodes.{name}")),
                format!(
                    "the environment has {} nodes; at most {MAX_NODES} are allowed",
                    nodes.len()
                ),
            ));
        }
        return Err(ModelError::Diagnostics(errors));
    }
    let mut resolved = BTreeMap::new();
    let mut written = BTreeMap::new();
    for (node_name, partial) in nodes {
        let refs = NodeRefs {
            depends_on: partial.depends_on.clone().unwrap_or_default(),
            conditions: partial.conditions.clone(),
            ports: partial.ports.clone().unwrap_or_default(),
        };
        if let Some(node) = finish_node(&node_name, partial, &mut errors) {
            resolved.insert(node_name.clone(), node);
            written.insert(node_name, refs);
        }
    }
    check_references(&resolved, &written, &mut errors);
    check_templates(root, &vars, &resolved, &mut errors);
    let replicas: BTreeMap<String, u32> = resolved
        .iter()
        .map(|(name, n)| (name.clone(), n.replicas))
        .collect();
    let mut promotions = BTreeMap::new();
    let blue_green: Vec<String> = promote.keys().cloned().collect();
    for (name, (src, service, raw)) in promote {
        let p = super::promotion::resolve(root, &src, &service, raw, &replicas, &mut errors);
        promotions.extend(p.map(|p| (name, p)));
    }
    let mut releases = BTreeMap::new();
    for (name, (src, service, raw)) in symlinked {
        if blue_green.contains(&name) {
            errors.push(src.diagnostic_for(
                service.span(),
                format!("releases.{name}"),
                format!("`{name}` is declared both as [promote.{name}] and [releases.{name}]; a service has one promotion strategy"),
            ));
            continue;
        }
        let r = super::symlink_release::resolve(root, &src, &service, raw, &replicas, &mut errors);
        releases.extend(r.map(|r| (name, r)));
    }
    for node in resolved.values_mut() {
        for (k, v) in &secrets {
            node.env.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if errors.is_empty() {
        Ok(Environment {
            name: name.to_string(),
            description,
            vars,
            secrets,
            nodes: resolved,
            files,
            ancestors,
            promotions,
            releases,
            engine,
        })
    } else {
        Err(ModelError::Diagnostics(errors))
    }
}

/// `[inventory]` tables of the `extends` chain, merged (child keys win).
#[derive(Default)]
struct MergedInventory {
    at: Option<Location>,
    file: Option<Located<String>>,
    scale: BTreeMap<String, Location>,
    limits: BTreeMap<String, u32>,
    node: Vec<NodeLayer>,
    groups: BTreeMap<String, Vec<NodeLayer>>,
}

/// Node settings as written in one file.
type NodeLayer = (Arc<SourceFile>, Spanned<RawNode>);

impl MergedInventory {
    fn add(&mut self, src: &Arc<SourceFile>, raw: Spanned<RawInventory>) {
        self.at = Some(Location {
            src: src.clone(),
            span: raw.span(),
        });
        let raw = raw.into_inner();
        if let Some(file) = raw.file {
            self.file = Some(located(src, file));
        }
        for (group, limit) in raw.scale {
            let at = Location {
                src: src.clone(),
                span: group.span(),
            };
            self.limits
                .insert(group.get_ref().clone(), limit.into_inner());
            self.scale.insert(group.into_inner(), at);
        }
        if let Some(node) = raw.node {
            self.node.push((src.clone(), node));
        }
        for (group, node) in raw.groups {
            self.groups
                .entry(group.into_inner())
                .or_default()
                .push((src.clone(), node));
        }
    }
}

/// One node per service of the compose file (those of inactive profiles left out).
fn compose_nodes(
    root: &Path,
    src: &Arc<SourceFile>,
    c: Spanned<RawCompose>,
    vars: &BTreeMap<String, String>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<(String, PartialNode)> {
    let at = Location {
        src: src.clone(),
        span: c.span(),
    };
    let c = c.into_inner();
    let compose = match super::compose::read(root, &c.file, &c.profiles, vars, errors) {
        Ok(Some(compose)) => compose,
        Ok(None) => return Vec::new(),
        Err(why) => {
            errors.push(at.diagnostic(Some("compose"), why));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for service in compose.services {
        let header = Location {
            src: compose.src.clone(),
            span: service.span,
        };
        check_name(
            &header,
            &service.name,
            "node (from a compose service)",
            errors,
        );
        let mut partial = partial_node(root, &compose.src, service.node, errors);
        partial.header = Some(header);
        partial.compose = Some(at.clone());
        out.push((service.name, partial));
    }
    out
}

/// One node per inventory host kept after scaling.
fn inventory_nodes(
    root: &Path,
    inv: MergedInventory,
    errors: &mut Vec<Diagnostic>,
) -> Vec<(String, PartialNode)> {
    let header = inv.at.clone().expect("an inventory table was seen");
    let Some(file) = &inv.file else {
        errors.push(header.diagnostic(
            Some("inventory.file"),
            "`inventory` needs `file`, an Ansible inventory (INI or YAML) in the project",
        ));
        return Vec::new();
    };
    let read = Root::new(root).read_text(&file.value);
    let (path, text) = match read {
        Ok(text) => (PathBuf::from(&file.value), text),
        Err(why) => {
            errors.push(file.at.diagnostic(Some("inventory.file"), why));
            return Vec::new();
        }
    };
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    );
    let parsed = match inventory::parse(&text, yaml) {
        Ok(p) => p,
        Err(e) => {
            errors.push(Diagnostic {
                file: PathBuf::from(&file.value),
                line: e.line,
                column: 1,
                field: None,
                message: format!(
                    "{} (inventory of {})",
                    e.message,
                    header.src.display.display()
                ),
            });
            return Vec::new();
        }
    };
    for (group, at) in &inv.scale {
        if !parsed.groups.contains(group) {
            errors.push(at.diagnostic(
                Some("inventory.scale"),
                format!(
                    "`{group}` is not a group of {} (groups: {})",
                    file.value,
                    parsed.groups.join(", ")
                ),
            ));
        }
    }
    let mut out: Vec<(String, PartialNode)> = Vec::new();
    for host in inventory::scale(&parsed, &inv.limits) {
        let node_name = inventory::node_name(&host.name);
        check_name(&file.at, &node_name, "node (from inventory host)", errors);
        if out.iter().any(|(n, _)| n == &node_name) {
            errors.push(file.at.diagnostic(
                Some("inventory.file"),
                format!(
                    "two inventory hosts map to node `{node_name}` (a node is named after the first label of its host name)"
                ),
            ));
            continue;
        }
        let mut partial = PartialNode::default();
        let templates = inv.node.iter().chain(
            host.groups
                .iter()
                .filter_map(|g| inv.groups.get(g))
                .flatten(),
        );
        for (src, raw) in templates {
            let layer = partial_node(root, src, raw.clone(), errors);
            overlay(&mut partial, layer, header.clone());
        }
        let mut groups = host.groups.clone();
        for g in partial.groups.take().unwrap_or_default() {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        partial.groups = Some(groups.into_iter().filter(|g| g != &node_name).collect());
        // Connection settings are production's; the rest are the host's variables.
        partial.host_vars = host
            .vars
            .into_iter()
            .filter(|(k, _)| !k.starts_with("ansible_"))
            .collect();
        partial.header = Some(header.clone());
        out.push((node_name, partial));
    }
    out
}

/// Renders every template once, so a broken template or an undefined variable is
/// invalid input (exit 2) rather than a provisioning failure.
fn check_templates(
    root: &Path,
    vars: &BTreeMap<String, String>,
    nodes: &BTreeMap<String, Node>,
    errors: &mut Vec<Diagnostic>,
) {
    for node in nodes.values() {
        for step in &node.provision {
            if let StepKind::Template { from, .. } = &step.kind {
                let ctx = TemplateContext {
                    vars,
                    node: &node.name,
                    groups: node.ansible_groups(),
                };
                if let Err(e) = template::render(root, from, &ctx) {
                    let message = format!("template {e} (node `{}`)", node.name);
                    match &step.at {
                        Some(at) => errors.push(at.diagnostic(Some("template"), message)),
                        None => errors.push(Diagnostic {
                            file: from.clone(),
                            line: e.line.unwrap_or(0),
                            column: 1,
                            field: None,
                            message,
                        }),
                    }
                }
            }
        }
    }
}

fn overlay(base: &mut PartialNode, layer: PartialNode, header: Location) {
    base.header = Some(header);
    if layer.image.is_some() {
        base.image = layer.image;
    }
    if layer.command.is_some() {
        base.command = layer.command;
    }
    if layer.entrypoint.is_some() {
        base.entrypoint = layer.entrypoint;
    }
    if layer.restart.is_some() {
        base.restart = layer.restart;
    }
    if layer.compose.is_some() {
        base.compose = layer.compose;
    }
    if layer.place.is_some() {
        base.place = layer.place;
    }
    base.env.extend(layer.env);
    if layer.ports.is_some() {
        base.ports = layer.ports;
    }
    if layer.depends_on.is_some() {
        base.depends_on = layer.depends_on;
        base.conditions = layer.conditions;
    }
    if layer.replicas.is_some() {
        base.replicas = layer.replicas;
    }
    if layer.health.is_some() {
        base.health = layer.health;
    }
    if layer.provision.is_some() {
        base.provision = layer.provision;
    }
    if layer.sync.is_some() {
        base.sync = layer.sync;
    }
    if layer.init.is_some() {
        base.init = layer.init;
    }
    if layer.groups.is_some() {
        base.groups = layer.groups;
    }
    base.host_vars.extend(layer.host_vars);
    if layer.idempotence_ignore.is_some() {
        base.idempotence_ignore = layer.idempotence_ignore;
    }
    if layer.privileged.is_some() {
        base.privileged = layer.privileged;
    }
    if layer.capabilities.is_some() {
        base.capabilities = layer.capabilities;
    }
    if layer.volumes.is_some() {
        base.volumes = layer.volumes;
    }
    if layer.tmpfs.is_some() {
        base.tmpfs = layer.tmpfs;
    }
    if layer.cpus.is_some() {
        base.cpus = layer.cpus;
    }
    if layer.memory.is_some() {
        base.memory = layer.memory;
    }
    if layer.pids.is_some() {
        base.pids = layer.pids;
    }
    if layer.run.is_some() {
        base.run = layer.run;
    }
}

fn located<T>(src: &Arc<SourceFile>, s: Spanned<T>) -> Located<T> {
    let span = s.span();
    Located {
        value: s.into_inner(),
        at: Location {
            src: src.clone(),
            span,
        },
    }
}

fn partial_node(
    root: &Path,
    src: &Arc<SourceFile>,
    raw: Spanned<RawNode>,
    errors: &mut Vec<Diagnostic>,
) -> PartialNode {
    let node_span = raw.span();
    let raw = raw.into_inner();
    let image = match (raw.image, raw.build) {
        (Some(_), Some(build)) => {
            errors.push(src.diagnostic(
                Some(build.span()),
                "a node takes either `image` or `build`, not both",
            ));
            None
        }
        (Some(image), None) => {
            if image.get_ref().trim().is_empty() || image.get_ref().contains(char::is_whitespace) {
                errors.push(src.diagnostic(Some(image.span()), "not a valid image reference"));
            }
            Some(located(src, image).map(ImageSource::Image))
        }
        (None, Some(build)) => {
            // The whole context goes to the engine: it must stay in the project.
            let confined = Root::new(root);
            let checked = confined.resolve(build.get_ref()).and_then(|dir| {
                confined.tree(&dir, build.get_ref())?;
                Ok(dir)
            });
            match checked {
                Ok(dir) if dir.join("Dockerfile").is_file() => {}
                Err(
                    why @ (Refused::Outside(_)
                    | Refused::LinkOutside { .. }
                    | Refused::Special { .. }
                    | Refused::TooLarge(_)),
                ) => {
                    errors.push(src.diagnostic(Some(build.span()), why.to_string()));
                }
                _ => errors.push(src.diagnostic(
                    Some(build.span()),
                    format!(
                        "build context `{}` has no Dockerfile (looked for {}/Dockerfile)",
                        build.get_ref(),
                        build.get_ref().trim_end_matches('/')
                    ),
                )),
            }
            Some(located(src, build).map(|b| ImageSource::Build(PathBuf::from(b))))
        }
        (None, None) => None,
    };
    if let Some(replicas) = &raw.replicas {
        if *replicas.get_ref() > MAX_REPLICAS {
            errors.push(src.diagnostic(
                Some(replicas.span()),
                format!(
                    "{} replicas is more than the limit of {MAX_REPLICAS}",
                    replicas.get_ref()
                ),
            ));
        }
    }
    let health = raw.health.and_then(|h| health(src, h, errors));
    let provision = raw.provision.map(|steps| {
        steps
            .into_iter()
            .filter_map(|s| step(root, src, s, errors))
            .collect()
    });
    let init = raw.init.and_then(|i| match i.get_ref().as_str() {
        "systemd" => Some(Init::Systemd),
        "none" => Some(Init::None),
        other => {
            errors.push(src.diagnostic_for(
                i.span(),
                "init",
                format!("unknown init `{other}`; use \"systemd\" or \"none\""),
            ));
            None
        }
    });
    let capabilities = raw.capabilities.map(|caps| {
        caps.into_iter()
            .filter_map(|c| match super::privileges::capability(c.get_ref()) {
                Ok(name) => Some(name),
                Err(message) => {
                    errors.push(src.diagnostic_for(c.span(), "capabilities", message));
                    None
                }
            })
            .collect()
    });
    let confined = Root::new(root);
    let sync = raw.sync.map(|rules| {
        let at = rules.first().map_or(node_span.clone(), Spanned::span);
        let rules = rules
            .into_iter()
            .filter_map(|rule| {
                let rule = rule.into_inner();
                let from = match confined.resolve(rule.from.get_ref()) {
                    Ok(real) if real.is_dir() => confined
                        .tree(&real, rule.from.get_ref())
                        .map(|()| PathBuf::from(rule.from.get_ref())),
                    Ok(_) => Ok(PathBuf::from(rule.from.get_ref())),
                    Err(why) => Err(why),
                };
                let from = match from {
                    Ok(from) => from,
                    Err(why) => {
                        errors.push(src.diagnostic_for(rule.from.span(), "sync", why.to_string()));
                        return None;
                    }
                };
                if !rule.to.get_ref().starts_with('/') {
                    errors.push(src.diagnostic_for(
                        rule.to.span(),
                        "sync",
                        format!(
                            "`to = \"{}\"` is a path in the node and must be absolute",
                            rule.to.get_ref()
                        ),
                    ));
                    return None;
                }
                Some(SyncRule {
                    from,
                    to: rule.to.into_inner(),
                    then: rule.then,
                })
            })
            .collect();
        Located {
            value: rules,
            at: Location {
                src: src.clone(),
                span: at,
            },
        }
    });
    let mounts = |list: Option<Vec<Spanned<String>>>,
                  parse: &dyn Fn(&str) -> Result<super::mounts::Mount, String>,
                  errors: &mut Vec<Diagnostic>| {
        let list = list?;
        let at = list.first().map_or(node_span.clone(), Spanned::span);
        let parsed = list
            .into_iter()
            .filter_map(|m| match parse(m.get_ref()) {
                Ok(mount) => Some(mount),
                Err(message) => {
                    errors.push(src.diagnostic(Some(m.span()), message));
                    None
                }
            })
            .collect();
        Some(Located {
            value: parsed,
            at: Location {
                src: src.clone(),
                span: at,
            },
        })
    };
    let volumes = mounts(
        raw.volumes,
        &|m| super::mounts::volume(&confined, m),
        errors,
    );
    let tmpfs = mounts(raw.tmpfs, &super::mounts::tmpfs, errors);
    let limit = |span: std::ops::Range<usize>,
                 parsed: Result<i64, String>,
                 errors: &mut Vec<Diagnostic>| match parsed {
        Ok(value) => Some(Located {
            value,
            at: Location {
                src: src.clone(),
                span,
            },
        }),
        Err(message) => {
            errors.push(src.diagnostic(Some(span), message));
            None
        }
    };
    let cpus = raw
        .cpus
        .and_then(|c| limit(c.span(), super::resources::cpus(*c.get_ref()), errors));
    let memory = raw
        .memory
        .and_then(|m| limit(m.span(), super::resources::memory(m.get_ref()), errors));
    let pids = raw
        .pids
        .and_then(|p| limit(p.span(), super::resources::pids(*p.get_ref()), errors));
    // `"db"` or `"db:healthy"`: the name, then what to wait for.
    let depends_on: Option<Vec<(Located<String>, Option<Condition>)>> =
        raw.depends_on.map(|deps| {
            deps.into_iter()
                .map(|d| {
                    let d = located(src, d);
                    match d.value.split_once(':') {
                        None => (d, None),
                        Some((name, condition)) => {
                            let condition = match condition.parse() {
                                Ok(c) => Some(c),
                                Err(message) => {
                                    errors.push(d.at.diagnostic(None, message));
                                    None
                                }
                            };
                            let name = Located {
                                value: name.to_string(),
                                at: d.at,
                            };
                            (name, condition)
                        }
                    }
                })
                .collect()
        });
    let conditions: BTreeMap<String, Located<Condition>> = depends_on
        .iter()
        .flatten()
        .filter_map(|(d, c)| {
            c.map(|c| {
                (
                    d.value.clone(),
                    Located {
                        value: c,
                        at: d.at.clone(),
                    },
                )
            })
        })
        .collect();
    let run = raw.run.and_then(|r| match r.get_ref().as_str() {
        "once" => Some(Run::Once),
        "always" => Some(Run::Always),
        other => {
            errors.push(src.diagnostic(
                Some(r.span()),
                format!("unknown run `{other}`; use \"once\" for a job that runs to completion or \"always\" for a service"),
            ));
            None
        }
    });
    let restart = raw.restart.and_then(|r| match r.get_ref().parse() {
        Ok(policy) => Some(Located {
            value: policy,
            at: Location {
                src: src.clone(),
                span: r.span(),
            },
        }),
        Err(message) => {
            errors.push(src.diagnostic(Some(r.span()), message));
            None
        }
    });
    let place = raw.place.map(|list| {
        let at = Location {
            src: src.clone(),
            span: list.span(),
        };
        let value = list
            .into_inner()
            .into_iter()
            .filter_map(|c| match c.get_ref().parse() {
                Ok(constraint) => Some(constraint),
                Err(message) => {
                    errors.push(src.diagnostic(Some(c.span()), message));
                    None
                }
            })
            .collect();
        Located { value, at }
    });
    let groups = raw.groups.map(|groups| {
        groups
            .into_iter()
            .map(|g| {
                let at = Location {
                    src: src.clone(),
                    span: g.span(),
                };
                check_name(&at, g.get_ref(), "group", errors);
                g.into_inner()
            })
            .collect()
    });
    PartialNode {
        header: None,
        image,
        command: raw.command,
        entrypoint: raw.entrypoint,
        env: raw
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.0, v.0))
            .collect(),
        ports: raw
            .ports
            .map(|ports| ports.into_iter().map(|p| located(src, p)).collect()),
        depends_on: depends_on.map(|deps| deps.into_iter().map(|(d, _)| d).collect()),
        conditions,
        replicas: raw.replicas.map(Spanned::into_inner),
        health,
        provision,
        init,
        groups,
        host_vars: BTreeMap::new(),
        idempotence_ignore: raw.idempotence_ignore,
        privileged: raw.privileged,
        capabilities,
        volumes,
        tmpfs,
        cpus,
        memory,
        pids,
        run,
        restart,
        compose: None,
        sync,
        place,
    }
}

impl<T> Located<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Located<U> {
        Located {
            value: f(self.value),
            at: self.at,
        }
    }
}

fn health(
    src: &Arc<SourceFile>,
    raw: Spanned<RawHealth>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Health> {
    let span = raw.span();
    let raw = raw.into_inner();
    let interval = raw
        .interval
        .map_or(DEFAULT_HEALTH_INTERVAL, NonZeroDuration::get);
    let timeout = raw
        .timeout
        .map_or(DEFAULT_HEALTH_TIMEOUT, NonZeroDuration::get);
    let kinds = [raw.http.is_some(), raw.tcp.is_some(), raw.command.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        errors.push(src.diagnostic_for(
            span,
            "health",
            "a health check needs exactly one of `http`, `tcp` or `command`",
        ));
        return None;
    }
    let check = if let Some(url) = raw.http {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            errors.push(src.diagnostic_for(
                span,
                "health.http",
                format!("`{url}` is not an http:// or https:// URL"),
            ));
            return None;
        }
        HealthCheck::Http {
            url,
            status: raw.status,
        }
    } else if let Some(port) = raw.tcp {
        match u16::try_from(*port.get_ref()) {
            Ok(p) if p > 0 => HealthCheck::Tcp { port: p },
            _ => {
                errors.push(src.diagnostic_for(
                    port.span(),
                    "health.tcp",
                    format!("port {} is out of range (1-65535)", port.get_ref()),
                ));
                return None;
            }
        }
    } else {
        HealthCheck::Command {
            command: raw.command.expect("checked above"),
        }
    };
    Some(Health {
        check,
        interval,
        timeout,
    })
}

fn step(
    root: &Path,
    src: &Arc<SourceFile>,
    raw: Spanned<RawStep>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Step> {
    let span = raw.span();
    let raw = raw.into_inner();
    let kinds = [
        raw.shell.is_some(),
        raw.script.is_some(),
        raw.copy.is_some(),
        raw.template.is_some(),
        raw.ansible.is_some(),
        raw.puppet.is_some(),
        raw.salt.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        errors.push(src.diagnostic_for(
            span,
            "provision",
            "a provisioning step needs exactly one of `shell`, `script`, `copy`, `template`, `ansible`, `puppet` or `salt`",
        ));
        return None;
    }
    let timeout = raw.timeout.map(NonZeroDuration::get);
    let args = raw.args.unwrap_or_default();
    if !args.is_empty() && raw.script.is_none() {
        errors.push(src.diagnostic_for(span.clone(), "args", "`args` goes with `script`"));
    }
    if raw.modules.is_some() && raw.puppet.is_none() {
        errors.push(src.diagnostic_for(span.clone(), "modules", "`modules` goes with `puppet`"));
    }
    if raw.vendor.is_some() && raw.puppet.is_none() {
        errors.push(src.diagnostic_for(span.clone(), "vendor", "`vendor` goes with `puppet`"));
    }
    if raw.requirements.is_some() && raw.ansible.is_none() {
        errors.push(src.diagnostic_for(
            span.clone(),
            "requirements",
            "`requirements` goes with `ansible`",
        ));
    }
    if raw.pillar.is_some() && raw.salt.is_none() {
        errors.push(src.diagnostic_for(span.clone(), "pillar", "`pillar` goes with `salt`"));
    }
    if raw.state.is_some() && raw.salt.is_none() {
        errors.push(src.diagnostic_for(span.clone(), "state", "`state` goes with `salt`"));
    }
    if raw.owner.is_some() && raw.template.is_none() {
        errors.push(src.diagnostic_for(span.clone(), "owner", "`owner` goes with `template`"));
    }
    let at = Location {
        src: src.clone(),
        span: span.clone(),
    };
    let confined = Root::new(root);
    let script_at = |value: Spanned<String>, errors: &mut Vec<Diagnostic>| {
        match confined.resolve(value.get_ref()) {
            Ok(real) if real.is_file() => {}
            Err(why @ Refused::Outside(_)) => {
                errors.push(src.diagnostic(Some(value.span()), why.to_string()));
                return None;
            }
            _ => {
                errors.push(src.diagnostic(
                    Some(value.span()),
                    format!("script `{}` does not exist", value.get_ref()),
                ));
                return None;
            }
        }
        Some(StepKind::Script {
            path: PathBuf::from(value.get_ref()),
            args: args.clone(),
        })
    };
    // A project path that must exist (`file`: a regular file; otherwise a directory too,
    // whose every entry must stay in the project).
    let existing = |value: &Spanned<String>, file: bool, errors: &mut Vec<Diagnostic>| {
        let checked = confined
            .resolve(value.get_ref())
            .map_err(|why| why.to_string());
        let checked = checked.and_then(|real| {
            if real.is_file() {
                Ok(())
            } else if real.is_dir() && !file {
                confined
                    .tree(&real, value.get_ref())
                    .map_err(|why| why.to_string())
            } else if real.is_dir() {
                Err(format!("`{}` is a directory, not a file", value.get_ref()))
            } else {
                Err(format!(
                    "`{}` is not a file or a directory",
                    value.get_ref()
                ))
            }
        });
        match checked {
            Ok(()) => Some(PathBuf::from(value.get_ref())),
            Err(why) => {
                errors.push(src.diagnostic(Some(value.span()), why));
                None
            }
        }
    };
    // A project directory whose every entry stays in the project.
    let tree = |value: &Spanned<String>, what: &str, errors: &mut Vec<Diagnostic>| {
        let checked = confined.resolve(value.get_ref()).and_then(|real| {
            if real.is_dir() {
                confined.tree(&real, value.get_ref())
            } else {
                Err(Refused::Missing(value.get_ref().clone()))
            }
        });
        match checked {
            Ok(()) => Some(PathBuf::from(value.get_ref())),
            Err(Refused::Missing(_)) => {
                errors.push(src.diagnostic(
                    Some(value.span()),
                    format!(
                        "{what} `{}` is not a directory of the project",
                        value.get_ref()
                    ),
                ));
                None
            }
            Err(why) => {
                errors.push(src.diagnostic(Some(value.span()), why.to_string()));
                None
            }
        }
    };
    let target = |what: &str, errors: &mut Vec<Diagnostic>| {
        let to = raw.to.clone().filter(|t| t.starts_with('/'));
        if to.is_none() {
            errors.push(src.diagnostic_for(
                span.clone(),
                "to",
                format!("`{what}` needs `to`, an absolute path inside the node"),
            ));
        }
        to
    };
    let mode = match &raw.mode {
        None => None,
        Some(m) => match u32::from_str_radix(m.get_ref(), 8) {
            Ok(v) if v <= 0o7777 => Some(v),
            _ => {
                errors.push(src.diagnostic(
                    Some(m.span()),
                    format!(
                        "`{}` is not an octal file mode such as \"0644\"",
                        m.get_ref()
                    ),
                ));
                return None;
            }
        },
    };
    let kind = if let Some(shell) = raw.shell {
        if looks_like_script(shell.get_ref()) {
            script_at(shell, errors)?
        } else if shell.get_ref().trim().is_empty() {
            errors.push(src.diagnostic(Some(shell.span()), "empty shell command"));
            return None;
        } else {
            StepKind::Shell {
                command: shell.into_inner(),
            }
        }
    } else if let Some(script) = raw.script {
        script_at(script, errors)?
    } else if let Some(copy) = &raw.copy {
        let from = existing(copy, false, errors);
        let to = target("copy", errors);
        StepKind::Copy {
            from: from?,
            to: to?,
            mode,
        }
    } else if let Some(template) = &raw.template {
        let from = existing(template, true, errors);
        let to = target("template", errors);
        let owner = match &raw.owner {
            Some(o) if !valid_owner(o.get_ref()) => {
                errors.push(src.diagnostic(
                    Some(o.span()),
                    format!("`{}` is not `user` or `user:group`", o.get_ref()),
                ));
                return None;
            }
            o => o.as_ref().map(|o| o.get_ref().clone()),
        };
        StepKind::Template {
            from: from?,
            to: to?,
            mode,
            owner,
        }
    } else if let Some(playbook) = &raw.ansible {
        let playbook = existing(playbook, true, errors)?;
        if let Err(why) = check_beside(&confined, &playbook) {
            errors.push(src.diagnostic_for(span.clone(), "ansible", why.to_string()));
            return None;
        }
        let requirements = match &raw.requirements {
            Some(r) => Some(existing(r, true, errors)?),
            None => None,
        };
        match super::ansible_requirements::load(&confined, &playbook, requirements.as_deref()) {
            Ok(dependencies) => StepKind::Ansible {
                playbook,
                requirements,
                dependencies,
            },
            Err(found) => {
                errors.extend(found);
                return None;
            }
        }
    } else if let Some(written) = &raw.salt {
        let states = tree(written, "state tree", errors);
        let pillar = match &raw.pillar {
            Some(p) => Some(tree(p, "pillar", errors)?),
            None => None,
        };
        let state = match &raw.state {
            Some(s) if !valid_states(s.get_ref()) => {
                errors.push(src.diagnostic(
                    Some(s.span()),
                    format!(
                        "`{}` is not a list of Salt states such as \"nginx\" or \"nginx,php.fpm\"",
                        s.get_ref()
                    ),
                ));
                return None;
            }
            s => s.as_ref().map(|s| s.get_ref().clone()),
        };
        StepKind::Salt {
            states: states?,
            pillar,
            state,
        }
    } else {
        let written = raw.puppet.as_ref().expect("checked above");
        let manifest = existing(written, true, errors);
        if let Some(m) = &manifest {
            if let Err(why) = check_beside(&confined, m) {
                errors.push(src.diagnostic(Some(written.span()), why.to_string()));
                return None;
            }
        }
        let module_dir = |m: &Spanned<String>, errors: &mut Vec<Diagnostic>| {
            let checked = confined.resolve(m.get_ref()).and_then(|real| {
                if real.is_dir() {
                    confined.tree(&real, m.get_ref())
                } else {
                    Err(Refused::Missing(m.get_ref().clone()))
                }
            });
            match checked {
                Ok(()) => Some(PathBuf::from(m.get_ref())),
                Err(Refused::Missing(_)) => {
                    errors.push(src.diagnostic(
                        Some(m.span()),
                        format!(
                            "module path `{}` is not a directory of the project",
                            m.get_ref()
                        ),
                    ));
                    None
                }
                Err(why) => {
                    errors.push(src.diagnostic(Some(m.span()), why.to_string()));
                    None
                }
            }
        };
        let modules = match &raw.modules {
            Some(m) => Some(module_dir(m, errors)?),
            None => None,
        };
        let vendor = match &raw.vendor {
            Some(v) => Some(module_dir(v, errors)?),
            None => None,
        };
        let dirs: Vec<(&'static str, &Path)> = [("modules", &modules), ("vendor", &vendor)]
            .into_iter()
            .filter_map(|(k, d)| d.as_deref().map(|d| (k, d)))
            .collect();
        if let Err(found) = super::puppet_modules::check(&confined, &dirs) {
            errors.extend(found);
            return None;
        }
        StepKind::Puppet {
            manifest: manifest?,
            modules,
            vendor,
        }
    };
    Some(Step {
        kind,
        name: raw.name,
        timeout,
        idempotent: raw.idempotent.unwrap_or(true),
        at: Some(at),
    })
}

/// Salt state names (`nginx`, `php.fpm`), comma-separated as `state.apply` takes them.
fn valid_states(states: &str) -> bool {
    states.split(',').all(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    })
}

fn valid_owner(owner: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match owner.split_once(':') {
        Some((user, group)) => part(user) && part(group),
        None => part(owner),
    }
}

/// `shell = "provision/web.sh"` names a script; anything with spaces or shell syntax is
/// an inline command.
fn looks_like_script(value: &str) -> bool {
    let v = value.trim();
    !v.contains(char::is_whitespace)
        && v.ends_with(".sh")
        && !v.contains([';', '|', '&', '$', '`', '>', '<'])
}

/// Whether `name` may name a node, a group or an environment: it becomes part of engine
/// object names and host names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
}

/// The refusal of an environment name that [`valid_name`] rejects.
fn name_message(name: &str, what: &str) -> String {
    format!(
        "{what} name `{}` must start with a lowercase letter and use only a-z, 0-9, - and _ (at most 48 characters)",
        name.escape_debug()
    )
}

fn check_name(at: &Location, name: &str, what: &str, errors: &mut Vec<Diagnostic>) {
    if !valid_name(name) {
        errors.push(at.diagnostic(None, name_message(name, what)));
    }
}

fn finish_node(name: &str, p: PartialNode, errors: &mut Vec<Diagnostic>) -> Option<Node> {
    let header = p.header.expect("every node has a header");
    let Some(image) = p.image else {
        errors.push(header.diagnostic(None, format!("node `{name}` needs `image` or `build`")));
        return None;
    };
    let replicas = p.replicas.unwrap_or(1);
    let ports = p.ports.unwrap_or_default();
    let init = p.init.unwrap_or_default();
    if init == Init::Systemd && p.command.is_some() {
        errors.push(header.diagnostic(
            Some("command"),
            format!("node `{name}` has init = \"systemd\", which runs /sbin/init; start its services from units (provisioning) instead of `command`"),
        ));
    }
    let mut capabilities: Vec<String> = p.capabilities.unwrap_or_default();
    capabilities.sort();
    capabilities.dedup();
    let privileged = p.privileged.unwrap_or(false);
    if privileged && !capabilities.is_empty() {
        errors.push(header.diagnostic(
            Some("capabilities"),
            format!("node `{name}` has privileged = true, which already grants every capability; drop `capabilities`, or drop `privileged` to add only those"),
        ));
    }
    let run = p.run.unwrap_or_default();
    if run == Run::Once {
        if init == Init::Systemd {
            errors.push(header.diagnostic(
                Some("run"),
                format!("node `{name}` is a job (run = \"once\") with init = \"systemd\", which never completes; a job runs its `command` to completion"),
            ));
        }
        if p.health.is_some() {
            errors.push(header.diagnostic(
                Some("health"),
                format!("node `{name}` is a job (run = \"once\"): it is done when its command exits 0, so it takes no `health`"),
            ));
        }
    }
    let mut container_keys: Vec<(&'static str, Location)> = Vec::new();
    let mut mounts = Vec::new();
    for (key, list) in [("volumes", &p.volumes), ("tmpfs", &p.tmpfs)] {
        if let Some(list) = list {
            container_keys.push((key, list.at.clone()));
            for m in &list.value {
                if let Some(earlier) = mounts
                    .iter()
                    .find(|e: &&super::mounts::Mount| e.target() == m.target())
                {
                    errors.push(list.at.diagnostic(
                        Some(key),
                        format!(
                            "node `{name}` mounts two things at {} ({earlier:?} and {m:?})",
                            m.target()
                        ),
                    ));
                } else {
                    mounts.push(m.clone());
                }
            }
        }
    }
    for (key, limit) in [("cpus", &p.cpus), ("memory", &p.memory), ("pids", &p.pids)] {
        if let Some(l) = limit {
            container_keys.push((key, l.at.clone()));
        }
    }
    let resources = super::resources::Resources {
        nano_cpus: p.cpus.as_ref().map(|l| l.value),
        memory: p.memory.as_ref().map(|l| l.value),
        pids: p.pids.as_ref().map(|l| l.value),
    };
    if run == Run::Once {
        container_keys.push(("run", header.clone()));
    }
    if let Some(r) = &p.restart {
        container_keys.push(("restart", r.at.clone()));
    }
    if let Some(at) = &p.compose {
        container_keys.push(("compose", at.clone()));
    }
    if let Some(sync) = &p.sync {
        container_keys.push(("sync", sync.at.clone()));
    }
    // Dependencies are installed by envctl's own step runner, which Vagrant's machines
    // do not use (their steps run through Vagrant's provisioners).
    for step in p.provision.iter().flatten() {
        let key = match &step.kind {
            StepKind::Ansible { dependencies, .. } if !dependencies.is_empty() => "requirements",
            StepKind::Puppet {
                vendor: Some(_), ..
            } => "vendor",
            _ => continue,
        };
        if let Some(at) = &step.at {
            container_keys.push((key, at.clone()));
        }
    }
    if replicas > 1 {
        if let Some(fixed) = ports.iter().find(|p| p.value.host.is_some()) {
            errors.push(fixed.at.diagnostic(
                Some("ports"),
                format!(
                    "node `{name}` has {replicas} replicas, so it cannot publish the fixed host port {}; write \"{}\" to get a free port per replica",
                    fixed.value.host.unwrap_or_default(),
                    fixed.value.container
                ),
            ));
        }
    }
    Some(Node {
        name: name.to_string(),
        image: image.value,
        command: p.command,
        entrypoint: p.entrypoint,
        env: p.env,
        ports: ports.into_iter().map(|p| p.value).collect(),
        depends_on: p
            .depends_on
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.value)
            .collect(),
        replicas,
        health: p.health,
        provision: p.provision.unwrap_or_default(),
        init,
        groups: p.groups.unwrap_or_default(),
        host_vars: p.host_vars,
        idempotence_ignore: p.idempotence_ignore.unwrap_or_default(),
        privileges: super::Privileges {
            privileged,
            capabilities,
        },
        mounts,
        resources,
        run,
        restart: p.restart.map(|r| r.value).unwrap_or_default(),
        conditions: p
            .conditions
            .into_iter()
            .map(|(dep, c)| (dep, c.value))
            .collect(),
        container_keys,
        sync: p.sync.map(|s| s.value).unwrap_or_default(),
        place_at: p.place.as_ref().map(|l| l.at.clone()),
        place: p.place.map(|l| l.value).unwrap_or_default(),
    })
}

/// Where a node's references were written, for checks that span nodes.
struct NodeRefs {
    depends_on: Vec<Located<String>>,
    conditions: BTreeMap<String, Located<Condition>>,
    ports: Vec<Located<PortMapping>>,
}

fn check_references(
    nodes: &BTreeMap<String, Node>,
    written: &BTreeMap<String, NodeRefs>,
    errors: &mut Vec<Diagnostic>,
) {
    let mut fixed_ports: BTreeMap<u16, &str> = BTreeMap::new();
    for (name, refs) in written {
        for p in &refs.ports {
            if let Some(h) = p.value.host {
                if let Some(other) = fixed_ports.insert(h, name) {
                    errors.push(p.at.diagnostic(
                        Some("ports"),
                        format!("host port {h} is published by both `{other}` and `{name}`"),
                    ));
                }
            }
        }
    }
    for (name, refs) in written {
        let deps = &refs.depends_on;
        let mut seen = BTreeSet::new();
        for dep in deps {
            if !nodes.contains_key(&dep.value) {
                let known: Vec<&str> = nodes.keys().map(String::as_str).collect();
                errors.push(dep.at.diagnostic(
                    Some("depends_on"),
                    format!(
                        "node `{name}` depends on `{}`, which is not a node of this environment (nodes: {})",
                        dep.value,
                        known.join(", ")
                    ),
                ));
            } else if dep.value == *name {
                errors.push(dep.at.diagnostic(
                    Some("depends_on"),
                    format!("node `{name}` depends on itself"),
                ));
            } else if !seen.insert(&dep.value) {
                errors.push(dep.at.diagnostic(
                    Some("depends_on"),
                    format!("`{}` is listed twice", dep.value),
                ));
            }
        }
    }
    for (name, refs) in written {
        for (dep, condition) in &refs.conditions {
            let Some(target) = nodes.get(dep) else {
                continue;
            };
            let wrong = match condition.value {
                Condition::Healthy if target.health.is_none() => {
                    Some(format!("`{dep}` has no `health` check to pass"))
                }
                Condition::Completed if target.run != Run::Once => Some(format!(
                    "`{dep}` is a service, which never completes; `completed` is for a job (run = \"once\")"
                )),
                _ => None,
            };
            if let Some(why) = wrong {
                errors.push(condition.at.diagnostic(
                    Some("depends_on"),
                    format!(
                        "node `{name}` waits for `{dep}` to be {}, but {why}",
                        condition.value
                    ),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return;
    }
    if let Some(cycle) = super::cycle::find_cycle(nodes) {
        let first = &cycle[0];
        let second = &cycle[1];
        let at = written
            .get(first)
            .and_then(|refs| refs.depends_on.iter().find(|d| &d.value == second));
        let message = format!("dependency cycle: {}", cycle.join(" -> "));
        match at {
            Some(a) => errors.push(a.at.diagnostic(Some("depends_on"), message)),
            None => errors.push(Diagnostic {
                file: PathBuf::from("environments"),
                line: 0,
                column: 0,
                field: Some("depends_on".into()),
                message,
            }),
        }
    }
}

/// Names of the `environments/*.toml` files under `root`.
///
/// # Errors
/// When `environments/` cannot be read.
pub fn environment_names(root: &Path) -> Result<Vec<String>, ModelError> {
    let dir = root.join("environments");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|source| ModelError::Io { path: dir, source })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// Raw node fields exposed for tests in this module.
#[cfg(test)]
pub(crate) fn parse_str(text: &str) -> Result<RawEnvironment, toml::de::Error> {
    toml::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_recognised_by_shape() {
        assert!(looks_like_script("provision/web.sh"));
        assert!(!looks_like_script("apt-get install -y nginx"));
        assert!(!looks_like_script("echo hi > x.sh"));
    }

    fn project(env: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::write(dir.path().join("environments/e.toml"), env).unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn errors(dir: &tempfile::TempDir) -> String {
        load(dir.path(), "e").unwrap_err().to_string()
    }

    const CONDITIONS: &str = "[nodes.db]\nimage = \"x\"\nhealth = { tcp = 5432 }\n[nodes.cache]\nimage = \"x\"\n[nodes.migrate]\nimage = \"x\"\nrun = \"once\"\ndepends_on = [\"db\"]\n[nodes.web]\nimage = \"x\"\ndepends_on = DEPS\n";

    fn with_deps(deps: &str) -> tempfile::TempDir {
        project(&CONDITIONS.replace("DEPS", deps), &[])
    }

    #[test]
    fn a_dependency_is_waited_for_as_what_it_is_unless_a_condition_says() {
        let dir = with_deps("[\"db\", \"cache\", \"migrate\"]");
        let env = load(dir.path(), "e").unwrap();
        let (web, n) = (&env.nodes["web"], &env.nodes);
        assert_eq!(web.condition_on(&n["db"]), Condition::Healthy);
        assert_eq!(web.condition_on(&n["cache"]), Condition::Started);
        assert_eq!(web.condition_on(&n["migrate"]), Condition::Completed);
        let dir = with_deps("[\"db:started\", \"migrate:started\"]");
        let env = load(dir.path(), "e").unwrap();
        let (web, n) = (&env.nodes["web"], &env.nodes);
        assert_eq!(web.depends_on, ["db", "migrate"]);
        assert_eq!(web.condition_on(&n["db"]), Condition::Started);
        assert_eq!(web.condition_on(&n["migrate"]), Condition::Started);
    }

    #[test]
    fn a_condition_the_dependency_cannot_meet_is_invalid_at_its_line() {
        for (deps, says) in [
            ("[\"cache:healthy\"]", "`cache` has no `health` check"),
            (
                "[\"db:completed\"]",
                "`db` is a service, which never completes",
            ),
            ("[\"db:ready\"]", "unknown condition `ready`"),
            ("[\"nope:started\"]", "`nope`, which is not a node"),
        ] {
            let message = errors(&with_deps(deps));
            assert!(
                message.contains("environments/e.toml:12:") && message.contains(says),
                "{deps}: {message}"
            );
        }
    }

    #[test]
    fn a_job_may_not_have_health_or_systemd() {
        let dir = project(
            "[nodes.j]\nimage = \"x\"\nrun = \"once\"\nhealth = { tcp = 1 }\n",
            &[],
        );
        assert!(errors(&dir).contains("takes no `health`"));
        let dir = project(
            "[nodes.j]\nimage = \"x\"\nrun = \"once\"\ninit = \"systemd\"\n",
            &[],
        );
        assert!(errors(&dir).contains("never completes"));
    }

    #[test]
    fn new_step_kinds_parse_with_their_options() {
        let dir = project(
            "[nodes.web]\nimage = \"x\"\ninit = \"systemd\"\ngroups = [\"frontend\"]\nprovision = [\n  { template = \"t.j2\", to = \"/etc/t\", mode = \"0600\", owner = \"www-data:adm\" },\n  { ansible = \"a/site.yml\", idempotent = false },\n  { puppet = \"p/site.pp\", modules = \"p/modules\" },\n]\n",
            &[
                ("t.j2", "{{ node }}\n"),
                ("a/site.yml", "- hosts: all\n"),
                ("p/site.pp", "include x\n"),
                ("p/modules/x/manifests/init.pp", "class x {}\n"),
            ],
        );
        let env = load(dir.path(), "e").unwrap();
        let web = &env.nodes["web"];
        assert_eq!(web.init, Init::Systemd);
        assert_eq!(web.ansible_groups(), ["web", "frontend"]);
        assert!(matches!(
            &web.provision[0].kind,
            StepKind::Template { mode: Some(0o600), owner: Some(o), .. } if o == "www-data:adm"
        ));
        assert!(!web.provision[1].idempotent);
        assert!(web.provision[0].idempotent);
        assert!(matches!(
            &web.provision[2].kind,
            StepKind::Puppet { modules: Some(m), .. } if m == Path::new("p/modules")
        ));
    }

    #[test]
    fn step_options_that_belong_to_another_kind_are_errors() {
        let dir = project(
            "[nodes.web]\nimage = \"x\"\nprovision = [{ shell = \"true\", owner = \"root\", modules = \"m\" }]\n",
            &[],
        );
        let err = errors(&dir);
        assert!(err.contains("`owner` goes with `template`"), "{err}");
        assert!(err.contains("`modules` goes with `puppet`"), "{err}");
    }

    #[test]
    fn unknown_init_and_bad_owner_name_their_field() {
        let dir = project(
            "[nodes.web]\nimage = \"x\"\ninit = \"runit\"\nprovision = [{ template = \"t.j2\", to = \"/t\", owner = \"a b\" }]\n",
            &[("t.j2", "x")],
        );
        let err = errors(&dir);
        assert!(
            err.contains("e.toml:3:") && err.contains("unknown init `runit`"),
            "{err}"
        );
        assert!(err.contains("`a b` is not `user` or `user:group`"), "{err}");
    }

    #[test]
    fn inventory_hosts_are_overlaid_by_node_tables() {
        let dir = project(
            "[inventory]\nfile = \"inv.ini\"\n[inventory.node]\nimage = \"x\"\nreplicas = 1\n[inventory.groups.db]\nenv = { ROLE = \"db\" }\n[nodes.db1]\nreplicas = 2\n",
            &[("inv.ini", "[web]\nweb1.example.com ansible_host=10.0.0.1 tier=front\n[db]\ndb1.example.com\n")],
        );
        let env = load(dir.path(), "e").unwrap();
        assert_eq!(env.nodes.keys().collect::<Vec<_>>(), ["db1", "web1"]);
        assert_eq!(env.nodes["db1"].replicas, 2);
        assert_eq!(env.nodes["db1"].env["ROLE"], "db");
        assert!(env.nodes["web1"].env.is_empty());
        assert_eq!(env.nodes["web1"].groups, ["web"]);
        // Production's connection settings stay out; other host variables come along.
        assert_eq!(
            env.nodes["web1"].host_vars,
            BTreeMap::from([("tier".to_string(), "front".to_string())])
        );
    }

    #[test]
    fn hosts_with_the_same_first_label_collide() {
        let dir = project(
            "[inventory]\nfile = \"inv.ini\"\n[inventory.node]\nimage = \"x\"\n",
            &[("inv.ini", "web1.a.example.com\nweb1.b.example.com\n")],
        );
        assert!(errors(&dir).contains("two inventory hosts map to node `web1`"));
    }

    #[test]
    fn raw_node_rejects_unknown_keys() {
        let err = parse_str("[nodes.web]\nimgae = \"x\"\n").unwrap_err();
        assert!(
            err.message().contains("unknown field `imgae`"),
            "{}",
            err.message()
        );
    }

    const COMPOSE: &str = "services:\n  web:\n    build: ./app\n    command: nginx -g 'daemon off;'\n    environment:\n      - MODE=${MODE:-small}\n    ports:\n      - \"127.0.0.1:8080:80\"\n      - target: 443\n    depends_on:\n      db:\n        condition: service_healthy\n      seed:\n        condition: service_completed_successfully\n    restart: on-failure:3\n  db:\n    image: postgres\n    healthcheck:\n      test: pg_isready\n      interval: 2s\n      timeout: 1s\n      retries: 4\n      start_period: 3s\n  seed:\n    image: postgres\n    entrypoint: [\"psql\", \"-f\", \"/seed.sql\"]\n";

    #[test]
    fn compose_services_become_the_nodes_they_mean() {
        let dir = project(
            "compose = \"compose.yaml\"\n[vars]\nMODE = \"tiny\"\n[nodes.web]\nreplicas = 1\ncpus = 0.5\n",
            &[("compose.yaml", COMPOSE), ("app/Dockerfile", "FROM x\n")],
        );
        let env = load(dir.path(), "e").unwrap();
        let web = &env.nodes["web"];
        assert!(matches!(&web.image, ImageSource::Build(p) if p == Path::new("./app")));
        assert_eq!(
            web.command.as_ref().unwrap().0,
            ["nginx", "-g", "daemon off;"]
        );
        assert_eq!(web.env["MODE"], "tiny");
        assert_eq!(web.ports[0].host, Some(8080));
        assert_eq!((web.ports[1].host, web.ports[1].container), (None, 443));
        assert_eq!(web.conditions["db"], Condition::Healthy);
        assert_eq!(web.conditions["seed"], Condition::Completed);
        assert_eq!(web.restart, Restart::OnFailure(Some(3)));
        assert!(web.resources.nano_cpus.is_some());
        assert!(web.container_keys.iter().any(|(k, _)| *k == "compose"));
        let db = env.nodes["db"].health.as_ref().unwrap();
        // Unhealthy for compose after start_period + retries x (interval + timeout).
        assert_eq!(db.timeout, Duration::from_secs(15));
        assert_eq!(db.interval, Duration::from_millis(200));
        let seed = &env.nodes["seed"];
        assert_eq!(seed.run, Run::Once);
        assert_eq!(
            seed.entrypoint.as_ref().unwrap().0,
            ["psql", "-f", "/seed.sql"]
        );
    }

    #[test]
    fn compose_keys_envctl_cannot_serve_are_errors_at_their_lines() {
        let cases = [
            ("services:\n  a:\n    image: x\n    environment:\n      - HOME\n", "compose.yaml:5:9: `services.a.environment`: `HOME` has no value"),
            ("services:\n  a:\n    image: x\n    volumes:\n      - data:/d\n", "compose.yaml:5:9: `services.a.volumes`: volume `data` is not declared"),
            ("services:\n  a:\n    image: ${IMAGE}\n", "compose.yaml:3:12: `services.a.image`: `${IMAGE}` is not set"),
            ("services:\n  a:\n    image: x\n    ports: [\"0.0.0.0:80:80\"]\n", "publishes ports on 127.0.0.1 only"),
            ("services:\n  a:\n    image: x\n    volumes: [/var/lib/data]\n", "would be an anonymous volume"),
            ("services:\n  a:\n    image: x\n    volumes: [\"/etc:/host-etc\"]\n", "is a path outside the project"),
            ("services:\n  a:\n    image: x\nnetworks:\n  front: {}\n", "compose.yaml:4:1: `networks`: envctl does not read this compose key"),
            ("services:\n  a:\n    image: x\n    deploy:\n      resources:\n        reservations:\n          memory: 1g\n", "compose.yaml:6:9: `services.a.deploy.resources.reservations`"),
            ("services:\n  a:\n    image: x\n    depends_on:\n      b:\n        condition: service_healthy\n  b:\n    image: x\n", "healthy"),
        ];
        for (compose, expected) in cases {
            let dir = project("compose = \"compose.yaml\"\n", &[("compose.yaml", compose)]);
            let got = errors(&dir);
            assert!(
                got.contains(expected),
                "{compose}\nwanted {expected:?} in:\n{got}"
            );
        }
        let dir = project(
            "compose = \"compose.yaml\"\n[inventory]\nfile = \"inv.ini\"\n",
            &[("compose.yaml", "services: {}\n"), ("inv.ini", "a\n")],
        );
        assert!(errors(&dir).contains("not both"));
        let dir = project("compose = \"missing.yaml\"\n", &[]);
        assert!(
            errors(&dir).contains("e.toml:1:11: `compose`"),
            "{}",
            errors(&dir)
        );
    }
}
