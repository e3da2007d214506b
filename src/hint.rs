//! Commands envctl prints for the user to run next ("remove it with `envctl down web`").
//! Each carries the global flags this run was given (`--root`, `--instance`,
//! `--engine`), so it works as printed from the same directory.

use std::path::Path;
use std::sync::OnceLock;

static FLAGS: OnceLock<String> = OnceLock::new();

/// Records the global flags of this run; the command line calls it once, first.
pub fn given(root: &Path, instance: &str, engine: Option<&str>) {
    let mut flags = Vec::new();
    if root != Path::new(".") {
        flags.push(format!(
            "--root {}",
            shell_word(&root.display().to_string())
        ));
    }
    if instance != "default" {
        flags.push(format!("--instance {}", shell_word(instance)));
    }
    if let Some(engine) = engine {
        flags.push(format!("--engine {}", shell_word(engine)));
    }
    let _ = FLAGS.set(flags.join(" "));
}

/// `envctl` with this run's global flags, then `rest` (a verb and its arguments, as the
/// shell reads them): `envctl --root ../app down web`.
pub fn command(rest: &str) -> String {
    match FLAGS.get().map(String::as_str) {
        Some(flags) if !flags.is_empty() => format!("envctl {flags} {rest}"),
        _ => format!("envctl {rest}"),
    }
}

/// `word` as a POSIX shell reads it back: as is when it holds nothing the shell treats
/// specially, else in single quotes.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn printed_words_read_back_as_written() {
        assert_eq!(shell_word("web"), "web");
        assert_eq!(shell_word("/tmp/my project"), "'/tmp/my project'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
