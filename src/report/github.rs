//! GitHub Actions: workflow commands (`::error file=...,line=...::message`) that put
//! invalid input and failed assertions on the lines they are written on, and the job
//! summary (Markdown appended to `$GITHUB_STEP_SUMMARY`).

use super::RunSummary;
use crate::model::Diagnostic;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns annotations on for this process (`--annotations github`, or `GITHUB_ACTIONS`).
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether annotations are on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the process runs in a GitHub Actions job.
pub fn detected() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// An `::error` command for one invalid-input diagnostic.
pub fn diagnostic(d: &Diagnostic) -> String {
    let title = match &d.field {
        Some(field) => format!("invalid input: {field}"),
        None => "invalid input".to_string(),
    };
    command(
        &d.file.display().to_string(),
        d.line,
        Some(d.column),
        &title,
        &d.message,
    )
}

/// `::error` commands for every failed assertion of a run, one per line.
pub fn failures(summary: &RunSummary) -> String {
    let mut out = String::new();
    for outcome in summary.outcomes.iter().filter(|o| !o.passed) {
        let (file, line) = summary.assertion(outcome).map_or((String::new(), 0), |a| {
            (a.file.display().to_string(), a.line)
        });
        out.push_str(&command(
            &file,
            line,
            None,
            &format!("spec failed: {}", outcome.name),
            outcome.message.as_deref().unwrap_or("failed"),
        ));
        out.push('\n');
    }
    out
}

/// The job summary: the verdict, counts, and a table of the failed assertions.
pub fn step_summary(summary: &RunSummary) -> String {
    let failed = summary.failed();
    let mut md = String::new();
    let verdict = if failed == 0 { "passed" } else { "FAILED" };
    let _ = writeln!(
        md,
        "### envctl: `{}/{}` {verdict}\n",
        summary.environment, summary.instance
    );
    let _ = writeln!(
        md,
        "{} passed, {failed} failed, {} total in {:.2} s\n",
        summary.passed(),
        summary.outcomes.len(),
        summary.duration.as_secs_f64()
    );
    if failed > 0 {
        md.push_str("| assertion | node | where | why |\n|---|---|---|---|\n");
        for outcome in summary.outcomes.iter().filter(|o| !o.passed) {
            let a = summary.assertion(outcome);
            let why = outcome
                .message
                .as_deref()
                .unwrap_or("failed")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                cell(&outcome.name),
                cell(a.and_then(|a| a.node()).unwrap_or("-")),
                cell(&a.map_or(String::new(), |a| a.location())),
                cell(&why)
            );
        }
        md.push('\n');
    }
    md
}

/// Appends the job summary to `$GITHUB_STEP_SUMMARY` when that is set.
///
/// # Errors
/// The summary file cannot be written.
pub fn write_step_summary(summary: &RunSummary) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(crate::model::secrets::redact(&step_summary(summary)).as_bytes())
}

fn command(file: &str, line: usize, column: Option<usize>, title: &str, message: &str) -> String {
    let mut props = Vec::new();
    if !file.is_empty() {
        props.push(format!("file={}", property(file)));
        if line > 0 {
            props.push(format!("line={line}"));
            if let Some(col) = column {
                props.push(format!("col={col}"));
            }
        }
    }
    props.push(format!("title={}", property(title)));
    format!("::error {}::{}", props.join(","), data(message))
}

/// Escapes a command's message, as the runner reads it back.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value: also `:` and `,`, which separate properties.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table cell: no line breaks, no column separators.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_diagnostic_becomes_an_error_at_its_file_line_and_column() {
        let d = Diagnostic {
            file: PathBuf::from("environments/web.toml"),
            line: 7,
            column: 3,
            field: Some("nodes.web.ports".into()),
            message: "`x:80` is not a port\nuse \"8080:80\"; 100% sure".into(),
        };
        assert_eq!(
            diagnostic(&d),
            "::error file=environments/web.toml,line=7,col=3,title=invalid input%3A nodes.web.ports::`x:80` is not a port%0Ause \"8080:80\"; 100%25 sure"
        );
    }

    #[test]
    fn property_values_cannot_end_the_property_list() {
        assert_eq!(property("a,b:c%\n"), "a%2Cb%3Ac%25%0A");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
