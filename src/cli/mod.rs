//! The command-line front end: parses arguments, runs one verb, maps the result to an
//! exit code. Verbs live in `commands/`, one file each.

/// `println!` that ignores a closed stdout (`envctl status | head -1`): a reader that goes
/// away must not stop envctl half-way, before its cleanup.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

pub mod args;
pub mod commands;
pub mod exit;
pub mod interrupt;

use crate::backend::docker::Docker;
use crate::backend::{Backend, Feature};
use crate::instance::Instance;
use crate::model::{EngineKind, Environment, Project};
use args::{Cli, Command};
use clap::Parser;
use exit::Failure;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs envctl with the process's arguments.
pub fn main() -> ExitCode {
    quiet_broken_pipes();
    let cli = Cli::parse();
    crate::report::github::enable(match cli.annotations.as_deref() {
        Some(kind) => kind == "github",
        None => crate::report::github::detected(),
    });
    // Before any thread: a Docker context becomes the DOCKER_HOST everything reads.
    if let Err(e) = crate::backend::docker::context::apply() {
        return Failure::Environment(e).report();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Failure::Environment(format!("cannot start the async runtime: {e}")).report()
        }
    };
    crate::hint::given(&cli.root, &cli.instance, cli.engine.as_deref());
    let ctx = Context {
        runtime,
        root: cli.root,
        instance: cli.instance,
        quiet: cli.quiet,
        engine: cli.engine.and_then(|e| e.parse().ok()),
    };
    let result = match cli.command {
        Command::Up(a) => commands::up::run(&ctx, a),
        Command::Verify(a) => commands::verify::run(&ctx, a),
        Command::Test(a) => commands::test::run(&ctx, a),
        Command::Down(a) => commands::down::run(&ctx, a),
        Command::Status(a) => commands::status::run(&ctx, a),
        Command::Logs(a) => commands::logs::run(&ctx, a),
        Command::Exec(a) => commands::exec::run(&ctx, a),
        Command::Shell(a) => commands::exec::shell(&ctx, a),
        Command::Validate(a) => commands::validate::run(&ctx, a),
        Command::Image(a) => commands::image::run(&ctx, a),
        Command::Cache(a) => commands::cache::run(&ctx, a),
        Command::Promote(a) => commands::promote::run(&ctx, a),
        Command::Rollback(a) => commands::promote::rollback(&ctx, a),
        Command::History(a) => commands::history::run(&ctx, a),
        Command::Provision(a) => commands::provision::run(&ctx, a),
        Command::Gc(a) => commands::gc::run(&ctx, a),
        Command::VagrantConfig(a) => commands::vagrant_config::run(&ctx, a),
        Command::Doctor => commands::doctor::run(&ctx),
        Command::Init => commands::init::run(&ctx),
        Command::Completions(a) => commands::completions::completions(a),
        Command::Man => commands::completions::man(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => failure.report(),
    }
}

/// A closed stdout (`envctl test | head -2`) is not a crash: writers that cannot ignore the
/// error (the test runner's printer) panic on it, the runner carries on without them, and
/// nothing about it is printed. Every other panic is reported as usual.
fn quiet_broken_pipes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.contains("Broken pipe") || text.contains("failed printing to stdout") {
            return;
        }
        default(info);
    }));
}

/// What every verb needs: the runtime, the project location and the instance name.
pub struct Context {
    pub runtime: tokio::runtime::Runtime,
    pub root: PathBuf,
    pub instance: String,
    pub quiet: bool,
    /// `--engine`, overriding environments' `engine`.
    pub engine: Option<crate::model::EngineKind>,
}

impl Context {
    /// Opens the project.
    ///
    /// # Errors
    /// [`Failure::Invalid`] when the directory is not a project.
    pub fn project(&self) -> Result<Project, Failure> {
        Ok(Project::open(&self.root)?)
    }

    /// Opens the project and loads an environment (the only one when `name` is `None`).
    ///
    /// # Errors
    /// [`Failure::Invalid`] for any definition problem.
    pub fn environment(&self, name: Option<&str>) -> Result<(Project, Environment), Failure> {
        check_instance_name(&self.instance)?;
        let project = self.project()?;
        let name = project.pick(name)?;
        let env = project.environment(&name)?;
        self.refuse_container_keys(&env)?;
        Ok((project, env))
    }

    /// Refuses, at the line that asks, what only containers serve (`volumes`, `tmpfs`,
    /// `cpus`, `memory`, `pids`, `run = "once"`) when `env` runs on machines.
    ///
    /// # Errors
    /// [`Failure::Invalid`] with one diagnostic per key.
    fn refuse_container_keys(&self, env: &Environment) -> Result<(), Failure> {
        let kind = self.engine_kind(env);
        let mut refused: Vec<crate::model::Diagnostic> = if kind == EngineKind::Swarm {
            Vec::new()
        } else {
            env.nodes
                .values()
                .filter_map(|node| {
                    node.place_at.as_ref().map(|at| {
                        at.diagnostic(
                            Some(&format!("nodes.{}.place", node.name)),
                            format!(
                                "the {kind} engine does not support `place` (node `{}`): it says where a node runs on a swarm, and only the swarm engine has machines to choose from (`--engine swarm`); leave it out here",
                                node.name
                            ),
                        )
                    })
                })
                .collect()
        };
        if kind.runs_containers() {
            return if refused.is_empty() {
                Ok(())
            } else {
                Err(crate::model::ModelError::Diagnostics(refused).into())
            };
        }
        refused.extend(env
            .nodes
            .values()
            .flat_map(|node| {
                node.container_keys
                    .iter()
                    // An ansible step's roles and collections are installed on this
                    // host by envctl's step runner, which both VM engines use; a QEMU
                    // VM has shown it, a Vagrant machine not yet. (A puppet step's
                    // `vendor` stays refused on both until a real machine has shown it.)
                    .filter(move |(key, _)| !(kind == EngineKind::Qemu && *key == "requirements"))
                    .map(move |(key, at)| {
                    at.diagnostic(
                        Some(&format!("nodes.{}.{key}", node.name)),
                        format!(
                            "the {kind} engine does not support `{key}` (node `{}`); it is served by the docker engine (`--engine docker`); leave it out for machines",
                            node.name
                        ),
                    )
                })
            }));
        if refused.is_empty() {
            Ok(())
        } else {
            Err(crate::model::ModelError::Diagnostics(refused).into())
        }
    }

    /// The engine `env` runs on: `--engine`, else the environment's `engine`. The one
    /// place the engine is chosen.
    pub fn engine_kind(&self, env: &Environment) -> EngineKind {
        self.engine.unwrap_or(env.engine)
    }

    /// Refuses, before anything is created, the features `env`'s engine cannot serve.
    ///
    /// # Errors
    /// [`Failure::Invalid`] naming the engine and the feature.
    pub fn require(&self, env: &Environment, features: &[Feature]) -> Result<(), Failure> {
        let kind = self.engine_kind(env);
        for feature in features {
            crate::backend::engine::require(kind, *feature)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
        }
        Ok(())
    }

    /// For the verbs that name no environment (`gc`, `image`): refuses `feature` when
    /// `--engine` names an engine that cannot serve it.
    ///
    /// # Errors
    /// [`Failure::Invalid`] naming the engine and the feature.
    pub fn require_engine(&self, feature: Feature) -> Result<(), Failure> {
        crate::backend::engine::require(self.engine.unwrap_or_default(), feature)
            .map_err(|e| Failure::Invalid(e.to_string()))
    }

    /// Connects to the engine `env` runs on.
    ///
    /// # Errors
    /// [`Failure::Environment`] with how to start the engine.
    pub fn backend(&self, env: &Environment) -> Result<Arc<dyn Backend>, Failure> {
        match self.engine_kind(env) {
            EngineKind::Docker => self.docker().map(|d| Arc::new(d) as Arc<dyn Backend>),
            EngineKind::Swarm => Ok(Arc::new(
                self.runtime
                    .block_on(crate::backend::swarm::Swarm::connect(!self.quiet))?,
            )),
            other => Err(Failure::Invalid(format!(
                "the {other} engine runs machines through its own verbs; this command needs `--engine docker`"
            ))),
        }
    }

    /// Connects to the Docker Engine, for the verbs that work on its image store and
    /// garbage whatever the environment (`image`, `gc`).
    ///
    /// # Errors
    /// [`Failure::Environment`] with how to start the engine.
    pub fn docker(&self) -> Result<Docker, Failure> {
        Ok(self.runtime.block_on(Docker::connect())?)
    }

    /// The engine `gc` sweeps: the swarm when `--engine swarm` says so or `DOCKER_HOST`
    /// names a swarm's manager (its other machines hold nodes too), else the Docker
    /// Engine.
    ///
    /// # Errors
    /// [`Failure::Environment`] with how to start the engine.
    pub fn sweeper(&self) -> Result<Arc<dyn Backend>, Failure> {
        let docker = self.docker()?;
        let swarm = self.engine == Some(EngineKind::Swarm)
            || (self.engine.is_none() && self.runtime.block_on(docker.manages_a_swarm())?);
        if !swarm {
            return Ok(Arc::new(docker));
        }
        let explicit = self.engine == Some(EngineKind::Swarm) && !self.quiet;
        Ok(Arc::new(self.runtime.block_on(
            crate::backend::swarm::Swarm::of(docker, explicit),
        )?))
    }

    /// The instance of `env` named on the command line, on the engine it runs on.
    ///
    /// # Errors
    /// As [`Context::backend`].
    pub fn instance(&self, project: &Project, env: Environment) -> Result<Instance, Failure> {
        let backend = self.backend(&env)?;
        Ok(Instance::new(backend, &project.root, env, &self.instance))
    }

    /// Takes the lock of the instance of `env` named on the command line, for `command`.
    ///
    /// # Errors
    /// [`Failure::Environment`] naming the holder when another envctl has it.
    pub fn lock(
        &self,
        project: &Project,
        env: &Environment,
        command: &str,
    ) -> Result<crate::instance::lock::InstanceLock, Failure> {
        crate::instance::lock::acquire(&project.root, &env.name, &self.instance, command)
            .map_err(|e| Failure::Environment(e.to_string()))
    }

    /// Splits `[ENV] rest...`: the first argument is the environment when the project
    /// has an environment of that name, or when it has several environments.
    ///
    /// # Errors
    /// [`Failure::Invalid`] when no environment can be chosen.
    pub fn split_env(&self, args: &[String]) -> Result<(Option<String>, Vec<String>), Failure> {
        let project = self.project()?;
        let names = project.environment_names()?;
        match args.split_first() {
            Some((first, rest)) if names.contains(first) => {
                Ok((Some(first.clone()), rest.to_vec()))
            }
            // One environment, or envctl.toml names the default: every argument is a filter.
            _ if names.len() == 1 || project.defaults.environment.is_some() => {
                Ok((None, args.to_vec()))
            }
            Some((first, _)) => Err(Failure::Invalid(format!(
                "no environment `{first}`; available: {}",
                names.join(", ")
            ))),
            None => Err(Failure::Invalid(format!(
                "the project has several environments; name one ({}), or set `environment` in envctl.toml",
                names.join(", ")
            ))),
        }
    }
}

fn check_instance_name(name: &str) -> Result<(), Failure> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Failure::Invalid(format!(
            "--instance `{name}`: use 1-32 characters from a-z, 0-9, - and _, starting with a letter or digit"
        )))
    }
}
