//! `ansible` steps: the user's playbook, unchanged, run by the real `ansible-playbook`
//! on this host against the node: a container through the `community.docker.docker_api`
//! connection (the Docker Engine's exec API; no SSH, no agent), a machine over ssh with
//! envctl's `ssh_config` ([`super::host`]). envctl writes the inventory: one host per
//! replica of every node, grouped by node name and the node's `groups`, with the
//! environment's `vars` as group `all` vars and imported host variables per host. The
//! engine is the one envctl uses (`DOCKER_HOST`, else the local socket; for an engine
//! over ssh or TLS, envctl's own socket that leads there).

use super::host::DOCKER_CONNECTION as CONNECTION;
use super::Target;
use crate::model::ansible_requirements::Requirements;
use crate::model::Environment;
use serde_json::Value;

type Mapping = serde_json::Map<String, Value>;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What a playbook run produced.
pub struct Played {
    pub output: String,
    /// Tasks (and handlers) that reported `changed`.
    pub changed: Vec<String>,
}

/// Runs `playbook` limited to the node being provisioned.
///
/// # Errors
/// `(reason, output)`: ansible-playbook missing, the node lacking python3, or the play
/// failing.
pub async fn run(
    target: &Target<'_>,
    playbook: &Path,
    dependencies: &Requirements,
    timeout: Duration,
) -> Result<Played, (String, String)> {
    let program = find_program()?;
    let playbook_abs = target.root.join(playbook);
    // Run where the playbook lives, so the ansible.cfg beside it applies, as in production.
    let cwd = playbook_abs
        .parent()
        .map_or_else(|| target.root.to_path_buf(), Path::to_path_buf);
    let installed = if dependencies.is_empty() {
        None
    } else {
        let galaxy = super::dependencies::galaxy_program(&program).ok_or_else(|| {
            (
                format!("ansible-galaxy, which installs the roles and collections of {}, is not installed on this host (it comes with ansible-playbook)", playbook.display()),
                String::new(),
            )
        })?;
        Some(super::dependencies::install(target.root, dependencies, &galaxy, &cwd, timeout).await?)
    };
    let mut output = installed
        .as_ref()
        .map(|i| i.output.clone())
        .unwrap_or_default();
    output.push_str(
        &ensure_python(target)
            .await
            .map_err(|(r, o)| (r, format!("{output}{o}")))?,
    );
    let host = target
        .node
        .replica_names()
        .into_iter()
        .next()
        .unwrap_or_else(|| target.node.name.clone());
    let dir = tempfile::tempdir().map_err(|e| (e.to_string(), String::new()))?;
    let inventory_path = dir.path().join("inventory.yml");
    let endpoint = target.host.tool_endpoint(target.id);
    let connection = |id: &str| target.host.ansible_connection(id);
    let text = inventory(target.env, &target.hosts, &host, target.id, &connection);
    std::fs::write(&inventory_path, text).map_err(|e| (e.to_string(), String::new()))?;
    let mut changed = Vec::new();
    let pipelining = !pipelining_configured(&cwd);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut cmd = tokio::process::Command::new(&program);
        if pipelining {
            // One exec per task instead of several (temp dir, upload, run, clean up).
            cmd.env("ANSIBLE_PIPELINING", "True");
        }
        if let Some(i) = &installed {
            let cfg = applicable_cfg(&cwd);
            let configured = |key: &str| cfg.as_deref().and_then(|t| cfg_value(t, key));
            cmd.env(
                "ANSIBLE_ROLES_PATH",
                super::dependencies::search_path(
                    &i.roles,
                    "ANSIBLE_ROLES_PATH",
                    configured("roles_path"),
                    "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles",
                ),
            );
            cmd.env(
                "ANSIBLE_COLLECTIONS_PATH",
                super::dependencies::search_path(
                    &i.collections,
                    "ANSIBLE_COLLECTIONS_PATH",
                    configured("collections_path").or_else(|| configured("collections_paths")),
                    "~/.ansible/collections:/usr/share/ansible/collections",
                ),
            );
        }
        if let Some(endpoint) = &endpoint {
            // An engine over ssh or TLS (the playbook's connection goes through envctl's
            // socket), or the machine of a swarm that runs the node.
            cmd.env("DOCKER_HOST", endpoint)
                .env_remove("DOCKER_TLS_VERIFY")
                .env_remove("DOCKER_CERT_PATH");
        }
        cmd.arg("-i")
            .arg(&inventory_path)
            .arg("--limit")
            .arg(&host)
            .arg(&playbook_abs)
            .current_dir(&cwd)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_STDOUT_CALLBACK", "default")
            .env("ANSIBLE_LOCAL_TEMP", dir.path().join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| {
            (
                format!("cannot run {}: {e}", program.display()),
                String::new(),
            )
        })?;
        let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err((e.to_string(), output)),
            Err(_) => {
                return Err((
                    format!("did not finish within {}", crate::wait::human(timeout)),
                    output,
                ))
            }
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        output.push_str(&text);
        for task in changed_tasks(&text) {
            if !changed.contains(&task) {
                changed.push(task);
            }
        }
        if out.status.success() {
            break;
        }
        // The exec transport occasionally loses a command's output under load
        // (UNREACHABLE, not a task failure); the play is run once more.
        if attempt == 1 && text.contains("UNREACHABLE!") && !text.contains("FAILED!") {
            output.push_str(
                "envctl: the connection to the node failed (UNREACHABLE); running the playbook once more\n",
            );
            continue;
        }
        let mut reason = format!(
            "ansible-playbook {} exited with {}",
            playbook.display(),
            out.status
                .code()
                .map_or("a signal".into(), |c| c.to_string())
        );
        if lacks_connection_plugin(&text) {
            reason.push_str(&format!(
                "; {} cannot find the `{CONNECTION}` connection: install the community.docker collection (Debian's `ansible` package and PyPI's `ansible` include it; or `ansible-galaxy collection install community.docker`), or point ENVCTL_ANSIBLE_PLAYBOOK at an ansible-playbook that has it",
                program.display()
            ));
        }
        return Err((reason, output));
    }
    if !in_recap(&output, &host) {
        return Err((
            format!(
                "no play of {} ran on node `{}` (host `{host}`, groups: {}); point a play's `hosts` at one of them",
                playbook.display(),
                target.node.name,
                target.node.ansible_groups().join(", ")
            ),
            output,
        ));
    }
    Ok(Played { changed, output })
}

/// Whether Ansible failed for want of the connection plugin envctl uses.
fn lacks_connection_plugin(output: &str) -> bool {
    output.lines().any(|l| {
        l.contains(CONNECTION) && (l.contains("was not found") || l.contains("Invalid connection"))
    })
}

/// Whether the PLAY RECAP has a line for `host` (a playbook whose plays match no host
/// exits 0 having done nothing).
fn in_recap(output: &str, host: &str) -> bool {
    output
        .lines()
        .any(|l| l.split_whitespace().next() == Some(host) && l.contains(": ok="))
}

/// Whether the user chose about pipelining: in the environment, or in the ansible.cfg
/// that applies (`ANSIBLE_CONFIG`, the playbook's directory, `~/.ansible.cfg`,
/// `/etc/ansible/ansible.cfg`, the first that exists, as Ansible looks them up).
fn pipelining_configured(cwd: &Path) -> bool {
    if std::env::var_os("ANSIBLE_PIPELINING").is_some() {
        return true;
    }
    applicable_cfg(cwd).is_some_and(|text| mentions_pipelining(&text))
}

/// The text of the ansible.cfg that applies to a run from `cwd`.
fn applicable_cfg(cwd: &Path) -> Option<String> {
    let candidates = [
        std::env::var_os("ANSIBLE_CONFIG").map(PathBuf::from),
        Some(cwd.join("ansible.cfg")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ansible.cfg")),
        Some(PathBuf::from("/etc/ansible/ansible.cfg")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .and_then(|p| std::fs::read_to_string(p).ok())
}

/// The value an ansible.cfg gives `key` (in any section; `roles_path` and
/// `collections_path` live in `[defaults]`).
fn cfg_value(cfg: &str, key: &str) -> Option<String> {
    cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key) && !l.trim_start().starts_with(['#', ';']))
            .then(|| v.trim().to_string())
    })
}

/// Whether an ansible.cfg sets `pipelining`.
fn mentions_pipelining(cfg: &str) -> bool {
    cfg.lines().any(|l| {
        l.split_once('=')
            .is_some_and(|(key, _)| key.trim().eq_ignore_ascii_case("pipelining"))
    })
}

fn find_program() -> Result<PathBuf, (String, String)> {
    if let Some(p) = std::env::var_os("ENVCTL_ANSIBLE_PLAYBOOK") {
        return Ok(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("ansible-playbook"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            (
                "ansible-playbook is not installed on this host; install Debian's `ansible` package (`./dev setup-test` does) or `pip install ansible`".to_string(),
                String::new(),
            )
        })
}

/// Ansible's modules run with the node's python3; Debian-family images without it get
/// it from apt (kept in the provisioned image, so this happens once).
async fn ensure_python(target: &Target<'_>) -> Result<String, (String, String)> {
    let script = r#"command -v python3 >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the node's image has no python3, which Ansible needs, and no apt-get to install it" >&2; exit 90
fi
echo "envctl: installing python3 for Ansible"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null"#;
    let cmd = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    super::exec_step(target.host, target.id, &cmd, &[], Duration::from_secs(600))
        .await
        .map_err(|(reason, out)| {
            (
                format!(
                    "preparing node `{}` for Ansible: {reason}; use an image with python3",
                    target.node.name
                ),
                out,
            )
        })
}

/// The generated inventory (YAML, written as JSON). `provisioned` is the host standing for the container
/// (or machine) being provisioned; other hosts point at their replicas' containers.
/// `connection`: the host variables of the connection to a container or machine
/// ([`super::StepHost::ansible_connection`]).
fn inventory(
    env: &Environment,
    containers: &BTreeMap<String, String>,
    provisioned: &str,
    provisioning_container: &str,
    connection: &dyn Fn(&str) -> Mapping,
) -> String {
    let mut groups: BTreeMap<String, Mapping> = BTreeMap::new();
    let mut hosts = Mapping::new();
    for node in env.nodes.values().filter(|n| n.replicas > 0) {
        for replica in node.replica_names() {
            let container = if replica == provisioned {
                provisioning_container.to_string()
            } else {
                containers.get(&replica).cloned().unwrap_or(replica.clone())
            };
            let mut vars = connection(&container);
            let mut set = |k: &str, v: &str| {
                vars.insert(k.to_string(), Value::from(v));
            };
            set("ansible_python_interpreter", "/usr/bin/python3");
            for (k, v) in &node.host_vars {
                set(k, v);
            }
            // A single replica is a host named like its node: the node's group would
            // only repeat it (and Ansible warns about a group named like a host).
            let node_groups = node.ansible_groups().into_iter().filter(|g| g != &replica);
            for group in node_groups {
                let members = groups
                    .entry(group)
                    .or_default()
                    .entry("hosts".to_string())
                    .or_insert_with(|| Value::Object(Mapping::new()));
                if let Value::Object(m) = members {
                    m.insert(replica.clone(), Value::Null);
                }
            }
            hosts.insert(replica.clone(), Value::Object(vars));
        }
    }
    let mut all = Mapping::new();
    let vars: Mapping = env
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    all.insert("hosts".into(), Value::Object(hosts));
    all.insert("vars".into(), Value::Object(vars));
    all.insert(
        "children".into(),
        Value::Object(
            groups
                .into_iter()
                .map(|(g, m)| (g, Value::Object(m)))
                .collect(),
        ),
    );
    let mut top = Mapping::new();
    top.insert("all".into(), Value::Object(all));
    // JSON is YAML too, and Ansible's YAML inventory plugin reads it as such.
    serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default()
}

/// Tasks and handlers whose result was `changed`, from the default callback's output.
pub fn changed_tasks(output: &str) -> Vec<String> {
    let mut current = String::new();
    let mut changed: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in output.lines() {
        let line = line.trim_end();
        for prefix in ["TASK [", "RUNNING HANDLER ["] {
            if let Some(rest) = line.strip_prefix(prefix) {
                if let Some(end) = rest.rfind(']') {
                    let kind = if prefix == "TASK [" {
                        "task"
                    } else {
                        "handler"
                    };
                    current = format!("{kind} `{}`", &rest[..end]);
                }
            }
        }
        if line.starts_with("changed: [") && seen.insert(current.clone()) {
            changed.push(current.clone());
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_community_docker_collection_is_recognised() {
        assert!(lacks_connection_plugin(
            "fatal: [box]: FAILED! => {\"changed\": false, \"msg\": \"Task failed: the connection plugin 'community.docker.docker_api' was not found\"}"
        ));
        assert!(!lacks_connection_plugin(
            "fatal: [box]: FAILED! => {\"msg\": \"No package matching 'nginx' is available\"}"
        ));
    }

    #[test]
    fn a_pipelining_setting_in_ansible_cfg_is_the_users_choice() {
        assert!(mentions_pipelining(
            "[defaults]\nroles_path = roles\n[connection]\npipelining = False\n"
        ));
        assert!(mentions_pipelining("[ssh_connection]\n  Pipelining=true\n"));
        assert!(!mentions_pipelining(
            "[defaults]\nroles_path = roles\n# pipelining\n"
        ));
    }

    #[test]
    fn search_paths_configured_in_ansible_cfg_are_read() {
        let cfg =
            "[defaults]\n# roles_path = old\nroles_path = roles:/srv/roles\ncollections_path=./c\n";
        assert_eq!(
            cfg_value(cfg, "roles_path").as_deref(),
            Some("roles:/srv/roles")
        );
        assert_eq!(cfg_value(cfg, "collections_path").as_deref(), Some("./c"));
        assert_eq!(cfg_value(cfg, "library"), None);
    }

    #[test]
    fn changed_tasks_are_named_once_each() {
        let out = "\
PLAY [web] *********************************************************************

TASK [Gathering Facts] *********************************************************
ok: [web]

TASK [nginx : install nginx] ***************************************************
changed: [web]

TASK [nginx : page] ************************************************************
changed: [web] => (item=index.html)
changed: [web] => (item=about.html)

TASK [nginx : enabled] *********************************************************
ok: [web]

RUNNING HANDLER [nginx : reload nginx] *****************************************
changed: [web]

PLAY RECAP *********************************************************************
web                        : ok=5    changed=3    unreachable=0    failed=0
";
        assert_eq!(
            changed_tasks(out),
            [
                "task `nginx : install nginx`",
                "task `nginx : page`",
                "handler `nginx : reload nginx`"
            ]
        );
    }

    #[test]
    fn the_inventory_has_every_replica_grouped_with_vars() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::write(
            dir.path().join("environments/e.toml"),
            "[vars]\ngreeting = \"hi\"\n[nodes.web]\nimage = \"x\"\nreplicas = 2\ngroups = [\"frontend\"]\n[nodes.db]\nimage = \"x\"\n",
        )
        .unwrap();
        let env = crate::model::environment::load(dir.path(), "e").unwrap();
        let containers = BTreeMap::from([
            ("web-1".to_string(), "envctl-e-i-web-1".to_string()),
            ("web-2".to_string(), "envctl-e-i-web-2".to_string()),
            ("db".to_string(), "envctl-e-i-db".to_string()),
        ]);
        let engine = crate::backend::fake::Fake::new();
        let on_engine = super::super::OnEngine(&engine);
        let connection = |id: &str| super::super::StepHost::ansible_connection(&on_engine, id);
        let text = inventory(&env, &containers, "web-1", "abc123", &connection);
        let doc: Value = crate::model::yaml::parse(&text).unwrap().to_json();
        let all = &doc["all"];
        assert_eq!(all["vars"]["greeting"], Value::from("hi"));
        // The provisioned host is the provisioning container; the others their replicas.
        assert_eq!(all["hosts"]["web-1"]["ansible_host"], Value::from("abc123"));
        assert_eq!(
            all["hosts"]["web-2"]["ansible_host"],
            Value::from("envctl-e-i-web-2")
        );
        assert_eq!(
            all["hosts"]["db"]["ansible_connection"],
            Value::from(CONNECTION)
        );
        let members = |g: &str| -> Vec<String> {
            all["children"][g]["hosts"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(members("web"), ["web-1", "web-2"]);
        assert_eq!(members("frontend"), ["web-1", "web-2"]);
        // A single-replica node's host already carries its name: no group `db`.
        assert!(members("db").is_empty());
    }

    #[test]
    fn the_recap_tells_whether_a_play_ran_on_the_host() {
        let out = "PLAY RECAP ***\nweb1                       : ok=1    changed=0\n";
        assert!(in_recap(out, "web1"));
        assert!(!in_recap(out, "web"));
        assert!(!in_recap("skipping: no hosts matched\n", "web1"));
    }

    #[test]
    fn nothing_changed_means_no_tasks() {
        assert!(changed_tasks("TASK [x] ***\nok: [web]\n").is_empty());
    }
}
