//! What each engine serves: a verb or flag the chosen engine cannot serve is refused
//! with exit 2, naming the engine and the feature, before anything is created (the
//! table in docs/vms.md). What VMs do serve is shown against real engines in
//! tests/vm_vagrant.rs and tests/vm_qemu.rs.

use crate::common;
use common::Project;

/// Verbs and flags refused on VM engines, with the words naming the feature.
const REFUSED_ON_VMS: &[(&[&str], &str)] = &[
    (&["up", "vm", "--no-cache"], "provisioning cache"),
    (&["test", "vm", "--no-cache"], "provisioning cache"),
    (&["provision", "vm", "--no-cache"], "provisioning cache"),
    (&["promote", "vm", "web", "--release", "v2"], "promotion"),
    (&["rollback", "vm", "web"], "promotion"),
    (&["image", "list"], "`envctl image`"),
    (&["up", "vm", "--watch"], "watching (`--watch`)"),
    (&["test", "vm", "--watch"], "watching (`--watch`)"),
    (&["up", "vm", "--incremental"], "incremental provisioning"),
    (&["test", "vm", "--incremental"], "incremental provisioning"),
];

fn assert_refused(engine: &str) {
    let p = Project::vm_example();
    for (args, feature) in REFUSED_ON_VMS {
        let mut full = vec!["--engine", engine];
        full.extend_from_slice(args);
        let run = p.run(&full).expect(2);
        let text = run.output();
        assert!(
            text.contains(&format!("the {engine} engine does not support"))
                && text.contains(feature),
            "`envctl {}` should name the {engine} engine and {feature}:\n{text}",
            full.join(" ")
        );
    }
    // Nothing was created: no machine state, no object on the container engine.
    assert!(
        !p.path().join(".envctl").join(engine).exists(),
        "{engine} state was created"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    assert!(
        !p.path().join("bundle").exists(),
        "a refused bundle was written"
    );
}

#[test]
fn vagrant_refuses_what_it_cannot_serve_before_creating_anything() {
    assert_refused("vagrant");
}

#[test]
fn qemu_refuses_what_it_cannot_serve_before_creating_anything() {
    assert_refused("qemu");
}

/// An ansible step with roles from a `requirements.yml`: Vagrant's own provisioner does
/// not install them, so the vagrant engine refuses the step (exit 2, its line); QEMU's
/// machines use envctl's step runner, which does (tests/vm_qemu.rs runs one). A puppet
/// step's `vendor` is refused on qemu.
#[test]
fn vagrant_refuses_a_steps_requirements_and_qemu_a_puppet_vendor_at_their_line() {
    let p = Project::vm_example();
    p.file("ansible/site.yml", "- hosts: web\n  roles: [motd]\n");
    p.file(
        "ansible/requirements.yml",
        "roles:\n  - src: ../vendor/motd\n",
    );
    p.file(
        "vendor/motd/tasks/main.yml",
        "- ansible.builtin.debug: {}\n",
    );
    let env = std::fs::read_to_string(p.path().join("environments/vm.toml")).unwrap();
    p.file(
        "environments/vm.toml",
        env.replace(
            "provision = [",
            "provision = [\n  { ansible = \"ansible/site.yml\" },",
        ),
    );
    let run = p.run(&["--engine", "vagrant", "up", "vm"]).expect(2);
    assert!(
        run.stderr.contains("environments/vm.toml:11")
            && run
                .stderr
                .contains("the vagrant engine does not support `requirements`"),
        "{}",
        run.output()
    );
    assert!(!p.path().join(".envctl/vagrant").exists());
    // The same definition passes validation on qemu (it fails later, for want of a VM
    // base disk here, not at the step).
    let on_qemu = p.run_env(
        &["--engine", "qemu", "up", "vm"],
        &[(
            "ENVCTL_QEMU_IMAGE",
            p.path().join("no-disk").to_str().unwrap(),
        )],
    );
    assert!(
        !on_qemu.stderr.contains("does not support"),
        "{}",
        on_qemu.output()
    );
    assert_eq!(on_qemu.code, 3, "{}", on_qemu.output());

    // A puppet step's vendored modules are not yet shown on a real VM: refused on qemu.
    p.file("puppet/site.pp", "notice('hi')\n");
    p.file(
        "puppet/vendor/stdlib/manifests/init.pp",
        "class stdlib {}\n",
    );
    let env = std::fs::read_to_string(p.path().join("environments/vm.toml")).unwrap();
    p.file(
        "environments/vm.toml",
        env.replace(
            "{ ansible = \"ansible/site.yml\" },",
            "{ puppet = \"puppet/site.pp\", vendor = \"puppet/vendor\" },",
        ),
    );
    let run = p.run(&["--engine", "qemu", "up", "vm"]).expect(2);
    assert!(
        run.stderr.contains("environments/vm.toml:11")
            && run
                .stderr
                .contains("the qemu engine does not support `vendor`"),
        "{}",
        run.output()
    );
    assert!(!p.path().join(".envctl/qemu").exists());
}

#[test]
fn docker_serves_the_verbs_vms_refuse() {
    // The same flags are accepted on docker: what fails there is the missing instance or
    // service, never the engine.
    let p = Project::vm_example();
    for args in [
        &["--engine", "docker", "logs", "vm", "web", "--provision"][..],
        &["--engine", "docker", "gc", "--dry-run"][..],
    ] {
        let run = p.run(args);
        assert!(
            !run.output().contains("engine does not support"),
            "`envctl {}`: {}",
            args.join(" "),
            run.output()
        );
    }
}

/// Breaks the `vm` example's definition (a TOML syntax error).
fn break_definition(p: &Project) {
    let path = p.path().join("environments/vm.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[nodes.web\n");
    std::fs::write(path, text).unwrap();
}

#[test]
fn down_of_a_qemu_instance_with_a_broken_definition_still_stops_its_machines() {
    let p = Project::vm_example();
    // A process standing for the VM: QEMU's pid file is all `down` needs to stop it.
    let mut vm = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let machine = p
        .path()
        .join(".envctl/qemu/vm")
        .join(&p.instance)
        .join("web");
    std::fs::create_dir_all(&machine).unwrap();
    std::fs::write(machine.join("pid"), vm.id().to_string()).unwrap();
    break_definition(&p);
    let run = p.run(&["down", "vm"]).expect(0);
    assert!(
        run.output().contains("cannot load environment `vm`"),
        "{}",
        run.output()
    );
    assert!(
        run.output().contains("destroyed its machines"),
        "{}",
        run.output()
    );
    let status = vm.wait().unwrap();
    assert!(!status.success(), "the machine was stopped: {status:?}");
    assert!(!machine.exists(), "the machine's state is gone");
}

#[test]
fn down_of_a_vagrant_instance_with_a_broken_definition_refuses_and_keeps_it() {
    let p = Project::vm_example();
    let state = p.path().join(".envctl/vagrant/vm").join(&p.instance);
    std::fs::create_dir_all(state.join("machines")).unwrap();
    break_definition(&p);
    let run = p.run(&["down", "vm"]).expect(2);
    // The printed command names this run's --root and --instance: it works as printed.
    let down = format!(
        "fix it, then run `envctl --root {} --instance {} down vm` again",
        p.path().display(),
        p.instance
    );
    assert!(run.output().contains(&down), "{}", run.output());
    assert!(
        run.output().contains("environments/vm.toml"),
        "names the file to fix: {}",
        run.output()
    );
    assert!(state.join("machines").is_dir(), "nothing was removed");
}

/// `up --dry-run` and `test --dry-run` on machines: the plan (boot, provision, start,
/// health, in order; then the check, verify and the removal), and nothing is created.
/// The plan of a running instance is shown against the real engines
/// (tests/vm_vagrant.rs, tests/vm_qemu.rs).
#[test]
fn the_plan_of_a_vm_environment_is_printed_and_nothing_is_created() {
    let p = Project::vm_example();
    for engine in ["vagrant", "qemu"] {
        let up = p
            .run(&["--engine", engine, "up", "vm", "--dry-run"])
            .expect(0);
        assert!(
            up.stdout
                .contains("the plan (--dry-run: nothing is created)")
                && up.stdout.contains("machines, in start order:")
                && up.stdout.contains(&format!("web  boot {engine}:"))
                && up
                    .stdout
                    .contains("provision (3 steps), start its command, wait until healthy"),
            "{engine}:\n{}",
            up.output()
        );
        // The example has no QEMU base disk: the plan says `up` would fail, and how to
        // build one.
        assert_eq!(
            up.stdout.contains("note: no base disk in"),
            engine == "qemu",
            "{engine}:\n{}",
            up.output()
        );
        let test = p
            .run(&["--engine", engine, "test", "vm", "--dry-run"])
            .expect(0);
        assert!(
            test.stdout.contains(
                "then the idempotence check: the steps of web run again on its running machine"
            ) && test
                .stdout
                .contains("then verify: 5 assertions from 1 file")
                && test.stdout.contains("then everything is removed"),
            "{engine}:\n{}",
            test.output()
        );
        assert!(
            !p.path().join(".envctl").join(engine).exists(),
            "{engine} state was created"
        );
    }
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
