//! What a node mounts: named volumes owned by the instance, project directories bound
//! in (read-only unless `:rw`), and tmpfs. Written in compose's short form
//! (`"data:/var/lib/postgresql/data"`, `"./src:/app:rw"`, `"/run/cache:size=64m"`).

use super::confine::Root;
use std::path::PathBuf;

/// One mount of a node's containers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mount {
    /// A named volume of the instance: created by `up`, shared by the node's replicas
    /// and by every node that names it, removed by `down` unless `--keep-volumes`.
    Volume {
        name: String,
        target: String,
        read_only: bool,
    },
    /// A project path bound into the node. `source` is the path as written (relative to
    /// the project root); the engine is given its resolved location inside the project.
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    /// A tmpfs: memory-backed, empty at every start.
    Tmpfs {
        target: String,
        size: Option<u64>,
        mode: Option<u32>,
    },
}

impl Mount {
    /// Where the mount appears inside the node.
    pub fn target(&self) -> &str {
        match self {
            Mount::Volume { target, .. }
            | Mount::Bind { target, .. }
            | Mount::Tmpfs { target, .. } => target,
        }
    }
}

/// Parses one `volumes` entry: `NAME:/path[:ro|:rw]` for a named volume (read-write
/// unless `:ro`), `./dir:/path[:ro|:rw]` for a project path (read-only unless `:rw`).
/// A bind source is checked against the project with `root`.
///
/// # Errors
/// A message for the `volumes` entry: its form, a source outside the project or missing,
/// a relative target, an unknown option.
pub fn volume(root: &Root, written: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = written.split(':').collect();
    let (source, target, option) = match parts.as_slice() {
        [source, target] => (*source, *target, None),
        [source, target, option] => (*source, *target, Some(*option)),
        _ => {
            return Err(format!(
                "`{written}` is not a volume; write \"NAME:/path\" for a named volume or \"./dir:/path\" for a project directory, optionally followed by \":ro\" or \":rw\""
            ))
        }
    };
    let target = absolute_target(target)?;
    let read_only = match option {
        None => None,
        Some("ro") => Some(true),
        Some("rw") => Some(false),
        Some(other) => {
            return Err(format!(
                "unknown volume option `{other}` in `{written}`; use \"ro\" or \"rw\""
            ))
        }
    };
    if source.starts_with('/') || source.starts_with('~') {
        return Err(format!(
            "`{source}` is a path outside the project; a node may bind only project paths (\"./dir:{target}\"), since a project must not reach the host's files"
        ));
    }
    if source.starts_with('.') {
        root.resolve(source).map_err(|why| why.to_string())?;
        return Ok(Mount::Bind {
            source: PathBuf::from(source),
            target,
            read_only: read_only.unwrap_or(true),
        });
    }
    if !valid_volume_name(source) {
        return Err(format!(
            "`{source}` is not a volume name (letters, digits, `_`, `.` and `-`, starting with a letter or digit); a project path starts with \"./\""
        ));
    }
    Ok(Mount::Volume {
        name: source.to_string(),
        target,
        read_only: read_only.unwrap_or(false),
    })
}

/// Parses one `tmpfs` entry: `/path`, optionally `:size=64m` and `mode=1777`
/// (comma-separated).
///
/// # Errors
/// A message for the `tmpfs` entry.
pub fn tmpfs(written: &str) -> Result<Mount, String> {
    let (target, options) = written.split_once(':').unwrap_or((written, ""));
    let target = absolute_target(target)?;
    let (mut size, mut mode) = (None, None);
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", value)) => size = Some(super::resources::bytes(value)?),
            Some(("mode", value)) => {
                mode = Some(u32::from_str_radix(value, 8).map_err(|_| {
                    format!("tmpfs mode `{value}` is not an octal mode such as 1777")
                })?)
            }
            _ => {
                return Err(format!(
                    "unknown tmpfs option `{option}` in `{written}`; use size=SIZE or mode=OCTAL"
                ))
            }
        }
    }
    Ok(Mount::Tmpfs { target, size, mode })
}

fn absolute_target(target: &str) -> Result<String, String> {
    if !target.starts_with('/') || target.split('/').any(|p| p == "..") {
        return Err(format!(
            "`{target}` is not an absolute path inside the node (such as /var/lib/data)"
        ));
    }
    if target == "/" {
        return Err("a mount cannot replace the node's root (`/`)".into());
    }
    Ok(target.trim_end_matches('/').to_string())
}

fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        let root = Root::new(dir.path());
        (dir, root)
    }

    #[test]
    fn a_named_volume_is_writable_unless_ro() {
        let (_d, root) = project();
        assert_eq!(
            volume(&root, "data:/var/lib/data").unwrap(),
            Mount::Volume {
                name: "data".into(),
                target: "/var/lib/data".into(),
                read_only: false
            }
        );
        assert!(matches!(
            volume(&root, "data:/var/lib/data:ro").unwrap(),
            Mount::Volume {
                read_only: true,
                ..
            }
        ));
    }

    #[test]
    fn a_project_path_is_read_only_unless_rw() {
        let (_d, root) = project();
        assert_eq!(
            volume(&root, "./src:/app").unwrap(),
            Mount::Bind {
                source: "./src".into(),
                target: "/app".into(),
                read_only: true
            }
        );
        assert!(matches!(
            volume(&root, "./src:/app:rw").unwrap(),
            Mount::Bind {
                read_only: false,
                ..
            }
        ));
    }

    #[test]
    fn host_paths_and_escapes_are_refused() {
        let (d, root) = project();
        for bad in ["/etc:/host-etc", "~/.ssh:/keys", "../:/up", "./../x:/x"] {
            assert!(volume(&root, bad).is_err(), "{bad} was accepted");
        }
        std::os::unix::fs::symlink("/etc", d.path().join("etc-link")).unwrap();
        let why = volume(&root, "./etc-link:/x").unwrap_err();
        assert!(why.contains("outside the project"), "{why}");
        assert!(volume(&root, "./missing:/x")
            .unwrap_err()
            .contains("does not exist"));
    }

    #[test]
    fn targets_must_be_absolute_and_options_known() {
        let (_d, root) = project();
        for bad in [
            "data:relative",
            "data:/",
            "data:/a/../b",
            "data:/x:rx",
            "data",
            "a:b:c:d",
        ] {
            assert!(volume(&root, bad).is_err(), "{bad} was accepted");
        }
        assert!(volume(&root, "-bad:/x").is_err());
    }

    #[test]
    fn tmpfs_takes_a_size_and_a_mode() {
        assert_eq!(
            tmpfs("/run/cache:size=64m,mode=1777").unwrap(),
            Mount::Tmpfs {
                target: "/run/cache".into(),
                size: Some(64 << 20),
                mode: Some(0o1777)
            }
        );
        assert_eq!(
            tmpfs("/tmp").unwrap(),
            Mount::Tmpfs {
                target: "/tmp".into(),
                size: None,
                mode: None
            }
        );
        for bad in ["tmp", "/tmp:size=lots", "/tmp:mode=9", "/tmp:uid=0"] {
            assert!(tmpfs(bad).is_err(), "{bad} was accepted");
        }
    }
}
