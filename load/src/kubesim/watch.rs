//! Watch streams: replay from the history ring, synthetic ADDED events, streaming-list bookmarks,
//! timeouts, fault cuts and a bounded channel per watcher.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures::Stream;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::resources::ResourceDef;
use super::selectors::Filter;
use super::status::{ApiError, ApiResult};
use super::store::{Store, Watcher, at_version, bookmark_line, event_line};

/// Events buffered per watcher before it counts as too slow and its stream is closed.
pub const WATCH_BUFFER: usize = 16_384;

/// Lines per chunk when several are ready at once.
const BATCH: usize = 128;

pub struct WatchParams {
    pub ns: Option<String>,
    pub resource_version: Option<String>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub filter: Filter,
    pub version: String,
}

/// Fault-driven changes to one watch.
#[derive(Default)]
pub struct WatchFaults {
    pub expired: bool,
    pub cut_after_events: Option<u64>,
    pub cut_after: Option<Duration>,
}

enum Pending {
    Line(Bytes),
    Added(Arc<Value>),
}

struct State {
    initial: VecDeque<Pending>,
    rx: Option<mpsc::Receiver<Bytes>>,
    deadline: Instant,
    remaining: Option<u64>,
    api_version: String,
    done: bool,
}

fn error_line(e: &ApiError) -> Bytes {
    event_line("ERROR", &e.to_status())
}

/// Sets up a watch under the store lock and returns its body stream.
pub fn start(
    store: &Store,
    def: &ResourceDef,
    p: WatchParams,
    faults: WatchFaults,
) -> ApiResult<impl Stream<Item = Result<Bytes, Infallible>> + Send + use<>> {
    let api_version = def.api_version(&p.version);
    let requested: Option<u64> = match p.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))?,
        ),
    };
    let timeout = faults.cut_after.map_or(p.timeout, |c| c.min(p.timeout));
    let mut st = State {
        initial: VecDeque::new(),
        rx: None,
        deadline: Instant::now() + timeout,
        remaining: faults.cut_after_events,
        api_version: api_version.clone(),
        done: false,
    };
    if faults.expired {
        st.initial
            .push_back(Pending::Line(error_line(&ApiError::injected(410))));
        return Ok(stream(st));
    }
    let mut g = store.lock();
    match requested.filter(|_| !p.send_initial_events) {
        Some(rv) => {
            if rv < g.compacted {
                let e = ApiError::gone(rv, g.compacted + 1);
                st.initial.push_back(Pending::Line(error_line(&e)));
                return Ok(stream(st));
            }
            let from = g.history.partition_point(|e| e.rv <= rv);
            let storage_av = def.storage_api_version();
            for e in g.history.range(from..) {
                if e.res != def.key || p.ns.as_deref().is_some_and(|n| n != e.ns) {
                    continue;
                }
                if !p.filter.matches(&e.obj) {
                    continue;
                }
                if storage_av == api_version {
                    st.initial.push_back(Pending::Line(e.line.clone()));
                } else {
                    st.initial.push_back(Pending::Line(event_line(
                        e.type_.as_str(),
                        &at_version(&e.obj, &api_version),
                    )));
                }
            }
        }
        None => {
            let name = p.filter.exact_name().map(String::from);
            for (_, obj) in g.scan(&def.key, p.ns.as_deref(), None) {
                if name.as_deref().is_some_and(|n| {
                    obj.pointer("/metadata/name").and_then(|v| v.as_str()) != Some(n)
                }) {
                    continue;
                }
                if p.filter.matches(obj) {
                    st.initial.push_back(Pending::Added(obj.clone()));
                }
            }
            if p.send_initial_events {
                st.initial.push_back(Pending::Line(bookmark_line(
                    &api_version,
                    &def.kind,
                    &g.rv.to_string(),
                    true,
                )));
            }
        }
    }
    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    g.next_watcher += 1;
    g.watchers
        .entry(def.key.clone())
        .or_default()
        .push(Watcher {
            ns: p.ns.clone(),
            filter: p.filter,
            tx,
            bookmarks: p.bookmarks,
            api_version,
            kind: def.kind.clone(),
        });
    drop(g);
    st.rx = Some(rx);
    Ok(stream(st))
}

fn take_budget(st: &mut State) -> bool {
    match &mut st.remaining {
        Some(0) => false,
        Some(n) => {
            *n -= 1;
            true
        }
        None => true,
    }
}

fn render(p: Pending, api_version: &str) -> Bytes {
    match p {
        Pending::Line(b) => b,
        Pending::Added(o) => event_line("ADDED", &at_version(&o, api_version)),
    }
}

fn stream(st: State) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        if !st.initial.is_empty() {
            let mut buf = Vec::new();
            while buf.len() < BATCH {
                if st.initial.is_empty() || !take_budget(&mut st) {
                    break;
                }
                if let Some(p) = st.initial.pop_front() {
                    buf.push(render(p, &st.api_version));
                }
            }
            if st.initial.is_empty() && st.rx.is_none() {
                st.done = true;
            }
            if buf.is_empty() {
                return None;
            }
            return Some((Ok(concat(buf)), st));
        }
        if st.remaining == Some(0) {
            return None;
        }
        let rx = st.rx.as_mut()?;
        let first = tokio::select! {
            v = rx.recv() => v,
            _ = tokio::time::sleep_until(st.deadline) => None,
        }?;
        let mut buf = vec![first];
        let _ = take_budget(&mut st);
        while buf.len() < BATCH && st.remaining != Some(0) {
            let Some(rx) = st.rx.as_mut() else { break };
            match rx.try_recv() {
                Ok(b) => {
                    let _ = take_budget(&mut st);
                    buf.push(b);
                }
                Err(_) => break,
            }
        }
        Some((Ok(concat(buf)), st))
    })
}

fn concat(mut parts: Vec<Bytes>) -> Bytes {
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let len = parts.iter().map(|p| p.len()).sum();
    let mut v = Vec::with_capacity(len);
    for p in parts {
        v.extend_from_slice(&p);
    }
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubesim::resources::ResKey;
    use futures::StreamExt;
    use serde_json::json;

    #[tokio::test]
    async fn slow_watcher_is_dropped_without_blocking_writes() {
        let store = Store::new(100_000, 0);
        let (ns_def, cm_def) = {
            let g = store.lock();
            (
                g.def(&ResKey::new("", "namespaces")).unwrap(),
                g.def(&ResKey::new("", "configmaps")).unwrap(),
            )
        };
        store
            .lock()
            .create(
                &ns_def,
                "v1",
                "",
                json!({"metadata": {"name": "default"}}),
                false,
            )
            .unwrap();
        let params = WatchParams {
            ns: None,
            resource_version: Some(store.lock().rv.to_string()),
            send_initial_events: false,
            bookmarks: false,
            timeout: Duration::from_secs(30),
            filter: Filter::default(),
            version: "v1".into(),
        };
        let s = start(&store, &cm_def, params, WatchFaults::default()).unwrap();
        assert_eq!(store.lock().watcher_count(), 1);
        for i in 0..WATCH_BUFFER + 10 {
            let body = json!({"metadata": {"name": format!("c{i}")}});
            store
                .lock()
                .create(&cm_def, "v1", "default", body, false)
                .unwrap();
        }
        assert_eq!(
            store.lock().watcher_count(),
            0,
            "the slow watcher was dropped"
        );
        let chunks: Vec<_> = s.collect().await;
        let lines: usize = chunks
            .iter()
            .map(|c| {
                c.as_ref()
                    .map(|b| b.iter().filter(|x| **x == b'\n').count())
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(
            lines, WATCH_BUFFER,
            "buffered events are delivered, then the stream ends"
        );
    }
}
