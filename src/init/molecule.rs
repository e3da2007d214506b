//! An Ansible role checkout with a Molecule scenario (`molecule/SCENARIO/molecule.yml`)
//! becomes an environment: one node per platform (its groups; systemd when the platform
//! boots an init), provisioned by the scenario's converge playbook through a top-level
//! playbook that imports it, with the role found as Molecule finds it (by its directory
//! name, from the checkout's parent directory), and a spec skeleton from the role's tasks.

use super::{node_name, toml_str, InitError, Scaffold};
use crate::model::yaml::{self, Node, Value};
use std::path::{Path, PathBuf};

/// The top-level playbook `init` writes: it imports the scenario's converge playbook.
pub const PLAYBOOK: &str = "envctl-converge.yml";

/// A scenario directory, relative to the root (`molecule/default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    pub dir: PathBuf,
}

/// The scenario to build from: `default` when there is one, else the first by name.
pub fn find(root: &Path) -> Option<Scenario> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("molecule"))
        .ok()?
        .flatten()
        .filter(|e| e.path().join("molecule.yml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let name = if names.iter().any(|n| n == "default") {
        "default".to_string()
    } else {
        names.into_iter().next()?
    };
    Some(Scenario {
        dir: PathBuf::from("molecule").join(&name),
        name,
    })
}

/// One Molecule platform, as far as envctl uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Platform {
    name: String,
    image: Option<String>,
    groups: Vec<String>,
    systemd: bool,
}

/// The files for `scenario` of the role at `root`.
///
/// # Errors
/// [`InitError::Invalid`] for a molecule.yml that does not read, has no platforms, or
/// whose converge playbook is missing.
pub fn scaffold(root: &Path, scenario: &Scenario) -> Result<Scaffold, InitError> {
    let file = scenario.dir.join("molecule.yml");
    let doc = read_yaml(root, &file)?;
    let invalid = |line: usize, message: String| InitError::Invalid {
        path: file.display().to_string(),
        line,
        message,
    };
    let platforms = platforms(&doc).map_err(|(line, m)| invalid(line, m))?;
    let converge_key = doc
        .get("provisioner")
        .and_then(|p| p.get("playbooks"))
        .and_then(|p| p.get("converge"));
    let converge = scenario.dir.join(
        converge_key
            .and_then(Node::as_str)
            .unwrap_or("converge.yml"),
    );
    if !root.join(&converge).is_file() {
        return Err(invalid(
            converge_key.map_or(doc.line, |k| k.line),
            format!("the converge playbook {} is missing", converge.display()),
        ));
    }
    let environment = if scenario.name == "default" {
        "molecule".to_string()
    } else {
        format!("molecule-{}", node_name(&scenario.name))
    };
    let role = root
        .canonicalize()
        .ok()
        .and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "role".into());
    let mut notes = Vec::new();
    let mut env = format!(
        "# Built by `envctl init` from {file}: one node per Molecule platform, provisioned by\n\
         # the scenario's converge playbook ({converge}, through {PLAYBOOK}).\n\
         description = {}\n",
        toml_str(&format!(
            "the {role} role, as Molecule's `{}` scenario converges it",
            scenario.name
        )),
        file = file.display(),
        converge = converge.display(),
    );
    let mut nodes = Vec::new();
    for p in &platforms {
        let name = node_name(&p.name);
        if nodes.contains(&name) {
            return Err(invalid(
                doc.get("platforms").map_or(1, |n| n.line),
                format!("two platforms become node `{name}`; rename one"),
            ));
        }
        env.push_str(&format!("\n[nodes.{name}]\n"));
        match p.image.as_deref() {
            Some(image) if crate::backend::docker::bootstrap::suite_for(image).is_some() => {
                env.push_str(&format!("image = {}\n", toml_str(image)));
            }
            other => {
                if let Some(image) = other {
                    env.push_str(&format!(
                        "# Molecule's platform runs {}, which envctl cannot build without a registry;\n\
                         # this node starts from the Debian base envctl builds with debootstrap.\n",
                        toml_str(image)
                    ));
                    notes.push(format!(
                        "platform `{}`: its image {image} is not one envctl can build (no registry is needed for debian:bookworm, bullseye, trixie); the node starts from debian:bookworm",
                        p.name
                    ));
                }
                env.push_str("image = \"debian:bookworm\"\n");
            }
        }
        if p.systemd {
            env.push_str("init = \"systemd\"\n");
        } else {
            env.push_str("command = [\"sleep\", \"infinity\"]\n");
        }
        if !p.groups.is_empty() {
            let groups: Vec<String> = p.groups.iter().map(|g| toml_str(g)).collect();
            env.push_str(&format!("groups = [{}]\n", groups.join(", ")));
        }
        env.push_str(&format!(
            "provision = [\n  {{ name = \"converge\", ansible = \"{PLAYBOOK}\" }},\n]\n"
        ));
        if name != p.name {
            notes.push(format!("platform `{}` is node `{name}`", p.name));
        }
        nodes.push(name);
    }
    let first = &nodes[0];
    let derived = match read_yaml(root, Path::new("tasks/main.yml")) {
        Ok(tasks) => super::role_tasks::assertions(&tasks, first),
        Err(_) => Vec::new(),
    };
    let mut spec = String::from(
        "# What the role must have done, checked on the running node (docs/specs.md): files,\n\
         # packages, services, ports. Written by `envctl init` from what tasks/main.yml plainly\n\
         # makes; add what it makes through variables, and what Molecule's verify checks.\n",
    );
    if derived.is_empty() {
        notes.push(format!(
            "specs/{environment}/{first}.toml only checks that the node runs: add what the role must have done"
        ));
        spec.push_str(&format!(
            "\n[[command]]\ntitle = \"the node runs\"\nnode = {}\nrun = \"true\"\nexit = 0\n",
            toml_str(first)
        ));
    }
    for a in &derived {
        spec.push('\n');
        spec.push_str(a);
    }
    let playbook = format!(
        "# Written by `envctl init`: the Molecule scenario's converge playbook, as envctl runs it.\n\
         - import_playbook: {}\n",
        converge.display()
    );
    let mut files = vec![
        (
            PathBuf::from(format!("environments/{environment}.toml")),
            env,
        ),
        (
            PathBuf::from(format!("specs/{environment}/{first}.toml")),
            spec,
        ),
        (PathBuf::from(PLAYBOOK), playbook),
    ];
    if root.join("ansible.cfg").exists() {
        notes.push(format!(
            "ansible.cfg exists: its roles_path must find the `{role}` role (Molecule puts the checkout's parent directory on it)"
        ));
    } else {
        files.push((
            PathBuf::from("ansible.cfg"),
            format!(
                "# Written by `envctl init`: roles resolve as under Molecule, this role by its\n\
                 # directory name (`{role}`) from the checkout's parent directory.\n\
                 [defaults]\nroles_path = ..:roles\n"
            ),
        ));
    }
    Ok(Scaffold {
        environment,
        found: format!(
            "an Ansible role with the Molecule scenario {}",
            scenario.dir.display()
        ),
        files,
        notes,
    })
}

fn read_yaml(root: &Path, file: &Path) -> Result<Node, InitError> {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| InitError::Io {
        path: path.display().to_string(),
        source,
    })?;
    yaml::parse(&text).map_err(|e| InitError::Invalid {
        path: file.display().to_string(),
        line: e.line,
        message: e.message,
    })
}

fn platforms(doc: &Node) -> Result<Vec<Platform>, (usize, String)> {
    let Some(list) = doc.get("platforms") else {
        return Err((
            doc.line,
            "no `platforms`: Molecule's scenario names the instances it creates there".into(),
        ));
    };
    let Value::Seq(items) = &list.value else {
        return Err((list.line, "`platforms` must be a list".into()));
    };
    let mut out = Vec::new();
    for item in items {
        let Some(name) = item.get("name").and_then(Node::as_str) else {
            return Err((item.line, "a platform needs a `name`".into()));
        };
        let groups = match item.get("groups").map(|g| &g.value) {
            Some(Value::Seq(gs)) => gs
                .iter()
                .filter_map(|g| g.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        let command = item.get("command").and_then(Node::as_str).unwrap_or("");
        let systemd = command.contains("systemd")
            || command.trim().ends_with("/init")
            || command.trim() == "init";
        out.push(Platform {
            name: name.to_string(),
            image: item.get("image").and_then(Node::as_str).map(String::from),
            groups,
            systemd,
        });
    }
    if out.is_empty() {
        return Err((list.line, "`platforms` is empty".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(molecule: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path().join("molecule/default");
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(s.join("molecule.yml"), molecule).unwrap();
        std::fs::write(s.join("converge.yml"), "- hosts: all\n  tasks: []\n").unwrap();
        dir
    }

    #[test]
    fn platforms_become_nodes_with_their_groups_and_init() {
        let dir = role(
            "---\ndriver:\n  name: docker\nplatforms:\n  - name: Instance.1\n    image: geerlingguy/docker-debian12-ansible:latest\n    command: /lib/systemd/systemd\n    groups: [web]\n  - name: db\n    image: debian:bookworm\n",
        );
        std::fs::create_dir_all(dir.path().join("tasks")).unwrap();
        std::fs::write(
            dir.path().join("tasks/main.yml"),
            "- copy:\n    content: hi\n    dest: /etc/motd.d/role\n",
        )
        .unwrap();
        let scenario = find(dir.path()).unwrap();
        let s = scaffold(dir.path(), &scenario).unwrap();
        assert_eq!(s.environment, "molecule");
        let env = &s.files[0].1;
        assert!(env.contains("[nodes.instance-1]\n"), "{env}");
        assert!(env.contains("init = \"systemd\""), "{env}");
        assert!(env.contains("groups = [\"web\"]"), "{env}");
        assert!(
            env.contains("[nodes.db]\nimage = \"debian:bookworm\"\ncommand"),
            "{env}"
        );
        assert!(
            s.notes.iter().any(|n| n.contains("geerlingguy")),
            "{:?}",
            s.notes
        );
        assert!(s.files[1].1.contains("path = \"/etc/motd.d/role\""));
        assert!(s.files.iter().any(|(p, t)| p == Path::new(PLAYBOOK)
            && t.contains("import_playbook: molecule/default/converge.yml")));
        assert_eq!(super::super::tests::loads(dir.path(), &s), 1);
    }

    #[test]
    fn a_scenario_without_platforms_is_refused_at_its_line() {
        let dir = role("---\ndriver:\n  name: docker\n");
        let scenario = find(dir.path()).unwrap();
        let err = scaffold(dir.path(), &scenario).unwrap_err().to_string();
        assert!(
            err.contains("molecule/default/molecule.yml:") && err.contains("platforms"),
            "{err}"
        );
    }

    #[test]
    fn without_a_molecule_directory_there_is_no_scenario() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find(dir.path()), None);
    }
}
