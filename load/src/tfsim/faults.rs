//! Fault injection: per-Workspace by annotation, or by name pattern from the configuration.

use std::fmt;
use std::str::FromStr;

/// Annotation that selects a fault for one Workspace (its value is a [`FaultKind`] name).
pub const FAULT_ANNOTATION: &str = "tfsim.capt.dev/fault";

/// A failure mode tfsim can simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `terraform apply` fails: `Synced=False/ReconcileError` with a terraform-like message, `Ready=False/Creating`.
    ApplyError,
    /// The Workspace becomes Ready, then alternates `Ready=False/Unavailable` and `Ready=True/Available`.
    Flap,
    /// The connection secret lacks the `kubeconfig` key.
    SecretMissingKubeconfig,
    /// The connection secret lacks the `cluster_certificate_authority_data` key.
    SecretMissingCa,
    /// The connection secret's `kubeconfig` is not parsable YAML.
    SecretInvalidKubeconfig,
    /// No endpoint anywhere: `cluster_endpoint` and `kubeconfig` are omitted from outputs and secret.
    SecretNoEndpoint,
}

impl FaultKind {
    /// All fault kinds, in documentation order.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::ApplyError,
        FaultKind::Flap,
        FaultKind::SecretMissingKubeconfig,
        FaultKind::SecretMissingCa,
        FaultKind::SecretInvalidKubeconfig,
        FaultKind::SecretNoEndpoint,
    ];

    /// The annotation / command-line spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            FaultKind::ApplyError => "apply-error",
            FaultKind::Flap => "flap",
            FaultKind::SecretMissingKubeconfig => "secret-missing-kubeconfig",
            FaultKind::SecretMissingCa => "secret-missing-ca",
            FaultKind::SecretInvalidKubeconfig => "secret-invalid-kubeconfig",
            FaultKind::SecretNoEndpoint => "secret-no-endpoint",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown fault name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault {0:?}: expected one of apply-error, flap, secret-missing-kubeconfig, secret-missing-ca, secret-invalid-kubeconfig, secret-no-endpoint"
)]
pub struct UnknownFault(pub String);

impl FromStr for FaultKind {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == t)
            .ok_or_else(|| UnknownFault(s.to_string()))
    }
}

/// A `PATTERN=KIND` rule: Workspaces whose name matches the glob `PATTERN` (`*` any run, `?` one character)
/// get fault `KIND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Glob over the Workspace name.
    pub pattern: String,
    /// Fault applied to matching Workspaces.
    pub kind: FaultKind,
}

/// An invalid `PATTERN=KIND` rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultRuleError {
    /// No `=` separator.
    #[error("invalid fault rule {0:?}: expected PATTERN=KIND")]
    Syntax(String),
    /// Unknown kind.
    #[error(transparent)]
    Kind(#[from] UnknownFault),
}

impl FromStr for FaultRule {
    type Err = FaultRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (pattern, kind) = s
            .rsplit_once('=')
            .ok_or_else(|| FaultRuleError::Syntax(s.to_string()))?;
        if pattern.is_empty() {
            return Err(FaultRuleError::Syntax(s.to_string()));
        }
        Ok(FaultRule {
            pattern: pattern.to_string(),
            kind: kind.parse()?,
        })
    }
}

/// Glob match with `*` and `?` over characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The fault for a Workspace: its annotation wins, then the first matching rule.
pub(crate) fn resolve(
    name: &str,
    annotation: Option<&str>,
    rules: &[(String, FaultKind)],
) -> Option<FaultKind> {
    if let Some(value) = annotation
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "none")
    {
        match value.parse::<FaultKind>() {
            Ok(kind) => return Some(kind),
            Err(err) => tracing::warn!(workspace = name, error = %err, "ignoring fault annotation"),
        }
    }
    rules
        .iter()
        .find(|(pattern, _)| glob_match(pattern, name))
        .map(|(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*-eks-controlplane", "c1-eks-controlplane"));
        assert!(glob_match("c?-vpc", "c1-vpc"));
        assert!(!glob_match("c?-vpc", "c10-vpc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }

    #[test]
    fn rules_and_annotations() {
        let rules = vec![("bad-*".to_string(), FaultKind::ApplyError)];
        assert_eq!(resolve("bad-1", None, &rules), Some(FaultKind::ApplyError));
        assert_eq!(resolve("good", None, &rules), None);
        assert_eq!(
            resolve("bad-1", Some("flap"), &rules),
            Some(FaultKind::Flap)
        );
        assert_eq!(resolve("good", Some("bogus"), &rules), None);
        let r: FaultRule = "x-*=secret-no-endpoint"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.kind, FaultKind::SecretNoEndpoint);
        assert!("nope".parse::<FaultRule>().is_err());
    }
}
