//! `envctl promote [ENV] SERVICE --release REF` and `envctl rollback [ENV] SERVICE`:
//! blue-green switches, or symlink releases, gated by the specs; every attempt is
//! written to the history.

use super::super::args::{PromoteArgs, RollbackArgs, SwitchArgs};
use super::super::exit::{Failure, SPECS_FAILED, SUCCESS};
use super::super::Context;
use crate::backend::Feature;
use crate::instance::Instance;
use crate::model::assertion::pattern::Pattern;
use crate::model::assertion::Assertion;
use crate::model::promotion::Promotion;
use crate::model::symlink_release::SymlinkRelease;
use crate::model::{Environment, Project};
use crate::promote::flow::{self, Action, Options};
use crate::promote::history::{self, Record};
use crate::promote::release::Release;
use crate::promote::symlink;

/// A service and how it is released.
enum Service {
    BlueGreen(Box<Promotion>),
    Symlink(SymlinkRelease),
}

pub fn run(ctx: &Context, args: PromoteArgs) -> Result<u8, Failure> {
    let (project, env, service) = load(ctx, &args.target)?;
    match service {
        Service::BlueGreen(p) => {
            let release = Release::parse(&args.release, &project.root).map_err(Failure::Invalid)?;
            execute(
                ctx,
                project,
                env,
                *p,
                Action::Promote(release),
                &args.switch,
            )
        }
        Service::Symlink(s) => {
            let (release, tar) =
                symlink::prepare(&args.release, &project.root, &s).map_err(Failure::Invalid)?;
            execute_symlink(
                ctx,
                project,
                env,
                s,
                symlink::Action::Promote(release, tar),
                &args.switch,
            )
        }
    }
}

pub fn rollback(ctx: &Context, args: RollbackArgs) -> Result<u8, Failure> {
    let (project, env, service) = load(ctx, &args.target)?;
    match service {
        Service::BlueGreen(p) => execute(ctx, project, env, *p, Action::Rollback, &args.switch),
        Service::Symlink(s) => execute_symlink(
            ctx,
            project,
            env,
            s,
            symlink::Action::Rollback,
            &args.switch,
        ),
    }
}

fn load(ctx: &Context, target: &[String]) -> Result<(Project, Environment, Service), Failure> {
    let (env, service) = match target {
        [service] => (None, service.clone()),
        [env, service] => (Some(env.clone()), service.clone()),
        _ => unreachable!("clap takes one or two values"),
    };
    let (project, env) = ctx.environment(env.as_deref())?;
    // Colours are containers and releases are copied through the Docker Engine's
    // archive upload: the VM engines serve neither yet.
    if let Err(unsupported) =
        crate::backend::engine::require(ctx.engine_kind(&env), Feature::Promotion)
    {
        return Err(Failure::Invalid(format!(
            "`{service}` of environment `{}` cannot be promoted: {unsupported} (promotion and rollback run on the Docker engine only)",
            env.name
        )));
    }
    let found = match (env.promotions.get(&service), env.releases.get(&service)) {
        (Some(p), _) => Service::BlueGreen(Box::new(p.clone())),
        (None, Some(s)) => Service::Symlink(s.clone()),
        (None, None) => {
            let known: Vec<&str> = env
                .promotions
                .keys()
                .chain(env.releases.keys())
                .map(String::as_str)
                .collect();
            return Err(Failure::Invalid(format!(
                "`{service}` is not a promotable service of environment `{}` ({}; declare one with [promote.{service}] or [releases.{service}] in {})",
                env.name,
                if known.is_empty() {
                    "it has none".to_string()
                } else {
                    format!("it has: {}", known.join(", "))
                },
                env.files.first().map(|f| f.display().to_string()).unwrap_or_default()
            )));
        }
    };
    Ok((project, env, found))
}

/// What both strategies check before touching anything: the probe and its patterns,
/// the specs; then the instance and its history.
struct Prepared {
    specs: Vec<Assertion>,
    probe_body: Vec<Pattern>,
    inst: Instance,
    file: std::path::PathBuf,
    records: Vec<Record>,
    /// Where a failed run leaves its nodes' output (`--artifacts`).
    bundle: Option<crate::instance::artifacts::Bundle>,
    /// envctl.toml's `jobs`.
    jobs: Option<usize>,
    /// Held until the run ends: one command per instance at a time.
    _lock: crate::instance::lock::InstanceLock,
}

/// What a run gates on and names: the node probes go through, the spec stems that
/// gate it, the service, and the verb (for the lock).
struct Gate<'a> {
    router: &'a str,
    stems: &'a [String],
    service: &'a str,
    verb: &'a str,
}

fn prepare(
    ctx: &Context,
    project: Project,
    env: Environment,
    gate: Gate<'_>,
    args: &SwitchArgs,
) -> Result<Prepared, Failure> {
    let Gate {
        router,
        stems,
        service,
        verb,
    } = gate;
    if let Some(url) = args.probe.as_deref().filter(|u| !u.starts_with("http://")) {
        return Err(Failure::Invalid(format!(
            "--probe `{url}`: give an http:// URL, e.g. http://{router}:80/"
        )));
    }
    let probe_body = args
        .probe_body
        .iter()
        .map(|t| {
            Pattern::parse(t).map_err(|e| Failure::Invalid(format!("--probe-body `{t}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let specs = project.specs(&env)?;
    for stem in stems {
        if !specs.iter().any(|a| a.group() == stem) {
            eprintln!(
                "warning: no assertions in specs/{}/{stem}.toml gate `{service}`",
                env.name
            );
        }
    }
    let bundle = super::artifacts::wanted(ctx, &project, &env, &args.artifacts)?;
    let jobs = project.defaults.jobs;
    let lock = ctx.lock(&project, &env, &format!("{verb} {} {service}", env.name))?;
    let inst = ctx.instance(&project, env)?;
    let file = history::path(&project.root, &inst.env.name, &inst.id.instance);
    let records = history::read(&file).map_err(Failure::Environment)?;
    Ok(Prepared {
        specs,
        probe_body,
        inst,
        file,
        records,
        bundle,
        jobs,
        _lock: lock,
    })
}

/// Runs `work` with a signal turning the interrupt flag it gets (the run notices it,
/// undoes what it did and ends with 130), then records the run and maps its outcome to
/// the exit code.
fn conclude(
    ctx: &Context,
    prepared: &Prepared,
    service: &str,
    options: Options,
    work: impl FnOnce(&Options) -> Record,
) -> Result<u8, Failure> {
    let (stop, interrupt) = tokio::sync::watch::channel(false);
    let listener = ctx.runtime.spawn(async move {
        super::super::interrupt::signalled().await;
        eprintln!("interrupted; putting the previous release back");
        let _ = stop.send(true);
    });
    let options = Options {
        interrupt: Some(interrupt),
        ..options
    };
    let record = work(&options);
    listener.abort();
    let inst = &prepared.inst;
    if record.exit == flow::INVALID {
        return Err(Failure::Invalid(format!(
            "{} {service}: {}",
            record.action,
            record.message.as_deref().unwrap_or("invalid")
        )));
    }
    if let Err(e) = history::append(&prepared.file, &record) {
        eprintln!("warning: cannot write {}: {e}", prepared.file.display());
    }
    let live = record.live.as_deref().unwrap_or("?");
    let result = match record.exit {
        flow::PROMOTED => {
            if !ctx.quiet {
                eprintln!(
                    "{}/{}: {service} {} -> {} ({}); live: {live}",
                    inst.env.name,
                    inst.id.instance,
                    record.from.as_deref().unwrap_or("?"),
                    record.to,
                    record.outcome
                );
            }
            Ok(SUCCESS)
        }
        flow::REFUSED => {
            eprintln!(
                "error: {} {service} refused: {}",
                record.action,
                record.message.as_deref().unwrap_or("the gate said no")
            );
            Ok(SPECS_FAILED)
        }
        flow::INTERRUPTED => {
            eprintln!(
                "{} {service}: {}",
                record.action,
                record.message.as_deref().unwrap_or("interrupted")
            );
            Err(Failure::Interrupted)
        }
        _ => Err(Failure::Environment(format!(
            "{} {service} failed: {}",
            record.action,
            record.message.as_deref().unwrap_or("unknown fault")
        ))),
    };
    // The bundle holds the nodes as the run left them (a refused release has been put
    // back) and the attempt's record, with the gate's failures.
    if let Some(bundle) = super::artifacts::due(prepared.bundle.as_ref(), &result) {
        let text = serde_json::to_string_pretty(&record).unwrap_or_default();
        if let Err(e) = bundle
            .create()
            .and_then(|()| bundle.write(&format!("{}.json", record.action), &text))
        {
            eprintln!("warning: the failure bundle is incomplete: {e}");
        }
        super::artifacts::collect(ctx, inst, bundle);
    }
    result
}

fn options(ctx: &Context, args: &SwitchArgs, prepared: &Prepared) -> Options {
    Options {
        keep_previous: args.keep_previous,
        probe: args.probe.clone(),
        probe_body: prepared.probe_body.clone(),
        quiet: ctx.quiet,
        jobs: args
            .jobs
            .or(prepared.jobs)
            .unwrap_or(crate::check::runner::DEFAULT_JOBS),
        previous_release: None,
        recreate_previous: false,
        interrupt: None,
        cancel: None,
    }
}

fn execute_symlink(
    ctx: &Context,
    project: Project,
    env: Environment,
    s: SymlinkRelease,
    action: symlink::Action,
    args: &SwitchArgs,
) -> Result<u8, Failure> {
    if args.keep_previous {
        return Err(Failure::Invalid(format!(
            "--keep-previous is for blue-green services; `{}` is released into {} on its nodes, where the last {} releases stay (`keep`)",
            s.service,
            s.releases_dir(),
            s.keep
        )));
    }
    let node = s.nodes.first().cloned().unwrap_or_default();
    let verb = match action {
        symlink::Action::Promote(..) => "promote",
        symlink::Action::Rollback => "rollback",
    };
    let prepared = prepare(
        ctx,
        project,
        env,
        Gate {
            router: &node,
            stems: &s.specs,
            service: &s.service,
            verb,
        },
        args,
    )?;
    let options = options(ctx, args, &prepared);
    conclude(ctx, &prepared, &s.service, options, |options| {
        symlink::run(
            ctx.runtime.handle(),
            &prepared.inst,
            &s,
            &prepared.specs,
            action,
            options,
            &prepared.records,
        )
    })
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
    let stems: Vec<String> = p.specs.iter().chain(&p.router_specs).cloned().collect();
    let verb = match action {
        Action::Promote(_) => "promote",
        Action::Rollback => "rollback",
    };
    let prepared = prepare(
        ctx,
        project,
        env,
        Gate {
            router: &p.router,
            stems: &stems,
            service: &p.service,
            verb,
        },
        args,
    )?;
    let (inst, records) = (&prepared.inst, &prepared.records);
    let options = options(ctx, args, &prepared);
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
                .and_then(|c| history::last_release_of(records, &p.service, c));
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
    conclude(ctx, &prepared, &p.service, options, |options| {
        let observer = crate::report::progress::for_stderr(ctx.quiet);
        flow::run(
            ctx.runtime.handle(),
            &prepared.inst,
            &p,
            &prepared.specs,
            action,
            options,
            observer.as_ref(),
        )
    })
}
