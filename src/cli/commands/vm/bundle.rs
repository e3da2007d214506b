//! The failure bundle (`--artifacts DIR`) of a run on machines: what each machine
//! holds, taken over SSH (and a QEMU VM's console) before the machines go, beside the
//! reports the verb writes.

use super::{access, config, log_dir, machines, Machines};
use crate::cli::Context;
use crate::instance::artifacts::Bundle;
use crate::model::{Environment, Project};
use std::time::Duration;

/// The bundle's files about each machine, for JUnit attachments: its command's output
/// and its provisioning log (machines keep one each), by machine and by node.
pub fn attachments(env: &Environment, bundle: &Bundle) -> crate::report::Attachments {
    let mut map = crate::report::Attachments::new();
    for node in env.nodes.values().filter(|n| n.replicas > 0) {
        let files = |m: &str| {
            vec![
                bundle.dir.join(format!("nodes/{m}.log")),
                bundle.dir.join(format!("logs/{m}.provision.log")),
            ]
        };
        let replicas = node.replica_names();
        for replica in &replicas {
            map.insert(replica.clone(), files(replica));
        }
        map.entry(node.name.clone())
            .or_insert_with(|| replicas.iter().flat_map(|r| files(r)).collect());
    }
    map
}

/// Takes what the machines of the instance hold into `bundle` (`--artifacts`), as
/// [`crate::instance::artifacts::collect`] does for containers: `logs/` (the
/// provisioning and idempotence logs), `nodes/MACHINE.log` (the command's output, read
/// over SSH), `nodes/MACHINE.console.log` (a QEMU machine's serial console: its boot),
/// and `nodes.txt` (each machine's state). A bundle that cannot be completed is a
/// warning: the run's outcome stays what it was.
pub fn collect(ctx: &Context, project: &Project, env: &Environment, bundle: &Bundle) {
    let engine = machines(ctx, project, env);
    let write = || -> Result<(), String> {
        bundle.create()?;
        crate::instance::artifacts::copy_logs(&log_dir(ctx, project, env), bundle)?;
        let states = ctx.runtime.block_on(engine.status()).unwrap_or_default();
        let reach = access(ctx, project, env).map_err(|e| e.detail());
        let mut table = String::new();
        for (machine, state) in &states {
            table.push_str(&format!("{machine}\tmachine\t{state}\t{}\n", engine.name()));
            let output = match &reach {
                Ok(access) => {
                    let read = vec![
                        "sh".to_string(),
                        "-c".to_string(),
                        format!(
                            "cat {} 2>/dev/null || true",
                            config::quote(&crate::backend::ssh::command_log(machine))
                        ),
                    ];
                    match ctx.runtime.block_on(access.run(
                        machine,
                        &read,
                        &[],
                        None,
                        Duration::from_secs(30),
                    )) {
                        Ok(out) => out.stdout,
                        Err(e) => {
                            format!("[envctl: the machine's output could not be read: {e}]\n")
                        }
                    }
                }
                Err(e) => format!("[envctl: the machine could not be reached: {e}]\n"),
            };
            bundle.write(&format!("nodes/{machine}.log"), &output)?;
            if let Machines::Qemu(q) = &engine {
                if let Ok(console) = std::fs::read(q.state.join(machine).join("console.log")) {
                    bundle.write(
                        &format!("nodes/{machine}.console.log"),
                        &String::from_utf8_lossy(&console),
                    )?;
                }
            }
        }
        if states.is_empty() {
            table.push_str("(no machine of this instance was there)\n");
        }
        bundle.write("nodes.txt", &table)
    };
    match write() {
        Ok(()) => crate::cli::commands::artifacts::announce(ctx, bundle),
        Err(e) => eprintln!("warning: the failure bundle is incomplete: {e}"),
    }
}
