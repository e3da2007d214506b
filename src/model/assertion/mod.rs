//! What specs assert: one [`Assertion`] per check, whether it came from a TOML spec or a
//! goss file. Plain types; the loaders (`spec_toml`, `goss`) build them and `check` runs
//! them. Node facts live in `fact`, value matchers in `matcher`, text patterns in
//! `pattern`, the JSON paths of http assertions in `json_path`.

pub mod fact;
pub mod json_path;
pub mod load;
pub mod matcher;
pub mod pattern;

use fact::{Fact, NodeCheck};
use matcher::Matcher;
use pattern::Pattern;
use super::scalar::CommandLine;
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
    pub check: Check,
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
            Check::Http(h) => Some(&h.target.node),
            Check::Tcp(t) => Some(&t.target.node),
            Check::Command(c) => Some(&c.node),
            Check::Node(n) => Some(&n.node),
            Check::Load(l) => Some(&l.node),
        }
    }

    /// The assertion kind, as written in spec files.
    pub fn kind(&self) -> &'static str {
        match &self.check {
            Check::Http(_) => "http",
            Check::Tcp(_) => "tcp",
            Check::Command(_) => "command",
            Check::Load(_) => "load",
            Check::Node(n) => match &n.fact {
                Fact::Package(_) => "package",
                Fact::Service(_) => "service",
                Fact::Process(_) => "process",
                Fact::Port { .. } => "port",
                Fact::User(_) => "user",
                Fact::Group(_) => "group",
                Fact::Dns(_) => "dns",
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
    Http(HttpCheck),
    Tcp(TcpCheck),
    Command(CommandCheck),
    /// Facts learned inside a node: file, package, service, user, port...
    Node(NodeCheck),
    /// A capacity test against an http target.
    Load(load::LoadCheck),
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
    /// Patterns over the response headers (`Name: value` lines).
    pub response_headers: Vec<Pattern>,
    /// JSON paths into the response body and what they must hold.
    pub json: Vec<(String, Matcher)>,
    pub insecure: bool,
    pub no_redirect: bool,
    /// Send from inside this node (a replica name) instead of from the host.
    pub from: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TcpCheck {
    pub target: Endpoint,
    pub reachable: bool,
    /// Connect from inside this node instead of from the host.
    pub from: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CommandCheck {
    /// A concrete replica name (`web` or `web-2`).
    pub node: String,
    pub run: CommandLine,
    pub exit: i32,
    pub stdout: Vec<Pattern>,
    pub stderr: Vec<Pattern>,
    /// Matchers over the whole of stdout and stderr (goss's matcher form).
    pub output_matchers: Vec<(&'static str, Matcher)>,
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
        Fact::KernelParam(n) => format!("kernel-param {n}"),
        Fact::Mount(n) => format!("mount {n}"),
        Fact::Interface(n) => format!("interface {n}"),
        Fact::File { path, .. } => format!("file {path}"),
        Fact::Addr { host, port } => format!("addr {host}:{port}"),
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
