//! An `ansible` step's roles and collections, installed from the project before the
//! playbook runs, into a per-project cache: `.envctl/deps/ansible/KEY/{roles,collections}`,
//! where KEY covers the requirements files and every source's bytes, so an edit to either
//! installs again and nothing else does. Role directories are copied as they are; role
//! tarballs and git checkouts, and every collection, are installed by the real
//! `ansible-galaxy` (`--offline`, `--no-deps`, its server pointed at a closed port), so
//! nothing is fetched: what the project does not hold, the playbook does not get.

use crate::model::ansible_requirements::{Requirements, Source};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A Galaxy server that cannot answer: any lookup `ansible-galaxy` would make fails at
/// once instead of reaching out.
const NO_SERVER: &str = "http://127.0.0.1:9";

/// Where the dependencies are, for `ANSIBLE_ROLES_PATH` and `ANSIBLE_COLLECTIONS_PATH`.
pub struct Installed {
    pub roles: PathBuf,
    pub collections: PathBuf,
    /// What to show in the provisioning log.
    pub output: String,
}

/// Installs `deps` (or finds them installed) for the playbook run from `cwd`.
///
/// # Errors
/// `(reason, output)`: a source that cannot be read, `ansible-galaxy` missing or failing.
pub async fn install(
    root: &Path,
    deps: &Requirements,
    galaxy: &Path,
    cwd: &Path,
    timeout: Duration,
) -> Result<Installed, (String, String)> {
    let key = crate::plan::hash::dependencies_key(root, deps).map_err(|e| {
        (
            format!("reading the step's dependencies: {e}"),
            String::new(),
        )
    })?;
    let base = root.join(".envctl/deps/ansible");
    let dir = base.join(&key[..16]);
    let installed = |output: String| Installed {
        roles: dir.join("roles"),
        collections: dir.join("collections"),
        output,
    };
    let summary = format!(
        "{} role(s), {} collection(s) from {}",
        deps.roles.len(),
        deps.collections.len(),
        deps.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if dir.join(".complete").is_file() {
        return Ok(installed(format!(
            "=== dependencies: {summary}, installed before (.envctl/deps/ansible/{})\n",
            &key[..16]
        )));
    }
    let io = |what: &str, e: std::io::Error| (format!("{what}: {e}"), String::new());
    std::fs::create_dir_all(&base).map_err(|e| io("creating .envctl/deps", e))?;
    let work = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(&base)
        .map_err(|e| io("creating .envctl/deps", e))?;
    let roles = work.path().join("roles");
    let collections = work.path().join("collections");
    std::fs::create_dir_all(&roles).map_err(|e| io("creating .envctl/deps", e))?;
    std::fs::create_dir_all(&collections).map_err(|e| io("creating .envctl/deps", e))?;
    let mut output = format!("=== dependencies: {summary}, installing\n");
    // Role directories: copied as they are. The rest goes through ansible-galaxy, from a
    // requirements file naming absolute paths (its relative paths are read from its cwd).
    let mut galaxy_roles = Vec::new();
    for role in &deps.roles {
        let from = root.join(role.source.path());
        match &role.source {
            Source::Dir(_) => {
                copy_tree(&from, &roles.join(&role.name))
                    .map_err(|e| io(&format!("copying role `{}`", role.name), e))?;
                output.push_str(&format!(
                    "- {} copied from {}\n",
                    role.name,
                    role.source.path().display()
                ));
            }
            Source::Tarball(_) => galaxy_roles.push(serde_json::json!({
                "src": from.display().to_string(),
                "name": role.name,
            })),
            Source::Git { version, .. } => {
                let mut entry = serde_json::json!({
                    "src": format!("git+file://{}", from.display()),
                    "scm": "git",
                    "name": role.name,
                });
                if let Some(v) = version {
                    entry["version"] = v.clone().into();
                }
                galaxy_roles.push(entry);
            }
        }
    }
    let galaxy_collections: Vec<serde_json::Value> = deps
        .collections
        .iter()
        .map(|source| {
            let from = root.join(source.path());
            match source {
                Source::Dir(_) => {
                    serde_json::json!({"name": from.display().to_string(), "type": "dir"})
                }
                Source::Tarball(_) => {
                    serde_json::json!({"name": from.display().to_string(), "type": "file"})
                }
                Source::Git { version, .. } => {
                    let mut entry = serde_json::json!({
                        "name": format!("git+file://{}", from.display()),
                        "type": "git",
                    });
                    if let Some(v) = version {
                        entry["version"] = v.clone().into();
                    }
                    entry
                }
            }
        })
        .collect();
    for (kind, entries, target) in [
        ("role", &galaxy_roles, &roles),
        ("collection", &galaxy_collections, &collections),
    ] {
        if entries.is_empty() {
            continue;
        }
        let file = work.path().join(format!("{kind}s.yml"));
        let doc = serde_json::json!({ format!("{kind}s"): entries });
        // JSON is YAML, as ansible-galaxy reads it.
        std::fs::write(&file, doc.to_string()).map_err(|e| io("writing requirements", e))?;
        let mut cmd = tokio::process::Command::new(galaxy);
        cmd.args([kind, "install", "--no-deps", "-r"])
            .arg(&file)
            .arg("-p")
            .arg(target);
        if kind == "collection" {
            cmd.arg("--offline");
        }
        cmd.current_dir(cwd)
            .env("ANSIBLE_GALAXY_SERVER", NO_SERVER)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", work.path().join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| {
            (
                format!("cannot run {}: {e}", galaxy.display()),
                output.clone(),
            )
        })?;
        let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err((e.to_string(), output)),
            Err(_) => {
                return Err((
                    format!(
                        "installing the step's {kind}s did not finish within {}",
                        crate::wait::human(timeout)
                    ),
                    output,
                ))
            }
        };
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return Err((
                format!(
                    "ansible-galaxy {kind} install exited with {} installing the dependencies in {} from the project (nothing is downloaded)",
                    out.status.code().map_or("a signal".into(), |c| c.to_string()),
                    deps.files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                output,
            ));
        }
    }
    std::fs::write(work.path().join(".complete"), "").map_err(|e| io("writing .envctl/deps", e))?;
    let work = work.keep();
    // Another run may have installed the same key meanwhile: its copy is as good.
    if std::fs::rename(&work, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(installed(output))
}

/// `ansible-galaxy` beside `playbook_program`, else on `PATH`.
pub fn galaxy_program(playbook_program: &Path) -> Option<PathBuf> {
    let beside = playbook_program.with_file_name("ansible-galaxy");
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("ansible-galaxy"))
        .find(|p| p.is_file())
}

/// Copies a directory tree; symlinks are copied as links (the model checked they stay in
/// the project).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A search path with envctl's directory first, then what the user configured (the
/// environment, else the applicable ansible.cfg's `key`), else Ansible's defaults.
pub fn search_path(first: &Path, env: &str, configured: Option<String>, defaults: &str) -> String {
    let rest = std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .or(configured)
        .unwrap_or_else(|| defaults.to_string());
    format!("{}:{rest}", first.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envctls_directory_comes_first_and_the_users_paths_stay() {
        let p = search_path(
            Path::new("/p/.envctl/deps/ansible/k/roles"),
            "ENVCTL_TEST_UNSET_ROLES_PATH",
            Some("roles:/srv/roles".into()),
            "~/.ansible/roles",
        );
        assert_eq!(p, "/p/.envctl/deps/ansible/k/roles:roles:/srv/roles");
        let p = search_path(
            Path::new("/c"),
            "ENVCTL_TEST_UNSET_ROLES_PATH",
            None,
            "~/.ansible/roles:/usr/share/ansible/roles",
        );
        assert_eq!(p, "/c:~/.ansible/roles:/usr/share/ansible/roles");
    }

    #[test]
    fn role_directories_are_copied_with_their_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("r/tasks")).unwrap();
        std::fs::write(dir.path().join("r/tasks/main.yml"), "[]\n").unwrap();
        std::os::unix::fs::symlink("tasks/main.yml", dir.path().join("r/link.yml")).unwrap();
        copy_tree(&dir.path().join("r"), &dir.path().join("out")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/tasks/main.yml")).unwrap(),
            "[]\n"
        );
        assert_eq!(
            std::fs::read_link(dir.path().join("out/link.yml")).unwrap(),
            Path::new("tasks/main.yml")
        );
    }
}
