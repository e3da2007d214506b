//! The HTML report (`--html FILE`): one self-contained page (no scripts, no external
//! resources) with the summary, a timeline of the run per node (image, provision,
//! start, verify) and every assertion with its failure message.

use super::timeline::Span;
use super::RunSummary;
use std::fmt::Write;

/// Colours of the summary and the timeline; tests look for them in screenshots.
pub const PASS: &str = "#2e7d32";
pub const FAIL: &str = "#c62828";
const PHASES: &[(&str, &str)] = &[
    ("image", "#78909c"),
    ("provision", "#f9a825"),
    ("start", "#1e88e5"),
    ("verify", PASS),
];

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the page.
pub fn render(summary: &RunSummary) -> String {
    let passed = summary.passed();
    let failed = summary.failed();
    let verdict = if failed == 0 { "passed" } else { "failed" };
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>envctl verify {env}/{inst}: {verdict}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #212121; background: #fff; }}
h1 {{ font-size: 20px; margin: 0 0 12px; }}
.meta {{ color: #616161; margin-bottom: 16px; }}
.summary {{ display: flex; gap: 12px; margin-bottom: 20px; }}
.box {{ color: #fff; padding: 14px 22px; border-radius: 6px; font-size: 18px; font-weight: 600; min-width: 120px; }}
.box.pass {{ background: {PASS}; }}
.box.fail {{ background: {FAIL}; }}
.box.total {{ background: #455a64; }}
.timeline {{ position: relative; border: 1px solid #e0e0e0; border-radius: 6px; padding: 8px 8px 4px; margin-bottom: 20px; }}
.row {{ display: flex; align-items: center; height: 26px; }}
.row .label {{ width: 140px; flex: none; font-weight: 600; overflow: hidden; text-overflow: ellipsis; }}
.row .track {{ position: relative; flex: 1; height: 18px; background: #f5f5f5; }}
.bar {{ position: absolute; top: 0; height: 18px; min-width: 3px; border-radius: 3px; }}
.bar.failed {{ outline: 2px solid {FAIL}; }}
.legend span {{ display: inline-block; margin-right: 14px; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 6px 8px; border-bottom: 1px solid #eee; vertical-align: top; }}
td.status {{ font-weight: 700; width: 60px; }}
td.status.pass {{ color: {PASS}; }}
td.status.fail {{ color: {FAIL}; }}
.title {{ color: #616161; font-size: 12px; }}
.load {{ margin-bottom: 20px; }}
.load h3 {{ font-size: 15px; margin: 0 0 4px; }}
.figures {{ color: #424242; margin-bottom: 6px; }}
pre {{ margin: 4px 0 0; white-space: pre-wrap; font-size: 12px; background: #fafafa; padding: 6px; }}
</style></head><body>
<h1>envctl verify: {env} / {inst}{on} — {verdict}</h1>
<div class="meta">started {started} · verification took {took}</div>
<div class="summary"><div class="box pass">{passed} passed</div><div class="box fail">{failed} failed</div><div class="box total">{total} total</div></div>
"#,
        env = escape(summary.environment),
        inst = escape(summary.instance),
        on = summary
            .platform
            .map(|p| format!(" on {}", escape(p)))
            .unwrap_or_default(),
        started = summary.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        took = crate::wait::human(summary.duration),
        total = summary.outcomes.len(),
    );
    page.push_str(&timeline(&summary.timeline));
    page.push_str(&loads(summary));
    page.push_str("<table><thead><tr><th>result</th><th>assertion</th><th>kind</th><th>node</th><th>time</th></tr></thead><tbody>\n");
    for o in summary.outcomes {
        let a = summary.assertion(o);
        let (class, word) = if o.skipped {
            ("pass", "skipped")
        } else if o.passed {
            ("pass", "ok")
        } else {
            ("fail", "FAILED")
        };
        let message = o
            .message
            .as_deref()
            .map(|m| format!("<pre>{}</pre>", escape(m)))
            .unwrap_or_default();
        let _ = writeln!(
            page,
            r#"<tr><td class="status {class}">{word}</td><td><div>{name}</div><div class="title">{title}</div>{message}</td><td>{kind}</td><td>{node}</td><td>{ms} ms</td></tr>"#,
            name = escape(&o.name),
            title = escape(&a.map_or(String::new(), |a| format!("{} ({})", a.title, a.location()))),
            kind = a.map_or("", |a| a.kind()),
            node = escape(a.and_then(|a| a.node()).unwrap_or("")),
            ms = o.duration.as_millis(),
        );
    }
    page.push_str("</tbody></table>\n</body></html>\n");
    page
}

/// Latency over time for every `load` assertion, with its thresholds.
fn loads(summary: &RunSummary) -> String {
    let mut out = String::new();
    for o in summary.outcomes {
        let Some(load) = &o.load else { continue };
        if out.is_empty() {
            out.push_str("<h2>Latency under load</h2>\n");
        }
        let levels: Vec<super::plot::Level> = load
            .thresholds
            .iter()
            .filter(|t| t.figure != "error_rate")
            .map(|t| super::plot::Level {
                label: t.figure.clone(),
                ms: t.limit,
            })
            .collect();
        let _ = writeln!(
            out,
            r#"<div class="load"><h3 class="{class}">{name}</h3><div class="figures">{sent} requests, {failed} failed ({rate:.2}%), {throughput:.1} answers/s · {latency}</div>{plot}</div>"#,
            class = if o.passed { "pass" } else { "fail" },
            name = escape(&o.name),
            sent = load.sent,
            failed = load.failed,
            rate = load.error_rate * 100.0,
            throughput = load.throughput,
            latency = escape(&load.latency.describe()),
            plot = super::plot::latency(&load.samples, &levels, &[]),
        );
    }
    out
}

fn timeline(spans: &[Span]) -> String {
    if spans.is_empty() {
        return String::new();
    }
    let total = spans
        .iter()
        .map(|s| s.end.as_secs_f64())
        .fold(0.0, f64::max)
        .max(0.001);
    let mut nodes: Vec<&str> = Vec::new();
    for s in spans {
        if !nodes.contains(&s.node.as_str()) {
            nodes.push(&s.node);
        }
    }
    let mut out = format!(
        "<h2>Timeline <small>({})</small></h2><div class=\"timeline\">\n",
        crate::wait::human(std::time::Duration::from_secs_f64(total))
    );
    for node in nodes {
        let _ = write!(
            out,
            "<div class=\"row\"><div class=\"label\">{}</div><div class=\"track\">",
            escape(node)
        );
        for s in spans.iter().filter(|s| s.node == node) {
            let colour = PHASES
                .iter()
                .find(|(p, _)| *p == s.phase)
                .map_or("#9e9e9e", |(_, c)| c);
            let colour = if s.phase == "verify" && s.failed {
                FAIL
            } else {
                colour
            };
            let left = s.start.as_secs_f64() / total * 100.0;
            let width = (s.end - s.start).as_secs_f64() / total * 100.0;
            let _ = write!(
                out,
                r#"<div class="bar{failed}" style="left:{left:.2}%;width:{width:.2}%;background:{colour}" title="{phase} {ms} ms"></div>"#,
                failed = if s.failed { " failed" } else { "" },
                phase = s.phase,
                ms = (s.end - s.start).as_millis(),
            );
        }
        out.push_str("</div></div>\n");
    }
    out.push_str("<div class=\"legend\">");
    for (phase, colour) in PHASES {
        let _ = write!(
            out,
            "<span><i style=\"background:{colour}\"></i>{phase}</span>"
        );
    }
    let _ = write!(
        out,
        "<span><i style=\"background:{FAIL}\"></i>verify failed</span>"
    );
    out.push_str("</div></div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
