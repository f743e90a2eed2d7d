//! A restarted tfsim publishes again what it owns: a Ready Workspace whose connection secret is
//! gone gets it back, as provider-terraform's reconcile of every Workspace after a start does
//! (crossplane's managed reconciler publishes connection details on each successful observe).

mod tfsim_support;

use serde_json::json;
use tfsim_support::{EKS_MODULE, Env, fast, ready};

#[tokio::test]
async fn restarted_tfsim_republishes_a_missing_connection_secret() {
    let mut env = Env::start(fast()).await;
    env.namespace("team").await;
    env.create(json!({
        "metadata": {"name": "ws-republish"},
        "spec": {
            "forProvider": {
                "source": "Inline",
                "module": EKS_MODULE,
                "vars": [
                    {"key": "cluster_name", "value": "republish"},
                    {"key": "kubernetes_version", "value": "1.31"},
                    {"key": "region", "value": "us-west-2"}
                ]
            },
            "writeConnectionSecretToRef": {"name": "republish-conn", "namespace": "team"}
        }
    }))
    .await;
    let before = env.wait_ws("ws-republish", "Ready", ready).await;
    let published = env.wait_secret("team", "republish-conn").await;
    assert!(published.contains_key("kubeconfig"));

    env.kill_tfsim();
    env.secrets("team")
        .delete("republish-conn", &Default::default())
        .await
        .expect("delete connection secret");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        env.secrets("team")
            .get_opt("republish-conn")
            .await
            .unwrap()
            .is_none(),
        "nothing publishes while tfsim is down"
    );
    env.start_tfsim(fast());

    let again = env.wait_secret("team", "republish-conn").await;
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        published.keys().collect::<Vec<_>>()
    );
    let after = env.workspaces().get("ws-republish").await.unwrap();
    assert!(ready(&after));
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "not re-applied: same spec"
    );
    env.stop().await;
}
