//! Text patterns used by specs: `"hello"` (substring), `"!error"` (must not appear),
//! `"/^ok$/m"` (regular expression, optional flags `i`, `m`, `s`), `"!/re/"` (must not match).

use regex::Regex;
use std::fmt;

/// A compiled text pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    negated: bool,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Substring(String),
    Regex(Regex),
}

impl Pattern {
    /// Compiles a pattern written in a spec.
    ///
    /// # Errors
    /// An invalid regular expression, with the regex engine's explanation.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let (negated, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let matcher = match regex_parts(body) {
            Some((re, flags)) => {
                let mut builder = regex::RegexBuilder::new(re);
                for flag in flags.chars() {
                    match flag {
                        'i' => builder.case_insensitive(true),
                        'm' => builder.multi_line(true),
                        's' => builder.dot_matches_new_line(true),
                        _ => unreachable!("flags are filtered by regex_parts"),
                    };
                }
                Matcher::Regex(
                    builder
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| format!("invalid regular expression `{text}`: {e}"))?,
                )
            }
            None => Matcher::Substring(body.to_string()),
        };
        Ok(Pattern {
            source: text.to_string(),
            negated,
            matcher,
        })
    }

    /// A plain substring pattern (no `!` or `/regex/` interpretation).
    pub fn substring(text: &str) -> Pattern {
        Pattern {
            source: text.to_string(),
            negated: false,
            matcher: Matcher::Substring(text.to_string()),
        }
    }

    /// Whether the pattern is negated (`!`).
    pub fn is_negated(&self) -> bool {
        self.negated
    }

    /// Whether `haystack` satisfies the pattern.
    pub fn matches(&self, haystack: &str) -> bool {
        let found = match &self.matcher {
            Matcher::Substring(s) => haystack.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(haystack),
        };
        found != self.negated
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What a failure of this pattern means, for messages.
    pub fn expectation(&self) -> String {
        let what = match &self.matcher {
            Matcher::Substring(s) => format!("{s:?}"),
            Matcher::Regex(r) => format!("/{}/", r.as_str()),
        };
        if self.negated {
            format!("not to contain {what}")
        } else {
            format!("to contain {what}")
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Splits `/re/flags` into the expression and its flags.
fn regex_parts(body: &str) -> Option<(&str, &str)> {
    let rest = body.strip_prefix('/')?;
    let end = rest.rfind('/')?;
    let flags = &rest[end + 1..];
    flags
        .chars()
        .all(|c| matches!(c, 'i' | 'm' | 's'))
        .then_some((&rest[..end], flags))
}

/// Checks every pattern against `text`; returns the ones that failed.
pub fn failing<'a>(patterns: &'a [Pattern], text: &str) -> Vec<&'a Pattern> {
    patterns.iter().filter(|p| !p.matches(text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_negation_and_regex() {
        assert!(Pattern::parse("hello").unwrap().matches("say hello!"));
        assert!(!Pattern::parse("!hello").unwrap().matches("say hello!"));
        assert!(Pattern::parse("!/error/i").unwrap().matches("all good"));
        assert!(!Pattern::parse("!/error/i").unwrap().matches("ERROR: bad"));
        assert!(Pattern::parse("/^ok$/m").unwrap().matches("x\nok\ny"));
    }

    #[test]
    fn a_lone_slash_is_a_substring() {
        assert!(Pattern::parse("/").unwrap().matches("a/b"));
        assert!(Pattern::parse("/etc/nginx")
            .unwrap()
            .matches("/etc/nginx/x"));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Pattern::parse("/(unclosed/")
            .unwrap_err()
            .contains("invalid regular"));
    }
}
