//! Template references across namespaces, end to end: an apply may use a template of its own
//! namespace or of the shared template namespace; one of any other namespace is refused (a
//! condition and a Warning Event, no Workspace) until a WorkspaceTemplateGrant there allows it; a
//! revoked grant stops new renders and leaves the existing Workspace as it is.

mod support;

use capt::api::WorkspaceTemplateApply;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

const PLATFORM: &str = "platform";

fn template_yaml(ns: &str, note: &str) -> String {
    format!(
        r#"apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: WorkspaceTemplate
metadata:
  name: net
  namespace: {ns}
spec:
  template:
    spec:
      providerConfigRef:
        name: aws-provider-config
      forProvider:
        source: Inline
        vars:
        - key: name
          value: ${{name}}
        - key: note
          value: {note}
        module: |
          variable "name" {{
            type = string
          }}
          variable "note" {{
            type = string
          }}
          output "vpc_id" {{
            value = "vpc-${{var.name}}"
          }}
"#
    )
}

fn apply_yaml(ns: &str, name: &str, template_ns: &str) -> String {
    format!(
        r#"apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: WorkspaceTemplateApply
metadata:
  name: {name}
  namespace: {ns}
spec:
  templateRef:
    name: net
    namespace: {template_ns}
  variables:
    name: {ns}-{name}
"#
    )
}

fn grant_yaml(name: &str, from_ns: &str) -> String {
    format!(
        r#"apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: WorkspaceTemplateGrant
metadata:
  name: {name}
  namespace: {PLATFORM}
spec:
  from:
  - kind: WorkspaceTemplateApply
    namespace: {from_ns}
  to:
  - name: net
"#
    )
}

fn rendered(a: &WorkspaceTemplateApply) -> Option<(String, String)> {
    let c = a
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Rendered")?;
    Some((c.status.clone(), c.reason.clone()))
}

struct Env {
    client: kube::Client,
}

impl Env {
    fn applies(&self, ns: &str) -> Api<WorkspaceTemplateApply> {
        Api::namespaced(self.client.clone(), ns)
    }

    fn workspaces(&self) -> Api<DynamicObject> {
        let ar = ApiResource {
            group: "tf.upbound.io".into(),
            version: "v1beta1".into(),
            api_version: "tf.upbound.io/v1beta1".into(),
            kind: "Workspace".into(),
            plural: "workspaces".into(),
        };
        Api::all_with(self.client.clone(), &ar)
    }

    /// The spec of the apply's Workspace, once it exists.
    async fn workspace_spec(&self, ns: &str, name: &str) -> Option<Value> {
        let a = self.applies(ns).get(name).await.ok()?;
        let ws = a.status?.workspace_name?;
        let obj = self.workspaces().get_opt(&ws).await.ok()??;
        obj.data.get("spec").cloned()
    }

    async fn wait_rendered(&self, ns: &str, name: &str, want: (&str, &str)) {
        let what = format!("{ns}/{name} Rendered {want:?}");
        eventually(30, &what, || async {
            let a = self.applies(ns).get(name).await.ok()?;
            (rendered(&a)? == (want.0.to_string(), want.1.to_string())).then_some(())
        })
        .await;
    }
}

fn note(spec: &Value) -> Option<String> {
    spec["forProvider"]["vars"]
        .as_array()?
        .iter()
        .find(|v| v["key"] == "note")
        .and_then(|v| v["value"].as_str().map(String::from))
}

#[test]
fn cross_namespace_templates_need_a_grant() {
    capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        let env = Env {
            client: w.client.clone(),
        };
        for ns in ["team-a", "team-b", PLATFORM] {
            w.apply(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
            ))
            .await;
        }
        for ns in ["team-a", "default", PLATFORM] {
            w.apply(&template_yaml(ns, "v1")).await;
        }
        w.apply(&apply_yaml("team-a", "own", "team-a")).await;
        w.apply(&apply_yaml("team-a", "shared", "default")).await;
        w.apply(&apply_yaml("team-a", "cross", PLATFORM)).await;
        // team-b is granted from the start: its apply shows template changes arriving.
        w.apply(&grant_yaml("team-b", "team-b")).await;
        w.apply(&apply_yaml("team-b", "witness", PLATFORM)).await;

        for name in ["own", "shared"] {
            w_spec(&env, "team-a", name).await;
        }
        w_spec(&env, "team-b", "witness").await;
        env.wait_rendered("team-a", "cross", ("False", "RefNotPermitted"))
            .await;
        let cross = env.applies("team-a").get("cross").await.expect("cross");
        assert!(
            cross
                .status
                .as_ref()
                .and_then(|s| s.workspace_name.clone())
                .is_none(),
            "a refused apply renders no Workspace"
        );
        let events: Api<Event> = Api::namespaced(env.client.clone(), "team-a");
        let warning = eventually(30, "RefNotPermitted event", || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().find(|e| {
                e.reason.as_deref() == Some("RefNotPermitted")
                    && e.involved_object.name.as_deref() == Some("cross")
            })
        })
        .await;
        assert_eq!(warning.type_.as_deref(), Some("Warning"));
        let msg = warning.message.unwrap_or_default();
        assert!(
            msg.contains("WorkspaceTemplateApply team-a/cross")
                && msg.contains("platform/net")
                && msg.contains("WorkspaceTemplateGrant"),
            "{msg}"
        );

        // A grant in the template's namespace lets the apply render.
        w.apply(&grant_yaml("team-a", "team-a")).await;
        env.wait_rendered("team-a", "cross", ("True", "Applied"))
            .await;
        let before = w_spec(&env, "team-a", "cross").await;
        assert_eq!(note(&before).as_deref(), Some("v1"));

        // Revoked: the apply reports it, and a template change no longer reaches its Workspace.
        let grants: Api<DynamicObject> = Api::namespaced_with(
            env.client.clone(),
            PLATFORM,
            &ApiResource::erase::<capt::api::WorkspaceTemplateGrant>(&()),
        );
        grants
            .delete("team-a", &DeleteParams::default())
            .await
            .expect("revoke");
        env.wait_rendered("team-a", "cross", ("False", "RefNotPermitted"))
            .await;
        let templates: Api<capt::api::WorkspaceTemplate> =
            Api::namespaced(env.client.clone(), PLATFORM);
        let mut t = templates.get("net").await.expect("template");
        t.spec.template.spec.for_provider.vars[1].value = "v2".into();
        templates
            .patch(
                "net",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": t.spec})),
            )
            .await
            .expect("edit template");
        eventually(30, "template change reaches the granted apply", || async {
            let spec = env.workspace_spec("team-b", "witness").await?;
            (note(&spec).as_deref() == Some("v2")).then_some(())
        })
        .await;
        let after = env
            .workspace_spec("team-a", "cross")
            .await
            .expect("the revoked apply's Workspace is kept");
        assert_eq!(after, before, "the revoked apply's Workspace is untouched");
        env.wait_rendered("team-a", "cross", ("False", "RefNotPermitted"))
            .await;
        w.stop().await;
    });
}

/// A cluster's objects in `team-a` using the sample templates kept in `platform`.
fn tenant_cluster_yaml() -> String {
    cluster_yaml("tenant", "1.31")
        .replace(
            "name: vpc-template\n    namespace: default",
            "name: vpc-template\n    namespace: platform",
        )
        .replace(
            "name: eks-controlplane-template\n    namespace: default",
            "name: eks-controlplane-template\n    namespace: platform",
        )
        .replace("namespace: default", "namespace: team-a")
}

#[test]
fn clusters_and_control_planes_need_a_grant_that_covers_their_applies() {
    capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        let client = w.client.clone();
        for ns in ["team-a", PLATFORM] {
            w.apply(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
            ))
            .await;
        }
        for t in TEMPLATES {
            w.apply(&t.replace("namespace: default", "namespace: platform"))
                .await;
        }
        let yaml = tenant_cluster_yaml();
        assert_eq!(yaml.matches("namespace: platform").count(), 2, "{yaml}");
        w.apply(&yaml).await;

        let ccs: Api<capt::api::CAPTCluster> = Api::namespaced(client.clone(), "team-a");
        let cps: Api<capt::api::CAPTControlPlane> = Api::namespaced(client.clone(), "team-a");
        eventually(30, "both refused", || async {
            let cc = ccs.get("tenant").await.ok()?.status?;
            let cp = cps.get("tenant").await.ok()?.status?;
            let refused = |c: &[capt::api::Condition], t: &str| {
                c.iter()
                    .any(|c| c.type_ == t && c.status == "False" && c.reason == "RefNotPermitted")
            };
            (refused(&cc.conditions, "VPCReady") && refused(&cp.conditions, "Ready")).then_some(())
        })
        .await;
        let applies = Api::<WorkspaceTemplateApply>::namespaced(client.clone(), "team-a");
        let names = |l: Vec<WorkspaceTemplateApply>| -> Vec<String> {
            l.into_iter()
                .map(|a| kube::ResourceExt::name_any(&a))
                .collect()
        };
        let before = applies.list(&ListParams::default()).await.expect("list");
        assert!(
            names(before.items).is_empty(),
            "no apply from a refused reference"
        );

        // One grant for the two kinds; the applies they create are covered by it.
        w.apply(
            r#"apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: WorkspaceTemplateGrant
metadata:
  name: team-a-clusters
  namespace: platform
spec:
  from:
  - kind: CAPTCluster
    namespace: team-a
  - kind: CAPTControlPlane
    namespace: team-a
  to:
  - name: vpc-template
  - name: eks-controlplane-template
"#,
        )
        .await;
        let env = Env {
            client: client.clone(),
        };
        for apply in ["tenant-vpc", "tenant-eks-controlplane-apply"] {
            env.wait_rendered("team-a", apply, ("True", "Applied"))
                .await;
        }
        w.stop().await;
    });
}

async fn w_spec(env: &Env, ns: &str, name: &str) -> Value {
    let what = format!("Workspace of {ns}/{name}");
    eventually(30, &what, || env.workspace_spec(ns, name)).await
}
