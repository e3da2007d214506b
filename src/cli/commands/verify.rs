//! `envctl verify [ENV] [FILTER...]`.

use super::super::args::{ReportArgs, VerifyArgs};
use super::super::exit::{Failure, SPECS_FAILED, SUCCESS};
use super::super::Context;
use crate::check::runner::{self, RunOptions};
use crate::instance::Instance;
use crate::model::assertion::Assertion;
use crate::report::{evidence, html, json, junit, tap, timeline, RunSummary};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

pub fn run(ctx: &Context, args: VerifyArgs) -> Result<u8, Failure> {
    let (env, filters) = ctx.split_env(&args.args)?;
    let (project, env) = ctx.environment(env.as_deref())?;
    let args = VerifyArgs {
        report: args.report.with_defaults(&project.defaults),
        ..args
    };
    let specs = project.specs(&env)?;
    let selected = select(specs, &filters, &args.report)?;
    let bundle = super::artifacts::wanted(ctx, &project, &env, &args.artifacts)?;
    if super::vm::on_machines(ctx, &env) {
        let result =
            super::vm::verify(ctx, &project, &env, selected, &args.report, bundle.as_ref());
        if let Some(bundle) = super::artifacts::due(bundle.as_ref(), &result) {
            super::vm::collect(ctx, &project, &env, bundle);
        }
        return result;
    }
    let inst = ctx.instance(&project, env)?;
    let selected = part_of_subset(ctx, &inst, selected);
    // verify creates nothing; on a signal the run stops (its reports say so) and exits
    // with the documented code, or this task ends it when the run cannot stop in time.
    ctx.runtime.spawn(async {
        super::super::interrupt::signalled().await;
        eprintln!("interrupted");
        tokio::time::sleep(super::super::interrupt::CLEANUP).await;
        std::process::exit(i32::from(super::super::exit::INTERRUPTED));
    });
    // A node that stops or an engine that goes away is a fault (exit 3), not failed specs;
    // the run stops and writes its reports first.
    ctx.runtime.spawn(super::test::on_fault(inst.clone()));
    let result = verify_after(
        ctx,
        &inst,
        selected,
        &args.report,
        &Recorded::default(),
        bundle.as_ref(),
    );
    if let Some(bundle) = super::artifacts::due(bundle.as_ref(), &result) {
        super::artifacts::collect(ctx, &inst, bundle);
    }
    result
}

/// On an instance started in part (`up ENV NODE...`), the assertions that concern a node
/// it did not start are skipped (reported as such, never run), and verify says so.
fn part_of_subset(ctx: &Context, inst: &Instance, mut selected: Vec<Assertion>) -> Vec<Assertion> {
    let Some(started) = crate::instance::subset::read(inst) else {
        return selected;
    };
    let node_of = |name: &str| -> String {
        if inst.env.nodes.contains_key(name) {
            return name.to_string();
        }
        // A replica (`web-2`) stands for its node.
        name.rsplit_once('-')
            .filter(|(node, n)| inst.env.nodes.contains_key(*node) && n.parse::<u32>().is_ok())
            .map_or_else(|| name.to_string(), |(node, _)| node.to_string())
    };
    let mut skipped = 0;
    for a in selected.iter_mut().filter(|a| !a.skipped) {
        if a.nodes().iter().any(|n| !started.contains(&node_of(n))) {
            a.skipped = true;
            skipped += 1;
        }
    }
    if skipped > 0 && !ctx.quiet {
        eprintln!(
            "the instance runs only {} (started with `up {} NODE...`): {skipped} assertion{} about other nodes skipped; `{}` starts every node",
            started.iter().cloned().collect::<Vec<_>>().join(", "),
            inst.env.name,
            if skipped == 1 { "" } else { "s" },
            crate::hint::command(&format!("up {}", inst.env.name))
        );
    }
    selected
}

/// What ran before the specs (an `up`): its events from `origin`, for the timeline.
pub struct Recorded<'a> {
    pub events: &'a [(Instant, crate::events::Event)],
    pub origin: Instant,
}

impl Default for Recorded<'_> {
    fn default() -> Self {
        Recorded {
            events: &[],
            origin: Instant::now(),
        }
    }
}

/// Applies name filters; filters that select nothing are an input error.
///
/// # Errors
/// [`Failure::Invalid`] when filters match no assertion.
pub fn select(
    specs: Vec<Assertion>,
    filters: &[String],
    report: &ReportArgs,
) -> Result<Vec<Assertion>, Failure> {
    let options = RunOptions {
        filters: filters.to_vec(),
        exact: report.exact,
        ..Default::default()
    };
    let total = specs.len();
    let selected = runner::select(specs, &options);
    if selected.is_empty() && !filters.is_empty() {
        return Err(Failure::Invalid(format!(
            "no assertion matches {} (of {total})",
            filters.join(", ")
        )));
    }
    Ok(selected)
}

/// Runs the selected assertions against the running instance and writes reports, with
/// the events of an `up` that ran before it, so the HTML report and evidence show the
/// whole run. When the run fails (or always, as asked) the reports go into `bundle`
/// too; the caller adds what the engine holds.
///
/// # Errors
/// [`Failure::Environment`] when the instance is not running or a report cannot be written.
pub fn verify_after(
    ctx: &Context,
    inst: &Instance,
    selected: Vec<Assertion>,
    report: &ReportArgs,
    before: &Recorded,
    bundle: Option<&crate::instance::artifacts::Bundle>,
) -> Result<u8, Failure> {
    let (up_events, origin) = (before.events, before.origin);
    let started_at = chrono::Utc::now() - (Instant::now() - origin);
    let mut view = ctx.runtime.block_on(inst.view())?;
    ctx.runtime
        .block_on(crate::promote::alias_live(&inst.env, &mut view));
    if view.is_empty() {
        return Err(Failure::Environment(format!(
            "instance `{}` of environment `{}` is not running; start it with `{}`",
            inst.id.instance,
            inst.env.name,
            crate::hint::command(&format!("up {}", inst.env.name))
        )));
    }
    if selected.is_empty() {
        eprintln!(
            "warning: environment `{}` has no specs (add specs/{}/*.toml)",
            inst.env.name, inst.env.name
        );
    }
    let images: BTreeMap<String, String> = view
        .replicas()
        .iter()
        .map(|(name, c)| (name.clone(), c.image_id.clone()))
        .collect();
    let started = Instant::now();
    let options = RunOptions {
        jobs: report.jobs(),
        quiet: ctx.quiet,
        retry_timeout: report.retry_timeout,
        ..Default::default()
    };
    let outcomes = runner::run(
        ctx.runtime.handle(),
        selected.clone(),
        Arc::new(view),
        &options,
    );
    let platform = super::platforms::current();
    // Decided once, on what decides the exit code: whether this run writes the bundle
    // (its reports, and JUnit cases attaching each node's output).
    let bundle = super::artifacts::of_verify(bundle, &outcomes);
    let attachments = bundle.map(|b| super::artifacts::attachments(&inst.env, b));
    let summary = RunSummary {
        environment: &inst.env.name,
        instance: &inst.id.instance,
        platform: platform.as_deref(),
        assertions: &selected,
        outcomes: &outcomes,
        duration: started.elapsed(),
        started_at,
        timeline: timeline::from_events(up_events, origin)
            .into_iter()
            .chain(timeline::verify_spans(&selected, &outcomes, origin))
            .collect(),
        attachments: attachments.as_ref(),
    };
    write_reports(&summary, report)?;
    if let Some(bundle) = bundle {
        super::artifacts::write_reports(&summary, bundle)?;
    }
    if crate::report::github::enabled() {
        out!(
            "{}",
            crate::model::secrets::redact(&crate::report::github::failures(&summary))
        );
        crate::report::github::write_step_summary(&summary)
            .map_err(|e| Failure::Environment(format!("cannot write the job summary: {e}")))?;
    }
    write_evidence(&summary, report, &inst.root, &inst.env, images)?;
    if crate::cancel::is_cancelled() {
        // Assertions cut short say "interrupted" in the reports; none is a failure. A
        // node that stopped, or an engine that went away, is a fault (exit 3).
        if let Some(fault) = super::test::fault() {
            return Err(Failure::Environment(fault.message.clone()));
        }
        return Err(Failure::Interrupted);
    }
    Ok(if summary.failed() > 0 {
        SPECS_FAILED
    } else {
        SUCCESS
    })
}

/// Writes `--evidence` when asked: `images` says what each replica ran (an image id, a
/// machine's box or disk).
///
/// # Errors
/// [`Failure::Environment`] when the file cannot be written.
pub fn write_evidence(
    summary: &RunSummary,
    report: &ReportArgs,
    root: &std::path::Path,
    env: &crate::model::Environment,
    images: BTreeMap<String, String>,
) -> Result<(), Failure> {
    let Some(path) = &report.evidence else {
        return Ok(());
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = crate::model::secrets::create_private_dir(dir);
    }
    let evidence = summary.with_secrets_redacted(|summary| {
        evidence::render(summary, &evidence::Context { root, env, images })
    });
    crate::model::secrets::write_private(
        path,
        &serde_json::to_string_pretty(&evidence).unwrap_or_default(),
    )
    .map_err(|e| Failure::Environment(format!("cannot write {}: {e}", path.display())))
}

pub fn write_reports(summary: &RunSummary, report: &ReportArgs) -> Result<(), Failure> {
    summary.with_secrets_redacted(|summary| write_redacted_reports(summary, report))
}

fn write_redacted_reports(summary: &RunSummary, report: &ReportArgs) -> Result<(), Failure> {
    // Reports hold what nodes printed: private to the user, like the logs.
    let write = |path: &std::path::Path, text: String| {
        // `--junit reports/junit.xml` makes `reports/` when it is missing, as CI jobs expect.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = crate::model::secrets::create_private_dir(dir);
        }
        crate::model::secrets::write_private(path, &text)
            .map_err(|e| Failure::Environment(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &report.junit {
        let xml = junit::render(summary)
            .map_err(|e| Failure::Environment(format!("cannot render JUnit XML: {e}")))?;
        write(path, xml)?;
    }
    if let Some(path) = &report.json {
        let text = serde_json::to_string_pretty(&json::render(summary)).unwrap_or_default();
        write(path, text)?;
    }
    if let Some(path) = &report.tap {
        write(path, tap::render(summary))?;
    }
    if let Some(path) = &report.html {
        write(path, html::render(summary))?;
    }
    Ok(())
}
