//! `envctl promote [ENV] SERVICE --release REF` and `envctl rollback [ENV] SERVICE`:
//! blue-green switches gated by the specs; every attempt is written to the history.

use super::super::args::{PromoteArgs, RollbackArgs, SwitchArgs};
use super::super::exit::{Failure, SPECS_FAILED, SUCCESS};
use super::super::Context;
use crate::model::promotion::Promotion;
use crate::model::{Environment, Project};
use crate::promote::flow::{self, Action, Options};
use crate::promote::history;
use crate::promote::release::Release;

pub fn run(ctx: &Context, args: PromoteArgs) -> Result<u8, Failure> {
    let (project, env, service) = load(ctx, &args.target)?;
    let release = Release::parse(&args.release, &project.root).map_err(Failure::Invalid)?;
    execute(
        ctx,
        project,
        env,
        service,
        Action::Promote(release),
        &args.switch,
    )
}

pub fn rollback(ctx: &Context, args: RollbackArgs) -> Result<u8, Failure> {
    let (project, env, service) = load(ctx, &args.target)?;
    execute(ctx, project, env, service, Action::Rollback, &args.switch)
}

fn load(ctx: &Context, target: &[String]) -> Result<(Project, Environment, Promotion), Failure> {
    let (env, service) = match target {
        [service] => (None, service.clone()),
        [env, service] => (Some(env.clone()), service.clone()),
        _ => unreachable!("clap takes one or two values"),
    };
    let (project, env) = ctx.environment(env.as_deref())?;
    let Some(p) = env.promotions.get(&service).cloned() else {
        let known: Vec<&str> = env.promotions.keys().map(String::as_str).collect();
        return Err(Failure::Invalid(format!(
            "`{service}` is not a promotable service of environment `{}` ({}; declare one with [promote.{service}] in {})",
            env.name,
            if known.is_empty() {
                "it has none".to_string()
            } else {
                format!("it has: {}", known.join(", "))
            },
            env.files.first().map(|f| f.display().to_string()).unwrap_or_default()
        )));
    };
    Ok((project, env, p))
}

fn execute(
    ctx: &Context,
    project: Project,
    env: Environment,
    p: Promotion,
    action: Action,
    args: &SwitchArgs,
) -> Result<u8, Failure> {
    // Everything is validated before anything is touched.
    if let Some(url) = args.probe.as_deref().filter(|u| !u.starts_with("http://")) {
        return Err(Failure::Invalid(format!(
            "--probe `{url}`: give an http:// URL through the router, e.g. http://{}:80/",
            p.router
        )));
    }
    let probe_body = args
        .probe_body
        .iter()
        .map(|t| {
            crate::model::assertion::pattern::Pattern::parse(t)
                .map_err(|e| Failure::Invalid(format!("--probe-body `{t}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let specs = project.specs(&env)?;
    for stem in p.specs.iter().chain(&p.router_specs) {
        if !specs.iter().any(|a| a.group() == stem) {
            eprintln!(
                "warning: no assertions in specs/{}/{stem}.toml gate `{}`",
                env.name, p.service
            );
        }
    }
    let verb = match action {
        Action::Promote(_) => "promote",
        Action::Rollback => "rollback",
    };
    let _lock = ctx.lock(
        &project,
        &env,
        &format!("{verb} {} {}", env.name, p.service),
    )?;
    let docker = ctx.docker()?;
    let inst = ctx.instance(docker, &project, env);
    let file = history::path(&project.root, &inst.env.name, &inst.id.instance);
    let records = history::read(&file).map_err(Failure::Environment)?;
    let options = Options {
        keep_previous: args.keep_previous,
        probe: args.probe.clone(),
        probe_body,
        quiet: ctx.quiet,
        jobs: args.jobs,
        previous_release: None,
        recreate_previous: false,
        interrupt: None,
    };
    let options = match &action {
        Action::Rollback => {
            // The colour to go back to, as it last ran when the router was switched to it.
            let view = ctx.runtime.block_on(inst.view())?;
            let live = ctx
                .runtime
                .block_on(crate::promote::switch::live_colour(&p, &view))
                .ok()
                .flatten();
            let previous = live.as_deref().map(|l| p.other(l).to_string());
            let release = previous
                .as_deref()
                .and_then(|c| history::last_release_of(&records, &p.service, c));
            // A refused or failed attempt left another release in that colour's container.
            let replaced = previous.as_deref().is_some_and(|c| {
                records
                    .iter()
                    .rev()
                    .find(|r| r.service == p.service && r.to == c)
                    .is_some_and(|r| r.exit != 0)
            });
            Options {
                previous_release: release,
                recreate_previous: replaced,
                ..options
            }
        }
        Action::Promote(_) => options,
    };
    // A signal does not end the process here: the run notices it, puts the router back
    // on the old colour and ends with 130.
    let (stop, interrupt) = tokio::sync::watch::channel(false);
    let listener = ctx.runtime.spawn(async move {
        super::super::interrupt::signalled().await;
        eprintln!("interrupted; putting the router back");
        let _ = stop.send(true);
    });
    let options = Options {
        interrupt: Some(interrupt),
        ..options
    };
    let observer = crate::report::progress::for_stderr(ctx.quiet);
    let record = flow::run(
        ctx.runtime.handle(),
        &inst,
        &p,
        &specs,
        action,
        &options,
        observer.as_ref(),
    );
    drop(observer);
    listener.abort();
    if let Err(e) = history::append(&file, &record) {
        eprintln!("warning: cannot write {}: {e}", file.display());
    }
    let live = record.live.as_deref().unwrap_or("?");
    match record.exit {
        flow::PROMOTED => {
            if !ctx.quiet {
                eprintln!(
                    "{}/{}: {} {} -> {} ({}); live: {live}",
                    inst.env.name,
                    inst.id.instance,
                    p.service,
                    record.from.as_deref().unwrap_or("?"),
                    record.to,
                    record.outcome
                );
            }
            Ok(SUCCESS)
        }
        flow::REFUSED => {
            eprintln!(
                "error: {} {} refused: {}",
                record.action,
                p.service,
                record.message.as_deref().unwrap_or("the gate said no")
            );
            Ok(SPECS_FAILED)
        }
        flow::INTERRUPTED => {
            eprintln!(
                "{} {}: {}",
                record.action,
                p.service,
                record.message.as_deref().unwrap_or("interrupted")
            );
            Err(Failure::Interrupted)
        }
        _ => Err(Failure::Environment(format!(
            "{} {} failed: {}",
            record.action,
            p.service,
            record.message.as_deref().unwrap_or("unknown fault")
        ))),
    }
}
