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
    let mut report = Report::new(format!(
        "envctl {}/{}",
        summary.environment, summary.instance
    ));
    report.set_time(summary.duration);
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for outcome in summary.outcomes {
        let assertion = summary.assertion(outcome);
        let group = assertion.map_or("specs", |a| a.group()).to_string();
        let status = if outcome.passed {
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
        let mut case = TestCase::new(title, status);
        case.set_classname(format!("{}.{group}", summary.environment));
        case.set_time(outcome.duration);
        if let Some(a) = assertion {
            case.properties
                .push(quick_junit::Property::new("kind", a.kind()));
            if let Some(node) = a.node() {
                case.properties
                    .push(quick_junit::Property::new("node", node));
            }
            case.properties.push(quick_junit::Property::new(
                "file",
                a.file.display().to_string(),
            ));
        }
        suites
            .entry(group.clone())
            .or_insert_with(|| TestSuite::new(group))
            .add_test_case(case);
    }
    for (_, mut suite) in suites {
        let time = suite.test_cases.iter().filter_map(|c| c.time).sum();
        suite.set_time(time);
        report.add_test_suite(suite);
    }
    report.to_string()
}
