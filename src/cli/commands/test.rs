//! `envctl test [ENV] [FILTER...]`: up, idempotence check, verify, down. Down always runs (unless --keep),
//! including after failures and on Ctrl-C.

use super::super::args::TestArgs;
use super::super::exit::{Failure, INTERRUPTED};
use super::super::{interrupt, Context};
use super::platforms;
use crate::backend::Feature;
use crate::instance::{down, up::UpOptions};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

pub fn run(ctx: &Context, args: TestArgs) -> Result<u8, Failure> {
    let (env, filters) = ctx.split_env(&args.args)?;
    let (project, mut env) = ctx.environment(env.as_deref())?;
    let args = TestArgs {
        report: args.report.with_defaults(&project.defaults),
        ..args
    };
    // Everything is validated before anything is created.
    let specs = project.specs(&env)?;
    let selected = super::verify::select(specs, &filters, &args.report)?;
    let platform = platforms::current();
    if !args.platform.is_empty() && platform.is_none() {
        if ctx.engine_kind(&env) != crate::model::EngineKind::Docker {
            return Err(Failure::Invalid(format!(
                "--platform is not served by the {} engine: its machines' boxes are fixed by the definition",
                ctx.engine_kind(&env)
            )));
        }
        platforms::check(&args.platform, &env, &ctx.instance)?;
        return platforms::run_all(ctx, &args, &env);
    }
    // One run of a platform matrix: its own instance, its base image, its own reports.
    let (instance, mut report) = (ctx.instance.clone(), args.report.clone());
    let instance = match &platform {
        Some(p) => {
            platforms::apply(&mut env, p);
            for path in [
                &mut report.junit,
                &mut report.json,
                &mut report.tap,
                &mut report.html,
                &mut report.evidence,
            ]
            .into_iter()
            .flatten()
            {
                *path = platforms::report_path(path, p);
            }
            platforms::instance(&instance, p)
        }
        None => instance,
    };
    let args = TestArgs { report, ..args };
    let bundle = super::artifacts::wanted(ctx, &project, &env, &args.artifacts)?;
    let bundle = bundle.map(|b| match &platform {
        Some(p) => crate::instance::artifacts::Bundle {
            dir: b.dir.join(platforms::slug(p)),
            ..b
        },
        None => b,
    });
    if args.no_cache {
        ctx.require(&env, &[Feature::ProvisionCache])?;
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
            print_after_plan(&env, &selected, &args, "on its running machine");
            return Ok(0);
        }
        let backend = ctx.backend(&env)?;
        let inst = crate::instance::Instance::new(backend, &project.root, env, &instance);
        return dry_run(ctx, &inst, &selected, &args).map(|()| 0);
    }
    let _lock = crate::instance::lock::acquire(
        &project.root,
        &env.name,
        &instance,
        &format!("test {}", env.name),
    )
    .map_err(|e| Failure::Environment(e.to_string()))?;
    if super::vm::on_machines(ctx, &env) {
        return super::vm::test(
            ctx,
            &project,
            &env,
            selected,
            &args.report,
            args.keep,
            bundle.as_ref(),
        );
    }
    let backend = ctx.backend(&env)?;
    let mut inst = crate::instance::Instance::new(backend, &project.root, env, &instance);
    inst.package_cache = !args.no_package_cache;
    inst.incremental = args.incremental;
    let keep = args.keep;
    // Without --keep nothing of this run may outlive it: `gc` removes what a killed run
    // left behind.
    inst.id.ephemeral = !keep;

    // One cleanup at a time: while `up` runs, it handles a signal itself (removing what
    // it created) and this task only records it; afterwards (verify keeps the main
    // thread busy) this task tears the instance down and exits.
    let interrupted = Arc::new(AtomicBool::new(false));
    let in_up = Arc::new(AtomicBool::new(true));
    let guard = {
        let inst = inst.clone();
        let (interrupted, in_up) = (interrupted.clone(), in_up.clone());
        ctx.runtime.spawn(async move {
            interrupt::signalled().await;
            interrupted.store(true, SeqCst);
            if in_up.load(SeqCst) {
                return;
            }
            // The verify run stops at the cancellation and the main thread tears down;
            // this task acts only when the main thread cannot finish in time (an
            // idempotence check in progress, an engine that stopped answering).
            tokio::time::sleep(interrupt::CLEANUP).await;
            if keep {
                eprintln!("interrupted; kept the instance");
            } else {
                eprintln!("interrupted; removing the instance");
                match tokio::time::timeout(interrupt::CLEANUP, down::down_until_gone(&inst)).await {
                    Ok(Ok(_)) => eprintln!("interrupted; cleaned up"),
                    Ok(Err(e)) => eprintln!(
                        "error: cleaning up after the interrupt: {e}\n  run `envctl gc` to remove what is left"
                    ),
                    Err(_) => eprintln!(
                        "error: cleaning up after the interrupt: the engine did not answer within {}s\n  run `envctl gc` to remove what is left",
                        interrupt::CLEANUP.as_secs()
                    ),
                }
            }
            std::process::exit(i32::from(INTERRUPTED));
        })
    };

    let options = UpOptions {
        no_cache: args.no_cache,
        artifacts: bundle.clone(),
        // With --keep, a failed step's node stays as the step left it.
        keep_failed: keep,
        only: None,
    };
    let origin = std::time::Instant::now();
    let (events, up) = super::up::bring_up_recorded(ctx, &inst, &options);
    in_up.store(false, SeqCst);
    // A failed `up` has put what its nodes said into the bundle before removing them.
    let up_failed = up.is_err();
    let mut verified = false;
    let result = if interrupted.load(SeqCst) {
        Err(Failure::Interrupted)
    } else {
        // As for `up`: a node that exited after it was seen ready fails the run.
        up.and_then(|()| super::up::every_replica_runs(ctx, &inst))
            .and_then(|()| super::provision::check_idempotence(ctx, &inst, !args.no_cache))
            .and_then(|()| {
                let watchdog = ctx.runtime.spawn(on_fault(inst.clone()));
                verified = true;
                let result = super::verify::verify_after(
                    ctx,
                    &inst,
                    selected,
                    &args.report,
                    &super::verify::Recorded {
                        events: &events,
                        origin,
                    },
                    bundle.as_ref(),
                );
                if fault().is_none() {
                    watchdog.abort();
                }
                result
            })
    };
    guard.abort();
    let result = if interrupted.load(SeqCst) || crate::cancel::is_cancelled() {
        result.and(Err(Failure::Interrupted))
    } else {
        result
    };
    // --watch: the first run's result stands until a round gives another; an `up` that
    // failed has nothing to watch over.
    let result = match result {
        Ok(_) | Err(Failure::Specs) if args.watch && !up_failed => {
            let rounds = super::watch::Rounds {
                report: &args.report,
                idempotence: Some(!args.no_cache),
                filters: &filters,
            };
            let last = super::watch::run(ctx, &project, inst.clone(), &options, &rounds)?;
            if last == 0 {
                Ok(0)
            } else {
                Err(Failure::Specs)
            }
        }
        other => other,
    };
    if let Some(bundle) = super::artifacts::due(bundle.as_ref(), &result) {
        let up = (events.as_slice(), origin, up_failed);
        super::artifacts::finish_after_up(ctx, &inst, bundle, up, verified);
    }
    let faulted = fault();
    if faulted.is_some_and(|f| f.engine_lost) {
        // Nothing can be removed from an engine that is gone; `down` or `gc` will.
        eprintln!(
            "not removing the instance: the engine is gone; run `{}` once it is back",
            crate::hint::command(&format!("down {}", inst.env.name))
        );
    } else if !keep {
        // After an interrupt or a fault, an engine that stopped answering must not keep
        // envctl.
        let cut_short = interrupted.load(SeqCst) || faulted.is_some();
        let gone = ctx.runtime.block_on(async {
            let gone = down::down_until_gone(&inst);
            if !cut_short {
                return gone.await;
            }
            tokio::time::timeout(interrupt::CLEANUP, gone)
                .await
                .unwrap_or_else(|_| {
                    Err(crate::backend::EngineError::Other(format!(
                        "the engine did not answer within {}s",
                        interrupt::CLEANUP.as_secs()
                    )))
                })
        });
        match gone {
            Ok(removed) => {
                if !ctx.quiet {
                    eprintln!(
                        "{}/{}: down, {}",
                        inst.env.name,
                        inst.id.instance,
                        super::down::removed_line(&removed)
                    );
                }
            }
            Err(e) => {
                eprintln!("error: cleaning up: {e}\n  run `envctl gc` to remove what is left");
                return result.and(Err(Failure::Environment(e.to_string())));
            }
        }
    } else if up_failed {
        // A failed `up` removed what it made but a failed step's node.
        let note = super::up::kept_note(ctx, &inst);
        if note.is_none() {
            eprintln!(
                "nothing was kept: `up` failed other than in a provisioning step (only a failed step's node stays), and removed what it made"
            );
        }
        return super::up::with_note(result, note);
    } else if !ctx.quiet {
        eprintln!(
            "kept {}/{}; remove it with `{}`",
            inst.env.name,
            inst.id.instance,
            crate::hint::command(&format!("down {}", inst.env.name))
        );
    }
    result
}

/// Prints what `test` would do: the plan of its `up`, the idempotence check, the specs
/// it runs and the teardown (`--dry-run`); creates nothing.
fn dry_run(
    ctx: &Context,
    inst: &crate::instance::Instance,
    selected: &[crate::model::Assertion],
    args: &TestArgs,
) -> Result<(), Failure> {
    let options = UpOptions {
        no_cache: args.no_cache,
        ..UpOptions::default()
    };
    super::up::print_plan(ctx, inst, &options)?;
    let from = if args.no_cache {
        "from the provisioned image"
    } else {
        "from the provisioned image (a verdict recorded for the same image stands)"
    };
    print_after_plan(&inst.env, selected, args, from);
    Ok(())
}

/// What `test --dry-run` says after `up`'s plan: the idempotence check (its steps run
/// again `from` where), how many assertions verify runs, and what is left after.
fn print_after_plan(
    env: &crate::model::Environment,
    selected: &[crate::model::Assertion],
    args: &TestArgs,
    from: &str,
) {
    let provisioned: Vec<&str> = env
        .nodes
        .values()
        .filter(|n| n.replicas > 0 && !n.provision.is_empty())
        .map(|n| n.name.as_str())
        .collect();
    if !provisioned.is_empty() {
        println!(
            "then the idempotence check: the steps of {} run again {from}",
            provisioned.join(", ")
        );
    }
    let files: std::collections::BTreeSet<String> = selected
        .iter()
        .map(|a| a.file.display().to_string())
        .collect();
    println!(
        "then verify: {} assertion{} from {} file{}",
        selected.len(),
        if selected.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    if args.keep {
        println!("then the instance is kept (--keep)");
    } else {
        println!("then everything is removed");
    }
}

/// A fault seen while specs ran: what it said (redacted), and whether the engine is gone.
pub struct SeenFault {
    pub message: String,
    pub engine_lost: bool,
}

static FAULT: std::sync::OnceLock<SeenFault> = std::sync::OnceLock::new();

/// The fault [`on_fault`] saw, if any: the run it cut short ends with exit 3 saying it.
pub fn fault() -> Option<&'static SeenFault> {
    FAULT.get()
}

/// While specs run (the main thread is busy with them): when a node stops or the engine
/// goes away, records the fault and cancels the run, which then stops, writes its
/// reports (the assertions cut short say "interrupted"), cleans up what the engine still
/// lets it, and ends with exit 3 naming the fault. When the engine is gone, this task
/// also makes sure the process ends: if the run has not finished within the cleanup
/// grace, it reports the fault and exits 3 itself.
pub async fn on_fault(inst: crate::instance::Instance) {
    let fault = crate::instance::watch::first_fault(&inst).await;
    let seen = FAULT.get_or_init(|| SeenFault {
        message: crate::model::secrets::redact(&fault.to_string()),
        engine_lost: fault.engine_lost(),
    });
    crate::cancel::cancel();
    if !seen.engine_lost {
        return;
    }
    tokio::time::sleep(interrupt::CLEANUP).await;
    eprintln!("error: {}", seen.message);
    std::process::exit(i32::from(super::super::exit::ENVIRONMENT));
}
