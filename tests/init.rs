//! `envctl init` for real: in an empty directory, in an Ansible role's checkout with a
//! Molecule scenario, in a Puppet module, beside a goss file; each project it writes passes `envctl test` against the engine, and
//! fails it when what its specs check is made false. Nothing is ever overwritten.

use crate::common;
use common::{leftovers, unique_instance};
use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    out: String,
}

fn envctl(root: &Path, instance: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_envctl"))
        .arg("--root")
        .arg(root)
        .args(["--instance", instance])
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn init_in_an_empty_directory_makes_a_project_that_passes_and_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let instance = unique_instance("ciinit");
    let init = envctl(dir.path(), &instance, &["init"]);
    assert_eq!(init.code, 0, "{}", init.out);
    assert!(
        init.out.contains("created environments/dev.toml"),
        "{}",
        init.out
    );

    let test = envctl(dir.path(), &instance, &["test"]);
    assert_eq!(test.code, 0, "{}", test.out);
    assert!(test.out.contains("2 passed; 0 failed"), "{}", test.out);

    // The spec checks what provisioning did: without the greeting, the gate says no.
    std::fs::write(
        dir.path().join("provision/greeting.txt"),
        "something else\n",
    )
    .unwrap();
    let test = envctl(dir.path(), &instance, &["test"]);
    assert_eq!(test.code, 1, "{}", test.out);
    assert!(test.out.contains("1 passed; 1 failed"), "{}", test.out);
    assert!(
        leftovers(&instance).is_empty(),
        "{:?}",
        leftovers(&instance)
    );

    // A second init refuses and changes nothing.
    let again = envctl(dir.path(), &instance, &["init"]);
    assert_eq!(again.code, 2, "{}", again.out);
    assert!(again.out.contains("already exists"), "{}", again.out);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("provision/greeting.txt")).unwrap(),
        "something else\n"
    );
}

#[test]
fn init_never_overwrites_a_file_and_creates_nothing_then() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("specs/dev/web.toml"), "mine\n");
    let run = envctl(dir.path(), "ciinit-x", &["init"]);
    assert_eq!(run.code, 2, "{}", run.out);
    assert!(
        run.out.contains("specs/dev/web.toml already exists"),
        "{}",
        run.out
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("specs/dev/web.toml")).unwrap(),
        "mine\n"
    );
    assert!(!dir.path().join("environments").exists());
    assert!(!dir.path().join(".gitignore").exists());
}

/// A small role, as a Molecule user has it: tasks that write a file and a directory and
/// ask for a package the base already has (no download), and a default scenario whose
/// platform image envctl cannot build.
fn molecule_role(parent: &Path) -> std::path::PathBuf {
    let role = parent.join("ciinit_role");
    write(
        &role.join("tasks/main.yml"),
        "- name: the role's marker file\n  ansible.builtin.copy:\n    content: \"converged by ciinit_role\\n\"\n    dest: /etc/ciinit-role.conf\n    mode: \"0644\"\n- name: a data directory\n  ansible.builtin.file:\n    path: /srv/ciinit-data\n    state: directory\n- name: a package the base already has\n  ansible.builtin.apt:\n    name: bash\n    state: present\n",
    );
    write(
        &role.join("molecule/default/molecule.yml"),
        "---\ndriver:\n  name: docker\nplatforms:\n  - name: instance\n    image: geerlingguy/docker-debian12-ansible:latest\n    pre_build_image: true\nprovisioner:\n  name: ansible\nverifier:\n  name: ansible\n",
    );
    write(
        &role.join("molecule/default/converge.yml"),
        "---\n- name: Converge\n  hosts: all\n  become: true\n  roles:\n    - role: ciinit_role\n",
    );
    role
}

#[test]
fn init_in_a_molecule_role_makes_an_environment_that_envctl_test_runs() {
    let parent = tempfile::tempdir().unwrap();
    let role = molecule_role(parent.path());
    let instance = unique_instance("ciinit");
    let init = envctl(&role, &instance, &["init"]);
    assert_eq!(init.code, 0, "{}", init.out);
    assert!(
        init.out.contains("Molecule scenario molecule/default"),
        "{}",
        init.out
    );
    assert!(
        init.out
            .contains("geerlingguy/docker-debian12-ansible:latest is not one envctl can build"),
        "{}",
        init.out
    );
    let env = std::fs::read_to_string(role.join("environments/molecule.toml")).unwrap();
    assert!(env.contains("[nodes.instance]"), "{env}");
    assert!(env.contains("image = \"debian:bookworm\""), "{env}");

    let test = envctl(&role, &instance, &["test"]);
    assert_eq!(test.code, 0, "{}", test.out);
    assert!(test.out.contains(": idempotent ("), "{}", test.out);
    for name in [
        "instance::etc_ciinit_role_conf_is_in_place",
        "instance::srv_ciinit_data_is_in_place",
        "instance::package_bash_is_installed",
    ] {
        assert!(
            test.out
                .lines()
                .any(|l| l.starts_with(&format!("test {name} ")) && l.ends_with("... ok")),
            "{name} did not pass:\n{}",
            test.out
        );
    }

    // The skeleton checks what the role does: a role that stops writing the file fails.
    let tasks = std::fs::read_to_string(role.join("tasks/main.yml")).unwrap();
    std::fs::write(
        role.join("tasks/main.yml"),
        tasks.replace(
            "dest: /etc/ciinit-role.conf",
            "dest: /etc/ciinit-other.conf",
        ),
    )
    .unwrap();
    let test = envctl(&role, &instance, &["test"]);
    assert_eq!(test.code, 1, "{}", test.out);
    assert!(
        test.out.lines().any(
            |l| l.starts_with("test instance::etc_ciinit_role_conf_is_in_place ")
                && l.ends_with("FAILED")
        ),
        "{}",
        test.out
    );
    assert!(
        leftovers(&instance).is_empty(),
        "{:?}",
        leftovers(&instance)
    );
}

#[test]
fn init_refuses_a_molecule_scenario_without_platforms_at_its_file() {
    let parent = tempfile::tempdir().unwrap();
    let role = molecule_role(parent.path());
    write(
        &role.join("molecule/default/molecule.yml"),
        "---\ndriver:\n  name: docker\n",
    );
    let run = envctl(&role, "ciinit-x", &["init"]);
    assert_eq!(run.code, 2, "{}", run.out);
    assert!(
        run.out
            .contains("molecule/default/molecule.yml:2: no `platforms`"),
        "{}",
        run.out
    );
    assert!(!role.join("environments").exists());
}

#[test]
fn init_in_a_puppet_module_makes_an_environment_that_envctl_test_runs_and_that_fails_when_the_module_does(
) {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("motd");
    write(
        &module.join("manifests/init.pp"),
        "# The class a module's init.pp declares, named after the module.\nclass motd {\n  file { '/etc/motd-envctl':\n    content => epp('motd/motd.epp'),\n  }\n}\n",
    );
    write(&module.join("templates/motd.epp"), "managed by puppet\n");
    let instance = unique_instance("initpp");
    let init = envctl(&module, &instance, &["init"]);
    assert_eq!(init.code, 0, "{}", init.out);
    assert!(init.out.contains("Puppet module `motd`"), "{}", init.out);
    // What the module does, checked: the spec skeleton only says that Puppet ran.
    write(
        &module.join("specs/puppet/motd.toml"),
        "[[file]]\ntitle = \"the module's file\"\nnode = \"node\"\npath = \"/etc/motd-envctl\"\ncontains = [\"managed by puppet\"]\n",
    );
    let test = envctl(&module, &instance, &["test"]);
    assert_eq!(test.code, 0, "{}", test.out);
    assert!(test.out.contains("2 passed; 0 failed"), "{}", test.out);

    // A module whose catalog fails makes provisioning fail (exit 3), with nothing left.
    write(
        &module.join("manifests/init.pp"),
        "class motd {\n  file { '/etc/motd-envctl':\n    content => epp('motd/missing.epp'),\n  }\n}\n",
    );
    let test = envctl(&module, &instance, &["test"]);
    assert_eq!(test.code, 3, "{}", test.out);
    assert!(
        leftovers(&instance).is_empty(),
        "{:?}",
        leftovers(&instance)
    );
}

#[test]
fn init_beside_a_goss_file_verifies_it_on_a_node_in_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("goss.yaml"),
        "file:\n  /etc/debian_version:\n    exists: true\ncommand:\n  echo hello:\n    exit-status: 0\n    stdout: [hello]\n",
    );
    let instance = unique_instance("initgoss");
    let init = envctl(dir.path(), &instance, &["init"]);
    assert_eq!(init.code, 0, "{}", init.out);
    let test = envctl(dir.path(), &instance, &["test"]);
    assert_eq!(test.code, 0, "{}", test.out);
    assert!(test.out.contains("0 failed"), "{}", test.out);

    write(
        &dir.path().join("goss.yaml"),
        "file:\n  /etc/no-such-file:\n    exists: true\n",
    );
    let test = envctl(dir.path(), &instance, &["test"]);
    assert_eq!(test.code, 1, "{}", test.out);
    assert!(
        leftovers(&instance).is_empty(),
        "{:?}",
        leftovers(&instance)
    );
}
