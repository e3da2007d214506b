//! `envctl provision [ENV] [--check-idempotence] [--no-cache]`: build every node's
//! provisioned image (nothing is started), and optionally check that a second run of the
//! steps changes nothing. `envctl test` runs the same check after `up`.

use super::super::args::ProvisionArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::{interrupt, Context};
use crate::backend::Feature;
use crate::instance::idempotence;
use crate::instance::up::{self, UpOptions};
use crate::instance::Instance;
use crate::provision::idempotence::NodeReport;

pub fn run(ctx: &Context, args: ProvisionArgs) -> Result<u8, Failure> {
    let (project, env) = ctx.environment(args.env.as_deref())?;
    ctx.require(&env, &[Feature::ProvisionOnly])?;
    if args.check_idempotence {
        ctx.require(&env, &[Feature::Idempotence])?;
    }
    if args.incremental {
        ctx.require(&env, &[Feature::Incremental])?;
    }
    if args.no_cache {
        ctx.require(&env, &[Feature::ProvisionCache])?;
    }
    let _lock = ctx.lock(&project, &env, &format!("provision {}", env.name))?;
    if super::vm::on_machines(ctx, &env) {
        return super::vm::provision(ctx, &project, &env, args.check_idempotence);
    }
    let mut inst = ctx.instance(&project, env)?;
    inst.package_cache = !args.no_package_cache;
    inst.incremental = args.incremental;
    let options = UpOptions {
        no_cache: args.no_cache,
        ..UpOptions::default()
    };
    let observer = crate::report::progress::for_stderr(ctx.quiet);
    let outcome = ctx.runtime.block_on(async {
        match interrupt::unless_interrupted(up::provision_only(&inst, observer.as_ref(), &options))
            .await
        {
            Some(result) => Some(result),
            None => {
                up::remove_run(&inst).await;
                None
            }
        }
    });
    drop(observer);
    match outcome {
        None => return Err(Failure::Interrupted),
        Some(result) => result?,
    }
    if !ctx.quiet {
        eprintln!("{}: provisioned images ready", inst.env.name);
    }
    if args.check_idempotence {
        check_idempotence(ctx, &inst, !args.no_cache)?;
    }
    Ok(SUCCESS)
}

/// Runs the idempotence check and prints one line (or a list of changes) per node. With
/// `reuse`, a verdict recorded for the same provisioned image stands.
///
/// # Errors
/// [`Failure::NotIdempotent`] naming what changed; [`Failure::Environment`] when the
/// check could not run.
pub fn check_idempotence(ctx: &Context, inst: &Instance, reuse: bool) -> Result<(), Failure> {
    let observer = crate::report::progress::for_stderr(ctx.quiet);
    let outcome = ctx.runtime.block_on(async {
        match interrupt::unless_interrupted(idempotence::check(inst, observer.as_ref(), reuse))
            .await
        {
            Some(result) => Some(result),
            None => {
                up::remove_run(inst).await;
                None
            }
        }
    });
    drop(observer);
    let reports = match outcome {
        None => return Err(Failure::Interrupted),
        Some(result) => result?,
    };
    judge(ctx, &reports, &inst.env.name, &inst.id.instance)
}

/// Prints the nodes that passed the idempotence check (unless quiet) and fails with
/// those that did not, pointing at their logs.
///
/// # Errors
/// [`Failure::NotIdempotent`] naming each node the second run changed, and what.
pub fn judge(
    ctx: &Context,
    reports: &[NodeReport],
    env: &str,
    instance: &str,
) -> Result<(), Failure> {
    let failing: Vec<String> = reports
        .iter()
        .filter(|r| !r.is_idempotent())
        .map(ToString::to_string)
        .collect();
    if !ctx.quiet {
        for r in reports.iter().filter(|r| r.is_idempotent()) {
            eprintln!("{r}");
            for s in &r.skipped {
                eprintln!("  (not run again: {s}, marked idempotent = false)");
            }
        }
    }
    if failing.is_empty() {
        Ok(())
    } else {
        Err(Failure::NotIdempotent(format!(
            "{}\n(details: .envctl/logs/{env}/{instance}/NODE.idempotence.log)",
            failing.join("\n").trim_end()
        )))
    }
}
