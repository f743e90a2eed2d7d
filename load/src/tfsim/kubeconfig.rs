//! Kubeconfig documents for simulated EKS clusters.

/// Renders a kubeconfig with one cluster (server + CA data), one token user and a current context, named the
/// way eksctl names them (`<cluster>.<region>.eksctl.io`). `server` is left out when `None`.
pub(crate) fn render(
    cluster_name: &str,
    region: &str,
    server: Option<&str>,
    ca_b64: &str,
    token: &str,
) -> String {
    let cluster_id = format!("{cluster_name}.{region}.eksctl.io");
    let user = format!("capt@{cluster_id}");
    let mut cluster = serde_json::Map::new();
    cluster.insert(
        "certificate-authority-data".into(),
        serde_json::Value::String(ca_b64.to_string()),
    );
    if let Some(server) = server {
        cluster.insert(
            "server".into(),
            serde_json::Value::String(server.to_string()),
        );
    }
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": cluster_id, "cluster": cluster }],
        "contexts": [{ "name": user, "context": { "cluster": cluster_id, "user": user } }],
        "current-context": user,
        "preferences": {},
        "users": [{ "name": user, "user": { "token": token } }],
    });
    serde_yaml::to_string(&doc).unwrap_or_default()
}

/// A text that is not a parsable kubeconfig (used by the `secret-invalid-kubeconfig` fault).
pub(crate) const INVALID: &str =
    "apiVersion: v1\nkind: Config\nclusters: [\n  - cluster: {server: \"https://\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_parsable_yaml() {
        let text = render(
            "c1",
            "us-west-2",
            Some("https://X.gr7.us-west-2.eks.amazonaws.com"),
            "Q0E=",
            "t",
        );
        let kc: kube::config::Kubeconfig =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kc.clusters.len(), 1);
        let server = kc.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.server.clone());
        assert_eq!(
            server.as_deref(),
            Some("https://X.gr7.us-west-2.eks.amazonaws.com")
        );
        assert!(serde_yaml::from_str::<kube::config::Kubeconfig>(INVALID).is_err());
    }
}
