//! JUnit XML (one testsuite per spec file), as read by Jenkins, GitLab and most CI
//! systems. Failures carry the expected-vs-actual message.

use super::RunSummary;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;

/// Renders the run as a JUnit XML document.
///
/// # Errors
/// Serialization failures.
pub fn render(summary: &RunSummary) -> Result<String, quick_junit::SerializeError> {
    let on = summary
        .platform
        .map(|p| format!(" on {p}"))
        .unwrap_or_default();
    let mut report = Report::new(format!(
        "envctl {}/{}{on}",
        summary.environment, summary.instance
    ));
    report.set_time(summary.duration);
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for outcome in summary.outcomes {
        let assertion = summary.assertion(outcome);
        let group = assertion.map_or("specs", |a| a.group()).to_string();
        let status = if outcome.skipped {
            let mut s = TestCaseStatus::skipped();
            // goss's `skip` has none; an interrupted run says "interrupted".
            if let Some(why) = &outcome.message {
                s.set_message(why.clone());
            }
            s
        } else if outcome.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = outcome.message.clone().unwrap_or_default();
            s.set_message(message.lines().next().unwrap_or_default().to_string());
            s.set_description(message);
            s.set_type("assertion");
            s
        };
        let title = outcome
            .name
            .split_once("::")
            .map_or(outcome.name.as_str(), |(_, t)| t)
            .to_string();
        // A platform-matrix run names its platform in every case, as a parametrized
        // test does (`title [debian:trixie]`), so the runs' reports never collide.
        let title = match summary.platform {
            Some(p) => format!("{title} [{p}]"),
            None => title,
        };
        let mut case = TestCase::new(title, status);
        case.set_classname(format!("{}.{group}", summary.environment));
        case.set_time(outcome.duration);
        // `file` and `line` on the test case, as pytest writes them and GitLab links
        // them; JUnit's schema has no properties on test cases, so kind and node go to
        // the case's output.
        if let Some(a) = assertion {
            case.extra
                .insert("file".into(), a.file.display().to_string().into());
            if a.line > 0 {
                case.extra.insert("line".into(), a.line.to_string().into());
            }
            let mut out = format!(
                "kind: {}\nnode: {}\nfile: {}\nattempts: {}\n",
                a.kind(),
                a.node().unwrap_or("-"),
                a.location(),
                outcome.attempts
            );
            if let Some(load) = &outcome.load {
                out.push_str(&load_lines(load));
            }
            // Jenkins' JUnit Attachments plugin (and GitLab, for images) read this
            // form: the node's output and provisioning log in the failure bundle.
            let files = a
                .node()
                .and_then(|n| summary.attachments?.get(n))
                .filter(|_| !outcome.passed && !outcome.skipped);
            for file in files.into_iter().flatten() {
                out.push_str(&format!("[[ATTACHMENT|{}]]\n", file.display()));
            }
            case.set_system_out(out);
        }
        let suite = suites.entry(group.clone()).or_insert_with(|| {
            let mut suite = TestSuite::new(group);
            suite.set_timestamp(summary.started_at.fixed_offset());
            if let Some(a) = assertion {
                suite.add_property(quick_junit::Property::new(
                    "file",
                    a.file.display().to_string(),
                ));
                suite.add_property(quick_junit::Property::new(
                    "environment",
                    summary.environment,
                ));
                if let Some(p) = summary.platform {
                    suite.add_property(quick_junit::Property::new("platform", p));
                }
            }
            suite
        });
        suite.add_test_case(case);
    }
    for (_, mut suite) in suites {
        let time = suite.test_cases.iter().filter_map(|c| c.time).sum();
        suite.set_time(time);
        report.add_test_suite(suite);
    }
    let xml = report.to_string()?;
    Ok(drop_root_skipped(&xml))
}

/// A load's figures as `name: value` lines, one per figure.
fn load_lines(load: &crate::check::load::LoadFigures) -> String {
    let l = &load.latency;
    let mut out = format!(
        "load: {} {}\nrequests: {}\nfailed: {}\nerror_rate: {:.4}\nthroughput: {:.1}/s\n\
         latency_p50_ms: {}\nlatency_p90_ms: {}\nlatency_p95_ms: {}\nlatency_p99_ms: {}\n\
         latency_max_ms: {}\nlatency_mean_ms: {}\n",
        load.mode,
        load.target,
        load.sent,
        load.failed,
        load.error_rate,
        load.throughput,
        l.p50_ms,
        l.p90_ms,
        l.p95_ms,
        l.p99_ms,
        l.max_ms,
        l.mean_ms
    );
    for t in &load.thresholds {
        out.push_str(&format!(
            "threshold {}: {} <= {} {}\n",
            t.figure,
            t.measured,
            t.limit,
            if t.held { "held" } else { "BROKEN" }
        ));
    }
    out
}

/// The JUnit schema Jenkins publishes has no `skipped` on `<testsuites>` (only on
/// suites), so the root's count is dropped to keep reports valid; suites keep theirs.
fn drop_root_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites ") else {
        return xml.to_string();
    };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    let cleaned = match tag.find(" skipped=\"") {
        Some(i) => {
            let after = &tag[i + 10..];
            let close = after.find('"').map_or(after.len(), |c| c + 1);
            format!("{}{}", &tag[..i], &after[close..])
        }
        None => tag.to_string(),
    };
    format!("{}{cleaned}{}", &xml[..start], &xml[end..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_skipped_count_is_dropped() {
        let xml = "<?xml?>\n<testsuites name=\"x\" tests=\"1\" skipped=\"0\" failures=\"0\">\n<testsuite skipped=\"0\"/>";
        assert_eq!(
            super::drop_root_skipped(xml),
            "<?xml?>\n<testsuites name=\"x\" tests=\"1\" failures=\"0\">\n<testsuite skipped=\"0\"/>"
        );
    }
}
