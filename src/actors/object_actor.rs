//! The per-object actor: one per owned object, supervised, at most one reconcile in flight.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::FutureExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanContext;
use rand::Rng;
use tracing::{Instrument, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::admit::{Admit, AdmitInput, AdmitState, admit};
use super::backoff::Backoff;
use super::inbox::Inbox;
use super::key::ObjectKey;
use super::observer::Outcome;
use super::reconciler::{
    Action, ErrorCategory, ErrorClass, ReconcileCtx, Reconciled, Reconciler, TimerCmd, Trigger,
};
use super::runtime::Shared;
use crate::telemetry::lineage::TraceBudget;
use crate::telemetry::otel;

/// Span status ERROR with the error's type (`transient`, `terminal`, `timeout`, `panic`), so a
/// failed reconcile shows as failed in a trace viewer.
fn mark_error(span: &tracing::Span, error_type: &'static str, message: &str) {
    span.set_status(opentelemetry::trace::Status::error(message.to_string()));
    span.set_attribute("error.type", error_type);
}

/// Wake-up: the inbox has something.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Stop for good (the object is gone or the runtime shuts down).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// How a reconcile ended, as seen by the actor.
enum Ended<E> {
    Done(Reconciled<E>),
    TimedOut,
    Panicked,
}

pub struct ObjectActor<R: Reconciler> {
    key: ObjectKey,
    reconciler: Arc<R>,
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    limiter: DefaultDirectRateLimiter,
    backoff: Backoff,
    in_flight: bool,
    /// Triggers that arrived while a reconcile ran.
    dirty: bool,
    next: Option<Trigger>,
    links: Vec<SpanContext>,
    woke_at: Option<Instant>,
    /// A reconcile is already scheduled for later (rate limit or freshness wait).
    deferred: Option<SpawnHandle>,
    /// `deferred` waits for the rate limit (new input may cancel it).
    deferred_by_rate: bool,
    retry: Option<SpawnHandle>,
    requeue: Option<SpawnHandle>,
    timers: HashMap<&'static str, SpawnHandle>,
    /// The freshness wait and the terminally failed generation, for [`admit`].
    admission: AdmitState,
    /// Reconciles continuing the object's current trace (see `telemetry::lineage`).
    trace_budget: TraceBudget,
    /// Told to stop while a reconcile ran: stop once it ends, start nothing new.
    stopping: bool,
}

impl<R: Reconciler> ObjectActor<R> {
    pub fn new(key: ObjectKey, reconciler: Arc<R>, shared: Arc<Shared>, inbox: Arc<Inbox>) -> Self {
        let s = &shared.settings;
        let quota =
            Quota::per_second(NonZeroU32::new(s.object_rate_per_sec).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(s.object_burst).unwrap_or(NonZeroU32::MIN));
        Self {
            key,
            reconciler,
            shared,
            inbox,
            limiter: RateLimiter::direct(quota),
            backoff: Backoff::default(),
            in_flight: false,
            dirty: false,
            next: Some(Trigger::Start),
            links: Vec::new(),
            woke_at: Some(Instant::now()),
            deferred: None,
            deferred_by_rate: false,
            retry: None,
            requeue: None,
            timers: HashMap::new(),
            admission: AdmitState::default(),
            trace_budget: TraceBudget::default(),
            stopping: false,
        }
    }

    fn kind(&self) -> &'static str {
        self.reconciler.kind()
    }

    /// Add a reason to run and try to run.
    fn enqueue(&mut self, trigger: Trigger, ctx: &mut Context<Self>) {
        if self.next.is_none() {
            self.woke_at = Some(Instant::now());
        }
        self.next = Some(Trigger::keep(self.next.take(), trigger));
        self.kick(ctx);
    }

    fn drain_inbox(&mut self) {
        let p = self.inbox.drain();
        if let Some(t) = p.trigger {
            if self.next.is_none() {
                self.woke_at = p.since;
            }
            self.next = Some(Trigger::keep(self.next.take(), t));
            for l in p.links {
                if self.links.len() < super::inbox::MAX_LINKS {
                    self.links.push(l);
                }
            }
        }
    }

    fn defer(&mut self, after: Duration, ctx: &mut Context<Self>) {
        if self.deferred.is_none() {
            self.deferred = Some(ctx.run_later(after, |act, ctx| {
                act.deferred = None;
                act.deferred_by_rate = false;
                act.kick(ctx);
            }));
        }
    }

    /// Start a reconcile if there is a reason to and nothing holds it back; then tell the
    /// registry whether the actor has anything left to do.
    fn kick(&mut self, ctx: &mut Context<Self>) {
        self.kick_now(ctx);
        self.note_idle();
    }

    /// Idle: nothing running, waiting, armed or remembered that a fresh actor would not rebuild
    /// from the cache. An idle actor may be put to sleep (see `Registry::sweep`).
    fn note_idle(&self) {
        let idle = !self.in_flight
            && !self.dirty
            && !self.stopping
            && self.next.is_none()
            && self.deferred.is_none()
            && self.retry.is_none()
            && self.requeue.is_none()
            && self.timers.is_empty()
            && self.admission == AdmitState::default();
        self.inbox.set_idle(idle);
    }

    fn kick_now(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if self.in_flight {
            self.dirty = true;
            return;
        }
        self.drain_inbox();
        if let Some(h) = self.deferred {
            // Held back by the rate limit, new input need not wait (a freshness wait holds).
            let new_input = self.next.as_ref().is_some_and(Trigger::is_new_input);
            if !(self.deferred_by_rate && new_input) {
                return;
            }
            ctx.cancel_future(h);
            self.deferred = None;
            self.deferred_by_rate = false;
        }
        let Some(trigger) = self.next.clone() else {
            return;
        };
        let Some((obj, generation)) = self.admit(&trigger, ctx) else {
            return;
        };
        self.start(obj, generation, trigger, ctx);
    }

    /// Run [`admit`] on this wake-up: defer it, drop it, or return the object to reconcile.
    fn admit(
        &mut self,
        trigger: &Trigger,
        ctx: &mut Context<Self>,
    ) -> Option<(Arc<R::Object>, Option<i64>)> {
        let kind = self.kind();
        let rate_wait = if trigger.is_new_input() {
            None
        } else {
            (self.limiter.check().err())
                .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
        };
        if rate_wait.is_some() {
            self.shared.observer.rate_limited(kind);
        }
        let caught_up = self.shared.freshness.caught_up(&self.inbox.writes);
        let obj = self.reconciler.get(&self.key);
        let settings = &self.shared.settings;
        let input = AdmitInput {
            rate_wait,
            woke_at: self.woke_at,
            event_settle: settings.event_settle,
            caught_up,
            object: obj
                .as_ref()
                .map(|o| kube::Resource::meta(o.as_ref()).generation),
            trigger,
            freshness_max_wait: settings.freshness_max_wait,
            freshness_poll: settings.freshness_poll,
        };
        match admit(&mut self.admission, &input, Instant::now()) {
            Admit::Defer(after) => {
                self.defer(after, ctx);
                self.deferred_by_rate = rate_wait.is_some();
                None
            }
            Admit::Skip => {
                self.inbox.writes.prune(&self.shared.freshness);
                if obj.is_some() {
                    tracing::debug!(key = %self.key, "terminal error at this generation; waiting for new input");
                }
                self.next = None;
                self.links.clear();
                None
            }
            Admit::Run => {
                if !caught_up {
                    tracing::debug!(key = %self.key, "cache did not catch up with own writes in time; reconciling anyway");
                }
                let o = obj?;
                let generation = kube::Resource::meta(o.as_ref()).generation;
                Some((o, generation))
            }
        }
    }

    /// Start a reconcile of `obj` now.
    fn start(
        &mut self,
        obj: Arc<R::Object>,
        generation: Option<i64>,
        trigger: Trigger,
        ctx: &mut Context<Self>,
    ) {
        let kind = self.kind();
        self.inbox.writes.prune(&self.shared.freshness);
        self.next = None;
        let links = std::mem::take(&mut self.links);
        let mailbox_wait = self.woke_at.take().map(|t| t.elapsed()).unwrap_or_default();
        self.in_flight = true;
        self.dirty = false;
        self.shared
            .observer
            .started(kind, &trigger.label(), mailbox_wait);

        let span = self.reconcile_span(obj.as_ref(), &trigger, mailbox_wait, links);
        let rctx = ReconcileCtx {
            key: self.key.clone(),
            trigger,
            writes: self.inbox.writes.clone(),
        };
        let reconciler = self.reconciler.clone();
        let shared = self.shared.clone();
        let timeout = shared.settings.reconcile_timeout;
        let started = Instant::now();
        let fut = async move {
            let permit = shared.semaphore(kind).acquire_owned().await;
            shared.observer.active(kind, 1);
            // Calling `reconcile` inside the guarded future also catches panics raised before
            // it returns its future.
            let run = AssertUnwindSafe(async move { reconciler.reconcile(obj, rctx).await })
                .catch_unwind();
            let ended = match tokio::time::timeout(timeout, run).await {
                Ok(Ok(res)) => Ended::Done(res),
                Ok(Err(_)) => Ended::Panicked,
                Err(_) => Ended::TimedOut,
            };
            shared.observer.active(kind, -1);
            (ended, permit)
        }
        .instrument(span.clone());
        // The permit is released only after `finish`, so a graceful shutdown also waits for the
        // outcome to be recorded.
        ctx.spawn(fut.into_actor(self).map(move |(ended, permit), act, ctx| {
            act.finish(ended, generation, started.elapsed(), &span, ctx);
            drop(permit);
        }));
    }

    /// The span of one reconcile: a child of the object's lifecycle trace (see [`lineage`]),
    /// linked to the objects whose events woke it, after a span for its wait in the mailbox.
    fn reconcile_span(
        &mut self,
        obj: &R::Object,
        trigger: &Trigger,
        mailbox_wait: Duration,
        links: Vec<SpanContext>,
    ) -> tracing::Span {
        let kind = self.kind();
        let meta = kube::Resource::meta(obj);
        let span = tracing::info_span!(
            "reconcile",
            otel.name = field::Empty,
            capt.kind = kind,
            k8s.namespace.name = field::Empty,
            capt.name = %self.key.name,
            capt.generation = meta.generation.unwrap_or_default(),
            capt.trigger = %trigger.label(),
            capt.mailbox_wait_ms = mailbox_wait.as_millis() as u64,
            capt.result = field::Empty,
        );
        span.record("otel.name", format!("reconcile {kind}"));
        if !self.key.namespace.is_empty() {
            span.record("k8s.namespace.name", &*self.key.namespace);
        }
        if !otel::exporting() {
            return span;
        }
        let parent = match self.reconciler.trace_parent(obj) {
            Some(sc) if self.trace_budget.admit(&sc) => Some(sc),
            Some(sc) => {
                span.add_link(sc);
                None
            }
            None => None,
        };
        if let Some(p) = &parent {
            let _ = span.set_parent(otel::remote_parent(p));
        }
        for l in links {
            span.add_link(l);
        }
        if !mailbox_wait.is_zero() {
            // A sibling of the reconcile in its lifecycle trace; the child of a reconcile that
            // starts a trace (a root of its own would be a one-span trace).
            let queue_parent = parent.clone().unwrap_or_else(|| otel::span_context(&span));
            otel::record_wait(
                format!("queue {kind}"),
                Some(&queue_parent),
                mailbox_wait,
                vec![
                    KeyValue::new("capt.kind", kind),
                    KeyValue::new("capt.name", self.key.name.clone()),
                    KeyValue::new("capt.trigger", trigger.label()),
                ],
            );
        }
        span
    }

    fn finish(
        &mut self,
        ended: Ended<R::Error>,
        generation: Option<i64>,
        elapsed: Duration,
        span: &tracing::Span,
        ctx: &mut Context<Self>,
    ) {
        self.in_flight = false;
        let kind = self.kind();
        let outcome = match ended {
            Ended::Done(Reconciled::Done(action) | Reconciled::Waiting { action, .. }) => {
                self.backoff.reset();
                let requeue = action.requeue_after.is_some();
                self.apply(action, ctx);
                if requeue {
                    Outcome::Requeue
                } else {
                    Outcome::Success
                }
            }
            Ended::Done(Reconciled::Failed(class, err)) => {
                self.failed(class, &err, generation, span, ctx);
                Outcome::Error
            }
            Ended::TimedOut => {
                tracing::warn!(parent: span, key = %self.key, "reconcile exceeded its deadline");
                mark_error(span, "timeout", "reconcile exceeded its deadline");
                self.schedule_retry(ctx);
                Outcome::Timeout
            }
            Ended::Panicked => {
                tracing::error!(parent: span, key = %self.key, "reconcile panicked; restarting the actor");
                mark_error(span, "panic", "reconcile panicked");
                Outcome::Panic
            }
        };
        span.record("capt.result", outcome.as_str());
        self.shared.observer.finished(kind, outcome, elapsed);
        if outcome == Outcome::Panic || self.stopping {
            ctx.stop();
            return;
        }
        if self.dirty || self.inbox.is_pending() {
            self.kick(ctx);
        }
        self.note_idle();
    }

    /// A failed reconcile: a transient failure retries with backoff, a terminal one waits for a
    /// new generation.
    fn failed(
        &mut self,
        class: ErrorClass,
        err: &R::Error,
        generation: Option<i64>,
        span: &tracing::Span,
        ctx: &mut Context<Self>,
    ) {
        let category = err.category();
        match class {
            ErrorClass::Transient => {
                tracing::warn!(parent: span, key = %self.key, category, error = %err, "reconcile failed; retrying with backoff");
                self.schedule_retry(ctx);
            }
            ErrorClass::Terminal => {
                tracing::warn!(parent: span, key = %self.key, category, error = %err, "reconcile failed terminally; no automatic retry until new input");
                self.backoff.reset();
                self.admission.terminal_generation = Some(generation);
            }
        }
        mark_error(span, class.as_str(), &err.to_string());
        span.set_attribute("capt.error.category", category);
        self.shared.observer.failed(self.kind(), class, category);
    }

    fn schedule_retry(&mut self, ctx: &mut Context<Self>) {
        let unit: f64 = rand::rng().random();
        let delay = self.backoff.fail(&self.shared.settings.backoff, unit);
        self.shared.observer.retried(self.kind());
        if let Some(h) = self.retry.take() {
            ctx.cancel_future(h);
        }
        self.retry = Some(ctx.run_later(delay, |act, ctx| {
            act.retry = None;
            act.enqueue(Trigger::Retry, ctx);
        }));
    }

    fn apply(&mut self, action: Action, ctx: &mut Context<Self>) {
        if let Some(h) = self.requeue.take() {
            ctx.cancel_future(h);
        }
        if let Some(h) = self.retry.take() {
            ctx.cancel_future(h);
        }
        if let Some(after) = action.requeue_after {
            self.requeue = Some(ctx.run_later(after, |act, ctx| {
                act.requeue = None;
                act.enqueue(Trigger::Requeue, ctx);
            }));
        }
        for cmd in action.timers {
            match cmd {
                TimerCmd::Arm { name, after } => {
                    if let Some(h) = self.timers.remove(name) {
                        ctx.cancel_future(h);
                    }
                    let h = ctx.run_later(after, move |act, ctx| {
                        act.timers.remove(name);
                        act.enqueue(Trigger::Timer(name), ctx);
                    });
                    self.timers.insert(name, h);
                }
                TimerCmd::Cancel(name) => {
                    if let Some(h) = self.timers.remove(name) {
                        ctx.cancel_future(h);
                    }
                }
            }
        }
    }

    fn reset(&mut self) {
        self.in_flight = false;
        self.dirty = false;
        self.deferred = None;
        self.deferred_by_rate = false;
        self.retry = None;
        self.requeue = None;
        self.timers.clear();
        self.links.clear();
        self.next = Some(Trigger::Start);
        self.woke_at = Some(Instant::now());
    }
}

impl<R: Reconciler> Actor for ObjectActor<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.shared.settings.mailbox_capacity);
        self.kick(ctx);
    }
}

impl<R: Reconciler> Supervised for ObjectActor<R> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        if self.stopping {
            // Told to stop while an address was still held: stay idle until the arbiter ends.
            return;
        }
        tracing::info!(key = %self.key, "actor restarting; state is rebuilt from the cache");
        self.reset();
    }
}

impl<R: Reconciler> Handler<Wake> for ObjectActor<R> {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.kick(ctx);
    }
}

impl<R: Reconciler> Handler<Stop> for ObjectActor<R> {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.stopping = true;
        self.next = None;
        for h in [self.deferred.take(), self.retry.take(), self.requeue.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(h);
        }
        for (_, h) in self.timers.drain() {
            ctx.cancel_future(h);
        }
        // Stopping the context would drop the reconcile in flight; `finish` stops after it.
        if !self.in_flight {
            ctx.stop();
        }
    }
}
