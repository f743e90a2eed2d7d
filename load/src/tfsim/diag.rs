//! Terraform diagnostics and the condition messages provider-terraform and Crossplane build from them.
//!
//! provider-terraform turns a failed terraform command into
//! `Terraform encountered an error. Summary: <first "Error: " line>. To see the full error run: echo "<gzip+base64
//! of stderr>" | base64 -d | gunzip`, wraps it with the step that failed (`cannot initialize Terraform
//! configuration`, `cannot diff (i.e. plan) Terraform configuration`, `cannot apply Terraform configuration`) and
//! Crossplane's managed reconciler prefixes the phase (`connect failed`, `observe failed`, `create failed`,
//! `update failed`) in the `Synced=False/ReconcileError` condition message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// One terraform error diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diag {
    /// The title terraform prints after `Error: `.
    pub summary: String,
    /// The explanation below it.
    pub detail: String,
    /// Where it was found, e.g. `in output "kubeconfig"`.
    pub context: Option<String>,
}

impl Diag {
    pub(crate) fn new(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            detail: detail.into(),
            context: None,
        }
    }

    pub(crate) fn within(mut self, context: impl Into<String>) -> Self {
        if self.context.is_none() {
            self.context = Some(context.into());
        }
        self
    }

    /// The diagnostic as terraform prints it on stderr (`-no-color`).
    pub(crate) fn stderr(&self) -> String {
        let mut s = format!("\nError: {}\n\n", self.summary);
        if let Some(c) = &self.context {
            s.push_str(&format!("  on main.tf, {c}:\n\n"));
        }
        s.push_str(&self.detail);
        s.push('\n');
        s
    }
}

/// The reconcile step at which a Workspace failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Downloading a `source: Remote` module (before terraform runs).
    Fetch,
    /// `terraform init` (syntax errors, modules that cannot be installed).
    Init,
    /// `terraform plan` (references, variables, data sources).
    Plan,
    /// `terraform apply` of a Workspace never applied before.
    Create,
    /// `terraform apply` of a Workspace applied before.
    Update,
}

/// The `Synced=False/ReconcileError` message for `diag` failing at `step`.
pub(crate) fn message(step: Step, diag: &Diag) -> String {
    let (phase, wrap) = match step {
        Step::Fetch => {
            return format!("connect failed: {}: {}", diag.summary, diag.detail);
        }
        Step::Init => (
            "connect failed",
            "cannot initialize Terraform configuration",
        ),
        Step::Plan => (
            "observe failed",
            "cannot diff (i.e. plan) Terraform configuration",
        ),
        Step::Create => ("create failed", "cannot apply Terraform configuration"),
        Step::Update => ("update failed", "cannot apply Terraform configuration"),
    };
    format!(
        "{phase}: {wrap}: Terraform encountered an error. Summary: {}. To see the full error run: echo \"{}\" | base64 -d | gunzip",
        diag.summary,
        STANDARD.encode(gzip_stored(diag.stderr().as_bytes()))
    )
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn message_carries_summary_and_gzip() {
        let d = Diag::new(
            "Reference to undeclared module",
            "No module call named \"x\".",
        )
        .within("in output \"y\"");
        let m = message(Step::Plan, &d);
        assert!(m.starts_with(
            "observe failed: cannot diff (i.e. plan) Terraform configuration: Terraform encountered an error. Summary: Reference to undeclared module. To see the full error run: echo \""
        ), "{m}");
        let b64 = m.split('"').nth(1).unwrap_or_default();
        let gz = STANDARD.decode(b64).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        let text = d.stderr();
        assert_eq!(&gz[15..15 + text.len()], text.as_bytes());
    }
}
