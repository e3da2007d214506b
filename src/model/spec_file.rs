//! The on-disk shape of `specs/ENV/*.toml`: arrays of tables, one per assertion kind.
//! Attribute names follow goss where goss has one.

use super::duration::{HumanDuration, NonZeroDuration};
use super::scalar::CommandLine;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSpecFile {
    #[serde(default)]
    pub http: Vec<Spanned<RawHttp>>,
    #[serde(default)]
    pub tcp: Vec<Spanned<RawTcp>>,
    #[serde(default)]
    pub command: Vec<Spanned<RawCommand>>,
    #[serde(default)]
    pub file: Vec<Spanned<RawFile>>,
    #[serde(default)]
    pub package: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub service: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub process: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub port: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub user: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub group: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub dns: Vec<Spanned<RawFact>>,
    #[serde(default, rename = "kernel-param", alias = "kernel_param")]
    pub kernel_param: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub mount: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub interface: Vec<Spanned<RawFact>>,
    #[serde(default)]
    pub load: Vec<Spanned<super::assertion::load::RawLoad>>,
}

/// A fact kind's table (`[[package]]`, `[[user]]`...): common keys (`title`, `node`,
/// `timeout`, `eventually`), the identifying key and attributes, checked against the
/// kind's attribute list by the resolver so each unknown key is reported where it is.
pub type RawFact = BTreeMap<String, Spanned<toml::Value>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub title: Option<String>,
    pub timeout: Option<NonZeroDuration>,
    pub eventually: Option<HumanDuration>,
    pub url: Spanned<String>,
    pub method: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub request_body: Option<String>,
    pub status: Option<Spanned<u16>>,
    #[serde(default)]
    pub body: Vec<Spanned<String>>,
    /// Patterns over the response headers, one `Name: value` line each.
    #[serde(default)]
    pub response_headers: Vec<Spanned<String>>,
    /// JSON path (`$.items[0].name`) to matcher.
    #[serde(default)]
    pub json: BTreeMap<String, Spanned<toml::Value>>,
    /// Accept any TLS certificate.
    #[serde(default)]
    pub insecure: bool,
    /// Do not follow redirects (check the 3xx itself).
    #[serde(default)]
    pub no_redirect: bool,
    /// Send the request from inside this node instead of from the host.
    pub from: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    pub title: Option<String>,
    pub timeout: Option<NonZeroDuration>,
    pub eventually: Option<HumanDuration>,
    /// `node:port`.
    pub address: Spanned<String>,
    #[serde(default = "yes")]
    pub reachable: bool,
    /// Connect from inside this node instead of from the host.
    pub from: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    pub title: Option<String>,
    pub timeout: Option<NonZeroDuration>,
    pub eventually: Option<HumanDuration>,
    pub node: Spanned<String>,
    pub run: CommandLine,
    /// An exit code, a matcher, or `"any"` (not checked).
    pub exit: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub stdout: Vec<Spanned<String>>,
    #[serde(default)]
    pub stderr: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub title: Option<String>,
    pub timeout: Option<NonZeroDuration>,
    pub eventually: Option<HumanDuration>,
    pub node: Spanned<String>,
    pub path: Spanned<String>,
    #[serde(default = "yes")]
    pub exists: bool,
    pub filetype: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub owner: Option<String>,
    pub group: Option<String>,
    #[serde(default)]
    pub contains: Vec<Spanned<String>>,
    pub size: Option<Spanned<toml::Value>>,
    pub sha256: Option<String>,
}

fn yes() -> bool {
    true
}
