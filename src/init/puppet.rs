//! A Puppet module checkout (`manifests/init.pp`) becomes an environment: one systemd node
//! (modules manage services), the module's directories copied where Puppet's default
//! module path finds them, and a manifest that includes the module's class.

use super::{toml_str, InitError, Scaffold};
use std::path::{Path, PathBuf};

/// The manifest `init` writes: `include CLASS`.
pub const MANIFEST: &str = "envctl/site.pp";

/// The module's directories a catalog may read (copied into the node).
const MODULE_DIRS: &[&str] = &[
    "manifests",
    "files",
    "templates",
    "lib",
    "functions",
    "types",
    "data",
    "facts.d",
];

/// Where Debian's Puppet looks for modules by default (`basemodulepath`).
const MODULE_PATH: &str = "/etc/puppet/code/modules";

/// Whether `root` is a Puppet module checkout.
pub fn is_module(root: &Path) -> bool {
    root.join("manifests/init.pp").is_file()
}

/// The files for the module at `root`.
///
/// # Errors
/// [`InitError::Invalid`] when `manifests/init.pp` declares no class.
pub fn scaffold(root: &Path) -> Result<Scaffold, InitError> {
    let init = root.join("manifests/init.pp");
    let text = std::fs::read_to_string(&init).map_err(|source| InitError::Io {
        path: init.display().to_string(),
        source,
    })?;
    let Some(class) = class_name(&text) else {
        return Err(InitError::Invalid {
            path: "manifests/init.pp".into(),
            line: 1,
            message: "no `class NAME` here: a module's init.pp declares the class named after it"
                .into(),
        });
    };
    let mut steps = String::new();
    for dir in MODULE_DIRS.iter().filter(|d| root.join(d).is_dir()) {
        steps.push_str(&format!(
            "  {{ copy = \"{dir}\", to = \"{MODULE_PATH}/{class}/{dir}\" }},\n"
        ));
    }
    if root.join("hiera.yaml").is_file() {
        steps.push_str(&format!(
            "  {{ copy = \"hiera.yaml\", to = \"{MODULE_PATH}/{class}/hiera.yaml\" }},\n"
        ));
    }
    steps.push_str(&format!(
        "  {{ name = \"apply\", puppet = \"{MANIFEST}\" }},\n"
    ));
    let env = format!(
        "# Built by `envctl init` from a Puppet module: one node where the module is installed\n\
         # (copied into Puppet's module path) and its class applied by {MANIFEST}.\n\
         description = {}\n\n[nodes.node]\nimage = \"debian:bookworm\"\ninit = \"systemd\"\nprovision = [\n{steps}]\n",
        toml_str(&format!("the {class} Puppet module, applied"))
    );
    let manifest =
        format!("# Written by `envctl init`: applies the module's class.\ninclude {class}\n");
    let spec = "# What the module must have done, checked on the running node (docs/specs.md):\n\
                # files, packages, services, ports.\n\
                [[command]]\ntitle = \"puppet applied the catalog\"\nnode = \"node\"\nrun = \"puppet --version\"\nexit = 0\n";
    Ok(Scaffold {
        environment: "puppet".into(),
        found: format!("the Puppet module `{class}`"),
        files: vec![
            (PathBuf::from("environments/puppet.toml"), env),
            (PathBuf::from("specs/puppet/node.toml"), spec.into()),
            (PathBuf::from(MANIFEST), manifest),
        ],
        notes: vec![
            "specs/puppet/node.toml only checks that Puppet ran: add what the module must have done"
                .into(),
        ],
    })
}

/// The first class `init.pp` declares.
fn class_name(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("class")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_lowercase())).then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_is_installed_and_its_class_applied() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("manifests/init.pp"),
            "# a module\nclass motd (\n  String $text = 'hi',\n) {\n}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("templates/motd.epp"), "<%= $text %>\n").unwrap();
        let s = super::super::plan(dir.path()).unwrap();
        assert_eq!(s.environment, "puppet");
        assert!(s.files[0].1.contains(
            "{ copy = \"templates\", to = \"/etc/puppet/code/modules/motd/templates\" }"
        ));
        assert_eq!(s.files[2].1.lines().last(), Some("include motd"));
        assert_eq!(super::super::tests::loads(dir.path(), &s), 1);
    }

    #[test]
    fn an_init_pp_without_a_class_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        std::fs::write(dir.path().join("manifests/init.pp"), "notice('x')\n").unwrap();
        assert!(matches!(
            super::super::plan(dir.path()),
            Err(InitError::Invalid { .. })
        ));
    }
}
