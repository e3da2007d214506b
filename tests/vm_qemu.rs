//! The `vm` example as a real VM: Debian's kernel booted under QEMU with software
//! emulation (TCG), provisioned over SSH by the same steps, verified by the same specs.
//! Booting under TCG is slow, so this test is ignored by `./dev test` and run by
//! `./dev test-vm` (CI runs both), which builds the base disk
//! (images/qemu-node/build.sh) and sets ENVCTL_QEMU_IMAGE.

use crate::common;
use common::Project;

fn image() -> String {
    std::env::var("ENVCTL_QEMU_IMAGE")
        .expect("ENVCTL_QEMU_IMAGE names a base disk directory; run this suite with ./dev test-vm")
}

/// Stops the VMs even when an assertion fails half-way (the project's own clean-up
/// does not know the engine was chosen by variable).
struct Down<'a>(&'a Project, [(&'a str, &'a str); 2]);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.run_env(&["down", "vm"], &self.1);
    }
}

/// A fourth step for the `vm` example's node: an Ansible playbook (a role from its
/// requirements.yml and a copy task, become root through sudo), run by the same step
/// runner as on containers, with specs of what it wrote. The second run of the
/// idempotence check runs it again.
fn ansible_step(p: &Project) {
    p.file(
        "ansible/vm.yml",
        "- hosts: web\n  gather_facts: false\n  roles: [motd]\n  tasks:\n    - name: greeting\n      ansible.builtin.copy:\n        dest: /etc/envctl-vm.txt\n        content: \"{{ greeting }} on {{ inventory_hostname }}\\n\"\n        mode: \"0644\"\n",
    );
    // A role from the project, named by the playbook's requirements.yml: installed on
    // this host by the step runner before the playbook runs, as for containers.
    p.file(
        "ansible/requirements.yml",
        "roles:\n  - src: ../vendor/motd\n",
    );
    p.file(
        "vendor/motd/tasks/main.yml",
        "- ansible.builtin.copy:\n    dest: /etc/motd-envctl\n    content: \"from the vendored role\\n\"\n",
    );
    let kernel = "{ name = \"record the kernel\", shell = \"uname -r > /srv/www/kernel.txt\" },";
    let env = std::fs::read_to_string(p.path().join("environments/vm.toml"))
        .unwrap()
        .replace(
            kernel,
            &format!("{kernel}\n  {{ name = \"the greeting, by ansible\", ansible = \"ansible/vm.yml\" }},"),
        );
    let env = env.replace(
        "[nodes.web]",
        "[vars]\ngreeting = \"hello from ansible\"\n\n[nodes.web]",
    );
    assert!(
        env.contains("by ansible") && env.contains("[vars]"),
        "{env}"
    );
    p.file("environments/vm.toml", env);
    p.file(
        "specs/vm/ansible.toml",
        "[[file]]\ntitle = \"written by ansible over ssh\"\nnode = \"web\"\npath = \"/etc/envctl-vm.txt\"\ncontains = [\"hello from ansible on web\"]\nowner = \"root\"\n\n[[file]]\ntitle = \"written by the role requirements.yml names\"\nnode = \"web\"\npath = \"/etc/motd-envctl\"\ncontains = [\"from the vendored role\"]\n",
    );
}

#[test]
#[ignore = "boots a real VM under QEMU; run with ./dev test-vm"]
fn the_vm_example_runs_as_a_real_vm_and_passes_its_specs() {
    let image = image();
    let vars = [
        ("ENVCTL_QEMU_IMAGE", image.as_str()),
        ("ENVCTL_ENGINE", "qemu"),
    ];
    let p = Project::vm_example();
    ansible_step(&p);
    let _down = Down(&p, vars);
    // `test --keep`: up, the idempotence check on the VM, the specs; the VM stays.
    let evidence = p.path().join("evidence.json");
    let test = p
        .run_env(
            &[
                "test",
                "vm",
                "--keep",
                "--evidence",
                evidence.to_str().unwrap(),
            ],
            &vars,
        )
        .expect(0);
    assert!(
        test.stderr
            .contains("node `web`: idempotent (the second run changed nothing)"),
        "{}",
        test.output()
    );
    let evidence = std::fs::read_to_string(evidence).unwrap();
    assert!(evidence.contains("qemu:"), "{evidence}");
    let provision = p
        .run_env(&["logs", "vm", "web", "--provision"], &vars)
        .expect(0);
    assert!(
        provision.stdout.contains("(03 record the kernel)"),
        "{}",
        provision.output()
    );
    // Ansible ran on this host against the VM, over ssh with envctl's inventory.
    assert!(
        provision.stdout.contains("(04 the greeting, by ansible)")
            && provision.stdout.contains("changed: [web]"),
        "{}",
        provision.output()
    );
    // A booted kernel of its own: the guest runs the base disk's kernel, not the host's.
    let guest = p
        .run_env(&["exec", "vm", "web", "--", "uname", "-r"], &vars)
        .expect(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_ne!(guest.stdout.trim(), host.trim(), "the node is not a VM");
    let init = p
        .run_env(&["exec", "vm", "web", "--", "cat", "/proc/1/comm"], &vars)
        .expect(0);
    assert_eq!(init.stdout.trim(), "systemd");
    let verify = p.run_env(&["verify", "vm"], &vars).expect(0);
    assert!(verify.stdout.contains("7 passed"), "{}", verify.output());
    // The plan of `up` on the running VM: nothing to do.
    let plan = p.run_env(&["up", "vm", "--dry-run"], &vars).expect(0);
    assert!(
        plan.stdout
            .contains("nothing to do: the instance's VMs run"),
        "{}",
        plan.output()
    );
    // The command's output, and what it writes next (`logs --follow`).
    let logs = p.run_env(&["logs", "vm", "web"], &vars).expect(0);
    assert!(
        logs.stdout.contains("listening on 8080"),
        "{}",
        logs.output()
    );
    let mut follow = crate::background::Background::start(
        &p,
        &p.instance,
        &["logs", "vm", "web", "--follow"],
        &vars,
    );
    follow.wait_until("the log so far is shown", |bg| {
        bg.output().contains("listening on 8080")
    });
    p.run_env(
        &[
            "exec",
            "vm",
            "web",
            "--",
            "sh",
            "-c",
            "echo followed-line >> /var/log/envctl-web.log",
        ],
        &vars,
    )
    .expect(0);
    follow.wait_until("a new line is shown", |bg| {
        bg.output().contains("followed-line")
    });
    follow.signal(libc::SIGINT);
    drop(follow.finish());
    // A step that appends on every run, added to the running VM by `provision` (the
    // current steps, run again over SSH; the command keeps running, once)...
    p.vm_counting_step("");
    p.run_env(&["provision", "vm"], &vars).expect(0);
    let runs = p
        .run_env(
            &["exec", "vm", "web", "--", "cat", "/srv/www/runs.txt"],
            &vars,
        )
        .expect(0);
    assert_eq!(runs.stdout.lines().count(), 1, "{}", runs.output());
    let verify = p.run_env(&["verify", "vm"], &vars).expect(0);
    assert!(verify.stdout.contains("7 passed"), "{}", verify.output());
    // ... then the check on the running VM (already up, so not provisioned again) runs
    // it a second time and names the file, exit 4; the failure bundle holds the VM's
    // console, its command's output, the logs and its state.
    let bundle = p.path().join("bundle");
    let test = p
        .run_env(
            &[
                "test",
                "vm",
                "--keep",
                "--artifacts",
                bundle.to_str().unwrap(),
            ],
            &vars,
        )
        .expect(4);
    assert!(
        test.stderr
            .contains("file modified: /srv/www/runs.txt (content)"),
        "{}",
        test.output()
    );
    assert!(!test.stderr.contains("kernel.txt"), "{}", test.output());
    let read = |f: &str| {
        std::fs::read_to_string(bundle.join(f)).unwrap_or_else(|e| panic!("bundle {f}: {e}"))
    };
    let console = p
        .path()
        .join(".envctl/qemu/vm")
        .join(&p.instance)
        .join("web/console.log");
    let console = std::fs::read_to_string(console).unwrap();
    let taken = read("nodes/web.console.log");
    assert!(!taken.is_empty(), "the VM's console is empty");
    assert!(console.starts_with(&taken), "{taken}");
    assert!(read("nodes/web.log").contains("followed-line"));
    assert!(read("logs/web.idempotence.log").contains("(04 count runs)"));
    assert!(
        read("nodes.txt").contains("web\tmachine\trunning"),
        "{}",
        read("nodes.txt")
    );
    let again = p
        .run_env(&["logs", "vm", "web", "--idempotence"], &vars)
        .expect(0);
    assert!(
        again.stdout.contains("(04 count runs)"),
        "{}",
        again.output()
    );
    p.run_env(&["down", "vm"], &vars).expect(0);
    assert!(!p.path().join(".envctl/qemu/vm").join(&p.instance).exists());
    p.run_env(&["status", "vm"], &vars).expect(0);
}

#[test]
fn without_a_base_disk_up_says_how_to_build_one_and_leaves_nothing() {
    let p = Project::vm_example();
    let missing = p.path().join("no-image");
    let missing = missing.to_str().unwrap();
    let vars = [("ENVCTL_QEMU_IMAGE", missing), ("ENVCTL_ENGINE", "qemu")];
    let run = p.run_env(&["up", "vm"], &vars).expect(3);
    assert!(
        run.stderr.contains("images/qemu-node/build.sh"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("disk.qcow2 is missing"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join(".envctl/qemu/vm").join(&p.instance).exists());
    p.run_env(&["status", "vm"], &vars).expect(0);
}

#[test]
#[ignore = "boots a real VM under QEMU; run with ./dev test-vm"]
fn a_killed_test_run_leaves_a_vm_that_gc_stops_and_removes() {
    let image = image();
    let vars = [
        ("ENVCTL_QEMU_IMAGE", image.as_str()),
        ("ENVCTL_ENGINE", "qemu"),
    ];
    let p = Project::vm_example();
    let _down = Down(&p, vars);
    let state = p.path().join(".envctl/qemu/vm").join(&p.instance);
    let pid_file = state.join("web/pid");
    let mut run = crate::background::Background::start(&p, &p.instance, &["test", "vm"], &vars);
    run.wait_until("the VM is started", |_| pid_file.is_file());
    run.signal(libc::SIGKILL);
    drop(run.finish());
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    let process = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(process.exists(), "the killed run's VM is not running");
    let dry = p.run_env(&["gc", "--dry-run"], &vars).expect(0);
    assert!(
        dry.stdout
            .contains(&format!("would remove qemu machines (vm/{})", p.instance))
            && dry.stdout.contains("is gone"),
        "{}",
        dry.output()
    );
    assert!(process.exists(), "a dry run stopped the VM");
    p.run_env(&["gc"], &vars).expect(0);
    assert!(!process.exists(), "gc left the VM running");
    assert!(!state.exists(), "gc left the VM's state");
    assert!(!state.with_extension("owner.json").exists());
}
