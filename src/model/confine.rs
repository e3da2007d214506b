//! A project is confined to its root. Every file or directory a definition names (scripts,
//! copied and templated files, build contexts, playbooks, manifests and modules, the
//! inventory, secret files, gossfiles and goss vars, router templates, definition and
//! spec files themselves) is resolved with symlinks followed and must stay inside the
//! project. The directories a node reads whole are walked too: a symlink in them must
//! resolve inside the project, and nothing in them may be a device, FIFO or socket.
//!
//! Refusals are invalid input and quote only what the project wrote, never what the path
//! resolves to or what is there.

use std::path::{Path, PathBuf};

/// Most entries a directory a node reads whole may hold (walking it is then bounded).
pub const MAX_TREE_ENTRIES: usize = 100_000;

/// Why a project path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("`{0}` does not exist in the project")]
    Missing(String),
    #[error("`{0}` resolves outside the project (an absolute path, `..` or a symlink); envctl reads only the project's files")]
    Outside(String),
    #[error("`{shown}` holds `{entry}`, a symlink that resolves outside the project; envctl reads only the project's files")]
    LinkOutside { shown: String, entry: String },
    #[error("`{shown}` holds `{entry}`, which is not a file, a directory or a symlink")]
    Special { shown: String, entry: String },
    #[error("`{0}` holds more than {MAX_TREE_ENTRIES} entries")]
    TooLarge(String),
}

/// The project's root with its symlinks resolved, the boundary every path is held to.
#[derive(Debug, Clone)]
pub struct Root {
    real: PathBuf,
}

impl Root {
    /// The boundary of the project at `root`.
    pub fn new(root: &Path) -> Root {
        Root {
            real: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        }
    }

    /// The project root, symlinks resolved.
    pub fn real(&self) -> &Path {
        &self.real
    }

    /// `written` (a path as a definition writes it, relative to the project root), resolved.
    ///
    /// # Errors
    /// [`Refused::Outside`] when it resolves outside the project, [`Refused::Missing`] when
    /// it does not exist.
    pub fn resolve(&self, written: &str) -> Result<PathBuf, Refused> {
        if Path::new(written).is_absolute() {
            return Err(Refused::Outside(written.to_string()));
        }
        self.confine(&self.real.join(written), written)
    }

    /// The text of the project file `written`, within the size limit of every input file
    /// ([`super::source::MAX_FILE_BYTES`]).
    ///
    /// # Errors
    /// A refusal, a file too large, not UTF-8 or unreadable, as a message naming only
    /// `written`.
    pub fn read_text(&self, written: &str) -> Result<String, String> {
        if Path::new(written).is_absolute() {
            return Err(Refused::Outside(written.to_string()).to_string());
        }
        self.read(&self.real.join(written), written)
    }

    /// The text of `path` (joined to a directory of the project), as [`Root::read_text`];
    /// `shown` names it.
    ///
    /// # Errors
    /// As [`Root::read_text`].
    pub fn read(&self, path: &Path, shown: &str) -> Result<String, String> {
        let real = self.confine(path, shown).map_err(|why| why.to_string())?;
        match super::source::SourceFile::read(&real, shown.into()) {
            Ok(src) => Ok(src.text.clone()),
            Err(super::source::SourceError::Diagnostic(d)) => {
                Err(format!("`{shown}`: {}", d.message))
            }
            Err(super::source::SourceError::Io { source, .. }) => {
                Err(format!("cannot read `{shown}`: {source}"))
            }
        }
    }

    /// `path` (already joined to the project or to a directory in it), resolved; `shown`
    /// names it in a refusal.
    ///
    /// # Errors
    /// As [`Root::resolve`].
    pub fn confine(&self, path: &Path, shown: &str) -> Result<PathBuf, Refused> {
        if let Ok(real) = path.canonicalize() {
            return if real.starts_with(&self.real) {
                Ok(real)
            } else {
                Err(Refused::Outside(shown.to_string()))
            };
        }
        // Missing: whether it would be inside is decided by the nearest part that exists
        // (a dangling symlink by where its text points), so a refusal tells nothing about
        // what exists outside.
        for part in path.ancestors() {
            let inside = match part.canonicalize() {
                Ok(real) => real.starts_with(&self.real),
                Err(_) if std::fs::symlink_metadata(part).is_ok() => {
                    lexical_target(part).is_some_and(|t| t.starts_with(&self.real))
                }
                Err(_) => continue,
            };
            if inside {
                return Err(Refused::Missing(shown.to_string()));
            }
            break;
        }
        Err(Refused::Outside(shown.to_string()))
    }

    /// Checks a directory a node reads whole (a copied directory, a build context, a
    /// playbook's or manifest's directory, puppet modules): every symlink in it resolves
    /// inside the project (dangling ones are copied as links and allowed), and it holds
    /// only files, directories and symlinks, at most [`MAX_TREE_ENTRIES`] of them.
    ///
    /// # Errors
    /// The first entry that breaks a rule, named relative to the project.
    pub fn tree(&self, dir: &Path, shown: &str) -> Result<(), Refused> {
        self.walk(dir, shown, false)
    }

    /// Checks envctl's own state directory (`.envctl/`, which a project could ship):
    /// neither it nor anything in it may be a symlink that leads outside the project,
    /// so what envctl writes there stays there.
    ///
    /// # Errors
    /// The first symlink that leads out, or a directory too large to walk.
    pub fn state_dir(&self) -> Result<(), Refused> {
        let dir = self.real.join(".envctl");
        if std::fs::symlink_metadata(&dir).is_err() {
            return Ok(());
        }
        let real = self.confine(&dir, ".envctl")?;
        self.walk(&real, ".envctl", true)
    }

    fn walk(&self, dir: &Path, shown: &str, specials: bool) -> Result<(), Refused> {
        let mut count = 0usize;
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                count += 1;
                if count > MAX_TREE_ENTRIES {
                    return Err(Refused::TooLarge(shown.to_string()));
                }
                let path = entry.path();
                let entry_name = || {
                    path.strip_prefix(&self.real)
                        .unwrap_or(&path)
                        .display()
                        .to_string()
                };
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_symlink() {
                    match path.canonicalize() {
                        Ok(real) if !real.starts_with(&self.real) => {
                            return Err(Refused::LinkOutside {
                                shown: shown.to_string(),
                                entry: entry_name(),
                            })
                        }
                        Ok(real) => {
                            if !specials && !real.is_dir() && !real.is_file() {
                                return Err(Refused::Special {
                                    shown: shown.to_string(),
                                    entry: entry_name(),
                                });
                            }
                        }
                        Err(_) => {
                            if !lexical_target(&path).is_some_and(|t| t.starts_with(&self.real)) {
                                return Err(Refused::LinkOutside {
                                    shown: shown.to_string(),
                                    entry: entry_name(),
                                });
                            }
                        }
                    }
                    // A link to a directory inside the project is walked where it lives.
                } else if kind.is_dir() {
                    pending.push(path);
                } else if !specials && !kind.is_file() {
                    return Err(Refused::Special {
                        shown: shown.to_string(),
                        entry: entry_name(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Where a (possibly dangling) symlink points, without touching what it points at:
/// its text joined to its directory, `.` and `..` folded.
fn lexical_target(link: &Path) -> Option<PathBuf> {
    let text = std::fs::read_link(link).ok()?;
    let base = link.parent()?.canonicalize().ok()?;
    let mut out = PathBuf::new();
    for c in base.join(text).components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// `path` resolved and inside `real_root` (for loaders that hold the resolved root).
///
/// # Errors
/// As [`Root::confine`].
pub fn confine(real_root: &Path, path: &Path) -> Result<PathBuf, Refused> {
    let shown = path
        .strip_prefix(real_root)
        .unwrap_or_else(|_| Path::new(path.file_name().unwrap_or_default()))
        .display()
        .to_string();
    Root {
        real: real_root.to_path_buf(),
    }
    .confine(path, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn project() -> (tempfile::TempDir, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("shadow"), "host-only").unwrap();
        std::fs::create_dir(host.path().join("etc")).unwrap();
        std::fs::create_dir(root.path().join("files")).unwrap();
        std::fs::write(root.path().join("files/a"), "a").unwrap();
        (root, host)
    }

    #[test]
    fn inside_paths_resolve_and_links_inside_are_followed() {
        let (root, _host) = project();
        symlink("files/a", root.path().join("link")).unwrap();
        let r = Root::new(root.path());
        assert_eq!(r.resolve("link").unwrap(), r.real().join("files/a"));
        assert_eq!(
            r.resolve("files/../files/a").unwrap(),
            r.real().join("files/a")
        );
        assert!(r.tree(&r.real().join("files"), "files").is_ok());
    }

    #[test]
    fn absolute_dotdot_and_links_out_are_refused_naming_only_the_written_path() {
        let (root, host) = project();
        symlink(host.path().join("shadow"), root.path().join("file-out")).unwrap();
        symlink(host.path().join("etc"), root.path().join("dir-out")).unwrap();
        let r = Root::new(root.path());
        for written in ["/etc/passwd", "../x", "file-out", "dir-out", "dir-out/x"] {
            let e = r.resolve(written).unwrap_err();
            assert!(matches!(e, Refused::Outside(_)), "{written}: {e}");
            let text = e.to_string();
            assert!(!text.contains(&host.path().display().to_string()), "{text}");
        }
        assert_eq!(r.resolve("nope"), Err(Refused::Missing("nope".into())));
        symlink("/nonexistent/host/file", root.path().join("dangling-out")).unwrap();
        assert!(matches!(
            r.resolve("dangling-out"),
            Err(Refused::Outside(_))
        ));
    }

    #[test]
    fn a_state_dir_that_leads_outside_is_refused() {
        let (root, host) = project();
        let r = Root::new(root.path());
        assert!(r.state_dir().is_ok(), "no .envctl yet");
        std::fs::create_dir_all(root.path().join(".envctl/logs")).unwrap();
        assert!(r.state_dir().is_ok());
        symlink(host.path().join("etc"), root.path().join(".envctl/logs/e")).unwrap();
        assert!(matches!(r.state_dir(), Err(Refused::LinkOutside { .. })));
        std::fs::remove_dir_all(root.path().join(".envctl")).unwrap();
        symlink(host.path(), root.path().join(".envctl")).unwrap();
        assert!(matches!(r.state_dir(), Err(Refused::Outside(_))));
    }

    #[test]
    fn a_tree_with_a_link_out_or_a_fifo_is_refused() {
        let (root, host) = project();
        let r = Root::new(root.path());
        symlink(host.path().join("shadow"), root.path().join("files/out")).unwrap();
        let e = r.tree(&r.real().join("files"), "files").unwrap_err();
        assert_eq!(
            e,
            Refused::LinkOutside {
                shown: "files".into(),
                entry: "files/out".into()
            }
        );
        std::fs::remove_file(root.path().join("files/out")).unwrap();
        std::fs::create_dir(root.path().join("files/sub")).unwrap();
        symlink(host.path().join("etc"), root.path().join("files/sub/d")).unwrap();
        assert!(matches!(
            r.tree(&r.real().join("files"), "files"),
            Err(Refused::LinkOutside { .. })
        ));
        std::fs::remove_file(root.path().join("files/sub/d")).unwrap();
        symlink("../a", root.path().join("files/sub/up")).unwrap();
        symlink("missing", root.path().join("files/sub/dangling")).unwrap();
        assert!(r.tree(&r.real().join("files"), "files").is_ok());
        let fifo = root.path().join("files/pipe");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(matches!(
            r.tree(&r.real().join("files"), "files"),
            Err(Refused::Special { .. })
        ));
    }
}
