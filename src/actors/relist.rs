//! Relists are events. When a watch restarts (e.g. after "410 too old resource version") kube's
//! reflector buffers the relisted objects and swaps them into the store at `InitDone`; anything
//! that reacts to the relisted objects before then reads the old store, and anything that changed
//! while the watch was down would otherwise wake nobody. [`relisted`] turns each relist into the
//! watch events it stands for: once the store holds the new list, every object that is new or has
//! a new resourceVersion becomes an `Apply`, every object that vanished a `Delete`. Unchanged
//! objects produce nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use kube::Resource;
use kube::runtime::reflector::Store;
use kube::runtime::watcher::Event;

use super::cache::EventStream;

type Ident = (Option<String>, String);

fn ident<K: Resource>(obj: &K) -> Ident {
    let m = obj.meta();
    (m.namespace.clone(), m.name.clone().unwrap_or_default())
}

/// The events a relist stands for: `before` is the cache before the relist, `after` the relisted
/// objects. Vanished objects (and objects replaced under the same name, seen by a new uid) come
/// first as `Delete` of the last known state, then new and changed objects as `Apply`, each group
/// ordered by namespace and name.
pub fn diff<K: Resource + Clone>(before: &[Arc<K>], after: &[Arc<K>]) -> Vec<Event<K>> {
    let old: HashMap<Ident, &Arc<K>> = before.iter().map(|o| (ident(o.as_ref()), o)).collect();
    let mut kept: HashSet<Ident> = HashSet::with_capacity(after.len());
    let mut deletes = Vec::new();
    let mut applies = Vec::new();
    for new in after {
        let id = ident(new.as_ref());
        match old.get(&id) {
            Some(prev) if prev.meta().uid != new.meta().uid => {
                deletes.push(Event::Delete(prev.as_ref().clone()));
                applies.push(Event::Apply(new.as_ref().clone()));
            }
            Some(prev) if prev.meta().resource_version == new.meta().resource_version => {}
            _ => applies.push(Event::Apply(new.as_ref().clone())),
        }
        kept.insert(id);
    }
    for prev in before {
        if !kept.contains(&ident(prev.as_ref())) {
            deletes.push(Event::Delete(prev.as_ref().clone()));
        }
    }
    // Stable order (by namespace/name within deletes, then applies) for logs and tests.
    let by_ident = |e: &Event<K>| match e {
        Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => ident(o),
        Event::Init | Event::InitDone => (None, String::new()),
    };
    deletes.sort_by_cached_key(by_ident);
    applies.sort_by_cached_key(by_ident);
    deletes.extend(applies);
    deletes
}

/// Wrap a reflector's event stream (whose store is `store`): `InitApply` events are held back and
/// `InitDone` is preceded by the relist's [`diff`] against the store as it was at `Init`. Other
/// events pass through; `Init` and `InitDone` still mark the relist's start and end.
pub fn relisted<K>(stream: EventStream<K>, store: Store<K>) -> EventStream<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let mut before: Option<Vec<Arc<K>>> = None;
    stream
        .flat_map(move |ev| {
            let out = match ev {
                Ok(Event::Init) => {
                    // The store is untouched until InitDone, so a relist restarted before it ends
                    // snapshots the same state again.
                    before = Some(store.state());
                    vec![Ok(Event::Init)]
                }
                Ok(Event::InitApply(_)) => Vec::new(),
                Ok(Event::InitDone) => {
                    let prev = before.take().unwrap_or_default();
                    let mut v: Vec<_> = diff(&prev, &store.state()).into_iter().map(Ok).collect();
                    v.push(Ok(Event::InitDone));
                    v
                }
                other => vec![other],
            };
            futures::stream::iter(out)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(name: &str, uid: &str, rv: &str) -> Arc<ConfigMap> {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("ns".into());
        c.metadata.uid = Some(uid.into());
        c.metadata.resource_version = Some(rv.into());
        Arc::new(c)
    }

    fn summary(evs: &[Event<ConfigMap>]) -> Vec<(&'static str, String, String)> {
        evs.iter()
            .map(|e| match e {
                Event::Apply(o) => (
                    "apply",
                    o.metadata.name.clone(),
                    o.metadata.resource_version.clone(),
                ),
                Event::Delete(o) => (
                    "delete",
                    o.metadata.name.clone(),
                    o.metadata.resource_version.clone(),
                ),
                _ => ("other", None, None),
            })
            .map(|(op, n, rv)| (op, n.unwrap_or_default(), rv.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn unchanged_objects_produce_no_events() {
        let objs = vec![cm("a", "1", "10"), cm("b", "2", "11")];
        assert!(diff(&objs, &objs).is_empty());
    }

    #[test]
    fn changed_new_and_vanished_objects_become_events() {
        let before = vec![
            cm("same", "1", "10"),
            cm("changed", "2", "11"),
            cm("gone", "3", "12"),
        ];
        let after = vec![
            cm("same", "1", "10"),
            cm("changed", "2", "20"),
            cm("new", "4", "21"),
        ];
        let s = summary(&diff(&before, &after));
        assert_eq!(
            s,
            vec![
                ("delete", "gone".into(), "12".into()),
                ("apply", "changed".into(), "20".into()),
                ("apply", "new".into(), "21".into()),
            ]
        );
    }

    #[test]
    fn a_replaced_object_is_deleted_then_applied() {
        let before = vec![cm("x", "old", "10")];
        let after = vec![cm("x", "new", "30")];
        assert_eq!(
            summary(&diff(&before, &after)),
            vec![
                ("delete", "x".into(), "10".into()),
                ("apply", "x".into(), "30".into())
            ]
        );
    }

    #[test]
    fn the_first_list_is_all_new_and_an_empty_relist_deletes_everything() {
        let objs = vec![cm("a", "1", "10"), cm("b", "2", "11")];
        assert_eq!(diff(&[], &objs).len(), 2);
        let gone = summary(&diff(&objs, &[]));
        assert!(gone.iter().all(|(op, _, _)| *op == "delete"));
        assert_eq!(gone.len(), 2);
    }

    #[test]
    fn same_name_in_other_namespaces_is_another_object() {
        let a = cm("x", "1", "10");
        let mut other = (*a).clone();
        other.metadata.namespace = Some("other".into());
        other.metadata.uid = Some("9".into());
        let after = vec![a.clone(), Arc::new(other)];
        assert_eq!(summary(&diff(&[a], &after)).len(), 1);
    }

    #[tokio::test]
    async fn a_relist_through_the_reflector_yields_its_diff_after_the_store_swapped() {
        use kube::runtime::reflector;
        use kube::runtime::watcher;
        let (reader, writer) = reflector::store::<ConfigMap>();
        let input: Vec<Result<Event<ConfigMap>, watcher::Error>> = vec![
            Ok(Event::Init),
            Ok(Event::InitApply((*cm("a", "1", "10")).clone())),
            Ok(Event::InitApply((*cm("b", "2", "11")).clone())),
            Ok(Event::InitDone),
            Ok(Event::Init),
            Ok(Event::InitApply((*cm("a", "1", "15")).clone())),
            Ok(Event::InitDone),
        ];
        let inner = reflector::reflector(writer, futures::stream::iter(input)).boxed();
        let store = reader.clone();
        let out: Vec<_> = relisted(inner, reader)
            .map(|e| e.expect("no errors"))
            .collect()
            .await;
        let s = summary(&out);
        assert_eq!(
            s,
            vec![
                ("other", String::new(), String::new()),
                ("apply", "a".into(), "10".into()),
                ("apply", "b".into(), "11".into()),
                ("other", String::new(), String::new()),
                ("other", String::new(), String::new()),
                ("delete", "b".into(), "11".into()),
                ("apply", "a".into(), "15".into()),
                ("other", String::new(), String::new()),
            ]
        );
        assert_eq!(store.state().len(), 1);
    }
}
