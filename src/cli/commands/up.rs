//! `envctl up [ENV]`.

use super::super::args::UpArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::{interrupt, Context};
use crate::instance::up::{self, NodeOutcome, UpOptions};
use crate::instance::Instance;
use std::time::Instant;

pub fn run(ctx: &Context, args: UpArgs) -> Result<u8, Failure> {
    let (project, env) = ctx.environment(args.env.as_deref())?;
    if ctx.on_vagrant(&env) {
        return super::vm::up(ctx, &project, &env);
    }
    let docker = ctx.docker()?;
    let inst = ctx.instance(docker, &project, env);
    let options = UpOptions {
        no_cache: args.no_cache,
    };
    bring_up(ctx, &inst, &options)?;
    if !ctx.quiet {
        super::status::print(ctx, &inst)?;
    }
    Ok(SUCCESS)
}

/// Runs `up` with live progress; on Ctrl-C removes what this run created.
///
/// # Errors
/// [`Failure::Environment`] or [`Failure::Interrupted`].
pub fn bring_up(ctx: &Context, inst: &Instance, options: &UpOptions) -> Result<(), Failure> {
    let started = Instant::now();
    let observer = crate::report::progress::for_stderr(ctx.quiet);
    let outcome = ctx.runtime.block_on(async {
        match interrupt::unless_interrupted(up::up(inst, observer.as_ref(), options)).await {
            Some(result) => Some(result),
            None => {
                up::remove_run(inst).await;
                None
            }
        }
    });
    drop(observer);
    let outcomes = match outcome {
        None => return Err(Failure::Interrupted),
        Some(result) => result?,
    };
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
    Ok(())
}
