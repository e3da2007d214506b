//! Value matchers for structured attributes (versions, uids, groups, addresses...), shared
//! by TOML specs and goss files. A matcher is written as a plain value (equality; for a
//! list, every item must be present), a string pattern (`"!x"` negates, `"/re/"` is a
//! regex), or a one-key table: `gt ge lt le` (numbers), `semver` (a constraint such as
//! `">=1.18, <2"`), `contains` (list subset or substring), `equal`, `matches` (regex),
//! `have_prefix`, `have_suffix`, `have_len`, `consist_of`, `and`, `or`, `not`.
//! goss's kebab-case names (`contain-element`, `semver-constraint`...) are accepted too.

use super::pattern::Pattern;
use regex::Regex;
use serde_json::Value;
use std::fmt;

/// A compiled matcher.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equality with a scalar (compared as text, numbers numerically).
    Equal(Value),
    /// A text pattern: substring, `!` negation, `/regex/`.
    Pattern(Pattern),
    Regex(Regex),
    /// Every item must be matched by some element of the actual list (or, for text,
    /// be contained in it).
    Contains(Vec<Matcher>),
    /// The actual list has exactly these items, in any order.
    ConsistOf(Vec<Matcher>),
    Prefix(String),
    Suffix(String),
    Len(usize),
    Compare(Ordering, f64),
    Semver(semver::VersionReq),
    And(Vec<Matcher>),
    Or(Vec<Matcher>),
    Not(Box<Matcher>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Gt,
    Ge,
    Lt,
    Le,
}

/// What a matcher is applied to: what a check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Actual {
    Text(String),
    Number(f64),
    Bool(bool),
    List(Vec<String>),
}

impl Actual {
    fn text(&self) -> String {
        match self {
            Actual::Text(t) => t.clone(),
            Actual::Number(n) => format_number(*n),
            Actual::Bool(b) => b.to_string(),
            Actual::List(items) => items.join("\n"),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Actual::Number(n) => Some(*n),
            Actual::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Actual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actual::Text(t) => write!(f, "{t:?}"),
            Actual::Number(n) => f.write_str(&format_number(*n)),
            Actual::Bool(b) => write!(f, "{b}"),
            Actual::List(items) => write!(f, "{items:?}"),
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Matcher {
    /// Compiles a matcher from a value written in a spec (TOML or YAML, as JSON).
    ///
    /// # Errors
    /// A message naming the unknown operator or the bad operand.
    pub fn parse(value: &Value) -> Result<Matcher, String> {
        match value {
            Value::String(s) => {
                if s.starts_with('!') || is_regex(s) {
                    Ok(Matcher::Pattern(Pattern::parse(s)?))
                } else {
                    Ok(Matcher::Equal(value.clone()))
                }
            }
            Value::Number(_) | Value::Bool(_) => Ok(Matcher::Equal(value.clone())),
            Value::Array(items) => Ok(Matcher::Contains(
                items.iter().map(Matcher::parse).collect::<Result<_, _>>()?,
            )),
            Value::Null => Err("a matcher cannot be empty".into()),
            Value::Object(map) => {
                if map.len() != 1 {
                    return Err(format!(
                        "a matcher table has exactly one operator (got {})",
                        if map.is_empty() {
                            "none".to_string()
                        } else {
                            map.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ));
                }
                let (op, arg) = map.iter().next().expect("one entry");
                Matcher::operator(op, arg)
            }
        }
    }

    fn operator(op: &str, arg: &Value) -> Result<Matcher, String> {
        let number = || {
            arg.as_f64()
                .or_else(|| arg.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| format!("`{op}` needs a number, not {arg}"))
        };
        let text = || {
            arg.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{op}` needs a string, not {arg}"))
        };
        let list = || match arg {
            Value::Array(items) => items.iter().map(Matcher::parse).collect(),
            other => Ok(vec![Matcher::parse(other)?]),
        };
        Ok(match op.replace('-', "_").as_str() {
            "equal" | "eq" => Matcher::Equal(arg.clone()),
            "gt" => Matcher::Compare(Ordering::Gt, number()?),
            "ge" => Matcher::Compare(Ordering::Ge, number()?),
            "lt" => Matcher::Compare(Ordering::Lt, number()?),
            "le" => Matcher::Compare(Ordering::Le, number()?),
            "semver" | "semver_constraint" => {
                let t = text()?;
                Matcher::Semver(
                    semver::VersionReq::parse(&t)
                        .map_err(|e| format!("`{t}` is not a semver constraint: {e}"))?,
                )
            }
            "contains" | "contain_element" | "contain_elements" => Matcher::Contains(list()?),
            "contain_substring" => Matcher::Pattern(Pattern::substring(&text()?)),
            "consist_of" => Matcher::ConsistOf(list()?),
            "matches" | "match_regexp" => {
                let t = text()?;
                Matcher::Regex(
                    Regex::new(&t).map_err(|e| format!("invalid regular expression `{t}`: {e}"))?,
                )
            }
            "have_prefix" => Matcher::Prefix(text()?),
            "have_suffix" => Matcher::Suffix(text()?),
            "have_len" => Matcher::Len(number()? as usize),
            "and" => Matcher::And(list()?),
            "or" => Matcher::Or(list()?),
            "not" => Matcher::Not(Box::new(Matcher::parse(arg)?)),
            _ => {
                return Err(format!(
                    "unknown matcher `{op}`; use equal, gt, ge, lt, le, semver, contains, \
                     contain-substring, consist-of, matches, have-prefix, have-suffix, have-len, and, or, not"
                ))
            }
        })
    }

    /// Whether `actual` satisfies the matcher.
    pub fn matches(&self, actual: &Actual) -> bool {
        match self {
            Matcher::Equal(want) => match actual {
                Actual::List(items) => items.contains(&scalar_text(want)),
                Actual::Number(n) => {
                    want.as_f64()
                        .or_else(|| want.as_str().and_then(|s| s.trim().parse().ok()))
                        == Some(*n)
                }
                Actual::Bool(b) => want.as_bool() == Some(*b) || scalar_text(want) == b.to_string(),
                Actual::Text(t) => *t == scalar_text(want),
            },
            Matcher::Pattern(p) => match actual {
                Actual::List(items) if !p.is_negated() => items.iter().any(|i| p.matches(i)),
                Actual::List(items) => items.iter().all(|i| p.matches(i)),
                other => p.matches(&other.text()),
            },
            Matcher::Regex(r) => match actual {
                Actual::List(items) => items.iter().any(|i| r.is_match(i)),
                other => r.is_match(&other.text()),
            },
            Matcher::Contains(wanted) => match actual {
                Actual::List(items) => wanted
                    .iter()
                    .all(|w| items.iter().any(|i| w.matches(&Actual::Text(i.clone())))),
                Actual::Text(t) => wanted.iter().all(|w| match w {
                    Matcher::Equal(v) => t.contains(&scalar_text(v)),
                    other => other.matches(actual) || other.matches(&Actual::Text(t.clone())),
                }),
                other => wanted.iter().all(|w| w.matches(other)),
            },
            Matcher::ConsistOf(wanted) => match actual {
                Actual::List(items) => {
                    items.len() == wanted.len()
                        && wanted
                            .iter()
                            .all(|w| items.iter().any(|i| w.matches(&Actual::Text(i.clone()))))
                }
                _ => false,
            },
            Matcher::Prefix(p) => actual.text().starts_with(p.as_str()),
            Matcher::Suffix(s) => actual.text().ends_with(s.as_str()),
            Matcher::Len(n) => match actual {
                Actual::List(items) => items.len() == *n,
                other => other.text().chars().count() == *n,
            },
            Matcher::Compare(op, want) => match actual {
                Actual::List(items) => items
                    .iter()
                    .any(|i| Matcher::Compare(*op, *want).matches(&Actual::Text(i.clone()))),
                other => other.number().is_some_and(|n| match op {
                    Ordering::Gt => n > *want,
                    Ordering::Ge => n >= *want,
                    Ordering::Lt => n < *want,
                    Ordering::Le => n <= *want,
                }),
            },
            Matcher::Semver(req) => match actual {
                Actual::List(items) => items.iter().any(|i| semver_matches(req, i)),
                other => semver_matches(req, &other.text()),
            },
            Matcher::And(all) => all.iter().all(|m| m.matches(actual)),
            Matcher::Or(any) => any.iter().any(|m| m.matches(actual)),
            Matcher::Not(m) => !m.matches(actual),
        }
    }
}

/// Whether `text` is written as `/regex/flags` (a path such as `/var/www` is not).
fn is_regex(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('/') else {
        return false;
    };
    rest.rfind('/').is_some_and(|end| {
        rest[end + 1..]
            .chars()
            .all(|c| matches!(c, 'i' | 'm' | 's'))
    })
}

/// Versions as packages write them (`1:1.22.1-9+deb12u1`) are loosened into semver
/// (`1.22.1`): the epoch and the packaging revision are dropped, missing parts are 0.
fn semver_matches(req: &semver::VersionReq, version: &str) -> bool {
    loose_version(version).is_some_and(|v| req.matches(&v))
}

/// Parses the numeric core of a version string.
pub fn loose_version(version: &str) -> Option<semver::Version> {
    let v = version.trim();
    let v = v.split_once(':').map_or(v, |(epoch, rest)| {
        if epoch.chars().all(|c| c.is_ascii_digit()) {
            rest
        } else {
            v
        }
    });
    let v = v.trim_start_matches('v');
    let core: String = v
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = core.split('.').filter(|p| !p.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some(semver::Version::new(major, minor, patch))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: &[Matcher], sep: &str| {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Matcher::Equal(v) => match v {
                Value::String(s) => write!(f, "{s:?}"),
                other => write!(f, "{other}"),
            },
            Matcher::Pattern(p) => write!(f, "{}", p.expectation()),
            Matcher::Regex(r) => write!(f, "matching /{}/", r.as_str()),
            Matcher::Contains(items) => write!(f, "containing [{}]", join(items, ", ")),
            Matcher::ConsistOf(items) => write!(f, "exactly [{}]", join(items, ", ")),
            Matcher::Prefix(p) => write!(f, "starting with {p:?}"),
            Matcher::Suffix(s) => write!(f, "ending with {s:?}"),
            Matcher::Len(n) => write!(f, "of length {n}"),
            Matcher::Compare(op, n) => {
                let sym = match op {
                    Ordering::Gt => ">",
                    Ordering::Ge => ">=",
                    Ordering::Lt => "<",
                    Ordering::Le => "<=",
                };
                write!(f, "{sym} {}", format_number(*n))
            }
            Matcher::Semver(req) => write!(f, "semver {req}"),
            Matcher::And(items) => write!(f, "({})", join(items, " and ")),
            Matcher::Or(items) => write!(f, "({})", join(items, " or ")),
            Matcher::Not(m) => write!(f, "not {m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Matcher {
        Matcher::parse(&v).unwrap()
    }

    fn text(s: &str) -> Actual {
        Actual::Text(s.into())
    }

    #[test]
    fn equality_and_numbers() {
        assert!(m(json!("/bin/sh")).matches(&text("/bin/sh")));
        assert!(!m(json!("/bin/sh")).matches(&text("/bin/bash")));
        assert!(m(json!(33)).matches(&Actual::Number(33.0)));
        assert!(m(json!(33)).matches(&text("33")));
        assert!(!m(json!(33)).matches(&Actual::Number(34.0)));
        assert!(m(json!(true)).matches(&Actual::Bool(true)));
    }

    #[test]
    fn lists_are_subsets() {
        let groups = Actual::List(vec!["www-data".into(), "adm".into()]);
        assert!(m(json!(["adm"])).matches(&groups));
        assert!(!m(json!(["adm", "sudo"])).matches(&groups));
        assert!(m(json!({"consist-of": ["adm", "www-data"]})).matches(&groups));
        assert!(!m(json!({"consist-of": ["adm"]})).matches(&groups));
        assert!(m(json!({"have-len": 2})).matches(&groups));
    }

    #[test]
    fn patterns_negation_and_regex() {
        assert!(m(json!("!/bin/false")).matches(&text("/bin/sh")));
        assert!(!m(json!("!/bin/sh")).matches(&text("/bin/sh")));
        assert!(m(json!("/^1\\.22/")).matches(&text("1.22.1-9")));
        assert!(m(json!({"contain-substring": "nginx"})).matches(&text("nginx-light")));
        assert!(m(json!({"matches": "^ng"})).matches(&text("nginx")));
        assert!(m(json!({"have-prefix": "ng"})).matches(&text("nginx")));
        assert!(!m(json!({"have-suffix": "ng"})).matches(&text("nginx")));
    }

    #[test]
    fn paths_are_equality_not_patterns() {
        assert!(m(json!("/var/www")).matches(&text("/var/www")));
        assert!(!m(json!("/var/www")).matches(&text("/var/www2")));
        assert!(m(json!("/www$/")).matches(&text("/var/www")));
    }

    #[test]
    fn numeric_comparisons() {
        assert!(m(json!({"gt": 999})).matches(&Actual::Number(1000.0)));
        assert!(!m(json!({"gt": 1000})).matches(&Actual::Number(1000.0)));
        assert!(m(json!({"ge": 1000})).matches(&text("1000")));
        assert!(m(json!({"lt": 5})).matches(&Actual::Number(4.5)));
        assert!(!m(json!({"le": 5})).matches(&text("not a number")));
    }

    #[test]
    fn semver_constraints_on_package_versions() {
        let v = Actual::List(vec!["1.22.1-9+deb12u1".into()]);
        assert!(m(json!({"semver-constraint": ">=1.18, <2"})).matches(&v));
        assert!(!m(json!({"semver": ">=1.23"})).matches(&v));
        assert!(m(json!({"semver": "^2"})).matches(&text("1:2.3-1")));
        assert_eq!(
            loose_version("1:2.36-9+deb12u4"),
            Some(semver::Version::new(2, 36, 0))
        );
        assert_eq!(loose_version("garbage"), None);
    }

    #[test]
    fn and_or_not() {
        let both = m(json!({"and": [{"gt": 1}, {"lt": 10}]}));
        assert!(both.matches(&Actual::Number(5.0)));
        assert!(!both.matches(&Actual::Number(50.0)));
        let either = m(json!({"or": ["a", "b"]}));
        assert!(either.matches(&text("b")));
        assert!(!either.matches(&text("c")));
        assert!(m(json!({"not": {"contain-element": "root"}}))
            .matches(&Actual::List(vec!["adm".into()])));
        assert_eq!(both.to_string(), "(> 1 and < 10)");
    }

    #[test]
    fn bad_matchers_are_errors() {
        assert!(Matcher::parse(&json!({"bigger": 1}))
            .unwrap_err()
            .contains("unknown matcher `bigger`"));
        assert!(Matcher::parse(&json!({"gt": "x"}))
            .unwrap_err()
            .contains("needs a number"));
        assert!(Matcher::parse(&json!({"semver": "~~1"}))
            .unwrap_err()
            .contains("not a semver constraint"));
        assert!(Matcher::parse(&json!({"gt": 1, "lt": 2}))
            .unwrap_err()
            .contains("exactly one operator"));
    }
}
