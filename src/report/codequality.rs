//! GitLab's Code Quality report (`validate --codequality FILE`): one issue per
//! invalid-input diagnostic, at its file and line, which GitLab shows on merge requests.

use crate::model::Diagnostic;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The report: a JSON array of issues (empty when everything is valid).
pub fn render(diagnostics: &[&Diagnostic]) -> Value {
    Value::Array(
        diagnostics
            .iter()
            .map(|d| {
                let description = match &d.field {
                    Some(field) => format!("{field}: {}", d.message),
                    None => d.message.clone(),
                };
                // Stable across runs, distinct per problem: GitLab compares the
                // fingerprints of two pipelines to tell new issues from fixed ones.
                let fingerprint = Sha256::digest(format!(
                    "{}\n{}\n{}\n{}",
                    d.file.display(),
                    d.line,
                    d.column,
                    description
                ));
                json!({
                    "description": description,
                    "check_name": "envctl-validate",
                    "fingerprint": hex(&fingerprint),
                    "severity": "major",
                    "location": {
                        "path": d.file.display().to_string(),
                        "lines": { "begin": d.line },
                    },
                })
            })
            .collect(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_diagnostic_is_an_issue_at_its_line() {
        let d = Diagnostic {
            file: "specs/web/web.toml".into(),
            line: 4,
            column: 1,
            field: Some("http.status".into()),
            message: "700 is not an HTTP status".into(),
        };
        let other = Diagnostic {
            line: 5,
            ..d.clone()
        };
        let report = render(&[&d, &other]);
        assert_eq!(report[0]["location"]["path"], "specs/web/web.toml");
        assert_eq!(report[0]["location"]["lines"]["begin"], 4);
        assert_eq!(
            report[0]["description"],
            "http.status: 700 is not an HTTP status"
        );
        assert_eq!(report[0]["fingerprint"].as_str().unwrap().len(), 64);
        assert_ne!(report[0]["fingerprint"], report[1]["fingerprint"]);
        assert_eq!(render(&[]), json!([]));
    }
}
