//! EKS token metrics: refresh results, the time left on a token when it is replaced, and the earliest expiry
//! over every control plane (one gauge, no label per cluster; an alert compares it with `time()`).

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};
use prometheus_client::registry::Registry;

use super::Metrics;

/// `{result}` of a token refresh: `signed` or a failure reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RefreshLabels {
    pub result: String,
}

pub(super) struct TokenMetrics {
    refreshes: Family<RefreshLabels, Counter>,
    left_at_refresh: Histogram,
    earliest_expiry: Gauge,
    expiries: Mutex<HashMap<String, i64>>,
}

impl TokenMetrics {
    pub(super) fn new() -> Self {
        Self {
            refreshes: Family::default(),
            // 0 … 15 min by the minute.
            left_at_refresh: Histogram::new(linear_buckets(0.0, 60.0, 16)),
            earliest_expiry: Gauge::default(),
            expiries: Mutex::default(),
        }
    }

    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "capt_token_refreshes",
            "EKS token signings by result (signed, or the failure reason)",
            self.refreshes.clone(),
        );
        r.register(
            "capt_token_seconds_to_expiry_at_refresh",
            "Seconds the replaced EKS token still had when a new one was signed",
            self.left_at_refresh.clone(),
        );
        r.register(
            "capt_kubeconfig_token_earliest_expiry_timestamp_seconds",
            "Unix time at which the earliest-expiring kubeconfig token of all control planes expires",
            self.earliest_expiry.clone(),
        );
    }
}

impl Metrics {
    /// A token signing ended with `result`.
    pub fn token_refresh(&self, result: &str) {
        self.f()
            .tokens
            .refreshes
            .get_or_create(&RefreshLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// A token with `seconds_left` was replaced.
    pub fn token_replaced(&self, seconds_left: f64) {
        self.f()
            .tokens
            .left_at_refresh
            .observe(seconds_left.max(0.0));
    }

    /// The kubeconfig of `key` carries a token expiring at `expires_at` (unix seconds); `None`: forget it.
    pub fn token_expiry(&self, key: &str, expires_at: Option<i64>) {
        let t = &self.f().tokens;
        let mut m = t.expiries.lock().unwrap_or_else(|p| p.into_inner());
        match expires_at {
            Some(at) => m.insert(key.to_owned(), at),
            None => m.remove(key),
        };
        t.earliest_expiry
            .set(m.values().copied().min().unwrap_or(0));
    }
}
