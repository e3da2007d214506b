//! YAML with positions: goss files, goss vars and Ansible inventories are read into
//! [`Node`]s that remember their line and column, so diagnostics point at the value
//! itself. Parsing is saphyr's (YAML 1.2, duplicate keys rejected, alias expansion bounded).

use saphyr::{MarkedYaml, Scalar, YamlData, YamlLoader};
use std::fmt;

/// A YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A YAML value. Scalars keep how they were written, so a plain `0644` can be told from
/// a quoted `"0644"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order.
    Map(Vec<(Node, Node)>),
}

/// A document that is not valid YAML, with the position of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

/// Nodes an alias may expand into, in all: enough for any real file, and a bound on
/// documents built to blow up ("billion laughs").
const ALIAS_LIMIT: usize = 100_000;

/// Parses a single-document YAML text; an empty text is `Null`.
///
/// # Errors
/// Syntax errors, duplicated keys (at the second one), several documents.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut loader: YamlLoader<MarkedYaml> = YamlLoader::default();
    loader.early_parse(false);
    loader.alias_limit(ALIAS_LIMIT);
    let scan = |e: &saphyr::ScanError| YamlError {
        line: e.marker().line().max(1),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    };
    parser.load(&mut loader, true).map_err(|e| scan(&e))?;
    if let Some(e) = loader.error() {
        return Err(scan(e));
    }
    let mut docs = loader.into_documents();
    if docs.len() > 1 {
        let second = &docs[1];
        return Err(YamlError {
            line: second.span.start.line().max(1),
            column: 1,
            message: "several YAML documents (`---`) in one file; envctl reads one".into(),
        });
    }
    match docs.pop() {
        Some(doc) => convert(&doc),
        None => Ok(Node {
            value: Value::Null,
            line: 1,
            column: 1,
        }),
    }
}

fn convert(node: &MarkedYaml) -> Result<Node, YamlError> {
    let line = node.span.start.line().max(1);
    let column = node.span.start.col() + 1;
    let at = |message: String| YamlError {
        line,
        column,
        message,
    };
    let value = match &node.data {
        YamlData::Representation(text, style, tag) => {
            match Scalar::parse_from_cow_and_metadata(text.clone(), *style, tag.as_ref()) {
                Some(Scalar::Null) => Value::Null,
                Some(Scalar::Boolean(b)) => Value::Bool(b),
                Some(Scalar::Integer(i)) => Value::Int(i),
                Some(Scalar::FloatingPoint(f)) => Value::Float(f.into_inner()),
                Some(Scalar::String(s)) => Value::Str(s.into_owned()),
                None => return Err(at(format!("`{text}` does not fit its tag"))),
            }
        }
        YamlData::Value(s) => match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Int(*i),
            Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
            Scalar::String(s) => Value::Str(s.to_string()),
        },
        YamlData::Sequence(items) => {
            Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(map) => Value::Map(
            map.iter()
                .map(|(k, v)| Ok((convert(k)?, convert(v)?)))
                .collect::<Result<_, YamlError>>()?,
        ),
        YamlData::Tagged(_, inner) => return convert(inner),
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(at("unknown alias or value that cannot be read".into()))
        }
    };
    Ok(Node {
        value,
        line,
        column,
    })
}

impl Node {
    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _)| k.as_key().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// A mapping's entries (none for anything else).
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }

    /// A scalar as a mapping key or text: strings as they are, numbers and booleans as
    /// written in YAML, `null` as empty. `None` for sequences and mappings.
    pub fn as_key(&self) -> Option<String> {
        Some(match &self.value {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        self.value == Value::Null
    }

    /// The value as JSON (mapping keys become strings; floats that JSON cannot hold
    /// become strings).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or_else(|| J::String(f.to_string()), J::Number)
            }
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_key().unwrap_or_else(|| k.to_json().to_string()),
                            v.to_json(),
                        )
                    })
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_positions() {
        let doc = parse("package:\n  nginx:\n    installed: true\n    versions: [\"1.22\", 2]\n")
            .unwrap();
        let nginx = doc.get("package").unwrap().get("nginx").unwrap();
        let installed = nginx.get("installed").unwrap();
        assert_eq!((installed.line, installed.column), (3, 16));
        assert_eq!(installed.value, Value::Bool(true));
        let versions = nginx.get("versions").unwrap();
        assert_eq!(versions.line, 4);
        assert_eq!(versions.to_json(), serde_json::json!(["1.22", 2]));
        let key = &doc.entries()[0].0;
        assert_eq!((key.line, key.column), (1, 1));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let doc = parse("a: \"0644\"\nb: 0644\nc: yes\nd: ~\ne: 1.5\n").unwrap();
        assert_eq!(doc.get("a").unwrap().value, Value::Str("0644".into()));
        assert!(matches!(doc.get("b").unwrap().value, Value::Int(_)));
        // YAML 1.2: `yes` is a string, as goss's YAML library reads it untyped.
        assert_eq!(doc.get("c").unwrap().value, Value::Str("yes".into()));
        assert!(doc.get("d").unwrap().is_null());
        assert_eq!(doc.get("e").unwrap().value, Value::Float(1.5));
    }

    #[test]
    fn duplicated_keys_are_reported_at_the_second() {
        let err = parse("package:\n  nginx: {}\npackage:\n  curl: {}\n").unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
        assert!(err.message.contains("duplicate"), "{err:?}");
    }

    #[test]
    fn syntax_errors_have_positions_and_aliases_are_bounded() {
        let err = parse("a:\n  b: [1, 2\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert!(parse(&bomb).is_err());
        assert!(parse("").unwrap().is_null());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }
}
