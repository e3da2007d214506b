//! Promotion: blue-green releases of a service behind a router. `flow` runs a promotion
//! or rollback step by step (start the idle colour, gate it, switch, verify through the
//! router, stop the old colour), `colour` starts and stops colour nodes, `switch` moves
//! the router, `probe` proves that no request failed meanwhile, and `history` records
//! every attempt. `symlink` is the other strategy: releases copied into a directory on
//! the nodes, with a `current` symlink repointed. Definitions live in
//! [`crate::model::promotion`] and [`crate::model::symlink_release`].

pub mod colour;
pub mod drain;
pub mod flow;
pub mod history;
pub mod probe;
pub mod release;
pub mod retry;
pub mod switch;
pub mod symlink;

use crate::backend::EngineError;
use crate::instance::up::UpError;

/// Faults during a promotion (exit 3). A gate that says no is not an error but an
/// outcome (see [`flow::Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Up(#[from] UpError),
    #[error("switching the router: {0}")]
    Switch(String),
    #[error("{0}")]
    Other(String),
}

/// Makes every promotable service of `env` stand for its live colour in `view`, so
/// that specs naming the service reach the colour the router is on (the first running
/// colour when the switch cannot tell).
pub async fn alias_live(
    env: &crate::model::Environment,
    view: &mut crate::backend::view::InstanceView,
) {
    for p in env.promotions.values() {
        let live = switch::live_colour(p, view).await.ok().flatten();
        let node = live
            .and_then(|c| p.node_of(&c).map(str::to_string))
            .or_else(|| {
                p.colours
                    .iter()
                    .map(|(_, n)| n)
                    .find(|n| view.container(n).is_ok_and(|c| c.running))
                    .cloned()
            });
        if let Some(node) = node {
            view.alias(&p.service, &node);
        }
    }
}
#[cfg(test)]
mod tests;
