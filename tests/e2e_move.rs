//! `clusterctl move`, as Cluster API does it: pause the Cluster, copy its objects to a second API
//! server (new uids, owner references rebuilt, no status), unpause there. capt writes nothing while
//! paused on either side, and the cluster comes back on the new server with the Workspaces it had.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use capt::api::{CAPTControlPlane, Workspace};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::{TEMPLATES, World, cluster_yaml, dyn_api, eventually, fast_tfsim, writes};

/// The kinds clusterctl would carry for one cluster, owners first, plus the Crossplane Workspaces.
const KINDS: [(&str, &str); 7] = [
    ("infrastructure.cluster.x-k8s.io", "WorkspaceTemplate"),
    ("cluster.x-k8s.io", "Cluster"),
    ("infrastructure.cluster.x-k8s.io", "CAPTCluster"),
    ("controlplane.cluster.x-k8s.io", "CAPTControlPlane"),
    ("infrastructure.cluster.x-k8s.io", "WorkspaceTemplateApply"),
    ("tf.upbound.io", "Workspace"),
    ("", "Secret"),
];

/// Copy every object of [`KINDS`] in `default` (and the cluster-scoped Workspaces) from `from` to
/// `to`: metadata the server owns is dropped, owner references are re-pointed at the new uids.
async fn copy(from: &Client, to: &Client) -> usize {
    let d_from = Discovery::new(from.clone()).run().await.expect("discovery");
    let d_to = Discovery::new(to.clone()).run().await.expect("discovery");
    let mut uids: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut copied = 0;
    for (group, kind) in KINDS {
        let find = |d: &Discovery| {
            d.groups()
                .flat_map(|g| g.recommended_resources())
                .find(|(ar, _)| ar.group == group && ar.kind == kind)
                .unwrap_or_else(|| panic!("{kind} not served"))
        };
        let (ar, caps) = find(&d_from);
        let namespaced = caps.scope == Scope::Namespaced;
        let src = dyn_api(from, &ar, namespaced, Some("default"));
        let (ar_to, _) = find(&d_to);
        let dst = dyn_api(to, &ar_to, namespaced, Some("default"));
        for obj in src.list(&ListParams::default()).await.expect("list").items {
            if kind == "Secret" && obj.name_any().starts_with("default-token") {
                continue;
            }
            let mut v = serde_json::to_value(&obj).unwrap();
            let meta = v["metadata"].as_object_mut().unwrap();
            for k in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
                "managedFields",
            ] {
                meta.remove(k);
            }
            if let Some(refs) = meta
                .get_mut("ownerReferences")
                .and_then(|r| r.as_array_mut())
            {
                refs.retain_mut(|r| {
                    let key = (
                        r["kind"].as_str().unwrap_or_default().to_string(),
                        r["name"].as_str().unwrap_or_default().to_string(),
                    );
                    match uids.get(&key) {
                        Some(uid) => {
                            r["uid"] = json!(uid);
                            true
                        }
                        None => false,
                    }
                });
            }
            v.as_object_mut().unwrap().remove("status");
            let o: DynamicObject = serde_json::from_value(v).unwrap();
            let created = create_or_update(&dst, o).await;
            uids.insert(
                (kind.to_string(), created.name_any()),
                created.uid().unwrap_or_default(),
            );
            copied += 1;
        }
        if kind == "Cluster" {
            // clusterctl creates the Cluster before the objects that belong to it; give the target's
            // caches a moment to hold it, so that pause is known when those objects arrive.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    copied
}

/// What clusterctl does for each object it moves: create it, and when the target already has one
/// (e.g. a connection secret the target's provider wrote for a copied Workspace) update that one.
async fn create_or_update(dst: &Api<DynamicObject>, mut o: DynamicObject) -> DynamicObject {
    let name = o.name_any();
    match dst.create(&PostParams::default(), &o).await {
        Ok(created) => created,
        Err(kube::Error::Api(ae)) if ae.code == 409 => {
            let existing = dst.get(&name).await.expect("get the existing object");
            o.metadata.resource_version = existing.resource_version();
            dst.replace(&name, &PostParams::default(), &o)
                .await
                .unwrap_or_else(|e| panic!("update existing {name}: {e}"))
        }
        Err(e) => panic!("copy {name}: {e}"),
    }
}

async fn workspace_names(client: &Client) -> BTreeSet<String> {
    let api: Api<Workspace> = Api::all(client.clone());
    api.list(&ListParams::default())
        .await
        .expect("workspaces")
        .items
        .iter()
        .map(|w| w.name_any())
        .collect()
}

async fn set_paused(client: &Client, paused: bool) {
    let clusters: Api<capt::api::Cluster> = Api::namespaced(client.clone(), "default");
    clusters
        .patch(
            "mv",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": paused}})),
        )
        .await
        .expect("pause");
}

#[test]
fn pause_copy_to_a_second_server_and_unpause_creates_no_second_workspace() {
    capt::actors::block_on(async {
        let a = World::start(fast_tfsim()).await;
        for t in TEMPLATES {
            a.apply(t).await;
        }
        a.apply(&cluster_yaml("mv", "1.31")).await;
        let cps_a: Api<CAPTControlPlane> = Api::namespaced(a.client.clone(), "default");
        eventually(60, "ready with secrets", || async {
            cps_a.get("mv").await.ok().filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.ready && s.secrets_ready)
            })
        })
        .await;
        let before = workspace_names(&a.client).await;
        assert!(before.len() >= 2, "{before:?}");

        // Paused: a spec change and a deletion request are left alone.
        set_paused(&a.client, true).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let quiet = writes(&a.metrics);
        cps_a
            .patch(
                "mv",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"version": "1.32"}})),
            )
            .await
            .expect("edit while paused");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            writes(&a.metrics),
            quiet,
            "capt wrote while the cluster was paused"
        );

        // Move: copy to a second management cluster, where the Cluster arrives paused.
        let b = World::start(fast_tfsim()).await;
        let copied = copy(&a.client, &b.client).await;
        assert!(copied > 8, "{copied}");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // WorkspaceTemplates belong to no cluster and are not paused by a move: only they may be
        // written (their finalizer and status) on the new server.
        let cluster_writes: Vec<_> = support::requests(&b.metrics)
            .into_iter()
            .filter(|(v, r, _)| {
                matches!(v.as_str(), "create" | "update" | "patch" | "delete")
                    && !r.starts_with("workspacetemplates")
            })
            .collect();
        assert!(
            cluster_writes.is_empty(),
            "capt wrote to the paused copy: {cluster_writes:?}"
        );
        a.stop().await;

        set_paused(&b.client, false).await;
        let cps_b: Api<CAPTControlPlane> = Api::namespaced(b.client.clone(), "default");
        let cp = eventually(60, "ready on the new server", || async {
            cps_b.get("mv").await.ok().filter(|c| {
                c.status.as_ref().is_some_and(|s| {
                    s.ready && s.secrets_ready && s.version.as_deref() == Some("1.32")
                })
            })
        })
        .await;
        assert!(cp.status.unwrap().initialized);
        assert_eq!(
            workspace_names(&b.client).await,
            before,
            "the moved cluster reuses its Workspaces"
        );
        b.stop().await;
    });
}
