//! The model: definition and spec files parsed, overlaid (`extends`) and validated.
//! No I/O beyond reading files; nothing here knows about Docker.

pub mod ansible_requirements;
pub mod assertion;
pub mod compose;
pub mod confine;
pub mod cycle;
pub mod defaults;
pub mod drain;
pub mod duration;
pub mod engine_kind;
pub mod environment;
pub mod environment_file;
pub mod goss;
pub mod inventory;
pub mod mounts;
pub mod placement;
pub mod port;
pub mod privileges;
pub mod project;
pub mod promotion;
pub mod puppet_modules;
pub mod redact;
pub mod resources;
pub mod scalar;
pub mod secrets;
pub mod source;
pub mod spec;
pub mod spec_file;
pub mod spec_toml;
pub mod symlink_release;
pub mod template;
pub mod yaml;

pub use assertion::Assertion;
pub use engine_kind::EngineKind;
pub use environment::{Environment, HealthCheck, ImageSource, Init, Node, Step, StepKind};
pub use privileges::Privileges;
pub use project::Project;
pub use source::Diagnostic;

use std::path::PathBuf;

/// Why definitions or specs could not be loaded. Every variant is invalid input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}", render(.0))]
    Diagnostics(Vec<Diagnostic>),
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no environment `{name}` (environments/{name}.toml); {}", available_list(.available))]
    UnknownEnvironment {
        name: String,
        available: Vec<String>,
    },
    #[error("{}", .0)]
    Project(String),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ModelError>),
}

impl ModelError {
    /// One error from several, or `None` when there are none.
    pub fn combine(mut errors: Vec<ModelError>) -> Option<ModelError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ModelError::Many(errors)),
        }
    }

    /// Every diagnostic carried by this error.
    pub fn diagnostics(&self) -> Vec<&Diagnostic> {
        match self {
            ModelError::Diagnostics(d) => d.iter().collect(),
            ModelError::Many(m) => m.iter().flat_map(ModelError::diagnostics).collect(),
            _ => Vec::new(),
        }
    }
}

impl From<source::SourceError> for ModelError {
    fn from(e: source::SourceError) -> Self {
        match e {
            source::SourceError::Io { path, source } => ModelError::Io { path, source },
            source::SourceError::Diagnostic(d) => ModelError::Diagnostics(vec![d]),
        }
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn available_list(names: &[String]) -> String {
    if names.is_empty() {
        "the project has no environments/*.toml".to_string()
    } else {
        format!("available: {}", names.join(", "))
    }
}
