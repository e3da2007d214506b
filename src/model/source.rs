//! Source files and diagnostics: turns byte offsets reported by the TOML parser into
//! `file:line:column` positions and names the field (`nodes.web.ports`) found there.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest definition or spec file envctl reads.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// A definition file as read from disk, kept for error reporting.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as shown to the user (relative to the project root when possible).
    pub display: PathBuf,
    /// The file's text.
    pub text: String,
}

/// A problem in a definition file, pinned to a position and, where known, a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl SourceFile {
    /// Reads a definition file; rejects files that are not UTF-8 with the position of the
    /// first bad byte.
    ///
    /// # Errors
    /// I/O errors, and invalid UTF-8 reported as a [`Diagnostic`].
    pub fn read(path: &Path, display: PathBuf) -> Result<Arc<SourceFile>, SourceError> {
        // A definition this large is a mistake (a generated or wrong file); refusing it
        // keeps memory bounded.
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.len() > MAX_FILE_BYTES {
                return Err(SourceError::Diagnostic(Diagnostic {
                    file: display,
                    line: 1,
                    column: 1,
                    field: None,
                    message: format!(
                        "file is {} bytes; definition and spec files are limited to {} MiB",
                        meta.len(),
                        MAX_FILE_BYTES >> 20
                    ),
                }));
            }
        }
        let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
            path: display.clone(),
            source,
        })?;
        Self::from_bytes(bytes, display).map(Arc::new)
    }

    /// Builds a source file from raw bytes.
    ///
    /// # Errors
    /// Invalid UTF-8, reported with the line and column of the first bad byte.
    pub fn from_bytes(bytes: Vec<u8>, display: PathBuf) -> Result<SourceFile, SourceError> {
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile { display, text }),
            Err(err) => {
                let valid = err.utf8_error().valid_up_to();
                let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]).into_owned();
                let probe = SourceFile {
                    display: display.clone(),
                    text: prefix,
                };
                let (line, column) = probe.line_col(valid);
                // The field holding the bad byte, read from a lossy copy of the text.
                let lossy = SourceFile {
                    display: display.clone(),
                    text: String::from_utf8_lossy(err.as_bytes()).into_owned(),
                };
                let field = Some(lossy.field_at(valid)).filter(|f| !f.is_empty());
                Err(SourceError::Diagnostic(Diagnostic {
                    file: display,
                    line,
                    column,
                    field,
                    message: format!("file is not valid UTF-8 (bad byte at offset {valid})"),
                }))
            }
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// The line where the table holding `offset` is written: for an array-of-tables
    /// element (`[[http]]`), its header line; for an inline table, the line of its `{`.
    pub fn table_line(&self, offset: usize) -> usize {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let (line, _) = self.line_col(offset);
        if self.text[offset..].starts_with(['{', '[']) {
            return line;
        }
        // The parser's span of a `[[kind]]` element may start at its first key; the
        // header is the nearest line above that opens a table.
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        if self.text[line_start..].trim_start().starts_with('[') {
            return line;
        }
        self.text[..line_start]
            .lines()
            .rev()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(line, |i| line - 1 - i)
    }

    /// A diagnostic at `span`, naming the field found at that position.
    pub fn diagnostic(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let offset = span.as_ref().map_or(0, |s| s.start);
        let (line, column) = self.line_col(offset);
        Diagnostic {
            file: self.display.clone(),
            line,
            column,
            field: span
                .map(|s| self.field_at(s.start))
                .filter(|f| !f.is_empty()),
            message: message.into(),
        }
    }

    /// Like [`Self::diagnostic`] but with the field given explicitly.
    pub fn diagnostic_for(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let mut d = self.diagnostic(Some(span), message);
        d.field = Some(field.into());
        d
    }

    /// The dotted path of the field at `offset`: the nearest `[table]` header above it
    /// joined with the key on that line (`nodes.web.ports`).
    pub fn field_at(&self, offset: usize) -> String {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = &self.text[line_start..line_end];
        let col = offset - line_start;
        let key = key_before(line, col);
        let header = self.text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let is_header_line = line.trim_start().starts_with('[');
        match (header, key) {
            (_, Some(key)) if is_header_line => key,
            // On a `[table]` header itself, the field is that table.
            (_, None) if is_header_line => line
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
            (Some(h), Some(k)) => format!("{h}.{k}"),
            (Some(h), None) => h,
            (None, Some(k)) => k,
            (None, None) => {
                if is_header_line {
                    line.trim()
                        .trim_matches(|c| c == '[' || c == ']')
                        .to_string()
                } else {
                    String::new()
                }
            }
        }
    }
}

/// The key path of the `key = value` pair that contains column `col` of `line`, if any,
/// following inline tables (`health = { timeout = "x" }` gives `health.timeout`).
fn key_before(line: &str, col: usize) -> Option<String> {
    let col = floor_char_boundary(line, col.min(line.len()));
    let is_key_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut stack: Vec<String> = Vec::new();
    let mut last_key: Option<String> = None;
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        if i >= col {
            break;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '=' => {
                last_key = Some(word.trim().to_string()).filter(|k| !k.is_empty());
                word.clear();
            }
            // Tables and arrays opened after `key =` nest under that key; tables inside
            // arrays add no name of their own.
            '{' | '[' => {
                stack.push(last_key.take().unwrap_or_default());
                word.clear();
            }
            '}' | ']' => {
                stack.pop();
                last_key = None;
                word.clear();
            }
            ',' => word.clear(),
            '#' => break,
            c if c.is_whitespace() => {
                if !word.trim().is_empty() && !word.ends_with(' ') {
                    word.push(' ');
                }
            }
            c => word.push(c),
        }
    }
    // On a key itself (`imgae = ...` with the column at `imgae`), name that key.
    let rest = &line[col..];
    let at_key: String = rest.chars().take_while(|c| is_key_char(*c)).collect();
    let after = rest[at_key.len()..].trim_start();
    let key = if !at_key.is_empty() && after.starts_with('=') {
        let before: String = line[..col]
            .chars()
            .rev()
            .take_while(|c| is_key_char(*c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Some(format!("{before}{at_key}"))
    } else {
        last_key
    };
    stack.extend(key);
    stack.retain(|k| !k.is_empty());
    (!stack.is_empty()).then(|| stack.join("."))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Where a value was written: file and byte span.
#[derive(Debug, Clone)]
pub struct Location {
    pub src: Arc<SourceFile>,
    pub span: Range<usize>,
}

impl Location {
    /// A diagnostic at this location.
    pub fn diagnostic(&self, field: Option<&str>, message: impl Into<String>) -> Diagnostic {
        match field {
            Some(f) => self.src.diagnostic_for(self.span.clone(), f, message),
            None => self.src.diagnostic(Some(self.span.clone()), message),
        }
    }
}

/// Errors reading a source file.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Diagnostic(Diagnostic),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> SourceFile {
        SourceFile {
            display: "env.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn line_col_counts_from_one() {
        let s = src("a = 1\nbb = 2\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        assert_eq!(s.line_col(11), (2, 6));
    }

    #[test]
    fn field_at_joins_table_header_and_key() {
        let text = "[nodes.web]\nimage = \"x\"\nreplicas = \"two\"\n";
        let s = src(text);
        let offset = text.find("\"two\"").unwrap();
        assert_eq!(s.field_at(offset), "nodes.web.replicas");
    }

    #[test]
    fn field_at_finds_key_inside_inline_table() {
        let text = "[nodes.web]\nhealth = { http = \"x\", timeout = \"5 parsecs\" }\n";
        let s = src(text);
        let offset = text.find("\"5 parsecs\"").unwrap();
        assert_eq!(s.field_at(offset), "nodes.web.health.timeout");
    }

    #[test]
    fn field_at_follows_arrays_of_inline_tables() {
        let text =
            "[nodes.web]\nprovision = [{ script = \"x.sh\" }, { copy = \"a\", to = \"b\" }]\n";
        let s = src(text);
        assert_eq!(
            s.field_at(text.find("\"a\"").unwrap()),
            "nodes.web.provision.copy"
        );
        assert_eq!(
            s.field_at(text.find("\"x.sh\"").unwrap()),
            "nodes.web.provision.script"
        );
    }

    #[test]
    fn field_at_on_a_key_names_that_key() {
        let text = "[nodes.web]\nimgae = \"x\"\n";
        let s = src(text);
        assert_eq!(s.field_at(text.find("imgae").unwrap()), "nodes.web.imgae");
    }

    #[test]
    fn field_at_on_an_unknown_table_header_names_that_table() {
        let text = "[nodes.web]\nimage = \"x\"\n[volumes]\ndata = 1\n";
        let s = src(text);
        assert_eq!(s.field_at(text.find("volumes").unwrap()), "volumes");
    }

    #[test]
    fn non_utf8_reports_line_and_column() {
        let err =
            SourceFile::from_bytes(b"a = 1\nb = \"\xff\"\n".to_vec(), "e.toml".into()).unwrap_err();
        match err {
            SourceError::Diagnostic(d) => {
                assert_eq!((d.line, d.column), (2, 6));
                assert_eq!(d.field.as_deref(), Some("b"));
                assert!(d.message.contains("UTF-8"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
