//! Reporters: turn verification outcomes into the formats people and CI systems read.
//! The human form is printed while checks run (see `check::runner`); these write files.

pub mod evidence;
pub mod html;
pub mod json;
pub mod junit;
pub mod progress;
pub mod tap;
pub mod timeline;

use crate::check::Outcome;
use crate::model::spec::Assertion;

/// Everything a report needs about one verification run.
pub struct RunSummary<'a> {
    pub environment: &'a str,
    pub instance: &'a str,
    pub assertions: &'a [Assertion],
    pub outcomes: &'a [Outcome],
    pub duration: std::time::Duration,
    /// Wall-clock time the run began.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// What each node went through, from the start of the run.
    pub timeline: Vec<timeline::Span>,
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
