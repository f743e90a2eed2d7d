//! One kube-runtime `Controller` for one reconciled kind, driving a capt [`Reconciler`]:
//! the shared cache's event stream is its main trigger, mapped child events arrive through
//! `reconcile_on`, and capt's actions and error classes become kube-runtime actions.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::{StreamExt, TryStreamExt, future, stream};
use kube::Resource;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action as KubeAction, Config, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use rand::Rng;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::triggers::{OwnersFn, Triggers};
use crate::actors::backoff::{Backoff, BackoffPolicy};
use crate::actors::cache::EventStream;
use crate::actors::freshness::WriteLog;
use crate::actors::observer::Outcome;
use crate::actors::{
    Action, ErrorCategory, ErrorClass, ObjectKey, ReconcileCtx, Reconciled, Reconciler,
    RuntimeSettings, TimerCmd, Trigger,
};

/// A failed reconcile as kube-runtime sees it: the class decides the retry.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failed {
    pub class: ErrorClass,
    pub category: &'static str,
    pub message: String,
}

/// kube-runtime keeps one scheduled wake-up per object: requeue at the earliest of the requeue
/// time and every armed timer (cancellations have nothing to cancel).
pub fn to_kube_action(a: &Action) -> KubeAction {
    let timers = a.timers.iter().filter_map(|t| match t {
        TimerCmd::Arm { after, .. } => Some(*after),
        TimerCmd::Cancel(_) => None,
    });
    match a.requeue_after.into_iter().chain(timers).min() {
        Some(d) => KubeAction::requeue(d),
        None => KubeAction::await_change(),
    }
}

/// Transient errors back off exponentially; terminal ones wait for the next event.
pub fn error_action(
    class: ErrorClass,
    backoff: &mut Backoff,
    policy: &BackoffPolicy,
    unit: f64,
) -> KubeAction {
    match class {
        ErrorClass::Transient => KubeAction::requeue(backoff.fail(policy, unit)),
        ErrorClass::Terminal => {
            backoff.reset();
            KubeAction::await_change()
        }
    }
}

pub struct KindCtx<R: Reconciler> {
    reconciler: Arc<R>,
    kind: &'static str,
    triggers: Arc<Triggers>,
    failures: DashMap<ObjectKey, Backoff>,
    policy: BackoffPolicy,
    timeout: Duration,
}

async fn reconcile<R: Reconciler>(
    obj: Arc<R::Object>,
    c: Arc<KindCtx<R>>,
) -> Result<KubeAction, Failed> {
    let kind = c.kind;
    let key = ObjectKey::of(kind, obj.as_ref());
    let obs = c.triggers.observer.clone();
    obs.started(kind, "queue", c.triggers.take_wait(&key));
    obs.active(kind, 1);
    let span = tracing::info_span!(
        "reconcile",
        otel.name = format!("reconcile {kind}"),
        capt.kind = kind,
        k8s.namespace.name = %key.namespace,
        capt.name = %key.name,
        capt.runtime = "kube-runtime",
    );
    let rctx = ReconcileCtx {
        key: key.clone(),
        trigger: Trigger::Event(kind),
        writes: WriteLog::default(),
    };
    let started = Instant::now();
    let res = tokio::time::timeout(c.timeout, c.reconciler.reconcile(obj, rctx))
        .instrument(span)
        .await;
    obs.active(kind, -1);
    let took = started.elapsed();
    match res {
        Ok(done) => {
            let (outcome, action) = ended(done, &key);
            if action.is_ok() {
                c.failures.remove(&key);
            }
            if let Err(f) = &action {
                obs.failed(kind, f.class, f.category);
            }
            obs.finished(kind, outcome, took);
            action
        }
        Err(_) => {
            obs.finished(kind, Outcome::Timeout, took);
            Err(Failed {
                class: ErrorClass::Transient,
                category: "timeout",
                message: format!("reconcile timed out after {:?}", c.timeout),
            })
        }
    }
}

/// What kube-runtime gets for a finished reconcile, with its result label. Waiting is no error:
/// it ends like a done reconcile, its action scheduling the next one.
fn ended<E: std::error::Error + ErrorCategory>(
    r: Reconciled<E>,
    key: &ObjectKey,
) -> (Outcome, Result<KubeAction, Failed>) {
    match r {
        Reconciled::Done(action) | Reconciled::Waiting { action, .. } => {
            let outcome = if action.requeue_after.is_some() {
                Outcome::Requeue
            } else {
                Outcome::Success
            };
            (outcome, Ok(to_kube_action(&action)))
        }
        Reconciled::Failed(class, e) => {
            let category = e.category();
            tracing::debug!(%key, error = %e, class = class.as_str(), category, "reconcile failed");
            let failed = Failed {
                class,
                category,
                message: e.to_string(),
            };
            (Outcome::Error, Err(failed))
        }
    }
}

fn error_policy<R: Reconciler>(
    obj: Arc<R::Object>,
    err: &Failed,
    c: Arc<KindCtx<R>>,
) -> KubeAction {
    let key = ObjectKey::of(c.kind, obj.as_ref());
    if err.class == ErrorClass::Transient {
        c.triggers.observer.retried(c.kind);
    }
    let unit: f64 = rand::rng().random();
    let mut b = c.failures.entry(key).or_default();
    error_action(err.class, &mut b, &c.policy, unit)
}

fn object_ref<K: Resource<DynamicType = ()>>(key: &ObjectKey) -> ObjectRef<K> {
    let r = ObjectRef::new(&key.name);
    if key.namespace.is_empty() {
        r
    } else {
        r.within(&key.namespace)
    }
}

/// What one kind's controller is built from.
pub struct KindSpec<R, K>
where
    R: Reconciler<Object = K>,
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    pub reconciler: Arc<R>,
    pub store: Store<K>,
    pub own: EventStream<K>,
    pub owners: Option<OwnersFn<K>>,
    pub requests: mpsc::UnboundedReceiver<ObjectKey>,
}

/// Run `spec` as a kube-runtime controller until `stop` resolves and running reconciles finish.
pub fn spawn<R, K>(
    spec: KindSpec<R, K>,
    triggers: Arc<Triggers>,
    settings: &RuntimeSettings,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) -> JoinHandle<()>
where
    R: Reconciler<Object = K>,
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let kind = spec.reconciler.kind();
    let t = triggers.clone();
    let owners = spec.owners;
    let gate = triggers.gate.clone();
    let own = spec
        .own
        .inspect(move |ev| {
            if let Ok(ev) = ev {
                t.on_event(kind, ev, owners.as_deref(), true);
            }
        })
        .touched_objects()
        .try_filter(move |_| future::ready(gate.is_open()));
    let requests = stream::unfold(spec.requests, |mut rx| async move {
        rx.recv().await.map(|k| (object_ref::<K>(&k), rx))
    });
    let gate = triggers.gate.clone();
    let opened = stream::once(async move { gate.wait().await });
    let concurrency = u16::try_from(settings.max_concurrent_reconciles.max(1)).unwrap_or(u16::MAX);
    let ctx = Arc::new(KindCtx {
        reconciler: spec.reconciler,
        kind,
        triggers,
        failures: DashMap::new(),
        policy: settings.backoff,
        timeout: settings.reconcile_timeout,
    });
    let controller = Controller::for_stream(own, spec.store)
        .reconcile_on(requests)
        .reconcile_all_on(opened)
        .with_config(Config::default().concurrency(concurrency))
        .graceful_shutdown_on(stop);
    tokio::spawn(
        controller
            .run(reconcile::<R>, error_policy::<R>, ctx)
            .for_each(move |res| {
                if let Err(e) = res {
                    tracing::debug!(kind, error = %e, "controller");
                }
                future::ready(())
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requeue_at_the_earliest_of_requeue_and_timers() {
        let a = Action::requeue(Duration::from_secs(30))
            .with_timer(TimerCmd::Arm {
                name: "seed",
                after: Duration::from_secs(5),
            })
            .with_timer(TimerCmd::Cancel("other"));
        assert_eq!(
            to_kube_action(&a),
            KubeAction::requeue(Duration::from_secs(5))
        );
        let t = Action::await_change().with_timer(TimerCmd::Arm {
            name: "seed",
            after: Duration::from_secs(9),
        });
        assert_eq!(
            to_kube_action(&t),
            KubeAction::requeue(Duration::from_secs(9))
        );
        assert_eq!(
            to_kube_action(&Action::await_change()),
            KubeAction::await_change()
        );
    }

    #[test]
    fn only_transient_errors_back_off() {
        let p = BackoffPolicy::default();
        let mut b = Backoff::default();
        assert_eq!(
            error_action(ErrorClass::Transient, &mut b, &p, 0.0),
            KubeAction::requeue(Duration::from_secs(1))
        );
        assert_eq!(
            error_action(ErrorClass::Transient, &mut b, &p, 0.0),
            KubeAction::requeue(Duration::from_secs(2))
        );
        assert_eq!(
            error_action(ErrorClass::Terminal, &mut b, &p, 0.0),
            KubeAction::await_change()
        );
        assert_eq!(
            error_action(ErrorClass::Transient, &mut b, &p, 0.0),
            KubeAction::requeue(Duration::from_secs(1))
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("scripted")]
    struct Scripted;

    impl ErrorCategory for Scripted {
        fn category(&self) -> &'static str {
            "scripted"
        }
    }

    #[test]
    fn waiting_ends_like_done_and_failures_carry_class_and_category() {
        let key = ObjectKey::new("K", "ns", "n");
        let waiting = Reconciled::<Scripted>::Waiting {
            reason: "WaitingForVPC",
            action: Action::await_change(),
        };
        let (outcome, action) = ended(waiting, &key);
        assert_eq!(outcome, Outcome::Success);
        assert_eq!(action.unwrap(), KubeAction::await_change());
        let waiting = Reconciled::<Scripted>::Waiting {
            reason: "WaitingForVPC",
            action: Action::requeue(Duration::from_secs(4)),
        };
        let (outcome, action) = ended(waiting, &key);
        assert_eq!(outcome, Outcome::Requeue);
        assert_eq!(action.unwrap(), KubeAction::requeue(Duration::from_secs(4)));
        let (outcome, action) = ended(Reconciled::Failed(ErrorClass::Terminal, Scripted), &key);
        assert_eq!(outcome, Outcome::Error);
        let f = action.unwrap_err();
        assert_eq!((f.class, f.category), (ErrorClass::Terminal, "scripted"));
    }
}
