//! The verbs for environments that run as machines (`engine = "vagrant"` or `"qemu"`,
//! or `--engine`): the same verbs, specs and reports as containers, with machines run
//! by the top-level Vagrantfile or by QEMU directly, reached over SSH.

mod bundle;
pub mod gc;
pub mod plan;

pub use bundle::collect;

use super::super::args::ReportArgs;
use super::super::exit::{Failure, SPECS_FAILED, SUCCESS};
use super::super::{interrupt, Context};
use crate::backend::node::{MachineRun, StepRun, StepTool};
use crate::backend::qemu::Qemu;
use crate::backend::ssh::SshAccess;
use crate::backend::vagrant::config::VagrantConfig;
use crate::backend::vagrant::{config, machines, Vagrant};
use crate::backend::NodeAccess;
use crate::check::runner::{self, RunOptions};
use crate::events::{Event, Observer, Phase};
use crate::instance::artifacts::Bundle;
use crate::instance::{machine_idempotence, ready};
use crate::model::assertion::Assertion;
use crate::model::{EngineKind, Environment, Project};
use crate::report::RunSummary;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The VMs of one instance, on the engine the environment chose.
enum Machines {
    Vagrant(Vagrant),
    Qemu(Qemu),
}

impl Machines {
    fn exists(&self) -> bool {
        match self {
            Machines::Vagrant(v) => v.exists(),
            Machines::Qemu(q) => q.exists(),
        }
    }

    /// Brings the machines up; returns what each machine's steps printed.
    async fn up(
        &self,
        env: &Environment,
        cfg: &VagrantConfig,
        observer: &dyn Observer,
    ) -> Result<BTreeMap<String, Vec<StepRun>>, String> {
        // QEMU leaves running VMs as they are; running Vagrant machines get their steps again.
        let unchanged = matches!(self, Machines::Qemu(_)) && self.exists();
        for m in &cfg.machines {
            observer.event(&Event::Node {
                node: m.name.clone(),
                phase: if unchanged {
                    Phase::Unchanged
                } else {
                    Phase::Starting
                },
            });
        }
        let access = match self {
            Machines::Vagrant(v) => {
                v.up().await.map_err(|e| e.to_string())?;
                vagrant_access(v, env).await?
            }
            Machines::Qemu(q) => {
                if !q.up(env).await.map_err(|e| e.to_string())? {
                    return Ok(BTreeMap::new());
                }
                q.access(env).map_err(|e| e.to_string())?
            }
        };
        provision_machines(self.root(), env, cfg, &access, observer).await
    }

    /// Runs the steps of every provisioned machine a second time, leaving out those
    /// marked `idempotent = false`.
    async fn second_run(
        &self,
        env: &Environment,
        cfg: &VagrantConfig,
        access: &SshAccess,
    ) -> Result<Vec<MachineRun>, String> {
        let mut runs = Vec::new();
        for m in &cfg.machines {
            let Some(node) = env.nodes.get(&m.node).filter(|n| !n.provision.is_empty()) else {
                continue;
            };
            let skipped = node
                .provision
                .iter()
                .enumerate()
                .filter(|(_, step)| !step.idempotent)
                .map(|(i, step)| step.numbered_label(i + 1))
                .collect();
            let steps =
                steps_over_ssh(self.root(), env, access, m, true, &crate::events::Silent).await?;
            runs.push(MachineRun {
                machine: m.name.clone(),
                node: m.node.clone(),
                steps,
                skipped,
            });
        }
        Ok(runs)
    }

    /// Destroys the machines and their state; the owner record goes last, so `gc`
    /// still finds machines whose removal failed.
    async fn destroy(&self) -> Result<(), String> {
        match self {
            Machines::Vagrant(v) => v.destroy().await.map_err(|e| e.to_string()),
            Machines::Qemu(q) => q.destroy().await.map_err(|e| e.to_string()),
        }?;
        let _ = std::fs::remove_file(self.owner_file());
        // The environment's directory goes too once its last instance has.
        if let Some(parent) = self.state().parent() {
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }

    async fn status(&self) -> Result<BTreeMap<String, String>, String> {
        match self {
            Machines::Vagrant(v) => v.status().await.map_err(|e| e.to_string()),
            Machines::Qemu(q) => Ok(q.status()),
        }
    }

    /// The project the machines belong to.
    fn root(&self) -> &std::path::Path {
        match self {
            Machines::Vagrant(v) => &v.root,
            Machines::Qemu(q) => &q.root,
        }
    }

    /// `.envctl/ENGINE/ENV/INSTANCE`: the engine's state of the instance.
    fn state(&self) -> &std::path::Path {
        match self {
            Machines::Vagrant(v) => &v.state,
            Machines::Qemu(q) => &q.state,
        }
    }

    /// `.envctl/ENGINE/ENV/INSTANCE.owner.json`, beside the state: the run of `envctl
    /// test` whose machines these are (owner process, its start, when), for `gc`.
    fn owner_file(&self) -> std::path::PathBuf {
        self.state().with_extension("owner.json")
    }

    /// Records that the machines about to be made belong to this process only.
    fn record_owner(&self) -> Result<(), String> {
        use crate::backend::labels;
        let record = std::collections::HashMap::from([
            (labels::OWNER, labels::owner()),
            (labels::OWNER_START, labels::owner_start()),
            (labels::CREATED, labels::now_secs().to_string()),
            (labels::EPHEMERAL, "true".to_string()),
        ]);
        let path = self.owner_file();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&record).unwrap_or_default();
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn name(&self) -> &'static str {
        match self {
            Machines::Vagrant(_) => "vagrant",
            Machines::Qemu(_) => "qemu",
        }
    }
}

/// Runs each machine's steps over SSH (telling `observer` of each), then starts its
/// command unless it runs already; what each machine's steps printed.
async fn provision_machines(
    root: &std::path::Path,
    env: &Environment,
    cfg: &VagrantConfig,
    access: &SshAccess,
    observer: &dyn Observer,
) -> Result<BTreeMap<String, Vec<StepRun>>, String> {
    let mut runs = BTreeMap::new();
    for m in &cfg.machines {
        let steps = steps_over_ssh(root, env, access, m, false, observer).await?;
        runs.insert(m.name.clone(), steps);
        access.start_command(m).await?;
    }
    Ok(runs)
}

/// Runs the steps of machine `m`'s node over SSH, through the step runner containers
/// use (every step kind: shell, script, copy, template, ansible, puppet, salt); on
/// the second run of the idempotence check without the steps marked `idempotent =
/// false`. What each step printed, as the machine's provisioning log keeps it.
async fn steps_over_ssh(
    root: &std::path::Path,
    env: &Environment,
    access: &SshAccess,
    m: &crate::backend::vagrant::config::Machine,
    second_run: bool,
    observer: &dyn Observer,
) -> Result<Vec<StepRun>, String> {
    let Some(node) = env.nodes.get(&m.node) else {
        return Ok(Vec::new());
    };
    let target = crate::provision::Target {
        host: access,
        root,
        id: &m.name,
        node,
        env,
        // Each replica is a machine of its own name (a `Host` of the ssh_config).
        hosts: access
            .nodes
            .keys()
            .map(|r| (r.clone(), r.clone()))
            .collect(),
        second_run,
    };
    let total = node.provision.len();
    let on_step = |index: usize, step: &crate::model::Step| {
        observer.event(&Event::Node {
            node: m.name.clone(),
            phase: Phase::Provisioning {
                index,
                total,
                label: step.label(),
            },
        });
    };
    let logs = crate::provision::run(&target, &on_step)
        .await
        .map_err(|e| format!("machine `{}`: {e}", m.name))?;
    Ok(node
        .provision
        .iter()
        .zip(logs)
        .enumerate()
        .filter(|(_, (_, log))| !log.skipped)
        .map(|(i, (step, log))| StepRun {
            label: step.numbered_label(i + 1),
            tool: match step.kind {
                crate::model::StepKind::Ansible { .. } => StepTool::Ansible,
                crate::model::StepKind::Puppet { .. } => StepTool::Puppet,
                _ => StepTool::Other,
            },
            output: log.output,
        })
        .collect())
}

/// The VM engine instance `instance` of environment `env` has machines (or their
/// state) on, if any: what `down` goes by when the definition does not load.
pub fn engine_with_machines(project: &Project, env: &str, instance: &str) -> Option<EngineKind> {
    if Qemu::new(&project.root, env, instance).exists() {
        Some(EngineKind::Qemu)
    } else if Vagrant::new(&project.root, env, instance).exists() {
        Some(EngineKind::Vagrant)
    } else {
        None
    }
}

/// Whether `env` runs as machines, whose verbs are here.
pub fn on_machines(ctx: &Context, env: &Environment) -> bool {
    matches!(ctx.engine_kind(env), EngineKind::Vagrant | EngineKind::Qemu)
}

fn machines(ctx: &Context, project: &Project, env: &Environment) -> Machines {
    machines_of(
        ctx.engine_kind(env),
        &project.root,
        &env.name,
        &ctx.instance,
    )
}

fn machines_of(kind: EngineKind, root: &std::path::Path, env: &str, instance: &str) -> Machines {
    if kind == EngineKind::Qemu {
        Machines::Qemu(Qemu::new(root, env, instance))
    } else {
        Machines::Vagrant(Vagrant::new(root, env, instance))
    }
}

fn fault(e: impl std::fmt::Display) -> Failure {
    Failure::Environment(e.to_string())
}

/// Connects to the running machines of the instance.
///
/// # Errors
/// [`Failure::Environment`] when the instance has no running machine.
pub fn access(ctx: &Context, project: &Project, env: &Environment) -> Result<SshAccess, Failure> {
    let not_running = || {
        Failure::Environment(format!(
            "instance `{}` of environment `{}` has no running machine; start it with `{}`",
            ctx.instance,
            env.name,
            crate::hint::command(&format!("up {}", env.name))
        ))
    };
    let vagrant = match machines(ctx, project, env) {
        Machines::Qemu(q) => return q.access(env).map_err(|_| not_running()),
        Machines::Vagrant(v) => v,
    };
    if !vagrant.exists() {
        return Err(not_running());
    }
    ctx.runtime
        .block_on(vagrant_access(&vagrant, env))
        .map_err(|e| Failure::Environment(format!("{}\n({e})", not_running().detail())))
}

/// Reaches the running machines of a Vagrant instance over SSH, with the configuration
/// `vagrant ssh-config` writes.
async fn vagrant_access(vagrant: &Vagrant, env: &Environment) -> Result<SshAccess, String> {
    let (ssh_config, hosts) = vagrant.ssh_config().await.map_err(|e| e.to_string())?;
    let cfg = config::build(env, &vagrant.root, &vagrant.instance, None);
    let nodes = cfg
        .machines
        .iter()
        .map(|m| (m.name.clone(), m.node.clone()))
        .collect();
    let forwarded = cfg
        .machines
        .iter()
        .map(|m| {
            let ports: BTreeMap<u16, u16> = m
                .ports
                .iter()
                .filter_map(|p| Some((p.guest, p.host?)))
                .collect();
            (m.name.clone(), ports)
        })
        .collect();
    Ok(SshAccess {
        ssh_config,
        hosts,
        nodes,
        forwarded,
    })
}

/// Brings the machines up (`vagrant up`, or QEMU's boot), runs their steps and starts
/// their commands over SSH, then waits for health checks. A failed or interrupted
/// first `up` destroys what it made, after taking what its machines said into
/// `bundle` (`--artifacts`) when there is one. `ephemeral` (`test` without `--keep`):
/// the machines must not outlive this process, and `gc` removes them if it dies.
///
/// # Errors
/// [`Failure::Environment`] with the engine's output.
pub fn up(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    bundle: Option<&Bundle>,
    ephemeral: bool,
) -> Result<u8, Failure> {
    let vagrant = machines(ctx, project, env);
    let fresh = !vagrant.exists();
    if fresh && ephemeral {
        // A run killed before its cleanup leaves machines `gc` can tell are garbage.
        vagrant
            .record_owner()
            .map_err(|e| Failure::Environment(format!("cannot record the run's machines: {e}")))?;
    }
    let started = Instant::now();
    if !ctx.quiet {
        eprintln!(
            "{}/{}: {} up ({} machine{})",
            env.name,
            ctx.instance,
            vagrant.name(),
            env.nodes.len(),
            if env.nodes.len() == 1 { "" } else { "s" }
        );
    }
    let cfg = config::build(env, &project.root, &ctx.instance, None);
    // The same progress as containers: each machine starting, its steps, its health.
    let observer = crate::report::progress::for_stderr(ctx.quiet);
    let each = |phase: Phase| {
        for m in &cfg.machines {
            observer.event(&Event::Node {
                node: m.name.clone(),
                phase: phase.clone(),
            });
        }
    };
    let result = ctx
        .runtime
        .block_on(interrupt::unless_interrupted(vagrant.up(
            env,
            &cfg,
            observer.as_ref(),
        )))
        .ok_or(Failure::Interrupted)
        .and_then(|r| r.map_err(fault))
        .and_then(|runs| {
            write_provision_logs(&log_dir(ctx, project, env), &runs);
            let access = access(ctx, project, env)?;
            each(Phase::WaitingHealthy);
            ctx.runtime
                .block_on(ready::wait_healthy(env, &access))
                .map_err(Failure::Environment)
        });
    each(if result.is_ok() {
        Phase::Ready {
            elapsed: started.elapsed(),
        }
    } else {
        Phase::Failed
    });
    drop(observer);
    if let Err(e) = result {
        // What the machines said, taken before they go.
        if let Some(bundle) = super::artifacts::due_after(bundle, &e) {
            collect(ctx, project, env, bundle);
        }
        if fresh {
            let _ = ctx.runtime.block_on(vagrant.destroy());
        }
        return Err(e);
    }
    if !ctx.quiet {
        eprintln!(
            "{}/{}: up in {}",
            env.name,
            ctx.instance,
            crate::wait::human(started.elapsed())
        );
    }
    Ok(SUCCESS)
}

/// Where the instance's provisioning and idempotence logs go, as on containers.
fn log_dir(ctx: &Context, project: &Project, env: &Environment) -> std::path::PathBuf {
    crate::instance::log_dir(&project.root, &env.name, &ctx.instance)
}

/// Keeps what each machine's steps printed, for `envctl logs NODE --provision`. A
/// machine that was up already (nothing ran) keeps its earlier log.
fn write_provision_logs(dir: &std::path::Path, runs: &BTreeMap<String, Vec<StepRun>>) {
    for (machine, steps) in runs {
        let mut text = String::new();
        for (i, s) in steps.iter().enumerate() {
            text.push_str(&format!("=== step {} ({})\n{}\n", i + 1, s.label, s.output));
        }
        crate::instance::keep_log(dir, &format!("{machine}.provision.log"), &text);
    }
}

/// The idempotence check on the running machines: each provisioned machine's files are
/// read, its steps run a second time, its files read again; any difference, or a change
/// its tools report, fails with exit 4 (see [`machine_idempotence`]).
///
/// # Errors
/// [`Failure::NotIdempotent`] naming what changed; [`Failure::Environment`] when a
/// machine cannot be reached or a step fails on its second run.
pub fn check_idempotence(
    ctx: &Context,
    project: &Project,
    env: &Environment,
) -> Result<(), Failure> {
    let cfg = config::build(env, &project.root, &ctx.instance, None);
    let targets: Vec<(String, Vec<String>)> = cfg
        .machines
        .iter()
        .filter_map(|m| {
            let node = env.nodes.get(&m.node).filter(|n| !n.provision.is_empty())?;
            Some((m.name.clone(), node.idempotence_ignore.clone()))
        })
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let access = access(ctx, project, env)?;
    let engine = machines(ctx, project, env);
    if !ctx.quiet {
        eprintln!(
            "{}/{}: idempotence check: running the steps of {} again",
            env.name,
            ctx.instance,
            targets
                .iter()
                .map(|(m, _)| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let snapshots = || {
        futures_util::future::try_join_all(
            targets
                .iter()
                .map(|(m, ignore)| machine_idempotence::snapshot(&access, m, ignore)),
        )
    };
    let outcome = ctx.runtime.block_on(interrupt::unless_interrupted(async {
        let before = snapshots().await?;
        let runs = engine.second_run(env, &cfg, &access).await?;
        let after = snapshots().await?;
        Ok::<_, String>((before, runs, after))
    }));
    let (before, runs, after) = outcome
        .ok_or(Failure::Interrupted)?
        .map_err(|e| Failure::Environment(format!("the idempotence check: {e}")))?;
    let dir = log_dir(ctx, project, env);
    let mut reports = Vec::new();
    for (i, (machine, ignore)) in targets.iter().enumerate() {
        let run = runs
            .iter()
            .find(|r| &r.machine == machine)
            .cloned()
            .unwrap_or_else(|| MachineRun {
                machine: machine.clone(),
                ..MachineRun::default()
            });
        let report = machine_idempotence::report(&before[i], &after[i], &run, ignore);
        machine_idempotence::write_log(&dir, &report, &run);
        reports.push(report);
    }
    super::provision::judge(ctx, &reports, &env.name, &ctx.instance)
}

/// `envctl provision` on machines, which keep no provisioned image: runs every node's
/// steps again on the instance's running machines (each machine's provisioning log is
/// replaced), or brings the machines up when the instance
/// has none. With `check`, the idempotence check of `test` follows.
///
/// # Errors
/// [`Failure::Environment`] when a step fails; [`Failure::NotIdempotent`] from the
/// check.
pub fn provision(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    check: bool,
) -> Result<u8, Failure> {
    let engine = machines(ctx, project, env);
    if engine.exists() {
        let cfg = config::build(env, &project.root, &ctx.instance, None);
        let access = access(ctx, project, env)?;
        if !ctx.quiet {
            eprintln!(
                "{}/{}: {} provision: running the steps again on the running machines",
                env.name,
                ctx.instance,
                engine.name()
            );
        }
        let observer = crate::report::progress::for_stderr(ctx.quiet);
        let runs = ctx
            .runtime
            .block_on(interrupt::unless_interrupted(provision_machines(
                engine.root(),
                env,
                &cfg,
                &access,
                observer.as_ref(),
            )))
            .ok_or(Failure::Interrupted)?
            .map_err(fault)?;
        write_provision_logs(&log_dir(ctx, project, env), &runs);
    } else {
        up(ctx, project, env, None, false)?;
    }
    if !ctx.quiet {
        eprintln!("{}/{}: machines provisioned", env.name, ctx.instance);
    }
    if check {
        check_idempotence(ctx, project, env)?;
    }
    Ok(SUCCESS)
}

/// `vagrant destroy --force` and the instance's Vagrant state.
///
/// # Errors
/// [`Failure::Environment`] when Vagrant fails.
pub fn down(ctx: &Context, project: &Project, env: &Environment) -> Result<u8, Failure> {
    let vagrant = machines(ctx, project, env);
    let existed = vagrant.exists();
    ctx.runtime.block_on(vagrant.destroy()).map_err(fault)?;
    if !ctx.quiet {
        eprintln!(
            "{}/{}: {}",
            env.name,
            ctx.instance,
            if existed {
                "destroyed its machines"
            } else {
                "nothing to remove"
            }
        );
    }
    Ok(SUCCESS)
}

/// Machine states as Vagrant reports them.
///
/// # Errors
/// [`Failure::Environment`] when Vagrant fails.
pub fn status(ctx: &Context, project: &Project, env: &Environment) -> Result<u8, Failure> {
    let vagrant = machines(ctx, project, env);
    if !vagrant.exists() {
        outln!(
            "{}/{}: not running (start it with `{}`)",
            env.name,
            ctx.instance,
            crate::hint::command(&format!("up {}", env.name))
        );
        return Ok(SUCCESS);
    }
    let states = ctx.runtime.block_on(vagrant.status()).map_err(fault)?;
    outln!("{:<20} {:<12} ENGINE", "NODE", "STATE");
    for (machine, state) in states {
        outln!("{machine:<20} {state:<12} {}", vagrant.name());
    }
    Ok(SUCCESS)
}

/// Runs a command in a machine over SSH; returns its exit code.
///
/// # Errors
/// [`Failure::Environment`] when the machine cannot be reached.
pub fn exec(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    node: &str,
    command: &[String],
) -> Result<u8, Failure> {
    let access = access(ctx, project, env)?;
    let out = ctx
        .runtime
        .block_on(access.exec(node, command, Duration::from_secs(24 * 3600)))?;
    // As on containers: the environment's secrets never reach the terminal.
    let redact = crate::model::secrets::redact;
    let _ = std::io::stdout().write_all(redact(&out.stdout).as_bytes());
    let _ = std::io::stderr().write_all(redact(&out.stderr).as_bytes());
    Ok(u8::try_from(out.exit_code).unwrap_or(1))
}

/// `envctl shell` on a machine: ssh with a TTY, as root.
///
/// # Errors
/// [`Failure::Environment`] when the machine cannot be reached.
pub fn shell(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    node: &str,
    command: &[String],
) -> Result<u8, Failure> {
    let access = access(ctx, project, env)?;
    let code = ctx.runtime.block_on(access.interactive(node, command))?;
    Ok(u8::try_from(code).unwrap_or(1))
}

/// The output of the node's command on each of its machines (the command is started
/// with a log file of the machine's name), redacted: the last `tail` lines, then, with
/// `follow`, what it writes until interrupted.
///
/// # Errors
/// [`Failure::Environment`] when no machine of the node runs or one cannot be reached.
pub fn logs(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    node: &str,
    follow: bool,
    tail: Option<usize>,
) -> Result<u8, Failure> {
    let access = access(ctx, project, env)?;
    let machines = access.machines_of(node);
    if machines.is_empty() {
        return Err(Failure::Environment(format!(
            "node `{node}` has no running machine; start it with `{}`",
            crate::hint::command(&format!("up {}", env.name))
        )));
    }
    // ssh is spawned on the runtime, which reads its output.
    let _runtime = ctx.runtime.enter();
    let streams = machines
        .iter()
        .map(|m| {
            let file = config::quote(&crate::backend::ssh::command_log(m));
            let lines = tail.map_or_else(|| "+1".to_string(), |n| n.to_string());
            // `tail -F` waits for a log the command has not written yet.
            let read = if follow {
                format!("exec tail -n {lines} -F {file} 2>/dev/null")
            } else {
                format!("tail -n {lines} {file} 2>/dev/null || true")
            };
            let cmd = ["sh".to_string(), "-c".to_string(), read];
            Ok((m.clone(), access.stream(m, &cmd)?))
        })
        .collect::<Result<Vec<_>, crate::backend::EngineError>>()?;
    ctx.runtime
        .block_on(interrupt::unless_interrupted(super::logs::show_merged(
            streams,
        )))
        .unwrap_or(Ok(()))?;
    Ok(SUCCESS)
}

/// What each machine booted, for evidence: the QEMU base disk, or the box (VM
/// providers) or image (Vagrant's docker provider).
fn booted(ctx: &Context, project: &Project, env: &Environment) -> BTreeMap<String, String> {
    let engine = ctx.engine_kind(env);
    let cfg = config::build(env, &project.root, &ctx.instance, None);
    cfg.machines
        .iter()
        .map(|m| {
            let what = match engine {
                EngineKind::Qemu => format!(
                    "qemu:{}",
                    Qemu::new(&project.root, &env.name, &ctx.instance)
                        .image
                        .join("disk.qcow2")
                        .display()
                ),
                _ => match (&m.image, &m.build_dir) {
                    (Some(image), _) => format!("vagrant:{image}"),
                    (None, Some(dir)) => format!("vagrant:build {dir}"),
                    (None, None) => format!("vagrant:box {}", m.vm_box),
                },
            };
            (m.name.clone(), what)
        })
        .collect()
}

/// Runs the selected specs against the running machines and writes reports.
///
/// # Errors
/// [`Failure::Environment`] when no machine runs or a report cannot be written.
pub fn verify(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    selected: Vec<Assertion>,
    report: &ReportArgs,
    bundle: Option<&Bundle>,
) -> Result<u8, Failure> {
    let access = access(ctx, project, env)?;
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let options = RunOptions {
        jobs: report.jobs(),
        quiet: ctx.quiet,
        retry_timeout: report.retry_timeout,
        ..Default::default()
    };
    let outcomes = runner::run(
        ctx.runtime.handle(),
        selected.clone(),
        Arc::new(access),
        &options,
    );
    let bundle = super::artifacts::of_verify(bundle, &outcomes);
    let attachments = bundle.map(|b| bundle::attachments(env, b));
    let summary = RunSummary {
        environment: &env.name,
        instance: &ctx.instance,
        platform: None,
        assertions: &selected,
        outcomes: &outcomes,
        duration: started.elapsed(),
        started_at,
        timeline: crate::report::timeline::verify_spans(&selected, &outcomes, started),
        attachments: attachments.as_ref(),
    };
    super::verify::write_reports(&summary, report)?;
    if let Some(bundle) = bundle {
        super::artifacts::write_reports(&summary, bundle)?;
    }
    super::verify::write_evidence(
        &summary,
        report,
        &project.root,
        env,
        booted(ctx, project, env),
    )?;
    Ok(if summary.failed() > 0 {
        SPECS_FAILED
    } else {
        SUCCESS
    })
}

/// Up, the idempotence check, verify, down (down always runs unless `keep`); the
/// failure bundle, when asked for, before the machines go.
///
/// # Errors
/// As [`up`] and [`verify`]; a failed cleanup is an environment error.
pub fn test(
    ctx: &Context,
    project: &Project,
    env: &Environment,
    selected: Vec<Assertion>,
    report: &ReportArgs,
    keep: bool,
    bundle: Option<&Bundle>,
) -> Result<u8, Failure> {
    // A failed `up` has taken what its machines said into the bundle already.
    let result = up(ctx, project, env, bundle, !keep).and_then(|_| {
        let result = check_idempotence(ctx, project, env)
            .and_then(|()| verify(ctx, project, env, selected, report, bundle));
        if let Some(bundle) = super::artifacts::due(bundle, &result) {
            collect(ctx, project, env, bundle);
        }
        result
    });
    if !keep {
        down(ctx, project, env)?;
    } else if !ctx.quiet {
        let engine = machines(ctx, project, env);
        if engine.exists() {
            eprintln!(
                "kept {}/{}; enter a machine with `{}`, remove them with `{}`",
                env.name,
                ctx.instance,
                crate::hint::command(&format!("shell {} NODE", env.name)),
                crate::hint::command(&format!("down {}", env.name))
            );
        } else {
            eprintln!("nothing was kept: `up` failed and removed the machines it made");
        }
    }
    result
}
