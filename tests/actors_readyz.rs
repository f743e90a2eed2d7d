//! `/readyz` turns ready only once every watched kind's cache synced (the sync gate opened), and
//! no actor reconciles from a half-filled cache before that.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use capt::actors::block_on;
use capt::actors::gate::SyncGate;
use capt::actors::router::{self, OwnersFn, Route};
use capt::telemetry::health::{self, ServeOptions};
use capt::telemetry::{Metrics, Readiness};
use common::{KINDS, Parts, WAIT, fast_settings, succeed, wait_until};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn readyz_flips_once_every_cache_synced() {
    block_on(async {
        let p = Parts::new(fast_settings(), succeed(), None).await;
        let readiness = Readiness::new();
        let opts = ServeOptions {
            probe_addr: "127.0.0.1:0".parse().unwrap(),
            metrics_addr: "127.0.0.1:0".parse().unwrap(),
            secure: false,
            cert_dir: None,
        };
        let server = health::bind(&opts, Metrics::new(), readiness.clone(), None)
            .await
            .unwrap();
        let probe = server.probe_addr();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async {
            let _ = stop_rx.await;
        }));

        readiness.set_leader_known(true);
        let gate = SyncGate::new(KINDS);
        let (g, r) = (gate.clone(), readiness.clone());
        tokio::spawn(async move {
            g.wait().await;
            r.set_caches_synced(true);
        });
        assert_eq!(get(probe, "/healthz").await.0, 200);
        assert_eq!(get(probe, "/readyz").await.0, 503);

        // Two of three kinds synced: still not ready, and no actor runs yet.
        let rctx = p.router_ctx(&gate);
        let namespace_owners: OwnersFn<Namespace> = Arc::new(common::namespace_owners);
        let secret_owners: OwnersFn<Secret> = Arc::new(common::secret_owners);
        let mut routers = vec![
            tokio::spawn(router::run(
                common::KIND,
                p.cm_stream,
                Route::Own(p.cm_store.clone()),
                rctx.clone(),
            )),
            tokio::spawn(router::run(
                "Namespace",
                p.ns_stream,
                Route::Owners(namespace_owners),
                rctx.clone(),
            )),
        ];
        let g = gate.clone();
        wait_until("ConfigMaps and Namespaces synced", WAIT, || {
            g.missing() == vec!["Secret"]
        })
        .await;
        let cms: Api<ConfigMap> = Api::namespaced(p.client.clone(), common::NS);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("early".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        cms.create(&PostParams::default(), &cm).await.unwrap();
        let store = p.cm_store.clone();
        wait_until("the ConfigMap cached", WAIT, || !store.state().is_empty()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = get(probe, "/readyz").await;
        assert_eq!(status, 503, "{body}");
        assert!(!gate.is_open());
        assert_eq!(
            p.rec.count("early"),
            0,
            "no reconcile before every cache synced"
        );

        // The last kind syncs: the gate opens, actors start, /readyz turns ready.
        routers.push(tokio::spawn(router::run(
            "Secret",
            p.secret_stream,
            Route::Owners(secret_owners),
            rctx,
        )));
        let start = std::time::Instant::now();
        loop {
            let (status, _) = get(probe, "/readyz").await;
            if status == 200 {
                break;
            }
            assert!(start.elapsed() < WAIT, "/readyz never turned ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gate.is_open());
        let rec = p.rec.clone();
        wait_until("the early ConfigMap reconciled", WAIT, || {
            rec.count("early") == 1
        })
        .await;

        for r in &routers {
            r.abort();
        }
        let _ = stop_tx.send(());
        serving.await.unwrap().unwrap();
        p.runtime.shutdown(Duration::from_secs(2)).await;
        p.sim.shutdown().await;
    });
}
