//! Cluster API contract end to end: a template edit reaches the Workspaces of its clusters, a
//! terminal Workspace error recovers when the Workspace does, ClusterClass-style names share one
//! set of variables, and an infrastructure-only install becomes ready without the control-plane CRDs.

mod support;

use std::time::Duration;

use capt::api::{CAPTControlPlane, CaptControlPlaneTemplate, Workspace, WorkspaceTemplateApply};
use capt::controllers::manager::{self, Controllers, ManagerConfig};
use capt::telemetry::Metrics;
use capt_load::{kubesim, tfsim};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

fn ready_cp(c: &CAPTControlPlane) -> bool {
    c.status.as_ref().is_some_and(|s| s.ready)
}

async fn merge<K>(api: &Api<K>, name: &str, patch: serde_json::Value) -> K
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch {name}: {e}"))
}

#[test]
fn a_template_edit_reaches_every_workspace_and_each_control_plane_gets_its_kubeconfig_apply() {
    capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        let names = ["edit-a", "edit-b", "edit-c"];
        for n in names {
            w.apply(&cluster_yaml(n, "1.31")).await;
        }
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.client.clone(), "default");
        let workspaces: Api<Workspace> = Api::all(w.client.clone());
        let dyn_workspaces: Api<kube::api::DynamicObject> = Api::all_with(
            w.client.clone(),
            &kube::discovery::ApiResource::erase::<Workspace>(&()),
        );
        for n in names {
            eventually(60, "control plane ready", || async {
                cps.get(n).await.ok().filter(ready_cp)
            })
            .await;
            eventually(30, "kubeconfig apply", || async {
                applies
                    .get_opt(&format!("{n}-kubeconfig-apply"))
                    .await
                    .ok()
                    .flatten()
            })
            .await;
        }
        let before: Vec<i64> = {
            let mut v = Vec::new();
            for n in names {
                let ws = workspaces
                    .get(&format!("{n}-vpc"))
                    .await
                    .expect("vpc workspace");
                v.push(ws.metadata.generation.unwrap_or_default());
            }
            v
        };

        // Add a variable to the shared VPC template: every VPC Workspace is re-rendered.
        let templates: Api<capt::api::WorkspaceTemplate> =
            Api::namespaced(w.client.clone(), "default");
        let mut t = templates.get("vpc-template").await.expect("template");
        let mut spec = serde_json::to_value(&t.spec).unwrap();
        spec["template"]["spec"]["forProvider"]["vars"]
            .as_array_mut()
            .expect("vars")
            .push(json!({"key": "owner", "value": "team-${cluster_name}"}));
        t.spec = serde_json::from_value(spec).unwrap();
        templates
            .replace("vpc-template", &Default::default(), &t)
            .await
            .expect("edit template");
        for (n, g) in names.iter().zip(before) {
            let ws = eventually(30, "re-rendered VPC workspace", || async {
                workspaces
                    .get(&format!("{n}-vpc"))
                    .await
                    .ok()
                    .filter(|ws| ws.metadata.generation.unwrap_or_default() > g)
            })
            .await;
            let full = dyn_workspaces.get(&ws.name_any()).await.expect("workspace");
            let vars = full.data["spec"]["forProvider"]["vars"].clone();
            assert!(
                vars.as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["key"] == "owner" && v["value"] == format!("team-{n}")),
                "{n}: {vars}"
            );
        }
        w.stop().await;
    });
}

#[test]
fn a_terminal_workspace_error_recovers_when_the_workspace_does() {
    capt::actors::block_on(async {
        let tf = tfsim::Config {
            delay: tfsim::Delay::Fixed(Duration::from_millis(1500)),
            ..fast_tfsim()
        };
        let w = World::start(tf).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        w.apply(&cluster_yaml("heal", "1.31")).await;
        let workspaces: Api<Workspace> = Api::all(w.client.clone());
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        let eks = "heal-eks-controlplane";
        eventually(30, "EKS workspace", || async {
            workspaces.get_opt(eks).await.ok().flatten()
        })
        .await;
        merge(
            &workspaces,
            eks,
            json!({"metadata": {"annotations": {"tfsim.capt.dev/fault": "apply-error"}}}),
        )
        .await;
        let failed = eventually(30, "control plane failed", || async {
            cps.get("heal").await.ok().filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.phase == Some(capt::api::ControlPlanePhase::Failed))
            })
        })
        .await;
        let st = failed.status.unwrap();
        assert_eq!(
            st.failure_reason, None,
            "recoverable: not for Cluster API to keep"
        );
        // The fix happens outside the spec: the Workspace heals, the control plane follows.
        merge(
            &workspaces,
            eks,
            json!({"metadata": {"annotations": {"tfsim.capt.dev/fault": null}}}),
        )
        .await;
        let cp = eventually(30, "control plane ready again", || async {
            cps.get("heal").await.ok().filter(ready_cp)
        })
        .await;
        assert_eq!(
            cp.spec.version, failed.spec.version,
            "no spec change was needed"
        );
        w.stop().await;
    });
}

#[test]
fn clusterclass_names_share_the_cluster_variables() {
    capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        let yaml = cluster_yaml("cc1", "v1.31.2")
            .replace(
                "kind: CAPTCluster\n    name: cc1",
                "kind: CAPTCluster\n    name: cc1-infra-x7k2p",
            )
            .replace(
                "kind: CAPTCluster\nmetadata:\n  name: cc1",
                "kind: CAPTCluster\nmetadata:\n  name: cc1-infra-x7k2p",
            )
            .replace(
                "kind: CAPTControlPlane\n    name: cc1",
                "kind: CAPTControlPlane\n    name: cc1-cp-q9z4m",
            )
            .replace(
                "kind: CAPTControlPlane\nmetadata:\n  name: cc1",
                "kind: CAPTControlPlane\nmetadata:\n  name: cc1-cp-q9z4m",
            );
        assert!(
            yaml.contains("cc1-infra-x7k2p") && yaml.contains("cc1-cp-q9z4m"),
            "{yaml}"
        );
        w.apply(&yaml).await;
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.client.clone(), "default");
        let cp = eventually(60, "control plane ready", || async {
            cps.get("cc1-cp-q9z4m").await.ok().filter(ready_cp)
        })
        .await;
        let vpc = applies
            .get("cc1-vpc")
            .await
            .expect("VPC apply named after the Cluster");
        let eks = applies
            .get("cc1-cp-q9z4m-eks-controlplane-apply")
            .await
            .expect("EKS apply");
        assert_eq!(vpc.spec.variables["cluster_name"], "cc1");
        assert_eq!(eks.spec.variables["cluster_name"], "cc1");
        assert_eq!(eks.spec.variables["kubernetes_version"], "1.31");
        assert_eq!(vpc.spec.variables["region"], "ap-northeast-1");
        assert_eq!(cp.status.unwrap().version.as_deref(), Some("v1.31.2"));
        w.stop().await;
    });
}

async fn bare_server(control_plane_crds: bool) -> (kubesim::Handle, Client) {
    let server = kubesim::start(kubesim::Config::default())
        .await
        .expect("kubesim");
    let crds: String = capt::api::crds()
        .iter()
        .filter(|c| control_plane_crds || c.spec.group != "controlplane.cluster.x-k8s.io")
        .map(|c| format!("---\n{}", capt::api::crd_yaml(c).unwrap()))
        .collect();
    server.install_crds_yaml(&crds).expect("crds");
    support::install_simulator_crds(&server);
    let client = server.client();
    (server, client)
}

#[test]
fn an_infrastructure_only_install_becomes_ready_without_control_plane_crds() {
    capt::actors::block_on(async {
        let (_server, client) = bare_server(false).await;
        let running = manager::start(
            client,
            Metrics::new(),
            ManagerConfig {
                controllers: Controllers {
                    infrastructure: true,
                    control_plane: false,
                },
                ..ManagerConfig::default()
            },
        );
        tokio::time::timeout(Duration::from_secs(20), running.gate.wait())
            .await
            .unwrap_or_else(|_| panic!("not ready; waiting for {:?}", running.gate.missing()));
        assert!(running.gate.missing().is_empty());
        running.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn control_plane_templates_are_reconciled() {
    capt::actors::block_on(async {
        let (_server, client) = bare_server(true).await;
        let running = manager::start(client.clone(), Metrics::new(), ManagerConfig::default());
        tokio::time::timeout(Duration::from_secs(20), running.gate.wait())
            .await
            .expect("caches sync");
        let api: Api<CaptControlPlaneTemplate> = Api::namespaced(client, "default");
        let t: CaptControlPlaneTemplate = serde_yaml::from_str(
            include_str!("../samples/clusterclass/templates.yaml")
                .split("\n---\n")
                .find(|d| d.contains("kind: CaptControlPlaneTemplate"))
                .expect("sample"),
        )
        .expect("template");
        api.create(&Default::default(), &t).await.expect("create");
        let seen = eventually(20, "template status", || async {
            api.get("eks-controlplane")
                .await
                .ok()
                .filter(|t| t.status.as_ref().is_some_and(|s| !s.conditions.is_empty()))
        })
        .await;
        let name = seen.name_any();
        let conds = seen.status.unwrap().conditions;
        assert!(
            conds.iter().any(|c| c.status == "False"),
            "the referenced WorkspaceTemplate does not exist: {conds:?}"
        );
        assert_eq!(name, "eks-controlplane");
        running.shutdown(Duration::from_secs(5)).await;
    });
}
