//! The resolved environment: an `environments/NAME.toml` file with its `extends` chain
//! applied and every reference checked. This is what the planner and engine consume.

use super::environment_file::{RawEnvironment, RawHealth, RawNode, RawStep};
use super::port::PortMapping;
use super::scalar::CommandLine;
use super::source::{Diagnostic, SourceFile};
use super::ModelError;
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where a value was written: file and byte span.
#[derive(Debug, Clone)]
pub struct Location {
    pub src: Arc<SourceFile>,
    pub span: Range<usize>,
}

impl Location {
    /// A diagnostic at this location.
    pub fn diagnostic(&self, field: Option<&str>, message: impl Into<String>) -> Diagnostic {
        match field {
            Some(f) => self.src.diagnostic_for(self.span.clone(), f, message),
            None => self.src.diagnostic(Some(self.span.clone()), message),
        }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub at: Location,
}

/// One environment, ready to plan.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub description: Option<String>,
    pub vars: BTreeMap<String, String>,
    /// Nodes by name, in name order.
    pub nodes: BTreeMap<String, Node>,
    /// The environment files this one was built from, child first.
    pub files: Vec<PathBuf>,
    /// Names of the environments this one extends, nearest first.
    pub ancestors: Vec<String>,
    /// Promotable services by name (`[promote.SERVICE]`).
    pub promotions: BTreeMap<String, super::promotion::Promotion>,
    /// The engine that runs it (`engine = ...`, nearest file wins).
    pub engine: super::EngineKind,
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
    pub env: BTreeMap<String, String>,
    pub ports: Vec<PortMapping>,
    pub depends_on: Vec<String>,
    pub replicas: u32,
    pub health: Option<Health>,
    pub provision: Vec<Step>,
}

impl Node {
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

/// One provisioning step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub name: Option<String>,
    pub timeout: Option<Duration>,
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
}

impl Step {
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
        }
    }
}

/// Default interval between health polls.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_millis(200);
/// Default time a node has to become healthy.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Most replicas a node may ask for.
const MAX_REPLICAS: u32 = 100;

/// Loads `environments/NAME.toml` from `root`, following `extends`.
///
/// # Errors
/// [`ModelError`] with every problem found, each naming file, line and field.
pub fn load(root: &Path, name: &str) -> Result<Environment, ModelError> {
    let mut chain: Vec<(String, Arc<SourceFile>, RawEnvironment)> = Vec::new();
    let mut current = name.to_string();
    let mut referenced_at: Option<Location> = None;
    loop {
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
                    available: super::project::environment_names(root).unwrap_or_default(),
                },
            });
        }
        let src = SourceFile::read(&path, display)?;
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
    resolve(root, name, chain)
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
    env: BTreeMap<String, String>,
    ports: Option<Vec<Located<PortMapping>>>,
    depends_on: Option<Vec<Located<String>>>,
    replicas: Option<u32>,
    health: Option<Health>,
    provision: Option<Vec<Step>>,
}

fn resolve(
    root: &Path,
    name: &str,
    chain: Vec<(String, Arc<SourceFile>, RawEnvironment)>,
) -> Result<Environment, ModelError> {
    let mut errors = Vec::new();
    let mut description = None;
    let mut vars = BTreeMap::new();
    let mut nodes: BTreeMap<String, PartialNode> = BTreeMap::new();
    let mut promote = BTreeMap::new();
    let mut engine = super::EngineKind::default();
    let files = chain.iter().map(|(_, s, _)| s.display.clone()).collect();
    let ancestors = chain.iter().skip(1).map(|(n, _, _)| n.clone()).collect();
    // Apply the root ancestor first so that each child overrides its parent.
    for (_, src, raw) in chain.into_iter().rev() {
        if raw.description.is_some() {
            description = raw.description;
        }
        vars.extend(raw.vars.into_iter().map(|(k, v)| (k, v.0)));
        if let Some(e) = &raw.engine {
            match e.get_ref().parse() {
                Ok(kind) => engine = kind,
                Err(message) => errors.push(src.diagnostic_for(e.span(), "engine", message)),
            }
        }
        for (service, p) in raw.promote {
            promote.insert(service.get_ref().clone(), (src.clone(), service, p));
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
    let mut resolved = BTreeMap::new();
    let mut written = BTreeMap::new();
    for (node_name, partial) in nodes {
        let refs = NodeRefs {
            depends_on: partial.depends_on.clone().unwrap_or_default(),
            ports: partial.ports.clone().unwrap_or_default(),
        };
        if let Some(node) = finish_node(&node_name, partial, &mut errors) {
            resolved.insert(node_name.clone(), node);
            written.insert(node_name, refs);
        }
    }
    check_references(&resolved, &written, &mut errors);
    let mut promotions = BTreeMap::new();
    for (name, (src, service, raw)) in promote {
        let p = super::promotion::resolve(root, &src, &service, raw, &resolved, &mut errors);
        promotions.extend(p.map(|p| (name, p)));
    }
    if errors.is_empty() {
        Ok(Environment {
            name: name.to_string(),
            description,
            vars,
            nodes: resolved,
            files,
            ancestors,
            promotions,
            engine,
        })
    } else {
        Err(ModelError::Diagnostics(errors))
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
    base.env.extend(layer.env);
    if layer.ports.is_some() {
        base.ports = layer.ports;
    }
    if layer.depends_on.is_some() {
        base.depends_on = layer.depends_on;
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
            let dir = root.join(build.get_ref());
            if !dir.join("Dockerfile").is_file() {
                errors.push(src.diagnostic(
                    Some(build.span()),
                    format!(
                        "build context `{}` has no Dockerfile (looked for {})",
                        build.get_ref(),
                        dir.join("Dockerfile").display()
                    ),
                ));
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
    let _ = node_span;
    PartialNode {
        header: None,
        image,
        command: raw.command,
        env: raw
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
        ports: raw
            .ports
            .map(|ports| ports.into_iter().map(|p| located(src, p)).collect()),
        depends_on: raw
            .depends_on
            .map(|deps| deps.into_iter().map(|d| located(src, d)).collect()),
        replicas: raw.replicas.map(Spanned::into_inner),
        health,
        provision,
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
    let interval = raw.interval.map_or(DEFAULT_HEALTH_INTERVAL, |d| d.0);
    let timeout = raw.timeout.map_or(DEFAULT_HEALTH_TIMEOUT, |d| d.0);
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
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        errors.push(src.diagnostic_for(
            span,
            "provision",
            "a provisioning step needs exactly one of `shell`, `script` or `copy`",
        ));
        return None;
    }
    let timeout = raw.timeout.map(|d| d.0);
    let args = raw.args.unwrap_or_default();
    if !args.is_empty() && raw.script.is_none() {
        errors.push(src.diagnostic_for(span.clone(), "args", "`args` goes with `script`"));
    }
    let script_at = |value: Spanned<String>, errors: &mut Vec<Diagnostic>| {
        let path = root.join(value.get_ref());
        if !path.is_file() {
            errors.push(src.diagnostic(
                Some(value.span()),
                format!("script `{}` does not exist", value.get_ref()),
            ));
            return None;
        }
        Some(StepKind::Script {
            path: PathBuf::from(value.get_ref()),
            args: args.clone(),
        })
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
    } else {
        let copy = raw.copy.expect("checked above");
        let from = root.join(copy.get_ref());
        if !from.exists() {
            errors.push(src.diagnostic(
                Some(copy.span()),
                format!("`{}` does not exist in the project", copy.get_ref()),
            ));
            return None;
        }
        let Some(to) = raw.to.filter(|t| t.starts_with('/')) else {
            errors.push(src.diagnostic_for(
                span,
                "to",
                "`copy` needs `to`, an absolute path inside the node",
            ));
            return None;
        };
        let mode = match raw.mode {
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
        StepKind::Copy {
            from: PathBuf::from(copy.into_inner()),
            to,
            mode,
        }
    };
    Some(Step {
        kind,
        name: raw.name,
        timeout,
    })
}

/// `shell = "provision/web.sh"` names a script; anything with spaces or shell syntax is
/// an inline command.
fn looks_like_script(value: &str) -> bool {
    let v = value.trim();
    !v.contains(char::is_whitespace)
        && v.ends_with(".sh")
        && !v.contains([';', '|', '&', '$', '`', '>', '<'])
}

fn check_name(at: &Location, name: &str, what: &str, errors: &mut Vec<Diagnostic>) {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    if !ok {
        errors.push(at.diagnostic(
            None,
            format!(
                "{what} name `{name}` must start with a lowercase letter and use only a-z, 0-9, - and _ (at most 48 characters)"
            ),
        ));
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
    })
}

/// Where a node's references were written, for checks that span nodes.
struct NodeRefs {
    depends_on: Vec<Located<String>>,
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
    if !errors.is_empty() {
        return;
    }
    if let Some(cycle) = crate::plan::order::find_cycle(nodes) {
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

    #[test]
    fn raw_node_rejects_unknown_keys() {
        let err = parse_str("[nodes.web]\nimgae = \"x\"\n").unwrap_err();
        assert!(
            err.message().contains("unknown field `imgae`"),
            "{}",
            err.message()
        );
    }
}
