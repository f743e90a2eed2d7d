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
    let (reader, writer) = reflector::store();
    let stream = watcher(api, cfg).default_backoff().modify(strip::<K>);
    let events = reflector::reflector(writer, stream).boxed();
    (reader.clone(), super::relist::relisted(events, reader))
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
