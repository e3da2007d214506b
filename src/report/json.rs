//! The JSON report. Schema (version 1), documented in docs/reports.md:
//! `{ "version": 1, "environment", "instance", "platform"?, "duration_ms", "summary": { "passed",
//! "failed", "total" }, "results": [ { "name", "title", "kind", "node", "file", "line",
//! "passed", "message", "duration_ms", "attempts", "platform"?, "load"? } ] }`; `load` holds what a
//! `load` assertion measured (requests, errors, latency percentiles, thresholds).

use super::RunSummary;
use serde_json::{json, Value};

/// Renders the run as the JSON report.
pub fn render(summary: &RunSummary) -> Value {
    let results: Vec<Value> = summary
        .outcomes
        .iter()
        .map(|o| {
            let a = summary.assertion(o);
            let mut result = json!({
                "name": o.name,
                "title": a.map(|a| a.title.clone()),
                "kind": a.map(|a| a.kind()),
                "node": a.and_then(|a| a.node()),
                "file": a.map(|a| a.file.display().to_string()),
                "line": a.map(|a| a.line).filter(|l| *l > 0),
                "passed": o.passed,
                "skipped": o.skipped,
                "message": o.message,
                "duration_ms": o.duration.as_millis() as u64,
                "attempts": o.attempts,
            });
            if let Some(p) = summary.platform {
                result["platform"] = json!(p);
            }
            if let Some(load) = &o.load {
                result["load"] = load_figures(load);
            }
            result
        })
        .collect();
    let mut report = json!({
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
    });
    if let Some(p) = summary.platform {
        report["platform"] = json!(p);
    }
    report
}

/// A load's figures, without the per-request samples (the HTML report plots those).
fn load_figures(load: &crate::check::load::LoadFigures) -> Value {
    json!({
        "mode": load.mode,
        "target": load.target,
        "duration_ms": load.duration_ms,
        "sent": load.sent,
        "failed": load.failed,
        "error_rate": load.error_rate,
        "throughput": load.throughput,
        "latency_ms": {
            "p50": load.latency.p50_ms,
            "p90": load.latency.p90_ms,
            "p95": load.latency.p95_ms,
            "p99": load.latency.p99_ms,
            "max": load.latency.max_ms,
            "mean": load.latency.mean_ms,
        },
        "thresholds": load.thresholds,
        "failures": load.failures,
    })
}
