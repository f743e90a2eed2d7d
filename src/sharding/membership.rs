//! Membership: every replica holds its own shard Lease (named after it, labelled with the ring);
//! the members of a ring are the holders of its live Leases.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
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
        name: coordinator_lease_name(ring),
        identity: identity.into(),
        labels: Default::default(),
        ..base.clone()
    }
}

/// The name of the coordinator Lease of `ring`.
pub fn coordinator_lease_name(ring: &str) -> String {
    format!("{ring}-ring-coordinator")
}

/// How long an expired shard Lease is kept (a replica restarting under the same name takes it
/// back) before the coordinator deletes it.
pub const ORPHANED_AFTER: Duration = Duration::from_secs(60);

/// The Leases among `leases` not renewed for their duration plus `grace`: their replicas are gone
/// (a replica that left released its Lease, which then expires after a second).
pub fn orphaned(
    leases: &[Lease],
    now: Timestamp,
    default_duration: Duration,
    grace: Duration,
) -> Vec<&Lease> {
    leases
        .iter()
        .filter(|l| {
            let Some(spec) = &l.spec else { return true };
            let d = (spec.lease_duration_seconds)
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(default_duration);
            let renewed = (spec.renew_time.as_ref())
                .or(spec.acquire_time.as_ref())
                .map(|t| t.0);
            let kept = SignedDuration::try_from(d + grace).unwrap_or(SignedDuration::MAX);
            renewed.is_none_or(|t| t.checked_add(kept).is_ok_and(|until| until < now))
        })
        .collect()
}

/// The shard Leases of `ring`.
pub async fn leases(
    client: &Client,
    namespace: &str,
    ring: &str,
) -> Result<Vec<Lease>, kube::Error> {
    let list = Api::<Lease>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&ring_selector(ring)))
        .await?;
    Ok(list.items)
}

/// The live members of `ring` now.
pub async fn members(
    client: &Client,
    namespace: &str,
    ring: &str,
    default_duration: Duration,
) -> Result<BTreeSet<String>, kube::Error> {
    let leases = leases(client, namespace, ring).await?;
    Ok(live_members(&leases, Timestamp::now(), default_duration))
}

/// Delete the orphaned shard Leases of `leases` (only as they were listed: one taken back since
/// stays).
pub async fn delete_orphaned(
    client: &Client,
    namespace: &str,
    leases: &[Lease],
    default_duration: Duration,
) {
    let api = Api::<Lease>::namespaced(client.clone(), namespace);
    for l in orphaned(leases, Timestamp::now(), default_duration, ORPHANED_AFTER) {
        let name = l.metadata.name.clone().unwrap_or_default();
        let dp = kube::api::DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                resource_version: l.metadata.resource_version.clone(),
                uid: None,
            }),
            ..Default::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => tracing::info!(lease = %name, "deleted the shard Lease of a replica gone"),
            Err(e) => {
                tracing::debug!(lease = %name, error = %e, "could not delete an orphaned shard Lease")
            }
        }
    }
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
    fn leases_expired_for_longer_than_the_grace_are_orphaned() {
        let now: Timestamp = "2026-01-01T00:02:00Z".parse().unwrap();
        let named = |name: &str, holder: Option<&str>, renewed: &str, secs: i32| {
            let mut l = lease(holder, renewed, secs);
            l.metadata.name = Some(name.into());
            l
        };
        let leases = [
            named("live", Some("live"), "2026-01-01T00:01:59Z", 15),
            named("expired-recently", Some("x"), "2026-01-01T00:01:30Z", 15),
            named("expired-long-ago", Some("y"), "2026-01-01T00:00:30Z", 15),
            named("released-long-ago", None, "2026-01-01T00:00:50Z", 1),
        ];
        let gone: Vec<_> = orphaned(&leases, now, Duration::from_secs(15), ORPHANED_AFTER)
            .into_iter()
            .filter_map(|l| l.metadata.name.as_deref())
            .collect();
        assert_eq!(gone, ["expired-long-ago", "released-long-ago"]);
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
