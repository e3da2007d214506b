//! `envctl image bootstrap|list|prune` (`save` and `load` are in `image_file.rs`).

use super::super::args::ImageCommand;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::backend::docker::{bootstrap, systemd};
use crate::backend::{labels, Feature};
use crate::instance::package_cache;
use std::io::Write;

pub fn run(ctx: &Context, command: ImageCommand) -> Result<u8, Failure> {
    ctx.require_engine(Feature::Images)?;
    match command {
        ImageCommand::Save { target } => return super::image_file::save(ctx, &target),
        ImageCommand::Load { file } => return super::image_file::load(ctx, &file),
        _ => {}
    }
    let docker = ctx.docker()?;
    match command {
        ImageCommand::Bootstrap { reference } => {
            if bootstrap::suite_for(&reference).is_none() {
                return Err(Failure::Invalid(format!(
                    "cannot bootstrap `{reference}`: envctl builds debian:bookworm, debian:bullseye and debian:trixie"
                )));
            }
            let id = ctx.runtime.block_on(async {
                if let Some(img) = docker.image(&reference).await? {
                    eprintln!("{reference} is already present");
                    return Ok(img.id);
                }
                bootstrap::bootstrap(&docker, &reference, &|m| eprintln!("{m}")).await
            })?;
            outln!("{reference} {id}");
        }
        ImageCommand::List => {
            let mut images = ctx
                .runtime
                .block_on(docker.list_images(vec![labels::CACHE_KEY.to_string()]))?;
            // Images with systemd added for `init = "systemd"` nodes are cache too.
            images.extend(
                ctx.runtime
                    .block_on(docker.list_images(vec![systemd::DERIVED_FROM.to_string()]))?,
            );
            // A closed pipe (`envctl image list | head`) just ends the listing.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{:<40}  {:<12}  {:<12}  {:>8}",
                "IMAGE", "ENVIRONMENT", "NODE", "SIZE"
            );
            for i in images {
                let tag = i.tags.first().cloned().unwrap_or_else(|| i.id.clone());
                let written = writeln!(
                    out,
                    "{:<40}  {:<12}  {:<12}  {:>6}MB",
                    tag,
                    i.labels
                        .get(labels::ENVIRONMENT)
                        .map_or("-", String::as_str),
                    i.labels.get(labels::NODE).map_or("-", String::as_str),
                    i.size / 1_000_000
                );
                if written.is_err() {
                    break;
                }
            }
            let mut volumes: Vec<String> = ctx
                .runtime
                .block_on(docker.list_volumes(&package_cache::selector()))?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            volumes.sort();
            if !volumes.is_empty() {
                let _ = writeln!(
                    out,
                    "\npackage cache (apt's and pip's downloads, shared by provisioning runs; `envctl image prune --packages` empties it):"
                );
                for v in volumes {
                    if writeln!(out, "  {v}").is_err() {
                        break;
                    }
                }
            }
        }
        ImageCommand::Prune { packages: true, .. } => {
            let (removed, busy) = ctx.runtime.block_on(prune_packages(&docker))?;
            outln!("removed {removed} package cache volume(s)");
            if busy > 0 {
                eprintln!("{busy} volume(s) of the package cache are in use by a provisioning run and were kept");
            }
        }
        ImageCommand::Prune { all, .. } => {
            // Without --all, only the images this project's nodes were provisioned into.
            let mut filter = vec![labels::CACHE_KEY.to_string()];
            if !all {
                let project = ctx.project()?;
                filter.push(format!(
                    "{}={}",
                    labels::PROJECT,
                    crate::instance::project_id(&project.root)
                ));
            }
            let removed = ctx.runtime.block_on(async {
                let mut images = docker.list_images(filter).await?;
                // Provisioned images first: they may be children of systemd images.
                if all {
                    images.extend(
                        docker
                            .list_images(vec![systemd::DERIVED_FROM.to_string()])
                            .await?,
                    );
                }
                for i in &images {
                    docker.remove_image(&i.id).await?;
                }
                Ok::<usize, crate::backend::EngineError>(images.len())
            })?;
            outln!("removed {removed} cached image(s)");
            if all {
                let (removed, busy) = ctx.runtime.block_on(prune_packages(&docker))?;
                outln!("removed {removed} package cache volume(s)");
                if busy > 0 {
                    eprintln!("{busy} volume(s) of the package cache are in use by a provisioning run and were kept");
                }
            }
        }
        ImageCommand::Save { .. } | ImageCommand::Load { .. } => unreachable!("handled above"),
    }
    Ok(SUCCESS)
}

/// Removes the package cache's volumes: (removed, kept because a run uses them).
///
/// # Errors
/// Engine failures listing them.
async fn prune_packages(
    docker: &crate::backend::docker::Docker,
) -> Result<(usize, usize), crate::backend::EngineError> {
    let (mut removed, mut busy) = (0, 0);
    for (name, _) in docker.list_volumes(&package_cache::selector()).await? {
        match docker.remove_volume(&name).await {
            Ok(()) => removed += 1,
            Err(_) => busy += 1,
        }
    }
    Ok((removed, busy))
}
