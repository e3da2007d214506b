//! Resolved specs: every assertion of `specs/ENV/*.toml`, checked against the environment
//! it runs on (nodes exist, patterns compile) and expanded per replica.

use super::environment::Environment;
use super::pattern::Pattern;
use super::scalar::CommandLine;
use super::source::{Diagnostic, SourceFile};
use super::spec_file::{RawCommand, RawFile, RawHttp, RawSpecFile, RawTcp};
use super::ModelError;
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One assertion, ready to run.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// Unique name, `FILE::TITLE` (`web::home_page`), used by filters and reports.
    pub name: String,
    /// The spec file it came from, relative to the project root.
    pub file: PathBuf,
    /// What the user called it, or a description derived from it.
    pub title: String,
    /// Longest time one attempt may take.
    pub timeout: Duration,
    /// When set, failed attempts are retried until this much time has passed.
    pub eventually: Option<Duration>,
    pub check: Check,
}

impl Assertion {
    /// The spec file's stem, which groups assertions in reports.
    pub fn group(&self) -> &str {
        self.name.split("::").next().unwrap_or_default()
    }

    /// The node the assertion runs in or against, if any.
    pub fn node(&self) -> Option<&str> {
        match &self.check {
            Check::Http(h) => Some(&h.target.node),
            Check::Tcp(t) => Some(&t.target.node),
            Check::Command(c) => Some(&c.node),
            Check::File(f) => Some(&f.node),
        }
    }

    /// The assertion kind, as written in spec files.
    pub fn kind(&self) -> &'static str {
        match &self.check {
            Check::Http(_) => "http",
            Check::Tcp(_) => "tcp",
            Check::Command(_) => "command",
            Check::File(_) => "file",
        }
    }
}

/// What an assertion checks.
#[derive(Debug, Clone)]
pub enum Check {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Command(CommandCheck),
    File(FileCheck),
}

/// A node and one of its ports, as written in `node:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub node: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct HttpCheck {
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    pub target: Endpoint,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub request_body: Option<String>,
    pub status: u16,
    pub body: Vec<Pattern>,
}

#[derive(Debug, Clone)]
pub struct TcpCheck {
    pub target: Endpoint,
    pub reachable: bool,
}

#[derive(Debug, Clone)]
pub struct CommandCheck {
    /// A concrete replica name (`web` or `web-2`).
    pub node: String,
    pub run: CommandLine,
    pub exit: i32,
    pub stdout: Vec<Pattern>,
    pub stderr: Vec<Pattern>,
}

#[derive(Debug, Clone)]
pub struct FileCheck {
    pub node: String,
    pub path: String,
    pub exists: bool,
    pub filetype: Option<FileType>,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub contains: Vec<Pattern>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    File,
    Directory,
    Symlink,
}

impl FileType {
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
        }
    }
}

/// Default per-attempt deadline for checks that run inside a node.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// Default per-attempt deadline for network checks.
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(5);

/// The directory holding an environment's specs: `specs/ENV`, or the nearest ancestor's
/// when the environment has none of its own.
pub fn spec_dir(root: &Path, env: &Environment) -> Option<PathBuf> {
    std::iter::once(&env.name)
        .chain(env.ancestors.iter())
        .map(|name| root.join("specs").join(name))
        .find(|dir| dir.is_dir())
}

/// Loads every spec file of `env`.
///
/// # Errors
/// [`ModelError`] listing every problem, each with file, line and field.
pub fn load(root: &Path, env: &Environment) -> Result<Vec<Assertion>, ModelError> {
    let Some(dir) = spec_dir(root, env) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|source| ModelError::Io {
            path: dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let mut assertions = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let display = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let src = match SourceFile::read(&path, display) {
            Ok(src) => src,
            Err(e) => {
                errors.push(ModelError::from(e));
                continue;
            }
        };
        match toml::from_str::<RawSpecFile>(&src.text) {
            Ok(raw) => {
                let mut ctx = Resolver {
                    env,
                    src: &src,
                    errors: Vec::new(),
                    names: BTreeSet::new(),
                    out: &mut assertions,
                };
                ctx.file(raw);
                if !ctx.errors.is_empty() {
                    errors.push(ModelError::Diagnostics(ctx.errors));
                }
            }
            Err(e) => errors.push(ModelError::Diagnostics(vec![
                super::environment::toml_diagnostic(&src, &e),
            ])),
        }
    }
    match ModelError::combine(errors) {
        Some(e) => Err(e),
        None => Ok(assertions),
    }
}

struct Resolver<'a> {
    env: &'a Environment,
    src: &'a Arc<SourceFile>,
    errors: Vec<Diagnostic>,
    names: BTreeSet<String>,
    out: &'a mut Vec<Assertion>,
}

impl Resolver<'_> {
    fn file(&mut self, raw: RawSpecFile) {
        for h in raw.http {
            self.http(h);
        }
        for t in raw.tcp {
            self.tcp(t);
        }
        for c in raw.command {
            self.command(c);
        }
        for f in raw.file {
            self.file_check(f);
        }
    }

    fn stem(&self) -> String {
        self.src
            .display
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn push(
        &mut self,
        title: String,
        explicit: bool,
        timeout: Option<Duration>,
        eventually: Option<Duration>,
        default_timeout: Duration,
        check: Check,
    ) {
        let base = format!("{}::{}", self.stem(), slug(&title));
        let mut name = base.clone();
        let mut n = 2;
        while !self.names.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        let _ = explicit;
        self.out.push(Assertion {
            name,
            file: self.src.display.clone(),
            title,
            timeout: timeout.unwrap_or(default_timeout),
            eventually,
            check,
        });
    }

    fn patterns(&mut self, raw: Vec<Spanned<String>>) -> Vec<Pattern> {
        raw.into_iter()
            .filter_map(|p| match Pattern::parse(p.get_ref()) {
                Ok(pat) => Some(pat),
                Err(msg) => {
                    self.errors.push(self.src.diagnostic(Some(p.span()), msg));
                    None
                }
            })
            .collect()
    }

    /// Replica names of `node`, or an error at its position.
    fn replicas(&mut self, node: &Spanned<String>) -> Vec<String> {
        let name = node.get_ref();
        if let Some(n) = self.env.nodes.get(name) {
            return n.replica_names();
        }
        if self
            .env
            .nodes
            .values()
            .any(|n| n.replica_names().contains(name))
        {
            return vec![name.clone()];
        }
        // A promotable service stands for its live colour (or the colour being promoted).
        if self.env.promotions.contains_key(name) {
            return vec![name.clone()];
        }
        let known: Vec<&str> = self.env.nodes.keys().map(String::as_str).collect();
        self.errors.push(self.src.diagnostic(
            Some(node.span()),
            format!(
                "`{name}` is not a node of environment `{}` (nodes: {})",
                self.env.name,
                known.join(", ")
            ),
        ));
        Vec::new()
    }

    fn endpoint(&mut self, text: &Spanned<String>, authority: &str) -> Option<Endpoint> {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p > 0)),
            None => (authority, None),
        };
        let Some(port) = port else {
            self.errors.push(self.src.diagnostic(
                Some(text.span()),
                format!(
                    "`{}` needs a node and a port, e.g. `web:80`",
                    text.get_ref()
                ),
            ));
            return None;
        };
        let node = Spanned::new(text.span(), host.to_string());
        let replicas = self.replicas(&node);
        // Network checks go to the node's shared alias; the first replica answers for it.
        replicas.first().map(|_| Endpoint {
            node: host.to_string(),
            port,
        })
    }

    fn http(&mut self, raw: Spanned<RawHttp>) {
        let raw = raw.into_inner();
        let url = raw.url.get_ref().clone();
        let Some((scheme, rest)) = url.split_once("://") else {
            self.errors.push(self.src.diagnostic(
                Some(raw.url.span()),
                format!("`{url}` is not a URL; write e.g. \"http://web:80/\""),
            ));
            return;
        };
        if scheme != "http" && scheme != "https" {
            self.errors.push(self.src.diagnostic(
                Some(raw.url.span()),
                format!("unsupported scheme `{scheme}`; use http or https"),
            ));
            return;
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
        };
        let Some(target) = self.endpoint(&raw.url, &authority) else {
            return;
        };
        let method = match raw.method {
            Some(m) => {
                let upper = m.get_ref().to_ascii_uppercase();
                if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                    .contains(&upper.as_str())
                {
                    self.errors.push(self.src.diagnostic(
                        Some(m.span()),
                        format!("unknown HTTP method `{}`", m.get_ref()),
                    ));
                    return;
                }
                upper
            }
            None => "GET".into(),
        };
        let status = match raw.status {
            Some(s) if !(100..=599).contains(s.get_ref()) => {
                self.errors.push(self.src.diagnostic(
                    Some(s.span()),
                    format!("{} is not an HTTP status", s.get_ref()),
                ));
                return;
            }
            Some(s) => s.into_inner(),
            None => 200,
        };
        let body = self.patterns(raw.body);
        let explicit = raw.title.is_some();
        let title = raw.title.unwrap_or_else(|| format!("{method} {url}"));
        self.push(
            title,
            explicit,
            raw.timeout.map(|d| d.0),
            raw.eventually.map(|d| d.0),
            DEFAULT_NETWORK_TIMEOUT,
            Check::Http(HttpCheck {
                method,
                scheme: scheme.to_string(),
                target,
                path,
                headers: raw.headers,
                request_body: raw.request_body,
                status,
                body,
            }),
        );
    }

    fn tcp(&mut self, raw: Spanned<RawTcp>) {
        let raw = raw.into_inner();
        let address = raw.address.get_ref().clone();
        let Some(target) = self.endpoint(&raw.address, &address) else {
            return;
        };
        let explicit = raw.title.is_some();
        let title = raw.title.unwrap_or_else(|| format!("tcp {address}"));
        self.push(
            title,
            explicit,
            raw.timeout.map(|d| d.0),
            raw.eventually.map(|d| d.0),
            DEFAULT_NETWORK_TIMEOUT,
            Check::Tcp(TcpCheck {
                target,
                reachable: raw.reachable,
            }),
        );
    }

    fn command(&mut self, raw: Spanned<RawCommand>) {
        let raw = raw.into_inner();
        let replicas = self.replicas(&raw.node);
        let stdout = self.patterns(raw.stdout);
        let stderr = self.patterns(raw.stderr);
        let explicit = raw.title.is_some();
        let title = raw
            .title
            .unwrap_or_else(|| format!("command {}", raw.run.display()));
        let many = replicas.len() > 1;
        for node in replicas {
            let title = if many {
                format!("{title} @{node}")
            } else {
                title.clone()
            };
            self.push(
                title,
                explicit,
                raw.timeout.map(|d| d.0),
                raw.eventually.map(|d| d.0),
                DEFAULT_EXEC_TIMEOUT,
                Check::Command(CommandCheck {
                    node,
                    run: raw.run.clone(),
                    exit: raw.exit,
                    stdout: stdout.clone(),
                    stderr: stderr.clone(),
                }),
            );
        }
    }

    fn file_check(&mut self, raw: Spanned<RawFile>) {
        let raw = raw.into_inner();
        let replicas = self.replicas(&raw.node);
        if !raw.path.get_ref().starts_with('/') {
            self.errors.push(self.src.diagnostic(
                Some(raw.path.span()),
                format!("`{}` must be an absolute path", raw.path.get_ref()),
            ));
        }
        let filetype = match &raw.filetype {
            None => None,
            Some(t) => match t.get_ref().as_str() {
                "file" => Some(FileType::File),
                "directory" => Some(FileType::Directory),
                "symlink" => Some(FileType::Symlink),
                other => {
                    self.errors.push(self.src.diagnostic(
                        Some(t.span()),
                        format!("unknown filetype `{other}`; use file, directory or symlink"),
                    ));
                    None
                }
            },
        };
        let mode = match &raw.mode {
            None => None,
            Some(m) => match u32::from_str_radix(m.get_ref(), 8) {
                Ok(v) if v <= 0o7777 => Some(v),
                _ => {
                    self.errors.push(self.src.diagnostic(
                        Some(m.span()),
                        format!(
                            "`{}` is not an octal file mode such as \"0644\"",
                            m.get_ref()
                        ),
                    ));
                    None
                }
            },
        };
        let contains = self.patterns(raw.contains);
        let explicit = raw.title.is_some();
        let path = raw.path.into_inner();
        let title = raw.title.unwrap_or_else(|| format!("file {path}"));
        let many = replicas.len() > 1;
        for node in replicas {
            let title = if many {
                format!("{title} @{node}")
            } else {
                title.clone()
            };
            self.push(
                title,
                explicit,
                raw.timeout.map(|d| d.0),
                raw.eventually.map(|d| d.0),
                DEFAULT_EXEC_TIMEOUT,
                Check::File(FileCheck {
                    node,
                    path: path.clone(),
                    exists: raw.exists,
                    filetype,
                    mode,
                    owner: raw.owner.clone(),
                    group: raw.group.clone(),
                    contains: contains.clone(),
                }),
            );
        }
    }
}

/// `"Home page through the proxy"` -> `home_page_through_the_proxy`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in title.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push_str("assertion");
    }
    out.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_makes_test_names() {
        assert_eq!(
            slug("Home page, through the proxy!"),
            "home_page_through_the_proxy"
        );
        assert_eq!(slug("GET http://web:80/"), "get_http_web_80");
        assert_eq!(slug("!!!"), "assertion");
    }
}
