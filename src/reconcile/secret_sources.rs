//! The secret sync's sources as a CAPTControlPlane's gather step finds them in the caches
//! (Secrets are cached metadata-only): whether the sync already settled on their version, whether
//! the connection secret's data must be read, and whether the kubeconfig token is signed again
//! before deciding. The gather step does the reads these answers ask for; it decides nothing.

use super::controlplane::CpWorld;
use crate::api::names::outputs;
use crate::api::{CAPTControlPlane, SecretSyncState, SecretSyncStatus};

/// What the gather step needs to know to decide whether the connection secret's data must be read
/// (Secrets are cached metadata-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionNeeds {
    /// The secret sync already settled on this version of the sources.
    pub settled: bool,
    /// The kubeconfig apply is wanted (its template exists) but missing: it needs the CA data.
    pub kubeconfig_apply_missing: bool,
    /// The EKS Workspace reports the endpoint in its outputs; otherwise it comes from the secret.
    pub endpoint_in_outputs: bool,
}

impl ConnectionNeeds {
    /// Read the secret's data: unless the sync is settled and nothing else reads from it.
    pub fn fetch(self) -> bool {
        !self.settled || self.kubeconfig_apply_missing || !self.endpoint_in_outputs
    }
}

/// The version of the secret sync's sources: the connection secret's resourceVersion, plus that of
/// upstream's `<cluster>-outputs-kubeconfig` when it exists (a change to either is new input).
pub fn source_version(connection_rv: &str, outputs_kubeconfig_rv: Option<&str>) -> String {
    match outputs_kubeconfig_rv {
        Some(o) => format!("{connection_rv}+{o}"),
        None => connection_rv.to_string(),
    }
}

/// The sync already ran on this version of its sources and its outputs exist (or it failed on it).
pub fn secret_sync_settled(
    sync: Option<&SecretSyncStatus>,
    source_version: Option<&str>,
    outputs_exist: bool,
) -> bool {
    let (Some(s), Some(v)) = (sync, source_version) else {
        return false;
    };
    s.observed_secret_version.as_deref() == Some(v)
        && match s.state {
            SecretSyncState::Failed => true,
            SecretSyncState::Ready => outputs_exist,
            _ => false,
        }
}

/// The sync already settled on the cached version of its sources (see [`secret_sync_settled`]):
/// the connection secret is not revisited for the sync's sake.
pub fn settled(cp: &CAPTControlPlane, w: &CpWorld) -> bool {
    secret_sync_settled(
        cp.status.as_ref().and_then(|s| s.secret_sync.as_ref()),
        w.source_version.as_deref(),
        w.kubeconfig_secret.is_some() && w.ca_secret.is_some(),
    )
}

/// A generated token is to be signed now (see [`super::token_refresh::due`]).
pub fn token_due(w: &CpWorld) -> bool {
    super::token_refresh::due(w.token.as_ref(), w.now.0)
}

/// The gather step reads the connection secret's data: the secret exists, and the sync has not
/// settled on it, or the kubeconfig apply or the endpoint needs it, or the token is due.
pub fn reads_connection(cp: &CAPTControlPlane, w: &CpWorld) -> bool {
    let needs = ConnectionNeeds {
        settled: settled(cp, w),
        kubeconfig_apply_missing: w.kubeconfig_template_ns.is_some()
            && w.kubeconfig_apply.is_none(),
        endpoint_in_outputs: w
            .eks_workspace
            .is_some_and(|ws| ws.output_str(outputs::CLUSTER_ENDPOINT).is_some()),
    };
    w.source_version.is_some() && (needs.fetch() || token_due(w))
}

/// The gather step signs a token before deciding: it is due, or the connection secret it read is
/// new input to the sync.
pub fn signs_token(cp: &CAPTControlPlane, w: &CpWorld) -> bool {
    token_due(w) || (w.connection.is_some() && !settled(cp, w))
}

#[cfg(test)]
#[path = "secret_sources_tests.rs"]
mod tests;
