//! Nodes from a compose file (`compose = "docker-compose.yml"` on an environment): each
//! service becomes a node, written as the envctl keys it means (docs/compose.md maps
//! them), so the environment's own `[nodes.NAME]` tables layer on top and every check
//! that applies to a node applies to a service, at the service's line. A compose key
//! envctl does not serve is an error at its line, never skipped.
//!
//! `${VAR}` interpolation takes values from the environment's `vars`, then the `.env`
//! file next to the compose file; never from the host's environment, which a project
//! may not read.

use super::confine::Root;
use super::environment_file::{RawHealth, RawNode};
use super::scalar::{CommandLine, EnvName, Scalar};
use super::source::{Diagnostic, SourceFile};
use super::yaml::{self, Node, Value};
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A service turned into a node layer.
pub struct Service {
    pub name: String,
    /// The service's key in the file.
    pub span: Range<usize>,
    pub node: Spanned<RawNode>,
}

/// What a compose file gives an environment.
pub struct Compose {
    pub src: Arc<SourceFile>,
    pub services: Vec<Service>,
}

/// Reads `file` (relative to the project root) and turns its services into node layers;
/// services of profiles not in `profiles` are left out, as compose leaves them out.
/// Problems go to `errors`; `None` when the file cannot be read at all.
pub fn read(
    root: &Path,
    file: &str,
    profiles: &[String],
    vars: &BTreeMap<String, String>,
    errors: &mut Vec<Diagnostic>,
) -> Result<Option<Compose>, String> {
    let confined = Root::new(root);
    let text = confined.read_text(file).map_err(|why| why.to_string())?;
    let display = PathBuf::from(file.trim_start_matches("./"));
    let src = Arc::new(SourceFile {
        display: display.clone(),
        text,
    });
    let doc = match yaml::parse(&src.text) {
        Ok(doc) => doc,
        Err(e) => {
            errors.push(Diagnostic {
                file: display,
                line: e.line,
                column: e.column,
                field: None,
                message: e.message,
            });
            return Ok(None);
        }
    };
    let dir = display.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut reader = Reader {
        src: src.clone(),
        root: confined,
        dir,
        vars: vars.clone(),
        errors,
    };
    reader.load_dotenv();
    let services = reader.document(&doc, profiles);
    Ok(Some(Compose { src, services }))
}

struct Reader<'a> {
    src: Arc<SourceFile>,
    root: Root,
    /// The compose file's directory, relative to the project root: relative paths in
    /// the file start there.
    dir: PathBuf,
    /// Interpolation values: the environment's vars, then `.env`.
    vars: BTreeMap<String, String>,
    errors: &'a mut Vec<Diagnostic>,
}

/// Top-level keys read, besides `x-*` extensions.
const TOP_KEYS: &[&str] = &["services", "volumes", "version"];

impl Reader<'_> {
    fn span(&self, n: &Node) -> Range<usize> {
        let start = offset(&self.src.text, n.line, n.column);
        start..(start + 1).min(self.src.text.len().max(start))
    }

    fn error(&mut self, n: &Node, field: &str, message: impl Into<String>) {
        let d = self.src.diagnostic_for(self.span(n), field, message);
        self.errors.push(d);
    }

    fn spanned<T>(&self, n: &Node, value: T) -> Spanned<T> {
        Spanned::new(self.span(n), value)
    }

    /// `.env` next to the compose file: values for interpolation (not for the nodes).
    fn load_dotenv(&mut self) {
        let path = self.dir.join(".env");
        let Ok(text) = self.root.read_text(&format!("./{}", path.display())) else {
            return;
        };
        match env_lines(&text, &|v| Ok(v.to_string())) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    self.vars.entry(k).or_insert(v);
                }
            }
            Err((line, message)) => self.errors.push(Diagnostic {
                file: path,
                line,
                column: 1,
                field: None,
                message,
            }),
        }
    }

    fn document(&mut self, doc: &Node, profiles: &[String]) -> Vec<Service> {
        if !matches!(doc.value, Value::Map(_)) {
            self.error(
                doc,
                "services",
                "a compose file is a mapping with `services`",
            );
            return Vec::new();
        }
        let entries = merged(doc);
        for (k, _) in &entries {
            let key = k.as_key().unwrap_or_default();
            if !TOP_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
                self.unsupported(k, &key, "");
            }
        }
        let mut declared = BTreeSet::new();
        if let Some(volumes) = doc.get("volumes") {
            for (name, settings) in merged(volumes) {
                let name_text = name.as_key().unwrap_or_default();
                for (k, _) in merged(&settings) {
                    let key = k.as_key().unwrap_or_default();
                    self.unsupported(&k, &key, &format!("volumes.{name_text}."));
                }
                declared.insert(name_text);
            }
        }
        let Some(services) = doc.get("services") else {
            self.error(doc, "services", "the compose file has no `services`");
            return Vec::new();
        };
        let services_map = merged(services);
        // A service others wait for with `service_completed_successfully` is a job.
        let mut jobs = BTreeSet::new();
        for (_, s) in &services_map {
            if let Some(deps) = s.get("depends_on") {
                for (dep, settings) in merged(deps) {
                    let condition = settings.get("condition").and_then(Node::as_str);
                    if condition == Some("service_completed_successfully") {
                        jobs.insert(dep.as_key().unwrap_or_default());
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (name, service) in &services_map {
            let name_text = name.as_key().unwrap_or_default();
            if let Some(p) = service.get("profiles") {
                let listed = self.strings(p, &format!("services.{name_text}.profiles"));
                if !listed.is_empty() && !listed.iter().any(|l| profiles.contains(l)) {
                    continue;
                }
            }
            let node = self.service(&name_text, service, &declared, jobs.contains(&name_text));
            out.push(Service {
                name: name_text,
                span: self.span(name),
                node: self.spanned(service, node),
            });
        }
        out
    }

    fn unsupported(&mut self, key: &Node, name: &str, prefix: &str) {
        if name.starts_with("x-") {
            return;
        }
        self.error(
            key,
            &format!("{prefix}{name}"),
            "envctl does not read this compose key (docs/compose.md lists the keys it reads); remove it, or describe the node in the environment's [nodes] table instead",
        );
    }

    fn service(
        &mut self,
        name: &str,
        service: &Node,
        declared: &BTreeSet<String>,
        job: bool,
    ) -> RawNode {
        let at = format!("services.{name}");
        let mut raw = RawNode::default();
        let entries = merged(service);
        if !matches!(service.value, Value::Map(_)) {
            self.error(service, &at, "a service is a mapping of compose keys");
            return raw;
        }
        let mut env_file: BTreeMap<EnvName, Scalar> = BTreeMap::new();
        let mut environment: BTreeMap<EnvName, Scalar> = BTreeMap::new();
        for (k, v) in &entries {
            let key = k.as_key().unwrap_or_default();
            let field = format!("{at}.{key}");
            match key.as_str() {
                "image" => {
                    if let Some(image) = self.string(v, &field) {
                        // With `build`, compose tags what it builds with `image`; envctl
                        // runs what it builds.
                        if service.get("build").is_none() {
                            raw.image = Some(self.spanned(v, image));
                        }
                    }
                }
                "build" => raw.build = self.build(v, &field),
                "command" => raw.command = self.command(v, &field),
                "entrypoint" => raw.entrypoint = self.command(v, &field),
                "environment" => environment = self.environment(v, &field),
                "env_file" => env_file = self.env_files(v, &field),
                "ports" => raw.ports = Some(self.ports(v, &field)),
                "expose" => {
                    // Nodes reach each other's ports on the instance's network anyway.
                    for p in self.list(v, &field) {
                        self.port_number(&p, &field);
                    }
                }
                "depends_on" => raw.depends_on = Some(self.depends_on(v, &field)),
                "healthcheck" => raw.health = self.healthcheck(v, &field),
                "volumes" => {
                    let (volumes, tmpfs) = self.volumes(v, &field, declared);
                    raw.volumes = Some(volumes);
                    if !tmpfs.is_empty() {
                        raw.tmpfs.get_or_insert_with(Vec::new).extend(tmpfs);
                    }
                }
                "tmpfs" => {
                    let list = self.strings_spanned(v, &field);
                    raw.tmpfs.get_or_insert_with(Vec::new).extend(list);
                }
                "deploy" => self.deploy(v, &field, &mut raw),
                "cpus" => raw.cpus = self.cpus(v, &field),
                "mem_limit" => raw.memory = self.string(v, &field).map(|m| self.spanned(v, m)),
                "pids_limit" => raw.pids = self.count(v, &field).map(|n| self.spanned(v, n)),
                "profiles" => {}
                "restart" => raw.restart = self.string(v, &field).map(|r| self.spanned(v, r)),
                other => self.unsupported(k, other, &format!("{at}.")),
            }
        }
        env_file.extend(environment);
        if !env_file.is_empty() {
            raw.env = Some(env_file);
        }
        if job {
            raw.run = Some(self.spanned(service, "once".to_string()));
        }
        raw
    }

    /// A scalar as text, interpolated.
    fn string(&mut self, v: &Node, field: &str) -> Option<String> {
        match &v.value {
            Value::Seq(_) | Value::Map(_) | Value::Null => {
                self.error(v, field, "expected a single value");
                None
            }
            _ => {
                let text = v.as_key().unwrap_or_default();
                match interpolate(&text, &self.vars) {
                    Ok(t) => Some(t),
                    Err(message) => {
                        self.error(v, field, message);
                        None
                    }
                }
            }
        }
    }

    /// A list's items, or a single value as a one-item list.
    fn list(&mut self, v: &Node, field: &str) -> Vec<Node> {
        match &v.value {
            Value::Seq(items) => items.clone(),
            Value::Map(_) => {
                self.error(v, field, "expected a list");
                Vec::new()
            }
            _ => vec![v.clone()],
        }
    }

    fn strings(&mut self, v: &Node, field: &str) -> Vec<String> {
        self.strings_spanned(v, field)
            .into_iter()
            .map(Spanned::into_inner)
            .collect()
    }

    fn strings_spanned(&mut self, v: &Node, field: &str) -> Vec<Spanned<String>> {
        self.list(v, field)
            .iter()
            .filter_map(|item| self.string(item, field).map(|s| self.spanned(item, s)))
            .collect()
    }

    fn count(&mut self, v: &Node, field: &str) -> Option<u32> {
        let text = self.string(v, field)?;
        match text.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(v, field, format!("`{text}` is not a whole number"));
                None
            }
        }
    }

    fn cpus(&mut self, v: &Node, field: &str) -> Option<Spanned<f64>> {
        let text = self.string(v, field)?;
        match text.parse::<f64>() {
            Ok(n) => Some(self.spanned(v, n)),
            Err(_) => {
                self.error(v, field, format!("`{text}` is not a number of CPUs"));
                None
            }
        }
    }

    fn build(&mut self, v: &Node, field: &str) -> Option<Spanned<String>> {
        let context = match &v.value {
            Value::Map(_) => {
                let mut context = None;
                for (k, value) in merged(v) {
                    let key = k.as_key().unwrap_or_default();
                    match key.as_str() {
                        "context" => context = self.string(&value, field).map(|c| (c, value)),
                        "dockerfile" => {
                            if self.string(&value, field).as_deref() != Some("Dockerfile") {
                                self.error(
                                    &value,
                                    &format!("{field}.dockerfile"),
                                    "envctl builds the `Dockerfile` of the context; another file name is not supported",
                                );
                            }
                        }
                        _ => self.unsupported(&k, &key, &format!("{field}.")),
                    }
                }
                context
            }
            _ => self.string(v, field).map(|c| (c, v.clone())),
        };
        let (context, at) = context?;
        let path = self.relative(&context);
        Some(self.spanned(&at, path))
    }

    /// A path of the file (relative to its directory) as a project path (`./...`).
    fn relative(&self, path: &str) -> String {
        if path.starts_with('/') || path.starts_with('~') {
            return path.to_string();
        }
        let joined = self.dir.join(path);
        let text = joined.display().to_string();
        if text.starts_with('.') {
            text
        } else {
            format!("./{text}")
        }
    }

    fn command(&mut self, v: &Node, field: &str) -> Option<CommandLine> {
        let args = match &v.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| self.string(i, field))
                .collect::<Vec<_>>(),
            _ => {
                let text = self.string(v, field)?;
                // Compose splits a string command as a shell would, and runs it without one.
                match shlex::split(&text) {
                    Some(args) => args,
                    None => {
                        self.error(
                            v,
                            field,
                            format!("cannot split `{text}` into arguments (an unclosed quote?)"),
                        );
                        return None;
                    }
                }
            }
        };
        if args.is_empty() {
            self.error(v, field, "empty command");
            return None;
        }
        Some(CommandLine(args))
    }

    fn env_pair(
        &mut self,
        at: &Node,
        field: &str,
        key: &str,
        value: Option<String>,
    ) -> Option<(EnvName, Scalar)> {
        let name = match EnvName::new(key.to_string()) {
            Ok(n) => n,
            Err(message) => {
                self.error(at, field, message);
                return None;
            }
        };
        let Some(value) = value else {
            self.error(
                at,
                field,
                format!("`{key}` has no value: compose would take it from the host's environment, which envctl does not pass to nodes; give it a value, or declare it in the environment's [secrets]"),
            );
            return None;
        };
        Some((name, Scalar(value)))
    }

    fn environment(&mut self, v: &Node, field: &str) -> BTreeMap<EnvName, Scalar> {
        let mut out = BTreeMap::new();
        match &v.value {
            Value::Map(_) => {
                for (k, value) in merged(v) {
                    let key = k.as_key().unwrap_or_default();
                    let value = if value.is_null() {
                        None
                    } else {
                        self.string(&value, field)
                    };
                    out.extend(self.env_pair(&k, field, &key, value));
                }
            }
            _ => {
                for item in self.list(v, field) {
                    let Some(text) = self.string(&item, field) else {
                        continue;
                    };
                    let (key, value) = match text.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (text, None),
                    };
                    out.extend(self.env_pair(&item, field, &key, value));
                }
            }
        }
        out
    }

    fn env_files(&mut self, v: &Node, field: &str) -> BTreeMap<EnvName, Scalar> {
        let mut out = BTreeMap::new();
        for item in self.list(v, field) {
            let (path, required) = match &item.value {
                Value::Map(_) => {
                    let mut path = None;
                    let mut required = true;
                    for (k, value) in merged(&item) {
                        let key = k.as_key().unwrap_or_default();
                        match key.as_str() {
                            "path" => path = self.string(&value, field),
                            "required" => required = value.value != Value::Bool(false),
                            _ => self.unsupported(&k, &key, &format!("{field}.")),
                        }
                    }
                    (path, required)
                }
                _ => (self.string(&item, field), true),
            };
            let Some(path) = path else { continue };
            let project_path = self.relative(&path);
            let text = match self.root.read_text(&project_path) {
                Ok(text) => text,
                Err(_) if !required && !self.root.real().join(&project_path).exists() => continue,
                Err(why) => {
                    self.error(&item, field, why.to_string());
                    continue;
                }
            };
            let vars = self.vars.clone();
            match env_lines(&text, &|value| interpolate(value, &vars)) {
                Ok(pairs) => {
                    for (k, value) in pairs {
                        out.extend(self.env_pair(&item, field, &k, Some(value)));
                    }
                }
                Err((line, message)) => self.errors.push(Diagnostic {
                    file: PathBuf::from(project_path.trim_start_matches("./")),
                    line,
                    column: 1,
                    field: None,
                    message,
                }),
            }
        }
        out
    }

    fn port_number(&mut self, v: &Node, field: &str) -> Option<u16> {
        let text = self.string(v, field)?;
        let number = text.split('/').next().unwrap_or_default();
        match number.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.error(v, field, format!("`{text}` is not a port"));
                None
            }
        }
    }

    fn ports(&mut self, v: &Node, field: &str) -> Vec<Spanned<super::port::PortMapping>> {
        let mut out = Vec::new();
        for item in self.list(v, field) {
            let text = match &item.value {
                Value::Map(_) => {
                    let (mut target, mut published, mut protocol) = (None, None, None);
                    for (k, value) in merged(&item) {
                        let key = k.as_key().unwrap_or_default();
                        match key.as_str() {
                            "target" => target = self.string(&value, field),
                            "published" => published = self.string(&value, field),
                            "protocol" => protocol = self.string(&value, field),
                            "host_ip" => {
                                self.host_ip(&value, field);
                            }
                            "mode" if value.as_str() == Some("ingress") => {}
                            _ => self.unsupported(&k, &key, &format!("{field}.")),
                        }
                    }
                    let Some(target) = target else {
                        self.error(&item, field, "a port needs `target`");
                        continue;
                    };
                    let mut text = match published {
                        Some(p) => format!("{p}:{target}"),
                        None => target,
                    };
                    if let Some(p) = protocol {
                        text = format!("{text}/{p}");
                    }
                    text
                }
                _ => {
                    let Some(text) = self.string(&item, field) else {
                        continue;
                    };
                    // `IP:HOST:CONTAINER`: envctl publishes on 127.0.0.1 only.
                    match text.matches(':').count() {
                        2 => {
                            let (ip, rest) = text.split_once(':').unwrap_or_default();
                            let ip = ip.to_string();
                            let rest = rest.to_string();
                            if !self.host_ip_text(&item, field, &ip) {
                                continue;
                            }
                            rest
                        }
                        _ => text,
                    }
                }
            };
            match super::port::PortMapping::parse(&text) {
                Ok(p) => out.push(self.spanned(&item, p)),
                Err(message) => self.error(&item, field, message),
            }
        }
        out
    }

    fn host_ip(&mut self, v: &Node, field: &str) -> bool {
        match self.string(v, field) {
            Some(ip) => self.host_ip_text(v, field, &ip),
            None => false,
        }
    }

    fn host_ip_text(&mut self, v: &Node, field: &str, ip: &str) -> bool {
        if matches!(ip, "127.0.0.1" | "localhost") {
            return true;
        }
        self.error(
            v,
            field,
            format!("envctl publishes ports on 127.0.0.1 only; `{ip}` would expose the node beyond this machine"),
        );
        false
    }

    fn depends_on(&mut self, v: &Node, field: &str) -> Vec<Spanned<String>> {
        let mut out = Vec::new();
        match &v.value {
            Value::Map(_) => {
                for (dep, settings) in merged(v) {
                    let name = dep.as_key().unwrap_or_default();
                    let mut condition = None;
                    for (k, value) in merged(&settings) {
                        let key = k.as_key().unwrap_or_default();
                        match key.as_str() {
                            "condition" => {
                                condition = match value.as_str() {
                                    Some("service_started") => Some("started"),
                                    Some("service_healthy") => Some("healthy"),
                                    Some("service_completed_successfully") => Some("completed"),
                                    _ => {
                                        self.error(&value, &format!("{field}.{name}.condition"), "use service_started, service_healthy or service_completed_successfully");
                                        None
                                    }
                                }
                            }
                            "required" if value.value == Value::Bool(true) => {}
                            _ => self.unsupported(&k, &key, &format!("{field}.{name}.")),
                        }
                    }
                    let text = match condition {
                        Some(c) => format!("{name}:{c}"),
                        None => name,
                    };
                    out.push(self.spanned(&dep, text));
                }
            }
            _ => {
                for item in self.list(v, field) {
                    if let Some(name) = self.string(&item, field) {
                        out.push(self.spanned(&item, name));
                    }
                }
            }
        }
        out
    }

    fn duration(&mut self, v: &Node, field: &str) -> Option<std::time::Duration> {
        let text = self.string(v, field)?;
        match super::duration::HumanDuration::parse(&text) {
            Ok(d) => Some(d.0),
            Err(message) => {
                self.error(v, field, message);
                None
            }
        }
    }

    fn healthcheck(&mut self, v: &Node, field: &str) -> Option<Spanned<RawHealth>> {
        let mut test = None;
        let mut disabled = false;
        // Compose's defaults.
        let (mut interval, mut timeout, mut retries) = (30.0, 30.0, 3.0);
        let mut start_period = 0.0;
        let mut start_interval = None;
        for (k, value) in merged(v) {
            let key = k.as_key().unwrap_or_default();
            let at = format!("{field}.{key}");
            match key.as_str() {
                "test" => test = Some(value.clone()),
                "disable" => disabled = value.value == Value::Bool(true),
                "interval" => {
                    interval = self
                        .duration(&value, &at)
                        .map_or(interval, |d| d.as_secs_f64())
                }
                "timeout" => {
                    timeout = self
                        .duration(&value, &at)
                        .map_or(timeout, |d| d.as_secs_f64())
                }
                "start_period" => {
                    start_period = self.duration(&value, &at).map_or(0.0, |d| d.as_secs_f64());
                }
                "start_interval" => start_interval = self.duration(&value, &at),
                "retries" => retries = f64::from(self.count(&value, &at).unwrap_or(3)),
                _ => self.unsupported(&k, &key, &format!("{field}.")),
            }
        }
        if disabled {
            return None;
        }
        let test_node = test?;
        let command = match &test_node.value {
            Value::Seq(items) => {
                let words: Vec<String> = items
                    .iter()
                    .filter_map(|i| self.string(i, &format!("{field}.test")))
                    .collect();
                match words.split_first() {
                    Some((first, rest)) if first == "CMD" && !rest.is_empty() => {
                        CommandLine(rest.to_vec())
                    }
                    Some((first, rest)) if first == "CMD-SHELL" && rest.len() == 1 => {
                        CommandLine(vec!["sh".into(), "-c".into(), rest[0].clone()])
                    }
                    Some((first, [])) if first == "NONE" => return None,
                    _ => {
                        self.error(&test_node, &format!("{field}.test"), "write [\"CMD\", ARGS...], [\"CMD-SHELL\", \"command\"], [\"NONE\"] or a command string");
                        return None;
                    }
                }
            }
            _ => {
                let text = self.string(&test_node, &format!("{field}.test"))?;
                CommandLine(vec!["sh".into(), "-c".into(), text])
            }
        };
        // envctl probes often and gives up when compose would call the service unhealthy.
        let deadline = start_period + retries * (interval + timeout);
        let poll = start_interval
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.2)
            .min(interval);
        let seconds = |s: f64| {
            super::duration::NonZeroDuration::parse(&format!("{}ms", (s * 1000.0).round().max(1.0)))
                .ok()
        };
        Some(self.spanned(
            v,
            RawHealth {
                http: None,
                tcp: None,
                command: Some(command),
                status: None,
                interval: seconds(poll),
                timeout: seconds(deadline),
            },
        ))
    }

    fn volumes(
        &mut self,
        v: &Node,
        field: &str,
        declared: &BTreeSet<String>,
    ) -> (Vec<Spanned<String>>, Vec<Spanned<String>>) {
        let (mut volumes, mut tmpfs) = (Vec::new(), Vec::new());
        for item in self.list(v, field) {
            let (kind, source, target, read_only, size) = match &item.value {
                Value::Map(_) => {
                    let (mut kind, mut source, mut target) = (None, None, None);
                    let (mut read_only, mut size) = (false, None);
                    for (k, value) in merged(&item) {
                        let key = k.as_key().unwrap_or_default();
                        match key.as_str() {
                            "type" => kind = self.string(&value, field),
                            "source" => source = self.string(&value, field),
                            "target" => target = self.string(&value, field),
                            "read_only" => read_only = value.value == Value::Bool(true),
                            "tmpfs" => {
                                for (tk, tv) in merged(&value) {
                                    match tk.as_key().as_deref() {
                                        Some("size") => size = self.string(&tv, field),
                                        other => self.unsupported(
                                            &tk,
                                            other.unwrap_or_default(),
                                            &format!("{field}.tmpfs."),
                                        ),
                                    }
                                }
                            }
                            _ => self.unsupported(&k, &key, &format!("{field}.")),
                        }
                    }
                    let Some(target) = target else {
                        self.error(&item, field, "a volume needs `target`");
                        continue;
                    };
                    (
                        kind.unwrap_or_else(|| "volume".into()),
                        source,
                        target,
                        read_only,
                        size,
                    )
                }
                _ => {
                    let Some(text) = self.string(&item, field) else {
                        continue;
                    };
                    let parts: Vec<&str> = text.split(':').collect();
                    let (source, target, mode) = match parts.as_slice() {
                        [target] => (None, target.to_string(), None),
                        [s, t] => (Some(s.to_string()), t.to_string(), None),
                        [s, t, m] => (Some(s.to_string()), t.to_string(), Some(m.to_string())),
                        _ => {
                            self.error(&item, field, format!("`{text}` is not a volume"));
                            continue;
                        }
                    };
                    let read_only = match mode.as_deref() {
                        None | Some("rw") => false,
                        Some("ro") => true,
                        Some(other) => {
                            self.error(
                                &item,
                                field,
                                format!("volume option `{other}` is not supported; use ro or rw"),
                            );
                            continue;
                        }
                    };
                    let kind = match &source {
                        Some(s) if s.starts_with(['.', '/', '~']) => "bind",
                        _ => "volume",
                    };
                    (kind.to_string(), source, target, read_only, None)
                }
            };
            let mode = if read_only { "ro" } else { "rw" };
            match (kind.as_str(), source) {
                ("tmpfs", _) => {
                    let text = match size {
                        Some(s) => format!("{target}:size={s}"),
                        None => target,
                    };
                    tmpfs.push(self.spanned(&item, text));
                }
                ("volume", Some(name)) => {
                    if !declared.contains(&name) {
                        self.error(&item, field, format!("volume `{name}` is not declared in the file's top-level `volumes`"));
                        continue;
                    }
                    volumes.push(self.spanned(&item, format!("{name}:{target}:{mode}")));
                }
                ("volume", None) => self.error(
                    &item,
                    field,
                    format!("`{target}` would be an anonymous volume; envctl needs a name (\"NAME:{target}\") to own and remove it"),
                ),
                // Compose binds are writable unless `:ro`, and so are they here.
                ("bind", Some(source)) => {
                    let path = self.relative(&source);
                    volumes.push(self.spanned(&item, format!("{path}:{target}:{mode}")));
                }
                (other, _) => self.error(&item, field, format!("volume type `{other}` is not supported; use volume, bind or tmpfs")),
            }
        }
        (volumes, tmpfs)
    }

    fn deploy(&mut self, v: &Node, field: &str, raw: &mut RawNode) {
        for (k, value) in merged(v) {
            let key = k.as_key().unwrap_or_default();
            let at = format!("{field}.{key}");
            match key.as_str() {
                "replicas" => {
                    raw.replicas = self.count(&value, &at).map(|n| self.spanned(&value, n))
                }
                "mode" if value.as_str() == Some("replicated") => {}
                "resources" => {
                    for (rk, rv) in merged(&value) {
                        let rkey = rk.as_key().unwrap_or_default();
                        if rkey != "limits" {
                            self.unsupported(&rk, &rkey, &format!("{at}."));
                            continue;
                        }
                        for (lk, lv) in merged(&rv) {
                            let lkey = lk.as_key().unwrap_or_default();
                            let lat = format!("{at}.limits.{lkey}");
                            match lkey.as_str() {
                                "cpus" => raw.cpus = self.cpus(&lv, &lat),
                                "memory" => {
                                    raw.memory =
                                        self.string(&lv, &lat).map(|m| self.spanned(&lv, m))
                                }
                                "pids" => {
                                    raw.pids = self.count(&lv, &lat).map(|n| self.spanned(&lv, n))
                                }
                                _ => self.unsupported(&lk, &lkey, &format!("{at}.limits.")),
                            }
                        }
                    }
                }
                _ => self.unsupported(&k, &key, &format!("{field}.")),
            }
        }
    }
}

/// A mapping's entries with YAML merge keys (`<<: *base`) applied: keys written in the
/// mapping win over merged ones, earlier merged mappings over later ones.
fn merged(n: &Node) -> Vec<(Node, Node)> {
    let mut own: Vec<(Node, Node)> = Vec::new();
    let mut bases: Vec<Node> = Vec::new();
    for (k, v) in n.entries() {
        if k.as_str() == Some("<<") {
            match &v.value {
                Value::Seq(items) => bases.extend(items.iter().cloned()),
                _ => bases.push(v.clone()),
            }
        } else {
            own.push((k.clone(), v.clone()));
        }
    }
    for base in bases {
        for (k, v) in merged(&base) {
            if !own.iter().any(|(o, _)| o.as_key() == k.as_key()) {
                own.push((k, v));
            }
        }
    }
    own
}

/// Byte offset of a 1-based line and (character) column.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[start.min(text.len())..];
    start
        + rest
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

/// The compose key path at `offset` of a YAML file (`services.db.volumes`), for
/// diagnostics about it.
pub fn field_at(text: &str, at: usize) -> String {
    let Ok(doc) = yaml::parse(text) else {
        return String::new();
    };
    let mut best: (usize, String) = (0, String::new());
    walk(text, &doc, "", at, &mut best);
    best.1
}

fn walk(text: &str, n: &Node, path: &str, at: usize, best: &mut (usize, String)) {
    let start = offset(text, n.line, n.column);
    if start <= at && start >= best.0 && !path.is_empty() {
        *best = (start, path.to_string());
    }
    match &n.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.as_key().unwrap_or_default();
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                walk(text, k, &child, at, best);
                walk(text, v, &child, at, best);
            }
        }
        Value::Seq(items) => {
            for item in items {
                walk(text, item, path, at, best);
            }
        }
        _ => {}
    }
}

/// Replaces `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`,
/// `${NAME?message}`, `${NAME:+other}`, `${NAME+other}` and `$NAME` as compose does;
/// `$$` is a `$`.
///
/// # Errors
/// A variable that is not set and has no default (compose would put an empty string
/// there, which hides a missing setting), a required one, a malformed reference.
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let mut depth = 1;
            let end = inner
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .ok_or_else(|| format!("`${{` without a closing `}}` in `{text}`"))?;
            out.push_str(&expand(&inner[..end], vars)?);
            rest = &inner[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
                rest = after;
                continue;
            }
            out.push_str(&expand(&after[..len], vars)?);
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(reference: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let name_len = reference
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(reference.len());
    let (name, op) = reference.split_at(name_len);
    if name.is_empty() {
        return Err(format!("`${{{reference}}}` names no variable"));
    }
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let (operator, word) = if let Some(w) = op.strip_prefix(":-") {
        (":-", w)
    } else if let Some(w) = op.strip_prefix(":?") {
        (":?", w)
    } else if let Some(w) = op.strip_prefix(":+") {
        (":+", w)
    } else if op.is_empty() {
        ("", "")
    } else {
        op.split_at(1)
    };
    match operator {
        "" => value.cloned().ok_or_else(|| {
            format!("`${{{name}}}` is not set: give it a value in the environment's [vars] or in .env next to the compose file, or a default (`${{{name}:-value}}`)")
        }),
        ":-" if set_nonempty => Ok(value.cloned().unwrap_or_default()),
        "-" if value.is_some() => Ok(value.cloned().unwrap_or_default()),
        ":-" | "-" => interpolate(word, vars),
        ":?" if set_nonempty => Ok(value.cloned().unwrap_or_default()),
        "?" if value.is_some() => Ok(value.cloned().unwrap_or_default()),
        ":?" | "?" => Err(format!("`{name}` is required: {}", interpolate(word, vars)?)),
        ":+" if set_nonempty => interpolate(word, vars),
        "+" if value.is_some() => interpolate(word, vars),
        ":+" | "+" => Ok(String::new()),
        _ => Err(format!("`${{{reference}}}` is not an interpolation envctl reads")),
    }
}

/// `KEY=VALUE` lines of an env file (`.env`, `env_file`): `#` comments, `export `,
/// single quotes taken literally, double quotes with `\n` escapes; `value` treats what
/// is not single-quoted.
///
/// # Errors
/// The 1-based line and what is wrong with it.
fn env_lines(
    text: &str,
    value: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            return Err((
                i + 1,
                format!("`{line}` has no value: compose would take it from the host's environment, which envctl does not pass to nodes; write KEY=VALUE"),
            ));
        };
        let raw = raw.trim();
        let parsed = if let Some(inner) = raw.strip_prefix('\'') {
            inner
                .strip_suffix('\'')
                .ok_or((
                    i + 1,
                    "a single quote without its closing quote".to_string(),
                ))?
                .to_string()
        } else if let Some(inner) = raw.strip_prefix('"') {
            let inner = inner.strip_suffix('"').ok_or((
                i + 1,
                "a double quote without its closing quote".to_string(),
            ))?;
            value(&inner.replace("\\n", "\n").replace("\\\"", "\"")).map_err(|m| (i + 1, m))?
        } else {
            let unquoted = raw.split(" #").next().unwrap_or(raw).trim();
            value(unquoted).map_err(|m| (i + 1, m))?
        };
        out.push((key.trim().to_string(), parsed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn interpolation_follows_compose() {
        let v = vars(&[("A", "1"), ("E", "")]);
        assert_eq!(interpolate("x${A}y$A", &v).unwrap(), "x1y1");
        assert_eq!(interpolate("${B:-two}", &v).unwrap(), "two");
        assert_eq!(interpolate("${E:-two}", &v).unwrap(), "two");
        assert_eq!(interpolate("${E-two}", &v).unwrap(), "");
        assert_eq!(interpolate("${A:+set}${B:+set}", &v).unwrap(), "set");
        assert_eq!(interpolate("$$A ${B:-${A}}", &v).unwrap(), "$A 1");
        assert!(interpolate("${B}", &v)
            .unwrap_err()
            .contains("`${B}` is not set"));
        assert!(interpolate("${B:?needs B}", &v)
            .unwrap_err()
            .contains("needs B"));
        assert!(interpolate("${A", &v).is_err());
        assert_eq!(interpolate("cost: 5$", &v).unwrap(), "cost: 5$");
    }

    #[test]
    fn env_files_read_like_compose() {
        let text = "# c\nA=1\nexport B = 'x $y'\nC=\"q\\nr\"\nD=plain # note\n\n";
        let pairs = env_lines(text, &|v| Ok(v.to_string())).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x $y".into()),
                ("C".into(), "q\nr".into()),
                ("D".into(), "plain".into())
            ]
        );
        assert_eq!(
            env_lines("A=1\nHOST_VAR\n", &|v| Ok(v.into()))
                .unwrap_err()
                .0,
            2
        );
    }

    #[test]
    fn merge_keys_apply_under_written_keys() {
        let doc =
            yaml::parse("x-base: &b\n  image: a\n  restart: always\ns:\n  <<: *b\n  image: c\n")
                .unwrap();
        let entries = merged(doc.get("s").unwrap());
        let keys: Vec<_> = entries
            .iter()
            .map(|(k, v)| (k.as_key().unwrap(), v.as_key().unwrap()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("image".into(), "c".into()),
                ("restart".into(), "always".into())
            ]
        );
    }

    #[test]
    fn fields_are_compose_paths() {
        let text = "services:\n  db:\n    image: postgres\n    ports:\n      - \"5432\"\n";
        assert_eq!(
            field_at(text, text.find("postgres").unwrap()),
            "services.db.image"
        );
        assert_eq!(
            field_at(text, text.find("\"5432").unwrap()),
            "services.db.ports"
        );
        assert_eq!(offset("ab\ncd\n", 2, 2), 4);
    }
}
