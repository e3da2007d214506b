//! Symlink releases (`[releases.SERVICE]` in an environment file), the promotion strategy
//! for services that are not a container per release: each release is copied into
//! `PATH/releases/VERSION` on the service's nodes, `PATH/current` is repointed to it, the
//! restart command runs and the specs verify it; rollback repoints `current` to the
//! release before. `promote` and `rollback` consume the resolved form.

use super::scalar::CommandLine;
use super::source::{Diagnostic, Location, SourceFile};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// `[releases.SERVICE]` as users write it.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSymlinkRelease {
    /// Nodes that receive every release (each replica of each).
    pub nodes: Spanned<Vec<String>>,
    /// The service's directory in the nodes: releases go to `PATH/releases/VERSION`,
    /// the live one is `PATH/current`.
    pub path: Spanned<String>,
    /// Project directory whose git revisions can be released (`--release git:REV`).
    pub source: Option<Spanned<String>>,
    /// Command run in each node once `current` points at a release (string for `sh -c`,
    /// or an array).
    pub restart: Option<Spanned<CommandLine>>,
    /// Releases kept on each node, the live one included (default 5, at least 2).
    pub keep: Option<Spanned<i64>>,
    /// Spec files (stems under specs/ENV/) verified against each release.
    pub specs: Option<Vec<Spanned<String>>>,
}

/// A service released by copying and repointing a symlink, validated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SymlinkRelease {
    pub service: String,
    /// Node names (every replica of each receives the release).
    pub nodes: Vec<String>,
    /// Absolute path of the service's directory in the nodes.
    pub path: String,
    /// Project directory (relative to the project root) for `git:REV` releases.
    pub source: Option<PathBuf>,
    pub restart: Option<Vec<String>>,
    pub keep: usize,
    /// Spec file stems verified against each release.
    pub specs: Vec<String>,
}

/// Releases kept on each node unless `keep` says otherwise.
pub const DEFAULT_KEEP: usize = 5;

impl SymlinkRelease {
    /// `PATH/releases`.
    pub fn releases_dir(&self) -> String {
        format!("{}/releases", self.path)
    }

    /// `PATH/current`.
    pub fn current_link(&self) -> String {
        format!("{}/current", self.path)
    }

    /// `PATH/releases/VERSION`.
    pub fn release_dir(&self, version: &str) -> String {
        format!("{}/{version}", self.releases_dir())
    }
}

/// Resolves `[releases.SERVICE]` against the environment's nodes.
pub fn resolve(
    root: &Path,
    src: &Arc<SourceFile>,
    service: &Spanned<String>,
    raw: RawSymlinkRelease,
    nodes: &BTreeMap<String, u32>,
    errors: &mut Vec<Diagnostic>,
) -> Option<SymlinkRelease> {
    let before = errors.len();
    let name = service.get_ref().clone();
    let at = |span: std::ops::Range<usize>, field: &str, message: String| {
        Location {
            src: src.clone(),
            span,
        }
        .diagnostic(Some(format!("releases.{name}.{field}").as_str()), message)
    };
    if raw.nodes.get_ref().is_empty() {
        errors.push(at(
            raw.nodes.span(),
            "nodes",
            "name at least one node that receives the releases".into(),
        ));
    }
    for node in raw.nodes.get_ref() {
        if !nodes.contains_key(node) {
            let known: Vec<&str> = nodes.keys().map(String::as_str).collect();
            errors.push(at(
                raw.nodes.span(),
                "nodes",
                format!(
                    "`{node}` is not a node of this environment (nodes: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    let path = raw.path.get_ref().trim_end_matches('/').to_string();
    if let Err(why) = node_path(&path) {
        errors.push(at(
            raw.path.span(),
            "path",
            format!("`{}` {why}", raw.path.get_ref()),
        ));
    }
    let source = raw.source.as_ref().and_then(|s| {
        let p = Path::new(s.get_ref());
        if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
            errors.push(at(
                s.span(),
                "source",
                format!("`{}` is outside the project; give a project directory (a relative path without `..`)", s.get_ref()),
            ));
            return None;
        }
        if !root.join(p).is_dir() {
            errors.push(at(
                s.span(),
                "source",
                format!("`{}` is not a directory of the project", s.get_ref()),
            ));
            return None;
        }
        Some(p.to_path_buf())
    });
    let keep = match &raw.keep {
        None => DEFAULT_KEEP,
        Some(k) => match usize::try_from(*k.get_ref()) {
            Ok(n) if (2..=1000).contains(&n) => n,
            _ => {
                errors.push(at(
                    k.span(),
                    "keep",
                    format!(
                        "keep = {} is out of range: keep 2 to 1000 releases (the live one and at least one to roll back to)",
                        k.get_ref()
                    ),
                ));
                DEFAULT_KEEP
            }
        },
    };
    if errors.len() > before {
        return None;
    }
    Some(SymlinkRelease {
        specs: raw.specs.map_or_else(
            || vec![name.clone()],
            |l| l.into_iter().map(Spanned::into_inner).collect(),
        ),
        service: name,
        nodes: raw.nodes.into_inner(),
        path,
        source,
        restart: raw.restart.map(|r| r.into_inner().0),
        keep,
    })
}

/// Checks a directory path inside a node: absolute, not `/`, no `.` or `..` parts.
fn node_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err(
            "cannot be the root directory: give the service's own directory, e.g. /srv/site",
        );
    }
    if !path.starts_with('/') {
        return Err("must be an absolute path in the node, e.g. /srv/site");
    }
    if path.contains('\0') || path.contains("//") {
        return Err("is not a plain absolute path");
    }
    if path.split('/').any(|part| part == "." || part == "..") {
        return Err("must not contain `.` or `..` parts");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_are_plain_absolute_directories() {
        assert!(node_path("/srv/site").is_ok());
        assert!(node_path("srv/site").is_err());
        assert!(node_path("").is_err());
        assert!(node_path("/srv/../etc").is_err());
        assert!(node_path("/srv//site").is_err());
    }

    #[test]
    fn release_paths_hang_under_the_service_directory() {
        let s = SymlinkRelease {
            service: "site".into(),
            nodes: vec!["web".into()],
            path: "/srv/site".into(),
            source: None,
            restart: None,
            keep: 3,
            specs: vec![],
        };
        assert_eq!(s.releases_dir(), "/srv/site/releases");
        assert_eq!(s.current_link(), "/srv/site/current");
        assert_eq!(s.release_dir("v1"), "/srv/site/releases/v1");
    }
}
