//! `envctl up [ENV] [NODE...]`.

use super::super::args::UpArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::{interrupt, Context};
use crate::backend::Feature;
use crate::instance::gc;
use crate::instance::up::{self, NodeOutcome, UpOptions};
use crate::instance::Instance;
use std::time::Instant;

pub fn run(ctx: &Context, args: UpArgs) -> Result<u8, Failure> {
    let (env_name, nodes) = ctx.split_env(&args.args)?;
    let (project, env) = ctx.environment(env_name.as_deref())?;
    if args.no_cache {
        ctx.require(&env, &[Feature::ProvisionCache])?;
    }
    let only = if nodes.is_empty() {
        None
    } else {
        Some(env.with_dependencies(&nodes).map_err(Failure::Invalid)?)
    };
    if only.is_some() && super::vm::on_machines(ctx, &env) {
        return Err(Failure::Invalid(format!(
            "the {} engine starts every machine of an environment; `up ENV NODE...` is for the docker engine",
            ctx.engine_kind(&env)
        )));
    }
    if args.watch {
        ctx.require(&env, &[Feature::Watch])?;
    }
    if args.incremental {
        ctx.require(&env, &[Feature::Incremental])?;
    }
    if args.dry_run {
        ctx.require(&env, &[Feature::Plan])?;
        if super::vm::on_machines(ctx, &env) {
            super::vm::plan::print(ctx, &project, &env);
            return Ok(SUCCESS);
        }
        let inst = ctx.instance(&project, env)?;
        let options = UpOptions {
            no_cache: args.no_cache,
            only,
            ..UpOptions::default()
        };
        print_plan(ctx, &inst, &options)?;
        return Ok(SUCCESS);
    }
    let bundle = super::artifacts::wanted(ctx, &project, &env, &args.artifacts)?;
    let _lock = ctx.lock(&project, &env, &format!("up {}", env.name))?;
    if super::vm::on_machines(ctx, &env) {
        let result = super::vm::up(ctx, &project, &env, bundle.as_ref(), false);
        // A failed `up` took the bundle before removing its machines.
        if result.is_ok() {
            if let Some(bundle) = super::artifacts::due(bundle.as_ref(), &result) {
                super::vm::collect(ctx, &project, &env, bundle);
            }
        }
        return result;
    }
    let mut inst = ctx.instance(&project, env)?;
    inst.package_cache = !args.no_package_cache;
    inst.incremental = args.incremental;
    // A killed `test` of this instance may have left containers that `up` would adopt as
    // they are; `gc` would later remove them from under the user. Remove them first.
    ctx.runtime.block_on(async {
        let garbage =
            gc::find_matching(inst.backend.as_ref(), &inst.id.filters(), gc::DEFAULT_LEASE).await?;
        gc::remove(inst.backend.as_ref(), &garbage).await
    })?;
    let options = UpOptions {
        no_cache: args.no_cache,
        artifacts: bundle.clone(),
        // A failed step's node stays as the step left it, to be looked at; `down`
        // or the next `up` removes it.
        keep_failed: true,
        only: only.clone(),
    };
    if let Some(only) = &only {
        let others: Vec<&str> = inst
            .env
            .nodes
            .values()
            .filter(|n| n.replicas > 0 && !only.contains(&n.name))
            .map(|n| n.name.as_str())
            .collect();
        if !ctx.quiet && !others.is_empty() {
            eprintln!(
                "starting {} and what they depend on; not starting {}",
                only.iter().cloned().collect::<Vec<_>>().join(", "),
                others.join(", ")
            );
        }
    }
    let origin = Instant::now();
    let (events, up) = bring_up_recorded(ctx, &inst, &options);
    if up.is_ok() {
        record_subset(ctx, &inst, only.is_some());
    }
    let up_failed = up.is_err();
    let result = with_kept(ctx, &inst, up)
        .and_then(|()| {
            if !ctx.quiet {
                super::status::print(ctx, &inst)?;
            }
            every_replica_runs(ctx, &inst)
        })
        .map(|()| SUCCESS);
    if let Some(bundle) = super::artifacts::due(bundle.as_ref(), &result) {
        let up = (events.as_slice(), origin, up_failed);
        super::artifacts::finish_after_up(ctx, &inst, bundle, up, false);
    }
    if args.watch && result.is_ok() {
        let report = super::super::args::ReportArgs::default();
        let env_name = inst.env.name.clone();
        let rounds = super::watch::Rounds {
            report: &report,
            idempotence: None,
            filters: &[],
        };
        super::watch::run(ctx, &project, inst, &options, &rounds)?;
        eprintln!(
            "stopped watching; the environment stays up (`{}` removes it)",
            crate::hint::command(&format!("down {env_name}"))
        );
        return Ok(SUCCESS);
    }
    result
}

/// A failed `up`'s failure, followed by the failed steps' nodes it kept running
/// ([`UpOptions::keep_failed`]) and the commands that enter and remove them.
pub fn with_kept<T>(
    ctx: &Context,
    inst: &Instance,
    result: Result<T, Failure>,
) -> Result<T, Failure> {
    let note = result.is_err().then(|| kept_note(ctx, inst)).flatten();
    with_note(result, note)
}

/// `result`'s environment failure followed by `note` (what a failed `up` kept).
pub fn with_note<T>(result: Result<T, Failure>, note: Option<String>) -> Result<T, Failure> {
    match (result, note) {
        (Err(Failure::Environment(message)), Some(note)) => {
            Err(Failure::Environment(format!("{message}\n{note}")))
        }
        (other, _) => other,
    }
}

/// What a failed `up` kept: one line per failed step's node left running, then how to
/// remove them; `None` when it kept nothing.
pub fn kept_note(ctx: &Context, inst: &Instance) -> Option<String> {
    let containers = ctx.runtime.block_on(inst.containers()).ok()?;
    let env = &inst.env.name;
    let mut lines: Vec<String> = containers
        .iter()
        .filter(|c| up::is_kept(c))
        .filter_map(|c| c.label(crate::backend::labels::NODE))
        .map(|node| {
            format!(
                "  kept node `{node}` running as its failed step left it: look inside with `{}`",
                crate::hint::command(&format!("shell {env} {node}"))
            )
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    lines.push(format!(
        "  remove it with `{}`",
        crate::hint::command(&format!("down {env}"))
    ));
    Some(lines.join("\n"))
}

/// Prints what `up` would do to `inst`, found by looking only (`--dry-run`).
///
/// # Errors
/// [`Failure::Environment`] when the engine cannot be asked.
pub fn print_plan(ctx: &Context, inst: &Instance, options: &UpOptions) -> Result<(), Failure> {
    let plan = ctx.runtime.block_on(up::plan(inst, options))?;
    println!(
        "{}/{}: the plan (--dry-run: nothing is created)",
        inst.env.name, inst.id.instance
    );
    print!("{plan}");
    Ok(())
}

/// Remembers which nodes the instance runs after `up ENV NODE...` (those of earlier
/// partial `up`s too), for `verify`; a full `up`, or a partial one that leaves every node
/// running, forgets it.
fn record_subset(ctx: &Context, inst: &Instance, partial: bool) {
    use crate::instance::subset;
    let running: std::collections::BTreeSet<String> = match ctx.runtime.block_on(inst.view()) {
        Ok(view) if partial => view
            .replicas()
            .values()
            .filter_map(|c| c.label(crate::backend::labels::NODE))
            .map(str::to_string)
            .collect(),
        _ => return subset::clear(inst),
    };
    let every = inst.env.nodes.values().filter(|n| n.replicas > 0).count();
    if running.len() >= every {
        subset::clear(inst);
    } else {
        subset::record(inst, &running);
    }
}

/// `up` succeeds only when every replica still runs at its end (a node can exit right
/// after it was seen healthy, or have no health check); a job's has completed.
///
/// # Errors
/// [`Failure::Environment`] naming each replica that does not run, with its state.
pub(super) fn every_replica_runs(ctx: &Context, inst: &Instance) -> Result<(), Failure> {
    let view = ctx.runtime.block_on(inst.view())?;
    let job = |c: &crate::backend::node::NodeInfo| {
        c.label(crate::backend::labels::NODE)
            .and_then(|n| inst.env.nodes.get(n))
            .is_some_and(|n| n.run == crate::model::environment::Run::Once)
    };
    let stopped: Vec<String> = view
        .replicas()
        .iter()
        .filter(|(_, c)| !(c.running || job(c) && c.exit_code() == Some(0)))
        .map(|(replica, c)| format!("`{replica}` ({})", c.status))
        .collect();
    if stopped.is_empty() {
        return Ok(());
    }
    Err(Failure::Environment(format!(
        "not running at the end of `up`: {}; see `{}`",
        stopped.join(", "),
        crate::hint::command(&format!("logs {} NODE", inst.env.name))
    )))
}

/// Runs `up` with live progress (on Ctrl-C it removes what this run created), and
/// returns the events it went through (for timelines) with its outcome:
/// [`Failure::Environment`] or [`Failure::Interrupted`].
pub fn bring_up_recorded(
    ctx: &Context,
    inst: &Instance,
    options: &UpOptions,
) -> (Vec<(Instant, crate::events::Event)>, Result<(), Failure>) {
    let started = Instant::now();
    let progress = crate::report::progress::for_stderr(ctx.quiet);
    let recorder = crate::events::Recorder::new(progress.as_ref());
    let result = bring_up_with(ctx, inst, options, &recorder);
    let events = recorder.take();
    // Progress bars finish before the summary line is printed.
    drop(recorder);
    drop(progress);
    let result = result.map(|outcomes| {
        if !ctx.quiet {
            let changed = outcomes
                .values()
                .filter(|o| **o != NodeOutcome::Unchanged)
                .count();
            let summary = if changed == 0 {
                "up to date".to_string()
            } else {
                format!("{changed} of {} nodes started", outcomes.len())
            };
            eprintln!(
                "{}/{}: {summary} in {}",
                inst.env.name,
                inst.id.instance,
                crate::wait::human(started.elapsed())
            );
        }
    });
    (events, result)
}

fn bring_up_with(
    ctx: &Context,
    inst: &Instance,
    options: &UpOptions,
    observer: &dyn crate::events::Observer,
) -> Result<std::collections::BTreeMap<String, NodeOutcome>, Failure> {
    let outcome = ctx.runtime.block_on(async {
        match interrupt::unless_interrupted(up::up(inst, observer, options)).await {
            Some(result) => Some(result),
            None => {
                up::remove_run(inst).await;
                None
            }
        }
    });
    match outcome {
        None => Err(Failure::Interrupted),
        Some(result) => Ok(result?),
    }
}
