//! Shared harness of the tfsim integration tests: kubesim + tfsim, polling helpers, Workspace fixtures.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use capt_load::kubesim;
use capt_load::tfsim::{self, Delay};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use serde_json::{Value, json};

pub const TIMEOUT: Duration = Duration::from_secs(20);

pub struct Env {
    pub sim: kubesim::Handle,
    pub client: kube::Client,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Env {
    pub async fn start(config: tfsim::Config) -> Env {
        let sim = kubesim::start(kubesim::Config::default())
            .await
            .expect("start kubesim");
        sim.install_crds_yaml(tfsim::WORKSPACE_CRD_YAML)
            .expect("install Workspace CRD");
        let client = sim.client();
        let task = tokio::spawn(tfsim::run(client.clone(), config));
        Env { sim, client, task }
    }

    /// Stops tfsim (abort, no graceful shutdown); the API server keeps running.
    pub fn kill_tfsim(&self) {
        self.task.abort();
    }

    /// Starts a new tfsim against the same API server.
    pub fn start_tfsim(&mut self, config: tfsim::Config) {
        self.task = tokio::spawn(tfsim::run(self.client.clone(), config));
    }

    pub async fn stop(self) {
        self.task.abort();
        self.sim.shutdown().await;
    }

    pub fn workspaces(&self) -> Api<DynamicObject> {
        Api::all_with(self.client.clone(), &tfsim::api_resource())
    }

    pub fn secrets(&self, ns: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), ns)
    }

    pub async fn namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create namespace {name}: {e}"),
        }
    }

    pub async fn create(&self, body: Value) -> DynamicObject {
        let mut obj: DynamicObject = serde_json::from_value(body).expect("workspace json");
        obj.types = Some(kube::core::TypeMeta {
            api_version: "tf.upbound.io/v1beta1".into(),
            kind: "Workspace".into(),
        });
        self.workspaces()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create workspace")
    }

    /// Polls the Workspace until `pred` holds; panics with the last state on timeout.
    pub async fn wait_ws(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&DynamicObject) -> bool,
    ) -> DynamicObject {
        let api = &self.workspaces();
        let pred = &pred;
        let last = &RefCell::new(None);
        let found = poll(move || async move {
            match api.get_opt(name).await {
                Ok(Some(o)) if pred(&o) => Some(o),
                Ok(Some(o)) => {
                    *last.borrow_mut() = Some(o);
                    None
                }
                _ => None,
            }
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "timed out waiting for workspace {name}: {what}; last status: {}",
                last.take()
                    .and_then(|o| o.data.get("status").cloned())
                    .unwrap_or(Value::Null)
            )
        })
    }

    /// Waits for Synced=False/ReconcileError and returns the Workspace and the condition's message.
    pub async fn wait_reconcile_error(&self, name: &str) -> (DynamicObject, String) {
        let ws = self
            .wait_ws(name, "Synced=False/ReconcileError", |o| {
                cond_is(o, "Synced", "False", "ReconcileError")
            })
            .await;
        let msg = cond(&ws, "Synced")
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default()
            .to_string();
        (ws, msg)
    }

    pub async fn wait_gone(&self, name: &str) {
        let api = &self.workspaces();
        let gone =
            poll(move || async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) })
                .await;
        if gone.is_none() {
            panic!("workspace {name} was not deleted");
        }
    }

    pub async fn wait_secret(&self, ns: &str, name: &str) -> BTreeMap<String, Vec<u8>> {
        let api = &self.secrets(ns);
        poll(move || async move {
            let s = api.get_opt(name).await.ok().flatten()?;
            Some(
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
            )
        })
        .await
        .unwrap_or_else(|| panic!("secret {ns}/{name} never appeared"))
    }

    /// Merge-patches Workspace `name`; `what` names the patch in the panic message.
    pub async fn merge(&self, name: &str, patch: Value, what: &str) {
        self.workspaces()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect(what);
    }
}

/// Calls `probe` every 25ms until it yields a value; `None` once `TIMEOUT` has passed.
pub async fn poll<T, F, Fut>(probe: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if let Some(v) = probe().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

pub fn cond<'a>(o: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    o.data
        .get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

pub fn cond_is(o: &DynamicObject, type_: &str, status: &str, reason: &str) -> bool {
    cond(o, type_).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

pub fn ready(o: &DynamicObject) -> bool {
    cond_is(o, "Ready", "True", "Available")
}

pub fn outputs(o: &DynamicObject) -> serde_json::Map<String, Value> {
    o.data["status"]["atProvider"]["outputs"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

pub fn fast() -> tfsim::Config {
    tfsim::Config {
        delay: Delay::Fixed(Duration::from_millis(150)),
        destroy_delay: Delay::Fixed(Duration::from_millis(150)),
        seed: 42,
        concurrency: 4,
        ..Default::default()
    }
}

/// An EKS control plane module declaring the outputs the tests read (the CA non-sensitive, so it shows in
/// status; the kubeconfig sensitive).
pub const EKS_MODULE: &str = r#"
variable "cluster_name" {
  type = string
}
variable "kubernetes_version" {
  type = string
}
variable "region" {
  type = string
}
module "eks" {
  source          = "terraform-aws-modules/eks/aws"
  cluster_name    = var.cluster_name
  cluster_version = var.kubernetes_version
}
module "karpenter" {
  source       = "terraform-aws-modules/eks/aws//modules/karpenter"
  cluster_name = module.eks.cluster_name
}
data "aws_eks_cluster_auth" "this" {
  name = module.eks.cluster_name
}
output "cluster_endpoint" {
  value = module.eks.cluster_endpoint
}
output "cluster_name" {
  value = module.eks.cluster_name
}
output "cluster_version" {
  value = module.eks.cluster_version
}
output "cluster_certificate_authority_data" {
  value = module.eks.cluster_certificate_authority_data
}
output "oidc_provider_arn" {
  value = module.eks.oidc_provider_arn
}
output "karpenter_iam_role_arn" {
  value = module.karpenter.iam_role_arn
}
output "karpenter_queue_name" {
  value = module.karpenter.queue_name
}
output "karpenter" {
  value = {
    service_account = { annotations = { "eks.amazonaws.com/role-arn" = module.karpenter.iam_role_arn } }
    ec2_node_class  = { role = module.karpenter.node_iam_role_name }
  }
}
output "kubeconfig" {
  sensitive = true
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = var.cluster_name
    clusters        = [{ name = var.cluster_name, cluster = { server = module.eks.cluster_endpoint, certificate-authority-data = module.eks.cluster_certificate_authority_data } }]
    contexts        = [{ name = var.cluster_name, context = { cluster = var.cluster_name, user = var.cluster_name } }]
    users           = [{ name = var.cluster_name, user = { token = data.aws_eks_cluster_auth.this.token } }]
  })
}
"#;

/// An inline Workspace `name` with `module` and `vars`, publishing to `secret` in `ns` when given.
pub fn inline_workspace(
    name: &str,
    module: &str,
    vars: &[(&str, &str)],
    secret: Option<(&str, &str)>,
) -> Value {
    let vars: Vec<Value> = vars
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect();
    let mut ws = json!({
        "metadata": { "name": name },
        "spec": { "forProvider": { "source": "Inline", "module": module, "vars": vars } }
    });
    if let Some((ns, secret)) = secret {
        ws["spec"]["writeConnectionSecretToRef"] = json!({ "name": secret, "namespace": ns });
    }
    ws
}

/// Workspace `{cluster}-eks-controlplane` ([`EKS_MODULE`]), publishing to Secret `{cluster}-eks-connection` in `ns`.
pub fn eks_workspace(cluster: &str, ns: &str, version: &str, fault: Option<&str>) -> Value {
    let mut ws = inline_workspace(
        &format!("{cluster}-eks-controlplane"),
        EKS_MODULE,
        &[
            ("cluster_name", cluster),
            ("kubernetes_version", version),
            ("region", "ap-northeast-1"),
        ],
        Some((ns, &format!("{cluster}-eks-connection"))),
    );
    if let Some(f) = fault {
        ws["metadata"]["annotations"] = json!({ tfsim::FAULT_ANNOTATION: f });
    }
    ws
}
