//! goss files: `specs/ENV/NODE.goss.yaml` is applied to NODE as if goss ran on it
//! (`localhost` is the node). Supported: goss's resource types and attribute names for
//! package, service, process, port, user, group, file, command, http, addr, dns,
//! kernel-param, mount and interface; goss matchers; `gossfile` includes (globs, relative
//! to the including file); `{{.Vars.x}}` / `{{.Env.X}}` templating with
//! `specs/ENV/goss.vars.yaml`. Anything else is an error naming file and line.

use super::assertion::fact::{self, Fact, NodeCheck};
use super::assertion::matcher::Matcher;
use super::assertion::pattern::Pattern;
use super::assertion::{
    describe_fact, slug, Assertion, Check, CommandCheck, Endpoint, HttpCheck, TcpCheck,
    DEFAULT_EXEC_TIMEOUT, DEFAULT_NETWORK_TIMEOUT,
};
use super::environment::Environment;
use super::scalar::CommandLine;
use super::source::Diagnostic;
use super::ModelError;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The suffixes that make a spec file a goss file.
pub const SUFFIXES: &[&str] = &[".goss.yaml", ".goss.yml"];

/// The vars file of an environment's goss files.
pub const VARS_FILE: &str = "goss.vars.yaml";

/// The node a goss file applies to, from its file name (`web.goss.yaml` → `web`).
pub fn node_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .map(str::to_string)
}

/// Loads one goss file (and what it includes) as assertions about its node.
///
/// # Errors
/// Every problem, with file and line: bad YAML, duplicated keys, unknown resource types
/// or attributes, unsupported features, template errors.
pub fn load(root: &Path, env: &Environment, path: &Path) -> Result<Vec<Assertion>, ModelError> {
    let display = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let node = node_of(path).unwrap_or_default();
    let Some(def) = env.nodes.get(&node) else {
        let known: Vec<&str> = env.nodes.keys().map(String::as_str).collect();
        return Err(diag(
            &display,
            1,
            None,
            format!(
                "`{node}` is not a node of environment `{}` (nodes: {}); name goss files NODE.goss.yaml",
                env.name,
                known.join(", ")
            ),
        ));
    };
    let vars_path = path.with_file_name(VARS_FILE);
    let vars = if vars_path.is_file() {
        let vars_display = vars_path
            .strip_prefix(root)
            .unwrap_or(&vars_path)
            .to_path_buf();
        let text = read(&vars_path, &vars_display)?;
        parse_yaml(&text, &vars_display)?
    } else {
        Value::Object(Default::default())
    };
    let mut loader = Loader {
        root,
        vars,
        nodes: env
            .nodes
            .values()
            .flat_map(|n| n.replica_names())
            .chain(env.nodes.keys().cloned())
            .collect(),
        replicas: def.replica_names(),
        node,
        stem: display
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| SUFFIXES.iter().find_map(|s| n.strip_suffix(s)))
            .map(|n| format!("{n}.goss"))
            .unwrap_or_default(),
        visited: BTreeSet::new(),
        names: BTreeSet::new(),
        errors: Vec::new(),
        out: Vec::new(),
    };
    loader.file(path, 0)?;
    match ModelError::combine(loader.errors) {
        Some(e) => Err(e),
        None => Ok(loader.out),
    }
}

/// A resolved resource: title, timeout, default timeout, check.
type Resolved = (String, Option<Duration>, Duration, Check);

struct Loader<'a> {
    root: &'a Path,
    vars: Value,
    /// Node and replica names of the environment.
    nodes: BTreeSet<String>,
    node: String,
    replicas: Vec<String>,
    stem: String,
    visited: BTreeSet<PathBuf>,
    names: BTreeSet<String>,
    errors: Vec<ModelError>,
    out: Vec<Assertion>,
}

/// A resource being resolved: where it is, for messages.
struct Here<'a> {
    file: &'a Path,
    text: &'a str,
    line: usize,
}

impl Here<'_> {
    fn error(&self, field: Option<String>, message: String) -> ModelError {
        diag(self.file, self.line, field, message)
    }

    /// The line of `key:` at or after the resource's line.
    fn line_of(&self, key: &str) -> usize {
        find_key_line(self.text, key, self.line).unwrap_or(self.line)
    }
}

impl Loader<'_> {
    fn file(&mut self, path: &Path, depth: usize) -> Result<(), ModelError> {
        let display = path.strip_prefix(self.root).unwrap_or(path).to_path_buf();
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if !self.visited.insert(canonical) || depth > 16 {
            return Err(diag(
                &display,
                1,
                None,
                "gossfile includes form a cycle (this file includes itself)".into(),
            ));
        }
        let raw = read(path, &display)?;
        let text = render(&raw, &self.vars, &display)?;
        let doc = parse_yaml(&text, &display)?;
        let Value::Object(top) = doc else {
            if doc.is_null() {
                return Ok(());
            }
            return Err(diag(
                &display,
                1,
                None,
                "a goss file is a mapping of resource types (package:, file:, ...)".into(),
            ));
        };
        for (kind, resources) in top {
            let line = find_key_line(&text, &kind, 1).unwrap_or(1);
            let here = Here {
                file: &display,
                text: &text,
                line,
            };
            let resources = match resources {
                Value::Object(r) => r,
                Value::Null => continue,
                _ => {
                    self.errors.push(here.error(
                        Some(kind.clone()),
                        format!("`{kind}` must map resource names to their attributes"),
                    ));
                    continue;
                }
            };
            if kind == "gossfile" {
                for (include, _) in resources {
                    let line = find_key_line(&text, &include, line).unwrap_or(line);
                    if let Err(e) = self.include(path, &display, &include, line, depth) {
                        self.errors.push(e);
                    }
                }
                continue;
            }
            if !SUPPORTED.contains(&kind.as_str()) {
                self.errors.push(here.error(
                    Some(kind.clone()),
                    format!(
                        "goss resource type `{kind}` is not supported by envctl; supported: {}",
                        SUPPORTED.join(", ")
                    ),
                ));
                continue;
            }
            let mut after = line;
            for (id, attrs) in resources {
                let line = find_key_line(&text, &id, after).unwrap_or(after);
                after = line;
                let here = Here {
                    file: &display,
                    text: &text,
                    line,
                };
                let attrs = match attrs {
                    Value::Object(a) => a.into_iter().collect::<Vec<_>>(),
                    Value::Null => Vec::new(),
                    _ => {
                        self.errors.push(here.error(
                            Some(format!("{kind}.{id}")),
                            "attributes must be a mapping".into(),
                        ));
                        continue;
                    }
                };
                match self.resource(&kind, &id, attrs, &here) {
                    Ok(items) => {
                        for (title, timeout, default, check) in items {
                            self.push(&display, title, timeout, default, check);
                        }
                    }
                    Err(e) => self.errors.push(e),
                }
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        from: &Path,
        display: &Path,
        pattern: &str,
        line: usize,
        depth: usize,
    ) -> Result<(), ModelError> {
        let dir = from.parent().unwrap_or(Path::new("."));
        let matches = glob(dir, pattern);
        if matches.is_empty() {
            return Err(diag(
                display,
                line,
                Some(format!("gossfile.{pattern}")),
                format!("included gossfile `{pattern}` matches no file"),
            ));
        }
        for m in matches {
            self.file(&m, depth + 1)?;
        }
        Ok(())
    }

    fn push(
        &mut self,
        file: &Path,
        title: String,
        timeout: Option<Duration>,
        default: Duration,
        check: Check,
    ) {
        let base = format!("{}::{}", self.stem, slug(&title));
        let mut name = base.clone();
        let mut n = 2;
        while !self.names.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.out.push(Assertion {
            name,
            file: file.to_path_buf(),
            line: 0,
            title,
            timeout: timeout.unwrap_or(default),
            eventually: None,
            check,
        });
    }

    /// One goss resource as checks (one per replica of the node).
    fn resource(
        &self,
        kind: &str,
        id: &str,
        attrs: Vec<(String, Value)>,
        here: &Here,
    ) -> Result<Vec<Resolved>, ModelError> {
        let field = |attr: &str| Some(format!("{kind}.{id}.{attr}"));
        let mut title = None;
        let mut timeout = None;
        let mut rest = Vec::new();
        for (name, value) in attrs {
            match name.as_str() {
                "title" => title = value.as_str().map(str::to_string),
                // goss's free-form metadata: documentation only.
                "meta" => {}
                "timeout" => match value.as_u64() {
                    Some(ms) => timeout = Some(Duration::from_millis(ms)),
                    None => {
                        return Err(diag(
                            here.file,
                            here.line_of("timeout"),
                            field("timeout"),
                            "`timeout` is in milliseconds, e.g. 5000".into(),
                        ))
                    }
                },
                "skip" => {
                    return Err(diag(
                        here.file,
                        here.line_of("skip"),
                        field("skip"),
                        "`skip` is not supported: envctl runs every resource it is given; remove the resource or select assertions with verify filters".into(),
                    ))
                }
                _ => rest.push((name, value)),
            }
        }
        let unsupported = |attr: &str, why: &str| {
            diag(
                here.file,
                here.line_of(attr),
                field(attr),
                format!("goss attribute `{attr}` of {kind} is not supported by envctl{why}"),
            )
        };
        let mut checks = Vec::new();
        match kind {
            "command" => {
                let mut run = id.to_string();
                let mut exit = 0;
                let mut stdout = Vec::new();
                let mut stderr = Vec::new();
                let mut output_matchers = Vec::new();
                for (name, value) in rest {
                    match name.as_str() {
                        "exec" => run = value.as_str().unwrap_or(id).to_string(),
                        "exit-status" => {
                            exit = value.as_i64().ok_or_else(|| {
                                diag(
                                    here.file,
                                    here.line_of(&name),
                                    field(&name),
                                    "`exit-status` must be a number".into(),
                                )
                            })? as i32
                        }
                        "stdout" | "stderr" if value.is_object() => {
                            let m = Matcher::parse(&value).map_err(|e| {
                                diag(here.file, here.line_of(&name), field(&name), e)
                            })?;
                            output_matchers
                                .push((if name == "stdout" { "stdout" } else { "stderr" }, m));
                        }
                        "stdout" | "stderr" => {
                            let patterns = line_patterns(&value).map_err(|e| {
                                diag(here.file, here.line_of(&name), field(&name), e)
                            })?;
                            if name == "stdout" {
                                stdout = patterns;
                            } else {
                                stderr = patterns;
                            }
                        }
                        other => return Err(unsupported(other, "")),
                    }
                }
                let title = title.unwrap_or_else(|| format!("command {id}"));
                for node in &self.replicas {
                    checks.push((
                        self.title_for(&title, node),
                        timeout,
                        DEFAULT_EXEC_TIMEOUT,
                        Check::Command(CommandCheck {
                            node: node.clone(),
                            run: CommandLine(vec!["sh".into(), "-c".into(), run.clone()]),
                            exit,
                            stdout: stdout.clone(),
                            stderr: stderr.clone(),
                            output_matchers: output_matchers.clone(),
                        }),
                    ));
                }
            }
            "http" => {
                let check = self.http(id, rest, here, &unsupported)?;
                let title = title.unwrap_or_else(|| format!("http {id}"));
                checks.push((title, timeout, DEFAULT_NETWORK_TIMEOUT, Check::Http(check)));
            }
            "addr" => {
                let (proto, address) = id.split_once("://").unwrap_or(("tcp", id));
                if proto != "tcp" {
                    return Err(here.error(
                        Some(format!("addr.{id}")),
                        format!("addr `{id}`: only tcp:// addresses are supported"),
                    ));
                }
                let (host, port) = address
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                    .ok_or_else(|| {
                        here.error(
                            Some(format!("addr.{id}")),
                            format!("addr `{id}` needs a host and a port, e.g. tcp://db:5432"),
                        )
                    })?;
                let mut reachable = true;
                for (name, value) in rest {
                    match (name.as_str(), value.as_bool()) {
                        ("reachable", Some(b)) => reachable = b,
                        ("local-address", _) => return Err(unsupported("local-address", "")),
                        (other, _) => return Err(unsupported(other, "")),
                    }
                }
                let title = title.unwrap_or_else(|| format!("addr {id}"));
                for node in &self.replicas {
                    checks.push((
                        self.title_for(&title, node),
                        timeout,
                        DEFAULT_NETWORK_TIMEOUT,
                        Check::Tcp(TcpCheck {
                            target: Endpoint {
                                node: host.clone(),
                                port,
                            },
                            reachable,
                            from: Some(node.clone()),
                        }),
                    ));
                }
            }
            _ => {
                let fact = if kind == "file" {
                    Fact::File {
                        path: id.to_string(),
                        contents: rest.iter().any(|(n, _)| n == "contents" || n == "contains"),
                    }
                } else {
                    fact::fact_for(kind, id).map_err(|e| here.error(Some(kind.to_string()), e))?
                };
                if let Fact::File { path, .. } = &fact {
                    if !path.starts_with('/') {
                        return Err(here.error(
                            Some(format!("file.{id}")),
                            format!("`{id}` must be an absolute path"),
                        ));
                    }
                }
                let attrs: Vec<(String, Value)> = rest
                    .into_iter()
                    .map(|(n, v)| {
                        let n = if n == "contains" {
                            "contents".to_string()
                        } else {
                            n
                        };
                        let v = if n == "contents" { line_matcher(v) } else { v };
                        (n, v)
                    })
                    .collect();
                let expect = fact::expectations(kind, &attrs).map_err(|(i, msg)| {
                    let attr = attrs.get(i).map(|(n, _)| n.as_str()).unwrap_or(kind);
                    diag(here.file, here.line_of(attr), field(attr), msg)
                })?;
                let title = title.unwrap_or_else(|| describe_fact(&fact));
                for node in &self.replicas {
                    checks.push((
                        self.title_for(&title, node),
                        timeout,
                        DEFAULT_EXEC_TIMEOUT,
                        Check::Node(NodeCheck {
                            node: node.clone(),
                            fact: fact.clone(),
                            expect: expect.clone(),
                        }),
                    ));
                }
            }
        }
        Ok(checks)
    }

    fn title_for(&self, title: &str, replica: &str) -> String {
        if self.replicas.len() > 1 {
            format!("{title} @{replica}")
        } else {
            title.to_string()
        }
    }

    fn http(
        &self,
        id: &str,
        attrs: Vec<(String, Value)>,
        here: &Here,
        unsupported: &dyn Fn(&str, &str) -> ModelError,
    ) -> Result<HttpCheck, ModelError> {
        let bad = |attr: &str, msg: String| {
            diag(
                here.file,
                here.line_of(attr),
                Some(format!("http.{id}.{attr}")),
                msg,
            )
        };
        let (scheme, rest) = id
            .split_once("://")
            .filter(|(s, _)| *s == "http" || *s == "https")
            .ok_or_else(|| bad("http", format!("`{id}` is not an http(s) URL")))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("http", format!("bad port in `{id}`")))?,
            ),
            None => (authority, if scheme == "https" { 443 } else { 80 }),
        };
        // goss runs on the node: localhost is the node itself.
        let node = match host {
            "localhost" | "127.0.0.1" | "[::1]" => self.node.clone(),
            other if self.nodes.contains(other) => other.to_string(),
            other => {
                return Err(bad(
                    "http",
                    format!(
                        "`{other}` in `{id}` is neither localhost nor a node of the environment"
                    ),
                ))
            }
        };
        let mut check = HttpCheck {
            method: "GET".into(),
            scheme: scheme.to_string(),
            target: Endpoint { node, port },
            path,
            headers: BTreeMap::new(),
            request_body: None,
            status: 200,
            body: Vec::new(),
            response_headers: Vec::new(),
            json: Vec::new(),
            insecure: false,
            no_redirect: false,
            from: None,
        };
        for (name, value) in attrs {
            match name.as_str() {
                "status" => {
                    check.status = value
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or_else(|| bad(&name, "`status` must be a number".into()))?
                }
                "body" => check.body = line_patterns(&value).map_err(|e| bad(&name, e))?,
                "headers" => {
                    check.response_headers = line_patterns(&value).map_err(|e| bad(&name, e))?
                }
                "allow-insecure" => check.insecure = value.as_bool().unwrap_or(false),
                "no-follow-redirects" => check.no_redirect = value.as_bool().unwrap_or(false),
                "method" => {
                    check.method = value.as_str().unwrap_or("GET").to_ascii_uppercase();
                }
                "request-body" => check.request_body = value.as_str().map(str::to_string),
                "request-headers" => {
                    for h in value.as_array().into_iter().flatten() {
                        let (k, v) =
                            h.as_str().and_then(|h| h.split_once(':')).ok_or_else(|| {
                                bad(&name, "request headers are \"Name: value\" strings".into())
                            })?;
                        check.headers.insert(k.trim().into(), v.trim().into());
                    }
                }
                other => return Err(unsupported(other, "")),
            }
        }
        Ok(check)
    }
}

/// goss resource types envctl runs.
const SUPPORTED: &[&str] = &[
    "package",
    "service",
    "process",
    "port",
    "user",
    "group",
    "file",
    "command",
    "http",
    "addr",
    "dns",
    "kernel-param",
    "mount",
    "interface",
];

/// goss checks `stdout`/`body` patterns line by line: `/re/` anchors match lines.
fn line_patterns(value: &Value) -> Result<Vec<Pattern>, String> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::String(_) => vec![value.clone()],
        other => {
            return Err(format!(
                "envctl reads this as a list of patterns (\"text\", \"!text\", \"/regex/\"), not {other}"
            ))
        }
    };
    items
        .iter()
        .map(|i| {
            let text = match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Pattern::parse(&multiline(&text))
        })
        .collect()
}

/// `contents` patterns as a matcher; a plain list keeps goss's line semantics.
fn line_matcher(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Value::String(multiline(&s)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

/// Adds the `m` flag to a `/regex/` so `^` and `$` match at line ends, as in goss.
fn multiline(pattern: &str) -> String {
    let body = pattern.strip_prefix('!').unwrap_or(pattern);
    if body.len() > 1 && body.starts_with('/') {
        if let Some(end) = body[1..].rfind('/') {
            let flags = &body[end + 2..];
            if flags.chars().all(|c| matches!(c, 'i' | 'm' | 's')) && !flags.contains('m') {
                return format!("{pattern}m");
            }
        }
    }
    pattern.to_string()
}

/// Files in `dir` matching `pattern` (`*` and `?` in the last component).
fn glob(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = dir.join(pattern);
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if full.is_file() {
            vec![full]
        } else {
            Vec::new()
        };
    }
    let parent = full.parent().unwrap_or(dir).to_path_buf();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&parent)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| wildcard(&name, &n.to_string_lossy()))
        })
        .collect();
    found.sort();
    found
}

fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(&p, &t)
}

/// Renders goss's template subset: `{{.Vars.a.b}}`, `{{.Env.NAME}}` (with optional `-`
/// trim markers). Anything else is an error at its line.
///
/// # Errors
/// Unsupported expressions, unknown vars, unclosed `{{`.
pub fn render(text: &str, vars: &Value, file: &Path) -> Result<String, ModelError> {
    let mut out = String::new();
    let mut rest = text;
    let mut consumed = 0;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let line = text[..consumed + start].lines().count().max(1)
            + usize::from(text[..consumed + start].ends_with('\n'));
        let Some(len) = rest[start..].find("}}") else {
            return Err(diag(file, line, None, "unclosed `{{` in template".into()));
        };
        let expr = rest[start + 2..start + len]
            .trim_matches('-')
            .trim()
            .to_string();
        let value = if let Some(path) = expr.strip_prefix(".Vars.") {
            path.split('.')
                .try_fold(vars, |v, k| v.get(k))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .ok_or_else(|| {
                    diag(
                        file,
                        line,
                        None,
                        format!("template variable `.Vars.{path}` is not defined in {VARS_FILE}"),
                    )
                })?
        } else if let Some(name) = expr.strip_prefix(".Env.") {
            std::env::var(name).map_err(|_| {
                diag(
                    file,
                    line,
                    None,
                    format!("environment variable `{name}` (used as `.Env.{name}`) is not set"),
                )
            })?
        } else {
            return Err(diag(
                file,
                line,
                None,
                format!("template expression `{{{{{expr}}}}}` is not supported; envctl renders {{{{.Vars.NAME}}}} and {{{{.Env.NAME}}}}"),
            ));
        };
        out.push_str(&value);
        consumed += start + len + 2;
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses YAML; duplicated keys are errors.
fn parse_yaml(text: &str, file: &Path) -> Result<Value, ModelError> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let mut at = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        // serde_yaml does not place duplicates; the second definition is the culprit.
        if let Some(key) = e
            .to_string()
            .split("duplicate entry with key \"")
            .nth(1)
            .and_then(|k| k.split('"').next())
        {
            if let Some(first) = find_key_line(text, key, 1) {
                at = (find_key_line(text, key, first + 1).unwrap_or(first), 1);
            }
        }
        let (line, column) = at;
        ModelError::Diagnostics(vec![Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            field: None,
            message: format!("invalid YAML: {e}"),
        }])
    })?;
    serde_json::to_value(&yaml).map_err(|e| diag(file, 1, None, format!("unsupported YAML: {e}")))
}

fn read(path: &Path, display: &Path) -> Result<String, ModelError> {
    std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: display.to_path_buf(),
        source,
    })
}

fn diag(file: &Path, line: usize, field: Option<String>, message: String) -> ModelError {
    ModelError::Diagnostics(vec![Diagnostic {
        file: file.to_path_buf(),
        line,
        column: 1,
        field,
        message,
    }])
}

/// The first line at or after `from` (1-based) that defines `key:`.
fn find_key_line(text: &str, key: &str, from: usize) -> Option<usize> {
    let candidates = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            candidates.iter().any(|c| t.starts_with(c.as_str()))
        })
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_render_vars_and_env() {
        let vars = json!({"pkg": {"name": "nginx-light"}, "port": 80});
        let out = render(
            "package:\n  {{.Vars.pkg.name}}:\n    installed: true\nport:\n  tcp:{{ .Vars.port }}: {}\n",
            &vars,
            Path::new("x.goss.yaml"),
        )
        .unwrap();
        assert!(out.contains("  nginx-light:\n"), "{out}");
        assert!(out.contains("tcp:80:"), "{out}");
        let err = render("a: {{.Vars.nope}}\n", &vars, Path::new("x.goss.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.goss.yaml:1:1") && err.contains(".Vars.nope"),
            "{err}"
        );
        let err = render(
            "a: 1\nb: {{ range .Vars }}\n",
            &vars,
            Path::new("x.goss.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("x.goss.yaml:2:1") && err.contains("not supported"),
            "{err}"
        );
    }

    #[test]
    fn duplicated_top_level_keys_are_errors() {
        let err = parse_yaml(
            "package:\n  nginx: {installed: true}\npackage:\n  curl: {installed: true}\n",
            Path::new("web.goss.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("web.goss.yaml:3"), "{err}");
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn goss_regexes_match_lines() {
        assert_eq!(multiline("/^ok$/"), "/^ok$/m");
        assert_eq!(multiline("!/^ok$/i"), "!/^ok$/im");
        assert_eq!(multiline("plain"), "plain");
        assert!(wildcard("*.yaml", "a.yaml") && !wildcard("*.yaml", "a.yml"));
        assert_eq!(find_key_line("a:\n  b:\n  c:\n", "c", 1), Some(3));
        assert_eq!(
            node_of(Path::new("specs/e/web.goss.yaml")),
            Some("web".into())
        );
    }
}
