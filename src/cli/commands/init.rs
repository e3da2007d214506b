//! `envctl init`: starts a project in the root directory (see `crate::init`). Refusals
//! (a project already, a file that exists, unreadable Molecule files) are invalid input.

use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::init::{self, InitError};

pub fn run(ctx: &Context) -> Result<u8, Failure> {
    let root = &ctx.root;
    if !root.is_dir() {
        return Err(Failure::Invalid(format!(
            "{} is not a directory; envctl init starts a project in an existing directory",
            root.display()
        )));
    }
    let scaffold = init::plan(root).map_err(refused)?;
    init::write(root, &scaffold).map_err(|e| match e {
        InitError::Io { .. } => Failure::Environment(e.to_string()),
        other => refused(other),
    })?;
    outln!("envctl init: {}", scaffold.found);
    for (path, _) in &scaffold.files {
        outln!("  created {}", path.display());
    }
    for note in &scaffold.notes {
        outln!("  note: {note}");
    }
    outln!(
        "next: `envctl test {}` brings it up, provisions it, checks idempotence, verifies the specs and removes it",
        scaffold.environment
    );
    Ok(SUCCESS)
}

fn refused(e: InitError) -> Failure {
    Failure::Invalid(e.to_string())
}
