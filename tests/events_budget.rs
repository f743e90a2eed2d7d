//! Events against the in-memory API server: publishing never waits, a full queue drops and
//! counts, similar Events are combined, and the sender finishes the queue when stopped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capt::actors::block_on;
use capt::client::event_correlator::{COMBINED_PREFIX, MAX_SIMILAR};
use capt::client::events::{EventLimits, EventObserver, EventRecorder, EventSpec, EventType};
use capt_load::kubesim;
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::api::{Api, ListParams};

#[derive(Default)]
struct Outcomes(Mutex<Vec<&'static str>>);

impl EventObserver for Outcomes {
    fn event(&self, _: &str, _: EventType, _: &str, outcome: &'static str) {
        self.0.lock().unwrap().push(outcome);
    }
}

impl Outcomes {
    fn count(&self, outcome: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|o| **o == outcome)
            .count()
    }
}

fn subject(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("controlplane.cluster.x-k8s.io/v1beta1".into()),
        kind: Some("CAPTControlPlane".into()),
        name: Some(name.into()),
        namespace: Some("default".into()),
        ..Default::default()
    }
}

fn warning(message: &str) -> EventSpec {
    EventSpec {
        type_: EventType::Warning,
        reason: "WorkspaceError".into(),
        message: message.into(),
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    block_on(async {
        let sim = kubesim::start(kubesim::Config::default()).await.unwrap();
        let seen = Arc::new(Outcomes::default());
        let limits = EventLimits {
            qps: 20,
            burst: 1,
            queue: 2,
            ..Default::default()
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = stop_rx.await;
        };
        let (rec, sender) = EventRecorder::new(sim.client(), "capt", limits, seen.clone(), stop);
        let sender = tokio::spawn(sender);
        let started = Instant::now();
        const PUBLISHED: usize = 300;
        for i in 0..PUBLISHED {
            let ev = warning(&format!("failure {i}"));
            rec.publish(subject(&format!("cp-{i}")), vec![ev], tracing::Span::none());
        }
        // Publishing is a queue push: 300 of them with 20 Events/s of budget take no time, and
        // what the queue (and the senders' hands) cannot hold is dropped.
        assert!(started.elapsed() < Duration::from_millis(500));
        let full = seen.count("queue-full");
        assert!(full >= PUBLISHED - 60, "{full} dropped");
        // Stopped, the sender sends what was queued and ends.
        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(20), sender)
            .await
            .expect("the sender ends once its queue is empty")
            .unwrap();
        let sent = seen.count("created");
        assert_eq!(
            sent + full,
            PUBLISHED,
            "every Event is sent or counted as dropped"
        );
        let events: Api<Event> = Api::namespaced(sim.client(), "default");
        let listed = events.list(&ListParams::default()).await.unwrap().items;
        assert_eq!(listed.len(), sent);
    });
}

#[test]
fn similar_events_are_combined_and_repeats_counted() {
    block_on(async {
        let sim = kubesim::start(kubesim::Config::default()).await.unwrap();
        let seen = Arc::new(Outcomes::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = stop_rx.await;
        };
        let limits = EventLimits::default();
        let (rec, sender) = EventRecorder::new(sim.client(), "capt", limits, seen.clone(), stop);
        let sender = tokio::spawn(sender);
        let extra = 5;
        for i in 0..MAX_SIMILAR + extra {
            let ev = warning(&format!("apply failed: attempt {i}"));
            rec.publish(subject("cp"), vec![ev], tracing::Span::none());
        }
        // The same message again is a repeat of its Event.
        rec.publish(
            subject("cp"),
            vec![warning("apply failed: attempt 0")],
            tracing::Span::none(),
        );
        stop_tx.send(()).unwrap();
        sender.await.unwrap();
        let events: Api<Event> = Api::namespaced(sim.client(), "default");
        let listed = events.list(&ListParams::default()).await.unwrap().items;
        // MAX_SIMILAR distinct Events, then one combined Event counting the rest.
        assert_eq!(listed.len(), MAX_SIMILAR + 1, "{listed:#?}");
        let combined: Vec<&Event> = listed
            .iter()
            .filter(|e| {
                e.message
                    .as_deref()
                    .unwrap_or("")
                    .starts_with(COMBINED_PREFIX)
            })
            .collect();
        assert_eq!(combined.len(), 1);
        assert_eq!(combined[0].count, Some(extra as i32));
        let first = listed
            .iter()
            .find(|e| e.message.as_deref() == Some("apply failed: attempt 0"))
            .expect("the first Event");
        assert_eq!(first.count, Some(2));
        assert_eq!(seen.count("aggregated"), extra - 1 + 1);
    });
}
