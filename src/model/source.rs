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

    /// The dotted path of the field at `offset` (`nodes.web.ports`), from the spans the
    /// TOML parser gives every key and value (arrays add no part: the third step's
    /// `script` is `nodes.web.provision.script`). Even a file with syntax errors is read
    /// as far as it goes. Between fields, it is the key written before `offset` on its
    /// line, or else the table whose header is above it.
    pub fn field_at(&self, offset: usize) -> String {
        if matches!(
            self.display.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            return super::compose::field_at(&self.text, offset);
        }
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = self.text[line_start..line_end].trim();
        // On a `[table]` header (perhaps a broken one), the field is that table.
        if line.starts_with('[') {
            let header = line.split('#').next().unwrap_or(line);
            return header
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
        }
        let (doc, _) = toml::de::DeTable::parse_recoverable(&self.text);
        let mut fields = Vec::new();
        collect(doc.get_ref(), "", &self.text, &mut fields);
        fields.retain(|f| !f.path.is_empty() && !f.path.ends_with('.'));
        // The narrowest key or value holding the offset.
        let holding = fields
            .iter()
            .flat_map(|f| [(&f.key, &f.path), (&f.value, &f.path)])
            .filter(|(span, _)| span.start <= offset && offset < span.end.max(span.start + 1))
            .min_by_key(|(span, path)| (span.end - span.start, usize::MAX - path.len()));
        if let Some((_, path)) = holding {
            return path.clone();
        }
        let on_line = fields
            .iter()
            .filter(|f| f.key.start >= line_start && f.key.start <= offset && !f.header)
            .max_by_key(|f| (f.key.start, f.path.len()));
        if let Some(f) = on_line {
            return f.path.clone();
        }
        let table = fields
            .iter()
            .filter(|f| f.header && f.value.start <= offset)
            .max_by_key(|f| (f.value.start, f.path.len()))
            .map(|f| f.path.clone())
            .unwrap_or_default();
        // A key the parser dropped (a duplicate): as written on its line, in its table.
        let written: String = line
            .split_once('=')
            .map(|(k, _)| k.trim().to_string())
            .filter(|k| !k.is_empty() && !k.contains(['{', '[', '"', '\'']))
            .unwrap_or_default();
        match (table.is_empty(), written.is_empty()) {
            (_, true) => table,
            (true, false) => written,
            (false, false) => format!("{table}.{written}"),
        }
    }
}

/// A key of a TOML document, its value and its dotted path.
struct Field {
    path: String,
    key: Range<usize>,
    value: Range<usize>,
    /// A `[table]` or `[[array]]` header.
    header: bool,
}

fn collect(table: &toml::de::DeTable, prefix: &str, text: &str, out: &mut Vec<Field>) {
    for (k, v) in table.iter() {
        let key = k.get_ref();
        if key.is_empty() {
            continue;
        }
        // Keys that are not bare are quoted, as TOML writes them (`nodes."web.1"`).
        let key = if !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            key.to_string()
        } else {
            format!("{key:?}")
        };
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        let at = &text[v.span().start.min(text.len())..];
        let header = match v.get_ref() {
            toml::de::DeValue::Table(_) => at.starts_with('['),
            toml::de::DeValue::Array(_) => at.starts_with("[["),
            _ => false,
        };
        out.push(Field {
            path: path.clone(),
            key: k.span(),
            value: v.span(),
            header,
        });
        descend(v, &path, text, out);
    }
}

fn descend(
    v: &serde_spanned::Spanned<toml::de::DeValue>,
    path: &str,
    text: &str,
    out: &mut Vec<Field>,
) {
    match v.get_ref() {
        toml::de::DeValue::Table(t) => collect(t, path, text, out),
        toml::de::DeValue::Array(items) => {
            for item in items.iter() {
                if let toml::de::DeValue::Table(_) = item.get_ref() {
                    // An `[[array]]` element: its header counts as the array's.
                    if text[item.span().start.min(text.len())..].starts_with("[[") {
                        out.push(Field {
                            path: path.to_string(),
                            key: item.span(),
                            value: item.span(),
                            header: true,
                        });
                    }
                }
                descend(item, path, text, out);
            }
        }
        _ => {}
    }
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
    fn field_at_follows_multi_line_arrays_and_inline_tables() {
        let text = "[nodes.web]\nimage = \"x\"\nprovision = [\n  { script = \"x.sh\" },\n  { copy = \"a\",\n    to = \"b\" },\n]\nhealth = {\n  tcp = 80 }\n";
        let s = src(text);
        assert_eq!(
            s.field_at(text.find("\"x.sh\"").unwrap()),
            "nodes.web.provision.script"
        );
        assert_eq!(
            s.field_at(text.find("\"b\"").unwrap()),
            "nodes.web.provision.to"
        );
        assert_eq!(s.field_at(text.find("80").unwrap()), "nodes.web.health.tcp");
        assert_eq!(s.field_at(text.find("image").unwrap()), "nodes.web.image");
    }

    #[test]
    fn field_at_in_arrays_of_tables_and_broken_files() {
        let text = "[[http]]\nurl = \"a\"\n\n[[http]]\nurl = \"b\"\nstatus = \"x\"\n";
        let s = src(text);
        assert_eq!(s.field_at(text.find("\"x\"").unwrap()), "http.status");
        let broken = "[nodes.web]\nimage = \"x\"\nreplicas = \n";
        let s = src(broken);
        assert_eq!(
            s.field_at(broken.find("replicas").unwrap() + 11),
            "nodes.web.replicas"
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
