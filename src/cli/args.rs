//! The command line, as clap derive types. The stable surface is documented in
//! docs/cli.md; keep the two in step.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Scaled-down copies of production from version-controlled definitions: bring them up,
/// provision them with the code production uses, verify them, tear them down.
#[derive(Debug, Parser)]
#[command(name = "envctl", version, about, max_term_width = 100)]
pub struct Cli {
    /// Project directory (holds environments/ and specs/).
    #[arg(long, global = true, default_value = ".", env = "ENVCTL_ROOT")]
    pub root: PathBuf,
    /// Instance name: several instances of one environment can run side by side.
    #[arg(
        long,
        global = true,
        default_value = "default",
        env = "ENVCTL_INSTANCE"
    )]
    pub instance: String,
    /// Engine to run the environment on (`docker`, `swarm`, `vagrant` or `qemu`), overriding its `engine`.
    #[arg(long, global = true, env = "ENVCTL_ENGINE", value_parser = ["docker", "swarm", "vagrant", "qemu"])]
    pub engine: Option<String>,
    /// CI annotations: `github` prints workflow commands that put invalid input and
    /// failed assertions on their lines, and writes the job summary. Default: `github`
    /// inside GitHub Actions (`GITHUB_ACTIONS=true`), else none.
    #[arg(long, global = true, value_name = "KIND", value_parser = ["github", "none"])]
    pub annotations: Option<String>,
    /// Print only results and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the instance, provision it, and wait until every node is healthy.
    Up(UpArgs),
    /// Run the specs against the running instance (exit 1 when any fails).
    Verify(VerifyArgs),
    /// Up, verify, then down (down always runs, unless --keep): the CI verb.
    Test(TestArgs),
    /// Remove everything the instance created.
    Down(DownArgs),
    /// Show nodes, state, health and published ports.
    Status(EnvArg),
    /// Show a node's output (or its provisioning log with --provision).
    Logs(LogsArgs),
    /// Run a command in a node: `envctl exec [ENV] NODE -- CMD...`.
    Exec(ExecArgs),
    /// Open an interactive shell in a node, or in a failed step's node `up` kept:
    /// `envctl shell [ENV] NODE [-- CMD...]`.
    Shell(ShellArgs),
    /// Parse and check definitions and specs without touching an engine.
    Validate(ValidateArgs),
    /// Provision the nodes' images without starting them; --check-idempotence runs the
    /// steps a second time and exits 4 when that changed anything.
    Provision(ProvisionArgs),
    /// Base images and the provisioning cache; `save` / `load` move an environment's
    /// images between engines.
    #[command(subcommand)]
    Image(ImageCommand),
    /// CI caches: `cache key [ENV]` prints the key of the images an environment needs.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Blue-green: start the idle colour with a release, gate it, switch the router to it.
    Promote(PromoteArgs),
    /// Switch a promotable service back to its previous colour, verified.
    Rollback(RollbackArgs),
    /// Promotions and rollbacks of the instance, oldest first.
    History(HistoryArgs),
    /// Print the environment as JSON for the top-level Vagrantfile.
    VagrantConfig(VagrantConfigArgs),
    /// Remove what dead runs left behind (`envctl test` runs killed before cleanup).
    Gc(GcArgs),
    /// Check that this machine can run envctl, with a fix for each problem (exit 3 when
    /// something must be fixed).
    Doctor,
    /// Start a project here: an environment and specs that pass, or ones built from an
    /// Ansible role's Molecule scenario, a Puppet module or a goss file found here.
    /// Never overwrites a file (exit 2).
    Init,
    /// Print a completion script for SHELL (bash, zsh or fish); see docs/cli.md for where
    /// to install it.
    Completions(CompletionsArgs),
    /// Print envctl's man page (roff): `envctl man > ~/.local/share/man/man1/envctl.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh or fish.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove objects of `test` runs older than this, even if their owner still runs
    /// (or runs on another host).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub lease: String,
}

#[derive(Debug, Args)]
pub struct EnvArg {
    /// Environment name (optional when the project has exactly one).
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Environment name (optional when the project has exactly one).
    pub env: Option<String>,
    /// Keep the instance's named volumes (and their data) for its next `up`.
    #[arg(long)]
    pub keep_volumes: bool,
}

#[derive(Debug, Args)]
pub struct VagrantConfigArgs {
    /// Environment name (optional when the project has exactly one).
    pub env: Option<String>,
    /// Print secret values (for the Vagrantfile, which reads them from a pipe); without
    /// it they are `[redacted]`.
    #[arg(long)]
    pub with_secrets: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Environment name (optional when the project has exactly one), then optional nodes:
    /// start only those and what they depend on.
    pub args: Vec<String>,
    /// Provision again even when a cached provisioned image matches.
    #[arg(long)]
    pub no_cache: bool,
    /// Provision without the package cache: apt and pip download everything again.
    #[arg(long)]
    pub no_package_cache: bool,
    /// The edit loop: run a node's changed steps on top of its previous provisioning
    /// instead of from their base; the image is kept apart from the normal cache
    /// (docs/provisioning.md).
    #[arg(long, conflicts_with = "no_cache")]
    pub incremental: bool,
    /// Print what `up` would do (images to make, nodes to provision, reuse, recreate,
    /// start in which order, remove) and create nothing.
    #[arg(long, conflicts_with = "artifacts")]
    pub dry_run: bool,
    /// After `up`, watch the project: at each change, provision again and restart only
    /// the nodes whose inputs changed, copy changed `sync` files into their nodes, and
    /// run the specs about them; Ctrl-C stops watching (the environment stays up).
    #[arg(long, conflicts_with_all = ["dry_run", "artifacts"])]
    pub watch: bool,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// The failure bundle (docs/cli.md#the-failure-bundle---artifacts-dir).
#[derive(Debug, Args, Clone, Default)]
pub struct ArtifactArgs {
    /// When the run fails, write every node's output and description, the provisioning
    /// and idempotence logs and the reports to DIR (redacted), before anything is removed.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Write the --artifacts bundle after a run that passed too.
    #[arg(long, requires = "artifacts")]
    pub artifacts_always: bool,
}

impl ArtifactArgs {
    /// The bundle asked for: `--artifacts`, else `reports.artifacts` in envctl.toml.
    pub fn bundle(
        &self,
        defaults: &crate::model::defaults::Defaults,
    ) -> Option<crate::instance::artifacts::Bundle> {
        self.artifacts
            .as_ref()
            .or(defaults.reports.artifacts.as_ref())
            .map(|dir| crate::instance::artifacts::Bundle {
                dir: dir.clone(),
                always: self.artifacts_always,
            })
    }
}

impl ReportArgs {
    /// Assertions checked at once: `--jobs`, else envctl.toml's `jobs`, else 50.
    pub fn jobs(&self) -> usize {
        self.jobs.unwrap_or(crate::check::runner::DEFAULT_JOBS)
    }

    /// These options with what the command line leaves out taken from envctl.toml.
    pub fn with_defaults(self, defaults: &crate::model::defaults::Defaults) -> ReportArgs {
        let r = &defaults.reports;
        ReportArgs {
            junit: self.junit.or_else(|| r.junit.clone()),
            json: self.json.or_else(|| r.json.clone()),
            tap: self.tap.or_else(|| r.tap.clone()),
            html: self.html.or_else(|| r.html.clone()),
            evidence: self.evidence.or_else(|| r.evidence.clone()),
            jobs: self.jobs.or(defaults.jobs),
            ..self
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a TAP (version 13) report to FILE.
    #[arg(long, value_name = "FILE")]
    pub tap: Option<PathBuf>,
    /// Write a self-contained HTML report, with a timeline of the run, to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write evidence of what was verified (definition and spec hashes, images, git
    /// commit, results) to FILE, for a pipeline to require before promoting.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
    /// Retry every failing assertion that has no `eventually` of its own until this
    /// much time has passed, e.g. "30s".
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_timeout: Option<std::time::Duration>,
    /// Assertions checked at once (1 to 256; default 50, or `jobs` in envctl.toml).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Filters must match assertion names exactly.
    #[arg(long)]
    pub exact: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Environment name, then optional name filters (like `cargo test NAME`). With a
    /// single environment in the project, every argument is a filter.
    pub args: Vec<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Environment name, then optional name filters.
    pub args: Vec<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
    /// Leave the instance running afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Provision again even when a cached provisioned image matches.
    #[arg(long)]
    pub no_cache: bool,
    /// Provision without the package cache: apt and pip download everything again.
    #[arg(long)]
    pub no_package_cache: bool,
    /// The edit loop: run a node's changed steps on top of its previous provisioning
    /// instead of from their base; the image is kept apart from the normal cache
    /// (docs/provisioning.md).
    #[arg(long, conflicts_with = "no_cache")]
    pub incremental: bool,
    /// Test on this base image instead of the Debian base the nodes name; repeat it to
    /// test on several side by side (`--platform debian:bookworm --platform
    /// debian:trixie`), each on its own instance, with reports per platform.
    #[arg(long, value_name = "IMAGE")]
    pub platform: Vec<String>,
    /// Print what the run would do (its plan, then the checks) and create nothing.
    #[arg(long, conflicts_with_all = ["platform", "artifacts"])]
    pub dry_run: bool,
    /// After the run, keep the instance and watch the project: at each change, provision
    /// again only the nodes whose inputs changed, sync `sync` files, and run the
    /// idempotence check and the specs about them again; Ctrl-C removes the instance.
    #[arg(long, conflicts_with_all = ["platform", "dry_run", "artifacts"])]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    pub env: Option<String>,
    /// Provision again even when a cached provisioned image matches.
    #[arg(long)]
    pub no_cache: bool,
    /// Provision without the package cache: apt and pip download everything again.
    #[arg(long)]
    pub no_package_cache: bool,
    /// The edit loop: run a node's changed steps on top of its previous provisioning
    /// instead of from their base; the image is kept apart from the normal cache
    /// (docs/provisioning.md).
    #[arg(long, conflicts_with = "no_cache")]
    pub incremental: bool,
    /// Run every node's steps a second time; exit 4 naming what changed.
    #[arg(long)]
    pub check_idempotence: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// `[ENV] NODE`.
    #[arg(num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// Keep printing new output.
    #[arg(long, short)]
    pub follow: bool,
    /// Show the node's provisioning log instead of its container output.
    #[arg(long)]
    pub provision: bool,
    /// Show the node's last idempotence check (second run of its steps, what changed).
    #[arg(long, conflicts_with = "provision")]
    pub idempotence: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// `[ENV] NODE`.
    #[arg(num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// `[ENV] NODE`.
    #[arg(num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// What to run instead of the node's shell (bash, else sh), after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Environment to check (all when omitted).
    pub env: Option<String>,
    /// Write a GitLab Code Quality report (JSON) of the problems found to FILE.
    #[arg(long, value_name = "FILE")]
    pub codequality: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build a Debian base image with debootstrap (no registry needed).
    Bootstrap {
        /// e.g. debian:bookworm
        reference: String,
    },
    /// List provisioned images kept in the cache, and the package cache's volumes.
    List,
    /// Remove provisioned images from the cache.
    Prune {
        /// Every envctl cache image on the engine (all projects), the derived systemd
        /// images and the package cache; by default only this project's provisioned
        /// images.
        #[arg(long)]
        all: bool,
        /// Only the package cache (apt's and pip's downloads that provisioning runs
        /// share).
        #[arg(long, conflicts_with = "all")]
        packages: bool,
    },
    /// Save exactly the images an environment needs (each node's base or built image,
    /// its systemd image, its provisioned image) and their idempotence records to FILE:
    /// `image save [ENV] FILE`.
    Save {
        #[arg(num_args = 1..=2, required = true, value_name = "[ENV] FILE")]
        target: Vec<String>,
    },
    /// Load a file written by `image save`: its images onto the engine, its records
    /// into the project, so the next `up` or `test` provisions nothing it holds.
    Load {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print a key that changes exactly when an image the environment needs would
    /// change (for `actions/cache`, GitLab's `cache:key`); reads definitions only.
    Key {
        /// Environment name (optional when the project has exactly one).
        env: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// `[ENV] SERVICE`: a promotable service (`[promote.SERVICE]`).
    #[arg(num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// The release: NAME=VALUE (variables), a build context or an image; repeatable.
    #[arg(long, required = true, value_name = "REF")]
    pub release: Vec<String>,
    #[command(flatten)]
    pub switch: SwitchArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// `[ENV] SERVICE`.
    #[arg(num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    #[command(flatten)]
    pub switch: SwitchArgs,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// Leave the old colour running after the switch.
    #[arg(long)]
    pub keep_previous: bool,
    /// Send requests to URL (e.g. http://proxy:80/) for the whole run; any failure fails it.
    /// At the `serves` URL, answers must come from a colour that may answer at that moment.
    #[arg(long, value_name = "URL")]
    pub probe: Option<String>,
    /// A pattern every probe answer must match (`text`, `!text`, `/regex/`); repeatable.
    #[arg(long, value_name = "PATTERN", requires = "probe")]
    pub probe_body: Vec<String>,
    /// Assertions checked at once (1 to 256; default 50, or `jobs` in envctl.toml).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    pub env: Option<String>,
    /// Print the records as JSON lines.
    #[arg(long)]
    pub json: bool,
}

// Most assertions checked at once: each holds a connection or an exec on the engine.
pub use crate::model::defaults::MAX_JOBS;

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a number of jobs from 1 to {MAX_JOBS}"
        )),
    }
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::model::duration::HumanDuration::parse(text).map(|d| d.0)
}
