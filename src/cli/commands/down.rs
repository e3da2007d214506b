//! `envctl down [ENV]`.

use super::super::args::EnvArg;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::instance::down;

pub fn run(ctx: &Context, args: EnvArg) -> Result<u8, Failure> {
    let (project, env) = ctx.environment(args.env.as_deref())?;
    if ctx.on_vagrant(&env) {
        return super::vm::down(ctx, &project, &env);
    }
    let docker = ctx.docker()?;
    let inst = ctx.instance(docker, &project, env);
    let removed = ctx.runtime.block_on(down::down(&inst))?;
    if !ctx.quiet {
        eprintln!(
            "{}/{}: removed {} container{}, {} network{}",
            inst.env.name,
            inst.id.instance,
            removed.containers,
            plural(removed.containers),
            removed.networks,
            plural(removed.networks)
        );
    }
    Ok(SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
