//! Redaction: every secret value, in every spelling output may give it, replaced by
//! [`REDACTED`]. Values are registered once, when an environment is loaded; whatever envctl
//! prints or writes goes through [`redact`] (or a [`Stream`] for output that arrives in
//! pieces) before it leaves the process.
//!
//! A value is searched for as written and as the usual encoders spell it (JSON, Rust's
//! debug quoting, XML and HTML entities, shell single quotes), so text that was escaped
//! before it was redacted still hides it; a value of several lines is also searched line by
//! line, so a tail, a prefixed log line or a wrapped report cut it nowhere visible.

use aho_corasick::{AhoCorasick, MatchKind};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// What replaces a secret value in output.
pub const REDACTED: &str = "[redacted]";

/// Values (and lines of values) shorter than this are not redacted: replacing every `1`
/// or `a` in the output would make it unreadable and says more about the value than it
/// hides.
pub const MIN_REDACTED_LEN: usize = 4;

/// The registered values and the searcher built from them.
#[derive(Default)]
struct Redactor {
    values: Vec<String>,
    needles: Vec<String>,
    searcher: Option<AhoCorasick>,
}

impl Redactor {
    fn with(values: Vec<String>) -> Redactor {
        let mut needles: Vec<String> = values.iter().flat_map(|v| spellings(v)).collect();
        needles.sort();
        needles.dedup();
        let searcher = (!needles.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&needles)
                .expect("plain strings always build a searcher")
        });
        Redactor {
            values,
            needles,
            searcher,
        }
    }

    fn redact(&self, text: &str) -> String {
        match &self.searcher {
            Some(s) => s.replace_all(text, &vec![REDACTED; self.needles.len()]),
            None => text.to_string(),
        }
    }

    /// How many bytes at the end of `text` could be the start of a needle, so a stream
    /// holds them back until the next piece says whether they are.
    fn partial_suffix(&self, text: &str) -> usize {
        let bytes = text.as_bytes();
        let mut longest = 0;
        for needle in &self.needles {
            let n = needle.as_bytes();
            let most = (n.len() - 1).min(bytes.len());
            for k in (longest + 1..=most).rev() {
                if bytes.ends_with(&n[..k]) {
                    longest = k;
                    break;
                }
            }
        }
        // Hold back whole characters.
        let mut start = bytes.len() - longest;
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        bytes.len() - start
    }
}

/// Every spelling of `value` that output may carry: as written, escaped by the encoders
/// envctl's reports and the tools it runs use, and each of its lines when it has several.
fn spellings(value: &str) -> Vec<String> {
    let mut bases = vec![value.to_string()];
    if value.contains('\n') {
        bases.extend(
            value
                .split('\n')
                .map(|l| l.trim_end_matches('\r').to_string()),
        );
    }
    let mut out = Vec::new();
    for base in bases {
        if base.trim().len() < MIN_REDACTED_LEN {
            continue;
        }
        out.push(json(&base, false));
        out.push(json(&base, true));
        out.push(debug(&base));
        out.push(entities(&base, "<>&\"'", "&apos;"));
        out.push(entities(&base, "<>&\"'", "&#39;"));
        out.push(entities(&base, "<>&", ""));
        out.push(entities(&base, "<&", ""));
        out.push(base.replace('\'', r"'\''"));
        out.push(base);
    }
    out
}

/// JSON string contents (without the quotes); `ascii` as Python's `json.dumps` writes them.
fn json(text: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Rust's `{:?}` quoting of a string, without the quotes.
fn debug(text: &str) -> String {
    let quoted = format!("{text:?}");
    quoted[1..quoted.len() - 1].to_string()
}

/// XML or HTML text with the characters of `special` as entities (`apostrophe` for `'`):
/// all five in attributes, fewer in text content, depending on the writer.
fn entities(text: &str, special: &str, apostrophe: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !special.contains(c) {
            out.push(c);
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str(apostrophe),
            c => out.push(c),
        }
    }
    out
}

static REGISTERED: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

fn current() -> Arc<Redactor> {
    REGISTERED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Adds values to the process-wide redactor.
pub fn register(values: impl IntoIterator<Item = String>) {
    let mut slot = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    let mut list = slot.as_ref().map(|r| r.values.clone()).unwrap_or_default();
    let before = list.len();
    for v in values {
        if !v.is_empty() && !list.contains(&v) {
            list.push(v);
        }
    }
    if list.len() != before || slot.is_none() {
        *slot = Some(Arc::new(Redactor::with(list)));
    }
}

/// Whether `value` is one of the registered secret values (of any length).
pub fn is_secret(value: &str) -> bool {
    !value.is_empty() && current().values.iter().any(|v| v == value)
}

/// `text` with every registered secret value, in every spelling, replaced by [`REDACTED`].
/// Linear in the length of `text`.
pub fn redact(text: &str) -> String {
    current().redact(text)
}

/// [`redact`] for bytes (node output that may not be UTF-8); invalid bytes become U+FFFD.
pub fn redact_bytes(bytes: &[u8]) -> String {
    redact(&String::from_utf8_lossy(bytes))
}

/// Redacts output that arrives in pieces (a followed log, a streamed exec): what
/// [`Stream::push`] returns is safe to show, even when a secret is split across pieces,
/// because the end of a piece that could start a secret is kept until the next one.
#[derive(Default)]
pub struct Stream {
    carry: String,
}

impl Stream {
    /// The redacted text that can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        let redactor = current();
        self.carry.push_str(piece);
        let text = redactor.redact(&self.carry);
        let keep = redactor.partial_suffix(&text);
        let split = text.len() - keep;
        self.carry = text[split..].to_string();
        text[..split].to_string()
    }

    /// What is left at the end of the stream.
    pub fn finish(self) -> String {
        redact(&self.carry)
    }
}

/// Writes a file that may hold node output or secrets: redacted, and readable by its
/// owner only (0600), whether it is new or already there.
///
/// # Errors
/// I/O errors.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(redact(text).as_bytes())
}

/// Creates a directory (and its parents) that holds private files: 0700 when envctl
/// creates it.
///
/// # Errors
/// I/O errors.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile values: quotes, backslashes, newlines, unicode that `{:?}` escapes.
    const NASTY: &[&str] = &[
        "pa\"ss\\word",
        "line-one-aaaa\nline-two-bbbb\r\nline-three-cc",
        "ünï\u{301}cødé-🔑-key",
        "it's <b>&amp;</b>",
        "tab\there-and\u{1}ctl",
    ];

    fn r() -> Redactor {
        Redactor::with(NASTY.iter().map(|s| s.to_string()).collect())
    }

    fn shows_nothing(out: &str) -> bool {
        NASTY.iter().all(|v| {
            !out.contains(v)
                && v.split('\n')
                    .map(|l| l.trim_end_matches('\r'))
                    .filter(|l| l.len() >= MIN_REDACTED_LEN)
                    .all(|l| !out.contains(l))
        })
    }

    #[test]
    fn every_spelling_of_every_value_is_replaced() {
        let r = r();
        for v in NASTY {
            let forms = [
                v.to_string(),
                serde_json::to_string(v).unwrap(),
                format!("{v:?}"),
                crate::report::html::escape(v),
                quick_junit_like(v),
                format!("'{}'", v.replace('\'', r"'\''")),
                python_json(v),
            ];
            for form in forms {
                let out = r.redact(&format!("before {form} after"));
                assert!(shows_nothing(&out), "{form:?} -> {out:?}");
                assert!(out.contains(REDACTED), "{form:?} -> {out:?}");
            }
        }
    }

    fn quick_junit_like(v: &str) -> String {
        entities(v, "<>&\"'", "&apos;")
    }

    fn python_json(v: &str) -> String {
        json(v, true)
    }

    #[test]
    fn python_style_json_escapes_non_ascii_as_utf16() {
        assert_eq!(json("é🔑", true), "\\u00e9\\ud83d\\udd11");
        assert_eq!(json("é\"", false), "é\\\"");
    }

    #[test]
    fn each_line_of_a_multi_line_value_is_hidden_wherever_it_appears() {
        let r = r();
        let out = r.redact("tail: line-two-bbbb\n| line-three-cc |");
        assert!(shows_nothing(&out), "{out}");
        assert_eq!(out, format!("tail: {REDACTED}\n| {REDACTED} |"));
    }

    #[test]
    fn other_text_is_left_alone() {
        let r = r();
        let text = "nothing secret here: pass, word, line, \"quotes\" \\ é";
        assert_eq!(r.redact(text), text);
    }

    #[test]
    fn short_values_are_not_redacted_but_are_known() {
        register(["ab1".to_string()]);
        assert!(is_secret("ab1"));
        assert_eq!(redact("x ab1 y"), "x ab1 y");
    }

    #[test]
    fn a_value_split_across_pieces_of_a_stream_never_shows() {
        register(["stream-secret-77".to_string()]);
        for cut in 1.."stream-secret-77".len() {
            let text = "out: stream-secret-77 done\n";
            let (a, b) = text.split_at(5 + cut);
            let mut s = Stream::default();
            let mut shown = s.push(a);
            assert!(!shown.contains("stream-secret"), "{shown}");
            shown.push_str(&s.push(b));
            shown.push_str(&s.finish());
            assert_eq!(shown, format!("out: {REDACTED} done\n"));
        }
    }

    #[test]
    fn a_stream_shows_text_that_cannot_start_a_secret_at_once() {
        register(["stream-secret-77".to_string()]);
        let mut s = Stream::default();
        assert_eq!(s.push("plain line\n"), "plain line\n");
        assert_eq!(s.push("ends with str"), "ends with ");
        assert_eq!(s.push("ange\n"), "strange\n");
    }

    #[test]
    fn redaction_is_linear_in_the_text() {
        let r = r();
        let small = "x".repeat(1 << 16);
        let big = "x".repeat(1 << 22);
        let time = |t: &str| {
            let start = std::time::Instant::now();
            r.redact(t);
            start.elapsed()
        };
        time(&small);
        let (a, b) = (time(&small), time(&big));
        // 64 times the input; quadratic work would take 4096 times as long.
        assert!(
            b < a * 640 + std::time::Duration::from_millis(200),
            "{a:?} {b:?}"
        );
    }

    #[test]
    fn private_files_are_0600_and_redacted() {
        use std::os::unix::fs::PermissionsExt;
        register(["private-file-secret".to_string()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "old").unwrap();
        write_private(&path, "value=private-file-secret\n").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "value=[redacted]\n"
        );
    }
}
