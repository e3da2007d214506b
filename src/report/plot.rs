//! Latency over time as inline SVG (the HTML report has no scripts): one line per series
//! (a load's requests, or each colour's answers during a promotion), the area under the
//! first series filled, failed requests as red marks, thresholds as dashed lines and
//! moments of the run (switches) as vertical lines.

use super::html::{escape, FAIL};
use crate::check::latency::Sample;
use std::fmt::Write;

/// Line colours of the series, in order; tests look for them in screenshots.
pub const SERIES: &[&str] = &["#6a1b9a", "#00838f", "#ef6c00", "#5d4037"];
/// The fill under the first series.
pub const AREA: &str = "#e1bee7";
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;

/// A horizontal line at `ms`, labelled.
pub struct Level {
    pub label: String,
    pub ms: f64,
}

/// Renders the plot; empty when there is nothing to draw.
pub fn latency(samples: &[Sample], levels: &[Level], marks: &[(f64, String)]) -> String {
    if samples.is_empty() {
        return String::new();
    }
    let t_max = samples
        .iter()
        .map(|s| s.at_ms)
        .chain(marks.iter().map(|(at, _)| *at))
        .fold(1.0, f64::max);
    let y_max = samples
        .iter()
        .map(|s| s.latency_ms)
        .chain(levels.iter().map(|l| l.ms))
        .fold(1.0, f64::max)
        * 1.1;
    let x = |at: f64| LEFT + at / t_max * (WIDTH - LEFT - 8.0);
    let y = |ms: f64| (HEIGHT - BOTTOM) - ms / y_max * (HEIGHT - BOTTOM - 8.0);
    let mut names: Vec<&str> = Vec::new();
    for s in samples {
        if !names.contains(&s.series.as_str()) {
            names.push(&s.series);
        }
    }
    let mut out = format!(
        r#"<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="latency over time">"#
    );
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="0" width="{w}" height="{h}" fill="#fafafa" stroke="#e0e0e0"/>"##,
        w = WIDTH - LEFT,
        h = HEIGHT - BOTTOM
    );
    for (i, name) in names.iter().enumerate() {
        let colour = SERIES[i % SERIES.len()];
        let points: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.series == *name && s.ok)
            .map(|s| (x(s.at_ms), y(s.latency_ms)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let line: Vec<String> = points
            .iter()
            .map(|(px, py)| format!("{px:.1},{py:.1}"))
            .collect();
        if i == 0 {
            let (first, last) = (points[0].0, points[points.len() - 1].0);
            let base = y(0.0);
            let _ = write!(
                out,
                r#"<polygon fill="{AREA}" points="{first:.1},{base:.1} {} {last:.1},{base:.1}"/>"#,
                line.join(" ")
            );
        }
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            line.join(" ")
        );
    }
    for s in samples.iter().filter(|s| !s.ok) {
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="4" height="10" fill="{FAIL}"/>"#,
            x(s.at_ms) - 2.0,
            y(s.latency_ms).min(HEIGHT - BOTTOM - 10.0)
        );
    }
    for l in levels {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{WIDTH}" y1="{py:.1}" y2="{py:.1}" stroke="#f9a825" stroke-width="2" stroke-dasharray="6 4"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" fill="#795548" text-anchor="end">{label}</text>"##,
            py = y(l.ms),
            tx = WIDTH - 4.0,
            ty = y(l.ms) - 3.0,
            label = escape(&format!("{} {} ms", l.label, l.ms)),
        );
    }
    for (at, label) in marks {
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="0" y2="{h}" stroke="#455a64" stroke-width="1.5"/><text x="{tx:.1}" y="12" font-size="11" fill="#455a64">{label}</text>"##,
            px = x(*at),
            tx = x(*at) + 3.0,
            h = HEIGHT - BOTTOM,
            label = escape(label),
        );
    }
    let _ = write!(
        out,
        r##"<text x="4" y="12" font-size="11" fill="#616161">{ymax:.0} ms</text><text x="4" y="{y0:.1}" font-size="11" fill="#616161">0</text><text x="{LEFT}" y="{ty:.1}" font-size="11" fill="#616161">0 s</text><text x="{WIDTH}" y="{ty:.1}" font-size="11" fill="#616161" text-anchor="end">{tmax:.1} s</text>"##,
        ymax = y_max,
        y0 = HEIGHT - BOTTOM,
        ty = HEIGHT - 6.0,
        tmax = t_max / 1000.0,
    );
    out.push_str("</svg>");
    if names.iter().any(|n| !n.is_empty()) {
        out.push_str(r#"<div class="legend">"#);
        for (i, name) in names.iter().enumerate() {
            let _ = write!(
                out,
                r#"<span><i style="background:{}"></i>{}</span>"#,
                SERIES[i % SERIES.len()],
                escape(name)
            );
        }
        out.push_str("</div>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: f64, ms: f64, ok: bool, series: &str) -> Sample {
        Sample {
            at_ms: at,
            latency_ms: ms,
            ok,
            series: series.into(),
        }
    }

    #[test]
    fn series_failures_levels_and_marks_are_drawn() {
        let svg = latency(
            &[
                sample(0.0, 5.0, true, "blue"),
                sample(100.0, 7.0, true, "blue"),
                sample(200.0, 9.0, false, ""),
                sample(300.0, 6.0, true, "<green>"),
            ],
            &[Level {
                label: "p99".into(),
                ms: 20.0,
            }],
            &[(150.0, "switch to green".into())],
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches(&format!("fill=\"{FAIL}\"")).count(), 1);
        assert!(svg.contains("p99 20 ms"));
        assert!(svg.contains("switch to green"));
        assert!(svg.contains("&lt;green&gt;"), "labels are escaped");
        assert_eq!(latency(&[], &[], &[]), "");
    }
}
