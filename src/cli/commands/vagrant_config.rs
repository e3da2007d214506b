//! `envctl vagrant-config [ENV]`: the environment as JSON for the top-level Vagrantfile
//! (one machine per node replica, steps as provisioners, forwarded ports).

use super::super::args::VagrantConfigArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::backend::vagrant::config;

pub fn run(ctx: &Context, args: VagrantConfigArgs) -> Result<u8, Failure> {
    let (project, env) = ctx.environment(args.env.as_deref())?;
    let root = std::fs::canonicalize(&project.root).unwrap_or(project.root.clone());
    let box_override = std::env::var("ENVCTL_BOX").ok();
    let cfg = config::build(&env, &root, &ctx.instance, box_override.as_deref());
    let text = serde_json::to_string_pretty(&cfg)
        .map_err(|e| Failure::Environment(format!("cannot render the configuration: {e}")))?;
    // Only the Vagrantfile, reading a pipe, asks for the values; a person or a CI log
    // sees them redacted.
    if args.with_secrets {
        println!("{text}");
    } else {
        println!("{}", crate::model::secrets::redact(&text));
    }
    Ok(SUCCESS)
}
