//! `envctl vagrant-config [ENV]`: the environment as JSON for the top-level Vagrantfile
//! (one machine per node replica, steps as provisioners, forwarded ports).

use super::super::args::VagrantConfigArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::backend::vagrant::config;
use crate::model::{EngineKind, Project};

pub fn run(ctx: &Context, args: VagrantConfigArgs) -> Result<u8, Failure> {
    let name = match args.env {
        Some(name) => Some(name),
        None => vagrant_default(&ctx.project()?),
    };
    let (project, env) = ctx.environment(name.as_deref())?;
    let root = std::fs::canonicalize(&project.root).unwrap_or(project.root.clone());
    let box_override = std::env::var("ENVCTL_BOX").ok();
    let mut cfg = config::build(&env, &root, &ctx.instance, box_override.as_deref());
    // envctl driving Vagrant runs the steps and the command itself, over SSH.
    if std::env::var(config::MACHINES_ONLY_VAR).is_ok_and(|v| v == "1") {
        for m in &mut cfg.machines {
            m.machine_only();
        }
    }
    let text = serde_json::to_string_pretty(&cfg)
        .map_err(|e| Failure::Environment(format!("cannot render the configuration: {e}")))?;
    // Only the Vagrantfile, reading a pipe, asks for the values; a person or a CI log
    // sees them redacted.
    if args.with_secrets {
        outln!("{text}");
    } else {
        outln!("{}", crate::model::secrets::redact(&text));
    }
    Ok(SUCCESS)
}

/// The environment a bare `vagrant up` means when the project has several and
/// envctl.toml names none: the only one made for Vagrant (`engine = "vagrant"`). `None`
/// leaves the choice to the usual rule (envctl.toml's `environment`, the project's only
/// environment), whose error lists the names.
fn vagrant_default(project: &Project) -> Option<String> {
    if project.pick(None).is_ok() {
        return None;
    }
    let names = project.environment_names().ok()?;
    let mut vagrant = names.into_iter().filter(|name| {
        project
            .environment(name)
            .is_ok_and(|env| env.engine == EngineKind::Vagrant)
    });
    match (vagrant.next(), vagrant.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}
