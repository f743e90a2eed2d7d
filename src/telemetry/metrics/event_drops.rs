//! Events not sent: over their object's budget (`budget`), the queue full (`queue-full`), or the
//! API call failed (`failed`). Events are best effort; this says how much was lost and why.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::Metrics;

/// `{cause}` of a dropped Event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DropLabels {
    pub cause: String,
}

/// Every cause, for series created at 0.
pub const CAUSES: [&str; 3] = ["budget", "queue-full", "failed"];

#[derive(Default)]
pub(super) struct EventDropMetrics {
    dropped: Family<DropLabels, Counter>,
}

impl EventDropMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        for cause in CAUSES {
            let _ = self.dropped.get_or_create(&DropLabels {
                cause: cause.into(),
            });
        }
        r.register(
            "capt_events_dropped",
            "Kubernetes Events not sent, by cause (budget, queue-full, failed)",
            self.dropped.clone(),
        );
    }
}

impl Metrics {
    /// An Event was not sent because of `cause`.
    pub fn event_dropped(&self, cause: &str) {
        self.f()
            .event_drops
            .dropped
            .get_or_create(&DropLabels {
                cause: cause.to_owned(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_by_cause_from_zero() {
        let m = Metrics::new();
        let text = m.encode();
        assert!(text.contains("capt_events_dropped_total{cause=\"queue-full\"} 0"));
        m.event_dropped("queue-full");
        m.event_dropped("queue-full");
        let text = m.encode();
        assert!(text.contains("capt_events_dropped_total{cause=\"queue-full\"} 2"));
        assert!(text.contains("capt_events_dropped_total{cause=\"budget\"} 0"));
    }
}
