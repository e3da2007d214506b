//! The JSON report. Schema (version 1), documented in docs/reports.md:
//! `{ "version": 1, "environment", "instance", "duration_ms", "summary": { "passed",
//! "failed", "total" }, "results": [ { "name", "title", "kind", "node", "file",
//! "passed", "message", "duration_ms", "attempts" } ] }`.

use super::RunSummary;
use serde_json::{json, Value};

/// Renders the run as the JSON report.
pub fn render(summary: &RunSummary) -> Value {
    let results: Vec<Value> = summary
        .outcomes
        .iter()
        .map(|o| {
            let a = summary.assertion(o);
            json!({
                "name": o.name,
                "title": a.map(|a| a.title.clone()),
                "kind": a.map(|a| a.kind()),
                "node": a.and_then(|a| a.node()),
                "file": a.map(|a| a.file.display().to_string()),
                "passed": o.passed,
                "message": o.message,
                "duration_ms": o.duration.as_millis() as u64,
                "attempts": o.attempts,
            })
        })
        .collect();
    json!({
        "version": 1,
        "environment": summary.environment,
        "instance": summary.instance,
        "duration_ms": summary.duration.as_millis() as u64,
        "summary": {
            "passed": summary.passed(),
            "failed": summary.failed(),
            "total": summary.outcomes.len(),
        },
        "results": results,
    })
}
