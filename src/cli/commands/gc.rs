//! `envctl gc [--dry-run] [--lease DURATION]`: removes what dead runs left behind on the
//! engine (see `instance::gc` for what counts as garbage).

use super::super::args::GcArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::backend::Feature;
use crate::instance::gc;
use crate::model::duration::HumanDuration;
use crate::model::EngineKind;

pub fn run(ctx: &Context, args: GcArgs) -> Result<u8, Failure> {
    let lease = HumanDuration::parse(&args.lease)
        .map_err(|e| Failure::Invalid(format!("--lease: {e}")))?
        .0;
    ctx.require_engine(Feature::Gc)?;
    if let Some(kind @ (EngineKind::Qemu | EngineKind::Vagrant)) = ctx.engine {
        return super::vm::gc::run(ctx, kind, args.dry_run, lease);
    }
    let engine = ctx.sweeper()?;
    let garbage = ctx.runtime.block_on(gc::find(engine.as_ref(), lease))?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removing"
    };
    for g in &garbage {
        outln!(
            "{verb} {} {} ({}): {}",
            g.kind,
            g.name,
            g.instance,
            g.reason
        );
    }
    if !args.dry_run {
        ctx.runtime
            .block_on(gc::remove(engine.as_ref(), &garbage))?;
    }
    if !ctx.quiet {
        let n = garbage.len();
        let what = if n == 1 { "object" } else { "objects" };
        if args.dry_run {
            eprintln!("gc: {n} {what} left by dead runs (dry run: nothing removed)");
        } else {
            eprintln!("gc: removed {n} {what} left by dead runs");
        }
    }
    Ok(SUCCESS)
}
