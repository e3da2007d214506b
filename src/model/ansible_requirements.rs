//! An `ansible` step's dependencies, as Ansible's own `requirements.yml` writes them
//! (roles and collections), held to what can be installed offline from the project: a
//! role directory, a tarball, or a git checkout in the project; a collection tarball
//! (what `ansible-galaxy collection download` writes), directory or git checkout.
//! Anything that would be fetched (a Galaxy name, a URL, another server) is refused at its
//! line, before anything is created.
//!
//! The files read are the step's `requirements` when it names one, else those Ansible
//! tooling looks for beside the playbook: `requirements.yml`, `roles/requirements.yml`
//! and `collections/requirements.yml`. Relative sources are relative to the playbook's
//! directory (where envctl runs `ansible-galaxy`, as a user would).

use super::confine::{Refused, Root};
use super::source::Diagnostic;
use super::yaml::{self, Node, Value};
use std::path::{Path, PathBuf};

/// Where a dependency comes from: a path of the project (relative to its root).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A directory, installed as it is (its working tree).
    Dir(PathBuf),
    /// A `.tar.gz`/`.tgz`/`.tar` file.
    Tarball(PathBuf),
    /// A git repository, checked out at `version` (its default branch when `None`).
    Git {
        repo: PathBuf,
        version: Option<String>,
    },
}

impl Source {
    /// The project path it reads.
    pub fn path(&self) -> &Path {
        match self {
            Source::Dir(p) | Source::Tarball(p) | Source::Git { repo: p, .. } => p,
        }
    }
}

/// A role to install under `name`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Role {
    pub name: String,
    pub source: Source,
}

/// An `ansible` step's dependencies and the files that declared them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Requirements {
    /// The requirements files read (project paths).
    pub files: Vec<PathBuf>,
    pub roles: Vec<Role>,
    pub collections: Vec<Source>,
}

impl Requirements {
    /// Whether there is anything to install.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.collections.is_empty()
    }
}

/// The requirements files Ansible tooling looks for beside a playbook.
pub const CONVENTIONAL: &[&str] = &[
    "requirements.yml",
    "roles/requirements.yml",
    "collections/requirements.yml",
];

/// Reads the requirements of the playbook at `playbook` (a project path): `explicit`
/// when given, else the [`CONVENTIONAL`] files that exist beside it.
///
/// # Errors
/// One diagnostic per refused entry, each at its file, line and column.
pub fn load(
    root: &Root,
    playbook: &Path,
    explicit: Option<&Path>,
) -> Result<Requirements, Vec<Diagnostic>> {
    let base = playbook.parent().unwrap_or_else(|| Path::new(""));
    let files: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => CONVENTIONAL
            .iter()
            .map(|c| base.join(c))
            .filter(|p| root.real().join(p).is_file())
            .collect(),
    };
    let mut out = Requirements {
        files: files.clone(),
        ..Requirements::default()
    };
    let mut errors = Vec::new();
    for file in &files {
        let shown = file.display().to_string();
        let at = |line: usize, column: usize, field: Option<String>, message: String| Diagnostic {
            file: file.clone(),
            line,
            column,
            field,
            message,
        };
        let text = match root.read(&root.real().join(file), &shown) {
            Ok(t) => t,
            Err(why) => {
                errors.push(at(1, 1, None, why));
                continue;
            }
        };
        let doc = match yaml::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                errors.push(at(e.line, e.column, None, e.message));
                continue;
            }
        };
        let reader = Reader {
            root,
            base,
            file,
            errors: &mut errors,
        };
        reader.document(&doc, &mut out);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

struct Reader<'a> {
    root: &'a Root,
    base: &'a Path,
    file: &'a Path,
    errors: &'a mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn refuse(&mut self, node: &Node, field: String, message: String) {
        self.errors.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: node.line,
            column: node.column,
            field: Some(field),
            message,
        });
    }

    fn document(mut self, doc: &Node, out: &mut Requirements) {
        match &doc.value {
            Value::Null => {}
            // The old layout: a list of roles.
            Value::Seq(items) => self.roles(items, "", out),
            Value::Map(entries) => {
                for (key, value) in entries {
                    let name = key.as_key().unwrap_or_default();
                    let items = match &value.value {
                        Value::Seq(items) => items.as_slice(),
                        Value::Null => &[],
                        _ => {
                            self.refuse(value, name.clone(), format!("`{name}` is a list"));
                            continue;
                        }
                    };
                    match name.as_str() {
                        "roles" => self.roles(items, "roles", out),
                        "collections" => self.collections(items, out),
                        _ => self.refuse(
                            key,
                            name.clone(),
                            format!("`{name}` is not a requirements key; expected `roles` or `collections`"),
                        ),
                    }
                }
            }
            _ => self.refuse(
                doc,
                String::new(),
                "a requirements file is a list of roles, or a mapping with `roles` and `collections`".into(),
            ),
        }
    }

    fn roles(&mut self, items: &[Node], prefix: &str, out: &mut Requirements) {
        for (i, item) in items.iter().enumerate() {
            let field = if prefix.is_empty() {
                format!("[{i}]")
            } else {
                format!("{prefix}[{i}]")
            };
            if let Some(role) = self.role(item, &field) {
                out.roles.push(role);
            }
        }
    }

    fn role(&mut self, item: &Node, field: &str) -> Option<Role> {
        let (src_node, name, scm, version) = match &item.value {
            Value::Str(_) => (item, None, None, None),
            Value::Map(_) => {
                if let Some(include) = item.get("include") {
                    self.refuse(
                        include,
                        format!("{field}.include"),
                        "`include` of another requirements file is not followed; list the roles here".into(),
                    );
                    return None;
                }
                let Some(src) = item.get("src").or_else(|| item.get("name")) else {
                    self.refuse(item, field.into(), "a role needs `src`".into());
                    return None;
                };
                let name = item
                    .get("src")
                    .and(item.get("name"))
                    .and_then(Node::as_str)
                    .map(str::to_string);
                let scm = item.get("scm").and_then(Node::as_str).map(str::to_string);
                let version = item.get("version").and_then(scalar);
                (src, name, scm, version)
            }
            _ => {
                self.refuse(
                    item,
                    field.into(),
                    "a role is a name or a mapping with `src`".into(),
                );
                return None;
            }
        };
        let src_field = match &item.value {
            Value::Map(_) if item.get("src").is_some() => format!("{field}.src"),
            Value::Map(_) => format!("{field}.name"),
            _ => field.to_string(),
        };
        let written = src_node.as_str().unwrap_or_default().to_string();
        if let Some(why) = remote(&written) {
            self.refuse(
                src_node,
                src_field,
                format!("role `{written}` {why}; envctl installs dependencies offline, from the project: vendor the role as a directory, a tarball or a git checkout in the project and give its path as `src`"),
            );
            return None;
        }
        let path = self.local(src_node, &src_field, &written)?;
        let real = self.root.real().join(&path);
        let source = match scm.as_deref() {
            Some("git") if real.is_dir() => Source::Git {
                repo: path.clone(),
                version,
            },
            Some("git") => {
                self.refuse(
                    src_node,
                    src_field,
                    format!("`{written}` is not a git checkout in the project (`scm: git` clones a directory)"),
                );
                return None;
            }
            Some(other) => {
                self.refuse(
                    item.get("scm").unwrap_or(item),
                    format!("{field}.scm"),
                    format!("`scm: {other}` is not supported; envctl installs roles from directories, tarballs and git checkouts"),
                );
                return None;
            }
            None if real.is_dir() => Source::Dir(path.clone()),
            None if is_tarball(&written) => Source::Tarball(path.clone()),
            None => {
                self.refuse(
                    src_node,
                    src_field,
                    format!("`{written}` is neither a role directory nor a tarball (.tar.gz, .tgz, .tar)"),
                );
                return None;
            }
        };
        let name = name.unwrap_or_else(|| default_name(&path));
        if !valid_name(&name) {
            self.refuse(
                item,
                format!("{field}.name"),
                format!("`{name}` is not a role name (letters, digits, `_`, `-`, `.`)"),
            );
            return None;
        }
        Some(Role { name, source })
    }

    fn collections(&mut self, items: &[Node], out: &mut Requirements) {
        for (i, item) in items.iter().enumerate() {
            let field = format!("collections[{i}]");
            let (name_node, kind, version) = match &item.value {
                Value::Str(_) => (item, None, None),
                Value::Map(_) => {
                    if let Some(server) = item.get("source") {
                        self.refuse(
                            server,
                            format!("{field}.source"),
                            "`source` names a Galaxy server to download from; envctl installs collections offline, from the project".into(),
                        );
                        continue;
                    }
                    let Some(name) = item.get("name") else {
                        self.refuse(item, field, "a collection needs `name`".into());
                        continue;
                    };
                    let kind = item.get("type").and_then(Node::as_str).map(str::to_string);
                    let version = item.get("version").and_then(scalar);
                    (name, kind, version)
                }
                _ => {
                    self.refuse(
                        item,
                        field,
                        "a collection is a name or a mapping with `name`".into(),
                    );
                    continue;
                }
            };
            let name_field = if matches!(item.value, Value::Map(_)) {
                format!("{field}.name")
            } else {
                field.clone()
            };
            let written = name_node.as_str().unwrap_or_default().to_string();
            let looks_local =
                written.contains('/') || is_tarball(&written) || written.starts_with('.');
            if let Some(why) = remote(&written).or_else(|| {
                (!looks_local && matches!(kind.as_deref(), None | Some("galaxy")))
                    .then_some("would be downloaded from Ansible Galaxy")
            }) {
                self.refuse(
                    name_node,
                    name_field,
                    format!("collection `{written}` {why}; envctl installs dependencies offline, from the project: vendor it (`ansible-galaxy collection download {written}` writes a tarball) and give the file's path as `name`"),
                );
                continue;
            }
            let Some(path) = self.local(name_node, &name_field, &written) else {
                continue;
            };
            let real = self.root.real().join(&path);
            let source = match kind.as_deref() {
                Some("git") if real.is_dir() => Source::Git {
                    repo: path,
                    version,
                },
                None | Some("dir") if real.is_dir() => Source::Dir(path),
                None | Some("file") if real.is_file() => Source::Tarball(path),
                Some(other @ ("git" | "dir" | "file")) => {
                    self.refuse(
                        name_node,
                        name_field,
                        format!("`{written}` does not match `type: {other}`"),
                    );
                    continue;
                }
                Some(other) => {
                    self.refuse(
                        item.get("type").unwrap_or(item),
                        format!("{field}.type"),
                        format!("`type: {other}` is not supported offline; use `file`, `dir` or `git` with a path in the project"),
                    );
                    continue;
                }
                None => {
                    self.refuse(
                        name_node,
                        name_field,
                        format!("`{written}` is neither a collection tarball nor a directory"),
                    );
                    continue;
                }
            };
            out.collections.push(source);
        }
    }

    /// `written` (relative to the playbook's directory) as a project path, confined.
    fn local(&mut self, node: &Node, field: &str, written: &str) -> Option<PathBuf> {
        let stripped = written.strip_prefix("git+file://").unwrap_or(written);
        if Path::new(stripped).is_absolute() {
            self.refuse(
                node,
                field.into(),
                Refused::Outside(written.into()).to_string(),
            );
            return None;
        }
        let joined = self.base.join(stripped);
        match self.root.confine(&self.root.real().join(&joined), written) {
            Ok(real) => {
                if real.is_dir() {
                    if let Err(why) = self.root.tree(&real, written) {
                        self.refuse(node, field.into(), why.to_string());
                        return None;
                    }
                }
                Some(
                    real.strip_prefix(self.root.real())
                        .map_or(joined, Path::to_path_buf),
                )
            }
            Err(why) => {
                self.refuse(node, field.into(), why.to_string());
                None
            }
        }
    }
}

fn scalar(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

/// Why `written` would be fetched from the network, if it would.
fn remote(written: &str) -> Option<&'static str> {
    if written.starts_with("git+file://") {
        return None;
    }
    if written.contains("://") || written.starts_with("git@") || written.starts_with("git+") {
        return Some("would be downloaded");
    }
    // A Galaxy role is `namespace.name`: no slash, not a file.
    let local = written.contains('/') || written.starts_with('.') || is_tarball(written);
    (!local).then_some("would be downloaded from Ansible Galaxy")
}

fn is_tarball(written: &str) -> bool {
    [".tar.gz", ".tgz", ".tar"]
        .iter()
        .any(|ext| written.ends_with(ext))
}

/// A role's name from its path: the last part, without a tarball's extension.
fn default_name(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for ext in [".tar.gz", ".tgz", ".tar", ".git"] {
        if let Some(stem) = base.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    base
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn local_roles_and_collections_are_read_from_beside_the_playbook() {
        let dir = project(&[
            ("play/site.yml", "[]\n"),
            (
                "play/requirements.yml",
                "roles:\n  - src: ../vendor/nginx\n  - src: ../vendor/motd-1.0.tar.gz\n    name: motd\n  - src: ../vendor/repo\n    scm: git\n    version: v2\ncollections:\n  - name: ../vendor/acme-tools-1.0.0.tar.gz\n  - name: ../vendor/acme-web\n    type: dir\n",
            ),
            ("vendor/nginx/tasks/main.yml", "[]\n"),
            ("vendor/motd-1.0.tar.gz", "x"),
            ("vendor/repo/tasks/main.yml", "[]\n"),
            ("vendor/acme-tools-1.0.0.tar.gz", "x"),
            ("vendor/acme-web/galaxy.yml", "x"),
        ]);
        let root = Root::new(dir.path());
        let r = load(&root, Path::new("play/site.yml"), None).unwrap();
        assert_eq!(r.files, [PathBuf::from("play/requirements.yml")]);
        assert_eq!(
            r.roles,
            [
                Role {
                    name: "nginx".into(),
                    source: Source::Dir("vendor/nginx".into())
                },
                Role {
                    name: "motd".into(),
                    source: Source::Tarball("vendor/motd-1.0.tar.gz".into())
                },
                Role {
                    name: "repo".into(),
                    source: Source::Git {
                        repo: "vendor/repo".into(),
                        version: Some("v2".into())
                    }
                },
            ]
        );
        assert_eq!(
            r.collections,
            [
                Source::Tarball("vendor/acme-tools-1.0.0.tar.gz".into()),
                Source::Dir("vendor/acme-web".into())
            ]
        );
    }

    #[test]
    fn anything_that_would_be_downloaded_is_refused_at_its_line() {
        let dir = project(&[
            ("site.yml", "[]\n"),
            (
                "requirements.yml",
                "roles:\n  - name: geerlingguy.nginx\n  - src: https://github.com/x/y/archive/1.0.tar.gz\n    name: y\n  - src: git+https://example.org/r.git\ncollections:\n  - community.general\n  - name: acme.tools\n    source: https://galaxy.example.org\n  - name: https://example.org/c.tar.gz\n    type: url\n",
            ),
        ]);
        let root = Root::new(dir.path());
        let errors = load(&root, Path::new("site.yml"), None).unwrap_err();
        let at: Vec<(usize, String)> = errors
            .iter()
            .map(|d| (d.line, d.field.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            at,
            [
                (2, "roles[0].name".to_string()),
                (3, "roles[1].src".to_string()),
                (5, "roles[2].src".to_string()),
                (7, "collections[0]".to_string()),
                (9, "collections[1].source".to_string()),
                (10, "collections[2].name".to_string()),
            ]
        );
        assert!(errors[0].message.contains("Ansible Galaxy"), "{errors:?}");
        assert!(
            errors[3]
                .message
                .contains("ansible-galaxy collection download"),
            "{errors:?}"
        );
        assert!(errors
            .iter()
            .all(|d| d.file == Path::new("requirements.yml")));
    }

    #[test]
    fn sources_outside_the_project_or_missing_are_refused() {
        let dir = project(&[
            ("site.yml", "[]\n"),
            (
                "requirements.yml",
                "- src: ../outside\n- src: /etc\n- src: git+file:///srv/repo\n  scm: git\n- src: ./missing.tar.gz\n- src: ./site.yml\n",
            ),
        ]);
        let root = Root::new(dir.path());
        let errors = load(&root, Path::new("site.yml"), None).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|d| d.line).collect();
        assert_eq!(lines, [1, 2, 3, 5, 6], "{errors:?}");
        assert!(errors[0].message.contains("outside the project"));
        assert!(errors[3].message.contains("does not exist"));
        assert!(errors[4].message.contains("neither a role directory"));
    }

    #[test]
    fn no_requirements_file_means_nothing_to_install() {
        let dir = project(&[("site.yml", "[]\n")]);
        let r = load(&Root::new(dir.path()), Path::new("site.yml"), None).unwrap();
        assert!(r.is_empty() && r.files.is_empty());
    }
}
