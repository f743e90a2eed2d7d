//! Kubernetes Events, deduplicated like client-go's recorder (a repeat of the same object, type,
//! reason and message bumps `count` on the existing Event) and rate-limited per object.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

pub use crate::reconcile::outcome::{EventSpec, EventType};

/// Counts published, deduplicated and dropped Events.
pub trait EventObserver: Send + Sync + 'static {
    fn event(&self, kind: &str, type_: EventType, reason: &str, outcome: &'static str);
}

/// Distinct (object, type, reason, message) keys remembered for deduplication.
const CACHE_LIMIT: usize = 4096;

type DedupKey = (String, EventType, String, String);
/// Namespace, name and count of the Event recorded for a key.
type Recorded = (String, String, i32);

#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    component: String,
    seen: Arc<Mutex<HashMap<DedupKey, Recorded>>>,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    observer: Arc<dyn EventObserver>,
    /// Events being sent at once (they are sent in the background).
    inflight: Arc<tokio::sync::Semaphore>,
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
    /// `burst` Events per object, refilled at one per `refill_secs` (client-go: 25 and 300).
    pub fn new(
        client: Client,
        component: &str,
        burst: u32,
        refill_secs: u64,
        observer: Arc<dyn EventObserver>,
    ) -> Self {
        let quota = Quota::with_period(std::time::Duration::from_secs(refill_secs.max(1)))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            client,
            component: component.to_string(),
            seen: Arc::default(),
            limiter: Arc::new(RateLimiter::keyed(quota)),
            observer,
            inflight: Arc::new(tokio::sync::Semaphore::new(32)),
        }
    }

    /// Publish `ev` about `obj`. Failures are logged, never returned: Events are best effort.
    pub async fn publish(&self, obj: &ObjectReference, ev: &EventSpec) {
        let Ok(_permit) = self.inflight.acquire().await else {
            return;
        };
        let kind = obj.kind.clone().unwrap_or_default();
        let ns = obj.namespace.clone().unwrap_or_else(|| "default".into());
        let name = obj.name.clone().unwrap_or_default();
        let obj_key = format!("{kind}/{ns}/{name}");
        let key: DedupKey = (
            obj_key.clone(),
            ev.type_,
            ev.reason.clone(),
            ev.message.clone(),
        );
        let now = k8s_openapi::jiff::Timestamp::now();
        let existing = {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.get(&key).cloned()
        };
        if self.limiter.check_key(&obj_key).is_err() {
            self.observer.event(&kind, ev.type_, &ev.reason, "dropped");
            return;
        }
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Some((ev_ns, ev_name, count)) = existing {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &ev_ns);
            let patch = json!({"count": count + 1, "lastTimestamp": Time(now)});
            match api
                .patch(&ev_name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.remember(key, ev_ns, ev_name, count + 1);
                    self.observer
                        .event(&kind, ev.type_, &ev.reason, "aggregated");
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "event patch failed; creating a new one"),
            }
        }
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:x}", name, now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: obj.clone(),
            reason: Some(ev.reason.clone()),
            message: Some(ev.message.clone()),
            type_: Some(ev.type_.as_str().into()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(
                std::env::var("POD_NAME").unwrap_or_else(|_| self.component.clone()),
            ),
            action: Some(ev.reason.clone()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(created) => {
                self.remember(key, ns, created.name_any(), 1);
                self.observer.event(&kind, ev.type_, &ev.reason, "created");
            }
            Err(e) => {
                tracing::warn!(error = %e, reason = %ev.reason, object = %obj_key, "could not record event");
                self.observer.event(&kind, ev.type_, &ev.reason, "failed");
            }
        }
    }

    fn remember(&self, key: DedupKey, ns: String, name: String, count: i32) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= CACHE_LIMIT && !seen.contains_key(&key) {
            seen.clear();
        }
        seen.insert(key, (ns, name, count));
    }
}
