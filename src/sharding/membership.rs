//! Membership: every replica holds its own shard Lease (named after it, labelled with the ring);
//! the members of a ring are the holders of its live Leases.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};

use super::labels::{RING_LABEL, ring_selector};
use crate::actors::leader::{LeaderElector, LeaseSettings, LeaseVerdict, judge};

/// No replica has this identity (it is not a label value), so [`judge`] never calls a Lease ours.
const NOBODY: &str = "\0";

/// The holders of the live Leases among `leases`: held, and renewed within their duration.
pub fn live_members(
    leases: &[Lease],
    now: Timestamp,
    default_duration: Duration,
) -> BTreeSet<String> {
    leases
        .iter()
        .filter_map(
            |l| match judge(l.spec.as_ref(), NOBODY, now, default_duration) {
                LeaseVerdict::Held(holder) => Some(holder),
                _ => None,
            },
        )
        .collect()
}

/// The settings of a replica's own shard Lease: named after the replica, labelled with the ring,
/// with `base`'s timings.
pub fn shard_lease(base: &LeaseSettings, ring: &str, identity: &str) -> LeaseSettings {
    LeaseSettings {
        name: identity.into(),
        identity: identity.into(),
        labels: [(RING_LABEL.to_string(), ring.to_string())].into(),
        ..base.clone()
    }
}

/// The settings of the coordinator's election Lease (not labelled with the ring: it is no member).
pub fn coordinator_lease(base: &LeaseSettings, ring: &str, identity: &str) -> LeaseSettings {
    LeaseSettings {
        name: format!("{ring}-ring-coordinator"),
        identity: identity.into(),
        labels: Default::default(),
        ..base.clone()
    }
}

/// The live members of `ring` now.
pub async fn members(
    client: &Client,
    namespace: &str,
    ring: &str,
    default_duration: Duration,
) -> Result<BTreeSet<String>, kube::Error> {
    let leases = Api::<Lease>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&ring_selector(ring)))
        .await?;
    Ok(live_members(
        &leases.items,
        Timestamp::now(),
        default_duration,
    ))
}

/// A replica's membership: its shard Lease, acquired and kept renewed.
pub struct Member {
    elector: LeaderElector,
}

impl Member {
    pub fn new(client: Client, lease: LeaseSettings) -> Self {
        Self {
            elector: LeaderElector::new(client, lease),
        }
    }

    /// Take the shard Lease (waits while a previous holder's Lease is live).
    pub async fn join(&self) {
        self.elector.acquire().await
    }

    /// Keep renewing; returns when the Lease could not be renewed in time (the replica must stop
    /// reconciling: the coordinator hands its clusters to the others).
    pub async fn hold(&self) {
        self.elector.hold().await
    }

    /// Give the Lease up: the coordinator moves this replica's clusters at once.
    pub async fn leave(&self) {
        self.elector.release().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: Option<&str>, renewed: &str, secs: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                lease_duration_seconds: Some(secs),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn members_are_the_holders_of_live_leases() {
        let now: Timestamp = "2026-01-01T00:00:20Z".parse().unwrap();
        let leases = [
            lease(Some("r0"), "2026-01-01T00:00:19Z", 15),
            lease(Some("r1"), "2026-01-01T00:00:10Z", 15),
            lease(Some("expired"), "2026-01-01T00:00:01Z", 15),
            lease(None, "2026-01-01T00:00:19Z", 1),
            lease(Some(""), "2026-01-01T00:00:19Z", 15),
        ];
        let live = live_members(&leases, now, Duration::from_secs(15));
        assert_eq!(live, ["r0".to_string(), "r1".to_string()].into());
    }

    #[test]
    fn shard_leases_carry_the_ring_and_the_coordinator_lease_does_not() {
        let base = LeaseSettings::new("capt-system", "x", "x");
        let s = shard_lease(&base, "capt", "capt-0");
        assert_eq!((s.name.as_str(), s.identity.as_str()), ("capt-0", "capt-0"));
        assert_eq!(s.labels.get(RING_LABEL).map(String::as_str), Some("capt"));
        assert_eq!(s.namespace, "capt-system");
        let c = coordinator_lease(&base, "capt", "capt-0");
        assert_eq!(c.name, "capt-ring-coordinator");
        assert!(c.labels.is_empty());
    }
}
