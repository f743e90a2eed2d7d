//! Why reconciles run: one counter per controller and trigger (`event:<Kind>`, `timer:<name>`,
//! `requeue`, `retry`, `start`, `resync`), so a reconcile that cannot change anything can be
//! traced to what woke it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::Metrics;

/// `{controller, trigger}` of a started reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TriggerLabels {
    pub controller: String,
    pub trigger: String,
}

#[derive(Default)]
pub(super) struct TriggerMetrics {
    started: Family<TriggerLabels, Counter>,
}

impl TriggerMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "capt_reconcile_triggers",
            "Reconciles started, by controller and what triggered them",
            self.started.clone(),
        );
    }
}

impl Metrics {
    /// A reconcile of `controller` started because of `trigger`.
    pub fn reconcile_triggered(&self, controller: &str, trigger: &str) {
        self.f()
            .triggers
            .started
            .get_or_create(&TriggerLabels {
                controller: controller.to_owned(),
                trigger: trigger.to_owned(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_counted_per_controller_and_trigger() {
        let m = Metrics::new();
        m.reconcile_triggered("captcluster", "event:Workspace");
        m.reconcile_triggered("captcluster", "event:Workspace");
        m.reconcile_triggered("captcluster", "timer:vpc-timeout");
        let text = m.encode();
        assert!(text.contains(
            "capt_reconcile_triggers_total{controller=\"captcluster\",trigger=\"event:Workspace\"} 2"
        ));
        assert!(text.contains(
            "capt_reconcile_triggers_total{controller=\"captcluster\",trigger=\"timer:vpc-timeout\"} 1"
        ));
    }
}
