//! Small serde helpers shared by definition and spec files: scalars written as strings,
//! and command lines written as a shell string or an argument list.

use serde::{de, Deserialize, Deserializer};
use std::fmt;

/// A string, number or boolean, kept as text (`PORT = 8000` and `PORT = "8000"` agree).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                no_nul(v)?;
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Text that ends up in a process's environment or arguments, where a NUL cannot go.
fn no_nul<E: de::Error>(v: &str) -> Result<(), E> {
    if v.contains('\0') {
        return Err(E::custom(
            "contains a NUL character, which no command line or environment variable can hold",
        ));
    }
    Ok(())
}

/// The name of an environment variable: letters, digits, `_`, `.` and `-`, starting with a
/// letter or `_`, so no name can carry `=`, NUL, a newline or shell syntax to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EnvName(pub String);

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        EnvName::new(String::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

impl EnvName {
    /// Checks a variable's name.
    ///
    /// # Errors
    /// A message saying why the text cannot name a variable.
    pub fn new(name: String) -> Result<EnvName, String> {
        if name.is_empty() {
            return Err("an environment variable needs a name".into());
        }
        let portable = name.len() <= 256
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !portable {
            return Err(format!(
                "`{}` cannot name an environment variable: use letters, digits, `_`, `.` and `-`, starting with a letter or `_` (at most 256)",
                name.escape_debug()
            ));
        }
        Ok(EnvName(name))
    }
}

/// A command: `"nginx -t"` runs through `sh -c`; `["nginx", "-t"]` runs as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct CommandLine(pub Vec<String>);

impl CommandLine {
    /// The command as a shell-ish string for messages.
    pub fn display(&self) -> String {
        match self.0.as_slice() {
            [sh, c, script] if sh == "sh" && c == "-c" => script.clone(),
            args => args.join(" "),
        }
    }
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = CommandLine;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a non-empty array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandLine, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("empty command"));
                }
                no_nul(v)?;
                Ok(CommandLine(vec!["sh".into(), "-c".into(), v.to_string()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<CommandLine, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    no_nul(&arg)?;
                    args.push(arg);
                }
                if args.is_empty() {
                    return Err(de::Error::custom("empty command"));
                }
                Ok(CommandLine(args))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
