//! Value matchers for attributes (versions, uids, groups, addresses, command output...),
//! judged exactly as goss judges them (its "default" and "advanced" matchers):
//!
//! - a string: the actual value, as text, equals it (a list is its items joined by
//!   newlines); a number: the actual, as a number, equals it; a boolean: the actual is
//!   that boolean;
//! - a list: every item is matched by a different element of the actual list;
//! - one-key tables: `equal`, `have-prefix`, `have-suffix`, `match-regexp`,
//!   `contain-substring`, `have-len`, `have-patterns`, `have-key`, `contain-element`,
//!   `contain-elements`, `consist-of`, `not`, `and`, `or`, `gt`, `ge`, `lt`, `le`,
//!   `semver-constraint` (every version must satisfy it) and `gjson`.
//!
//! A matcher that cannot apply (a number expected of text that is not one, a version
//! that is not semantic) fails with the reason, and `not` does not turn that into a pass.
//! TOML specs use the same matchers ([`Matcher::toml`]), plus their `"!text"` and
//! `"/regex/"` string patterns and loosely read package versions.

use super::pattern::Pattern;
use super::semver::{self, Constraint};
use regex::Regex;
use serde_json::Value;
use std::fmt;

/// A compiled matcher.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The actual value, as text, equals this.
    Text(String),
    /// The actual value, as a number, equals this.
    Number(f64),
    /// The actual value is this boolean.
    Bool(bool),
    /// The same value: lists item by item in order, numbers numerically.
    Equal(Value),
    /// Each matcher holds for a different element of the actual list. With `lines`,
    /// text is split into lines first (`contain-elements`).
    ContainElements {
        items: Vec<Matcher>,
        lines: bool,
    },
    /// Some element (or line) of the actual value matches.
    ContainElement(Box<Matcher>),
    /// The actual list has exactly these elements, in any order.
    ConsistOf(Vec<Matcher>),
    /// Length of a list, of text (in bytes) or of a mapping.
    HaveLen(usize),
    /// Some key of the actual mapping matches.
    HaveKey(Box<Matcher>),
    Prefix(String),
    Suffix(String),
    Substring(String),
    Regex(Regex),
    /// goss's line patterns (`"text"`, `"!text"`, `"/re/"`), each over the lines.
    Patterns(Vec<Pattern>),
    Compare(Ordering, f64),
    Semver {
        constraint: Constraint,
        /// Read versions as packages write them (TOML specs) rather than strictly.
        loose: bool,
    },
    /// The actual text is JSON; each path selects a value that must match.
    Gjson(Vec<(String, Matcher)>),
    And(Vec<Matcher>),
    Or(Vec<Matcher>),
    Not(Box<Matcher>),
    /// A TOML string pattern (`"!text"`, `"/re/"`) over the actual value as text; on a
    /// list, some element must match (every element, for a negated pattern).
    Pattern(Pattern),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Gt,
    Ge,
    Lt,
    Le,
}

/// What a check found, as matchers see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Actual {
    Text(String),
    Number(f64),
    Bool(bool),
    List(Vec<String>),
    /// Any value (goss `matching` content, a JSON document's parts).
    Json(Value),
}

impl Actual {
    /// The value as JSON, which is what matchers evaluate.
    pub fn to_value(&self) -> Value {
        match self {
            Actual::Text(t) => Value::String(t.clone()),
            Actual::Number(n) => number(*n),
            Actual::Bool(b) => Value::Bool(*b),
            Actual::List(items) => {
                Value::Array(items.iter().map(|i| Value::String(i.clone())).collect())
            }
            Actual::Json(v) => v.clone(),
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
            Actual::Json(v) => write!(f, "{v}"),
        }
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A value as goss prints it with `%v`: text as is, lists one item per line.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), format_number),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".into(),
        Value::Array(items) => items.iter().map(to_text).collect::<Vec<_>>().join("\n"),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", to_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn to_number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("expected a number, found {s:?}")),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let joined = to_text(v);
            joined
                .trim()
                .parse()
                .map_err(|_| format!("expected a number, found {joined:?}"))
        }
        other => Err(format!("expected a number, found {other}")),
    }
}

/// Text as a list of its lines (goss's to-array); anything else as it is.
fn to_array(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::Array(s.split('\n').map(|l| Value::String(l.into())).collect()),
        other => other.clone(),
    }
}

/// The elements of a list, or the values of a mapping.
fn elements(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(items) => Ok(items.clone()),
        Value::Object(map) => Ok(map.values().cloned().collect()),
        other => Err(format!("`{what}` needs a list, found {other}")),
    }
}

/// Deep equality, numbers compared by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (x, y) => x == y,
    }
}

impl Matcher {
    /// Compiles a matcher written in a goss file, as goss reads it.
    ///
    /// # Errors
    /// A message naming the unknown matcher or the bad argument.
    pub fn goss(value: &Value) -> Result<Matcher, String> {
        Self::compile(value, Dialect::Goss)
    }

    /// Compiles a matcher written in a TOML spec: goss's matchers (by their goss names or
    /// snake_case ones), `"!text"` and `"/regex/"` patterns, loosely read versions.
    ///
    /// # Errors
    /// A message naming the unknown operator or the bad operand.
    pub fn toml(value: &Value) -> Result<Matcher, String> {
        Self::compile(value, Dialect::Toml)
    }

    fn compile(value: &Value, d: Dialect) -> Result<Matcher, String> {
        match value {
            Value::String(s) if d == Dialect::Toml && (s.starts_with('!') || is_regex(s)) => {
                Ok(Matcher::Pattern(Pattern::parse(s)?))
            }
            Value::String(s) => Ok(Matcher::Text(s.clone())),
            Value::Number(n) => Ok(Matcher::Number(n.as_f64().unwrap_or_default())),
            Value::Bool(b) => Ok(Matcher::Bool(*b)),
            Value::Array(items) => Ok(Matcher::ContainElements {
                items: items
                    .iter()
                    .map(|i| Self::compile(i, d))
                    .collect::<Result<_, _>>()?,
                lines: false,
            }),
            Value::Null => Err("a matcher cannot be empty".into()),
            Value::Object(map) => {
                if map.len() != 1 {
                    return Err(format!(
                        "a matcher has exactly one operator at each level (found {})",
                        if map.is_empty() {
                            "none".to_string()
                        } else {
                            map.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ));
                }
                let (op, arg) = map.iter().next().expect("one entry");
                Self::operator(op, arg, d)
            }
        }
    }

    fn operator(op: &str, arg: &Value, d: Dialect) -> Result<Matcher, String> {
        let text = || {
            arg.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{op}` needs a string, not {arg}"))
        };
        let number = || {
            arg.as_f64()
                .or_else(|| {
                    // TOML specs may quote numbers; goss needs them unquoted.
                    (d == Dialect::Toml)
                        .then(|| arg.as_str().and_then(|s| s.trim().parse().ok()))
                        .flatten()
                })
                .ok_or_else(|| format!("`{op}` needs a number, not {arg}"))
        };
        let list = || match arg {
            Value::Array(items) => items.iter().map(|i| Self::compile(i, d)).collect(),
            _ if d == Dialect::Toml => Ok(vec![Self::compile(arg, d)?]),
            other => Err(format!("`{op}` needs a list, not {other}")),
        };
        let sub = || Self::compile(arg, d).map(Box::new);
        let name = op.replace('_', "-");
        Ok(match name.as_str() {
            "equal" | "eq" => Matcher::Equal(arg.clone()),
            "gt" => Matcher::Compare(Ordering::Gt, number()?),
            "ge" => Matcher::Compare(Ordering::Ge, number()?),
            "lt" => Matcher::Compare(Ordering::Lt, number()?),
            "le" => Matcher::Compare(Ordering::Le, number()?),
            "semver-constraint" | "semver" => Matcher::Semver {
                constraint: Constraint::parse(&text()?)?,
                loose: d == Dialect::Toml,
            },
            "contain-element" => match arg {
                Value::Object(_) | Value::String(_) | Value::Number(_) => {
                    Matcher::ContainElement(sub()?)
                }
                other if d == Dialect::Toml => Matcher::ContainElement(Box::new(Self::compile(other, d)?)),
                other => {
                    return Err(format!(
                        "`contain-element` needs a matcher, a string or a number, not {other}"
                    ))
                }
            },
            "contain-elements" | "contains" => Matcher::ContainElements {
                items: list()?,
                lines: true,
            },
            "consist-of" => Matcher::ConsistOf(list()?),
            "contain-substring" => Matcher::Substring(text()?),
            "match-regexp" | "matches" => Matcher::Regex(regex(&text()?)?),
            "have-prefix" => Matcher::Prefix(text()?),
            "have-suffix" => Matcher::Suffix(text()?),
            "have-len" => {
                let n = number()?;
                if n < 0.0 || n.fract() != 0.0 {
                    return Err(format!("`have-len` needs a whole number, not {arg}"));
                }
                Matcher::HaveLen(n as usize)
            }
            "have-key" => Matcher::HaveKey(sub()?),
            "have-patterns" => match arg {
                Value::Array(items) => Matcher::Patterns(
                    items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) if d == Dialect::Goss => Pattern::goss(s),
                            Value::String(s) => Pattern::parse(s),
                            other => Err(format!("a pattern is a string, not {other}")),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(format!("`have-patterns` needs a list, not {other}")),
            },
            "gjson" => {
                let Value::Object(paths) = arg else {
                    return Err(format!("`gjson` needs a mapping of paths to matchers, not {arg}"));
                };
                Matcher::Gjson(
                    paths
                        .iter()
                        .map(|(p, m)| Ok((p.clone(), Self::compile(m, d)?)))
                        .collect::<Result<_, String>>()?,
                )
            }
            "and" => Matcher::And(list()?),
            "or" => Matcher::Or(list()?),
            "not" => Matcher::Not(sub()?),
            "xml" => {
                return Err(
                    "the `xml` (XPath) matcher is not supported by envctl; match the text with `match-regexp`, or turn the XML into JSON and use `gjson`".into(),
                )
            }
            _ => {
                return Err(format!(
                    "unknown matcher `{op}`; use equal, gt, ge, lt, le, semver-constraint, contain-element, \
                     contain-elements, consist-of, contain-substring, match-regexp, have-prefix, have-suffix, \
                     have-len, have-key, have-patterns, gjson, and, or, not"
                ))
            }
        })
    }

    /// Whether `actual` satisfies the matcher; a matcher that cannot apply does not.
    pub fn matches(&self, actual: &Actual) -> bool {
        self.check(&actual.to_value()).unwrap_or(false)
    }

    /// Judges `actual`.
    ///
    /// # Errors
    /// Why the matcher cannot apply to the value (which is a failure too).
    pub fn check(&self, actual: &Value) -> Result<bool, String> {
        Ok(match self {
            Matcher::Text(s) => to_text(actual) == *s,
            Matcher::Number(n) => to_number(actual)? == *n,
            Matcher::Bool(b) => *actual == Value::Bool(*b),
            Matcher::Equal(want) => same(actual, want),
            Matcher::ContainElements { items, lines } => {
                let actual = if *lines {
                    to_array(actual)
                } else {
                    actual.clone()
                };
                let found = elements(&actual, "contain-elements")?;
                matched_all(items, &found)? == items.len()
            }
            Matcher::ContainElement(m) => {
                let found = elements(&to_array(actual), "contain-element")?;
                let mut error = None;
                for item in &found {
                    match m.check(item) {
                        Ok(true) => return Ok(true),
                        Ok(false) => {}
                        Err(e) => error = Some(e),
                    }
                }
                match error {
                    Some(e) => return Err(e),
                    None => false,
                }
            }
            Matcher::ConsistOf(items) => {
                let found = elements(actual, "consist-of")?;
                found.len() == items.len() && matched_all(items, &found)? == items.len()
            }
            Matcher::HaveLen(n) => {
                let len = match actual {
                    Value::String(s) => s.len(),
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    other => {
                        return Err(format!(
                            "`have-len` needs text, a list or a mapping, found {other}"
                        ))
                    }
                };
                len == *n
            }
            Matcher::HaveKey(m) => {
                let Value::Object(map) = actual else {
                    return Err(format!("`have-key` needs a mapping, found {actual}"));
                };
                let mut hit = false;
                for k in map.keys() {
                    if m.check(&Value::String(k.clone()))? {
                        hit = true;
                        break;
                    }
                }
                hit
            }
            Matcher::Prefix(p) => to_text(actual).starts_with(p.as_str()),
            Matcher::Suffix(s) => to_text(actual).ends_with(s.as_str()),
            Matcher::Substring(s) => to_text(actual).contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(&to_text(actual)),
            Matcher::Patterns(patterns) => {
                super::pattern::missing_lines(patterns, &to_text(actual)).is_empty()
            }
            Matcher::Compare(op, want) => {
                let n = to_number(actual)?;
                match op {
                    Ordering::Gt => n > *want,
                    Ordering::Ge => n >= *want,
                    Ordering::Lt => n < *want,
                    Ordering::Le => n <= *want,
                }
            }
            Matcher::Semver { constraint, loose } => {
                let texts: Vec<String> = match actual {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) if !items.is_empty() => items.iter().map(to_text).collect(),
                    other => {
                        return Err(format!(
                        "`semver-constraint` needs a version or a list of versions, found {other}"
                    ))
                    }
                };
                let mut all = true;
                for t in &texts {
                    let v = if *loose {
                        semver::loose(t)
                    } else {
                        semver::strict(t)
                    };
                    let v = v.ok_or_else(|| format!("{t:?} is not a semantic version"))?;
                    all &= constraint.matches(&v);
                }
                all
            }
            Matcher::Gjson(paths) => {
                let Value::String(doc) = actual else {
                    return Err(format!("`gjson` needs JSON text, found {actual}"));
                };
                if !gjson::valid(doc) {
                    return Err("`gjson`: the text is not valid JSON".into());
                }
                for (path, m) in paths {
                    let found = gjson::get(doc, path);
                    if !found.exists() {
                        return Err(format!("`gjson`: path `{path}` not found"));
                    }
                    let value: Value = serde_json::from_str(found.json())
                        .unwrap_or_else(|_| Value::String(found.str().to_string()));
                    if !m.check(&value)? {
                        return Ok(false);
                    }
                }
                true
            }
            Matcher::And(all) => {
                for m in all {
                    if !m.check(actual)? {
                        return Ok(false);
                    }
                }
                true
            }
            Matcher::Or(any) => {
                for m in any {
                    if m.check(actual)? {
                        return Ok(true);
                    }
                }
                false
            }
            Matcher::Not(m) => !m.check(actual)?,
            Matcher::Pattern(p) => match actual {
                Value::Array(items) if p.is_negated() => {
                    items.iter().all(|i| p.matches(&to_text(i)))
                }
                Value::Array(items) => items.iter().any(|i| p.matches(&to_text(i))),
                other => p.matches(&to_text(other)),
            },
        })
    }

    /// The first part of an `and` that fails, or the whole matcher: what a failure
    /// message should name.
    pub fn failing_part(&self, actual: &Value) -> Option<Matcher> {
        match self {
            Matcher::And(parts) => parts.iter().find(|m| m.check(actual) != Ok(true)).cloned(),
            Matcher::ContainElements { items, lines } if items.len() > 1 => items
                .iter()
                .map(|i| Matcher::ContainElements {
                    items: vec![i.clone()],
                    lines: *lines,
                })
                .find(|m| m.check(actual) != Ok(true))
                .or_else(|| Some(self.clone())),
            Matcher::Patterns(patterns) => {
                let missing: Vec<Pattern> =
                    super::pattern::missing_lines(patterns, &to_text(actual))
                        .into_iter()
                        .cloned()
                        .collect();
                (!missing.is_empty()).then_some(Matcher::Patterns(missing))
            }
            m => (m.check(actual) != Ok(true)).then(|| m.clone()),
        }
    }
}

/// How many of `matchers` can each be matched with a different element of `found`
/// (a maximum bipartite matching, as gomega's element matchers use).
fn matched_all(matchers: &[Matcher], found: &[Value]) -> Result<usize, String> {
    let mut edges = vec![Vec::new(); matchers.len()];
    for (i, m) in matchers.iter().enumerate() {
        for (j, f) in found.iter().enumerate() {
            if m.check(f)? {
                edges[i].push(j);
            }
        }
    }
    let mut owner: Vec<Option<usize>> = vec![None; found.len()];
    fn augment(
        i: usize,
        edges: &[Vec<usize>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for &j in &edges[i] {
            if seen[j] {
                continue;
            }
            seen[j] = true;
            if owner[j].is_none_or(|k| augment(k, edges, seen, owner)) {
                owner[j] = Some(i);
                return true;
            }
        }
        false
    }
    let mut matched = 0;
    for i in 0..matchers.len() {
        let mut seen = vec![false; found.len()];
        if augment(i, &edges, &mut seen, &mut owner) {
            matched += 1;
        }
    }
    Ok(matched)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Goss,
    Toml,
}

fn regex(text: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression `{text}`: {e}"))
}

/// Whether `text` is written as `/regex/flags` with some regex syntax inside: a path
/// such as `/var/www` or `/var/www/` is text.
fn is_regex(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('/') else {
        return false;
    };
    rest.rfind('/').is_some_and(|end| {
        rest[end + 1..]
            .chars()
            .all(|c| matches!(c, 'i' | 'm' | 's'))
            && rest[..end].contains(['^', '$', '*', '+', '?', '(', '[', '{', '|', '\\'])
    })
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
            Matcher::Text(s) => write!(f, "{s:?}"),
            Matcher::Number(n) => f.write_str(&format_number(*n)),
            Matcher::Bool(b) => write!(f, "{b}"),
            Matcher::Equal(v) => write!(f, "equal to {v}"),
            Matcher::ContainElements { items, .. } => {
                write!(f, "containing [{}]", join(items, ", "))
            }
            Matcher::ContainElement(m) => write!(f, "containing an element {m}"),
            Matcher::ConsistOf(items) => write!(f, "exactly [{}] in any order", join(items, ", ")),
            Matcher::HaveLen(n) => write!(f, "of length {n}"),
            Matcher::HaveKey(m) => write!(f, "with a key {m}"),
            Matcher::Prefix(p) => write!(f, "starting with {p:?}"),
            Matcher::Suffix(s) => write!(f, "ending with {s:?}"),
            Matcher::Substring(s) => write!(f, "containing {s:?}"),
            Matcher::Regex(r) => write!(f, "matching /{}/", r.as_str()),
            Matcher::Patterns(p) => write!(
                f,
                "{}",
                p.iter()
                    .map(Pattern::expectation)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            Matcher::Compare(op, n) => {
                let sym = match op {
                    Ordering::Gt => ">",
                    Ordering::Ge => ">=",
                    Ordering::Lt => "<",
                    Ordering::Le => "<=",
                };
                write!(f, "{sym} {}", format_number(*n))
            }
            Matcher::Semver { constraint, .. } => write!(f, "semver {constraint}"),
            Matcher::Gjson(paths) => write!(
                f,
                "JSON with {}",
                paths
                    .iter()
                    .map(|(p, m)| format!("{p} {m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Matcher::And(items) => write!(f, "({})", join(items, " and ")),
            Matcher::Or(items) => write!(f, "({})", join(items, " or ")),
            Matcher::Not(m) => write!(f, "not {m}"),
            Matcher::Pattern(p) => write!(f, "{}", p.expectation()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn goss(v: Value) -> Matcher {
        Matcher::goss(&v).unwrap()
    }

    fn toml(v: Value) -> Matcher {
        Matcher::toml(&v).unwrap()
    }

    fn holds(m: &Matcher, actual: Value) -> bool {
        m.check(&actual) == Ok(true)
    }

    #[test]
    fn goss_defaults_strings_numbers_booleans() {
        assert!(holds(&goss(json!("/bin/sh")), json!("/bin/sh")));
        assert!(!holds(&goss(json!("/bin/sh")), json!("/bin/bash")));
        // A trailing slash is text, not a regular expression.
        assert!(!holds(&goss(json!("/var/www/")), json!("/var/www")));
        assert!(holds(&goss(json!("55")), json!(55)));
        assert!(holds(&goss(json!(33)), json!("33")));
        assert!(holds(&goss(json!(42)), json!(" 42\n")));
        assert!(!holds(&goss(json!(33)), json!(34)));
        assert!(holds(&goss(json!(true)), json!(true)));
        assert!(!holds(&goss(json!(true)), json!("true")));
        // A string against a list: its items joined by newlines.
        assert!(holds(&goss(json!("www-data")), json!(["www-data"])));
        assert!(!holds(&goss(json!("www-data")), json!(["www-data", "adm"])));
    }

    #[test]
    fn goss_lists_need_a_distinct_element_each() {
        let groups = json!(["group1", "group2", "group3"]);
        assert!(holds(&goss(json!(["group1", "group2"])), groups.clone()));
        assert!(!holds(&goss(json!(["group1", "group2", "group2"])), groups));
        assert!(holds(
            &goss(json!({"equal": ["www-data"]})),
            json!(["www-data"])
        ));
        assert!(!holds(
            &goss(json!({"equal": ["a", "b"]})),
            json!(["b", "a"])
        ));
        assert!(holds(
            &goss(json!({"consist-of": ["foo", {"have-prefix": "m"}, "bar"]})),
            json!(["foo", "bar", "moo"])
        ));
        assert!(!holds(
            &goss(json!({"consist-of": ["foo"]})),
            json!(["foo", "bar"])
        ));
        assert!(holds(
            &goss(json!({"contain-element": {"have-prefix": "b"}})),
            json!(["foo", "bar"])
        ));
        assert!(holds(&goss(json!({"contain-element": 2})), json!([2])));
        // contain-element splits text into lines; a plain list does not apply to text.
        assert!(holds(&goss(json!({"contain-element": "b"})), json!("a\nb")));
        assert!(goss(json!(["a"])).check(&json!("a")).is_err());
    }

    #[test]
    fn goss_numeric_string_misc_matchers() {
        assert!(holds(&goss(json!({"gt": 40})), json!("42")));
        assert!(!holds(&goss(json!({"lt": 40})), json!(42)));
        assert!(goss(json!({"gt": 1})).check(&json!("x")).is_err());
        let all = goss(
            json!({"and": ["42", {"have-prefix": "4"}, {"have-suffix": "2"}, {"match-regexp": "\\d{2}"}, {"contain-substring": "2"}]}),
        );
        assert!(holds(&all, json!(42)));
        assert!(holds(&goss(json!({"have-len": 3})), json!(["a", "b", "c"])));
        assert!(holds(&goss(json!({"have-len": 3})), json!("abc")));
        assert!(holds(&goss(json!({"have-key": "baz"})), json!({"baz": 1})));
        assert!(holds(&goss(json!({"or": ["a", "b"]})), json!("b")));
    }

    #[test]
    fn not_of_a_matcher_that_cannot_apply_fails() {
        let m = goss(json!({"not": {"gt": 5}}));
        assert!(m.check(&json!("nope")).is_err());
        assert!(holds(&m, json!(3)));
    }

    #[test]
    fn semver_needs_every_version_and_is_strict_in_goss() {
        let m = goss(json!({"semver-constraint": ">1.0.0 <2.0.0 !=1.5.0"}));
        assert!(holds(&m, json!(["1.0.1", "1.9.9"])));
        assert!(!holds(&m, json!(["1.0.1", "1.5.0", "1.9.9"])));
        assert!(!holds(
            &goss(json!({"semver-constraint": "1.20.0"})),
            json!("1.22.1")
        ));
        assert!(goss(json!({"semver-constraint": ">1"}))
            .check(&json!("1:2.3-1"))
            .is_err());
        // TOML reads package versions loosely.
        assert!(holds(
            &toml(json!({"semver": ">=1.18, <2"})),
            json!(["1.22.1-9+deb12u1"])
        ));
        assert!(!holds(
            &toml(json!({"semver": ">=1.18"})),
            json!(["1.22.1-9", "1.2"])
        ));
    }

    #[test]
    fn gjson_paths() {
        let m = goss(
            json!({"gjson": {"moo.nested": "cow", "foo": {"have-prefix": "b"}, "count": {"le": 25}, "@this": {"have-key": "foo"}}}),
        );
        let doc = json!(r#"{"foo": "bar", "moo": {"nested": "cow"}, "count": "15"}"#);
        assert!(holds(&m, doc.clone()));
        assert!(goss(json!({"gjson": {"missing": "x"}}))
            .check(&doc)
            .is_err());
        assert!(!holds(&goss(json!({"gjson": {"foo": "baz"}})), doc));
    }

    #[test]
    fn toml_patterns_and_bad_matchers() {
        assert!(holds(&toml(json!("!/bin/false")), json!("/bin/sh")));
        assert!(holds(&toml(json!("/^1\\.22/")), json!("1.22.1-9")));
        // A path with a trailing slash is text, not a regular expression.
        assert!(!holds(&toml(json!("/var/www/")), json!("/var/www")));
        assert!(holds(&toml(json!("/var/www/")), json!("/var/www/")));
        assert!(holds(
            &toml(json!({"contains": ["adm"]})),
            json!(["www-data", "adm"])
        ));
        assert!(Matcher::goss(&json!({"bigger": 1}))
            .unwrap_err()
            .contains("unknown matcher `bigger`"));
        assert!(Matcher::goss(&json!({"gt": "x"}))
            .unwrap_err()
            .contains("needs a number"));
        assert!(Matcher::goss(&json!({"semver-constraint": "~~1"}))
            .unwrap_err()
            .contains("not a semver constraint"));
        assert!(Matcher::goss(&json!({"gt": 1, "lt": 2}))
            .unwrap_err()
            .contains("one operator"));
        assert!(
            Matcher::goss(&json!({"xml": {"xpath": "x", "result": "y"}}))
                .unwrap_err()
                .contains("not supported")
        );
    }
}
