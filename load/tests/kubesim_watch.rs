//! kubesim list/watch semantics through kube-rs: reflectors over 10k objects that survive 410s,
//! bookmarks, streaming lists, resuming from a resourceVersion.

use std::collections::BTreeMap;
use std::time::Duration;

use capt_load::kubesim::{Config, Handle, start};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "w"}}, "data": {"i": name}}),
    )
    .unwrap()
}

async fn create_many(api: &Api<ConfigMap>, n: usize) {
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &cm(&format!("cm-{i:05}")))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .expect("create");
}

/// name -> resourceVersion as the server sees it.
async fn server_state(api: &Api<ConfigMap>) -> BTreeMap<String, String> {
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| {
            (
                c.metadata.name.unwrap(),
                c.metadata.resource_version.unwrap(),
            )
        })
        .collect()
}

fn store_state(s: &reflector::Store<ConfigMap>) -> BTreeMap<String, String> {
    s.state()
        .iter()
        .map(|c| {
            (
                c.metadata.name.clone().unwrap(),
                c.metadata.resource_version.clone().unwrap(),
            )
        })
        .collect()
}

async fn wait_consistent(api: &Api<ConfigMap>, reader: &reflector::Store<ConfigMap>) {
    let want = server_state(api).await;
    for _ in 0..400 {
        if store_state(reader) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(store_state(reader).len(), want.len());
    assert_eq!(
        store_state(reader),
        want,
        "reflector diverged from the server"
    );
}

async fn churn(api: &Api<ConfigMap>, from: usize, to: usize) {
    for i in from..to {
        let name = format!("cm-{i:05}");
        if i % 3 == 0 {
            api.delete(&name, &DeleteParams::default()).await.unwrap();
        } else {
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"x": "changed"}})),
            )
            .await
            .unwrap();
        }
    }
}

fn spawn_reflector(api: Api<ConfigMap>, cfg: watcher::Config) -> reflector::Store<ConfigMap> {
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, cfg))
        .default_backoff()
        .touched_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while stream.next().await.is_some() {}
    });
    reader
}

async fn reflector_survives_410(h: Handle, cfg: watcher::Config) {
    let api: Api<ConfigMap> = Api::namespaced(h.client(), "default");
    create_many(&api, 10_000).await;
    let reader = spawn_reflector(api.clone(), cfg);
    reader.wait_until_ready().await.unwrap();
    wait_consistent(&api, &reader).await;
    assert_eq!(reader.state().len(), 10_000);

    // history compaction: the re-watch from the last resourceVersion gets 410 and re-lists
    churn(&api, 0, 30).await;
    h.compact_history();
    h.close_watches();
    churn(&api, 30, 60).await;
    wait_consistent(&api, &reader).await;

    // injected 410 on the next watch start
    h.faults()
        .add_spec("verb=watch,resource=configmaps,code=410,count=1")
        .unwrap();
    h.close_watches();
    churn(&api, 60, 90).await;
    wait_consistent(&api, &reader).await;
    assert_eq!(h.faults().fired(), vec![1]);
    assert!(h.counters().sum(Some("watch"), Some("configmaps"), None) >= 3);
    h.shutdown().await;
}

#[tokio::test]
async fn reflector_over_10k_survives_forced_410() {
    let h = start(Config::default()).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(120),
        reflector_survives_410(h, watcher::Config::default()),
    )
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn streaming_list_reflector_over_10k_survives_forced_410() {
    let h = start(Config::default()).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(120),
        reflector_survives_410(h, watcher::Config::default().streaming_lists()),
    )
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn raw_watch_resume_bookmarks_and_gone() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let h = start(Config {
            bookmark_interval: Duration::from_millis(100),
            history: 50,
            ..Config::default()
        })
        .await
        .unwrap();
        let api: Api<ConfigMap> = Api::namespaced(h.client(), "default");
        let list = api.list(&ListParams::default()).await.unwrap();
        let rv0 = list.metadata.resource_version.unwrap();
        api.create(&PostParams::default(), &cm("a")).await.unwrap();
        api.create(&PostParams::default(), &cm("b")).await.unwrap();
        // resume from rv0 replays both, then bookmarks flow
        let mut s = api
            .watch(
                &WatchParams {
                    bookmarks: true,
                    ..WatchParams::default()
                }
                .timeout(10),
                &rv0,
            )
            .await
            .unwrap()
            .boxed();
        let mut added = Vec::new();
        let mut bookmark_rv = None;
        while let Some(ev) = s.try_next().await.unwrap() {
            match ev {
                WatchEvent::Added(c) => added.push(c.metadata.name.unwrap()),
                WatchEvent::Bookmark(b) => {
                    bookmark_rv = Some(b.metadata.resource_version);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(added, vec!["a", "b"]);
        assert_eq!(bookmark_rv.unwrap(), h.resource_version().to_string());

        // watch without resourceVersion: synthetic ADDED for current objects
        let mut s = api
            .watch(&WatchParams::default().timeout(1), "0")
            .await
            .unwrap()
            .boxed();
        let mut n = 0;
        while let Some(WatchEvent::Added(_)) = s.try_next().await.unwrap() {
            n += 1;
            if n == 2 {
                break;
            }
        }
        assert_eq!(n, 2);

        // selectors apply to watches; moving out of the selector is a DELETED
        let mut s = api
            .watch(
                &WatchParams::default().labels("app=w").timeout(5),
                &h.resource_version().to_string(),
            )
            .await
            .unwrap()
            .boxed();
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})),
        )
        .await
        .unwrap();
        match s.try_next().await.unwrap() {
            Some(WatchEvent::Deleted(c)) => assert_eq!(c.metadata.name.as_deref(), Some("a")),
            other => panic!("expected DELETED, got {other:?}"),
        }

        // a resourceVersion older than the history: 410 Expired as a watch ERROR event
        for i in 0..60 {
            api.create(&PostParams::default(), &cm(&format!("x{i}")))
                .await
                .unwrap();
        }
        let mut s = api
            .watch(&WatchParams::default(), &rv0)
            .await
            .unwrap()
            .boxed();
        match s.try_next().await.unwrap() {
            Some(WatchEvent::Error(e)) => {
                assert_eq!(e.code, 410);
                assert_eq!(e.reason, "Expired");
                assert!(
                    e.message
                        .starts_with(&format!("too old resource version: {rv0} (")),
                    "{}",
                    e.message
                );
            }
            other => panic!("expected 410, got {other:?}"),
        }
        h.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn streaming_list_sends_initial_events_end_bookmark() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let h = start(Config::default()).await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(h.client(), "default");
        for n in ["a", "b", "c"] {
            api.create(&PostParams::default(), &cm(n)).await.unwrap();
        }
        let wp = WatchParams::streaming_lists().timeout(5);
        let mut s = api.watch(&wp, "0").await.unwrap().boxed();
        let mut added = 0;
        loop {
            match s.try_next().await.unwrap() {
                Some(WatchEvent::Added(_)) => added += 1,
                Some(WatchEvent::Bookmark(b)) => {
                    assert_eq!(
                        b.metadata
                            .annotations
                            .get("k8s.io/initial-events-end")
                            .map(String::as_str),
                        Some("true")
                    );
                    assert_eq!(
                        b.metadata.resource_version,
                        h.resource_version().to_string()
                    );
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(added, 3);
        h.shutdown().await;
    })
    .await
    .expect("test timed out");
}
