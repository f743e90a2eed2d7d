//! The Prometheus metrics as the runtime's and the writers' observer.

use std::time::Duration;

use crate::actors::ErrorClass;
use crate::actors::observer::{Observer, Outcome};
use crate::client::events::{EventObserver, EventType};
use crate::client::layer::ApiObserver;
use crate::client::status::StatusObserver;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::{RateLimitScope, ReconcileResult};

/// Controller name label of a kind (lowercase, like controller-runtime's).
fn controller(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

impl Observer for Metrics {
    fn actors(&self, kind: &'static str, delta: i64) {
        if delta > 0 {
            self.actor_started(kind);
        } else {
            self.actor_stopped(kind);
        }
    }

    fn queued(&self, kind: &'static str) {
        self.workqueue_add(&controller(kind));
    }

    fn started(&self, kind: &'static str, trigger: &str, mailbox_wait: Duration) {
        self.reconcile_triggered(&controller(kind), trigger);
        self.mailbox_wait(kind, mailbox_wait);
        self.workqueue_queue_duration(&controller(kind), mailbox_wait);
    }

    fn finished(&self, kind: &'static str, outcome: Outcome, elapsed: Duration) {
        let result = match outcome {
            Outcome::Success => ReconcileResult::Success,
            Outcome::Requeue => ReconcileResult::RequeueAfter,
            Outcome::Error | Outcome::Timeout | Outcome::Panic => ReconcileResult::Error,
        };
        if outcome == Outcome::Panic {
            self.reconcile_panic(kind);
        }
        self.reconcile_done(&controller(kind), result, elapsed);
    }

    fn failed(&self, kind: &'static str, class: ErrorClass, category: &'static str) {
        self.reconcile_error(&controller(kind), class.as_str(), category);
    }

    fn rate_limited(&self, _kind: &'static str) {
        Metrics::rate_limited(self, RateLimitScope::Object);
    }

    fn retried(&self, kind: &'static str) {
        self.workqueue_retry(&controller(kind));
    }

    fn active(&self, kind: &'static str, delta: i64) {
        if delta > 0 {
            self.worker_started(&controller(kind));
        } else {
            self.worker_finished(&controller(kind));
        }
    }
}

impl ApiObserver for Metrics {
    fn request(&self, verb: &'static str, resource: &str, code: u16) {
        self.api_request(verb, resource, code);
    }

    fn rate_limited(&self) {
        Metrics::rate_limited(self, RateLimitScope::Client);
    }
}

impl StatusObserver for Metrics {
    fn status_write(&self, kind: &'static str, written: bool) {
        if written {
            Metrics::status_write(self, kind);
        } else {
            self.status_write_skipped(kind);
        }
    }
}

impl EventObserver for Metrics {
    fn event(&self, kind: &str, type_: EventType, reason: &str, outcome: &'static str) {
        match outcome {
            "created" | "aggregated" => Metrics::event(self, kind, type_.as_str(), reason),
            "dropped" => self.event_dropped("budget"),
            cause => self.event_dropped(cause),
        }
    }
}
