//! A project is confined to its root: every path key of a definition, resolved with
//! symlinks followed, must stay inside the project. A symlink to a host file or directory
//! is invalid input (exit 2) naming file, line and field and quoting nothing from outside;
//! the same symlink to a file or directory of the project is accepted. Runs `validate`
//! only: no engine is involved.

use crate::common;

use common::Project;

/// What every file the cases link to holds, in or out of the project.
const MARKER: &str = "host-secret-text";

/// What a symlink points at.
enum Target {
    File(&'static str),
    Dir(&'static [(&'static str, &'static str)]),
}

struct Case {
    key: &'static str,
    /// Files of the project (besides the environment).
    files: &'static [(&'static str, &'static str)],
    /// `environments/e.toml`, unless the case links that file itself.
    env: &'static str,
    /// Where in the project the symlink is, and what it points at.
    link: &'static str,
    target: Target,
    /// The diagnostic's file.
    at: &'static str,
}

const WEB: &str = "[nodes.web]\nimage = \"debian:bookworm\"\n";
const DIR_FILES: &[(&str, &str)] = &[
    ("Dockerfile", "FROM debian:bookworm\n# host-secret-text\n"),
    ("x.txt", "host-secret-text\n"),
];
const ROLE: &[(&str, &str)] = &[("r/tasks/main.yml", "# host-secret-text\n[]\n")];

fn cases() -> Vec<Case> {
    vec![
        Case {
            key: "copy (a linked file)",
            files: &[],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ copy = \"files/link\", to = \"/x\" }]\n",
            link: "files/link",
            target: Target::File("host-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "copy (a linked directory)",
            files: &[],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ copy = \"files/dir\", to = \"/x\" }]\n",
            link: "files/dir",
            target: Target::Dir(DIR_FILES),
            at: "environments/e.toml",
        },
        Case {
            key: "copy (a link inside a copied directory)",
            files: &[("files/d/ok.txt", "ok\n")],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ copy = \"files/d\", to = \"/x\" }]\n",
            link: "files/d/sub/inner",
            target: Target::File("host-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "script",
            files: &[],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ script = \"provision/s.sh\" }]\n",
            link: "provision/s.sh",
            target: Target::File("#!/bin/sh\n# host-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "shell naming a script",
            files: &[],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ shell = \"provision/s.sh\" }]\n",
            link: "provision/s.sh",
            target: Target::File("#!/bin/sh\n# host-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "template",
            files: &[],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ template = \"templates/t.j2\", to = \"/x\" }]\n",
            link: "templates/t.j2",
            target: Target::File("host-secret-text {{ node }}\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "build (a linked context)",
            files: &[],
            env: "[nodes.web]\nbuild = \"images/web\"\n",
            link: "images/web",
            target: Target::Dir(DIR_FILES),
            at: "environments/e.toml",
        },
        Case {
            key: "build (a linked Dockerfile)",
            files: &[("images/web/app.txt", "app\n")],
            env: "[nodes.web]\nbuild = \"images/web\"\n",
            link: "images/web/Dockerfile",
            target: Target::File("FROM debian:bookworm\n# host-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "puppet manifest",
            files: &[],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ puppet = \"puppet/site.pp\" }]\n",
            link: "puppet/site.pp",
            target: Target::File("# host-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "puppet modules",
            files: &[("puppet/site.pp", "notice('x')\n")],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ puppet = \"puppet/site.pp\", modules = \"modules\" }]\n",
            link: "modules",
            target: Target::Dir(ROLE),
            at: "environments/e.toml",
        },
        Case {
            key: "ansible playbook",
            files: &[],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ ansible = \"ansible/site.yml\" }]\n",
            link: "ansible/site.yml",
            target: Target::File("# host-secret-text\n- hosts: all\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "ansible roles beside a playbook",
            files: &[("ansible/site.yml", "- hosts: all\n")],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ ansible = \"ansible/site.yml\" }]\n",
            link: "ansible/roles",
            target: Target::Dir(ROLE),
            at: "environments/e.toml",
        },
        Case {
            key: "ansible roles beside a top-level playbook",
            files: &[("site.yml", "- hosts: all\n")],
            env: "[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [{ ansible = \"site.yml\" }]\n",
            link: "roles",
            target: Target::Dir(ROLE),
            at: "environments/e.toml",
        },
        Case {
            key: "inventory.file",
            files: &[],
            env: "[inventory]\nfile = \"inventory.ini\"\n\n[inventory.node]\nimage = \"debian:bookworm\"\n",
            link: "inventory.ini",
            target: Target::File("[web]\nhost-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "secrets file",
            files: &[],
            env: "[secrets]\nTOKEN = { file = \"secrets/token\" }\n\n[nodes.web]\nimage = \"debian:bookworm\"\n",
            link: "secrets/token",
            target: Target::File("host-secret-text\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "router template",
            files: &[],
            env: "[nodes.blue]\nimage = \"debian:bookworm\"\n[nodes.green]\nimage = \"debian:bookworm\"\n[nodes.proxy]\nimage = \"debian:bookworm\"\n\n[promote.app]\ncolours = { blue = \"blue\", green = \"green\" }\nrouter = \"proxy\"\ntemplate = \"router/upstream.conf\"\nto = \"/etc/upstream.conf\"\nserves = { url = \"http://proxy:80/\", body = \"ok\" }\n",
            link: "router/upstream.conf",
            target: Target::File("# host-secret-text {{node}}\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "the environment file",
            files: &[],
            env: "",
            link: "environments/e.toml",
            target: Target::File("# host-secret-text\n[nodes.web]\nimage = \"debian:bookworm\"\n"),
            at: "environments/e.toml",
        },
        Case {
            key: "a spec file",
            files: &[],
            env: WEB,
            link: "specs/e/web.toml",
            target: Target::File("# host-secret-text\n[[command]]\nnode = \"web\"\nrun = \"true\"\n"),
            at: "specs/e/web.toml",
        },
        Case {
            key: "goss vars",
            files: &[("specs/e/web.goss.yaml", "command:\n  \"true\":\n    exit-status: 0\n")],
            env: WEB,
            link: "specs/e/goss.vars.yaml",
            target: Target::File("marker: host-secret-text\n"),
            at: "specs/e/goss.vars.yaml",
        },
        Case {
            key: "gossfile include",
            files: &[("specs/e/web.goss.yaml", "gossfile:\n  shared.yaml: {}\n")],
            env: WEB,
            link: "specs/e/shared.yaml",
            target: Target::File("# host-secret-text\ncommand:\n  \"true\":\n    exit-status: 0\n"),
            at: "specs/e/web.goss.yaml",
        },
    ]
}

/// Creates what a link points at under `base`; returns its path.
fn make_target(base: &std::path::Path, target: &Target) -> std::path::PathBuf {
    match target {
        Target::File(text) => {
            let path = base.join("target-file");
            std::fs::create_dir_all(base).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
        Target::Dir(files) => {
            let path = base.join("target-dir");
            for (name, text) in *files {
                let f = path.join(name);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::fs::write(f, text).unwrap();
            }
            path
        }
    }
}

fn project_for(case: &Case, base_of_target: Option<&std::path::Path>) -> Project {
    let p = Project::empty();
    for (name, text) in case.files {
        p.file(name, text);
    }
    if !case.env.is_empty() {
        p.file("environments/e.toml", case.env);
    }
    let base = base_of_target.map_or_else(|| p.path().join("real"), std::path::Path::to_path_buf);
    let target = make_target(&base, &case.target);
    let link = p.path().join(case.link);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    p
}

#[test]
fn every_path_key_linked_to_a_host_file_or_directory_is_invalid_input_quoting_nothing_of_it() {
    let mut wrong = Vec::new();
    for case in cases() {
        let host = tempfile::tempdir().unwrap();
        let p = project_for(&case, Some(host.path()));
        let run = p.run(&["validate", "e"]);
        let text = run.output();
        let at = regex::Regex::new(&format!(
            r"(?m)^{}:\d+:\d+: .*outside the project",
            regex::escape(case.at)
        ))
        .unwrap();
        if run.code != 2 || !at.is_match(&text) {
            wrong.push(format!(
                "{}: exit {} without a refusal at {}\n{text}",
                case.key, run.code, case.at
            ));
        }
        let host_path = host.path().display().to_string();
        if text.contains(MARKER) || text.contains(&host_path) {
            wrong.push(format!("{}: quotes the host\n{text}", case.key));
        }
        if p.path().join(".envctl").exists() {
            wrong.push(format!("{}: created .envctl/", case.key));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn every_path_key_linked_inside_the_project_is_accepted() {
    let mut wrong = Vec::new();
    for case in cases() {
        let p = project_for(&case, None);
        let run = p.run(&["validate", "e"]);
        if run.code != 0 {
            wrong.push(format!("{}: exit {}\n{}", case.key, run.code, run.output()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn absolute_and_climbing_paths_are_outside_the_project() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), MARKER).unwrap();
    std::fs::write(host.path().join("Dockerfile"), "FROM x\n").unwrap();
    let far = host.path().display().to_string();
    for step in [
        format!("build = \"{far}\""),
        "build = \"..\"".to_string(),
        format!("image = \"x\"\nprovision = [{{ copy = \"{far}/f\", to = \"/x\" }}]"),
        "image = \"x\"\nprovision = [{ template = \"../f\", to = \"/x\" }]".to_string(),
        format!("image = \"x\"\nprovision = [{{ puppet = \"{far}/f\" }}]"),
    ] {
        let p = Project::empty();
        p.file("environments/e.toml", format!("[nodes.web]\n{step}\n"));
        let run = p.run(&["validate", "e"]).expect(2);
        assert!(
            run.stderr.contains("outside the project") && !run.output().contains(MARKER),
            "{step}: {}",
            run.output()
        );
    }
}

#[test]
fn a_state_directory_linked_out_of_the_project_is_refused_before_anything_is_written() {
    let host = tempfile::tempdir().unwrap();
    let p = Project::empty();
    p.file("environments/e.toml", WEB);
    std::os::unix::fs::symlink(host.path(), p.path().join(".envctl")).unwrap();
    for verb in ["validate", "status", "down"] {
        let run = p.run(&[verb, "e"]).expect(2);
        assert!(run.stderr.contains("`.envctl`"), "{verb}: {}", run.stderr);
    }
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
}
