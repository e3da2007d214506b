//! `envctl exec [ENV] NODE -- CMD...` runs a command in a node and `envctl shell [ENV]
//! NODE` opens an interactive shell in one; both exit with the command's code and reach
//! a failed step's node that `up` kept as well as running nodes.

use super::super::args::{ExecArgs, ShellArgs};
use super::super::exit::Failure;
use super::super::Context;
use crate::instance::Instance;
use std::io::Write;
use std::time::Duration;

/// `[ENV] NODE` as given.
fn target(words: &[String]) -> (Option<&str>, &str) {
    match words {
        [node] => (None, node),
        [env, node] => (Some(env), node),
        _ => unreachable!("clap takes one or two values"),
    }
}

/// The container to run a command in for `node`: its running container (a node or a
/// replica name), else the failed step's node that `up` kept for it.
///
/// # Errors
/// The node's own error (not running, unknown) when neither is there.
fn container(ctx: &Context, inst: &Instance, node: &str) -> Result<String, Failure> {
    let view = ctx.runtime.block_on(inst.view())?;
    let missing = match view.running(node) {
        Ok(c) => return Ok(c.id.clone()),
        Err(e) => e,
    };
    let containers = ctx.runtime.block_on(inst.containers())?;
    containers
        .iter()
        .find(|c| {
            crate::instance::up::is_kept(c)
                && c.running
                && c.label(crate::backend::labels::NODE) == Some(node)
        })
        .map(|c| c.id.clone())
        .ok_or_else(|| missing.into())
}

pub fn run(ctx: &Context, args: ExecArgs) -> Result<u8, Failure> {
    let (env, node) = target(&args.target);
    let (project, env) = ctx.environment(env)?;
    if super::vm::on_machines(ctx, &env) {
        return super::vm::exec(ctx, &project, &env, node, &args.command);
    }
    let inst = ctx.instance(&project, env)?;
    let id = container(ctx, &inst, node)?;
    // An interrupt ends envctl (exit 130) at once. The engine has no way to stop an
    // exec'd process, so envctl says that it may still run in the node.
    let out = ctx
        .runtime
        .block_on(super::super::interrupt::unless_interrupted(
            inst.backend
                .exec(&id, &args.command, &[], Duration::from_secs(24 * 3600)),
        ));
    let Some(out) = out else {
        eprintln!(
            "`{}` may still be running in node `{node}`: the engine cannot stop a command started by exec",
            crate::model::secrets::redact(&args.command.join(" ")),
        );
        return Err(Failure::Interrupted);
    };
    let out = out?;
    let redact = crate::model::secrets::redact;
    let _ = std::io::stdout().write_all(redact(&out.stdout).as_bytes());
    let _ = std::io::stderr().write_all(redact(&out.stderr).as_bytes());
    Ok(u8::try_from(out.exit_code).unwrap_or(1))
}

/// `envctl shell [ENV] NODE [-- CMD...]`: the node's shell (bash, else sh), or `CMD`,
/// attached to this terminal; exits with its code. Its output is the node's terminal,
/// shown as is: a shell is the user at the node, who may print what the node holds.
pub fn shell(ctx: &Context, args: ShellArgs) -> Result<u8, Failure> {
    let (env, node) = target(&args.target);
    let (project, env) = ctx.environment(env)?;
    let command = if args.command.is_empty() {
        [
            "sh",
            "-c",
            "command -v bash >/dev/null 2>&1 && exec bash -l || exec sh -l",
        ]
        .map(String::from)
        .to_vec()
    } else {
        args.command.clone()
    };
    if super::vm::on_machines(ctx, &env) {
        return super::vm::shell(ctx, &project, &env, node, &command);
    }
    let inst = ctx.instance(&project, env)?;
    let id = container(ctx, &inst, node)?;
    let code = ctx
        .runtime
        .block_on(inst.backend.interactive(&id, &command))?;
    Ok(u8::try_from(code).unwrap_or(1))
}
