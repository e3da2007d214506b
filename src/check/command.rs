//! `[[command]]` and goss `command`: runs a command inside a node; checks the exit code
//! (unless told not to), stdout and stderr. The first attempt takes the command's result
//! from the node's batch when it ran there.

use super::batch::Batches;
use crate::backend::{ExecOutput, NodeAccess};
use crate::model::assertion::pattern;
use crate::model::assertion::{CommandCheck, Stream};
use std::time::Duration;

/// Runs one attempt of a command assertion.
///
/// # Errors
/// A message with what was expected and what the command did.
pub async fn check(
    c: &CommandCheck,
    name: &str,
    access: &dyn NodeAccess,
    timeout: Duration,
    batches: Option<&Batches>,
) -> Result<(), String> {
    let batched = match batches {
        Some(b) => b.command(name).await,
        None => None,
    };
    let out = match batched {
        Some(Ok(out)) => ExecOutput {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: i64::from(out.code),
        },
        // Not batched, or the batch could not start (a node without `sh`).
        _ => access
            .exec(&c.node, &c.run.0, timeout)
            .await
            .map_err(|e| e.to_string())?,
    };
    if let Some(exit) = &c.exit {
        let code = serde_json::Value::from(out.exit_code);
        if exit.check(&code) != Ok(true) {
            return Err(format!(
                "{}\n    stdout: {}\n    stderr: {}",
                super::mismatch(
                    &format!(
                        "`{}` on {} exited with the wrong code",
                        c.run.display(),
                        c.node
                    ),
                    exit,
                    out.exit_code
                ),
                super::excerpt(&out.stdout),
                super::excerpt(&out.stderr)
            ));
        }
    }
    for (stream, patterns, text) in [
        ("stdout", &c.stdout, &out.stdout),
        ("stderr", &c.stderr, &out.stderr),
    ] {
        if let Some(p) = pattern::failing(patterns, text).first() {
            return Err(super::mismatch(
                &format!(
                    "{stream} of `{}` on {} does not match",
                    c.run.display(),
                    c.node
                ),
                format!("{stream} {}", p.expectation()),
                super::excerpt(text),
            ));
        }
    }
    for (stream, matcher) in &c.output_matchers {
        let text = match stream {
            Stream::Stdout => &out.stdout,
            Stream::Stderr => &out.stderr,
        };
        let value = serde_json::Value::String(text.clone());
        let result = matcher.check(&value);
        if result != Ok(true) {
            let why = result.err().map(|e| format!(" ({e})")).unwrap_or_default();
            let matcher = matcher
                .failing_part(&value)
                .unwrap_or_else(|| matcher.clone());
            return Err(super::mismatch(
                &format!(
                    "{} of `{}` on {} does not match",
                    stream.as_str(),
                    c.run.display(),
                    c.node
                ),
                format!("{} {matcher}", stream.as_str()),
                format!("{}{why}", super::excerpt(text)),
            ));
        }
    }
    Ok(())
}
