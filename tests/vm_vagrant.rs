//! The top-level Vagrantfile and the Vagrant engine, against real Vagrant (Debian's
//! package) with its docker provider: the repository's `vm` example environment is
//! brought up as SSH-enabled machines, provisioned by the same steps, and verified by
//! the same specs as on the container engine.

use crate::common;
use common::{repo, Project};
use std::process::Command;

/// One `vagrant up` of these tests at a time: parallel ones on the shared engine have
/// been seen to lose a just-created container (`docker inspect`: no such object) to
/// each other; the cause is not understood yet.
static VAGRANT_UP: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    VAGRANT_UP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn vm_project(with_vagrantfile: bool) -> Project {
    let p = Project::vm_example();
    if with_vagrantfile {
        p.file(
            "Vagrantfile",
            std::fs::read(repo().join("Vagrantfile")).unwrap(),
        );
    }
    p
}

/// `vagrant` run on the project's Vagrantfile with the variables the Vagrantfile reads;
/// its state goes where `envctl` keeps the instance's, so envctl finds the machines.
fn vagrant(p: &Project, env: &str, args: &[&str]) -> std::process::Output {
    let state = p.path().join(".envctl/vagrant").join(env).join(&p.instance);
    std::fs::create_dir_all(&state).unwrap();
    Command::new("vagrant")
        .args(args)
        .current_dir(p.path())
        .env("VAGRANT_CWD", p.path())
        .env("VAGRANT_DOTFILE_PATH", &state)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("ENVCTL_BIN", env!("CARGO_BIN_EXE_envctl"))
        .env("ENVCTL_ENV", env)
        .env("ENVCTL_INSTANCE", &p.instance)
        .output()
        .expect("vagrant is installed (./dev test installs Debian's package)")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn vagrant_validate_accepts_the_top_level_vagrantfile_for_every_example() {
    let p = Project::empty();
    p.file(
        "Vagrantfile",
        std::fs::read(repo().join("Vagrantfile")).unwrap(),
    );
    let envs: Vec<String> = std::fs::read_dir(repo().join("environments"))
        .unwrap()
        .flatten()
        .filter_map(|e| Some(e.path().file_stem()?.to_string_lossy().into_owned()))
        .collect();
    assert!(
        envs.len() >= 2 && envs.contains(&"vm".to_string()),
        "{envs:?}"
    );
    for env in &envs {
        let out = Command::new("vagrant")
            .arg("validate")
            .current_dir(repo())
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .env("VAGRANT_DOTFILE_PATH", p.path().join(".vagrant"))
            .env("ENVCTL_BIN", env!("CARGO_BIN_EXE_envctl"))
            .env("ENVCTL_ENV", env)
            .output()
            .expect("vagrant is installed");
        assert!(out.status.success(), "{env}: {}", text(&out));
        assert!(
            text(&out).contains("validated successfully"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn the_vagrantfile_reports_invalid_definitions_from_envctl() {
    let p = Project::empty();
    p.file(
        "Vagrantfile",
        std::fs::read(repo().join("Vagrantfile")).unwrap(),
    );
    p.file(
        "environments/bad.toml",
        "[nodes.web]\nimage = \"debian:bookworm\"\nports = [\"99999\"]\n",
    );
    let out = vagrant(&p, "bad", &["validate"]);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("vagrant-config") && t.contains("environments/bad.toml:3"),
        "{t}"
    );
}

#[test]
fn vagrant_config_maps_nodes_steps_and_ports() {
    let p = vm_project(false);
    let run = p.run(&["vagrant-config", "vm"]).expect(0);
    let cfg: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(cfg["format"], 1);
    assert_eq!(cfg["instance"], p.instance.as_str());
    let machines = cfg["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 1);
    let web = &machines[0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["command"], "perl /srv/server.pl");
    assert_eq!(web["ports"][0]["guest"], 8080);
    assert_eq!(web["labels"]["io.envctl.instance"], p.instance.as_str());
    let kinds: Vec<&str> = web["provision"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    // copy = upload + move into place; script; shell.
    assert_eq!(kinds, ["file", "shell", "shell", "shell"]);
    assert!(web["provision"][2]["path"]
        .as_str()
        .unwrap()
        .ends_with("provision/vm/site.sh"));
    assert_eq!(web["provision"][2]["args"][0], "provisioned by envctl");
}

#[test]
fn replicas_become_one_machine_each() {
    let p = Project::empty();
    p.file(
        "environments/e.toml",
        "[nodes.web]\nimage = \"debian:bookworm\"\nreplicas = 2\n[nodes.db]\nimage = \"debian:bookworm\"\n",
    );
    let run = p.run(&["vagrant-config"]).expect(0);
    let cfg: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<&str> = cfg["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "web-1", "web-2"]);
    assert_eq!(cfg["machines"][0]["box"], "debian/bookworm64");
}

#[test]
fn an_unknown_engine_is_invalid_input_naming_file_line_and_field() {
    let p = Project::empty();
    p.file(
        "environments/e.toml",
        "engine = \"lxc\"\n[nodes.web]\nimage = \"debian:bookworm\"\n",
    );
    let run = p.run(&["up"]).expect(2);
    let out = run.output();
    assert!(out.contains("environments/e.toml:1"), "{out}");
    assert!(out.contains("engine") && out.contains("`lxc`"), "{out}");
    assert!(p.leftovers().is_empty());
}

#[test]
fn vagrant_up_through_the_vagrantfile_passes_the_same_specs() {
    let _one = one_at_a_time();
    let p = vm_project(true);
    let up = vagrant(&p, "vm", &["up", "--provider=docker"]);
    let log = text(&up);
    assert!(up.status.success(), "{log}");
    // The same steps, in order, under the names envctl gives them.
    let steps = [
        "01 copy provision/vm/server.pl -> /srv/server.pl (upload)",
        "02 script provision/vm/site.sh provisioned by envctl",
        "03 record the kernel",
    ];
    let mut at = 0;
    for s in steps {
        let found = log[at..]
            .find(s)
            .unwrap_or_else(|| panic!("no step {s} in\n{log}"));
        at += found;
    }
    p.run(&["verify", "vm"]).expect(0);
    p.run(&["down", "vm"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn envctl_test_runs_the_vm_example_on_vagrant_and_leaves_nothing() {
    let _one = one_at_a_time();
    let p = vm_project(false);
    // A step marked as not idempotent is not run again by the check.
    p.vm_counting_step(", idempotent = false");
    let evidence = p.path().join("evidence.json");
    let run = p
        .run_env(
            &["test", "vm", "--evidence", evidence.to_str().unwrap()],
            &[("ENVCTL_VAGRANT_PROVIDER", "docker")],
        )
        .expect(0);
    assert!(run.stdout.contains("5 passed"), "{}", run.output());
    assert!(
        run.stderr
            .contains("node `web`: idempotent (the second run changed nothing)"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr
            .contains("(not run again: 04 count runs, marked idempotent = false)"),
        "{}",
        run.output()
    );
    let evidence = std::fs::read_to_string(evidence).unwrap();
    assert!(evidence.contains("vagrant:build"), "{evidence}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    assert!(!p
        .path()
        .join(".envctl/vagrant/vm")
        .join(&p.instance)
        .exists());
}

#[test]
fn a_step_that_is_not_idempotent_fails_test_on_vagrant_naming_the_file() {
    let _one = one_at_a_time();
    let p = vm_project(false);
    p.vm_counting_step("");
    let vars = [("ENVCTL_VAGRANT_PROVIDER", "docker")];
    let run = p.run_env(&["test", "vm", "--keep"], &vars).expect(4);
    assert!(
        run.stderr
            .contains("node `web`: the second run of its provisioning changed:"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr
            .contains("file modified: /srv/www/runs.txt (content)"),
        "{}",
        run.output()
    );
    // Nothing else changed: the copy, the script and the kernel record wrote the same.
    let changed = run
        .stderr
        .split("the second run of its provisioning changed:")
        .nth(1)
        .unwrap_or_default();
    assert!(
        !changed.contains("/srv/server.pl") && !changed.contains("kernel.txt"),
        "{}",
        run.output()
    );
    // Both runs' output is kept, one log per machine.
    let again = p
        .run_env(&["logs", "vm", "web", "--idempotence"], &vars)
        .expect(0);
    assert!(
        again.stdout.contains("(04 count runs)"),
        "{}",
        again.output()
    );
    assert!(
        again.stdout.contains("/srv/www/runs.txt"),
        "{}",
        again.output()
    );
    let first = p
        .run_env(&["logs", "vm", "web", "--provision"], &vars)
        .expect(0);
    assert!(
        first.stdout.contains("(03 record the kernel)"),
        "{}",
        first.output()
    );
    p.run_env(&["down", "vm"], &vars).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_failing_step_on_vagrant_is_an_environment_error_and_leaves_nothing() {
    let _one = one_at_a_time();
    let p = vm_project(false);
    let env = std::fs::read_to_string(p.path().join("environments/vm.toml"))
        .unwrap()
        .replace(
            "uname -r > /srv/www/kernel.txt",
            "echo step-broke >&2; exit 7",
        );
    p.file("environments/vm.toml", env);
    let run = p
        .run_env(&["up", "vm"], &[("ENVCTL_VAGRANT_PROVIDER", "docker")])
        .expect(3);
    // Named as on containers: envctl's step runner ran it, over SSH.
    assert!(
        run.stderr.contains("failed at step 3 (record the kernel)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("step-broke"), "{}", run.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    p.run(&["status", "vm"]).expect(0);
}

/// A secret of the `vm` example for the tests of what machines print.
const VM_SECRET: &str = "vm-secret-4c1e9a";

#[test]
fn exec_status_logs_provision_and_the_bundle_on_a_vagrant_machine() {
    let _one = one_at_a_time();
    let p = vm_project(false);
    p.vm_counting_step("");
    let env = std::fs::read_to_string(p.path().join("environments/vm.toml"))
        .unwrap()
        .replace(
            "[nodes.web]",
            &format!("[secrets]\nVM_TOKEN = {{ value = \"{VM_SECRET}\" }}\n\n[nodes.web]"),
        );
    p.file("environments/vm.toml", env);
    let vars = [("ENVCTL_VAGRANT_PROVIDER", "docker")];
    p.run_env(&["up", "vm"], &vars).expect(0);
    let out = p
        .run(&["exec", "vm", "web", "--", "cat", "/srv/www/marker.txt"])
        .expect(0);
    assert_eq!(out.stdout.trim(), "provisioned by envctl");
    p.run(&["exec", "vm", "web", "--", "sh", "-c", "exit 5"])
        .expect(5);
    // What a machine prints never shows a secret.
    let said = p
        .run(&["exec", "vm", "web", "--", "echo", "token", VM_SECRET])
        .expect(0);
    assert_eq!(said.stdout.trim(), "token [redacted]", "{}", said.output());
    let status = p.run(&["status", "vm"]).expect(0);
    assert!(
        status.stdout.contains("web") && status.stdout.contains("running"),
        "{}",
        status.stdout
    );
    // The plan of `up` on the running machine: its steps run again.
    let plan = p.run(&["up", "vm", "--dry-run"]).expect(0);
    assert!(
        plan.stdout.contains("web  running: its steps run again"),
        "{}",
        plan.output()
    );

    // logs: the command's output, its last lines, and what it writes next.
    let logs = p.run(&["logs", "vm", "web"]).expect(0);
    assert!(
        logs.stdout.contains("listening on 8080"),
        "{}",
        logs.output()
    );
    let append = |line: &str| {
        let cmd = format!("echo {line} >> /var/log/envctl-web.log");
        p.run(&["exec", "vm", "web", "--", "sh", "-c", &cmd])
            .expect(0);
    };
    append("second-line");
    let tail = p.run(&["logs", "vm", "web", "--tail", "1"]).expect(0);
    assert_eq!(tail.stdout.trim(), "second-line", "{}", tail.output());
    let mut follow = crate::background::Background::start(
        &p,
        &p.instance,
        &["logs", "vm", "web", "--follow"],
        &[],
    );
    follow.wait_until("the log so far is shown", |bg| {
        bg.output().contains("second-line")
    });
    append(&format!("followed-{VM_SECRET}"));
    follow.wait_until("a new line is shown", |bg| {
        bg.output().contains("followed-")
    });
    follow.signal(libc::SIGINT);
    let followed = follow.finish();
    assert!(
        followed.stdout.contains("followed-[redacted]") && !followed.output().contains(VM_SECRET),
        "{}",
        followed.output()
    );

    // provision: the steps run again on the running machine (the counting step adds a
    // line), the command keeps serving, and the log of the new run replaces the first.
    p.run_env(&["provision", "vm"], &vars).expect(0);
    let runs = p
        .run(&["exec", "vm", "web", "--", "wc", "-l", "/srv/www/runs.txt"])
        .expect(0);
    assert!(runs.stdout.starts_with("2 "), "{}", runs.output());
    let log = p.run(&["logs", "vm", "web", "--provision"]).expect(0);
    assert!(log.stdout.contains("(04 count runs)"), "{}", log.output());
    let verify = p.run(&["verify", "vm"]).expect(0);
    assert!(verify.stdout.contains("5 passed"), "{}", verify.output());
    // ... and with the check, the counting step is named (exit 4).
    let check = p
        .run_env(&["provision", "vm", "--check-idempotence"], &vars)
        .expect(4);
    assert!(
        check.stderr.contains("/srv/www/runs.txt"),
        "{}",
        check.output()
    );

    // A failing spec with --artifacts: the bundle holds the reports, the machine's
    // output, its provisioning log and its state, all redacted.
    p.file(
        "specs/vm/broken.toml",
        "[[file]]\ntitle = \"a file nobody wrote\"\nnode = \"web\"\npath = \"/srv/www/missing.txt\"\nexists = true\n",
    );
    let bundle = p.path().join("bundle");
    let failed = p
        .run(&["verify", "vm", "--artifacts", bundle.to_str().unwrap()])
        .expect(1);
    assert!(
        failed.stderr.contains("wrote the run's artifacts"),
        "{}",
        failed.output()
    );
    let read =
        |f: &str| std::fs::read_to_string(bundle.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert!(read("junit.xml").contains("a_file_nobody_wrote"));
    assert!(read("nodes/web.log").contains("followed-[redacted]"));
    assert!(read("logs/web.provision.log").contains("(04 count runs)"));
    assert!(
        read("nodes.txt").contains("web\tmachine\trunning"),
        "{}",
        read("nodes.txt")
    );
    for (path, bytes) in common::files_under(&bundle) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(VM_SECRET),
            "{} shows the secret",
            path.display()
        );
    }
    p.run(&["down", "vm"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_killed_test_run_leaves_machines_that_gc_destroys() {
    let _one = one_at_a_time();
    let p = vm_project(false);
    let vars = [("ENVCTL_VAGRANT_PROVIDER", "docker")];
    let mut run = crate::background::Background::start(&p, &p.instance, &["test", "vm"], &vars);
    run.wait_until("the machines are up", |bg| bg.output().contains(": up in"));
    run.signal(libc::SIGKILL);
    drop(run.finish());
    let owner = p
        .path()
        .join(".envctl/vagrant/vm")
        .join(format!("{}.owner.json", p.instance));
    assert!(owner.is_file(), "the run recorded no owner");
    assert!(
        !p.leftovers().is_empty(),
        "the killed run left nothing to collect"
    );
    // `up` machines are not garbage: only the dead run's.
    let dry = p.run(&["gc", "--engine", "vagrant", "--dry-run"]).expect(0);
    assert!(
        dry.stdout.contains(&format!(
            "would remove vagrant machines (vm/{})",
            p.instance
        )) && dry.stdout.contains("is gone"),
        "{}",
        dry.output()
    );
    assert!(!p.leftovers().is_empty(), "a dry run removed something");
    p.run_env(&["gc", "--engine", "vagrant"], &vars).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    assert!(!owner.exists());
    assert!(!p
        .path()
        .join(".envctl/vagrant/vm")
        .join(&p.instance)
        .exists());
}

/// The repository as a fresh clone has it, after `cargo build --release`: the built
/// envctl at `target/release/envctl` beside the Vagrantfile.
fn fresh_clone(built: bool) -> Project {
    let p = Project::from_repo(&[
        "Vagrantfile",
        "environments",
        "specs",
        "provision",
        "images",
    ]);
    if built {
        let bin = p.path().join("target/release/envctl");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_envctl"), &bin).unwrap();
    }
    p
}

/// `vagrant` in `dir` with none of the variables the Vagrantfile reads, and a PATH
/// without envctl on it.
fn bare_vagrant(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("vagrant");
    cmd.args(args)
        .current_dir(dir)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_DOTFILE_PATH", dir.join(".vagrant"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ENVCTL_") {
            cmd.env_remove(name);
        }
    }
    assert!(
        !std::path::Path::new("/usr/bin/envctl").exists(),
        "envctl on PATH would hide what this test checks"
    );
    cmd.output().expect("vagrant is installed")
}

#[test]
fn vagrant_validate_in_a_fresh_clone_after_a_build_needs_no_variable() {
    let p = fresh_clone(true);
    let out = bare_vagrant(p.path(), &["validate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("validated successfully"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_vagrantfile_without_a_build_says_how_to_get_envctl() {
    let p = fresh_clone(false);
    let out = bare_vagrant(p.path(), &["validate"]);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("cargo build --release") && t.contains("cargo install --path ."),
        "{t}"
    );
}

#[test]
fn vagrant_config_without_an_environment_picks_the_one_made_for_vagrant() {
    let p = fresh_clone(false);
    let run = p.run(&["vagrant-config"]).expect(0);
    let cfg: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(cfg["environment"], "vm", "{}", run.stdout);
    // Two environments made for Vagrant: nothing to guess, the names are listed.
    p.file(
        "environments/vm2.toml",
        std::fs::read(repo().join("environments/vm.toml")).unwrap(),
    );
    let run = p.run(&["vagrant-config"]).expect(2);
    assert!(run.stderr.contains("vm, vm2"), "{}", run.stderr);
}
