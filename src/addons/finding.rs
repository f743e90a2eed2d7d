//! Findings and how they are printed: one line each (`--output text`) or a JSON document.

use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with a reference to capt-produced values. Never holds a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier of the check (`unknown-key`, `invalid-target-path`, …).
    pub code: &'static str,
    pub file: PathBuf,
    pub line: usize,
    /// The object and field: `HelmRelease karpenter/karpenter spec.valuesFrom[2].valuesKey`.
    pub path: String,
    pub message: String,
    pub hint: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line: error[code]: message (path); fix: hint`.
    pub fn line_text(&self) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{}:{}: {sev}[{}]: {} ({}); fix: {}",
            self.file.display(),
            self.line,
            self.code,
            self.message,
            self.path,
            self.hint
        )
    }
}

/// Counts of what was checked, for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    pub templates: usize,
    pub references: usize,
    pub live_clusters: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub findings: Vec<Finding>,
    pub checked: Checked,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }

    pub fn text(&self) -> String {
        let mut out: String = self.findings.iter().map(|f| f.line_text() + "\n").collect();
        out.push_str(&format!(
            "{} error(s), {} warning(s); checked {} reference(s) against {} template(s){}\n",
            self.errors(),
            self.findings.len() - self.errors(),
            self.checked.references,
            self.checked.templates,
            if self.checked.live_clusters > 0 {
                format!(" and {} live control plane(s)", self.checked.live_clusters)
            } else {
                String::new()
            }
        ));
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("findings serialise") + "\n"
    }
}
