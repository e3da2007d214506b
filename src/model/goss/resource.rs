//! One goss resource (`file: {/etc/passwd: {...}}`) as assertions: goss's attributes,
//! their required ones, their matchers, `skip`, `timeout`, `retry_count`/`retry_delay`,
//! and the vantage goss has (everything runs in the node, `localhost` is the node).

use crate::model::assertion::fact::{self, Expectation, Fact, NodeCheck, Proto};
use crate::model::assertion::matcher::Matcher;
use crate::model::assertion::pattern::Pattern;
use crate::model::assertion::{
    describe_fact, Check, CommandCheck, Endpoint, HttpCheck, MatchingCheck, Retry, Stream,
    TcpCheck, TlsFiles, DEFAULT_EXEC_TIMEOUT, DEFAULT_NETWORK_TIMEOUT,
};
use crate::model::scalar::CommandLine;
use crate::model::source::Diagnostic;
use crate::model::yaml::{Node, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// goss's resource types (besides `gossfile`).
pub const TYPES: &[&str] = &[
    "addr",
    "command",
    "dns",
    "file",
    "group",
    "http",
    "interface",
    "kernel-param",
    "matching",
    "mount",
    "package",
    "port",
    "process",
    "service",
    "user",
];

/// The node a goss file applies to.
pub struct Context {
    pub node: String,
    /// Its replicas: node checks run on each.
    pub replicas: Vec<String>,
    /// Every node and replica name of the environment.
    pub nodes: BTreeSet<String>,
}

/// One assertion of a resource.
pub struct Item {
    pub title: String,
    pub timeout: Duration,
    pub retry: Option<Retry>,
    pub skipped: bool,
    pub check: Check,
}

/// The attributes of one resource, each taken once; what is left is unknown.
struct Attrs<'a> {
    kind: &'a str,
    id: &'a str,
    file: &'a Path,
    at: &'a Node,
    entries: Vec<(String, &'a Node, &'a Node)>,
    taken: BTreeSet<String>,
    errors: Vec<Diagnostic>,
}

impl<'a> Attrs<'a> {
    fn new(kind: &'a str, id: &'a str, key: &'a Node, attrs: &'a Node, file: &'a Path) -> Self {
        Attrs {
            kind,
            id,
            file,
            at: key,
            entries: attrs
                .entries()
                .iter()
                .map(|(k, v)| (k.as_key().unwrap_or_default(), k, v))
                .collect(),
            taken: BTreeSet::new(),
            errors: Vec::new(),
        }
    }

    fn field(&self, attr: &str) -> String {
        format!("{}.{}.{attr}", self.kind, self.id)
    }

    fn error_at(&mut self, node: &Node, attr: &str, message: String) {
        self.errors.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: node.line,
            column: node.column,
            field: Some(self.field(attr)),
            message,
        });
    }

    /// The value of `attr`, if written (and not `null`).
    fn take(&mut self, attr: &str) -> Option<&'a Node> {
        self.taken.insert(attr.to_string());
        self.entries
            .iter()
            .find(|(k, _, _)| k == attr)
            .map(|(_, _, v)| *v)
            .filter(|v| !v.is_null())
    }

    fn text(&mut self, attr: &str) -> Option<String> {
        let v = self.take(attr)?;
        // As goss's YAML library fills a string field: from any scalar, as written.
        match &v.value {
            Value::Seq(_) | Value::Map(_) => {
                self.error_at(v, attr, format!("`{attr}` must be a string"));
                None
            }
            _ => v.as_key(),
        }
    }

    fn flag(&mut self, attr: &str) -> bool {
        let Some(v) = self.take(attr) else {
            return false;
        };
        match v.value {
            Value::Bool(b) => b,
            _ => {
                self.error_at(v, attr, format!("`{attr}` must be true or false"));
                false
            }
        }
    }

    /// A duration in milliseconds (goss's `timeout`, `retry_delay` also takes `2s`).
    fn millis(&mut self, attr: &str, strings: bool) -> Option<Duration> {
        let v = self.take(attr)?;
        match &v.value {
            Value::Int(ms) if *ms > 0 => Some(Duration::from_millis(*ms as u64)),
            Value::Int(0) => None,
            Value::Str(s) if strings => match crate::model::duration::HumanDuration::parse(s) {
                Ok(d) => Some(d.0),
                Err(e) => {
                    self.error_at(v, attr, e);
                    None
                }
            },
            _ => {
                self.error_at(v, attr, format!("`{attr}` is in milliseconds, e.g. 5000"));
                None
            }
        }
    }

    /// A matcher attribute.
    fn matcher(&mut self, attr: &str) -> Option<Matcher> {
        let v = self.take(attr)?;
        if attr == "mode" {
            if let Value::Int(_) = v.value {
                self.error_at(
                    v,
                    attr,
                    "write the mode quoted (`mode: \"0644\"`): unquoted, YAML reads it as a number and goss compares it with the mode's text".into(),
                );
                return None;
            }
        }
        match Matcher::goss(&v.to_json()) {
            Ok(m) => Some(m),
            Err(e) => {
                self.error_at(v, attr, format!("`{attr}`: {e}"));
                None
            }
        }
    }

    /// A matcher over text goss reads line by line (`stdout`, `contents`, `body`...): a
    /// list is line patterns (an empty list asserts nothing), anything else a matcher
    /// over the whole text.
    fn text_matcher(&mut self, attr: &str) -> Option<Matcher> {
        let v = self.take(attr)?;
        match &v.value {
            Value::Seq(items) if items.is_empty() => None,
            Value::Seq(items) => {
                let mut patterns = Vec::new();
                for i in items {
                    match i.as_key().filter(|_| !matches!(i.value, Value::Seq(_) | Value::Map(_))) {
                        Some(text) if matches!(i.value, Value::Str(_)) => match Pattern::goss(&text) {
                            Ok(p) => patterns.push(p),
                            Err(e) => self.error_at(i, attr, e),
                        },
                        _ => self.error_at(
                            i,
                            attr,
                            format!("goss reads `{attr}` as line patterns: each item is a string (quote it)"),
                        ),
                    }
                }
                Some(Matcher::Patterns(patterns))
            }
            _ => match Matcher::goss(&v.to_json()) {
                Ok(m) => Some(m),
                Err(e) => {
                    self.error_at(v, attr, format!("`{attr}`: {e}"));
                    None
                }
            },
        }
    }

    /// A required matcher attribute (goss fails a resource without it).
    fn required(&mut self, attr: &str) -> Option<Matcher> {
        let written = self
            .entries
            .iter()
            .any(|(k, _, v)| k == attr && !v.is_null());
        if !written {
            let at = self.at;
            self.error_at(
                at,
                attr,
                format!(
                    "a goss {} needs `{attr}` (goss fails the resource without it)",
                    self.kind
                ),
            );
            self.taken.insert(attr.to_string());
            return None;
        }
        self.matcher(attr)
    }

    /// Errors for every attribute nothing took.
    fn finish(mut self, known: &[&str]) -> Result<(), Vec<Diagnostic>> {
        let leftover: Vec<(String, &Node)> = self
            .entries
            .iter()
            .filter(|(k, _, _)| !self.taken.contains(k))
            .map(|(k, key, _)| (k.clone(), *key))
            .collect();
        for (name, key) in leftover {
            let message = format!(
                "unknown attribute `{name}` for a goss {}; goss's: {}",
                self.kind,
                known.join(", ")
            );
            self.error_at(key, &name, message);
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Resolves one resource.
///
/// # Errors
/// Every problem of the resource, each at its line.
pub fn resolve(
    ctx: &Context,
    kind: &str,
    id: &str,
    key: &Node,
    attrs: &Node,
    file: &Path,
) -> Result<Vec<Item>, Vec<Diagnostic>> {
    let mut a = Attrs::new(kind, id, key, attrs, file);
    let title = a.text("title");
    a.take("meta");
    let skipped = a.flag("skip");
    let (items, known): (Vec<Item>, &[&str]) = match kind {
        "command" => (
            command(ctx, &mut a, id, title, skipped),
            &[
                "exec",
                "exit-status",
                "stdout",
                "stderr",
                "timeout",
                "retry_count",
                "retry_delay",
                "skip",
                "title",
                "meta",
            ],
        ),
        "http" => (
            http(ctx, &mut a, id, title, skipped),
            &[
                "url",
                "method",
                "status",
                "allow-insecure",
                "no-follow-redirects",
                "timeout",
                "request-headers",
                "request-body",
                "headers",
                "body",
                "username",
                "password",
                "ca-file",
                "cert-file",
                "key-file",
                "proxy",
                "skip",
                "title",
                "meta",
            ],
        ),
        "addr" => (
            addr(ctx, &mut a, id, title, skipped),
            &[
                "address",
                "reachable",
                "timeout",
                "local-address",
                "skip",
                "title",
                "meta",
            ],
        ),
        "matching" => (
            matching(&mut a, id, title, skipped),
            &["content", "matches", "as-reader", "skip", "title", "meta"],
        ),
        _ => node_fact(ctx, &mut a, kind, id, title, skipped),
    };
    a.finish(known)?;
    Ok(items)
}

fn retry(a: &mut Attrs) -> Option<Retry> {
    let count = a.take("retry_count").map(|v| match v.value {
        Value::Int(n) if n >= 0 => n as u32,
        _ => {
            a.error_at(
                v,
                "retry_count",
                "`retry_count` must be a whole number".into(),
            );
            0
        }
    });
    let delay = a.millis("retry_delay", true);
    match count {
        // goss waits a second between attempts when no (or a zero) delay is given.
        Some(n) if n > 0 => Some(Retry {
            count: n,
            delay: delay.unwrap_or(Duration::from_secs(1)),
        }),
        _ => None,
    }
}

/// goss's `timeout` as the assertion's deadline; checks that run in a node get at least
/// a second, for the exec around them.
fn deadline(a: &mut Attrs, default: Duration) -> Duration {
    a.millis("timeout", false)
        .map_or(default, |d| d.max(Duration::from_secs(1)))
}

fn per_replica(
    ctx: &Context,
    title: &str,
    mut make: impl FnMut(&str) -> Check,
    timeout: Duration,
    retry: Option<Retry>,
    skipped: bool,
) -> Vec<Item> {
    ctx.replicas
        .iter()
        .map(|r| Item {
            title: if ctx.replicas.len() > 1 {
                format!("{title} @{r}")
            } else {
                title.to_string()
            },
            timeout,
            retry,
            skipped,
            check: make(r),
        })
        .collect()
}

fn command(
    ctx: &Context,
    a: &mut Attrs,
    id: &str,
    title: Option<String>,
    skipped: bool,
) -> Vec<Item> {
    let run = a.text("exec").unwrap_or_else(|| id.to_string());
    let exit = a.required("exit-status");
    let mut output = Vec::new();
    for (attr, stream) in [("stdout", Stream::Stdout), ("stderr", Stream::Stderr)] {
        if let Some(m) = a.text_matcher(attr) {
            output.push((stream, m));
        }
    }
    let timeout = deadline(a, DEFAULT_EXEC_TIMEOUT);
    let retry = retry(a);
    let Some(exit) = exit else {
        return Vec::new();
    };
    let title = title.unwrap_or_else(|| format!("command {id}"));
    per_replica(
        ctx,
        &title,
        |node| {
            Check::Command(CommandCheck {
                node: node.to_string(),
                run: CommandLine(vec!["sh".into(), "-c".into(), run.clone()]),
                exit: Some(exit.clone()),
                stdout: Vec::new(),
                stderr: Vec::new(),
                output_matchers: output.clone(),
            })
        },
        timeout,
        retry,
        skipped,
    )
}

fn http(ctx: &Context, a: &mut Attrs, id: &str, title: Option<String>, skipped: bool) -> Vec<Item> {
    let url = a.text("url").unwrap_or_else(|| id.to_string());
    let at = a.at;
    let parsed = url
        .split_once("://")
        .filter(|(s, _)| *s == "http" || *s == "https");
    let Some((scheme, rest)) = parsed else {
        a.error_at(
            at,
            "url",
            format!("`{url}` is not an http(s) URL; name the resource by its URL or give `url`"),
        );
        return Vec::new();
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(']') || h.starts_with('['))
    {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => match p.parse::<u16>() {
            Ok(p) => (h.to_string(), p),
            Err(_) => {
                a.error_at(at, "url", format!("bad port in `{url}`"));
                return Vec::new();
            }
        },
        _ => (
            authority.to_string(),
            if scheme == "https" { 443 } else { 80 },
        ),
    };
    let status = a.required("status");
    let method = a.text("method").map(|m| m.to_ascii_uppercase());
    let insecure = a.flag("allow-insecure");
    let no_redirect = a.flag("no-follow-redirects");
    let mut headers = BTreeMap::new();
    if let Some(v) = a.take("request-headers") {
        for h in match &v.value {
            Value::Seq(items) => items.iter().collect::<Vec<_>>(),
            _ => vec![v],
        } {
            match h.as_str().and_then(|h| h.split_once(':')) {
                // Only the first of repeated headers counts, as in goss (`Host` sets the host).
                Some((k, val)) => {
                    headers
                        .entry(k.trim().to_string())
                        .or_insert_with(|| val.trim().to_string());
                }
                None => a.error_at(
                    h,
                    "request-headers",
                    "request headers are \"Name: value\" strings".into(),
                ),
            }
        }
    }
    let request_body = a.text("request-body");
    let headers_matcher = a.text_matcher("headers");
    let body_matcher = a.text_matcher("body");
    let username = a.text("username");
    let password = a.text("password");
    let tls_files = TlsFiles {
        ca: a.text("ca-file").filter(|s| !s.is_empty()),
        cert: a.text("cert-file").filter(|s| !s.is_empty()),
        key: a.text("key-file").filter(|s| !s.is_empty()),
    };
    let proxy = a.text("proxy").filter(|s| !s.is_empty());
    let timeout = deadline(a, DEFAULT_NETWORK_TIMEOUT);
    let Some(status) = status else {
        return Vec::new();
    };
    let basic_auth = match (username, password) {
        (Some(u), p) if !u.is_empty() => Some((u, p.unwrap_or_default())),
        _ => None,
    };
    let title = title.unwrap_or_else(|| format!("http {id}"));
    per_replica(
        ctx,
        &title,
        |node| {
            Check::Http(Box::new(HttpCheck {
                method: method.clone().unwrap_or_else(|| "GET".into()),
                scheme: scheme.to_string(),
                target: Endpoint {
                    node: host.clone(),
                    port,
                },
                path: path.clone(),
                headers: headers.clone(),
                request_body: request_body.clone(),
                status: status.clone(),
                body: Vec::new(),
                response_headers: Vec::new(),
                body_matcher: body_matcher.clone(),
                headers_matcher: headers_matcher.clone(),
                basic_auth: basic_auth.clone(),
                proxy: proxy.clone(),
                tls_files: tls_files.clone(),
                json: Vec::new(),
                insecure,
                no_redirect,
                // goss runs in the node: the request is sent from there.
                from: Some(node.to_string()),
            }))
        },
        timeout,
        None,
        skipped,
    )
}

fn addr(ctx: &Context, a: &mut Attrs, id: &str, title: Option<String>, skipped: bool) -> Vec<Item> {
    let address = a.text("address").unwrap_or_else(|| id.to_string());
    let reachable = a.required("reachable");
    let local = a.text("local-address").filter(|s| !s.is_empty());
    let timeout = deadline(a, DEFAULT_NETWORK_TIMEOUT);
    let at = a.at;
    let (proto, rest) = address.split_once("://").unwrap_or(("tcp", &address));
    if proto != "tcp" {
        a.error_at(at, "address", format!("addr `{address}`: envctl tests tcp:// addresses (udp cannot tell an open port from a silent one)"));
        return Vec::new();
    }
    let Some((host, port)) = rest.rsplit_once(':').and_then(|(h, p)| {
        Some((
            h.trim_matches(['[', ']']).to_string(),
            p.parse::<u16>().ok()?,
        ))
    }) else {
        a.error_at(
            at,
            "address",
            format!("addr `{address}` needs a host and a port, e.g. tcp://db:5432"),
        );
        return Vec::new();
    };
    let reachable = match reachable {
        Some(Matcher::Bool(b)) => b,
        Some(_) => {
            a.error_at(at, "reachable", "`reachable` must be true or false".into());
            return Vec::new();
        }
        None => return Vec::new(),
    };
    let title = title.unwrap_or_else(|| format!("addr {address}"));
    per_replica(
        ctx,
        &title,
        |node| {
            Check::Tcp(TcpCheck {
                target: Endpoint {
                    node: host.clone(),
                    port,
                },
                reachable,
                from: Some(node.to_string()),
                local_address: local.clone(),
            })
        },
        timeout,
        None,
        skipped,
    )
}

fn matching(a: &mut Attrs, id: &str, title: Option<String>, skipped: bool) -> Vec<Item> {
    let content = a
        .take("content")
        .map_or(serde_json::Value::Null, Node::to_json);
    let as_reader = a.flag("as-reader");
    let matcher = if as_reader {
        a.text_matcher("matches")
    } else {
        a.required("matches")
    };
    let Some(matcher) = matcher else {
        return Vec::new();
    };
    let content = if as_reader {
        serde_json::Value::String(crate::model::assertion::matcher::to_text(&content))
    } else {
        content
    };
    vec![Item {
        title: title.unwrap_or_else(|| format!("matching {id}")),
        timeout: DEFAULT_EXEC_TIMEOUT,
        retry: None,
        skipped,
        check: Check::Matching(MatchingCheck { content, matcher }),
    }]
}

/// The resources learned inside the node (file, package, user, port...).
fn node_fact(
    ctx: &Context,
    a: &mut Attrs,
    kind: &str,
    id: &str,
    title: Option<String>,
    skipped: bool,
) -> (Vec<Item>, &'static [&'static str]) {
    let at = a.at;
    // The attribute naming the thing, when it is not the resource's name.
    let (name_attr, presence, attributes, known): (
        &str,
        Option<&str>,
        &[&str],
        &'static [&'static str],
    ) = match kind {
        "file" => (
            "path",
            Some("exists"),
            &[
                "mode",
                "size",
                "owner",
                "uid",
                "group",
                "gid",
                "linked-to",
                "filetype",
                "contains",
                "contents",
                "md5",
                "sha256",
                "sha512",
            ],
            &[
                "path",
                "exists",
                "mode",
                "size",
                "owner",
                "uid",
                "group",
                "gid",
                "linked-to",
                "filetype",
                "contains",
                "contents",
                "md5",
                "sha256",
                "sha512",
                "skip",
                "title",
                "meta",
            ],
        ),
        "package" => (
            "name",
            Some("installed"),
            &["versions"],
            &[
                "name",
                "installed",
                "versions",
                "retry_count",
                "retry_delay",
                "skip",
                "title",
                "meta",
            ],
        ),
        "service" => (
            "name",
            None,
            &["enabled", "running", "runlevels"],
            &[
                "name",
                "enabled",
                "running",
                "runlevels",
                "skip",
                "title",
                "meta",
            ],
        ),
        "process" => (
            "comm",
            Some("running"),
            &[],
            &["comm", "running", "skip", "title", "meta"],
        ),
        "port" => (
            "port",
            Some("listening"),
            &["ip"],
            &["port", "listening", "ip", "skip", "title", "meta"],
        ),
        "user" => (
            "username",
            Some("exists"),
            &["uid", "gid", "groups", "home", "shell"],
            &[
                "username", "exists", "uid", "gid", "groups", "home", "shell", "skip", "title",
                "meta",
            ],
        ),
        "group" => (
            "groupname",
            Some("exists"),
            &["gid"],
            &["groupname", "exists", "gid", "skip", "title", "meta"],
        ),
        "dns" => (
            "resolve",
            Some("resolvable"),
            &["addrs"],
            &[
                "resolve",
                "resolvable",
                "resolveable",
                "addrs",
                "server",
                "timeout",
                "retry_count",
                "retry_delay",
                "skip",
                "title",
                "meta",
            ],
        ),
        "kernel-param" => (
            "name",
            None,
            &["value"],
            &["name", "value", "skip", "title", "meta"],
        ),
        "mount" => (
            "mountpoint",
            Some("exists"),
            &["opts", "vfs-opts", "source", "filesystem", "usage"],
            &[
                "mountpoint",
                "exists",
                "opts",
                "vfs-opts",
                "source",
                "filesystem",
                "usage",
                "timeout",
                "skip",
                "title",
                "meta",
            ],
        ),
        "interface" => (
            "name",
            Some("exists"),
            &["addrs", "mtu"],
            &["name", "exists", "addrs", "mtu", "skip", "title", "meta"],
        ),
        _ => unreachable!("the loader passes only goss types"),
    };
    let name = a.text(name_attr).unwrap_or_else(|| id.to_string());
    let mut expect = Vec::new();
    if let Some(p) = presence {
        // dns: `resolveable` is goss's old spelling.
        let p_attr = if kind == "dns"
            && a.entries.iter().any(|(k, _, _)| k == "resolveable")
            && !a.entries.iter().any(|(k, _, _)| k == "resolvable")
        {
            a.taken.insert("resolvable".into());
            "resolveable"
        } else {
            p
        };
        if let Some(m) = a.required(p_attr) {
            expect.push(Expectation {
                attribute: p.to_string(),
                matcher: m,
            });
        }
    }
    if kind == "kernel-param" {
        if let Some(m) = a.required("value") {
            expect.push(Expectation {
                attribute: "value".into(),
                matcher: m,
            });
        }
    }
    let mut contents = false;
    let mut digests = false;
    for attr in attributes.iter().filter(|x| **x != "value") {
        let m = if matches!(*attr, "contents" | "contains") {
            a.text_matcher(attr)
        } else {
            a.matcher(attr)
        };
        if let Some(m) = m {
            contents |= matches!(*attr, "contents" | "contains");
            digests |= matches!(*attr, "md5" | "sha512");
            let attribute = if *attr == "contains" {
                "contents"
            } else {
                attr
            };
            expect.push(Expectation {
                attribute: attribute.to_string(),
                matcher: m,
            });
        }
    }
    let server = if kind == "dns" {
        a.text("server").filter(|s| !s.is_empty())
    } else {
        None
    };
    let timeout = match kind {
        "dns" | "mount" => deadline(a, DEFAULT_EXEC_TIMEOUT),
        _ => DEFAULT_EXEC_TIMEOUT,
    };
    let retry = if matches!(kind, "package" | "dns") {
        retry(a)
    } else {
        None
    };
    let fact = match kind {
        "file" => {
            if !(name.starts_with('/') || name.starts_with('~')) {
                a.error_at(
                    at,
                    "path",
                    format!("`{name}` must be an absolute path (or `~user/...`)"),
                );
                return (Vec::new(), known);
            }
            Ok(Fact::File {
                path: name.clone(),
                contents,
                digests,
            })
        }
        "port" => match goss_port(&name) {
            Ok((proto, port)) => Ok(Fact::Port { proto, port }),
            Err(e) => Err(e),
        },
        "dns" => {
            let (record, host) = match name.split_once(':') {
                Some((t, h)) if DNS_TYPES.contains(&t) => (Some(t.to_string()), h.to_string()),
                _ => (None, name.clone()),
            };
            match (record, server) {
                (record, Some(server)) => Ok(Fact::DnsQuery {
                    kind: record.unwrap_or_else(|| "A".into()),
                    name: host,
                    server,
                }),
                (Some(t), None) => Err(format!(
                    "a {t} record is looked up at a `server`; give one, as goss requires"
                )),
                (None, None) => fact::fact_for("dns", &host),
            }
        }
        other => fact::fact_for(other, &name),
    };
    let fact = match fact {
        Ok(f) => f,
        Err(e) => {
            a.error_at(at, name_attr, e);
            return (Vec::new(), known);
        }
    };
    if presence.is_some() && expect.first().map(|e| e.attribute.as_str()) != presence {
        return (Vec::new(), known);
    }
    if kind == "kernel-param" && expect.is_empty() {
        return (Vec::new(), known);
    }
    let title = title.unwrap_or_else(|| describe_fact(&fact));
    let items = per_replica(
        ctx,
        &title,
        |node| {
            Check::Node(NodeCheck {
                node: node.to_string(),
                fact: fact.clone(),
                expect: expect.clone(),
            })
        },
        timeout,
        retry,
        skipped,
    );
    (items, known)
}

/// DNS record types goss looks up at a server.
pub const DNS_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "SSHFP", "TXT",
];

/// goss's port names: `tcp:22`, `tcp6:22`, `udp:53`, `udp6:53`; `tcp` and `udp` are the
/// IPv4 tables only, as goss reads them.
fn goss_port(text: &str) -> Result<(Proto, u16), String> {
    let (proto, port) = fact::parse_port(text)?;
    Ok((
        match proto {
            Proto::Tcp if text.starts_with("tcp:") || !text.contains(':') => Proto::Tcp4,
            Proto::Udp => Proto::Udp4,
            other => other,
        },
        port,
    ))
}
