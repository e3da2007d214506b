//! `envctl status [ENV]`: what the engine has for the instance, read from labels.

use super::super::args::EnvArg;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::backend::labels;
use crate::instance::{health, Instance};
use futures_util::future::join_all;
use std::time::Duration;

pub fn run(ctx: &Context, args: EnvArg) -> Result<u8, Failure> {
    let (project, env) = ctx.environment(args.env.as_deref())?;
    if super::vm::on_machines(ctx, &env) {
        return super::vm::status(ctx, &project, &env);
    }
    let inst = ctx.instance(&project, env)?;
    print(ctx, &inst)?;
    if inst.backend.kind() == crate::model::EngineKind::Swarm {
        outln!(
            "checks: the nodes run on the machines of a swarm (manager {}); host-side checks (health, http, tcp, the promotion probe) run from a probe container on the manager, on the instance's overlay network",
            crate::backend::docker::engine_info::endpoint()
        );
    } else if inst.backend.remote() {
        outln!(
            "checks: the engine is on another machine ({}); host-side checks (health, http, tcp, the promotion probe) run from its probe container on the instance network",
            crate::backend::docker::engine_info::endpoint()
        );
    }
    for line in others(ctx, &inst)? {
        outln!("{line}");
    }
    Ok(SUCCESS)
}

/// Instances of the same environment and instance names that other projects (other
/// checkouts) run on this engine: this project's verbs never select them, and saying so
/// ends the guessing when a name looks taken.
///
/// # Errors
/// Engine failures.
fn others(ctx: &Context, inst: &Instance) -> Result<Vec<String>, Failure> {
    let selector = std::collections::HashMap::from([(
        "label".to_string(),
        vec![
            format!("{}={}", labels::ENVIRONMENT, inst.id.environment),
            format!("{}={}", labels::INSTANCE, inst.id.instance),
            format!("{}={}", labels::ROLE, labels::ROLE_NODE),
        ],
    )]);
    let nodes = ctx.runtime.block_on(inst.backend.list_nodes(&selector))?;
    let mut by_project: std::collections::BTreeMap<String, usize> = Default::default();
    for n in nodes
        .iter()
        .filter(|n| n.label(labels::PROJECT) != Some(inst.id.project.as_str()))
    {
        let dir = n
            .label(labels::PROJECT_DIR)
            .filter(|d| !d.is_empty())
            .map_or_else(
                || format!("project {}", n.label(labels::PROJECT).unwrap_or("?")),
                str::to_string,
            );
        *by_project.entry(dir).or_default() += 1;
    }
    Ok(by_project
        .into_iter()
        .map(|(dir, count)| {
            format!(
                "note: {}/{} of another project ({dir}) also runs on this engine ({count} node{}); commands in this project never touch it",
                inst.id.environment,
                inst.id.instance,
                if count == 1 { "" } else { "s" }
            )
        })
        .collect())
}

/// Prints the instance's nodes as a table.
///
/// # Errors
/// Engine failures.
pub fn print(ctx: &Context, inst: &Instance) -> Result<(), Failure> {
    let view = ctx.runtime.block_on(inst.view())?;
    if view.is_empty() {
        outln!(
            "{}/{}: not running (start it with `envctl up {}`)",
            inst.env.name,
            inst.id.instance,
            inst.env.name
        );
        return Ok(());
    }
    let client = crate::check::http::client();
    let network = inst.id.network();
    let healths: Vec<String> = ctx
        .runtime
        .block_on(join_all(view.replicas().values().map(|c| {
            let node = c.label(labels::NODE).and_then(|n| inst.env.nodes.get(n));
            let client = &client;
            let network = &network;
            async move {
                let job = node.is_some_and(|n| n.run == crate::model::environment::Run::Once);
                if job && c.exit_code() == Some(0) {
                    return "completed".to_string();
                }
                if !c.running {
                    return "-".to_string();
                }
                match node.and_then(|n| n.health.as_ref()) {
                    None => "running".to_string(),
                    Some(h) => match health::probe(
                        inst.backend.as_ref(),
                        network,
                        c,
                        &h.check,
                        client,
                        Duration::from_secs(2),
                    )
                    .await
                    {
                        crate::wait::Poll::Ready(()) => "healthy".to_string(),
                        _ => "unhealthy".to_string(),
                    },
                }
            }
        })));
    outln!("{}/{} (network {network})", inst.env.name, inst.id.instance);
    // On an engine of several machines, which one runs each node.
    let machines = view.replicas().values().any(|c| c.machine.is_some());
    let mut rows = vec![vec![
        "NODE".to_string(),
        "STATE".into(),
        "HEALTH".into(),
        "PORTS".into(),
        "ADDRESS".into(),
    ]];
    if machines {
        rows[0].push("MACHINE".into());
    }
    for ((replica, c), health) in view.replicas().iter().zip(healths) {
        let ports = c
            .ports
            .iter()
            .map(|(private, proto, public)| format!("127.0.0.1:{public}->{private}/{proto}"))
            .collect::<Vec<_>>()
            .join(", ");
        let address = c.addresses.get(&network).cloned().unwrap_or_default();
        let mut row = vec![replica.clone(), c.status.clone(), health, ports, address];
        if machines {
            row.push(c.machine.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        outln!("{}", line.join("  ").trim_end());
    }
    Ok(())
}
