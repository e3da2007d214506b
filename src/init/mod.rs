//! `envctl init`: a new project whose `envctl test` passes as written, or one built from
//! what the directory already holds: an Ansible role with a Molecule scenario
//! ([`molecule`]), a Puppet module ([`puppet`]), a goss file. [`plan`] decides the files,
//! [`write`] creates them; nothing that exists is overwritten.

pub mod molecule;
pub mod puppet;
mod role_tasks;

use std::path::{Path, PathBuf};

/// The files `init` creates, relative to the project root, and what it says about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffold {
    /// The environment it defines.
    pub environment: String,
    /// What was found (`an Ansible role with the Molecule scenario molecule/default`).
    pub found: String,
    pub files: Vec<(PathBuf, String)>,
    /// Remarks for the person (what was guessed, what to check).
    pub notes: Vec<String>,
}

/// Why `init` refused.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "{0} already exists: this directory is a project already (`envctl validate` checks it)"
    )]
    AlreadyAProject(String),
    #[error("{0} already exists; envctl init never overwrites a file: move it away, or start in an empty directory")]
    Exists(String),
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The goss file `init` recognises at the top of a checkout.
const GOSS_FILES: &[&str] = &["goss.yaml", "goss.yml"];

/// Decides what `init` writes in `root`.
///
/// # Errors
/// [`InitError`] when `root` is a project already, a file to write exists, or the files
/// it builds from do not read.
pub fn plan(root: &Path) -> Result<Scaffold, InitError> {
    let environments = root.join("environments");
    if environments.exists() {
        return Err(InitError::AlreadyAProject(
            environments.display().to_string(),
        ));
    }
    let mut scaffold = if let Some(scenario) = molecule::find(root) {
        molecule::scaffold(root, &scenario)?
    } else if puppet::is_module(root) {
        puppet::scaffold(root)?
    } else if let Some(goss) = goss_file(root) {
        goss_only(&goss)
    } else {
        starter()
    };
    if scaffold.found != "goss" {
        if let Some(goss) = goss_file(root) {
            add_goss(&mut scaffold, &goss);
        }
    }
    for (path, _) in &scaffold.files {
        if root.join(path).exists() {
            return Err(InitError::Exists(root.join(path).display().to_string()));
        }
    }
    Ok(scaffold)
}

/// Creates the scaffold's files; `.gitignore` gets `.envctl/` (envctl's local state).
///
/// # Errors
/// I/O errors; a file that appeared since [`plan`] is not overwritten.
pub fn write(root: &Path, scaffold: &Scaffold) -> Result<(), InitError> {
    use std::io::Write;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| InitError::Io { path, source }
    };
    for (relative, text) in &scaffold.files {
        let path = root.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(text.as_bytes()).map_err(io(&path))?;
    }
    let ignore = root.join(".gitignore");
    let existing = match std::fs::read_to_string(&ignore) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(&ignore)(e)),
    };
    if !existing
        .lines()
        .any(|l| matches!(l.trim(), ".envctl/" | ".envctl" | "/.envctl/" | "/.envctl"))
    {
        let sep = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        std::fs::write(&ignore, format!("{existing}{sep}.envctl/\n")).map_err(io(&ignore))?;
    }
    Ok(())
}

/// The goss file at the top of `root`, if any.
fn goss_file(root: &Path) -> Option<String> {
    GOSS_FILES
        .iter()
        .find(|f| root.join(f).is_file())
        .map(|f| (*f).to_string())
}

/// A goss spec for `node` of `environment` that includes the checkout's goss file.
fn goss_spec(environment: &str, node: &str, goss: &str) -> (PathBuf, String) {
    (
        PathBuf::from(format!("specs/{environment}/{node}.goss.yaml")),
        format!(
            "# Written by `envctl init`: the checkout's goss file, judged on node `{node}` as goss\n\
             # would judge it there (docs/specs.md#goss-files).\n\
             gossfile:\n  ../../{goss}: {{}}\n"
        ),
    )
}

/// Adds the goss file as a spec of the scaffold's first node.
fn add_goss(scaffold: &mut Scaffold, goss: &str) {
    let Some(node) = first_node(scaffold) else {
        return;
    };
    let spec = goss_spec(&scaffold.environment, &node, goss);
    scaffold.files.push(spec);
    scaffold
        .notes
        .push(format!("{goss} is verified on node `{node}` too"));
}

/// The first `[nodes.NAME]` of the scaffold's environment file.
fn first_node(scaffold: &Scaffold) -> Option<String> {
    let (_, env) = scaffold.files.first()?;
    env.lines()
        .find_map(|l| l.strip_prefix("[nodes.")?.strip_suffix(']'))
        .map(String::from)
}

/// A node envctl can start from nothing: the Debian base it builds without a registry,
/// kept running by `sleep` (the base has no command of its own).
const PLAIN_NODE: &str = "image = \"debian:bookworm\"          # envctl builds it with debootstrap when missing\ncommand = [\"sleep\", \"infinity\"]\n";

/// A checkout with only a goss file: one node the file is verified on.
fn goss_only(goss: &str) -> Scaffold {
    let env = format!(
        "# Built by `envctl init` from {goss}: one node it is verified on. Add the provisioning\n\
         # that makes its checks hold (docs/definitions.md#provisioning-steps).\n\
         description = \"a node {goss} is verified on\"\n\n[nodes.node]\n{PLAIN_NODE}"
    );
    Scaffold {
        environment: "goss".into(),
        found: "goss".into(),
        files: vec![
            ("environments/goss.toml".into(), env),
            goss_spec("goss", "node", goss),
        ],
        notes: vec![format!(
            "node `node` is a plain Debian node: add the provisioning steps that make {goss} hold"
        )],
    }
}

/// A project for an empty directory: one Debian node, provisioned by a copy step, and
/// specs that hold for it.
fn starter() -> Scaffold {
    let env = format!(
        "# A first environment: one Debian node, provisioned by one step. `envctl test` brings\n\
         # it up, checks that provisioning is idempotent, runs specs/dev/*.toml and removes it.\n\
         # Add nodes, ports, health checks and steps as production has them (docs/definitions.md).\n\
         description = \"a first envctl environment\"\n\n[nodes.web]\n{PLAIN_NODE}\
         provision = [\n  {{ copy = \"provision/greeting.txt\", to = \"/srv/greeting.txt\", mode = \"0644\" }},\n]\n"
    );
    let spec = r#"# What must hold on the running environment (docs/specs.md).
[[file]]
title = "the greeting is in place"
node = "web"
path = "/srv/greeting.txt"
mode = "0644"
contains = ["hello from envctl"]

[[command]]
title = "the node runs Debian"
node = "web"
run = "cat /etc/debian_version"
exit = 0
"#;
    Scaffold {
        environment: "dev".into(),
        found: "an empty directory".into(),
        files: vec![
            ("environments/dev.toml".into(), env),
            ("specs/dev/web.toml".into(), spec.into()),
            (
                "provision/greeting.txt".into(),
                "hello from envctl\n".into(),
            ),
        ],
        notes: vec![],
    }
}

/// A TOML string literal.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// An outside name (a platform, a role) as an envctl node name: lowercase a-z 0-9 - _,
/// starting with a letter, at most 48 characters.
fn node_name(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "n-");
        out.truncate(48);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes the scaffold and loads it as envctl would: environment and specs valid.
    pub(super) fn loads(root: &Path, s: &Scaffold) -> usize {
        write(root, s).unwrap();
        let env = crate::model::environment::load(root, &s.environment).unwrap();
        crate::model::spec::load(root, &env).unwrap().len()
    }

    #[test]
    fn an_empty_directory_gets_the_starter_project() {
        let dir = tempfile::tempdir().unwrap();
        let s = plan(dir.path()).unwrap();
        assert_eq!(s.environment, "dev");
        assert_eq!(loads(dir.path(), &s), 2);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
            ".envctl/\n"
        );
    }

    #[test]
    fn a_project_is_not_initialised_twice() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("environments")).unwrap();
        assert!(matches!(
            plan(dir.path()),
            Err(InitError::AlreadyAProject(_))
        ));
    }

    #[test]
    fn existing_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("provision")).unwrap();
        std::fs::write(dir.path().join("provision/greeting.txt"), "mine").unwrap();
        assert!(matches!(plan(dir.path()), Err(InitError::Exists(_))));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("provision/greeting.txt")).unwrap(),
            "mine"
        );
        assert!(!dir.path().join("environments").exists());
    }

    #[test]
    fn gitignore_gains_the_state_directory_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "target/").unwrap();
        let s = Scaffold {
            environment: "e".into(),
            found: String::new(),
            files: vec![],
            notes: vec![],
        };
        write(dir.path(), &s).unwrap();
        write(dir.path(), &s).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
            "target/\n.envctl/\n"
        );
    }

    #[test]
    fn a_goss_file_gets_a_node_it_is_verified_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("goss.yaml"),
            "file:\n  /etc/debian_version:\n    exists: true\n",
        )
        .unwrap();
        let s = plan(dir.path()).unwrap();
        assert_eq!(s.environment, "goss");
        assert_eq!(loads(dir.path(), &s), 1);
    }

    #[test]
    fn names_become_valid_node_names() {
        assert_eq!(node_name("Instance"), "instance");
        assert_eq!(node_name("debian 12"), "debian-12");
        assert_eq!(node_name("12-debian"), "n-12-debian");
    }
}
