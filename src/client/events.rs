//! Kubernetes Events, sent in the background on their own budget. A reconcile hands its Events
//! to a bounded queue and never waits for them; one sender takes them from the queue, lets the
//! [`Correlator`] decide (combine similar ones, bump repeats, per-object budget, as client-go's
//! recorder does) and sends them at most `qps` per second — a budget of their own, apart from
//! the client-wide limit the reconciles share (the client layer leaves Event requests to it).
//! When the queue is full, Events are dropped and counted, as client-go drops them.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::event_correlator::{Correlated, Correlator, Subject};
pub use crate::reconcile::outcome::{EventSpec, EventType};

/// Counts published, deduplicated and dropped Events.
pub trait EventObserver: Send + Sync + 'static {
    /// `outcome`: `created`, `aggregated` (a repeat bumped an existing Event), `failed`,
    /// `dropped` (over the object's budget) or `queue-full`.
    fn event(&self, kind: &str, type_: EventType, reason: &str, outcome: &'static str);
}

/// The Events' budget (flags `--event-qps`, `--event-burst`, `--event-queue`).
#[derive(Clone, Copy, Debug)]
pub struct EventLimits {
    /// Event requests per second (0: unlimited).
    pub qps: u32,
    pub burst: u32,
    /// Events waiting to be sent before new ones are dropped.
    pub queue: usize,
    /// Events per object before its budget is spent, refilled one per `refill`.
    pub per_object_burst: u32,
    pub per_object_refill: Duration,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            qps: 50,
            burst: 200,
            queue: 4096,
            per_object_burst: 25,
            per_object_refill: Duration::from_secs(300),
        }
    }
}

/// Lanes sending Events at once (one object's Events always take the same lane).
const LANES: usize = 16;

fn lane_of(obj: &ObjectReference) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&obj.kind, &obj.namespace, &obj.name).hash(&mut h);
    h.finish() as usize
}

/// One reconcile's Events about one object, and the span their sending belongs to.
struct Batch {
    obj: ObjectReference,
    events: Vec<EventSpec>,
    span: tracing::Span,
}

/// The handle reconciles publish through (cheap to clone).
#[derive(Clone)]
pub struct EventRecorder {
    queue: mpsc::Sender<Batch>,
    observer: Arc<dyn EventObserver>,
}

/// Reference to `obj` as an Event's involvedObject.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

impl EventRecorder {
    /// A recorder and the sender that drains its queue (run it, e.g. as background work that
    /// shutdown waits for; it ends when every recorder is dropped and the queue is empty).
    /// The sender stops taking new Events once `stop` completes, sends what is queued, and ends.
    pub fn new(
        client: Client,
        component: &str,
        limits: EventLimits,
        observer: Arc<dyn EventObserver>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::channel(limits.queue.max(1));
        let sender = Sender {
            client,
            component: component.to_string(),
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| component.to_string()),
            correlator: std::sync::Mutex::new(Correlator::new(
                limits.per_object_burst,
                limits.per_object_refill,
            )),
            limiter: super::Limiter::new(limits.qps, limits.burst),
            observer: observer.clone(),
        };
        let recorder = Self {
            queue: tx,
            observer,
        };
        (recorder, sender.run(rx, stop))
    }

    /// Queue `events` about `obj`; never waits. The sending is recorded in `span`.
    pub fn publish(&self, obj: ObjectReference, events: Vec<EventSpec>, span: tracing::Span) {
        if events.is_empty() {
            return;
        }
        if let Err(e) = (self.queue).try_send(Batch { obj, events, span }) {
            let b = match e {
                mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => b,
            };
            let kind = b.obj.kind.as_deref().unwrap_or_default();
            for ev in &b.events {
                self.observer
                    .event(kind, ev.type_, &ev.reason, "queue-full");
            }
            tracing::debug!(
                kind,
                events = b.events.len(),
                "event queue full; events dropped"
            );
        }
    }
}

struct Sender {
    client: Client,
    component: String,
    instance: String,
    correlator: std::sync::Mutex<Correlator>,
    limiter: Option<super::Limiter>,
    observer: Arc<dyn EventObserver>,
}

impl Sender {
    /// Batches go to [`LANES`] lanes by object, so Events about different objects are sent
    /// concurrently (the budget, not one request's round trip, bounds the rate) while those about
    /// one object stay in order (repeats find the Event they repeat).
    async fn run(self, mut rx: mpsc::Receiver<Batch>, stop: impl Future<Output = ()>) {
        let this = Arc::new(self);
        let mut lanes = Vec::with_capacity(LANES);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..LANES {
            // One batch waiting per lane: the queue's bound stays what `--event-queue` says.
            let (tx, mut lane) = mpsc::channel::<Batch>(1);
            lanes.push(tx);
            let this = this.clone();
            tasks.spawn(async move {
                while let Some(b) = lane.recv().await {
                    let span = b.span.clone();
                    this.send_batch(b).instrument(span).await;
                }
            });
        }
        let mut stop = std::pin::pin!(stop);
        let mut stopping = false;
        loop {
            let batch = tokio::select! {
                b = rx.recv() => b,
                () = &mut stop, if !stopping => {
                    // Stop taking new Events; what is queued is still sent.
                    stopping = true;
                    rx.close();
                    continue;
                }
            };
            let Some(batch) = batch else { break };
            let lane = lane_of(&batch.obj) % LANES;
            if lanes[lane].send(batch).await.is_err() {
                break;
            }
        }
        drop(lanes);
        while tasks.join_next().await.is_some() {}
    }

    fn correlator(&self) -> std::sync::MutexGuard<'_, Correlator> {
        self.correlator.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn send_batch(&self, b: Batch) {
        let kind = b.obj.kind.clone().unwrap_or_default();
        let ns = b.obj.namespace.clone().unwrap_or_else(|| "default".into());
        let name = b.obj.name.clone().unwrap_or_default();
        for ev in &b.events {
            let subject = Subject {
                object: format!("{kind}/{ns}/{name}"),
                type_: ev.type_,
                reason: ev.reason.clone(),
            };
            let decided = self
                .correlator()
                .correlate(&subject, &ev.message, Instant::now());
            let outcome = match decided {
                Correlated::Drop => "dropped",
                Correlated::Bump {
                    namespace,
                    name: ev_name,
                    count,
                    message,
                } => {
                    self.ready().await;
                    match self.bump(&namespace, &ev_name, count, &message).await {
                        Ok(()) => {
                            let now = Instant::now();
                            let mut c = self.correlator();
                            c.recorded(&subject, message, namespace, ev_name, count, now);
                            "aggregated"
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "event patch failed; creating a new one");
                            self.correlator().forget(&subject, &message);
                            self.create(&b.obj, &subject, &ns, &name, ev, message).await
                        }
                    }
                }
                Correlated::Create { message } => {
                    self.ready().await;
                    self.create(&b.obj, &subject, &ns, &name, ev, message).await
                }
            };
            self.observer.event(&kind, ev.type_, &ev.reason, outcome);
        }
    }

    /// Wait for the Events' own budget.
    async fn ready(&self) {
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
    }

    async fn bump(
        &self,
        ns: &str,
        name: &str,
        count: i32,
        message: &str,
    ) -> Result<(), kube::Error> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let now = k8s_openapi::jiff::Timestamp::now();
        let patch = json!({"count": count, "lastTimestamp": Time(now), "message": message});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
    }

    async fn create(
        &self,
        obj: &ObjectReference,
        subject: &Subject,
        ns: &str,
        name: &str,
        ev: &EventSpec,
        message: String,
    ) -> &'static str {
        let now = k8s_openapi::jiff::Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:x}", name, now.as_nanosecond())),
                namespace: Some(ns.to_string()),
                ..Default::default()
            },
            involved_object: obj.clone(),
            reason: Some(ev.reason.clone()),
            message: Some(message.clone()),
            type_: Some(ev.type_.as_str().into()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(ev.reason.clone()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        match api.create(&PostParams::default(), &event).await {
            Ok(created) => {
                let (at, ev_name) = (Instant::now(), created.name_any());
                let mut c = self.correlator();
                c.recorded(subject, message, ns.to_string(), ev_name, 1, at);
                "created"
            }
            Err(e) => {
                tracing::warn!(error = %e, reason = %ev.reason, object = %subject.object, "could not record event");
                "failed"
            }
        }
    }
}
