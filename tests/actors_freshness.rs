//! Read-your-writes: after a reconcile records a write, the next one starts only once the cache
//! shows that write, or after `freshness_max_wait`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use capt::actors::{Action, RuntimeSettings, Trigger, block_on};
use common::{Call, Env, behave, fast_settings, rv};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::Semaphore;

#[test]
fn next_reconcile_waits_for_the_cache_to_show_its_own_write() {
    block_on(async {
        let go = Arc::new(Semaphore::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let (g, w) = (go.clone(), written.clone());
        let settings = RuntimeSettings {
            freshness_max_wait: Duration::from_secs(8),
            reconcile_timeout: Duration::from_secs(10),
            ..fast_settings()
        };
        let env = Env::start(
            settings,
            behave(move |c: Call| {
                let (g, w) = (g.clone(), w.clone());
                async move {
                    if c.n > 1 {
                        return common::done(Action::await_change());
                    }
                    g.acquire().await.expect("open").forget();
                    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), common::NS);
                    let patch =
                        serde_json::json!({ "metadata": { "annotations": { "written": "yes" } } });
                    let out = match api
                        .patch(c.name(), &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        Ok(out) => out,
                        Err(e) => return common::transient(&e.to_string()),
                    };
                    c.ctx
                        .writes
                        .record("ConfigMap", out.metadata.resource_version.as_deref());
                    w.store(rv(&out), Ordering::SeqCst);
                    common::done(Action::requeue(Duration::from_millis(10)))
                }
            }),
        )
        .await;
        let created = env.create("f", &[]).await;
        env.wait_count("f", 1).await;
        env.wait_cache(rv(&created)).await;

        // Stall the ConfigMap cache: its watch reconnects only after 1.5 s.
        env.sim
            .faults()
            .add_spec("verb=watch,resource=configmaps,latency_ms=1500")
            .unwrap();
        env.sim.close_watches();
        go.add_permits(1);

        env.wait_count("f", 2).await;
        let seen = env.rec.seen_of("f");
        let written = written.load(Ordering::SeqCst);
        assert!(written > rv(&created));
        assert!(
            seen[1].rv >= written,
            "the reconcile after a write saw rv {} older than the write {written} (trigger {:?})",
            seen[1].rv,
            seen[1].trigger
        );
        assert_eq!(seen[1].data, seen[0].data);
        env.sim.faults().clear();
        env.stop().await;
    });
}

#[test]
fn a_cache_that_never_catches_up_holds_back_only_until_the_max_wait() {
    block_on(async {
        let max_wait = Duration::from_millis(300);
        let settings = RuntimeSettings {
            freshness_max_wait: max_wait,
            ..fast_settings()
        };
        let env = Env::start(
            settings,
            behave(|c: Call| async move {
                if c.n == 1 {
                    c.ctx.writes.record("ConfigMap", Some("999999999"));
                    return common::done(Action::requeue(Duration::from_millis(10)));
                }
                common::done(Action::await_change())
            }),
        )
        .await;
        env.create("m", &[]).await;
        env.wait_count("m", 2).await;
        let seen = env.rec.seen_of("m");
        assert_eq!(seen[1].trigger, Trigger::Requeue);
        let gap = seen[1].at - seen[0].at;
        assert!(
            gap >= max_wait,
            "the reconcile did not wait for the cache ({gap:?})"
        );
        env.stop().await;
    });
}
