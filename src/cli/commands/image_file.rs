//! `envctl image save [ENV] FILE` and `envctl image load FILE`: exactly the images an
//! environment needs, to and from a file a CI cache keeps (see `instance::image_file`).

use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::instance::image_file::{self, ImageFileError};
use std::path::Path;

pub fn save(ctx: &Context, target: &[String]) -> Result<u8, Failure> {
    let (env, file) = match target {
        [file] => (None, file),
        [env, file] => (Some(env.as_str()), file),
        _ => {
            return Err(Failure::Invalid(
                "usage: envctl image save [ENV] FILE".into(),
            ))
        }
    };
    let (project, env) = ctx.environment(env)?;
    let key = super::cache::key(&project.root, &env)?;
    let inst = ctx.instance(&project, env)?;
    let manifest = ctx
        .runtime
        .block_on(image_file::save(&inst, &key, Path::new(file)))
        .map_err(failure)?;
    for i in &manifest.images {
        outln!("saved {} ({})", i.reference, i.role);
    }
    if !ctx.quiet {
        eprintln!(
            "image save: {} image(s) and {} record(s) of `{}` in {file} (key {key})",
            manifest.images.len(),
            manifest.records.len(),
            manifest.environment
        );
    }
    Ok(SUCCESS)
}

pub fn load(ctx: &Context, file: &Path) -> Result<u8, Failure> {
    let project = ctx.project()?;
    let docker = ctx.docker()?;
    let manifest = ctx
        .runtime
        .block_on(image_file::load(&docker, &project.root, file))
        .map_err(failure)?;
    for i in &manifest.images {
        outln!("loaded {} ({})", i.reference, i.role);
    }
    if !ctx.quiet {
        eprintln!(
            "image load: {} image(s) and {} record(s) of `{}` (key {})",
            manifest.images.len(),
            manifest.records.len(),
            manifest.environment,
            manifest.key
        );
    }
    Ok(SUCCESS)
}

fn failure(e: ImageFileError) -> Failure {
    match e {
        ImageFileError::Invalid { .. } => Failure::Invalid(e.to_string()),
        ImageFileError::Engine(e) => e.into(),
        ImageFileError::Up(e) => e.into(),
    }
}
