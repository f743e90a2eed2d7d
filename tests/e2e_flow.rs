//! End to end on the in-memory API server with tfsim and capisim: a cluster reaches Ready with a
//! kubeconfig secret pointing at its endpoint, a version bump reaches the Workspace, and deletion
//! leaves no Workspace behind.

mod support;

use capt::api::{CAPTCluster, CAPTControlPlane, Workspace};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

#[test]
fn cluster_lifecycle() {
    capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        w.apply(&cluster_yaml("alpha", "1.31")).await;
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        let ccs: Api<CAPTCluster> = Api::namespaced(w.client.clone(), "default");
        let secrets: Api<Secret> = Api::namespaced(w.client.clone(), "default");
        let workspaces: Api<Workspace> = Api::all(w.client.clone());

        let cc = eventually(30, "CAPTCluster ready", || async {
            ccs.get("alpha")
                .await
                .ok()
                .filter(|c| c.status.as_ref().is_some_and(|s| s.ready))
        })
        .await;
        assert!(cc.status.unwrap().vpc_id.unwrap().starts_with("vpc-"));

        let cp = eventually(30, "control plane ready with secrets", || async {
            cps.get("alpha").await.ok().filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.ready && s.secrets_ready)
            })
        })
        .await;
        let st = cp.status.clone().unwrap();
        assert!(st.initialized);
        assert_eq!(st.version.as_deref(), Some("1.31"));
        let endpoint = st.endpoint.clone().expect("endpoint");
        assert!(
            endpoint.ends_with(":443") && !endpoint.contains("https://"),
            "{endpoint}"
        );
        let spec_ep = cp
            .spec
            .control_plane_endpoint
            .clone()
            .expect("spec endpoint");
        assert_eq!(format!("{}:{}", spec_ep.host, spec_ep.port), endpoint);

        let kc = secrets
            .get("alpha-kubeconfig")
            .await
            .expect("kubeconfig secret");
        assert_eq!(kc.type_.as_deref(), Some("cluster.x-k8s.io/secret"));
        assert_eq!(
            kc.labels()
                .get("cluster.x-k8s.io/cluster-name")
                .map(String::as_str),
            Some("alpha")
        );
        let owner = &kc.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("CAPTControlPlane", Some(true))
        );
        let value = String::from_utf8(kc.data.unwrap()["value"].0.clone()).unwrap();
        let parsed = capt::reconcile::kubeconfig::parse_and_validate(value.as_bytes())
            .expect("valid kubeconfig");
        assert!(parsed.server.starts_with("https://"), "{}", parsed.server);
        let server = capt::reconcile::endpoint::parse_endpoint(&parsed.server).expect("server url");
        assert_eq!(format!("{}:{}", server.host, server.port), endpoint);
        let ca = secrets.get("alpha-ca").await.expect("ca secret");
        assert!(ca.data.unwrap().contains_key("ca.crt"));

        // A version bump reaches the Workspace, and status shows it once applied.
        cps.patch(
            "alpha",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"version": "1.32"}})),
        )
        .await
        .expect("bump");
        eventually(30, "version 1.32 applied", || async {
            let ws = workspaces.get("alpha-eks-controlplane").await.ok()?;
            let cp = cps.get("alpha").await.ok()?;
            let out = ws.output_str("cluster_version").map(str::to_string);
            (out.as_deref() == Some("1.32") && cp.status?.version.as_deref() == Some("1.32"))
                .then_some(())
        })
        .await;

        // Deleting the Cluster (capisim deletes control plane, then infra) leaves no Workspace.
        let clusters: Api<capt::api::Cluster> = Api::namespaced(w.client.clone(), "default");
        clusters
            .delete("alpha", &DeleteParams::default())
            .await
            .expect("delete cluster");
        eventually(40, "everything deleted", || async {
            let ws = workspaces.list(&ListParams::default()).await.ok()?;
            let left: Vec<String> = ws
                .items
                .iter()
                .map(ResourceExt::name_any)
                .filter(|n| n.starts_with("alpha"))
                .collect();
            let gone = left.is_empty()
                && cps.get_opt("alpha").await.ok()?.is_none()
                && ccs.get_opt("alpha").await.ok()?.is_none();
            gone.then_some(())
        })
        .await;
        w.stop().await;
    });
}
