//! `capt demo` with a short `--token-refresh-interval`: each control plane re-signs its kubeconfig's EKS token
//! on its timer, every refresh is exactly one write of `<cluster>-kubeconfig` (no write in between), the token is
//! signed with the fake credentials, and Cluster API's probe judges the kubeconfig usable.
#![cfg(feature = "demo")]

use std::time::Duration;

use base64::Engine;
use capt::demo::{DemoArgs, run_with_inspect};
use capt::reconcile::ownership::DATA_HASH_ANNOTATION;
use capt::reconcile::token_refresh::{CREDENTIALS_REFRESHED, annotations};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, WatchEvent, WatchParams};
use kube::core::GroupVersionKind;

const TEST_BOUND: Duration = Duration::from_secs(120);
/// Refreshes to observe on one kubeconfig.
const REFRESHES: usize = 3;

fn token_url(secret: &Secret) -> String {
    let value = &secret.data.as_ref().expect("data")["value"].0;
    let text = String::from_utf8_lossy(value);
    let token = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("a token user");
    let enc = token.trim().strip_prefix("k8s-aws-v1.").expect("EKS token");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(enc)
        .expect("base64url");
    String::from_utf8(raw).expect("utf-8")
}

async fn condition(
    client: kube::Client,
    group: &str,
    kind: &str,
    plural: &str,
    name: &str,
    ty: &str,
    v2: bool,
) -> Option<String> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1beta1", kind), plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let o = api.get(name).await.ok()?;
    let status = o.data.get("status")?;
    let conds = if v2 {
        status.get("v1beta2")?.get("conditions")?
    } else {
        status.get("conditions")?
    };
    conds
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

#[test]
fn tokens_are_refreshed_with_one_write_each() {
    let args = DemoArgs {
        clusters: 2,
        tf_delay: "uniform:50ms-200ms".parse().expect("delay"),
        timeout: Duration::from_secs(60),
        kubeconfig_out: std::env::temp_dir().join(format!(
            "capt-demo-tokens-{}.kubeconfig",
            std::process::id()
        )),
        quiet: true,
        token_refresh_interval: Duration::from_secs(2),
        ..DemoArgs::default()
    };
    let out = args.kubeconfig_out.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let inspect: capt::demo::Inspect = Box::new(move |client: kube::Client| {
        Box::pin(async move {
            let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
            let first = secrets
                .get("demo-01-kubeconfig")
                .await
                .expect("kubeconfig secret");
            let rv = first.metadata.resource_version.clone().expect("rv");
            let wp = WatchParams::default().fields("metadata.name=demo-01-kubeconfig");
            let mut stream = secrets.watch(&wp, &rv).await.expect("watch").boxed();
            let mut seen = vec![first.clone()];
            while seen.len() <= REFRESHES {
                match stream.try_next().await.expect("watch event") {
                    Some(WatchEvent::Modified(s)) => seen.push(s),
                    Some(WatchEvent::Bookmark(_)) => {}
                    Some(other) => panic!("unexpected event {other:?}"),
                    None => panic!("watch ended"),
                }
            }
            let cp = condition(
                client.clone(),
                "controlplane.cluster.x-k8s.io",
                "CAPTControlPlane",
                "captcontrolplanes",
                "demo-01",
                CREDENTIALS_REFRESHED,
                false,
            )
            .await;
            let probe = condition(
                client,
                "cluster.x-k8s.io",
                "Cluster",
                "clusters",
                "demo-01",
                "RemoteConnectionProbe",
                true,
            )
            .await;
            let _ = tx.send((seen, cp, probe));
        })
    });
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(run_with_inspect(args, inspect).map(|s| s.all_ready()));
    });
    let ready = done_rx.recv_timeout(TEST_BOUND).expect("demo finished");
    let _ = std::fs::remove_file(&out);
    assert_eq!(ready.ok(), Some(true), "demo converged");
    let (seen, cp, probe) = rx.try_recv().expect("inspected");

    let signed: Vec<String> = seen
        .iter()
        .map(|s| {
            s.metadata.annotations.as_ref().expect("annotations")[annotations::SIGNED_AT].clone()
        })
        .collect();
    for pair in signed.windows(2) {
        assert!(
            pair[1] > pair[0],
            "every write carries a newer token: {signed:?}"
        );
    }
    let hashes: std::collections::BTreeSet<_> = seen
        .iter()
        .map(|s| {
            s.metadata.annotations.as_ref().expect("annotations")[DATA_HASH_ANNOTATION].clone()
        })
        .collect();
    assert_eq!(hashes.len(), seen.len(), "no write without new content");
    for s in &seen {
        let url = token_url(s);
        assert!(
            url.starts_with("https://sts.ap-northeast-1.amazonaws.com/?"),
            "STS URL"
        );
        assert!(
            url.contains("X-Amz-Credential=AKIDCAPTSIMULATION01%2F"),
            "fake credentials"
        );
        assert!(
            url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
            "cluster header signed"
        );
        assert!(
            s.metadata
                .annotations
                .as_ref()
                .expect("annotations")
                .contains_key(annotations::EXPIRES_AT)
        );
    }
    assert_eq!(cp.as_deref(), Some("True"), "CredentialsRefreshed");
    assert_eq!(
        probe.as_deref(),
        Some("True"),
        "Cluster API can use the kubeconfig"
    );
}
