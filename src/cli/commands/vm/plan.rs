//! `up --dry-run` and `test --dry-run` on machines: what `up` would do to the
//! instance's machines, told from their state; nothing is created.

use super::{booted, machines, Machines};
use crate::backend::vagrant::config;
use crate::cli::Context;
use crate::model::{Environment, Project};

/// Prints what `up` would do: boot, provision and start each machine in order, or,
/// for an instance that runs, what it does to running machines.
pub fn print(ctx: &Context, project: &Project, env: &Environment) {
    let engine = machines(ctx, project, env);
    let running = engine.exists();
    println!(
        "{}/{}: the plan (--dry-run: nothing is created)",
        env.name, ctx.instance
    );
    if running && matches!(engine, Machines::Qemu(_)) {
        println!(
            "nothing to do: the instance's VMs run, and QEMU leaves running VMs as they are (`{}` first to make them again)",
            crate::hint::command(&format!("down {}", env.name))
        );
        return;
    }
    if let Machines::Qemu(q) = &engine {
        if !q.image.join("disk.qcow2").is_file() {
            println!(
                "note: no base disk in {}: `up` fails until one is built (`images/qemu-node/build.sh {}`, or set ENVCTL_QEMU_IMAGE)",
                q.image.display(),
                q.image.display()
            );
        }
    }
    let cfg = config::build(env, &project.root, &ctx.instance, None);
    let boots = booted(ctx, project, env);
    println!("machines, in start order:");
    let width = cfg.machines.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in &cfg.machines {
        let node = env.nodes.get(&m.node);
        let steps = node.map_or(0, |n| n.provision.len());
        let mut what = vec![if running {
            "running: its steps run again".to_string()
        } else {
            format!("boot {}", boots.get(&m.name).map_or("", String::as_str))
        }];
        if steps > 0 {
            what.push(format!(
                "provision ({steps} step{})",
                if steps == 1 { "" } else { "s" }
            ));
        }
        if m.command.is_some() {
            what.push(if running {
                "start its command unless it runs".to_string()
            } else {
                "start its command".to_string()
            });
        }
        if node.is_some_and(|n| n.health.is_some()) {
            what.push("wait until healthy".to_string());
        }
        println!("  {:<width$}  {}", m.name, what.join(", "));
    }
}
