//! One shutdown signal for every task of a controller: routers and other loops stop when it is
//! triggered, and background work (Event sends) is tracked so a shutdown can wait for it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

#[derive(Clone)]
pub struct Shutdown {
    signal: Arc<watch::Sender<bool>>,
    background: Arc<Mutex<JoinSet<()>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            signal: Arc::new(watch::channel(false).0),
            background: Arc::default(),
        }
    }
}

impl Shutdown {
    /// Resolves once the shutdown is triggered.
    pub fn triggered(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.signal.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    pub fn is_triggered(&self) -> bool {
        *self.signal.borrow()
    }

    /// Run `fut` as a task that ends at the latest when the shutdown is triggered.
    pub fn spawn_until<F>(&self, fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.triggered();
        tokio::spawn(async move {
            tokio::select! {
                () = fut => {}
                () = stop => {}
            }
        })
    }

    /// Run `fut` in the background; [`Self::drain`] waits for it.
    pub fn spawn_background<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut set = self.background.lock().unwrap_or_else(|e| e.into_inner());
        while set.try_join_next().is_some() {}
        set.spawn(fut);
    }

    /// Trigger the shutdown.
    pub fn trigger(&self) {
        self.signal.send_replace(true);
    }

    /// Wait up to `deadline` for the background work; false when some was still running (it is
    /// then aborted).
    pub async fn drain(&self, deadline: Duration) -> bool {
        let mut set =
            std::mem::take(&mut *self.background.lock().unwrap_or_else(|e| e.into_inner()));
        let all = async { while set.join_next().await.is_some() {} };
        let done = tokio::time::timeout(deadline, all).await.is_ok();
        set.abort_all();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_stop_on_the_signal_and_background_work_is_drained() {
        let s = Shutdown::default();
        let forever = s.spawn_until(std::future::pending());
        let (tx, rx) = tokio::sync::oneshot::channel();
        s.spawn_background(async move {
            let _ = tx.send(());
        });
        assert!(!s.is_triggered());
        s.trigger();
        forever.await.expect("stopped, not aborted");
        assert!(s.drain(Duration::from_secs(5)).await);
        rx.await.expect("background work ran");
        s.spawn_background(std::future::pending());
        assert!(!s.drain(Duration::from_millis(10)).await, "still running");
    }
}
