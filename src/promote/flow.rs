//! One promotion or rollback, step by step. The router only moves to a colour that has
//! passed its gate, and moves back when anything after the switch fails; the old
//! colour is stopped only once the router is proven to serve the new one.

use super::history::{Record, SpecResult};
use super::probe::{self, Probe};
use super::release::Release;
use super::{colour, drain, switch, PromoteError};
use crate::backend::NodeAccess;
use crate::check::runner::{self, RunOptions};
use crate::events::Observer;
use crate::instance::{Instance, InstanceView};
use crate::model::assertion::pattern::Pattern;
use crate::model::assertion::Assertion;
use crate::model::promotion::{render, Promotion};
use crate::wait::{self, Poll};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// Consecutive answers from the new colour, on fresh connections, before the router
/// counts as switched (nginx's old workers drain meanwhile).
const SERVE_STREAK: u32 = 5;

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Start the idle colour with this release and switch to it.
    Promote(Release),
    /// Switch back to the previous colour, as it last ran.
    Rollback,
}

/// Choices for one run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Leave the old colour running after the switch.
    pub keep_previous: bool,
    /// URL probed through the router for the whole run (`http://ROUTER:PORT/...`).
    pub probe: Option<String>,
    /// Patterns every probe answer must match.
    pub probe_body: Vec<Pattern>,
    pub quiet: bool,
    /// Assertions checked at once.
    pub jobs: usize,
    /// The release recorded for the previous colour, if a rollback must recreate it.
    pub previous_release: Option<Release>,
    /// Turns `true` when the user interrupts: the run puts the router back on the old
    /// colour, stops the new one and ends with [`INTERRUPTED`].
    pub interrupt: Option<tokio::sync::watch::Receiver<bool>>,
    /// The previous colour's container no longer runs that release (a refused or failed
    /// attempt replaced it): a rollback recreates it instead of starting it again.
    pub recreate_previous: bool,
    /// Cuts the gate's assertions short (the process's token when `None`); a gate cut
    /// short is not passed.
    pub cancel: Option<&'static crate::cancel::Token>,
}

/// Exit codes of an outcome: the CLI's own ([`crate::exit_code`]) under promotion's
/// names. `INVALID`: only symlink releases end so (a rollback with no release to go
/// back to).
pub use crate::exit_code::{
    ENVIRONMENT as FAULT, INTERRUPTED, INVALID_INPUT as INVALID, SPECS_FAILED as REFUSED,
    SUCCESS as PROMOTED,
};

struct Run<'a> {
    handle: &'a Handle,
    inst: &'a Instance,
    p: &'a Promotion,
    specs: &'a [Assertion],
    options: &'a Options,
    observer: &'a dyn Observer,
    record: Record,
    started: Instant,
    /// The colour the router's preview points at, when this run moved it.
    preview_at: Option<String>,
    /// The live colour was taken out of service (and must be put back if traffic
    /// does not move away from it).
    drained: bool,
}

/// Runs a promotion or rollback of `p` and returns its record (outcome and exit code
/// included). Blocks: call it outside the async runtime.
pub fn run(
    handle: &Handle,
    inst: &Instance,
    p: &Promotion,
    specs: &[Assertion],
    action: Action,
    options: &Options,
    observer: &dyn Observer,
) -> Record {
    let (name, release) = match &action {
        Action::Promote(r) => ("promote", r.clone()),
        Action::Rollback => ("rollback", Release::default()),
    };
    let mut run = Run {
        handle,
        inst,
        p,
        specs,
        options,
        observer,
        record: Record::start(name, &p.service, release),
        started: Instant::now(),
        preview_at: None,
        drained: false,
    };
    run.execute(&action);
    run.record.evidence.duration_ms = run.started.elapsed().as_millis() as u64;
    run.record
}

impl Run<'_> {
    fn step(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.options.quiet {
            eprintln!("{}: {text}", self.p.service);
        }
        self.record.evidence.steps.push(text);
    }

    fn view(&self, alias_to: Option<&str>) -> Result<InstanceView, PromoteError> {
        let mut view = self.handle.block_on(self.inst.view())?;
        if let Some(node) = alias_to {
            view.alias(&self.p.service, node);
        }
        Ok(view)
    }

    fn finish(&mut self, exit: u8, outcome: &str, message: Option<String>) {
        self.record.exit = exit;
        self.record.outcome = outcome.into();
        self.record.message = message;
    }

    fn execute(&mut self, action: &Action) {
        let view = match self.view(None) {
            Ok(v) if !v.is_empty() => v,
            Ok(_) => {
                let env = &self.inst.env.name;
                return self.finish(
                    FAULT,
                    "failed",
                    Some(format!(
                        "instance `{}` of environment `{env}` is not running; start it with `{}`",
                        self.inst.id.instance,
                        crate::hint::command(&format!("up {env}"))
                    )),
                );
            }
            Err(e) => return self.finish(FAULT, "failed", Some(e.to_string())),
        };
        let live = match self.handle.block_on(switch::live_colour(self.p, &view)) {
            Ok(Some(c)) => c,
            Ok(None) => {
                return self.finish(
                    FAULT,
                    "failed",
                    Some(format!(
                        "cannot tell which colour of `{}` the router is on: the switch holds neither colour's values",
                        self.p.service
                    )),
                )
            }
            Err(e) => return self.finish(FAULT, "failed", Some(e.to_string())),
        };
        let target = self.p.other(&live).to_string();
        self.record.from = Some(live.clone());
        self.record.to = target.clone();
        self.record.live = Some(live.clone());
        let probe = self.options.probe.as_ref().map(|url| {
            let mapped = self
                .handle
                .block_on(probe::on_host(url, &view, &self.inst.id.network()));
            // Answers to the `serves` URL say which colour they came from.
            let serves = (
                self.p.serves_node.as_str(),
                self.p.serves_port,
                self.p.serves_path.as_str(),
            );
            let colours = if probe::split(url) == Some(serves) {
                self.p
                    .colours
                    .iter()
                    .map(|(c, _)| (c.clone(), render(&self.p.serves_body, &self.p.values(c))))
                    .collect()
            } else {
                Vec::new()
            };
            let judge = probe::Judge {
                colours,
                patterns: self.options.probe_body.clone(),
            };
            Probe::start(self.handle, mapped, url.clone(), judge, &[live.as_str()])
        });
        let result = self.switch_over(action, &live, &target, probe.as_ref());
        self.reset_preview();
        if let Some(probe) = probe {
            let figures = self.handle.block_on(probe.finish());
            if !self.options.quiet {
                eprintln!(
                    "{}: probe {}: {} requests, {} failed",
                    self.p.service, figures.url, figures.sent, figures.failed
                );
                for (colour, l) in &figures.colours {
                    eprintln!(
                        "{}: probe answers from {colour}: {}, {}",
                        self.p.service,
                        l.count,
                        l.describe()
                    );
                }
            }
            let failed = figures.failed;
            self.record.probe = Some(figures);
            if failed > 0 && result.is_ok() {
                return self.finish(
                    REFUSED,
                    "failed",
                    Some(format!(
                        "{failed} probe requests through the router failed while the old colour stopped; the router is on `{target}`"
                    )),
                );
            }
        }
        match result {
            Ok(()) => {
                let outcome = match action {
                    Action::Promote(_) => "promoted",
                    Action::Rollback => "rolled back",
                };
                self.finish(PROMOTED, outcome, None);
            }
            Err((exit, message)) => {
                let outcome = match exit {
                    REFUSED => "refused",
                    INTERRUPTED => "interrupted",
                    _ => "failed",
                };
                self.finish(exit, outcome, Some(message));
            }
        }
    }

    /// Everything between the probe's start and end. On failure, the router is on
    /// `live` again and the target colour is stopped.
    fn switch_over(
        &mut self,
        action: &Action,
        live: &str,
        target: &str,
        probe: Option<&Probe>,
    ) -> Result<(), (u8, String)> {
        let p = self.p;
        let target_node = p.node_of(target).unwrap_or_default().to_string();
        let live_node = p.node_of(live).unwrap_or_default().to_string();
        let node = self
            .inst
            .env
            .nodes
            .get(&target_node)
            .cloned()
            .ok_or_else(|| (FAULT, format!("node `{target_node}` is not defined")))?;
        // 1. The target colour runs the release.
        let again = match action {
            Action::Promote(release) => {
                self.step(format!(
                    "starting {target} ({target_node}) with {}",
                    release.label()
                ));
                None
            }
            Action::Rollback => {
                let release = self.options.previous_release.clone().unwrap_or_default();
                self.record.release = release.clone();
                if self.options.recreate_previous {
                    self.step(format!(
                        "starting {target} ({target_node}) with its last release, {}",
                        release.label()
                    ));
                } else {
                    self.step(format!("starting {target} ({target_node}) as it last ran"));
                }
                Some(!self.options.recreate_previous)
            }
        };
        let release = match action {
            Action::Promote(release) => release.clone(),
            Action::Rollback => self.record.release.clone(),
        };
        let (inst, observer) = (self.inst, self.observer);
        let started = self.block(async {
            if again == Some(true) {
                if let Some(c) = colour::start_again(inst, &node).await? {
                    return Ok((c, None));
                }
            }
            colour::start_release(inst, &node, &release, observer)
                .await
                .map(|(c, image)| (c, Some(image)))
        });
        let Some(started) = started else {
            self.handle
                .block_on(crate::instance::up::remove_run(self.inst));
            return Err((
                INTERRUPTED,
                format!("interrupted while starting {target}; the router stays on {live}"),
            ));
        };
        let (container, image) = match started {
            Ok(s) => s,
            Err(e) => {
                self.stop_target(&target_node);
                return Err((FAULT, format!("{target} did not start: {e}")));
            }
        };
        self.record.evidence.container = Some(container.name.clone());
        self.record.evidence.image = image;
        // 2. The gate, against the target colour directly.
        let colour_specs = self.selected(&p.specs);
        self.step(format!(
            "verifying {target} directly ({} assertions)",
            colour_specs.len()
        ));
        if let Err(no) = self.verify(colour_specs, &target_node) {
            self.stop_target(&target_node);
            return Err(no.stop(target, "", &format!("; the router stays on {live}")));
        }
        if self.interrupted() {
            self.stop_target(&target_node);
            return Err((
                INTERRUPTED,
                format!("interrupted; the router stays on {live}"),
            ));
        }
        // 3. Where the router can serve the target to envctl alone, prove `serves`
        // there before any real client can reach it.
        if let Some(preview) = &p.preview {
            let url = format!("http://{}:{}{}", preview.node, preview.port, preview.path);
            self.step(format!("previewing {target} through the router ({url})"));
            let view = self.view(None).map_err(|e| (FAULT, e.to_string()))?;
            let mut notes = Vec::new();
            let written = self
                .handle
                .block_on(switch::preview(p, preview, &view, target, &mut notes));
            self.notes(notes);
            self.preview_at = Some(target.to_string());
            if let Err(e) = written {
                self.stop_target(&target_node);
                return Err((
                    FAULT,
                    format!("pointing the router's preview at {target} failed: {e}; the router stays on {live}"),
                ));
            }
            let route = Route {
                node: &preview.node,
                port: preview.port,
                path: &preview.path,
                headers: Some(&preview.headers),
            };
            if let Err(e) = self.handle.block_on(serves(p, &view, &route, target)) {
                self.stop_target(&target_node);
                return Err((
                    REFUSED,
                    format!("the router does not serve {target} through its preview: {e}; the router stays on {live}"),
                ));
            }
            self.step(format!("the router's preview serves {target}"));
        }
        // 4. With a drain: the target goes back into service (it was taken out when
        // traffic last moved away from it), the live colour out of it.
        if let Some(d) = &p.drain {
            let view = self.view(None).map_err(|e| (FAULT, e.to_string()))?;
            if d.undo.is_some() || d.undo_http.is_some() {
                self.step(format!(
                    "putting {target} ({target_node}) back into service"
                ));
                let mut notes = Vec::new();
                let done = self.handle.block_on(drain::put_back(
                    d,
                    &view,
                    &p.router,
                    &p.values(target),
                    &mut notes,
                ));
                self.notes(notes);
                if let Err(e) = done {
                    self.stop_target(&target_node);
                    return Err((
                        FAULT,
                        format!("putting {target} back into service failed: {e}; the router stays on {live}"),
                    ));
                }
            }
            self.step(format!("draining {live} ({live_node})"));
            let mut notes = Vec::new();
            let done = self.handle.block_on(drain::take_out(
                d,
                &view,
                &p.router,
                &p.values(live),
                &mut notes,
            ));
            self.notes(notes);
            self.drained = true;
            if let Err(e) = done {
                self.undrain(live);
                self.stop_target(&target_node);
                return Err((
                    FAULT,
                    format!("draining {live} failed: {e}; the router stays on {live}"),
                ));
            }
        }
        // 5. The switch, then proof that the router serves the target.
        self.step(format!("switching the router to {target}"));
        if let Some(probe) = probe {
            probe.allow(&[live, target]);
            probe.mark(format!("switch to {target}"));
        }
        let after_switch = self.switch_and_verify(target, &target_node);
        if let Err((exit, message)) = after_switch {
            return Err(self.back_to(live, target, &target_node, exit, message, probe));
        }
        self.record.live = Some(target.to_string());
        // Verified through the router: from now on only the target may answer.
        if let Some(probe) = probe {
            probe.allow(&[target]);
        }
        if self.interrupted() {
            return Err(self.back_to(
                live,
                target,
                &target_node,
                INTERRUPTED,
                "interrupted".into(),
                probe,
            ));
        }
        if let Some(failed) = probe.map(Probe::failed).filter(|f| *f > 0) {
            let message = format!("{failed} probe requests through the router failed");
            return Err(self.back_to(live, target, &target_node, REFUSED, message, probe));
        }
        // 6. The old colour's requests in flight end, then it goes (or stays, for a
        // fast rollback).
        if let Some(d) = p.drain.as_ref().filter(|_| !self.options.keep_previous) {
            self.wait_idle(d, live, &live_node);
        }
        if self.options.keep_previous {
            self.step(format!("keeping {live} ({live_node}) running"));
        } else {
            self.step(format!("stopping {live} ({live_node})"));
            if let Err(e) = self.handle.block_on(colour::stop(self.inst, &live_node)) {
                return Err((
                    FAULT,
                    format!("the router is on {target}, but stopping {live_node} failed: {e}"),
                ));
            }
        }
        Ok(())
    }

    /// Switches the router back to `live` after a failure; the target is stopped only
    /// once the router is confirmed to serve `live` again (otherwise it may be all that
    /// still answers). Returns the exit code and message for the failure.
    fn back_to(
        &mut self,
        live: &str,
        target: &str,
        target_node: &str,
        exit: u8,
        message: String,
        probe: Option<&Probe>,
    ) -> (u8, String) {
        self.step(format!("switching the router back to {live}"));
        if let Some(probe) = probe {
            probe.allow(&[live, target]);
            probe.mark(format!("switch back to {live}"));
        }
        match self.switch_and_confirm(live) {
            Ok(()) => {
                if let Some(probe) = probe {
                    probe.allow(&[live]);
                }
                if self.drained {
                    self.undrain(live);
                }
                self.record.live = Some(live.to_string());
                self.stop_target(target_node);
                (exit, format!("{message}; the router is back on {live}"))
            }
            Err((_, e)) => {
                self.record.live = None;
                self.step(format!("switching back failed: {e}"));
                (
                    FAULT,
                    format!("{message}; switching back to {live} failed too ({e}); {target} is left running"),
                )
            }
        }
    }

    /// Runs `work` to its end, or until the run is interrupted (`None`).
    fn block<F: std::future::Future>(&self, work: F) -> Option<F::Output> {
        let Some(rx) = self.options.interrupt.clone() else {
            return Some(self.handle.block_on(work));
        };
        let mut rx = rx;
        self.handle.block_on(async move {
            tokio::select! {
                out = work => Some(out),
                Ok(_) = rx.wait_for(|stop| *stop) => None,
            }
        })
    }

    fn interrupted(&self) -> bool {
        self.options
            .interrupt
            .as_ref()
            .is_some_and(|rx| *rx.borrow())
    }

    fn selected(&self, stems: &[String]) -> Vec<Assertion> {
        self.specs
            .iter()
            .filter(|a| stems.iter().any(|s| s == a.group()))
            .cloned()
            .collect()
    }

    /// Runs assertions with the service standing for `node`; records the results.
    fn verify(&mut self, assertions: Vec<Assertion>, node: &str) -> Result<(), GateNo> {
        let view = self
            .view(Some(node))
            .map_err(|e| GateNo::Fault(e.to_string()))?;
        verify(
            self.handle,
            view,
            assertions,
            self.options,
            &mut self.record.specs,
        )
    }

    fn switch_and_verify(&mut self, target: &str, target_node: &str) -> Result<(), (u8, String)> {
        self.switch_and_confirm(target)?;
        let router_specs = self.selected(&self.p.router_specs);
        self.step(format!(
            "verifying {target} through the router ({} assertions)",
            router_specs.len()
        ));
        self.verify(router_specs, target_node)
            .map_err(|no| no.stop(target, " through the router", ""))
    }

    /// Switches to `colour` and waits until the router serves it. A switch that cannot
    /// be carried out is a fault (exit 3); a router that does not serve `colour` within
    /// `serves.timeout` is the gate saying no (exit 1).
    fn switch_and_confirm(&mut self, colour: &str) -> Result<(), (u8, String)> {
        let view = self.view(None).map_err(|e| (FAULT, e.to_string()))?;
        let mut notes = Vec::new();
        let keys = self
            .handle
            .block_on(switch::switch_to(self.p, &view, colour, &mut notes));
        self.notes(notes);
        self.record.evidence.keys = keys.map_err(|e| (FAULT, e.to_string()))?;
        let route = Route::serves(self.p);
        self.handle
            .block_on(serves(self.p, &view, &route, colour))
            .map_err(|e| (REFUSED, format!("the router does not serve {colour}: {e}")))?;
        self.step(format!("the router serves {colour}"));
        Ok(())
    }

    /// Points the preview back at the live colour once a run that moved it is over, so
    /// it never names a colour that has been stopped (a router such as nginx refuses a
    /// config whose upstream host does not resolve).
    fn reset_preview(&mut self) {
        let (Some(preview), Some(live)) = (&self.p.preview, self.record.live.clone()) else {
            return;
        };
        if self.preview_at.as_deref().is_none_or(|at| at == live) {
            return;
        }
        self.step(format!("pointing the router's preview back at {live}"));
        let mut notes = Vec::new();
        let done = match self.view(None) {
            Ok(view) => self
                .handle
                .block_on(switch::preview(self.p, preview, &view, &live, &mut notes))
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        self.notes(notes);
        if let Err(e) = done {
            self.step(format!("pointing the preview back failed: {e}"));
        }
    }

    /// Puts `colour` back into service after it was drained and traffic did not move.
    fn undrain(&mut self, colour: &str) {
        let Some(d) = &self.p.drain else { return };
        if d.undo.is_none() && d.undo_http.is_none() {
            return;
        }
        self.step(format!("putting {colour} back into service"));
        let mut notes = Vec::new();
        let done = match self.view(None) {
            Ok(view) => self.handle.block_on(drain::put_back(
                d,
                &view,
                &self.p.router,
                &self.p.values(colour),
                &mut notes,
            )),
            Err(e) => Err(e.to_string()),
        };
        self.notes(notes);
        if let Err(e) = done {
            self.step(format!("putting {colour} back into service failed: {e}"));
        }
    }

    /// Waits until the drained colour's requests in flight have ended, or the drain's
    /// deadline passes (then it is stopped anyway, as a load balancer would).
    fn wait_idle(&mut self, d: &crate::model::drain::Drain, colour: &str, node: &str) {
        let Some(port) = d.port else { return };
        self.step(format!(
            "waiting for requests in flight on {colour} ({node}:{port}), up to {}",
            wait::human(d.timeout)
        ));
        let idle = match self.view(None) {
            Ok(view) => self.handle.block_on(drain::wait_idle(d, &view, node)),
            Err(e) => Err(e.to_string()),
        };
        match idle {
            Ok(drain::Idle::After { waited, seen }) => self.step(format!(
                "{colour} has no request in flight ({seen} seen, waited {})",
                wait::human(waited)
            )),
            Ok(drain::Idle::TimedOut { left }) => self.step(format!(
                "{colour} still has {left} requests in flight after {}; stopping it anyway",
                wait::human(d.timeout)
            )),
            Err(e) => self.step(format!("cannot tell whether {colour} is idle: {e}")),
        }
    }

    /// Records retried failures as steps.
    fn notes(&mut self, notes: Vec<String>) {
        for n in notes {
            self.step(n);
        }
    }

    fn stop_target(&mut self, node: &str) {
        self.step(format!("stopping {node}"));
        if let Err(e) = self.handle.block_on(colour::stop(self.inst, node)) {
            self.step(format!("stopping {node} failed: {e}"));
        }
    }
}

/// Why a gate did not pass.
pub(super) enum GateNo {
    /// This many assertions failed.
    Failed(usize),
    /// The run was interrupted before every assertion had its answer: not a pass.
    Interrupted,
    /// The assertions could not be run at all.
    Fault(String),
}

impl GateNo {
    /// The exit code and message of a promotion that stops here: `what` failed its specs
    /// `where_`, and what then holds (`then`).
    pub(super) fn stop(self, what: &str, where_: &str, then: &str) -> (u8, String) {
        match self {
            GateNo::Failed(n) => (
                REFUSED,
                format!("{what} failed its specs{where_} ({n} failed){then}"),
            ),
            GateNo::Interrupted => (
                INTERRUPTED,
                format!("interrupted while verifying {what}{then}"),
            ),
            GateNo::Fault(e) => (FAULT, format!("cannot verify {what}: {e}{then}")),
        }
    }
}

/// Runs a gate's assertions against `view` and adds their results to `results`. An
/// assertion cut short by an interrupt has no answer, so the gate is not passed.
pub(super) fn verify(
    handle: &Handle,
    view: InstanceView,
    assertions: Vec<Assertion>,
    options: &Options,
    results: &mut Vec<SpecResult>,
) -> Result<(), GateNo> {
    let cancel = options.cancel.unwrap_or_else(crate::cancel::process);
    let run_options = RunOptions {
        jobs: options.jobs.max(1),
        quiet: options.quiet,
        cancel,
        ..Default::default()
    };
    let outcomes = runner::run(handle, assertions, Arc::new(view), &run_options);
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    results.extend(outcomes.into_iter().map(|o| SpecResult {
        name: o.name,
        passed: o.passed,
        message: o.message,
    }));
    if failed > 0 {
        Err(GateNo::Failed(failed))
    } else if cancel.is_cancelled() {
        Err(GateNo::Interrupted)
    } else {
        Ok(())
    }
}

/// A request through the router: the `serves` route, or the preview's.
struct Route<'a> {
    node: &'a str,
    port: u16,
    path: &'a str,
    headers: Option<&'a std::collections::BTreeMap<String, String>>,
}

impl<'a> Route<'a> {
    fn serves(p: &'a Promotion) -> Route<'a> {
        Route {
            node: &p.serves_node,
            port: p.serves_port,
            path: &p.serves_path,
            headers: None,
        }
    }
}

/// Waits until requests along `route` reach `colour`: its `serves` text in
/// [`SERVE_STREAK`] consecutive answers, each on a fresh connection, within
/// `serves.timeout`.
async fn serves(
    p: &Promotion,
    view: &InstanceView,
    route: &Route<'_>,
    colour: &str,
) -> Result<(), String> {
    let addr = view
        .address(route.node, route.port)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("http://{addr}{}", route.path);
    let values = p.values(colour);
    let want = render(&p.serves_body, &values);
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in route.headers.into_iter().flatten() {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| format!("header `{k}`: {e}"))?;
        let value = reqwest::header::HeaderValue::from_str(&render(v, &values))
            .map_err(|e| format!("header `{k}`: {e}"))?;
        headers.insert(name, value);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5).min(p.serves_timeout))
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())?;
    let streak = AtomicU32::new(0);
    wait::until(p.serves_timeout, Duration::from_millis(50), || {
        let (client, url, want, streak) = (&client, &url, &want, &streak);
        async move {
            let body = match client.get(url).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => {
                    streak.store(0, Ordering::SeqCst);
                    return Poll::Pending(crate::check::http::describe(&e));
                }
            };
            if body.contains(want.as_str()) {
                if streak.fetch_add(1, Ordering::SeqCst) + 1 >= SERVE_STREAK {
                    return Poll::Ready(());
                }
                Poll::Pending(format!("{url} answered from {colour}"))
            } else {
                streak.store(0, Ordering::SeqCst);
                Poll::Pending(format!(
                    "{url} answered {} (expected it to contain {want:?})",
                    crate::check::excerpt(&body)
                ))
            }
        }
    })
    .await
    .map_err(|e| e.to_string())
}
