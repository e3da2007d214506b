//! `envctl completions SHELL` and `envctl man`: shell completion scripts and a man page,
//! generated from the command line's own definition, so they never drift from it.

use super::super::args::{Cli, CompletionsArgs};
use super::super::exit::{Failure, SUCCESS};
use clap::CommandFactory;

pub fn completions(args: CompletionsArgs) -> Result<u8, Failure> {
    let shell = match args.shell.as_str() {
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        other => return Err(Failure::Invalid(format!("no completions for `{other}`"))),
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "envctl", &mut out);
    emit(&out)
}

pub fn man() -> Result<u8, Failure> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Failure::Environment(format!("cannot render the man page: {e}")))?;
    emit(&out)
}

/// Writes to stdout; a reader that goes away early is not an error.
fn emit(bytes: &[u8]) -> Result<u8, Failure> {
    use std::io::Write;
    let _ = std::io::stdout().write_all(bytes);
    Ok(SUCCESS)
}
