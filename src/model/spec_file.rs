//! The on-disk shape of `specs/ENV/*.toml`: arrays of tables, one per assertion kind.
//! Attribute names follow goss where goss has one.

use super::duration::HumanDuration;
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub title: Option<String>,
    pub timeout: Option<HumanDuration>,
    pub eventually: Option<HumanDuration>,
    pub url: Spanned<String>,
    pub method: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub request_body: Option<String>,
    pub status: Option<Spanned<u16>>,
    #[serde(default)]
    pub body: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    pub title: Option<String>,
    pub timeout: Option<HumanDuration>,
    pub eventually: Option<HumanDuration>,
    /// `node:port`.
    pub address: Spanned<String>,
    #[serde(default = "yes")]
    pub reachable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    pub title: Option<String>,
    pub timeout: Option<HumanDuration>,
    pub eventually: Option<HumanDuration>,
    pub node: Spanned<String>,
    pub run: CommandLine,
    #[serde(default)]
    pub exit: i32,
    #[serde(default)]
    pub stdout: Vec<Spanned<String>>,
    #[serde(default)]
    pub stderr: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub title: Option<String>,
    pub timeout: Option<HumanDuration>,
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
}

fn yes() -> bool {
    true
}
