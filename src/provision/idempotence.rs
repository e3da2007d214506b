//! Idempotence: what a second run of a node's steps changed. The generic check compares
//! the state (type, mode, owner, symlink target and content hash) of every path the second
//! run wrote, before and after it, so it works for every step kind and names exactly the
//! files that changed; a file rewritten with the same bytes and metadata is no change. Tool reports (Ansible's changed
//! tasks, Puppet's changed resources, templates rewritten) are added to it.
//! Noise is filtered: kernel and runtime trees, temporary files, logs and caches (see
//! [`DEFAULT_IGNORE`]), plus each node's `idempotence_ignore`.

use std::collections::BTreeMap;
use std::fmt;

/// Path prefixes never reported: pseudo filesystems, runtime state, temporary files,
/// logs, caches, package indexes, and the state tools keep about their own runs.
pub const DEFAULT_IGNORE: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/tmp",
    "/var/tmp",
    "/var/log",
    "/var/cache",
    "/var/lib/apt/lists",
    "/var/lib/systemd",
    "/var/lib/puppet",
    "/root/.ansible",
    "/root/.cache",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
];

/// Path components never reported wherever they appear (Python bytecode caches).
const IGNORED_NAMES: &[&str] = &["__pycache__"];

/// One path that differs between the snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    /// What differs: `content`, `mode 644 -> 600`, `owner ...`, `type ...`, `target ...`.
    Modified(String),
}

/// What the second run of one node changed.
#[derive(Debug, Clone, Default)]
pub struct NodeReport {
    pub node: String,
    pub files: Vec<FileChange>,
    /// Changes reported by the tools, `step label: change`.
    pub reported: Vec<String>,
    /// Steps skipped because they are marked `idempotent = false`.
    pub skipped: Vec<String>,
    /// Not run again: the provisioned image (this tag) passed the check before.
    pub recorded: Option<String>,
}

impl NodeReport {
    pub fn is_idempotent(&self) -> bool {
        self.files.is_empty() && self.reported.is_empty()
    }
}

impl fmt::Display for NodeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.recorded.is_some() {
            return write!(
                f,
                "node `{}`: idempotent (checked before on this provisioned image)",
                self.node
            );
        }
        if self.is_idempotent() {
            return write!(
                f,
                "node `{}`: idempotent (the second run changed nothing)",
                self.node
            );
        }
        writeln!(
            f,
            "node `{}`: the second run of its provisioning changed:",
            self.node
        )?;
        for c in &self.files {
            match &c.kind {
                ChangeKind::Added => writeln!(f, "  file added:    {}", c.path)?,
                ChangeKind::Removed => writeln!(f, "  file removed:  {}", c.path)?,
                ChangeKind::Modified(what) => writeln!(f, "  file modified: {} ({what})", c.path)?,
            }
        }
        for r in &self.reported {
            writeln!(f, "  reported:      {r}")?;
        }
        Ok(())
    }
}

/// The command that prints the state of `paths` themselves (not what is below them): one
/// metadata line per path (`type<TAB>mode<TAB>owner<TAB>link<TAB>path`), then a
/// separator, then `md5  path` per regular file. Paths that do not exist are left out.
pub fn snapshot_command(paths: &[String]) -> Vec<String> {
    let script = "find \"$@\" -maxdepth 0 -printf '%y\\t%m\\t%u:%g\\t%l\\t%p\\n' 2>/dev/null; \
                  echo '--- content'; \
                  find \"$@\" -maxdepth 0 -type f -print0 2>/dev/null | xargs -0 -r md5sum";
    let mut cmd = vec!["sh".into(), "-c".into(), script.into(), "sh".into()];
    cmd.extend(paths.iter().cloned());
    cmd
}

/// Paths that change on a machine whenever envctl reaches it, whatever its steps do:
/// Ansible's and sudo's own state for the SSH user, DHCP leases.
pub const MACHINE_IGNORE: &[&str] = &[
    "/home/vagrant/.ansible",
    "/home/vagrant/.cache",
    "/var/lib/sudo",
    "/var/lib/dhcp",
];

/// The command that prints the state of the whole root filesystem, in
/// [`snapshot_command`]'s format, for engines that cannot tell which paths a run wrote
/// (VMs): every path on `/`'s filesystem except the ignored trees (not even descended
/// into), with a content hash per regular file.
pub fn tree_snapshot_command(extra_ignore: &[String]) -> Vec<String> {
    let prune: Vec<String> = DEFAULT_IGNORE
        .iter()
        .chain(MACHINE_IGNORE)
        .map(|p| (*p).to_string())
        .chain(
            extra_ignore
                .iter()
                .map(|p| p.trim_end_matches('/').to_string()),
        )
        .filter(|p| !p.is_empty())
        .map(|p| format!("-path {}", crate::backend::vagrant::config::quote(&p)))
        .collect();
    let prune = prune.join(" -o ");
    let script = format!(
        "find / -xdev \\( {prune} \\) -prune -o -printf '%y\\t%m\\t%u:%g\\t%l\\t%p\\n' 2>/dev/null; \
         echo '--- content'; \
         find / -xdev \\( {prune} \\) -prune -o -type f -print0 2>/dev/null | xargs -0 -r md5sum 2>/dev/null; \
         true"
    );
    vec!["sh".into(), "-c".into(), script]
}

/// Parses [`snapshot_command`]'s output into `path -> description`.
pub fn parse_snapshot(text: &str) -> BTreeMap<String, Entry> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut lines = text.lines();
    for line in lines.by_ref() {
        if line == "--- content" {
            break;
        }
        let mut parts = line.splitn(5, '\t');
        let (Some(kind), Some(mode), Some(owner), Some(link), Some(path)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        entries.insert(
            path.to_string(),
            Entry {
                kind: kind.into(),
                mode: mode.into(),
                owner: owner.into(),
                link: link.into(),
                content: None,
            },
        );
    }
    for line in lines {
        // md5sum prints `HASH  PATH`.
        if let Some((hash, path)) = line.split_once("  ") {
            if let Some(e) = entries.get_mut(path) {
                e.content = Some(hash.to_string());
            }
        }
    }
    entries
}

/// One path's state in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    kind: String,
    mode: String,
    owner: String,
    link: String,
    content: Option<String>,
}

/// Differences between two snapshots, without ignored paths.
pub fn diff(
    before: &BTreeMap<String, Entry>,
    after: &BTreeMap<String, Entry>,
    extra_ignore: &[String],
) -> Vec<FileChange> {
    let mut changes = Vec::new();
    for (path, a) in after {
        if ignored(path, extra_ignore) {
            continue;
        }
        match before.get(path) {
            None => changes.push(FileChange {
                path: path.clone(),
                kind: ChangeKind::Added,
            }),
            Some(b) if b != a => {
                let mut what = Vec::new();
                if b.kind != a.kind {
                    what.push(format!("type {} -> {}", b.kind, a.kind));
                }
                if b.content != a.content {
                    what.push("content".to_string());
                }
                if b.mode != a.mode {
                    what.push(format!("mode {} -> {}", b.mode, a.mode));
                }
                if b.owner != a.owner {
                    what.push(format!("owner {} -> {}", b.owner, a.owner));
                }
                if b.link != a.link {
                    what.push(format!("target {} -> {}", b.link, a.link));
                }
                changes.push(FileChange {
                    path: path.clone(),
                    kind: ChangeKind::Modified(what.join(", ")),
                });
            }
            Some(_) => {}
        }
    }
    for path in before.keys() {
        if !after.contains_key(path) && !ignored(path, extra_ignore) {
            changes.push(FileChange {
                path: path.clone(),
                kind: ChangeKind::Removed,
            });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

/// Whether changes to `path` are never reported (default noise or the node's own).
pub fn ignored(path: &str, extra: &[String]) -> bool {
    let under = |prefix: &str| {
        let prefix = prefix.trim_end_matches('/');
        path == prefix || path.starts_with(&format!("{prefix}/"))
    };
    DEFAULT_IGNORE.iter().any(|p| under(p))
        || extra.iter().any(|p| under(p))
        || path.split('/').any(|c| IGNORED_NAMES.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(meta: &str, content: &str) -> BTreeMap<String, Entry> {
        parse_snapshot(&format!("{meta}--- content\n{content}"))
    }

    #[test]
    fn names_added_removed_and_modified_files() {
        let before = snap(
            "d\t755\troot:root\t\t/etc\nf\t644\troot:root\t\t/etc/a\nf\t644\troot:root\t\t/etc/b\nf\t644\troot:root\t\t/etc/c d\n",
            "111  /etc/a\n222  /etc/b\n333  /etc/c d\n",
        );
        let after = snap(
            "d\t755\troot:root\t\t/etc\nf\t600\troot:root\t\t/etc/a\nf\t644\troot:root\t\t/etc/c d\nf\t644\troot:root\t\t/etc/new\n",
            "111  /etc/a\n999  /etc/c d\n444  /etc/new\n",
        );
        let changes = diff(&before, &after, &[]);
        assert_eq!(
            changes,
            [
                FileChange {
                    path: "/etc/a".into(),
                    kind: ChangeKind::Modified("mode 644 -> 600".into())
                },
                FileChange {
                    path: "/etc/b".into(),
                    kind: ChangeKind::Removed
                },
                FileChange {
                    path: "/etc/c d".into(),
                    kind: ChangeKind::Modified("content".into())
                },
                FileChange {
                    path: "/etc/new".into(),
                    kind: ChangeKind::Added
                },
            ]
        );
    }

    #[test]
    fn noise_is_filtered_by_default_and_by_the_node() {
        let before = snap("", "");
        let after = snap(
            "f\t644\troot:root\t\t/var/log/x\nf\t644\troot:root\t\t/usr/lib/python3/__pycache__/a.pyc\nf\t644\troot:root\t\t/srv/app/state\nf\t644\troot:root\t\t/srv/app2\n",
            "",
        );
        let changes = diff(&before, &after, &["/srv/app".to_string()]);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        // `/srv/app` ignores its subtree, not a sibling that shares the prefix.
        assert_eq!(paths, ["/srv/app2"]);
    }

    #[test]
    fn identical_snapshots_are_idempotent() {
        let s = snap("f\t644\troot:root\t\t/etc/a\n", "111  /etc/a\n");
        assert!(diff(&s, &s, &[]).is_empty());
        let report = NodeReport {
            node: "web".into(),
            ..Default::default()
        };
        assert!(report.is_idempotent());
    }

    #[test]
    fn the_command_describes_exactly_the_paths_given() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("it's a file");
        std::fs::write(&file, "hello\n").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("below"), "not listed").unwrap();
        let paths: Vec<String> = [&file, &sub, &dir.path().join("gone")]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let cmd = snapshot_command(&paths);
        let out = std::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .output()
            .unwrap();
        let snapshot = parse_snapshot(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(snapshot.len(), 2, "{snapshot:?}");
        let f = &snapshot[&paths[0]];
        assert_eq!(f.kind, "f");
        // md5 of "hello\n".
        assert_eq!(
            f.content.as_deref(),
            Some("b1946ac92492d2347c6235b4d2611184")
        );
        assert_eq!(snapshot[&paths[1]].kind, "d");
        assert_eq!(snapshot[&paths[1]].content, None);
    }
}
