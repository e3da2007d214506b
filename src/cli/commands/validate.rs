//! `envctl validate [ENV]`: definitions and specs checked without an engine.

use super::super::args::ValidateArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::model::ModelError;

pub fn run(ctx: &Context, args: ValidateArgs) -> Result<u8, Failure> {
    let project = ctx.project()?;
    let names = match args.env {
        Some(n) => vec![n],
        None => project.environment_names()?,
    };
    let mut errors = Vec::new();
    for name in &names {
        match project.environment(name) {
            Ok(env) => match project.specs(&env) {
                Ok(specs) => {
                    if !ctx.quiet {
                        println!(
                            "ok: {name}: {} node{}, {} assertion{}",
                            env.nodes.len(),
                            if env.nodes.len() == 1 { "" } else { "s" },
                            specs.len(),
                            if specs.len() == 1 { "" } else { "s" }
                        );
                    }
                }
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(e),
        }
    }
    match ModelError::combine(errors) {
        Some(e) => Err(e.into()),
        None => Ok(SUCCESS),
    }
}
