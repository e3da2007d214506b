//! `envctl exec [ENV] NODE -- CMD...`: runs a command in a node; exits with its code.

use super::super::args::ExecArgs;
use super::super::exit::Failure;
use super::super::Context;
use crate::backend::NodeAccess;
use std::io::Write;
use std::time::Duration;

pub fn run(ctx: &Context, args: ExecArgs) -> Result<u8, Failure> {
    let (env, node) = match args.target.as_slice() {
        [node] => (None, node.clone()),
        [env, node] => (Some(env.clone()), node.clone()),
        _ => unreachable!("clap takes one or two values"),
    };
    let (project, env) = ctx.environment(env.as_deref())?;
    if super::vm::on_machines(ctx, &env) {
        return super::vm::exec(ctx, &project, &env, &node, &args.command);
    }
    let inst = ctx.instance(&project, env)?;
    let view = ctx.runtime.block_on(inst.view())?;
    // An interrupt ends envctl (exit 130) at once. The engine has no way to stop an
    // exec'd process, so envctl says that it may still run in the node.
    let out = ctx
        .runtime
        .block_on(super::super::interrupt::unless_interrupted(view.exec(
            &node,
            &args.command,
            Duration::from_secs(24 * 3600),
        )));
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
