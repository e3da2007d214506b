//! `envctl logs [ENV] NODE [--follow] [--provision | --idempotence]`.

use super::super::args::LogsArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::backend::EngineError;
use crate::backend::{labels, Feature};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::io::Write;

pub fn run(ctx: &Context, args: LogsArgs) -> Result<u8, Failure> {
    let (env, node) = match args.target.as_slice() {
        [node] => (None, node.clone()),
        [env, node] => (Some(env.clone()), node.clone()),
        _ => unreachable!("clap takes one or two values"),
    };
    let (project, env) = ctx.environment(env.as_deref())?;
    let known = env
        .nodes
        .values()
        .any(|n| n.name == node || n.replica_names().contains(&node));
    if !known {
        return Err(Failure::Invalid(format!(
            "`{node}` is not a node of environment `{}` (nodes: {})",
            env.name,
            env.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    if args.follow {
        ctx.require(&env, &[Feature::FollowLogs])?;
    }
    if args.provision || args.idempotence {
        ctx.require(&env, &[Feature::ProvisionLogs])?;
        // Containers of a node share its provisioned image and its logs; machines are
        // provisioned one by one and keep one log each.
        let base = node
            .rsplit_once('-')
            .filter(|(b, _)| env.nodes.contains_key(*b))
            .map_or(node.as_str(), |(b, _)| b);
        let kind = if args.idempotence {
            "idempotence"
        } else {
            "provision"
        };
        let dir = crate::instance::log_dir(&project.root, &env.name, &ctx.instance);
        let candidates = [
            dir.join(format!("{node}.{kind}.log")),
            dir.join(format!("{base}.{kind}.log")),
        ];
        let path = candidates
            .iter()
            .find(|p| p.is_file())
            .unwrap_or(&candidates[1]);
        let text = std::fs::read_to_string(path).map_err(|_| {
            Failure::Environment(format!(
                "no {kind} log for `{node}` ({}); provisioning runs when `up` builds the node's image (or its machine), the idempotence check in `envctl test` and `envctl provision --check-idempotence`",
                path.display()
            ))
        })?;
        out!("{}", crate::model::secrets::redact(&text));
        return Ok(SUCCESS);
    }
    if super::vm::on_machines(ctx, &env) {
        return super::vm::logs(ctx, &project, &env, &node, args.follow, args.tail);
    }
    let inst = ctx.instance(&project, env)?;
    let view = ctx.runtime.block_on(inst.view())?;
    let targets: Vec<(String, String)> = view
        .replicas()
        .iter()
        .filter(|(replica, c)| *replica == &node || c.label(labels::NODE) == Some(node.as_str()))
        .map(|(replica, c)| (replica.clone(), c.id.clone()))
        .collect();
    if targets.is_empty() {
        return Err(Failure::Environment(format!(
            "node `{node}` is not running; start it with `envctl up {}`",
            inst.env.name
        )));
    }
    let streams = targets
        .iter()
        .map(|(replica, id)| {
            (
                replica.clone(),
                inst.backend.logs(id, args.follow, args.tail),
            )
        })
        .collect();
    ctx.runtime.block_on(show_merged(streams))?;
    Ok(SUCCESS)
}

/// Prints the output of each replica as it comes, redacted (one redacting stream per
/// replica, so a secret split across two chunks is still hidden), each line prefixed
/// with its replica's name when there are several.
///
/// # Errors
/// [`Failure::Environment`] when a stream fails.
pub async fn show_merged(
    streams: Vec<(String, BoxStream<'_, Result<String, EngineError>>)>,
) -> Result<(), Failure> {
    let prefix = streams.len() > 1;
    let mut merged = futures_util::stream::select_all(
        streams
            .into_iter()
            .map(|(replica, s)| s.map(move |chunk| (replica.clone(), chunk)).boxed()),
    );
    let mut stdout = std::io::stdout();
    let mut redacting: std::collections::BTreeMap<String, crate::model::secrets::Stream> =
        Default::default();
    let show = |stdout: &mut std::io::Stdout, replica: &str, text: &str| {
        if prefix {
            for line in text.lines() {
                let _ = writeln!(stdout, "{replica} | {line}");
            }
        } else {
            let _ = write!(stdout, "{text}");
        }
        let _ = stdout.flush();
    };
    while let Some((replica, chunk)) = merged.next().await {
        let text = redacting.entry(replica.clone()).or_default().push(&chunk?);
        show(&mut stdout, &replica, &text);
    }
    for (replica, rest) in redacting {
        show(&mut stdout, &replica, &rest.finish());
    }
    Ok(())
}
