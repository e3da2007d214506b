//! `--artifacts DIR` on `test`, `verify`, `up` and `promote`: the failure bundle.
//! [`crate::instance::artifacts`] takes what the engine holds; this adds the reports
//! and the timeline of the run, and says where the bundle is.

use super::super::args::{ArtifactArgs, ReportArgs};
use super::super::exit::Failure;
use super::super::Context;
use crate::backend::Feature;
use crate::instance::artifacts::{self, Bundle};
use crate::instance::Instance;
use crate::model::{Environment, Project};
use crate::report::{timeline, RunSummary};
use std::time::Instant;

/// The bundle asked for (`--artifacts`, else envctl.toml's `reports.artifacts`), refused (exit 2) on an engine that cannot give one.
///
/// # Errors
/// [`Failure::Invalid`] naming the engine.
pub fn wanted(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    args: &ArtifactArgs,
) -> Result<Option<Bundle>, Failure> {
    let bundle = args.bundle(&project.defaults);
    if bundle.is_some() {
        ctx.require(env, &[Feature::Artifacts])?;
    }
    Ok(bundle)
}

/// The reports of a run, as the bundle holds them.
pub fn report_paths(bundle: &Bundle) -> ReportArgs {
    ReportArgs {
        junit: Some(bundle.dir.join("junit.xml")),
        json: Some(bundle.dir.join("report.json")),
        html: Some(bundle.dir.join("report.html")),
        ..ReportArgs::default()
    }
}

/// The bundle's files about each node, by node and replica name, for JUnit attachments:
/// each replica's output and the node's provisioning log (the files `collect` writes).
pub fn attachments(env: &Environment, bundle: &Bundle) -> crate::report::Attachments {
    let mut map = crate::report::Attachments::new();
    for node in env.nodes.values().filter(|n| n.replicas > 0) {
        let provision = bundle.dir.join(format!("logs/{}.provision.log", node.name));
        let replicas = node.replica_names();
        for replica in &replicas {
            map.insert(
                replica.clone(),
                vec![
                    bundle.dir.join(format!("nodes/{replica}.log")),
                    provision.clone(),
                ],
            );
        }
        map.entry(node.name.clone()).or_insert_with(|| {
            replicas
                .iter()
                .map(|r| bundle.dir.join(format!("nodes/{r}.log")))
                .chain([provision.clone()])
                .collect()
        });
    }
    map
}

/// Writes the reports of `summary` into the bundle.
///
/// # Errors
/// [`Failure::Environment`] when a file cannot be written.
pub fn write_reports(summary: &RunSummary, bundle: &Bundle) -> Result<(), Failure> {
    bundle.create().map_err(Failure::Environment)?;
    super::verify::write_reports(summary, &report_paths(bundle))
}

/// Writes the HTML timeline of a run that did not get to its specs (an `up` that
/// failed), from the events it went through.
///
/// # Errors
/// [`Failure::Environment`] when a file cannot be written.
pub fn write_timeline(
    inst: &Instance,
    bundle: &Bundle,
    events: &[(Instant, crate::events::Event)],
    origin: Instant,
) -> Result<(), Failure> {
    let summary = RunSummary {
        environment: &inst.env.name,
        instance: &inst.id.instance,
        platform: None,
        assertions: &[],
        outcomes: &[],
        duration: origin.elapsed(),
        started_at: chrono::Utc::now() - origin.elapsed(),
        timeline: timeline::from_events(events, origin),
        attachments: None,
    };
    bundle.create().map_err(Failure::Environment)?;
    let html = ReportArgs {
        html: Some(bundle.dir.join("report.html")),
        ..ReportArgs::default()
    };
    super::verify::write_reports(&summary, &html)
}

/// Takes what the engine holds of `inst` into the bundle and says where it is. A bundle
/// that cannot be completed is a warning: the run's own outcome stays what it was.
pub fn collect(ctx: &Context, inst: &Instance, bundle: &Bundle) {
    match ctx.runtime.block_on(artifacts::collect(inst, bundle)) {
        Ok(()) => announce(ctx, bundle),
        Err(e) => eprintln!("warning: the failure bundle is incomplete: {e}"),
    }
}

/// Says where the bundle is.
pub fn announce(ctx: &Context, bundle: &Bundle) {
    if !ctx.quiet {
        eprintln!(
            "wrote the run's artifacts (--artifacts) to {}",
            bundle.dir.display()
        );
    }
}

/// The bundle a verb that ended with `result` writes: after a failure (failed specs, a
/// fault, a node that changed on its second run), or after a pass with
/// `--artifacts-always`. Never after an interrupt (the run was stopped, and ends at
/// once) or invalid input (nothing ran).
pub fn due<'b>(bundle: Option<&'b Bundle>, result: &Result<u8, Failure>) -> Option<&'b Bundle> {
    match result {
        Ok(code) => bundle.filter(|b| b.wanted(*code != super::super::exit::SUCCESS)),
        Err(e) => due_after(bundle, e),
    }
}

/// [`due`] for a verb that failed with `failure`.
pub fn due_after<'b>(bundle: Option<&'b Bundle>, failure: &Failure) -> Option<&'b Bundle> {
    match failure {
        Failure::Interrupted | Failure::Invalid(_) | Failure::Model(_) => None,
        _ => bundle,
    }
}

/// The bundle a verify run whose `outcomes` decide its exit code writes its reports
/// into: after a failed assertion (or always, as asked), never after an interrupt.
pub fn of_verify<'b>(
    bundle: Option<&'b Bundle>,
    outcomes: &[crate::check::Outcome],
) -> Option<&'b Bundle> {
    let failed = outcomes.iter().any(|o| !o.passed);
    bundle.filter(|b| b.wanted(failed) && !crate::cancel::is_cancelled())
}

/// The bundle of a verb that ran `up` (`up`, `test`): when its specs did not run
/// (`verified` false), the timeline of the `up` events; then what the engine holds,
/// unless a failed `up` took it already, before it removed its nodes.
pub fn finish_after_up(
    ctx: &Context,
    inst: &Instance,
    bundle: &Bundle,
    up: (&[(Instant, crate::events::Event)], Instant, bool),
    verified: bool,
) {
    let (events, origin, up_failed) = up;
    if !verified {
        if let Err(e) = write_timeline(inst, bundle, events, origin) {
            eprintln!("warning: the failure bundle is incomplete: {}", e.detail());
        }
    }
    if up_failed {
        announce(ctx, bundle);
    } else {
        collect(ctx, inst, bundle);
    }
}
