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
                        outln!(
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
    let error = ModelError::combine(errors);
    if let Some(path) = &args.codequality {
        let diagnostics = error
            .as_ref()
            .map(ModelError::diagnostics)
            .unwrap_or_default();
        let report = crate::report::codequality::render(&diagnostics);
        std::fs::write(
            path,
            crate::model::secrets::redact(
                &serde_json::to_string_pretty(&report).unwrap_or_default(),
            ),
        )
        .map_err(|e| Failure::Environment(format!("cannot write {}: {e}", path.display())))?;
    }
    match error {
        Some(e) => Err(e.into()),
        None => Ok(SUCCESS),
    }
}
