//! An in-process world for end-to-end tests: the in-memory API server with the CRDs, the
//! provider-terraform and Cluster API simulators, and the controller.
#![allow(dead_code)]

use std::time::Duration;

use capt::controllers::manager::{self, ManagerConfig, Running};
use capt::telemetry::Metrics;
use capt_load::simstack::{self, SimStack};
use capt_load::{capisim, kubesim, tfsim};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::{Client, ResourceExt};

pub const TEMPLATES: [&str; 5] = [
    include_str!("../../samples/workspacetemplates/vpc-template.yaml"),
    include_str!("../../samples/workspacetemplates/eks-controlplane-template.yaml"),
    include_str!("../../samples/workspacetemplates/spot-role-check.yaml"),
    include_str!("../../samples/workspacetemplates/spot-role-create.yaml"),
    include_str!("../../samples/workspacetemplates/eks-kubeconfig-template.yaml"),
];

pub struct World {
    pub server: kubesim::Handle,
    pub client: Client,
    pub running: Option<Running>,
    /// The in-memory API server and the simulators.
    pub sim: SimStack,
    /// The controller's metrics (`capt_api_requests_total` counts its requests).
    pub metrics: Metrics,
}

/// (verb, resource) → count of the controller's API requests, from `capt_api_requests_total`.
pub fn requests(metrics: &Metrics) -> Vec<(String, String, u64)> {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("capt_api_requests_total{"))
        .map(|l| {
            let labels = &l[l.find('{').unwrap() + 1..l.find('}').unwrap()];
            let get = |k: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            let n = l
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            (get("verb"), get("resource"), n as u64)
        })
        .collect()
}

/// The controller's writes so far (create, update, patch, delete).
pub fn writes(metrics: &Metrics) -> u64 {
    requests(metrics)
        .iter()
        .filter(|(v, _, _)| matches!(v.as_str(), "create" | "update" | "patch" | "delete"))
        .map(|(_, _, n)| n)
        .sum()
}

pub fn fast_tfsim() -> tfsim::Config {
    tfsim::Config {
        delay: tfsim::Delay::Uniform(Duration::from_millis(50), Duration::from_millis(150)),
        destroy_delay: tfsim::Delay::Fixed(Duration::from_millis(50)),
        ..Default::default()
    }
}

impl World {
    /// Start everything; must run inside `capt::actors::block_on`.
    pub async fn start(tf: tfsim::Config) -> World {
        Self::start_with(tf, ManagerConfig::default()).await
    }

    /// Start everything with the given controller settings.
    pub async fn start_with(tf: tfsim::Config, cfg: ManagerConfig) -> World {
        let sim = start_sim(tf).await;
        let server = sim.server.clone();
        let client = server.client();
        let metrics = Metrics::new();
        // The controller's own client, through the layer that counts its requests.
        let own = controller_client(&server, &metrics);
        let running = manager::start(own, metrics.clone(), cfg);
        tokio::time::timeout(Duration::from_secs(20), running.gate.wait())
            .await
            .expect("caches sync");
        World {
            server,
            client,
            running: Some(running),
            sim,
            metrics,
        }
    }

    /// Create every object of a multi-document YAML.
    pub async fn apply(&self, yaml: &str) {
        apply_yaml(&self.client, yaml).await
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(5)).await;
        }
        self.sim.stop_simulators();
    }
}

/// The in-memory API server with the CRDs and the simulators, no controller.
pub async fn start_sim(tf: tfsim::Config) -> SimStack {
    SimStack::start(simstack::Config {
        crds: vec![capt::api::crds_yaml()],
        tf,
        ..simstack::Config::default()
    })
    .await
    .expect("in-memory stack")
}

/// A controller client of `server` counting its requests in `metrics` (no QPS limit).
pub fn controller_client(server: &kubesim::Handle, metrics: &Metrics) -> Client {
    capt::client::build(
        server.client_config(),
        capt::client::ClientLimits { qps: 0, burst: 0 },
        std::sync::Arc::new(metrics.clone()),
    )
    .expect("client")
}

/// Create every object of a multi-document YAML.
pub async fn apply_yaml(client: &Client, yaml: &str) {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).expect("yaml");
        if v.is_null() {
            continue;
        }
        let obj: DynamicObject = serde_json::from_value(v).expect("object");
        let tm = obj.types.clone().expect("types");
        let gvk = kube::core::GroupVersionKind::try_from(&tm).expect("gvk");
        let (ar, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{gvk:?} not served"));
        let api = dyn_api(
            client,
            &ar,
            caps.scope == Scope::Namespaced,
            obj.namespace().as_deref(),
        );
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", obj.name_any()));
    }
}

/// The CRDs of the simulated components: provider-terraform's Workspace and Cluster API's Cluster.
pub fn install_simulator_crds(server: &kubesim::Handle) {
    server
        .install_crds_yaml(tfsim::WORKSPACE_CRD_YAML)
        .expect("workspace crd");
    server
        .install_crds_yaml(capisim::CLUSTER_CRD_YAML)
        .expect("cluster crd");
}

pub fn dyn_api(
    client: &Client,
    ar: &ApiResource,
    namespaced: bool,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    if namespaced {
        Api::namespaced_with(client.clone(), ns.unwrap_or("default"), ar)
    } else {
        Api::all_with(client.clone(), ar)
    }
}

/// A Cluster + CAPTCluster + CAPTControlPlane named `name` in `default`.
pub fn cluster_yaml(name: &str, version: &str) -> String {
    include_str!("../../samples/cluster/demo-cluster.yaml")
        .replace("demo-cluster", name)
        .replace("\"1.31\"", &format!("\"{version}\""))
}

/// Poll `f` until it returns Some, up to `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every span of this test binary exported to an in-memory exporter (the global subscriber; keep
/// the returned telemetry alive while spans are recorded).
#[allow(dead_code)]
pub fn export_spans_globally() -> (
    opentelemetry_sdk::trace::InMemorySpanExporter,
    capt::telemetry::otel::TestTelemetry,
) {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let telemetry = capt::telemetry::otel::init_for_tests(exporter.clone());
    tracing::dispatcher::set_global_default(telemetry.dispatch().clone())
        .expect("no other global subscriber in this binary");
    (exporter, telemetry)
}
