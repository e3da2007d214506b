//! `envctl down [ENV]`.

use super::super::args::DownArgs;
use super::super::exit::{Failure, INVALID_INPUT, SUCCESS};
use super::super::Context;
use crate::instance::down;
use crate::model::{EngineKind, Environment};

pub fn run(ctx: &Context, args: DownArgs) -> Result<u8, Failure> {
    let (project, env) = match ctx.environment(args.env.as_deref()) {
        Ok(found) => found,
        // Labels are the truth: a definition that is broken, gone, or needs a secret that
        // is not set must not keep an instance from being removed.
        Err(failure)
            if args
                .env
                .as_deref()
                .is_some_and(crate::model::environment::valid_name)
                && failure.code() == INVALID_INPUT =>
        {
            let why = failure.detail();
            let project = ctx.project()?;
            let name = args.env.clone().unwrap_or_default();
            // The engine the instance's objects are on: `--engine`, else the machines
            // found in its state, else containers.
            let engine = ctx
                .engine
                .or_else(|| super::vm::engine_with_machines(&project, &name, &ctx.instance))
                .unwrap_or_default();
            if engine == EngineKind::Vagrant {
                return Err(Failure::Invalid(format!(
                    "cannot load environment `{name}`, and Vagrant reads it to destroy the machines of instance `{}`: fix it, then run `{}` again (nothing was removed)\n{}",
                    ctx.instance,
                    crate::hint::command(&format!("down {name}")),
                    crate::model::secrets::redact(&why)
                )));
            }
            eprintln!(
                "warning: cannot load environment `{name}`; removing its instance by labels only\n{}",
                crate::model::secrets::redact(&why)
            );
            let env = Environment {
                name,
                engine,
                ..Environment::default()
            };
            (project, env)
        }
        Err(other) => return Err(other),
    };
    let _lock = ctx.lock(&project, &env, &format!("down {}", env.name))?;
    if super::vm::on_machines(ctx, &env) {
        if args.keep_volumes {
            return Err(Failure::Invalid(format!(
                "the {} engine has no volumes; `--keep-volumes` is for the docker engine",
                ctx.engine_kind(&env)
            )));
        }
        return super::vm::down(ctx, &project, &env);
    }
    let inst = ctx.instance(&project, env)?;
    let volumes = if args.keep_volumes {
        down::Volumes::Keep
    } else {
        down::Volumes::Remove
    };
    let removed = ctx.runtime.block_on(down::down(&inst, volumes))?;
    crate::instance::subset::clear(&inst);
    if !ctx.quiet {
        let kept = if args.keep_volumes {
            let n = ctx
                .runtime
                .block_on(inst.backend.list_volumes(&inst.id.filters()))
                .map_or(0, |v| v.len());
            format!("; kept {n} volume{}", plural(n))
        } else {
            String::new()
        };
        eprintln!(
            "{}/{}: {}{kept}",
            inst.env.name,
            inst.id.instance,
            removed_line(&removed)
        );
    }
    Ok(SUCCESS)
}

/// "removed 2 containers, 1 network, 3 volumes" (volumes only when there were some).
pub(super) fn removed_line(removed: &down::Removed) -> String {
    let volumes = if removed.volumes > 0 {
        format!(", {} volume{}", removed.volumes, plural(removed.volumes))
    } else {
        String::new()
    };
    format!(
        "removed {} container{}, {} network{}{volumes}",
        removed.containers,
        plural(removed.containers),
        removed.networks,
        plural(removed.networks)
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
