//! Many Workspaces at once (ignored by default; `TFSIM_SCALE_COUNT` sets the count, default 2000).

use std::time::{Duration, Instant};

use capt_load::kubesim;
use capt_load::tfsim::{self, Delay};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale check; run explicitly"]
async fn thousands_of_workspaces_become_ready() {
    let count: usize = std::env::var("TFSIM_SCALE_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let sim = kubesim::start(kubesim::Config::default())
        .await
        .expect("kubesim");
    sim.install_crds_yaml(tfsim::WORKSPACE_CRD_YAML)
        .expect("crd");
    let client = sim.client();
    let config = tfsim::Config {
        delay: Delay::Uniform(Duration::from_millis(50), Duration::from_millis(500)),
        seed: 7,
        concurrency: 64,
        ..Default::default()
    };
    let task = tokio::spawn(tfsim::run(client.clone(), config));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &tfsim::api_resource());
    let started = Instant::now();
    for i in 0..count {
        let name = if i % 2 == 0 {
            format!("s{i}-vpc")
        } else {
            format!("s{i}-spot-role-check")
        };
        let mut obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "tf.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": { "name": name },
            "spec": { "forProvider": { "source": "Inline", "module": "# sim" } }
        }))
        .expect("json");
        obj.types = Some(kube::core::TypeMeta {
            api_version: "tf.upbound.io/v1beta1".into(),
            kind: "Workspace".into(),
        });
        api.create(&PostParams::default(), &obj)
            .await
            .expect("create");
    }
    let created = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        let ready = list
            .items
            .iter()
            .filter(|o| {
                o.data["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                }) && o.data["status"]["atProvider"]["outputs"] != Value::Null
            })
            .count();
        if ready == count {
            break;
        }
        assert!(Instant::now() < deadline, "only {ready}/{count} ready");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "{count} workspaces: created in {created:?}, all ready after {:?}",
        started.elapsed()
    );
    task.abort();
    sim.shutdown().await;
}
