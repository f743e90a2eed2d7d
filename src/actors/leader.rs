//! Leader election with a `coordination.k8s.io/v1` Lease, with controller-runtime's timings
//! (15 s lease, 10 s renew deadline, 2 s retry). Only the leader runs actors; the lease is released
//! on shutdown so a successor takes over at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// Labels put on the Lease (e.g. the ring of a shard Lease).
    pub labels: std::collections::BTreeMap<String, String>,
}

impl LeaseSettings {
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            labels: Default::default(),
        }
    }
}

/// What a Lease says about who may lead, as a pure decision.
#[derive(Debug, PartialEq, Eq)]
pub enum LeaseVerdict {
    /// We hold it: renew.
    Ours,
    /// Free or expired: take it over.
    Takeover,
    /// Someone else holds a live lease.
    Held(String),
}

pub fn judge(
    spec: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    default_duration: Duration,
) -> LeaseVerdict {
    let Some(spec) = spec else {
        return LeaseVerdict::Takeover;
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == me {
        return LeaseVerdict::Ours;
    }
    if holder.is_empty() {
        return LeaseVerdict::Takeover;
    }
    let duration = spec
        .lease_duration_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(default_duration);
    let renewed = spec
        .renew_time
        .as_ref()
        .map(|t| t.0)
        .or(spec.acquire_time.as_ref().map(|t| t.0));
    match renewed {
        Some(t) if t + SignedDuration::try_from(duration).unwrap_or_default() > now => {
            LeaseVerdict::Held(holder)
        }
        _ => LeaseVerdict::Takeover,
    }
}

pub struct LeaderElector {
    api: Api<Lease>,
    s: LeaseSettings,
}

impl LeaderElector {
    pub fn new(client: Client, s: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &s.namespace),
            s,
        }
    }

    pub fn identity(&self) -> &str {
        &self.s.identity
    }

    /// One attempt to acquire or renew. Ok(true) when we lead after it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let existing = self.api.get_opt(&self.s.name).await?;
        let verdict = judge(
            existing.as_ref().and_then(|l| l.spec.as_ref()),
            &self.s.identity,
            now,
            self.s.lease_duration,
        );
        let secs = self.s.lease_duration.as_secs() as i32;
        match (existing, verdict) {
            (_, LeaseVerdict::Held(_)) => Ok(false),
            (None, _) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.s.name.clone()),
                        labels: (!self.s.labels.is_empty()).then(|| self.s.labels.clone()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.s.identity.clone()),
                        lease_duration_seconds: Some(secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
            (Some(mut lease), verdict) => {
                if !self.s.labels.is_empty() {
                    let labels = lease.metadata.labels.get_or_insert_with(Default::default);
                    labels.extend(self.s.labels.clone());
                }
                let spec = lease.spec.get_or_insert_with(Default::default);
                if verdict == LeaseVerdict::Takeover {
                    spec.holder_identity = Some(self.s.identity.clone());
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.lease_duration_seconds = Some(secs);
                spec.renew_time = Some(MicroTime(now));
                // The resourceVersion in `lease` makes this a compare-and-swap.
                match self
                    .api
                    .replace(&self.s.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Wait until we lead.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: could not read or write the lease")
                }
            }
            tokio::time::sleep(self.s.retry_period).await;
        }
    }

    /// Keep renewing; returns when leadership is lost (no successful renewal within the renew deadline).
    pub async fn hold(&self) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.s.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "leader election: renewal failed"),
            }
            if last_ok.elapsed() > self.s.renew_deadline {
                return;
            }
        }
    }

    /// Give the lease up so another instance can take over without waiting for expiry.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.s.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.s.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        if let Err(e) = self
            .api
            .replace(&self.s.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "leader election: could not release the lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: &str, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(renewed.parse().unwrap())),
            lease_duration_seconds: Some(secs),
            ..Default::default()
        }
    }

    #[test]
    fn verdicts() {
        let now: Timestamp = "2026-01-01T00:00:20Z".parse().unwrap();
        let d = Duration::from_secs(15);
        assert_eq!(judge(None, "me", now, d), LeaseVerdict::Takeover);
        assert_eq!(
            judge(Some(&spec("me", "2026-01-01T00:00:00Z", 15)), "me", now, d),
            LeaseVerdict::Ours
        );
        assert_eq!(
            judge(
                Some(&spec("other", "2026-01-01T00:00:10Z", 15)),
                "me",
                now,
                d
            ),
            LeaseVerdict::Held("other".into())
        );
        assert_eq!(
            judge(
                Some(&spec("other", "2026-01-01T00:00:01Z", 15)),
                "me",
                now,
                d
            ),
            LeaseVerdict::Takeover
        );
        assert_eq!(
            judge(Some(&spec("", "2026-01-01T00:00:19Z", 15)), "me", now, d),
            LeaseVerdict::Takeover
        );
    }
}
