//! Level-triggered safety: a change that happened while the watches were down reaches the actors
//! that wait for it once the watch relists, and the resync pass recovers lost wake-ups without
//! writing anything for converged objects.

mod support;

use std::time::Duration;

use capt::actors::resync::ResyncSettings;
use capt::api::{CAPTControlPlane, Workspace, WorkspaceTemplateApply};
use capt::controllers::manager::ManagerConfig;
use capt_load::tfsim;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim, writes};

/// More objects than one list page (500), so a relist spans several requests.
const FILLERS: usize = 520;

fn slow_tfsim() -> tfsim::Config {
    tfsim::Config {
        delay: tfsim::Delay::Fixed(Duration::from_secs(4)),
        concurrency: 2 * FILLERS,
        ..fast_tfsim()
    }
}

fn resync_every_second() -> ManagerConfig {
    ManagerConfig {
        resync: ResyncSettings {
            period: Duration::from_secs(1),
            rate: 1000,
        },
        ..ManagerConfig::default()
    }
}

fn filler(i: usize) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "tf.upbound.io/v1beta1",
        "kind": "Workspace",
        "metadata": { "name": format!("zz-filler-{i:04}") },
        "spec": { "forProvider": { "source": "Inline", "module": "# filler" } },
    }))
    .expect("workspace")
}

/// Templates and one cluster; returns once its EKS apply waits for the (not yet ready) VPC.
async fn cluster_waiting_for_its_vpc(w: &World, name: &str) {
    for t in TEMPLATES {
        w.apply(t).await;
    }
    w.apply(&cluster_yaml(name, "1.31")).await;
    let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.client.clone(), "default");
    let apply = format!("{name}-eks-controlplane-apply");
    let vpc = format!("{name}-vpc");
    eventually(30, "the EKS apply waits for the VPC", || {
        let (applies, apply, vpc) = (applies.clone(), apply.clone(), vpc.clone());
        async move {
            let a = applies.get(&apply).await.ok()?;
            let s = serde_json::to_string(&a.status?).ok()?;
            s.contains(&format!("Waiting for workspace {vpc}"))
                .then_some(())
        }
    })
    .await;
    let ws: Api<Workspace> = Api::all(w.client.clone());
    // The apply may wait for the VPC Workspace before its apply has created it.
    let v = eventually(30, "the VPC workspace", || {
        let (ws, vpc) = (ws.clone(), vpc.clone());
        async move { ws.get_opt(&vpc).await.ok().flatten() }
    })
    .await;
    assert!(
        !v.is_ready(),
        "the VPC was ready before the test could interpose"
    );
}

async fn wait_ready(w: &World, name: &str, what: &str) {
    let ws: Api<Workspace> = Api::all(w.client.clone());
    eventually(30, what, || {
        let ws = ws.clone();
        async move { ws.get(name).await.ok().filter(|v| v.is_ready()).map(|_| ()) }
    })
    .await;
}

async fn eks_workspace_created(w: &World, name: &str, secs: u64) {
    let ws: Api<Workspace> = Api::all(w.client.clone());
    let eks = format!("{name}-eks-controlplane");
    eventually(
        secs,
        "the EKS apply proceeds (its Workspace exists)",
        || {
            let (ws, eks) = (ws.clone(), eks.clone());
            async move { ws.get_opt(&eks).await.ok().flatten().map(|_| ()) }
        },
    )
    .await;
}

#[test]
fn a_change_made_while_the_watches_were_down_wakes_its_waiter_after_the_relist() {
    capt::actors::block_on(async {
        let w = World::start_with(slow_tfsim(), ManagerConfig::default()).await;
        let name = "relist";
        cluster_waiting_for_its_vpc(&w, name).await;

        // The Workspace watches go down; the VPC becomes ready meanwhile and more Workspaces
        // appear, so the relist takes more than one page.
        let faults = w.server.faults();
        faults
            .add_spec("verb=watch,resource=workspaces,code=503")
            .expect("fault");
        w.server.close_watches();
        let ws: Api<DynamicObject> =
            Api::all_with(w.client.clone(), &ApiResource::erase::<Workspace>(&()));
        for i in 0..FILLERS {
            ws.create(&PostParams::default(), &filler(i))
                .await
                .expect("filler");
        }
        wait_ready(&w, &format!("{name}-vpc"), "the VPC becomes ready").await;

        // The resumed watches find their resourceVersion compacted (410) and relist, page by
        // page; the VPC is on the first page.
        w.server.compact_history();
        faults.clear();
        faults
            .add_spec("verb=list,resource=workspaces,latency_ms=1500")
            .expect("fault");
        eks_workspace_created(&w, name, 60).await;
        faults.clear();
        w.stop().await;
    });
}

#[test]
fn resync_recovers_a_lost_wakeup() {
    capt::actors::block_on(async {
        let w = World::start_with(slow_tfsim(), resync_every_second()).await;
        let name = "lost";
        cluster_waiting_for_its_vpc(&w, name).await;
        // The wake-up the EKS apply registered is lost.
        w.running.as_ref().expect("running").ctx.waiters.clear();
        wait_ready(&w, &format!("{name}-vpc"), "the VPC becomes ready").await;
        eks_workspace_created(&w, name, 30).await;
        w.stop().await;
    });
}

fn resync_wakeups(w: &World) -> u64 {
    w.metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("capt_resync_wakeups_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Wait until `passes` more resync passes over `objects` objects have run.
async fn resync_passes(w: &World, objects: u64, passes: u64) {
    let from = resync_wakeups(w);
    eventually(60, "resync passes", || async move {
        (resync_wakeups(w) >= from + passes * objects).then_some(())
    })
    .await;
}

#[test]
fn resync_over_a_converged_world_writes_nothing() {
    capt::actors::block_on(async {
        let w = World::start_with(fast_tfsim(), resync_every_second()).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        w.apply(&cluster_yaml("calm", "1.31")).await;
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        eventually(30, "control plane ready with secrets", || async {
            cps.get("calm").await.ok().filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.ready && s.secrets_ready)
            })
        })
        .await;
        // Every reconciled object: the CAPTCluster, the CAPTControlPlane, the WorkspaceTemplates
        // and the applies.
        let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.client.clone(), "default");
        let n = 2
            + TEMPLATES.len() as u64
            + applies.list(&Default::default()).await.unwrap().items.len() as u64;
        // Let whatever was still in flight settle over two passes, then two more passes write
        // nothing.
        resync_passes(&w, n, 2).await;
        let before = writes(&w.metrics);
        resync_passes(&w, n, 2).await;
        assert_eq!(
            writes(&w.metrics),
            before,
            "a resync pass over converged objects wrote"
        );
        w.stop().await;
    });
}
