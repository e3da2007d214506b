//! TAP version 13: one test point per assertion, failures with a YAML block holding the
//! expected-vs-actual message, kind, node and duration.

use super::RunSummary;

/// Renders the run as a TAP stream.
pub fn render(summary: &RunSummary) -> String {
    let mut out = format!("TAP version 13\n1..{}\n", summary.outcomes.len());
    for (i, o) in summary.outcomes.iter().enumerate() {
        let a = summary.assertion(o);
        let status = if o.passed { "ok" } else { "not ok" };
        // `#` starts a directive in TAP; keep it out of descriptions.
        // goss's `skip`: a TAP skip directive.
        let skip = match (&o.skipped, &o.message) {
            (true, Some(why)) => format!(" # SKIP {why}"),
            (true, None) => " # SKIP skip: true".to_string(),
            (false, _) => String::new(),
        };
        let on = summary
            .platform
            .map(|p| format!(" [{p}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{status} {} - {}{}{skip}\n",
            i + 1,
            o.name.replace('#', "_"),
            on.replace('#', "_")
        ));
        out.push_str("  ---\n");
        if let Some(p) = summary.platform {
            out.push_str(&format!("  platform: {}\n", yaml_scalar(p)));
        }
        if let Some(a) = a {
            out.push_str(&format!("  kind: {}\n", a.kind()));
            if let Some(node) = a.node() {
                out.push_str(&format!("  node: {}\n", yaml_scalar(node)));
            }
            out.push_str(&format!(
                "  file: {}\n",
                yaml_scalar(&a.file.display().to_string())
            ));
            if a.line > 0 {
                out.push_str(&format!("  line: {}\n", a.line));
            }
        }
        out.push_str(&format!("  duration_ms: {}\n", o.duration.as_millis()));
        out.push_str(&format!("  attempts: {}\n", o.attempts));
        if let Some(m) = &o.message {
            out.push_str("  message: |\n");
            for line in m.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out.push_str("  ...\n");
    }
    out
}

fn yaml_scalar(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
