//! JSON paths for http assertions: `$.items[0].name`, `status`, `$["odd key"]`. A small,
//! exact subset (member names and array indexes), so what a path selects is obvious.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses a path.
///
/// # Errors
/// A message pointing at what is not understood.
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    let bad =
        |why: &str| format!("`{path}` is not a JSON path ({why}); write e.g. \"$.items[0].name\"");
    let mut rest = path.trim();
    rest = rest.strip_prefix('$').unwrap_or(rest);
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").ok_or_else(|| bad("unclosed [\""))?;
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("unclosed ["))?;
            let index = r[..end]
                .trim()
                .parse()
                .map_err(|_| bad("an index must be a number"))?;
            steps.push(Step::Index(index));
            rest = &r[end + 1..];
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad("empty member name"));
            }
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        }
    }
    Ok(steps)
}

/// The value a path selects, if any.
pub fn select<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_members_and_indexes() {
        let doc = json!({"items": [{"name": "a"}, {"name": "b"}], "odd key": 1, "ok": true});
        let get = |p: &str| select(&doc, &parse(p).unwrap()).cloned();
        assert_eq!(get("$.items[1].name"), Some(json!("b")));
        assert_eq!(get("items[0].name"), Some(json!("a")));
        assert_eq!(get("$[\"odd key\"]"), Some(json!(1)));
        assert_eq!(get("$.ok"), Some(json!(true)));
        assert_eq!(get("$.items[5]"), None);
        assert_eq!(get("$"), Some(doc.clone()));
    }

    #[test]
    fn bad_paths_are_errors() {
        assert!(parse("$.items[x]").unwrap_err().contains("number"));
        assert!(parse("$.items[0").unwrap_err().contains("unclosed"));
        assert!(parse("$..a").unwrap_err().contains("empty member"));
    }
}
