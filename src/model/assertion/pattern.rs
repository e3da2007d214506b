//! Text patterns used by specs: `"hello"` (substring), `"!error"` (must not appear),
//! `"/^ok$/m"` (regular expression, optional flags `i`, `m`, `s`), `"!/re/"` (must not
//! match), and `"\!text"` (a leading backslash makes the rest literal: `!text`, `/etc/`).
//! TOML specs match a pattern against the whole text; goss files line by line
//! ([`missing_lines`]), as goss does.

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
        if let Some(literal) = text.strip_prefix('\\') {
            return Ok(Pattern {
                source: text.to_string(),
                negated: false,
                matcher: Matcher::Substring(literal.to_string()),
            });
        }
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

    /// Compiles a pattern written in a goss file, as goss reads it: a regular expression
    /// only when written `/re/` or `!/re/` (goss knows no flags: `/re/i` is text), else
    /// text, `!text` negated, `\!text` a literal `!text` (goss's documented escape).
    ///
    /// # Errors
    /// An invalid regular expression, with the regex engine's explanation.
    pub fn goss(text: &str) -> Result<Pattern, String> {
        let (negated, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let regex = body.len() >= 2 && body.starts_with('/') && body.ends_with('/');
        if !regex {
            let (negated, literal) = match text.strip_prefix('\\') {
                Some(literal) => (false, literal),
                None => (negated, body),
            };
            return Ok(Pattern {
                source: text.to_string(),
                negated,
                matcher: Matcher::Substring(literal.to_string()),
            });
        }
        let re = &body[1..body.len() - 1];
        let compiled = regex::RegexBuilder::new(re)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid regular expression `{text}`: {e}"))?;
        Ok(Pattern {
            source: text.to_string(),
            negated,
            matcher: Matcher::Regex(compiled),
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
        self.hits(haystack) != self.negated
    }

    /// Whether the pattern's text or expression occurs in `haystack` (ignoring `!`).
    fn hits(&self, haystack: &str) -> bool {
        match &self.matcher {
            Matcher::Substring(s) => haystack.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(haystack),
        }
    }

    /// Whether the pattern is empty (it holds even for empty text).
    fn is_empty(&self) -> bool {
        matches!(&self.matcher, Matcher::Substring(s) if s.is_empty())
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

/// goss's line patterns: a pattern holds when some line of `text` contains it (a
/// negated one, when no line does); the empty pattern always holds. Returns the ones
/// that do not hold.
pub fn missing_lines<'a>(patterns: &'a [Pattern], text: &str) -> Vec<&'a Pattern> {
    let mut seen = vec![false; patterns.len()];
    for line in text.lines() {
        for (i, p) in patterns.iter().enumerate() {
            if !seen[i] && p.hits(line) {
                seen[i] = true;
            }
        }
        if seen.iter().all(|s| *s) {
            break;
        }
    }
    patterns
        .iter()
        .zip(seen)
        .filter(|(p, hit)| !(p.is_empty() || *hit != p.negated))
        .map(|(p, _)| p)
        .collect()
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
    fn a_backslash_makes_the_rest_literal() {
        let p = Pattern::parse("\\!important").unwrap();
        assert!(p.matches("x !important y"));
        assert!(!p.matches("important"));
        assert!(Pattern::parse("\\/usr/bin/").unwrap().matches("/usr/bin/x"));
    }

    #[test]
    fn goss_patterns_hold_line_by_line() {
        let pats: Vec<Pattern> = ["hello", "!bye", "/^wor/", ""]
            .iter()
            .map(|p| Pattern::parse(p).unwrap())
            .collect();
        assert!(missing_lines(&pats, "hello there\nworld\n").is_empty());
        let missing = missing_lines(&pats, "hello\nbye\n");
        let names: Vec<&str> = missing.iter().map(|p| p.source()).collect();
        assert_eq!(names, ["!bye", "/^wor/"]);
        // `^` anchors at each line.
        assert!(missing_lines(&pats[2..3], "x\nworld").is_empty());
        assert!(missing_lines(&pats[3..], "").is_empty());
        assert_eq!(missing_lines(&pats[..1], "").len(), 1);
    }

    #[test]
    fn goss_patterns_have_no_regex_flags() {
        // goss reads `/re/i` as text: it must not hold where only a case-insensitive
        // expression would.
        let p = Pattern::goss("/hello/i").unwrap();
        assert!(!p.matches("HELLO"));
        assert!(p.matches("say /hello/i"));
        assert!(Pattern::goss("/^hel+o$/").unwrap().matches("hello"));
        assert!(!Pattern::goss("/^hel+o$/").unwrap().matches("hello world"));
        assert!(Pattern::goss("!/^x/").unwrap().matches("hello"));
        assert!(!Pattern::goss("!/^h/").unwrap().matches("hello"));
        assert!(Pattern::goss("\\!hi").unwrap().matches("a !hi"));
        assert!(!Pattern::goss("\\!hi").unwrap().matches("hi"));
        assert!(Pattern::goss("/etc/nginx").unwrap().matches("/etc/nginx/x"));
        assert!(Pattern::goss("/").unwrap().matches("a/b"));
        // The TOML reading keeps its flags.
        assert!(Pattern::parse("/hello/i").unwrap().matches("HELLO"));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Pattern::parse("/(unclosed/")
            .unwrap_err()
            .contains("invalid regular"));
    }
}
