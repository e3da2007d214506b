//! Reporters: turn verification outcomes into the formats people and CI systems read.
//! The human form is printed while checks run (see `check::runner`); these write files.

pub mod json;
pub mod junit;
pub mod progress;

use crate::check::Outcome;
use crate::model::spec::Assertion;

/// Everything a report needs about one verification run.
pub struct RunSummary<'a> {
    pub environment: &'a str,
    pub instance: &'a str,
    pub assertions: &'a [Assertion],
    pub outcomes: &'a [Outcome],
    pub duration: std::time::Duration,
}

impl RunSummary<'_> {
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.passed).count()
    }

    /// The assertion an outcome belongs to.
    pub fn assertion(&self, outcome: &Outcome) -> Option<&Assertion> {
        self.assertions.iter().find(|a| a.name == outcome.name)
    }
}
