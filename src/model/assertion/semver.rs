//! Version constraints, written as goss writes them (its semver library's ranges):
//! comparators `=` (or none: exact), `!=`, `>`, `>=`, `<`, `<=`, separated by spaces
//! (all must hold; a comma works too), alternatives joined by `||`; `1.x` and `1.2.*`
//! wildcards; missing parts are 0 (`>=1.2` is `>=1.2.0`). `^1.2` and `~1.2` (caret and
//! tilde ranges) are accepted as well. Build metadata never counts; a pre-release is lower
//! than its release (`1.22.1-9` < `1.22.1`), as semantic versioning orders them.

use semver::Version;
use std::cmp::Ordering;
use std::fmt;

/// A parsed constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    source: String,
    /// Any alternative may hold; within one, every comparator must.
    alternatives: Vec<Vec<Comparator>>,
}

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    version: Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Constraint {
    /// Parses a constraint such as `">1.0.0 <2.0.0 !=1.5.0 || 3.x"`.
    ///
    /// # Errors
    /// A message naming the part that is not a comparator.
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let bad = |part: &str, why: &str| {
            format!(
                "`{text}` is not a semver constraint: `{part}` {why} (e.g. \">=1.18.0 <2.0.0\")"
            )
        };
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            // An operator followed by a space belongs to the next word (`> 1.0.0`).
            let mut words: Vec<String> = Vec::new();
            for word in alternative
                .split([' ', ',', '\t'])
                .filter(|w| !w.is_empty())
            {
                match words.last_mut() {
                    Some(last) if last.ends_with(['>', '<', '=', '^', '~']) => last.push_str(word),
                    _ => words.push(word.to_string()),
                }
            }
            if words.is_empty() {
                return Err(bad(alternative.trim(), "is empty"));
            }
            let mut all = Vec::new();
            for word in &words {
                all.extend(comparators(word).map_err(|why| bad(word, &why))?);
            }
            alternatives.push(all);
        }
        Ok(Constraint {
            source: text.to_string(),
            alternatives,
        })
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|all| {
            all.iter().all(|c| {
                let o = compare(version, &c.version);
                match c.op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Ne => o != Ordering::Equal,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                }
            })
        })
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Orders versions by their numbers and pre-release, ignoring build metadata.
fn compare(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

/// One written comparator, as the comparators it stands for (wildcards and caret or
/// tilde ranges are two).
fn comparators(word: &str) -> Result<Vec<Comparator>, String> {
    let split = word
        .find(|c: char| !matches!(c, '>' | '<' | '=' | '!' | '^' | '~'))
        .ok_or("has no version")?;
    let (op, version) = word.split_at(split);
    let parts: Vec<&str> = version.splitn(3, '.').collect();
    let wild = |p: &str| matches!(p, "x" | "X" | "*");
    // The fixed parts of a wildcard version, e.g. `1.2.x` -> [1, 2].
    let fixed: Vec<&str> = parts.iter().copied().take_while(|p| !wild(p)).collect();
    let exact = |v: &str| -> Result<Version, String> {
        let dots = v.split(['-', '+']).next().unwrap_or(v).matches('.').count();
        let full = match dots {
            0 => insert_parts(v, ".0.0"),
            1 => insert_parts(v, ".0"),
            _ => v.to_string(),
        };
        Version::parse(&full).map_err(|e| format!("is not a version ({e})"))
    };
    let c = |op: Op, version: Version| Comparator { op, version };
    if fixed.len() < parts.len() || version == "*" {
        if parts[fixed.len()..].iter().any(|p| !wild(p)) {
            return Err("mixes numbers after a wildcard".into());
        }
        let nums: Vec<u64> = fixed
            .iter()
            .map(|p| {
                p.parse::<u64>()
                    .map_err(|_| format!("has `{p}` where a number belongs"))
            })
            .collect::<Result<_, _>>()?;
        let low = Version::new(
            nums.first().copied().unwrap_or(0),
            nums.get(1).copied().unwrap_or(0),
            0,
        );
        let high = match nums.len() {
            0 => None,
            1 => Some(Version::new(nums[0] + 1, 0, 0)),
            _ => Some(Version::new(nums[0], nums[1] + 1, 0)),
        };
        return Ok(match (op, high) {
            (_, None) if matches!(op, "" | "=" | "==" | ">=" | "<=") => Vec::new(),
            ("" | "=" | "==", Some(h)) => vec![c(Op::Ge, low), c(Op::Lt, h)],
            (">", Some(h)) => vec![c(Op::Ge, h)],
            (">=", _) => vec![c(Op::Ge, low)],
            ("<", _) => vec![c(Op::Lt, low)],
            ("<=", Some(h)) => vec![c(Op::Lt, h)],
            _ => return Err(format!("cannot use `{op}` with a wildcard")),
        });
    }
    let v = exact(version)?;
    Ok(match op {
        "" | "=" | "==" => vec![c(Op::Eq, v)],
        "!=" | "!" => vec![c(Op::Ne, v)],
        ">" => vec![c(Op::Gt, v)],
        ">=" => vec![c(Op::Ge, v)],
        "<" => vec![c(Op::Lt, v)],
        "<=" => vec![c(Op::Le, v)],
        "^" => {
            let high = match (v.major, v.minor) {
                (0, 0) => Version::new(0, 0, v.patch + 1),
                (0, m) => Version::new(0, m + 1, 0),
                (m, _) => Version::new(m + 1, 0, 0),
            };
            vec![c(Op::Ge, v), c(Op::Lt, high)]
        }
        "~" => {
            let high = Version::new(v.major, v.minor + 1, 0);
            vec![c(Op::Ge, v), c(Op::Lt, high)]
        }
        other => return Err(format!("has an unknown operator `{other}`")),
    })
}

/// Adds `.0` parts to the numeric core of `v`, before any pre-release or build.
fn insert_parts(v: &str, parts: &str) -> String {
    match v.find(['-', '+']) {
        Some(i) => format!("{}{parts}{}", &v[..i], &v[i..]),
        None => format!("{v}{parts}"),
    }
}

/// A version as semantic versioning writes it (`1.22.1`, `1.22.1-9+deb12u1`); what goss
/// accepts.
pub fn strict(text: &str) -> Option<Version> {
    Version::parse(text.trim()).ok()
}

/// The numeric core of a version as packages write it (`1:1.22.1-9+deb12u1` is
/// `1.22.1`): epoch and packaging revision dropped, missing parts 0.
pub fn loose(version: &str) -> Option<Version> {
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
    Some(Version::new(major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(c: &str, v: &str) -> bool {
        Constraint::parse(c)
            .unwrap()
            .matches(&Version::parse(v).unwrap())
    }

    #[test]
    fn goss_documented_ranges() {
        // docs/gossfile.md, semver-constraint
        assert!(holds(">1.0.0 <2.0.0 !=1.5.0", "1.0.1"));
        assert!(holds(">1.0.0 <2.0.0 !=1.5.0", "1.9.9"));
        assert!(!holds(">1.0.0 <2.0.0 !=1.5.0", "1.5.0"));
        assert!(holds(">5.0.0 || < 1.5.0", "1.0.1"));
        assert!(!holds(">5.0.0 || < 1.5.0", "2.0.0"));
        assert!(holds("> 1.0.0", "1.0.1"));
    }

    #[test]
    fn a_bare_version_is_exact() {
        assert!(!holds("1.20.0", "1.22.1"));
        assert!(holds("1.22.1", "1.22.1"));
        assert!(holds("=1.22.1", "1.22.1+deb12u1"));
        assert!(!holds("1.22.1", "1.22.1-9"));
    }

    #[test]
    fn prereleases_sort_before_their_release() {
        assert!(!holds(">=1.22.1", "1.22.1-9"));
        assert!(holds(">=1.22.0", "1.22.1-9"));
    }

    #[test]
    fn wildcards_partial_versions_commas_caret_and_tilde() {
        assert!(holds("1.x", "1.9.0") && !holds("1.x", "2.0.0"));
        assert!(holds(">1.x", "2.0.0") && !holds(">1.x", "1.9.9"));
        assert!(holds("<=1.2.x", "1.2.9") && !holds("<=1.2.x", "1.3.0"));
        assert!(holds(">=1.18, <2", "1.22.1"));
        assert!(holds("^2", "2.3.0") && !holds("^2", "3.0.0"));
        assert!(holds("~1.2", "1.2.5") && !holds("~1.2", "1.3.0"));
    }

    #[test]
    fn bad_constraints_name_the_part() {
        let e = Constraint::parse(">=1.x.2").unwrap_err();
        assert!(e.contains("`>=1.x.2`"), "{e}");
        assert!(Constraint::parse("~~1").is_err());
        assert!(Constraint::parse(">=").unwrap_err().contains("no version"));
        assert!(Constraint::parse("1 ||").is_err());
    }

    #[test]
    fn strict_and_loose_versions() {
        assert!(strict("1:2.36-9").is_none());
        assert_eq!(strict("1.22.1-9+deb12u1").unwrap().pre.as_str(), "9");
        assert_eq!(loose("1:2.36-9+deb12u4"), Some(Version::new(2, 36, 0)));
        assert_eq!(loose("garbage"), None);
    }
}
