//! Why a command failed, mapped onto the exit codes of [`crate::exit_code`].

use crate::backend::EngineError;
use crate::instance::up::UpError;
use crate::model::ModelError;
use std::process::ExitCode;

pub use crate::exit_code::{
    ENVIRONMENT, INTERRUPTED, INVALID_INPUT, NOT_IDEMPOTENT, SPECS_FAILED, SUCCESS,
};

/// Why a command did not succeed; maps to an exit code.
#[derive(Debug)]
pub enum Failure {
    /// Specs failed; the report has already been printed.
    Specs,
    Invalid(String),
    /// Definitions or specs that do not load: invalid input, with file and line.
    Model(ModelError),
    Environment(String),
    NotIdempotent(String),
    Interrupted,
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Specs => SPECS_FAILED,
            Failure::Invalid(_) | Failure::Model(_) => INVALID_INPUT,
            Failure::Environment(_) => ENVIRONMENT,
            Failure::NotIdempotent(_) => NOT_IDEMPOTENT,
            Failure::Interrupted => INTERRUPTED,
        }
    }

    /// What went wrong, without the exit code's heading.
    pub fn detail(&self) -> String {
        match self {
            Failure::Specs => "specs failed".to_string(),
            Failure::Invalid(m) | Failure::Environment(m) | Failure::NotIdempotent(m) => m.clone(),
            Failure::Model(e) => e.to_string(),
            Failure::Interrupted => "interrupted".to_string(),
        }
    }

    /// Prints the failure to stderr and returns its exit code.
    pub fn report(self) -> ExitCode {
        let code = self.code();
        // Messages may quote node output (log tails), which may hold secret values.
        let redact = crate::model::secrets::redact;
        match &self {
            Failure::Specs => {}
            Failure::Invalid(m) => eprintln!("error: invalid input\n{}", redact(m)),
            Failure::Model(e) => {
                eprintln!("error: invalid input\n{}", redact(&e.to_string()));
                if crate::report::github::enabled() {
                    for d in e.diagnostics() {
                        outln!("{}", redact(&crate::report::github::diagnostic(d)));
                    }
                }
            }
            Failure::Environment(m) => eprintln!("error: {}", redact(m)),
            Failure::NotIdempotent(m) => {
                eprintln!("error: provisioning is not idempotent\n{}", redact(m))
            }
            Failure::Interrupted => eprintln!("interrupted; cleaned up"),
        }
        ExitCode::from(code)
    }
}

impl From<ModelError> for Failure {
    fn from(e: ModelError) -> Self {
        Failure::Model(e)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Environment(e.to_string())
    }
}

impl From<UpError> for Failure {
    fn from(e: UpError) -> Self {
        Failure::Environment(e.to_string())
    }
}
