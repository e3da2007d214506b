//! `envctl history [ENV] [--json]`: promotions and rollbacks of the instance.

use super::super::args::HistoryArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::Context;
use crate::promote::history;

pub fn run(ctx: &Context, args: HistoryArgs) -> Result<u8, Failure> {
    let (project, env) = ctx.environment(args.env.as_deref())?;
    let file = history::path(&project.root, &env.name, &ctx.instance);
    let records = history::read(&file).map_err(Failure::Environment)?;
    if args.json {
        for r in &records {
            outln!("{}", serde_json::to_string(r).unwrap_or_default());
        }
    } else if records.is_empty() {
        eprintln!(
            "no promotions or rollbacks of {}/{} yet",
            env.name, ctx.instance
        );
    } else {
        out!("{}", history::render(&records));
    }
    Ok(SUCCESS)
}
