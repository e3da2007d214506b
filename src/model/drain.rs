//! `drain` in a promotion: how a colour (or, for rsync releases, a node) is taken out of
//! service before traffic moves away from it (a command in a node, or an HTTP call to a
//! load balancer's API that is a node of the instance), how it is put back (`undo`), and
//! how envctl knows its requests in flight have ended (no established connection on
//! `port` in the node).

use super::duration::NonZeroDuration;
use super::scalar::CommandLine;
use super::source::Diagnostic;
use super::source::Location;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[promote.SERVICE.drain]` as users write it.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawDrain {
    /// Command that takes the colour out of service (string for `sh -c`, or a list).
    pub run: Option<Spanned<CommandLine>>,
    /// HTTP call that takes it out of service.
    pub http: Option<Spanned<RawRequest>>,
    /// Command that puts it back.
    pub undo: Option<Spanned<CommandLine>>,
    /// HTTP call that puts it back.
    pub undo_http: Option<Spanned<RawRequest>>,
    /// Node the commands run in (default: the router; for rsync releases, the node
    /// being released to).
    pub node: Option<Spanned<String>>,
    /// Requests in flight are the established connections on this port in the node
    /// being drained; envctl waits until there are none.
    pub port: Option<Spanned<u16>>,
    /// Longest wait for requests in flight (default 30s).
    pub timeout: Option<NonZeroDuration>,
}

/// An HTTP call to a node of the instance.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// `http://NODE:PORT/PATH`.
    pub url: String,
    /// Default `POST`.
    pub method: Option<String>,
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A resolved drain.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drain {
    pub run: Option<Vec<String>>,
    pub http: Option<Request>,
    pub undo: Option<Vec<String>>,
    pub undo_http: Option<Request>,
    pub node: Option<String>,
    pub port: Option<u16>,
    pub timeout: Duration,
}

/// A resolved HTTP call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Request {
    pub node: String,
    pub port: u16,
    /// Path and query; may hold placeholders.
    pub path: String,
    pub method: String,
    pub body: Option<String>,
    pub headers: BTreeMap<String, String>,
}

/// How long envctl waits for requests in flight unless `timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Drain {
    /// Every text that may hold placeholders, with its field name.
    pub fn templates(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (field, cmd) in [("drain.run", &self.run), ("drain.undo", &self.undo)] {
            out.extend(cmd.iter().flatten().map(|a| (field, a.clone())));
        }
        for (field, req) in [
            ("drain.http", &self.http),
            ("drain.undo_http", &self.undo_http),
        ] {
            if let Some(r) = req {
                out.push((field, r.path.clone()));
                out.extend(r.body.iter().map(|b| (field, b.clone())));
                out.extend(r.headers.values().map(|v| (field, v.clone())));
            }
        }
        out
    }
}

/// Resolves a drain against the environment's nodes; problems go to `errors`.
pub fn resolve(
    raw: &Spanned<RawDrain>,
    nodes: &BTreeMap<String, u32>,
    at: &dyn Fn(std::ops::Range<usize>) -> Location,
    errors: &mut Vec<Diagnostic>,
) -> Option<Drain> {
    let before = errors.len();
    let d = raw.get_ref();
    if d.run.is_none() && d.http.is_none() {
        errors.push(at(raw.span()).diagnostic(
            Some("drain"),
            "say how to take a colour out of service: `run` (a command) or `http` (a call to a load balancer's API)",
        ));
    }
    let known = |name: &str| nodes.contains_key(name);
    let node_list = || nodes.keys().cloned().collect::<Vec<_>>().join(", ");
    if let Some(n) = &d.node {
        if !known(n.get_ref()) {
            errors.push(at(n.span()).diagnostic(
                Some("drain.node"),
                format!(
                    "`{}` is not a node of this environment (nodes: {})",
                    n.get_ref(),
                    node_list()
                ),
            ));
        }
    }
    let mut request = |r: &Option<Spanned<RawRequest>>, field: &str| -> Option<Request> {
        let r = r.as_ref()?;
        let raw = r.get_ref();
        let parsed = raw.url.strip_prefix("http://").and_then(|rest| {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let (host, port) = authority.rsplit_once(':')?;
            Some((
                host.to_string(),
                port.parse::<u16>().ok()?,
                path.to_string(),
            ))
        });
        match parsed {
            Some((host, port, path)) if known(&host) => Some(Request {
                node: host,
                port,
                path: if path.is_empty() { "/".into() } else { path },
                method: raw
                    .method
                    .clone()
                    .unwrap_or_else(|| "POST".into())
                    .to_ascii_uppercase(),
                body: raw.body.clone(),
                headers: raw.headers.clone(),
            }),
            _ => {
                errors.push(at(r.span()).diagnostic(
                    Some(field),
                    format!(
                        "`{}` must be http://NODE:PORT/PATH with a node of this environment (nodes: {}); envctl calls nothing outside the instance",
                        raw.url,
                        node_list()
                    ),
                ));
                None
            }
        }
    };
    let http = request(&d.http, "drain.http");
    let undo_http = request(&d.undo_http, "drain.undo_http");
    if errors.len() > before {
        return None;
    }
    Some(Drain {
        run: d.run.as_ref().map(|c| c.get_ref().0.clone()),
        http,
        undo: d.undo.as_ref().map(|c| c.get_ref().0.clone()),
        undo_http,
        node: d.node.as_ref().map(|n| n.get_ref().clone()),
        port: d.port.as_ref().map(|p| *p.get_ref()),
        timeout: d.timeout.map_or(DEFAULT_TIMEOUT, NonZeroDuration::get),
    })
}
