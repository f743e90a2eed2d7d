//! The control plane's secret sync step, pure: run the connection-secret state machine to a fixed
//! point for what the caches and the fetched secret show, and plan the `<cluster>-kubeconfig` and
//! `<cluster>-ca` secrets. A failure here never blocks the rest of the control plane status.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use super::ownership::DATA_HASH_ANNOTATION;
use super::plan::{Op, Plan, SecretWrite, deadline_timer};
use super::render::spec_hash;
use super::secrets::{
    SECRET_TIMEOUT, SyncInput, ValidatedSecret, ca_secret_data, initial, kubeconfig_secret_data,
    next_state, validate_connection_secret,
};
use super::token_refresh::{TokenOutcome, TokenWorld, choose_kubeconfig, due};
use crate::api::names::{labels, secrets as keys};
use crate::api::{AddonKeys, SecretSyncState, SecretSyncStatus};
use crate::reconcile::outcome::TimerCmd;

pub const SECRET_TIMER: &str = "secret-timeout";

/// The connection secret as fetched (data decoded from base64).
pub struct ConnectionSecret {
    pub resource_version: String,
    pub data: BTreeMap<String, Vec<u8>>,
}

/// A secret capt owns, as the metadata cache shows it.
#[derive(Clone, Debug, Default)]
pub struct OwnedSecret {
    pub data_hash: Option<String>,
}

pub struct SyncWorld<'a> {
    /// The EKS Workspace is Ready: only then is a missing connection secret worth timing.
    pub workspace_ready: bool,
    pub outputs_endpoint: Option<&'a str>,
    /// `None`: the connection secret does not exist.
    pub connection: Option<&'a ConnectionSecret>,
    /// The connection secret exists and is the version already settled on: keep the state.
    pub connection_unchanged: bool,
    pub kubeconfig_secret: Option<&'a OwnedSecret>,
    pub ca_secret: Option<&'a OwnedSecret>,
    pub namespace: &'a str,
    pub cluster_name: &'a str,
    /// Controller ownerReference to the control plane.
    pub owner: Value,
    pub now: Time,
    /// The generated-token state; `None`: the kubeconfig is the connection kubeconfig as validated.
    pub token: Option<&'a TokenWorld>,
}

/// Result of the secret sync step.
pub struct SyncOutcome {
    pub status: SecretSyncStatus,
    pub validated: Option<ValidatedSecret>,
    /// The kubeconfig secret exists (secrets are ready only then; see docs/upstream-differences.md).
    pub kubeconfig_exists: bool,
    /// What happened to the token, when the kubeconfig was chosen in this pass.
    pub token: Option<TokenOutcome>,
}

fn hash_of(data: &BTreeMap<String, Vec<u8>>) -> String {
    let v: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, b)| {
            (
                k.clone(),
                Value::String(String::from_utf8_lossy(b).into_owned()),
            )
        })
        .collect();
    spec_hash(&Value::Object(v))
}

fn secret_write(
    w: &SyncWorld,
    name: String,
    type_: &'static str,
    data: BTreeMap<String, Vec<u8>>,
    existing: Option<&OwnedSecret>,
    extra: BTreeMap<String, String>,
) -> Option<Op> {
    let hash = hash_of(&data);
    if existing.and_then(|s| s.data_hash.as_deref()) == Some(hash.as_str()) {
        return None;
    }
    Some(Op::WriteSecret(SecretWrite {
        namespace: w.namespace.to_string(),
        name,
        type_,
        labels: [(labels::CLUSTER_NAME.to_string(), w.cluster_name.to_string())].into(),
        annotations: extra
            .into_iter()
            .chain([(DATA_HASH_ANNOTATION.to_string(), hash)])
            .collect(),
        owner: w.owner.clone(),
        data,
        exists: existing.is_some(),
    }))
}

/// Run the sync for `observed` and plan the owned secrets into `plan`.
pub fn sync<S>(
    observed: Option<&SecretSyncStatus>,
    w: &SyncWorld,
    plan: &mut Plan<S>,
) -> SyncOutcome {
    let mut status = observed.cloned().unwrap_or_else(|| {
        let mut s = initial().to_status(AddonKeys::default());
        s.last_transition_time = None;
        s
    });
    let kubeconfig_exists = w.kubeconfig_secret.is_some();
    let unchanged = |status| SyncOutcome {
        status,
        validated: None,
        kubeconfig_exists,
        token: None,
    };
    if w.connection_unchanged && !due(w.token, w.now.0) {
        return unchanged(status);
    }
    if !w.workspace_ready && w.connection.is_none() {
        // Nothing to wait for yet: the secret is written after the control plane is up.
        status.last_transition_time = None;
        return unchanged(status);
    }
    let mut validated = transitions(&mut status, w, plan);
    if status.state == SecretSyncState::Ready && validated.is_none() {
        // Steady state: re-derive the secret contents (cheap, no IO) to keep the owned secrets right.
        validated = w
            .connection
            .and_then(|c| validate_connection_secret(&c.data, w.outputs_endpoint).ok());
    }
    secret_timer(&status, w, plan);
    let token = validated.as_ref().and_then(|v| owned_secrets(w, v, plan));
    SyncOutcome {
        status,
        validated,
        kubeconfig_exists,
        token,
    }
}

/// Run the state machine to a fixed point (at most four transitions); the secret as validated
/// when a transition in this pass validated it.
fn transitions<S>(
    status: &mut SecretSyncStatus,
    w: &SyncWorld,
    plan: &mut Plan<S>,
) -> Option<ValidatedSecret> {
    let since = status
        .last_transition_time
        .clone()
        .unwrap_or_else(|| w.now.clone());
    status.last_transition_time = Some(since.clone());
    let mut validated = None;
    for _ in 0..4 {
        let result;
        let last_validated = status.observed_secret_version.clone();
        let input = match (status.state, w.connection) {
            (_, None) => SyncInput::SecretAbsent {
                // Since entering the current state: a transition in this pass restarts the wait.
                waiting_since: status
                    .last_transition_time
                    .as_ref()
                    .map_or(since.0, |t| t.0),
                now: w.now.0,
            },
            (SecretSyncState::ValidatingSecret, Some(c)) => {
                result = validate_connection_secret(&c.data, w.outputs_endpoint);
                status.observed_secret_version = Some(c.resource_version.clone());
                status.keys = AddonKeys::from_keys(c.data.keys().map(String::as_str));
                match &result {
                    Ok(_) => SyncInput::ValidationSucceeded,
                    Err(e) => SyncInput::ValidationFailed(e),
                }
            }
            (_, Some(c)) => SyncInput::SecretPresent {
                resource_version: &c.resource_version,
                last_validated_version: last_validated.as_deref(),
            },
        };
        let Some(t) = next_state(status.state, &input) else {
            break;
        };
        tracing::info!(state = ?t.state, reason = t.reason, "secret sync transition");
        if let Some(ev) = &t.event {
            if ev.warning {
                plan.warning(ev.reason, ev.message.clone());
            } else {
                plan.normal(ev.reason, ev.message.clone());
            }
        }
        let keys = status.keys;
        let seen = status.observed_secret_version.clone();
        *status = t.to_status(keys);
        status.observed_secret_version = seen;
        status.last_transition_time = Some(w.now.clone());
        if let (SecretSyncState::Ready, SyncInput::ValidationSucceeded) = (t.state, &input) {
            validated = w
                .connection
                .and_then(|c| validate_connection_secret(&c.data, w.outputs_endpoint).ok());
        }
    }
    validated
}

/// Arm the secret timeout while the connection secret is awaited; cancel it otherwise.
fn secret_timer<S>(status: &SecretSyncStatus, w: &SyncWorld, plan: &mut Plan<S>) {
    if status.state == SecretSyncState::WaitingForSecret && w.connection.is_none() {
        let deadline = status
            .last_transition_time
            .clone()
            .unwrap_or_else(|| w.now.clone())
            .0
            + SECRET_TIMEOUT;
        plan.timer(deadline_timer(SECRET_TIMER, w.now.0, deadline));
    } else {
        plan.timer(TimerCmd::Cancel(SECRET_TIMER));
    }
}

/// Plan `<cluster>-kubeconfig` (with the chosen token) and `<cluster>-ca` from the validated
/// secret, each only when its data changed; what happened to the token.
fn owned_secrets<S>(
    w: &SyncWorld,
    v: &ValidatedSecret,
    plan: &mut Plan<S>,
) -> Option<TokenOutcome> {
    let kc = format!(
        "{}{}",
        w.cluster_name,
        crate::api::names::suffixes::KUBECONFIG
    );
    let ca = format!("{}{}", w.cluster_name, crate::api::names::suffixes::CA);
    let choice = choose_kubeconfig(
        w.token,
        v,
        w.cluster_name,
        w.kubeconfig_secret.is_some(),
        w.now.0,
    );
    if let Some(op) = choice.data.and_then(|kubeconfig| {
        let data = kubeconfig_secret_data(&ValidatedSecret {
            kubeconfig,
            ..v.clone()
        });
        let existing = w.kubeconfig_secret;
        secret_write(
            w,
            kc,
            keys::CLUSTER_SECRET_TYPE,
            data,
            existing,
            choice.annotations,
        )
    }) {
        plan.op(op);
    }
    if let Some(op) = secret_write(
        w,
        ca,
        keys::OPAQUE_TYPE,
        ca_secret_data(v),
        w.ca_secret,
        BTreeMap::new(),
    ) {
        plan.op(op);
    }
    choice.outcome
}

#[cfg(test)]
#[path = "secret_sync_tests.rs"]
mod tests;
