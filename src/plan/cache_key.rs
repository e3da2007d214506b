//! The key of an environment's images, for CI caches (`envctl cache key ENV`): computed
//! from the definitions alone, with no engine, so a job can ask for it before it has
//! restored anything. Same key, same images: it covers every input of every image a node
//! starts from (the base by its reference, a build context's files, systemd, each
//! provisioning step's files and variables, through the same provisioning key `up`
//! uses), and nothing else (specs, commands, ports, health).
//!
//! Secret values enter only as keyed fingerprints (see `model::secrets::fingerprint`);
//! the key is the same on two machines only when they share that key
//! (`ENVCTL_MACHINE_KEY`), as their provisioned images' keys then are.

use super::hash::{provision_key, Hasher, BUILD_KEY, SYSTEMD_KEY};
use crate::model::{Environment, ImageSource, Init, Node};
use std::collections::BTreeSet;
use std::path::Path;

/// Version of the key's layout: a new layout gives new keys.
const LAYOUT: &str = "envctl-cache-key-v1";

/// The environment's image key (64 hex digits).
///
/// # Errors
/// I/O errors reading build contexts and provisioning files.
pub fn environment_key(root: &Path, env: &Environment) -> std::io::Result<String> {
    let mut images = BTreeSet::new();
    for node in env.nodes.values().filter(|n| n.replicas > 0) {
        images.insert(node_key(root, env, node)?);
    }
    let mut h = Hasher::default();
    h.field(LAYOUT);
    for key in &images {
        h.field(key);
    }
    Ok(h.hex())
}

/// Whether the key depends on this machine's key: a provisioned node sees a secret and
/// `ENVCTL_MACHINE_KEY` is not set.
pub fn depends_on_this_machine(env: &Environment) -> bool {
    !crate::model::secrets::machine_key_is_shared()
        && env.nodes.values().any(|n| {
            n.replicas > 0
                && !n.provision.is_empty()
                && n.env.values().any(|v| crate::model::secrets::is_secret(v))
        })
}

/// The key of the image a node runs, from its definition.
fn node_key(root: &Path, env: &Environment, node: &Node) -> std::io::Result<String> {
    let mut h = Hasher::default();
    match &node.image {
        ImageSource::Image(reference) => h.field("image").field(reference),
        ImageSource::Build(dir) => h.field(BUILD_KEY).tree(&root.join(dir))?,
    };
    if node.init == Init::Systemd {
        h.field(SYSTEMD_KEY);
    }
    let source = h.hex();
    if node.provision.is_empty() {
        return Ok(source);
    }
    provision_key(root, &source, node, &env.vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            write(&dir, path, text);
        }
        dir
    }

    fn key(dir: &tempfile::TempDir) -> String {
        let env = crate::model::environment::load(dir.path(), "e").unwrap();
        environment_key(dir.path(), &env).unwrap()
    }

    fn write(dir: &tempfile::TempDir, path: &str, text: &str) {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const ENV: &str = "[vars]\nport = \"80\"\n[nodes.web]\nimage = \"debian:bookworm\"\ncommand = [\"sleep\", \"infinity\"]\nports = [\"80\"]\nprovision = [{ template = \"site.conf.j2\", to = \"/etc/site.conf\" }]\n";

    #[test]
    fn changes_when_a_template_changes_and_back() {
        let dir = project(&[
            ("environments/e.toml", ENV),
            ("site.conf.j2", "listen {{ port }}\n"),
        ]);
        let before = key(&dir);
        assert_eq!(key(&dir), before, "the same inputs give the same key");
        write(&dir, "site.conf.j2", "listen {{ port }};\n");
        assert_ne!(key(&dir), before);
        write(&dir, "site.conf.j2", "listen {{ port }}\n");
        assert_eq!(key(&dir), before, "the same inputs again, the same key");
    }

    #[test]
    fn changes_with_variables_templates_read_with_the_base_and_with_systemd() {
        let dir = project(&[
            ("environments/e.toml", ENV),
            ("site.conf.j2", "listen {{ port }}\n"),
        ]);
        let before = key(&dir);
        for changed in [
            ENV.replace("port = \"80\"", "port = \"81\""),
            ENV.replace("debian:bookworm", "debian:trixie"),
            // A systemd node runs /sbin/init, so it has no `command` (which the key ignores).
            ENV.replace("[nodes.web]\n", "[nodes.web]\ninit = \"systemd\"\n")
                .replace("command = [\"sleep\", \"infinity\"]\n", ""),
            ENV.replace("[nodes.web]\n", "[nodes.web]\nenv = { A = \"1\" }\n"),
            format!("{ENV}[nodes.db]\nimage = \"debian:bullseye\"\n"),
        ] {
            write(&dir, "environments/e.toml", &changed);
            assert_ne!(key(&dir), before, "{changed}");
        }
    }

    #[test]
    fn a_build_context_is_an_input() {
        let env = "[nodes.web]\nbuild = \"img\"\n";
        let dir = project(&[
            ("environments/e.toml", env),
            ("img/Dockerfile", "FROM debian:bookworm\n"),
        ]);
        let before = key(&dir);
        write(&dir, "img/Dockerfile", "FROM debian:bookworm\nRUN true\n");
        assert_ne!(key(&dir), before);
    }

    #[test]
    fn does_not_change_with_what_no_image_holds() {
        let dir = project(&[
            ("environments/e.toml", ENV),
            ("site.conf.j2", "listen {{ port }}\n"),
            (
                "specs/e/web.toml",
                "[[file]]\nnode = \"web\"\npath = \"/etc/site.conf\"\n",
            ),
        ]);
        let before = key(&dir);
        // The command, ports and health are the container's, not the image's.
        write(
            &dir,
            "environments/e.toml",
            &ENV.replace("\"sleep\", \"infinity\"", "\"sleep\", \"1000\"")
                .replace("ports = [\"80\"]", "ports = [\"8080:80\"]")
                .replace("provision", "health = { command = \"true\" }\nprovision"),
        );
        write(
            &dir,
            "specs/e/web.toml",
            "[[file]]\nnode = \"web\"\npath = \"/etc/other\"\n",
        );
        write(&dir, "README.md", "notes\n");
        assert_eq!(key(&dir), before);
    }

    #[test]
    fn a_secret_changes_the_key_without_showing_in_it() {
        let with = |value: &str| format!("[secrets]\nTOKEN = {{ value = \"{value}\" }}\n{ENV}");
        let dir = project(&[
            ("environments/e.toml", &with("cache-key-secret-one")),
            ("site.conf.j2", "listen {{ port }}\n"),
        ]);
        let first = key(&dir);
        assert_eq!(key(&dir), first);
        write(&dir, "environments/e.toml", &with("cache-key-secret-two"));
        let second = key(&dir);
        assert_ne!(
            second, first,
            "a new secret value is a new provisioned image"
        );
        if !crate::model::secrets::machine_key_is_shared() {
            let env = crate::model::environment::load(dir.path(), "e").unwrap();
            assert!(depends_on_this_machine(&env));
        }
        write(&dir, "environments/e.toml", ENV);
        let env = crate::model::environment::load(dir.path(), "e").unwrap();
        assert!(!depends_on_this_machine(&env));
    }
}
