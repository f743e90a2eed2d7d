//! Kubeconfig texts used by the secret faults.

/// A text that is not a parsable kubeconfig (used by the `secret-invalid-kubeconfig` fault).
pub(crate) const INVALID: &str =
    "apiVersion: v1\nkind: Config\nclusters: [\n  - cluster: {server: \"https://\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_does_not_parse() {
        assert!(serde_yaml::from_str::<kube::config::Kubeconfig>(INVALID).is_err());
    }
}
