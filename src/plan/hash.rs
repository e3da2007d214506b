//! Content hashes. A node's provisioning key covers every input of its provisioning (base
//! image id, init, steps, the bytes of scripts, copied files and templates, whole playbook,
//! manifest and module directories, environment variables, and `vars` for the step kinds
//! that read them), as a chain with one link per step (the keys of the snapshots that
//! provisioning resumes from); its definition hash adds what only the running container
//! sees (command, ports, health).

use crate::model::environment::TOP_LEVEL_INPUTS;
use crate::model::{Node, StepKind};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// First field of the key of an image built from a project directory (`build = "DIR"`).
pub const BUILD_KEY: &str = "envctl-build-v1";
/// First field of the key of a systemd image derived from a base.
pub const SYSTEMD_KEY: &str = "envctl-systemd-v1";

/// Incremental hasher with length-prefixed fields, so `("ab","c")` and `("a","bc")` differ.
#[derive(Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn field(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        let bytes = bytes.as_ref();
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// Hashes a file or a directory tree (paths, modes and contents, in sorted order).
    /// Symlinks are followed (their link text is hashed too): what a symlink points at is
    /// what `copy` copies when it names the link and what tools on the host read, so a
    /// change there must change the key. A link back to a directory being hashed is
    /// hashed as a cycle, not walked again. (Loading a project already refused links that
    /// lead outside it.)
    ///
    /// # Errors
    /// I/O errors reading the tree.
    pub fn tree(&mut self, path: &Path) -> std::io::Result<&mut Self> {
        let mut walking = Vec::new();
        self.walk(path, &mut walking)?;
        Ok(self)
    }

    fn walk(&mut self, path: &Path, walking: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
        let own = std::fs::symlink_metadata(path)?;
        if own.file_type().is_symlink() {
            self.field("link")
                .field(std::fs::read_link(path)?.as_os_str().as_encoded_bytes());
            if std::fs::metadata(path).is_err() {
                // Dangling: copied as the link it is.
                return Ok(());
            }
        }
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            let canonical = std::fs::canonicalize(path)?;
            if walking.contains(&canonical) {
                self.field("cycle");
                return Ok(());
            }
            let mut entries: Vec<_> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            self.field("dir");
            walking.push(canonical);
            for entry in entries {
                self.field(entry.file_name().unwrap_or_default().as_encoded_bytes());
                self.walk(&entry, walking)?;
            }
            walking.pop();
        } else {
            use std::os::unix::fs::PermissionsExt;
            self.field("file")
                .field(meta.permissions().mode().to_le_bytes())
                .field(std::fs::read(path)?);
        }
        Ok(())
    }

    pub fn hex(&self) -> String {
        let digest = self.0.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Hashes a node's environment variables; secret values go in as their keyed
/// fingerprint, so the hash (a label on the engine) cannot be used to guess them.
fn env_fields(h: &mut Hasher, node: &Node) {
    for (k, v) in &node.env {
        h.field(k);
        if crate::model::secrets::is_secret(v) {
            h.field("secret")
                .field(crate::model::secrets::fingerprint(v));
        } else {
            h.field(v);
        }
    }
}

/// The key of a node's provisioned image: same key, same filesystem. It is the last
/// link of [`step_keys`] (a node without steps: the key of its starting point).
///
/// # Errors
/// I/O errors reading scripts and copied files.
pub fn provision_key(
    root: &Path,
    base_image_id: &str,
    node: &Node,
    vars: &BTreeMap<String, String>,
) -> std::io::Result<String> {
    let keys = step_keys(root, base_image_id, node, vars)?;
    Ok(match keys.last() {
        Some(last) => last.clone(),
        None => start_key(base_image_id, node),
    })
}

/// The key of the filesystem after each step, as a chain, like an image build cache:
/// entry `k - 1` is the key once steps 1..=k ran. The chain starts from the base image
/// id and the node settings provisioning sees (`init`, `env`); each link adds one step
/// as written and its inputs (the bytes of scripts, copied files and templates, whole
/// playbook, manifest and module directories, and, for the kinds that read them, the
/// environment's `vars`, the node's host variables and groups). So an edit to step k's
/// input changes link k and every later one, and none before it. The last link is the
/// provisioned image's key.
///
/// # Errors
/// I/O errors reading scripts and copied files.
pub fn step_keys(
    root: &Path,
    base_image_id: &str,
    node: &Node,
    vars: &BTreeMap<String, String>,
) -> std::io::Result<Vec<String>> {
    let mut keys = Vec::with_capacity(node.provision.len());
    let mut previous = start_key(base_image_id, node);
    for step in &node.provision {
        let mut h = Hasher::default();
        h.field(PROVISION_KEY).field(&previous);
        h.field(serde_json::to_vec(step).unwrap_or_default());
        let reads_vars = match &step.kind {
            StepKind::Shell { .. } => false,
            StepKind::Script { path, .. } => {
                h.tree(&root.join(path))?;
                false
            }
            StepKind::Copy { from, .. } => {
                h.tree(&root.join(from))?;
                false
            }
            StepKind::Template { from, .. } => {
                h.tree(&root.join(from))?;
                true
            }
            StepKind::Ansible {
                playbook,
                dependencies,
                ..
            } => {
                // Roles, group_vars, ansible.cfg and included files live beside the playbook.
                beside(&mut h, root, playbook)?;
                // Added only when there are any, so steps without keep their keys.
                if !dependencies.files.is_empty() {
                    h.field("requirements")
                        .field(dependencies_key(root, dependencies)?);
                }
                true
            }
            StepKind::Puppet {
                manifest,
                modules,
                vendor,
            } => {
                beside(&mut h, root, manifest)?;
                if let Some(m) = modules {
                    h.tree(&root.join(m))?;
                }
                if let Some(v) = vendor {
                    h.field("vendor").tree(&root.join(v))?;
                }
                true
            }
            StepKind::Salt { states, pillar, .. } => {
                h.tree(&root.join(states))?;
                if let Some(p) = pillar {
                    h.tree(&root.join(p))?;
                }
                false
            }
        };
        if reads_vars {
            // Templates and playbooks see the node's groups, host variables and the vars.
            h.field("vars");
            for (k, v) in vars.iter().chain(&node.host_vars) {
                h.field(k).field(v);
            }
            for g in node.ansible_groups() {
                h.field(g);
            }
        }
        previous = h.hex();
        keys.push(previous.clone());
    }
    Ok(keys)
}

/// The key of an `ansible` step's installed dependencies: its requirements files and
/// the bytes of every source they name (a git source's whole repository).
///
/// # Errors
/// I/O errors reading them.
pub fn dependencies_key(
    root: &Path,
    dependencies: &crate::model::ansible_requirements::Requirements,
) -> std::io::Result<String> {
    let mut h = Hasher::default();
    h.field("envctl-dependencies-v1");
    for file in &dependencies.files {
        h.field(file.to_string_lossy().as_bytes())
            .tree(&root.join(file))?;
    }
    for role in &dependencies.roles {
        h.field(&role.name)
            .field(serde_json::to_vec(&role.source).unwrap_or_default());
        h.tree(&root.join(role.source.path()))?;
    }
    for source in &dependencies.collections {
        h.field(serde_json::to_vec(source).unwrap_or_default());
        h.tree(&root.join(source.path()))?;
    }
    Ok(h.hex())
}

/// The key of a node's image provisioned with `--incremental`: its steps' key, told
/// apart so that neither a normal run nor the definition hash of its containers takes
/// one for the other.
pub fn incremental_key(key: &str) -> String {
    let mut h = Hasher::default();
    h.field("envctl-incremental-v1").field(key);
    h.hex()
}

/// The chain label (`io.envctl.chain`) of an image holding the steps
/// whose keys are `keys` (the chain's first links), from the chain's start key.
pub fn chain_label(start: &str, keys: &[String]) -> String {
    std::iter::once(start)
        .chain(keys.iter().map(String::as_str))
        .map(|k| &k[..24.min(k.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many leading entries two chain labels share.
pub fn chain_common(a: &str, b: &str) -> usize {
    a.split(' ')
        .zip(b.split(' '))
        .take_while(|(x, y)| x == y)
        .count()
}

/// First field of every link of the provisioning chain; a new layout gives new keys.
const PROVISION_KEY: &str = "envctl-provision-v5";

/// Where the chain starts: the base image and the node settings every step sees.
pub fn start_key(base_image_id: &str, node: &Node) -> String {
    let mut h = Hasher::default();
    h.field(PROVISION_KEY).field(base_image_id);
    h.field(serde_json::to_vec(&node.init).unwrap_or_default());
    env_fields(&mut h, node);
    h.hex()
}

/// Hashes the directory holding a playbook or manifest. For a file at the top of the
/// project, only the file and the conventional directories beside it are hashed, so that
/// unrelated project files (and envctl's own `.envctl/`) do not invalidate the cache.
fn beside(h: &mut Hasher, root: &Path, file: &Path) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or_else(|| Path::new(""));
    if !dir.as_os_str().is_empty() {
        h.tree(&root.join(dir))?;
        return Ok(());
    }
    h.tree(&root.join(file))?;
    for known in TOP_LEVEL_INPUTS {
        let path = root.join(known);
        if path.exists() {
            h.field(known);
            h.tree(&path)?;
        }
    }
    Ok(())
}

/// The hash of everything that defines a node's running containers. A container whose
/// label differs from this is recreated by `up`.
pub fn definition_hash(image_key: &str, node: &Node) -> String {
    let mut h = Hasher::default();
    h.field("envctl-node-v1").field(image_key);
    h.field(serde_json::to_vec(&node.command).unwrap_or_default());
    env_fields(&mut h, node);
    h.field(serde_json::to_vec(&node.ports).unwrap_or_default());
    h.field(serde_json::to_vec(&node.health).unwrap_or_default());
    // Added only when set, so nodes that set none keep the hash they had.
    if !node.mounts.is_empty() {
        h.field("mounts")
            .field(serde_json::to_vec(&node.mounts).unwrap_or_default());
    }
    if node.resources.any() {
        h.field("resources")
            .field(serde_json::to_vec(&node.resources).unwrap_or_default());
    }
    if let Some(entrypoint) = &node.entrypoint {
        h.field("entrypoint")
            .field(serde_json::to_vec(entrypoint).unwrap_or_default());
    }
    if node.restart != crate::model::environment::Restart::No {
        h.field("restart")
            .field(serde_json::to_vec(&node.restart).unwrap_or_default());
    }
    if node.run != crate::model::environment::Run::Always {
        h.field("run")
            .field(serde_json::to_vec(&node.run).unwrap_or_default());
    }
    h.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_share_their_leading_links_only() {
        let keys = |ks: &[&str]| ks.iter().map(|k| k.repeat(30)).collect::<Vec<_>>();
        let ours = chain_label(&"s".repeat(64), &keys(&["a", "b", "c"]));
        assert_eq!(ours.split(' ').count(), 4);
        assert!(ours.split(' ').all(|k| k.len() == 24));
        let old = chain_label(&"s".repeat(64), &keys(&["a", "x", "c"]));
        assert_eq!(chain_common(&ours, &old), 2, "the start and step 1");
        let other_base = chain_label(&"t".repeat(64), &keys(&["a", "b", "c"]));
        assert_eq!(chain_common(&ours, &other_base), 0);
        assert_eq!(chain_common(&ours, &ours), 4);
        assert_ne!(incremental_key(&"a".repeat(64)), "a".repeat(64));
    }

    #[test]
    fn fields_are_length_prefixed() {
        let a = Hasher::default().field("ab").field("c").hex();
        let b = Hasher::default().field("a").field("bc").hex();
        assert_ne!(a, b);
    }

    fn node(provision: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, Node) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::write(
            dir.path().join("environments/e.toml"),
            format!(
                "[vars]\ngreeting = \"hi\"\n[nodes.n]\nimage = \"x\"\nprovision = [{provision}]\n"
            ),
        )
        .unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let env = crate::model::environment::load(dir.path(), "e").unwrap();
        let n = env.nodes["n"].clone();
        (dir, n)
    }

    fn key(dir: &tempfile::TempDir, node: &Node, vars: &[(&str, &str)]) -> String {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        provision_key(dir.path(), "sha256:base", node, &vars).unwrap()
    }

    fn chain(
        dir: &tempfile::TempDir,
        node: &Node,
        base: &str,
        vars: &[(&str, &str)],
    ) -> Vec<String> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        step_keys(dir.path(), base, node, &vars).unwrap()
    }

    const FIVE: &str = "{ shell = \"echo 1\" }, { copy = \"f.txt\", to = \"/f.txt\" }, { template = \"t.j2\", to = \"/t\" }, { shell = \"echo 4\" }, { shell = \"echo 5\" }";

    fn five() -> (tempfile::TempDir, Node) {
        node(FIVE, &[("f.txt", "one"), ("t.j2", "{{ greeting }}")])
    }

    #[test]
    fn the_chain_has_one_link_per_step_and_ends_at_the_provisioning_key() {
        let (dir, n) = five();
        let keys = chain(&dir, &n, "sha256:base", &[]);
        assert_eq!(keys.len(), 5);
        let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), 5, "every link differs");
        assert_eq!(keys.last().unwrap(), &key(&dir, &n, &[]));
        assert_eq!(
            keys,
            chain(&dir, &n, "sha256:base", &[]),
            "same inputs, same chain"
        );
    }

    #[test]
    fn a_link_depends_only_on_the_steps_up_to_it() {
        let (dir, n) = five();
        let keys = chain(&dir, &n, "sha256:base", &[]);
        // Fixing the fifth step keeps the first four links: their snapshots are reused.
        let mut fixed = n.clone();
        fixed.provision[4] = n.provision[3].clone();
        let after = chain(&dir, &fixed, "sha256:base", &[]);
        assert_eq!(after[..4], keys[..4]);
        assert_ne!(after[4], keys[4]);
        // A node with only the first three steps has the same first three links.
        let mut shorter = n.clone();
        shorter.provision.truncate(3);
        assert_eq!(chain(&dir, &shorter, "sha256:base", &[])[..], keys[..3]);
    }

    #[test]
    fn an_edit_to_a_steps_file_changes_its_link_and_every_later_one() {
        let (dir, n) = five();
        let keys = chain(&dir, &n, "sha256:base", &[]);
        std::fs::write(dir.path().join("f.txt"), "two").unwrap();
        let after = chain(&dir, &n, "sha256:base", &[]);
        assert_eq!(after[0], keys[0], "step 1 comes before the edited file");
        for k in 1..5 {
            assert_ne!(after[k], keys[k], "link {} follows the edit", k + 1);
        }
    }

    #[test]
    fn vars_change_the_links_from_the_first_step_that_reads_them() {
        let (dir, n) = five();
        let one = chain(&dir, &n, "sha256:base", &[("a", "1")]);
        let two = chain(&dir, &n, "sha256:base", &[("a", "2")]);
        assert_eq!(one[..2], two[..2], "a shell and a copy step read no vars");
        for k in 2..5 {
            assert_ne!(one[k], two[k], "link {}", k + 1);
        }
    }

    #[test]
    fn the_base_image_and_the_environment_change_every_link() {
        let (dir, n) = five();
        let keys = chain(&dir, &n, "sha256:base", &[]);
        let other_base = chain(&dir, &n, "sha256:other", &[]);
        let mut with_env = n.clone();
        with_env.env.insert("A".into(), "1".into());
        let other_env = chain(&dir, &with_env, "sha256:base", &[]);
        for k in 0..5 {
            assert_ne!(keys[k], other_base[k]);
            assert_ne!(keys[k], other_env[k]);
        }
    }

    #[test]
    fn a_role_edit_changes_the_key_of_nodes_running_its_playbook() {
        let (dir, n) = node(
            "{ ansible = \"ansible/site.yml\" }",
            &[
                ("ansible/site.yml", "- hosts: all\n"),
                ("ansible/roles/web/tasks/main.yml", "- debug: msg=a\n"),
            ],
        );
        let before = key(&dir, &n, &[]);
        assert_eq!(before, key(&dir, &n, &[]));
        std::fs::write(
            dir.path().join("ansible/roles/web/tasks/main.yml"),
            "- debug: msg=b\n",
        )
        .unwrap();
        assert_ne!(before, key(&dir, &n, &[]));
    }

    #[test]
    fn vars_count_only_for_steps_that_read_them() {
        let (dir, shell) = node("{ shell = \"true\" }", &[]);
        assert_eq!(
            key(&dir, &shell, &[("a", "1")]),
            key(&dir, &shell, &[("a", "2")])
        );
        let (dir, tpl) = node(
            "{ template = \"t.j2\", to = \"/t\" }",
            &[("t.j2", "{{ greeting }}")],
        );
        assert_ne!(
            key(&dir, &tpl, &[("a", "1")]),
            key(&dir, &tpl, &[("a", "2")])
        );
    }

    #[test]
    fn a_top_level_playbook_ignores_unrelated_project_files() {
        let (dir, n) = node(
            "{ ansible = \"site.yml\" }",
            &[
                ("site.yml", "- hosts: all\n"),
                ("roles/r/tasks/main.yml", "[]\n"),
            ],
        );
        let before = key(&dir, &n, &[]);
        std::fs::write(dir.path().join("README.md"), "unrelated").unwrap();
        assert_eq!(before, key(&dir, &n, &[]));
        std::fs::write(dir.path().join("roles/r/tasks/main.yml"), "- debug:\n").unwrap();
        assert_ne!(before, key(&dir, &n, &[]));
    }

    #[test]
    fn tree_hash_changes_with_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        let before = Hasher::default().tree(dir.path()).unwrap().hex();
        std::fs::write(dir.path().join("a"), "2").unwrap();
        let after = Hasher::default().tree(dir.path()).unwrap().hex();
        assert_ne!(before, after);
    }

    #[test]
    fn a_symlinks_target_is_hashed_not_only_its_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real"), "one").unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        let hash = || {
            Hasher::default()
                .tree(&dir.path().join("link"))
                .unwrap()
                .hex()
        };
        let before = hash();
        assert_eq!(before, hash());
        std::fs::write(dir.path().join("real"), "two").unwrap();
        assert_ne!(before, hash(), "a change behind the link changes the key");
    }

    #[test]
    fn a_linked_directory_inside_a_tree_is_hashed_and_a_cycle_ends() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared/r")).unwrap();
        std::fs::write(dir.path().join("shared/r/main.yml"), "a").unwrap();
        std::fs::create_dir_all(dir.path().join("play/roles")).unwrap();
        std::os::unix::fs::symlink("../../shared/r", dir.path().join("play/roles/r")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("play/roles/up")).unwrap();
        let hash = || {
            Hasher::default()
                .tree(&dir.path().join("play"))
                .unwrap()
                .hex()
        };
        let before = hash();
        std::fs::write(dir.path().join("shared/r/main.yml"), "b").unwrap();
        assert_ne!(before, hash());
    }

    #[test]
    fn a_secret_value_enters_the_key_only_as_a_keyed_fingerprint() {
        crate::model::secrets::register(["hash-secret-value".to_string()]);
        let (dir, mut n) = node("{ shell = \"true\" }", &[]);
        n.env.insert("TOKEN".into(), "hash-secret-value".into());
        let with_secret = key(&dir, &n, &[]);
        n.env.insert("TOKEN".into(), "hash-secret-other".into());
        crate::model::secrets::register(["hash-secret-other".to_string()]);
        assert_ne!(
            with_secret,
            key(&dir, &n, &[]),
            "a new value is provisioned again"
        );
        // Unkeyed, the same inputs would give a hash anyone could recompute.
        let mut plain = Hasher::default();
        plain.field("TOKEN").field("hash-secret-value");
        n.env.insert("TOKEN".into(), "hash-secret-value".into());
        let mut keyed = Hasher::default();
        env_fields(&mut keyed, &n);
        assert_ne!(plain.hex(), keyed.hex());
    }
}
