//! What specs assert: one [`Assertion`] per check, whether it came from a TOML spec or a
//! goss file. Plain types; the loaders (`spec_toml`, `goss`) build them and `check` runs
//! them. Node facts live in `fact`, value matchers in `matcher`, text patterns in
//! `pattern`, the JSON paths of http assertions in `json_path`.

pub mod fact;
pub mod json_path;
pub mod load;
pub mod matcher;
pub mod pattern;
pub mod semver;

use super::scalar::CommandLine;
use fact::{Fact, NodeCheck};
use matcher::Matcher;
use pattern::Pattern;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One assertion, ready to run.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// Unique name, `FILE::TITLE` (`web::home_page`), used by filters and reports.
    pub name: String,
    /// The spec file it came from, relative to the project root.
    pub file: PathBuf,
    /// The line of that file where the assertion is written (1-based): its table
    /// header for TOML specs, its resource for goss files. 0 when not known.
    pub line: usize,
    /// What the user called it, or a description derived from it.
    pub title: String,
    /// Longest time one attempt may take.
    pub timeout: Duration,
    /// When set, failed attempts are retried until this much time has passed.
    pub eventually: Option<Duration>,
    /// goss's `retry_count` / `retry_delay`: this many more attempts, this far apart.
    pub retry: Option<Retry>,
    /// goss's `skip: true`: reported as skipped, never run.
    pub skipped: bool,
    pub check: Check,
}

/// A fixed number of further attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub count: u32,
    pub delay: Duration,
}

impl Assertion {
    /// The spec file's stem, which groups assertions in reports.
    pub fn group(&self) -> &str {
        self.name.split("::").next().unwrap_or_default()
    }

    /// Where the assertion is written: `specs/web/web.toml:12` (the file alone when its
    /// line is not known).
    pub fn location(&self) -> String {
        if self.line == 0 {
            self.file.display().to_string()
        } else {
            format!("{}:{}", self.file.display(), self.line)
        }
    }

    /// The node the assertion runs in or against, if any.
    pub fn node(&self) -> Option<&str> {
        match &self.check {
            Check::Http(h) => Some(h.from.as_deref().unwrap_or(&h.target.node)),
            Check::Tcp(t) => Some(t.from.as_deref().unwrap_or(&t.target.node)),
            Check::Command(c) => Some(&c.node),
            Check::Node(n) => Some(&n.node),
            Check::Load(l) => Some(&l.node),
            Check::Matching(_) => None,
        }
    }

    /// Every node the assertion runs in or reaches (an `http` check from `client` to
    /// `web` names both).
    pub fn nodes(&self) -> Vec<&str> {
        let mut nodes: Vec<&str> = self.node().into_iter().collect();
        match &self.check {
            Check::Http(h) => nodes.push(&h.target.node),
            Check::Tcp(t) => nodes.push(&t.target.node),
            _ => {}
        }
        nodes.dedup();
        nodes
    }

    /// The assertion kind, as written in spec files.
    pub fn kind(&self) -> &'static str {
        match &self.check {
            Check::Http(_) => "http",
            Check::Tcp(_) => "tcp",
            Check::Command(_) => "command",
            Check::Load(_) => "load",
            Check::Matching(_) => "matching",
            Check::Node(n) => match &n.fact {
                Fact::Package(_) => "package",
                Fact::Service(_) => "service",
                Fact::Process(_) => "process",
                Fact::Port { .. } => "port",
                Fact::User(_) => "user",
                Fact::Group(_) => "group",
                Fact::Dns(_) | Fact::DnsQuery { .. } => "dns",
                Fact::KernelParam(_) => "kernel-param",
                Fact::Mount(_) => "mount",
                Fact::Interface(_) => "interface",
                Fact::File { .. } => "file",
                Fact::Addr { .. } => "addr",
            },
        }
    }
}

/// What an assertion checks.
#[derive(Debug, Clone)]
pub enum Check {
    Http(Box<HttpCheck>),
    Tcp(TcpCheck),
    Command(CommandCheck),
    /// Facts learned inside a node: file, package, service, user, port...
    Node(NodeCheck),
    /// A capacity test against an http target.
    Load(load::LoadCheck),
    /// goss's `matching`: a value written in the spec against a matcher; no node.
    Matching(MatchingCheck),
}

#[derive(Debug, Clone)]
pub struct MatchingCheck {
    pub content: serde_json::Value,
    pub matcher: Matcher,
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
    /// What the status must be (an exact number in TOML specs; any matcher in goss).
    pub status: Matcher,
    pub body: Vec<Pattern>,
    /// Patterns over the response headers (`Name: value` lines).
    pub response_headers: Vec<Pattern>,
    /// goss's `body` / `headers`: a matcher over the whole text (line patterns for a list).
    pub body_matcher: Option<Matcher>,
    pub headers_matcher: Option<Matcher>,
    /// goss's `username` / `password`.
    pub basic_auth: Option<(String, String)>,
    /// goss's `proxy`: send through this proxy URL.
    pub proxy: Option<String>,
    /// goss's `ca-file`, `cert-file`, `key-file`: paths inside the sending node.
    pub tls_files: TlsFiles,
    /// JSON paths into the response body and what they must hold.
    pub json: Vec<(String, Matcher)>,
    pub insecure: bool,
    pub no_redirect: bool,
    /// Send from inside this node (a replica name) instead of from the host.
    pub from: Option<String>,
}

/// Certificate files an https request from inside a node uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TcpCheck {
    pub target: Endpoint,
    pub reachable: bool,
    /// Connect from inside this node instead of from the host.
    pub from: Option<String>,
    /// goss's `local-address`: the source address of the connection (from a node).
    pub local_address: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CommandCheck {
    /// A concrete replica name (`web` or `web-2`).
    pub node: String,
    pub run: CommandLine,
    /// What the exit code must be; `None` when it is not checked.
    pub exit: Option<Matcher>,
    pub stdout: Vec<Pattern>,
    pub stderr: Vec<Pattern>,
    /// Matchers over the whole of stdout or stderr (goss's form; a list there is line
    /// patterns).
    pub output_matchers: Vec<(Stream, Matcher)>,
}

/// A command's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Default per-attempt deadline for checks that run inside a node.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// Default per-attempt deadline for network checks.
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(5);

/// A default title for a fact: `package nginx-light`, `port tcp:80`.
pub fn describe_fact(fact: &Fact) -> String {
    match fact {
        Fact::Package(n) => format!("package {n}"),
        Fact::Service(n) => format!("service {n}"),
        Fact::Process(n) => format!("process {n}"),
        Fact::Port { proto, port } => format!("port {}:{port}", proto.as_str()),
        Fact::User(n) => format!("user {n}"),
        Fact::Group(n) => format!("group {n}"),
        Fact::Dns(n) => format!("dns {n}"),
        Fact::DnsQuery { kind, name, server } => format!("dns {kind}:{name} at {server}"),
        Fact::KernelParam(n) => format!("kernel-param {n}"),
        Fact::Mount(n) => format!("mount {n}"),
        Fact::Interface(n) => format!("interface {n}"),
        Fact::File { path, .. } => format!("file {path}"),
        Fact::Addr { host, port, .. } => format!("addr {host}:{port}"),
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
