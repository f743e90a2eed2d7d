//! Watch + store for every watched kind, with what decisions never read stripped before caching.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

pub type EventStream<K> =
    std::pin::Pin<Box<dyn Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send>>;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drop `managedFields` and the last-applied annotation: decisions never read them.
pub fn strip<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// How to list: streaming lists (one watch with initial events) where the server offers them.
pub fn config(streaming: bool) -> watcher::Config {
    let c = watcher::Config::default().any_semantic();
    if streaming {
        c.streaming_lists()
    } else {
        c.page_size(500)
    }
}

/// A reflector store and the event stream that fills it (poll the stream to keep it current).
/// Relists reach the stream as the changes they carry ([`super::relist::relisted`]): every object
/// that changed, appeared or vanished while the watch was down is an `Apply` or `Delete` seen
/// after the store holds the relisted state.
pub fn watch<K>(api: Api<K>, cfg: watcher::Config) -> (Store<K>, EventStream<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    watch_slim(api, cfg, |_| {})
}

/// [`watch`], with `slim` removing more of each object before it is cached (e.g. the status of
/// a kind whose status no decision reads).
pub fn watch_slim<K>(
    api: Api<K>,
    cfg: watcher::Config,
    slim: fn(&mut K),
) -> (Store<K>, EventStream<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, cfg)
        .default_backoff()
        .modify(move |o: &mut K| {
            strip(o);
            slim(o);
        });
    let events = reflector::reflector(writer, stream).boxed();
    (reader.clone(), super::relist::relisted(events, reader))
}

/// Drops the `Apply` events of objects whose `fingerprint` (a hash of what decisions read of
/// them) is the same as at the object's previous event: for a kind capt only reads, a change
/// of what it does not read (another controller's status update) wakes nobody. Deletes, and
/// the first event of each object, always pass. The store is filled before this filter, so it
/// stays current either way. Keeps one pair of hashes per object.
pub fn changes_only<K>(events: EventStream<K>, fingerprint: fn(&K) -> u64) -> EventStream<K>
where
    K: Resource<DynamicType = ()> + Send + 'static,
{
    let mut seen: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    events
        .filter_map(move |ev| {
            let pass = match &ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    let fp = fingerprint(o);
                    seen.insert(object_id(o), fp) != Some(fp)
                }
                Ok(watcher::Event::Delete(o)) => {
                    seen.remove(&object_id(o));
                    true
                }
                _ => true,
            };
            std::future::ready(pass.then_some(ev))
        })
        .boxed()
}

/// A hash of an object's namespace and name.
fn object_id<K: Resource>(o: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    o.meta().namespace.hash(&mut h);
    o.meta().name.hash(&mut h);
    h.finish()
}

/// A hash of an object's metadata (without its resourceVersion) and of `rest` (e.g. its spec,
/// serialized).
pub fn meta_fingerprint<K: Resource, T: serde::Serialize>(o: &K, rest: &T) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut meta = o.meta().clone();
    meta.resource_version = None;
    meta.managed_fields = None;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&meta)
        .unwrap_or_default()
        .hash(&mut h);
    serde_json::to_string(rest).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Metadata-only caches use the same [`watch`] with an `Api<PartialObjectMeta<K>>`
/// (kube issues metadata-only requests for it), e.g. for Secrets whose data is fetched on demand.
pub type MetaStore<K> = Store<PartialObjectMeta<K>>;

/// resourceVersion of an object as a number (0 when opaque).
pub fn rv_of<K: Resource>(obj: &K) -> u64 {
    super::freshness::parse_rv(obj.resource_version().as_deref()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(name: &str, rv: &str, data: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("ns".into());
        c.metadata.resource_version = Some(rv.into());
        c.data = Some([("k".to_string(), data.to_string())].into());
        c
    }

    #[tokio::test]
    async fn unchanged_objects_wake_nobody_but_deletes_always_pass() {
        use watcher::Event::{Apply, Delete, InitDone};
        let input = vec![
            Apply(cm("a", "1", "x")),
            Apply(cm("a", "2", "x")), // only the resourceVersion moved: dropped
            Apply(cm("b", "3", "x")), // another object's first event passes
            Apply(cm("a", "4", "y")), // what decisions read changed
            InitDone,
            Delete(cm("a", "5", "y")),
            Apply(cm("a", "6", "y")), // recreated: a first event again
        ];
        let events: EventStream<ConfigMap> =
            futures::stream::iter(input.into_iter().map(Ok)).boxed();
        let data = |c: &ConfigMap| meta_fingerprint(c, &c.data);
        let out: Vec<String> = changes_only(events, data)
            .map(|ev| match ev.expect("event") {
                Apply(c) => format!("apply {}", c.metadata.resource_version.unwrap()),
                Delete(c) => format!("delete {}", c.metadata.resource_version.unwrap()),
                _ => "other".into(),
            })
            .collect()
            .await;
        assert_eq!(
            out,
            [
                "apply 1", "apply 3", "apply 4", "other", "delete 5", "apply 6"
            ]
        );
    }
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn strip_drops_managed_fields_and_last_applied_only() {
        let mut cm = ConfigMap::default();
        cm.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        cm.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{}".to_string()),
                ("keep".to_string(), "1".to_string()),
            ]
            .into(),
        );
        strip(&mut cm);
        assert!(cm.metadata.managed_fields.is_none());
        let a = cm.metadata.annotations.unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a["keep"], "1");
    }
}
