//! tfsim against the in-memory API server: apply, outputs, connection secret, spec change, deletion, faults.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use capt_load::kubesim;
use capt_load::tfsim::{self, Delay, FaultKind};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(20);

struct Env {
    sim: kubesim::Handle,
    client: kube::Client,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Env {
    async fn start(config: tfsim::Config) -> Env {
        let sim = kubesim::start(kubesim::Config::default())
            .await
            .expect("start kubesim");
        sim.install_crds_yaml(tfsim::WORKSPACE_CRD_YAML)
            .expect("install Workspace CRD");
        let client = sim.client();
        let task = tokio::spawn(tfsim::run(client.clone(), config));
        Env { sim, client, task }
    }

    async fn stop(self) {
        self.task.abort();
        self.sim.shutdown().await;
    }

    fn workspaces(&self) -> Api<DynamicObject> {
        Api::all_with(self.client.clone(), &tfsim::api_resource())
    }

    fn secrets(&self, ns: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn namespace(&self, name: &str) {
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

    async fn create(&self, body: Value) -> DynamicObject {
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
    async fn wait_ws(
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
    async fn wait_reconcile_error(&self, name: &str) -> (DynamicObject, String) {
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

    async fn wait_gone(&self, name: &str) {
        let api = &self.workspaces();
        let gone =
            poll(move || async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) })
                .await;
        if gone.is_none() {
            panic!("workspace {name} was not deleted");
        }
    }

    async fn wait_secret(&self, ns: &str, name: &str) -> BTreeMap<String, Vec<u8>> {
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
    async fn merge(&self, name: &str, patch: Value, what: &str) {
        self.workspaces()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect(what);
    }
}

/// Calls `probe` every 25ms until it yields a value; `None` once `TIMEOUT` has passed.
async fn poll<T, F, Fut>(probe: F) -> Option<T>
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

fn cond<'a>(o: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    o.data
        .get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn cond_is(o: &DynamicObject, type_: &str, status: &str, reason: &str) -> bool {
    cond(o, type_).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

fn ready(o: &DynamicObject) -> bool {
    cond_is(o, "Ready", "True", "Available")
}

fn outputs(o: &DynamicObject) -> serde_json::Map<String, Value> {
    o.data["status"]["atProvider"]["outputs"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn fast() -> tfsim::Config {
    tfsim::Config {
        delay: Delay::Fixed(Duration::from_millis(150)),
        destroy_delay: Delay::Fixed(Duration::from_millis(150)),
        seed: 42,
        concurrency: 4,
        ..Default::default()
    }
}

/// Workspace `{cluster}-eks-controlplane`, publishing to Secret `{cluster}-eks-connection` in `ns`.
fn eks_workspace(cluster: &str, ns: &str, version: &str, fault: Option<&str>) -> Value {
    let mut annotations = serde_json::Map::new();
    if let Some(f) = fault {
        annotations.insert(tfsim::FAULT_ANNOTATION.into(), json!(f));
    }
    json!({
        "metadata": { "name": format!("{cluster}-eks-controlplane"), "annotations": annotations },
        "spec": {
            "forProvider": {
                "source": "Inline",
                "module": "module \"eks\" {\n  source = \"terraform-aws-modules/eks/aws\"\n}\n",
                "vars": [
                    { "key": "cluster_name", "value": cluster },
                    { "key": "kubernetes_version", "value": version },
                    { "key": "region", "value": "ap-northeast-1" }
                ]
            },
            "writeConnectionSecretToRef": { "name": format!("{cluster}-eks-connection"), "namespace": ns }
        }
    })
}

fn decode_pem_certificate(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .collect();
    let der = STANDARD.decode(body).expect("PEM body is base64");
    assert!(
        der.len() > 100 && der[0] == 0x30,
        "certificate DER is a SEQUENCE"
    );
    der
}

#[tokio::test]
async fn eks_workspace_becomes_ready_with_outputs_and_secret() {
    let env = Env::start(fast()).await;
    env.namespace("team-a").await;
    env.create(eks_workspace("c1", "team-a", "1.31", None))
        .await;

    let creating = env
        .wait_ws("c1-eks-controlplane", "finalizer", |o| {
            o.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == tfsim::FINALIZER)
        })
        .await;
    assert!(!ready(&creating) || cond(&creating, "Ready").is_some());

    let ws = env
        .wait_ws("c1-eks-controlplane", "Ready=True", ready)
        .await;
    assert!(cond_is(&ws, "Synced", "True", "ReconcileSuccess"));
    assert_eq!(
        cond(&ws, "Ready").and_then(|c| c["observedGeneration"].as_i64()),
        Some(1)
    );
    assert!(
        ws.data["status"]["atProvider"]["checksum"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    let out = outputs(&ws);
    let endpoint = out["cluster_endpoint"]
        .as_str()
        .expect("cluster_endpoint")
        .to_string();
    let host = endpoint
        .strip_prefix("https://")
        .and_then(|h| h.strip_suffix(".gr7.ap-northeast-1.eks.amazonaws.com"))
        .expect("EKS endpoint shape");
    assert_eq!(host.len(), 32);
    assert!(host.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(out["cluster_name"], "c1");
    assert_eq!(out["cluster_version"], "1.31");
    assert!(
        out["oidc_provider_arn"]
            .as_str()
            .is_some_and(|s| s.starts_with("arn:aws:iam::"))
    );
    assert!(
        out["karpenter_iam_role_arn"]
            .as_str()
            .is_some_and(|s| s.contains(":role/"))
    );
    assert!(out["karpenter_queue_name"].is_string());
    assert!(
        out["karpenter"]["service_account"]["annotations"]["eks.amazonaws.com/role-arn"]
            .is_string()
    );
    assert!(
        !out.contains_key("kubeconfig"),
        "sensitive outputs stay out of status"
    );
    assert_eq!(
        endpoint,
        tfsim::eks_endpoint(42, "c1-eks-controlplane", "ap-northeast-1"),
        "endpoint is deterministic from seed and name"
    );

    let data = env.wait_secret("team-a", "c1-eks-connection").await;
    assert_eq!(data["cluster_endpoint"], endpoint.as_bytes());
    let ca_b64 =
        String::from_utf8(data["cluster_certificate_authority_data"].clone()).expect("utf8");
    assert_eq!(out["cluster_certificate_authority_data"], ca_b64.as_str());
    let pem = String::from_utf8(STANDARD.decode(&ca_b64).expect("CA is base64")).expect("PEM utf8");
    decode_pem_certificate(&pem);
    assert_eq!(
        data["karpenter"][0], b'{',
        "non-string outputs are JSON-encoded"
    );

    let kubeconfig_text = String::from_utf8(data["kubeconfig"].clone()).expect("utf8");
    let kc: kube::config::Kubeconfig =
        serde_yaml::from_str(&kubeconfig_text).expect("kubeconfig parses");
    let cluster = kc.clusters[0].cluster.clone().expect("cluster entry");
    assert_eq!(cluster.server.as_deref(), Some(endpoint.as_str()));
    assert_eq!(
        cluster.certificate_authority_data.as_deref(),
        Some(ca_b64.as_str())
    );
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    kube::Client::try_from(cfg).expect("client with the generated CA as trust root");

    let secret = env
        .secrets("team-a")
        .get("c1-eks-connection")
        .await
        .expect("secret");
    assert_eq!(secret.type_.as_deref(), Some(tfsim::CONNECTION_SECRET_TYPE));
    env.stop().await;
}

#[tokio::test]
async fn vpc_workspace_outputs() {
    let env = Env::start(fast()).await;
    env.namespace("team-b").await;
    env.create(json!({
        "metadata": { "name": "c2-vpc" },
        "spec": {
            "forProvider": {
                "source": "Inline",
                "module": "module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\n",
                "vars": [{ "key": "name", "value": "c2-vpc" }, { "key": "region", "value": "eu-west-1" }]
            },
            "writeConnectionSecretToRef": { "name": "c2-vpc-connection", "namespace": "team-b" }
        }
    }))
    .await;
    let ws = env.wait_ws("c2-vpc", "Ready=True", ready).await;
    let out = outputs(&ws);
    let vpc_id = out["vpc_id"].as_str().expect("vpc_id");
    assert!(vpc_id.starts_with("vpc-") && vpc_id.len() == 21, "{vpc_id}");
    let private = out["private_subnets"]
        .as_array()
        .expect("private_subnets list");
    let public = out["public_subnets"]
        .as_array()
        .expect("public_subnets list");
    assert_eq!(private.len(), 3);
    assert_eq!(public.len(), 3);
    assert!(
        private
            .iter()
            .all(|s| s.as_str().is_some_and(|s| s.starts_with("subnet-")))
    );
    assert_eq!(out["private_subnet_azs"][0], "eu-west-1a");
    let subnets = out["subnets"].as_array().expect("subnets");
    assert_eq!(subnets.len(), 6);
    assert!(
        subnets
            .iter()
            .all(|s| s["id"].is_string() && s["availability_zone"].is_string())
    );
    assert!(!out.contains_key("vpc_config"), "vpc_config is sensitive");
    let data = env.wait_secret("team-b", "c2-vpc-connection").await;
    let hcl = String::from_utf8(data["vpc_config"].clone()).expect("utf8");
    assert!(hcl.contains(&format!("vpc_id = \"{vpc_id}\"")));
    assert_eq!(data["vpc_id"], vpc_id.as_bytes());
    let subnets_json: Value =
        serde_json::from_slice(&data["private_subnets"]).expect("JSON list in secret");
    assert_eq!(subnets_json.as_array().map(Vec::len), Some(3));
    env.stop().await;
}

#[tokio::test]
async fn spot_role_profiles() {
    let config = tfsim::Config {
        spot_role_exists: false,
        ..fast()
    };
    let env = Env::start(config).await;
    let module = "data \"aws_iam_role\" \"spot\" {\n  name = \"AWSServiceRoleForEC2Spot\"\n}\n";
    env.create(json!({
        "metadata": { "name": "c3-spot-role-check" },
        "spec": { "forProvider": { "source": "Inline", "module": module } }
    }))
    .await;
    env.create(json!({
        "metadata": { "name": "c3-spot-role-create" },
        "spec": { "forProvider": { "source": "Inline", "module": "resource \"aws_iam_service_linked_role\" \"spot\" {}" } }
    }))
    .await;
    let check = env.wait_ws("c3-spot-role-check", "Ready=True", ready).await;
    assert_eq!(outputs(&check)["role_exists"], json!(false));
    let create = env
        .wait_ws("c3-spot-role-create", "Ready=True", ready)
        .await;
    assert!(
        outputs(&create)["role_arn"]
            .as_str()
            .is_some_and(|s| s.ends_with("/AWSServiceRoleForEC2Spot"))
    );
    env.stop().await;
}

#[tokio::test]
async fn spec_change_starts_a_new_apply_cycle() {
    let config = tfsim::Config {
        delay: Delay::Fixed(Duration::from_millis(600)),
        ..fast()
    };
    let env = Env::start(config).await;
    env.namespace("team-c").await;
    env.create(eks_workspace("c4", "team-c", "1.30", None))
        .await;
    let first = env
        .wait_ws("c4-eks-controlplane", "Ready=True", ready)
        .await;
    let checksum1 = first.data["status"]["atProvider"]["checksum"].clone();
    let ca1 = outputs(&first)["cluster_certificate_authority_data"].clone();
    assert_eq!(outputs(&first)["cluster_version"], "1.30");

    let mut spec = eks_workspace("c4", "team-c", "1.31", None)["spec"].clone();
    spec["forProvider"]["vars"][1] = json!({ "key": "kubernetes_version", "value": "1.31" });
    env.merge(
        "c4-eks-controlplane",
        json!({ "spec": { "forProvider": { "vars": spec["forProvider"]["vars"] } } }),
        "patch spec",
    )
    .await;

    let updating = env
        .wait_ws(
            "c4-eks-controlplane",
            "Ready=False/Creating for generation 2",
            |o| {
                cond(o, "Ready").is_some_and(|c| {
                    c["status"] == "False"
                        && c["reason"] == "Creating"
                        && c["observedGeneration"] == 2
                })
            },
        )
        .await;
    assert_eq!(updating.metadata.generation, Some(2));
    let second = env
        .wait_ws("c4-eks-controlplane", "Ready=True for generation 2", |o| {
            ready(o) && cond(o, "Ready").is_some_and(|c| c["observedGeneration"] == 2)
        })
        .await;
    assert_eq!(outputs(&second)["cluster_version"], "1.31");
    assert_ne!(second.data["status"]["atProvider"]["checksum"], checksum1);
    assert_eq!(
        outputs(&second)["cluster_certificate_authority_data"],
        ca1,
        "a cluster keeps its CA"
    );
    env.stop().await;
}

#[tokio::test]
async fn deletion_destroys_then_releases_and_orphan_skips_destroy() {
    let config = tfsim::Config {
        destroy_delay: Delay::Fixed(Duration::from_millis(800)),
        ..fast()
    };
    let env = Env::start(config).await;
    env.namespace("team-d").await;
    env.create(eks_workspace("c5", "team-d", "1.31", None))
        .await;
    env.wait_ws("c5-eks-controlplane", "Ready=True", ready)
        .await;
    env.wait_secret("team-d", "c5-eks-connection").await;

    env.workspaces()
        .delete("c5-eks-controlplane", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_ws("c5-eks-controlplane", "Ready=False/Deleting", |o| {
        o.metadata.deletion_timestamp.is_some() && cond_is(o, "Ready", "False", "Deleting")
    })
    .await;
    env.wait_gone("c5-eks-controlplane").await;
    assert!(
        env.secrets("team-d")
            .get_opt("c5-eks-connection")
            .await
            .expect("get")
            .is_none(),
        "connection secret removed"
    );

    let mut orphan = eks_workspace("c6", "team-d", "1.31", None);
    orphan["spec"]["deletionPolicy"] = json!("Orphan");
    env.create(orphan).await;
    env.wait_ws("c6-eks-controlplane", "Ready=True", ready)
        .await;
    let started = tokio::time::Instant::now();
    env.workspaces()
        .delete("c6-eks-controlplane", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("c6-eks-controlplane").await;
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "Orphan skips the destroy delay (took {:?})",
        started.elapsed()
    );
    env.stop().await;
}

#[tokio::test]
async fn apply_error_fault_by_annotation_and_rule() {
    let config = tfsim::Config {
        faults: vec![("bad-*".to_string(), FaultKind::ApplyError)],
        ..fast()
    };
    let env = Env::start(config).await;
    env.namespace("team-e").await;
    env.create(eks_workspace("c7", "team-e", "1.31", Some("apply-error")))
        .await;
    env.create(eks_workspace("bad", "team-e", "1.31", None))
        .await;
    for name in ["c7-eks-controlplane", "bad-eks-controlplane"] {
        let (ws, msg) = env.wait_reconcile_error(name).await;
        assert!(
            msg.starts_with("apply failed: Error: creating EKS Cluster ("),
            "{msg}"
        );
        assert!(msg.contains("InvalidParameterException"), "{msg}");
        assert!(cond_is(&ws, "Ready", "False", "Creating"));
        assert!(outputs(&ws).is_empty());
    }
    assert!(
        env.secrets("team-e")
            .get_opt("c7-eks-connection")
            .await
            .expect("get")
            .is_none()
    );

    env.merge(
        "c7-eks-controlplane",
        json!({ "metadata": { "annotations": { tfsim::FAULT_ANNOTATION: null } } }),
        "clear fault",
    )
    .await;
    env.wait_ws(
        "c7-eks-controlplane",
        "Ready=True after the fault is cleared",
        |o| ready(o) && cond_is(o, "Synced", "True", "ReconcileSuccess"),
    )
    .await;
    env.stop().await;
}

#[tokio::test]
async fn flap_fault_alternates_ready() {
    let config = tfsim::Config {
        flap_period: Delay::Fixed(Duration::from_millis(300)),
        ..fast()
    };
    let env = Env::start(config).await;
    env.create(eks_workspace("c8", "default", "1.31", Some("flap")))
        .await;
    env.wait_ws("c8-eks-controlplane", "Ready=True", ready)
        .await;
    env.wait_ws("c8-eks-controlplane", "Ready=False/Unavailable", |o| {
        cond_is(o, "Ready", "False", "Unavailable")
    })
    .await;
    env.wait_ws("c8-eks-controlplane", "Ready=True again", ready)
        .await;
    env.stop().await;
}

#[tokio::test]
async fn secret_faults_are_visible_in_the_connection_secret() {
    let env = Env::start(fast()).await;
    env.namespace("team-f").await;
    let cases = [
        ("f1", "secret-missing-kubeconfig"),
        ("f2", "secret-missing-ca"),
        ("f3", "secret-invalid-kubeconfig"),
        ("f4", "secret-no-endpoint"),
        ("f5", "none"),
    ];
    for (cluster, fault) in cases {
        env.create(eks_workspace(cluster, "team-f", "1.31", Some(fault)))
            .await;
    }
    let mut secrets = BTreeMap::new();
    let mut outs = BTreeMap::new();
    for (cluster, _) in cases {
        let ws = env
            .wait_ws(&format!("{cluster}-eks-controlplane"), "Ready=True", ready)
            .await;
        outs.insert(cluster, outputs(&ws));
        secrets.insert(
            cluster,
            env.wait_secret("team-f", &format!("{cluster}-eks-connection"))
                .await,
        );
    }
    assert!(!secrets["f1"].contains_key("kubeconfig"));
    assert!(secrets["f1"].contains_key("cluster_certificate_authority_data"));

    assert!(!secrets["f2"].contains_key("cluster_certificate_authority_data"));
    assert!(secrets["f2"].contains_key("kubeconfig"));

    let bad = String::from_utf8(secrets["f3"]["kubeconfig"].clone()).expect("utf8");
    assert!(serde_yaml::from_str::<kube::config::Kubeconfig>(&bad).is_err());

    assert!(!secrets["f4"].contains_key("cluster_endpoint"));
    assert!(!secrets["f4"].contains_key("kubeconfig"));
    assert!(!outs["f4"].contains_key("cluster_endpoint"));
    assert!(outs["f4"].contains_key("cluster_certificate_authority_data"));

    for key in [
        "kubeconfig",
        "cluster_endpoint",
        "cluster_certificate_authority_data",
    ] {
        assert!(secrets["f5"].contains_key(key), "{key}");
    }
    env.stop().await;
}

#[tokio::test]
async fn missing_secret_namespace_is_a_reconcile_error_until_created() {
    let env = Env::start(fast()).await;
    env.create(eks_workspace("c9", "not-yet", "1.31", None))
        .await;
    let (ws, msg) = env.wait_reconcile_error("c9-eks-controlplane").await;
    assert!(
        msg.starts_with("cannot publish connection details"),
        "{msg}"
    );
    assert!(!ready(&ws));
    env.namespace("not-yet").await;
    env.wait_ws("c9-eks-controlplane", "Ready=True", ready)
        .await;
    env.wait_secret("not-yet", "c9-eks-connection").await;
    env.stop().await;
}
