//! A keyed work queue with a bounded worker pool and a timer wheel.
//!
//! Keys are deduplicated: a key is queued, scheduled or running at most once. An enqueue while the key is
//! running marks it dirty, so it runs once more right after. Handlers return when to run the key again
//! (`Ok(Some(after))`), `Ok(None)` to wait for the next event, or an error to retry with exponential backoff.
//! Timers live in one [`DelayQueue`]; no task sleeps per object.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key as DelayKey;

/// Tuning of a [`run`] loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueConfig {
    /// Maximum number of handlers running at once.
    pub concurrency: usize,
    /// First retry delay after a failed run.
    pub backoff_base: Duration,
    /// Upper bound of the retry delay.
    pub backoff_max: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Sending half: enqueues keys to run as soon as a worker is free.
#[derive(Debug)]
pub(crate) struct QueueHandle<K> {
    tx: mpsc::UnboundedSender<K>,
}

impl<K> Clone for QueueHandle<K> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<K> QueueHandle<K> {
    /// Asks for `key` to be reconciled. Ignored once the queue loop has stopped.
    pub(crate) fn enqueue(&self, key: K) {
        let _ = self.tx.send(key);
    }
}

/// Creates a queue handle and the receiver that [`run`] consumes.
pub(crate) fn channel<K>() -> (QueueHandle<K>, mpsc::UnboundedReceiver<K>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (QueueHandle { tx }, rx)
}

/// A finished run: the key and the handler's result (`Err(())` when it panicked).
type Finished<K, E> = (K, Result<Result<Option<Duration>, E>, ()>);

struct State<K> {
    ready: VecDeque<K>,
    queued: HashSet<K>,
    running: HashSet<K>,
    dirty: HashSet<K>,
    scheduled: HashMap<K, (DelayKey, Instant)>,
    timers: DelayQueue<K>,
    failures: HashMap<K, u32>,
}

impl<K: Hash + Eq + Clone> State<K> {
    fn new() -> Self {
        Self {
            ready: VecDeque::new(),
            queued: HashSet::new(),
            running: HashSet::new(),
            dirty: HashSet::new(),
            scheduled: HashMap::new(),
            timers: DelayQueue::new(),
            failures: HashMap::new(),
        }
    }

    fn make_ready(&mut self, key: K) {
        if self.running.contains(&key) {
            self.dirty.insert(key);
            return;
        }
        if self.queued.contains(&key) {
            return;
        }
        if let Some((timer, _)) = self.scheduled.remove(&key) {
            self.timers.remove(&timer);
        }
        self.queued.insert(key.clone());
        self.ready.push_back(key);
    }

    fn schedule(&mut self, key: K, after: Duration) {
        if after.is_zero() {
            self.make_ready(key);
            return;
        }
        if self.queued.contains(&key) {
            return;
        }
        let at = Instant::now() + after;
        if let Some((timer, when)) = self.scheduled.get_mut(&key) {
            if *when > at {
                self.timers.reset_at(timer, at);
                *when = at;
            }
            return;
        }
        let timer = self.timers.insert_at(key.clone(), at);
        self.scheduled.insert(key, (timer, at));
    }
}

/// Runs the queue until the receiver's senders are all dropped and no work is left, or forever otherwise.
pub(crate) async fn run<K, F, Fut, E>(
    mut rx: mpsc::UnboundedReceiver<K>,
    config: QueueConfig,
    handler: F,
) where
    K: Hash + Eq + Clone + Display + Send + 'static,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Result<Option<Duration>, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let concurrency = config.concurrency.max(1);
    let mut state: State<K> = State::new();
    let mut tasks: JoinSet<Finished<K, E>> = JoinSet::new();
    let mut open = true;
    loop {
        while state.running.len() < concurrency {
            let Some(key) = state.ready.pop_front() else {
                break;
            };
            state.queued.remove(&key);
            state.running.insert(key.clone());
            let fut = handler(key.clone());
            tasks.spawn(async move {
                let out = AssertUnwindSafe(fut).catch_unwind().await.map_err(|_| ());
                (key, out)
            });
        }
        if !open && tasks.is_empty() && state.ready.is_empty() && state.timers.is_empty() {
            return;
        }
        tokio::select! {
            msg = rx.recv(), if open => match msg {
                Some(key) => state.make_ready(key),
                None => open = false,
            },
            Some(expired) = state.timers.next(), if !state.timers.is_empty() => {
                let key = expired.into_inner();
                state.scheduled.remove(&key);
                state.make_ready(key);
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok((key, outcome)) = joined else {
                    tracing::error!("queue worker was cancelled");
                    continue;
                };
                state.running.remove(&key);
                let rerun = state.dirty.remove(&key);
                match outcome {
                    Ok(Ok(next)) => {
                        state.failures.remove(&key);
                        if rerun {
                            state.make_ready(key);
                        } else if let Some(after) = next {
                            state.schedule(key, after);
                        }
                    }
                    Ok(Err(err)) => {
                        let n = state.failures.entry(key.clone()).or_insert(0);
                        let backoff = backoff(config, *n);
                        *n = n.saturating_add(1);
                        tracing::warn!(key = %key, error = %err, retry_in_ms = backoff.as_millis() as u64, "reconcile failed");
                        if rerun {
                            state.make_ready(key);
                        } else {
                            state.schedule(key, backoff);
                        }
                    }
                    Err(()) => {
                        let n = state.failures.entry(key.clone()).or_insert(0);
                        let backoff = backoff(config, *n);
                        *n = n.saturating_add(1);
                        tracing::error!(key = %key, "reconcile panicked");
                        state.schedule(key, backoff);
                    }
                }
            }
        }
    }
}

fn backoff(config: QueueConfig, failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.min(20)).unwrap_or(u32::MAX);
    config
        .backoff_base
        .saturating_mul(factor)
        .min(config.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn dedupes_and_requeues() {
        let (handle, rx) = channel::<String>();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let task = tokio::spawn(run(rx, QueueConfig::default(), move |_k: String| {
            let r = r.clone();
            async move {
                let n = r.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    Ok::<_, String>(Some(Duration::from_millis(20)))
                } else {
                    Ok(None)
                }
            }
        }));
        handle.enqueue("a".to_string());
        handle.enqueue("a".to_string());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        drop(handle);
        task.await.ok();
    }

    #[test]
    fn backoff_is_bounded() {
        let c = QueueConfig::default();
        assert_eq!(backoff(c, 0), Duration::from_millis(100));
        assert_eq!(backoff(c, 1), Duration::from_millis(200));
        assert_eq!(backoff(c, 40), Duration::from_secs(30));
    }
}
