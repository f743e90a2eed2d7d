//! capisim's `RemoteConnectionProbe`: the `<cluster>-kubeconfig` Secret judged as Cluster API's cluster cache
//! would use it (missing, malformed, expired EKS token, good), re-judged when the token expires.

mod capisim_support;

use capisim_support::*;
use capt_load::capisim;
use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn kubeconfig(token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: eks\nclusters:\n- name: eks\n  cluster:\n    server: https://ABC.gr7.us-west-2.eks.amazonaws.com\n    certificate-authority-data: Q0E=\ncontexts:\n- name: eks\n  context: {{cluster: eks, user: eks}}\nusers:\n- name: eks\n  user:\n    token: {token}\n"
    )
}

async fn put_secret(env: &Env, cluster: &str, value: Option<&str>) {
    let data = match value {
        Some(v) => json!({ capisim::KUBECONFIG_KEY: v }),
        None => json!({ "other": "x" }),
    };
    let secret: Secret = serde_json::from_value(json!({
        "metadata": { "name": format!("{cluster}{}", capisim::KUBECONFIG_SUFFIX), "namespace": NS },
        "type": "cluster.x-k8s.io/secret",
        "stringData": data,
    }))
    .expect("secret");
    let api: Api<Secret> = Api::namespaced(env.client.clone(), NS);
    let name = secret.metadata.name.clone().unwrap_or_default();
    if api.get_opt(&name).await.expect("get").is_some() {
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "data": null, "stringData": data })),
        )
        .await
        .expect("patch secret");
    } else {
        api.create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }
}

async fn probe_message(env: &Env, name: &str, status: &str, needle: &str) -> String {
    let cluster = env
        .wait(
            &cluster_ar(),
            name,
            &format!("RemoteConnectionProbe {status} ~ {needle}"),
            |o| {
                cond2(o, capisim::REMOTE_CONNECTION_PROBE).is_some_and(|c| {
                    c["status"] == status
                        && c["message"].as_str().is_some_and(|m| m.contains(needle))
                })
            },
        )
        .await;
    let h = health(&cluster);
    assert_eq!(h.kubeconfig_usable, Some(status == "True"));
    h.kubeconfig_message.unwrap_or_default()
}

#[tokio::test]
async fn remote_connection_probe_follows_the_kubeconfig_secret() {
    let env = Env::start(V1BETA1).await;
    env.triple("k1", false).await;
    let cluster = env
        .wait(&cluster_ar(), "k1", "probe not yet established", |o| {
            cond2(o, capisim::REMOTE_CONNECTION_PROBE)
                .is_some_and(|c| c["message"] == "Remote connection not established yet")
        })
        .await;
    assert!(health(&cluster).kubeconfig_unusable());
    env.provision_v1beta1("k1").await;

    probe_message(
        &env,
        "k1",
        "False",
        "secret clusters/k1-kubeconfig not found",
    )
    .await;

    put_secret(&env, "k1", None).await;
    probe_message(&env, "k1", "False", "missing key \"value\"").await;

    put_secret(&env, "k1", Some("current-context: [unterminated")).await;
    probe_message(&env, "k1", "False", "not valid YAML").await;

    let stale = capisim::eks_token(
        "k1",
        "us-west-2",
        Utc::now() - chrono::TimeDelta::minutes(16),
    );
    put_secret(&env, "k1", Some(&kubeconfig(&stale))).await;
    let m = probe_message(&env, "k1", "False", "EKS token expired").await;
    assert!(
        !m.contains(stale.trim_start_matches("k8s-aws-v1.")),
        "no token in the message"
    );

    let fresh = capisim::eks_token("k1", "us-west-2", Utc::now());
    put_secret(&env, "k1", Some(&kubeconfig(&fresh))).await;
    probe_message(&env, "k1", "True", "").await;
    let cluster = env
        .wait(&cluster_ar(), "k1", "Available", |o| {
            status_of(cond2(o, "Available")).as_deref() == Some("True")
        })
        .await;
    assert_eq!(health(&cluster).available, Some(true));
    let status = serde_json::to_string(&cluster.data["status"]).expect("json");
    assert!(
        !status.contains(fresh.trim_start_matches("k8s-aws-v1.")),
        "no token in status"
    );
    env.stop().await;
}

#[tokio::test]
async fn an_eks_token_is_judged_expired_without_any_event() {
    let env = Env::start(V1BETA1).await;
    env.triple("k2", false).await;
    env.provision_v1beta1("k2").await;
    // Issued 14m50s ago: usable now (with a margin for a loaded machine), expired ten seconds
    // later with nothing else changing.
    let date = Utc::now() - chrono::TimeDelta::seconds(14 * 60 + 50);
    put_secret(
        &env,
        "k2",
        Some(&kubeconfig(&capisim::eks_token("k2", "us-west-2", date))),
    )
    .await;
    probe_message(&env, "k2", "True", "").await;
    probe_message(&env, "k2", "False", "EKS token expired").await;
    env.stop().await;
}
