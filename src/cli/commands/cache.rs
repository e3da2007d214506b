//! `envctl cache key [ENV]`: the key of the images an environment needs, for CI caches.

use super::super::args::CacheCommand;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::plan::cache_key;

pub fn run(ctx: &Context, command: CacheCommand) -> Result<u8, Failure> {
    match command {
        CacheCommand::Key { env } => {
            let (project, env) = ctx.environment(env.as_deref())?;
            let key = key(&project.root, &env)?;
            if cache_key::depends_on_this_machine(&env) {
                eprintln!(
                    "warning: nodes of `{}` are provisioned with secrets, whose fingerprints use this machine's key: set {} to the same value (a CI secret) on every machine that shares the cache, or the key and the provisioned images are this machine's only",
                    env.name,
                    crate::model::secrets::MACHINE_KEY_VAR
                );
            }
            outln!("{key}");
        }
    }
    Ok(SUCCESS)
}

/// The environment's cache key, prefixed so keys of different environments never meet.
///
/// # Errors
/// [`Failure::Invalid`] when a file the key covers cannot be read.
pub fn key(root: &std::path::Path, env: &crate::model::Environment) -> Result<String, Failure> {
    let hex = cache_key::environment_key(root, env)
        .map_err(|e| Failure::Invalid(format!("environment `{}`: {e}", env.name)))?;
    Ok(format!("envctl-{}-{}", env.name, &hex[..32]))
}
