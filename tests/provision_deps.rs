//! An `ansible` step's dependencies come from the project, offline: a `requirements.yml`
//! beside the playbook names a role directory, a git checkout at a tag and a collection
//! tarball (built here by the real `ansible-galaxy`); envctl installs them with
//! `ansible-galaxy` (its server a closed port) into `.envctl/deps/`, the playbook uses all
//! three, a second provisioning reuses the installation, and an edit to a vendored role
//! installs again. Anything that would be downloaded is refused at its line, exit 2,
//! with nothing created; so is a Puppet module dependency the vendored directory lacks.

use crate::common;
use common::Project;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A project whose playbook uses a role directory, a role from a git checkout (tag
/// `v1`; its working tree has a later, uncommitted edit) and a collection's filter.
fn project() -> Project {
    let p = Project::empty();
    p.file(
        "environments/deps.toml",
        r#"
[nodes.app]
image = "debian:bookworm"
command = "sleep infinity"
provision = [{ ansible = "ansible/site.yml" }]
"#,
    );
    p.file(
        "ansible/site.yml",
        r#"- hosts: app
  gather_facts: false
  roles:
    - motd
    - greeter
  tasks:
    - name: shout through the vendored collection
      ansible.builtin.copy:
        dest: /etc/shouted
        content: "{{ 'quiet words' | acme.tools.shout }}\n"
"#,
    );
    p.file(
        "ansible/requirements.yml",
        r#"---
roles:
  - src: ../vendor/roles/motd
  - src: ../vendor/greeter
    scm: git
    version: v1
collections:
  - name: ../vendor/acme-tools-1.0.0.tar.gz
"#,
    );
    p.file(
        "vendor/roles/motd/tasks/main.yml",
        "- ansible.builtin.copy:\n    dest: /etc/motd\n    content: \"from the vendored motd role\\n\"\n",
    );
    let greeter = p.path().join("vendor/greeter");
    p.file(
        "vendor/greeter/tasks/main.yml",
        "- ansible.builtin.copy:\n    dest: /etc/greeting\n    content: \"greeter v1\\n\"\n",
    );
    p.file("vendor/greeter/meta/main.yml", "galaxy_info:\n  author: acme\n  description: greets\n  license: MIT\n  min_ansible_version: '2.14'\n  platforms: []\ndependencies: []\n");
    git(&greeter, &["init", "-q"]);
    git(&greeter, &["add", "."]);
    git(&greeter, &["commit", "-q", "-m", "greeter"]);
    git(&greeter, &["tag", "v1"]);
    p.file(
        "vendor/greeter/tasks/main.yml",
        "- ansible.builtin.copy:\n    dest: /etc/greeting\n    content: \"uncommitted\\n\"\n",
    );
    // The collection, built as its maintainers would ship it.
    let src = tempfile::tempdir().unwrap();
    let coll = src.path().join("tools");
    std::fs::create_dir_all(coll.join("plugins/filter")).unwrap();
    std::fs::write(
        coll.join("galaxy.yml"),
        "namespace: acme\nname: tools\nversion: 1.0.0\nreadme: README.md\nauthors: [acme]\n",
    )
    .unwrap();
    std::fs::write(coll.join("README.md"), "acme.tools\n").unwrap();
    std::fs::write(
        coll.join("plugins/filter/shout.py"),
        "def shout(text):\n    return text.upper() + '!'\n\n\nclass FilterModule:\n    def filters(self):\n        return {'shout': shout}\n",
    )
    .unwrap();
    let out = Command::new("ansible-galaxy")
        .args(["collection", "build", "--output-path"])
        .arg(p.path().join("vendor"))
        .current_dir(&coll)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(p.path().join("vendor/acme-tools-1.0.0.tar.gz").is_file());
    p
}

fn cat(p: &Project, path: &str) -> String {
    p.run(&["exec", "deps", "app", "--", "cat", path])
        .expect(0)
        .stdout
        .trim()
        .to_string()
}

fn provision_log(p: &Project) -> String {
    p.run(&["logs", "deps", "app", "--provision"])
        .expect(0)
        .stdout
}

#[test]
fn roles_and_collections_from_the_project_are_installed_offline_and_reused() {
    let p = project();
    let vars = [("ANSIBLE_GALAXY_SERVER", "http://127.0.0.1:9")];
    let up = p.run_env(&["up", "deps"], &vars).expect(0);
    assert_eq!(
        cat(&p, "/etc/motd"),
        "from the vendored motd role",
        "{up:?}"
    );
    // The tag, not the working tree's uncommitted edit.
    assert_eq!(cat(&p, "/etc/greeting"), "greeter v1");
    assert_eq!(cat(&p, "/etc/shouted"), "QUIET WORDS!");
    let log = provision_log(&p);
    assert!(
        log.contains("=== dependencies: 2 role(s), 1 collection(s) from ansible/requirements.yml, installing"),
        "{log}"
    );
    let installed: Vec<_> = std::fs::read_dir(p.path().join(".envctl/deps/ansible"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(installed.len(), 1);
    let dir = installed[0].path();
    assert!(dir.join("roles/motd/tasks/main.yml").is_file());
    assert!(dir.join("roles/greeter/tasks/main.yml").is_file());
    assert!(dir
        .join("collections/ansible_collections/acme/tools/plugins/filter/shout.py")
        .is_file());

    // A playbook edit provisions again and reuses the installed dependencies.
    let site = std::fs::read_to_string(p.path().join("ansible/site.yml")).unwrap();
    p.file("ansible/site.yml", format!("{site}# edited\n"));
    p.run_env(&["up", "deps"], &vars).expect(0);
    let log = provision_log(&p);
    assert!(
        log.contains("installed before (.envctl/deps/ansible/"),
        "{log}"
    );

    // An edit to a vendored role installs again, and the node has it.
    p.file(
        "vendor/roles/motd/tasks/main.yml",
        "- ansible.builtin.copy:\n    dest: /etc/motd\n    content: \"edited motd\\n\"\n",
    );
    p.run_env(&["up", "deps"], &vars).expect(0);
    assert!(provision_log(&p).contains(", installing"));
    assert_eq!(cat(&p, "/etc/motd"), "edited motd");
    p.run(&["down", "deps"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn dependencies_that_would_be_downloaded_are_refused_at_their_line_with_nothing_created() {
    let p = project();
    p.file(
        "ansible/requirements.yml",
        "roles:\n  - src: ../vendor/roles/motd\n  - name: geerlingguy.nginx\ncollections:\n  - community.general\n",
    );
    let run = p.run(&["up", "deps"]).expect(2);
    assert!(
        run.stderr
            .contains("ansible/requirements.yml:3:11: `roles[1].name`: role `geerlingguy.nginx` would be downloaded from Ansible Galaxy"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("ansible/requirements.yml:5:5: `collections[0]`: collection `community.general` would be downloaded from Ansible Galaxy"),
        "{}",
        run.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    assert!(!p.path().join(".envctl/deps").exists());
}

#[test]
fn a_puppet_module_dependency_missing_from_vendor_is_refused_at_its_line() {
    let p = Project::empty();
    p.file(
        "environments/pp.toml",
        "[nodes.n]\nimage = \"debian:bookworm\"\nprovision = [{ puppet = \"puppet/site.pp\", modules = \"puppet/modules\", vendor = \"puppet/vendor\" }]\n",
    );
    p.file("puppet/site.pp", "include app\n");
    p.file("puppet/modules/app/manifests/init.pp", "class app {}\n");
    p.file(
        "puppet/modules/app/metadata.json",
        "{\n  \"name\": \"acme-app\",\n  \"version\": \"1.0.0\",\n  \"dependencies\": [\n    { \"name\": \"puppetlabs/stdlib\", \"version_requirement\": \">= 9.0.0 < 10.0.0\" }\n  ]\n}\n",
    );
    p.file("puppet/vendor/.keep", "");
    let run = p.run(&["up", "pp"]).expect(2);
    assert!(
        run.stderr.contains("puppet/modules/app/metadata.json:5:5: `dependencies[0]`: module `app` depends on `puppetlabs/stdlib` (>= 9.0.0 < 10.0.0), which is not in `modules` (puppet/modules) or `vendor` (puppet/vendor)"),
        "{}",
        run.stderr
    );
    // Vendored at a version outside the requirement: refused with the version found.
    p.file(
        "puppet/vendor/stdlib/metadata.json",
        "{ \"name\": \"puppetlabs-stdlib\", \"version\": \"8.6.0\" }",
    );
    let run = p.run(&["up", "pp"]).expect(2);
    assert!(
        run.stderr.contains("`stdlib` in `vendor` is 8.6.0"),
        "{}",
        run.stderr
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
