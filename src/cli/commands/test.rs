//! `envctl test [ENV] [FILTER...]`: up, idempotence check, verify, down. Down always runs (unless --keep),
//! including after failures and on Ctrl-C.

use super::super::args::TestArgs;
use super::super::exit::{Failure, INTERRUPTED};
use super::super::{interrupt, Context};
use crate::instance::{down, up::UpOptions};

pub fn run(ctx: &Context, args: TestArgs) -> Result<u8, Failure> {
    let (env, filters) = ctx.split_env(&args.args)?;
    let (project, env) = ctx.environment(env.as_deref())?;
    // Everything is validated before anything is created.
    let specs = project.specs(&env)?;
    let selected = super::verify::select(specs, &filters, &args.report)?;
    if ctx.on_vagrant(&env) {
        return super::vm::test(ctx, &project, &env, selected, &args.report, args.keep);
    }
    let docker = ctx.docker()?;
    let inst = ctx.instance(docker, &project, env);
    let keep = args.keep;

    // While verifying, the main thread is busy running checks: a signal handler task
    // tears the instance down and exits.
    let guard = (!keep).then(|| {
        let inst = inst.clone();
        ctx.runtime.spawn(async move {
            interrupt::signalled().await;
            eprintln!("interrupted; removing the instance");
            let _ = down::down(&inst).await;
            let _ = down::down(&inst).await;
            std::process::exit(i32::from(INTERRUPTED));
        })
    });

    let options = UpOptions {
        no_cache: args.no_cache,
    };
    let origin = std::time::Instant::now();
    let (events, up) = super::up::bring_up_recorded(ctx, &inst, &options);
    let result = up
        .and_then(|()| super::provision::check_idempotence(ctx, &inst))
        .and_then(|()| {
            super::verify::verify_after(ctx, &inst, selected, &args.report, &events, origin)
        });
    if let Some(g) = guard {
        g.abort();
    }
    if !keep {
        match ctx.runtime.block_on(down::down(&inst)) {
            Ok(removed) => {
                if !ctx.quiet {
                    eprintln!(
                        "{}/{}: down, removed {} containers and {} network(s)",
                        inst.env.name, inst.id.instance, removed.containers, removed.networks
                    );
                }
            }
            Err(e) => {
                eprintln!("error: cleaning up: {e}");
                return result.and(Err(Failure::Environment(e.to_string())));
            }
        }
    } else if !ctx.quiet {
        eprintln!(
            "kept {}/{}; remove it with `envctl down {}`",
            inst.env.name, inst.id.instance, inst.env.name
        );
    }
    result
}
