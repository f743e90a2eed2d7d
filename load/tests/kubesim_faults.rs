//! Every kubesim fault kind is observable by a client; counters and /metrics.

use std::time::{Duration, Instant};

use capt_load::kubesim::{Config, FaultPlan, Handle, start};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Raw HTTP/1.1 GET (to see headers); returns the whole response text.
async fn raw_get(h: &Handle, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", h.port()))
        .await
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn error_faults_reach_the_client() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let plan =
            FaultPlan::parse(&["verb=create,resource=configmaps,code=503,count=1".to_string()])
                .unwrap();
        let h = start(Config {
            faults: plan,
            ..Config::default()
        })
        .await
        .unwrap();
        let mut cfg = h.client_config();
        cfg.default_retry = false;
        let api: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(cfg).unwrap(), "default");
        let pp = PostParams::default();
        assert_eq!(code(api.create(&pp, &cm("a")).await.unwrap_err()), 503);
        api.create(&pp, &cm("a")).await.unwrap();
        // the default client retries 503 transparently
        h.faults()
            .add_spec("verb=create,resource=configmaps,code=503,count=1")
            .unwrap();
        let retrying: Api<ConfigMap> = Api::namespaced(h.client(), "default");
        retrying.create(&pp, &cm("b")).await.unwrap();

        h.faults()
            .add_spec("verb=get,resource=configmaps,code=500,count=1")
            .unwrap();
        assert_eq!(code(api.get("a").await.unwrap_err()), 500);
        api.get("a").await.unwrap();

        h.faults()
            .add_spec("verb=update,resource=configmaps,code=409,count=1")
            .unwrap();
        let cur = api.get("a").await.unwrap();
        assert_eq!(code(api.replace("a", &pp, &cur).await.unwrap_err()), 409);
        api.replace("a", &pp, &cur).await.unwrap();

        h.faults()
            .add_spec("verb=patch,resource=*,code=409,count=1")
            .unwrap();
        let p = Patch::Merge(json!({"data": {"x": "y"}}));
        assert_eq!(
            code(
                api.patch("a", &PatchParams::default(), &p)
                    .await
                    .unwrap_err()
            ),
            409
        );
        api.patch("a", &PatchParams::default(), &p).await.unwrap();

        h.faults()
            .add_spec("verb=list,resource=configmaps,code=429,retry_after=7,count=1")
            .unwrap();
        let resp = raw_get(&h, "/api/v1/namespaces/default/configmaps").await;
        assert!(resp.starts_with("HTTP/1.1 429"), "{resp}");
        assert!(
            resp.to_ascii_lowercase().contains("retry-after: 7"),
            "{resp}"
        );
        assert!(resp.contains("\"reason\":\"TooManyRequests\""), "{resp}");

        let c = h.counters();
        assert_eq!(c.get("create", "configmaps", 503), 2);
        assert_eq!(c.get("create", "configmaps", 201), 2);
        assert_eq!(c.get("get", "configmaps", 500), 1);
        assert_eq!(c.get("update", "configmaps", 409), 1);
        assert_eq!(c.get("list", "configmaps", 429), 1);
        assert!(c.total_by_verb()["patch"] >= 2);
        let metrics = raw_get(&h, "/metrics").await;
        assert!(
            metrics.contains(
                "kubesim_requests_total{verb=\"create\",resource=\"configmaps\",code=\"503\"} 2"
            ),
            "{metrics}"
        );
        h.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn watch_faults_reach_the_client() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let h = start(Config::default()).await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(h.client(), "default");
        for i in 0..10 {
            api.create(&PostParams::default(), &cm(&format!("c{i}")))
                .await
                .unwrap();
        }
        // 410 on watch start
        h.faults()
            .add_spec("verb=watch,resource=configmaps,code=410,count=1")
            .unwrap();
        let mut s = api
            .watch(&WatchParams::default(), "1")
            .await
            .unwrap()
            .boxed();
        match s.try_next().await.unwrap() {
            Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
            other => panic!("expected 410, got {other:?}"),
        }
        // stream cut after N events
        h.faults().clear();
        h.faults()
            .add_spec("verb=watch,resource=*,cut_after_events=3")
            .unwrap();
        let s = api
            .watch(&WatchParams::default().timeout(20), "0")
            .await
            .unwrap();
        let events: Vec<_> = s.try_collect().await.unwrap();
        assert_eq!(events.len(), 3);
        // stream cut after a time
        h.faults().clear();
        h.faults()
            .add_spec("verb=watch,resource=configmaps,cut_after_ms=200")
            .unwrap();
        let t = Instant::now();
        let rv = h.resource_version().to_string();
        let s = api
            .watch(&WatchParams::default().timeout(20), &rv)
            .await
            .unwrap();
        let _: Vec<_> = s.try_collect().await.unwrap();
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(5),
            "{took:?}"
        );
        // latency
        h.faults().clear();
        h.faults()
            .add_spec("verb=get,resource=configmaps,latency_ms=150")
            .unwrap();
        let t = Instant::now();
        api.get("c1").await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(150));
        h.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn rate_faults_are_deterministic_per_seed() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let plan =
                FaultPlan::parse(&["verb=get,resource=configmaps,code=500,rate=0.5".to_string()])
                    .unwrap();
            let h = start(Config {
                faults: plan,
                seed: 42,
                ..Config::default()
            })
            .await
            .unwrap();
            let api: Api<ConfigMap> = Api::namespaced(h.client(), "default");
            api.create(&PostParams::default(), &cm("a")).await.unwrap();
            let mut seq = Vec::new();
            for _ in 0..40 {
                seq.push(api.get("a").await.is_ok());
            }
            assert!(seq.iter().any(|x| *x) && seq.iter().any(|x| !*x));
            outcomes.push(seq);
            h.shutdown().await;
        }
        assert_eq!(outcomes[0], outcomes[1]);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn outage_refuses_connections_then_serves_with_compacted_history() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let h = start(Config::default()).await.unwrap();
        let mut cfg = h.client_config();
        cfg.default_retry = false;
        let client = kube::Client::try_from(cfg).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let created = api.create(&PostParams::default(), &cm("a")).await.unwrap();
        let rv = created.metadata.resource_version.clone().unwrap();
        api.create(&PostParams::default(), &cm("b")).await.unwrap();
        let mut open = api
            .watch(&WatchParams::default(), "0")
            .await
            .unwrap()
            .boxed();
        assert!(open.try_next().await.unwrap().is_some(), "initial ADDED");

        let outage = {
            let h = h.clone();
            tokio::spawn(async move { h.outage(Duration::from_millis(800)).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let refused = tokio::net::TcpStream::connect(("127.0.0.1", h.port())).await;
        assert!(refused.is_err(), "new connections are refused while down");
        assert!(
            api.get("a").await.is_err(),
            "requests fail while the server is down"
        );
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match open.try_next().await {
                    Ok(Some(WatchEvent::Added(_))) => continue,
                    other => return other,
                }
            }
        })
        .await;
        assert!(
            matches!(ended, Ok(Ok(None)) | Ok(Err(_))),
            "open watches are closed: {ended:?}"
        );
        outage.await.unwrap().unwrap();

        assert_eq!(
            api.get("a").await.unwrap().metadata.name.as_deref(),
            Some("a")
        );
        let mut resumed = api
            .watch(&WatchParams::default(), &rv)
            .await
            .unwrap()
            .boxed();
        match resumed.try_next().await.unwrap() {
            Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
            other => panic!("a resumed watch gets 410 Gone after the restart, got {other:?}"),
        }
    })
    .await
    .unwrap();
}
