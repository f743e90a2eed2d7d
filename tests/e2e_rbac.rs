//! RBAC is exactly what the code calls: a cluster's whole life (create, Ready, upgrade, template
//! edit, delete) runs through the client layer, which counts every request by verb and resource;
//! `deploy/rbac/role.yaml` must grant each of them and nothing else (besides the `finalizers`
//! updates the API server's owner-reference admission asks of an owner's controller).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use capt::api::kinds::Kind;
use capt::api::{
    CAPTClusterTemplate, CAPTControlPlane, CaptControlPlaneTemplate, WorkspaceTemplate,
    WorkspaceTemplateApply,
};
use capt::telemetry::Metrics;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

type Grant = (String, String, String);

/// API group of each plural capt talks to: the watched kinds' table, and core Events.
fn group_of(resource: &str) -> &'static str {
    let plural = resource.split('/').next().unwrap_or(resource);
    Kind::ALL
        .into_iter()
        .map(Kind::info)
        .find(|k| k.plural == plural)
        .map(|k| k.api_group)
        .unwrap_or_else(|| match plural {
            "events" => "",
            _ => "infrastructure.cluster.x-k8s.io",
        })
}

/// (group, resource, verb) of every request the controller made.
fn used(metrics: &Metrics) -> BTreeSet<Grant> {
    support::requests(metrics)
        .into_iter()
        .map(|(verb, resource, _)| (group_of(&resource).to_string(), resource, verb))
        .collect()
}

fn granted() -> BTreeSet<Grant> {
    let role: Value =
        serde_yaml::from_str(include_str!("../deploy/rbac/role.yaml")).expect("role.yaml");
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        for g in strs(&rule["apiGroups"]) {
            for r in strs(&rule["resources"]) {
                for v in strs(&rule["verbs"]) {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

/// Not requests of capt's own: setting `blockOwnerDeletion` on a child needs `update` on the
/// owner's `finalizers` subresource when the OwnerReferencesPermissionEnforcement admission runs.
fn implied() -> BTreeSet<Grant> {
    [
        ("infrastructure.cluster.x-k8s.io", "captclusters/finalizers"),
        (
            "controlplane.cluster.x-k8s.io",
            "captcontrolplanes/finalizers",
        ),
        (
            "infrastructure.cluster.x-k8s.io",
            "workspacetemplateapplies/finalizers",
        ),
    ]
    .into_iter()
    .map(|(g, r)| (g.to_string(), r.to_string(), "update".to_string()))
    .collect()
}

#[test]
fn the_role_grants_exactly_what_a_cluster_lifecycle_uses() {
    capt::actors::block_on(async {
        let mut w = World::start(fast_tfsim()).await;
        let client = w.client.clone();
        for t in TEMPLATES {
            w.apply(t).await;
        }
        w.apply(&cluster_yaml("rbac", "1.31")).await;
        let cps: Api<CAPTControlPlane> = Api::namespaced(client.clone(), "default");
        eventually(60, "ready with secrets", || async {
            cps.get("rbac").await.ok().filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.ready && s.secrets_ready)
            })
        })
        .await;
        cps.patch(
            "rbac",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"version": "1.32"}})),
        )
        .await
        .expect("upgrade");
        let applies: Api<WorkspaceTemplateApply> = Api::namespaced(client.clone(), "default");
        eventually(30, "upgrade reaches the apply", || async {
            applies
                .get("rbac-eks-controlplane-apply")
                .await
                .ok()
                .filter(|a| {
                    a.spec
                        .variables
                        .get("kubernetes_version")
                        .map(String::as_str)
                        == Some("1.32")
                })
        })
        .await;
        // ClusterClass templates get their status.
        w.apply(include_str!("../samples/clusterclass/templates.yaml"))
            .await;
        let cpt: Api<CaptControlPlaneTemplate> = Api::namespaced(client.clone(), "default");
        let cct: Api<CAPTClusterTemplate> = Api::namespaced(client.clone(), "default");
        eventually(30, "template statuses", || async {
            let a = cpt.get("eks-controlplane").await.ok()?.status?;
            let b = cct.get("eks-cluster").await.ok()?.status?;
            (!a.conditions.is_empty() && !b.conditions.is_empty()).then_some(())
        })
        .await;

        // Rotation: a new token in the connection secret rewrites the kubeconfig secret.
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
        let old = secrets
            .get("rbac-kubeconfig")
            .await
            .expect("kubeconfig")
            .data;
        let conn = secrets
            .get("rbac-eks-connection")
            .await
            .expect("connection");
        let kc = String::from_utf8(conn.data.unwrap()["kubeconfig"].0.clone()).unwrap();
        let rotated = kc.replacen("k8s-aws-v1.", "k8s-aws-v1.rotated", 1);
        assert_ne!(kc, rotated, "the kubeconfig carries an EKS token");
        secrets
            .patch(
                "rbac-eks-connection",
                &PatchParams::default(),
                &Patch::Merge(&json!({"stringData": {"kubeconfig": rotated}})),
            )
            .await
            .expect("rotate");
        eventually(30, "kubeconfig secret rewritten", || async {
            let now = secrets.get("rbac-kubeconfig").await.ok()?.data;
            (now != old).then_some(())
        })
        .await;

        // A template in use is kept (its status says by whom) until its cluster is gone.
        let templates: Api<WorkspaceTemplate> = Api::namespaced(client.clone(), "default");
        templates
            .delete("vpc-template", &DeleteParams::default())
            .await
            .expect("delete template");
        eventually(30, "in-use template status", || async {
            let st = templates.get("vpc-template").await.ok()?.status?;
            st.conditions
                .iter()
                .any(|c| c.status == "True")
                .then_some(())
        })
        .await;

        let clusters: Api<capt::api::Cluster> = Api::namespaced(client.clone(), "default");
        clusters
            .delete("rbac", &DeleteParams::default())
            .await
            .expect("delete");
        eventually(60, "cluster gone", || async {
            clusters
                .get_opt("rbac")
                .await
                .ok()
                .and_then(|c| c.is_none().then_some(()))
        })
        .await;
        eventually(30, "template released", || async {
            templates
                .get_opt("vpc-template")
                .await
                .ok()
                .and_then(|t| t.is_none().then_some(()))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(r) = w.running.take() {
            r.shutdown(Duration::from_secs(5)).await;
        }
        let metrics = w.metrics.clone();
        w.stop().await;

        let used = used(&metrics);
        let granted = granted();
        let missing: Vec<&Grant> = used.difference(&granted).collect();
        let implied = implied();
        let extra: Vec<&Grant> = granted
            .iter()
            .filter(|g| !used.contains(*g) && !implied.contains(*g))
            .collect();
        assert!(
            missing.is_empty(),
            "requests the role does not grant: {missing:?}\nused: {used:?}"
        );
        assert!(
            extra.is_empty(),
            "grants no request uses: {extra:?}\nused: {used:?}"
        );
    });
}
