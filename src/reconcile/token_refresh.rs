//! When the control plane re-signs the EKS token of `<cluster>-kubeconfig`, what it writes, and what it reports.
//! Pure: the token is signed by the caller (signing needs credentials, which are IO) and passed in.
//!
//! The kubeconfig secret records the token it carries in annotations (signing time, expiry, hash of the
//! connection kubeconfig and CA it was built from), so a reconcile knows from the metadata cache alone whether a
//! refresh is due. A refresh is due at `signed + interval - jitter`, where the jitter is derived from the control
//! plane's key and is below a tenth of the interval: control planes signed in the same second refresh spread over
//! that tenth, each at the same moment of every period. Between refreshes nothing is written; a changed connection
//! secret (new endpoint or CA) re-signs at once.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::render::spec_hash;
use super::secrets::ValidatedSecret;
use super::token_kubeconfig::token_kubeconfig;
use crate::credentials::{CredentialsError, EKS_TOKEN_LIFETIME, EksToken};

/// The actor timer that wakes the control plane for its next refresh.
pub const TOKEN_TIMER: &str = "token-refresh";
/// Condition type on the CAPTControlPlane.
pub const CREDENTIALS_REFRESHED: &str = "CredentialsRefreshed";
/// Default refresh period.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Longest accepted period: a token must be replaced at least this much before EKS refuses it.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(2 * 60);
/// Retry period after a failed signing.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Annotations of `<cluster>-kubeconfig`.
pub mod annotations {
    pub const SIGNED_AT: &str = "capt.cluster.x-k8s.io/token-signed-at";
    pub const EXPIRES_AT: &str = "capt.cluster.x-k8s.io/token-expires-at";
    pub const SOURCE_HASH: &str = "capt.cluster.x-k8s.io/token-source-hash";
}

/// Condition reasons besides [`CredentialsError::reason`].
pub mod reasons {
    pub const REFRESHED: &str = "TokenRefreshed";
    pub const TERRAFORM_OUTPUT: &str = "TerraformOutputToken";
    pub const NOT_SIGNED: &str = "TokenNotSigned";
    pub const INVALID_KUBECONFIG: &str = "InvalidKubeconfig";
}

/// Where the kubeconfig's token comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TokenMode {
    /// Signed by capt and refreshed before it expires.
    #[default]
    Generated,
    /// The token terraform put in the connection secret; it expires 15 minutes after terraform signed it.
    TerraformOutput,
}

/// Refresh settings (flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshSettings {
    pub mode: TokenMode,
    pub interval: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            mode: TokenMode::Generated,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Longest refresh interval: the token lifetime less the margin.
pub fn max_interval() -> Duration {
    EKS_TOKEN_LIFETIME - EXPIRY_MARGIN
}

/// The token a kubeconfig secret carries, from its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub signed_at: Timestamp,
    pub expires_at: Timestamp,
    pub source_hash: String,
}

impl Issued {
    /// From the secret's annotations; `None` when any is missing or unreadable.
    pub fn from_annotations(a: &BTreeMap<String, String>) -> Option<Self> {
        let ts = |k: &str| a.get(k)?.parse::<Timestamp>().ok();
        Some(Self {
            signed_at: ts(annotations::SIGNED_AT)?,
            expires_at: ts(annotations::EXPIRES_AT)?,
            source_hash: a.get(annotations::SOURCE_HASH)?.clone(),
        })
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (annotations::SIGNED_AT.into(), seconds(self.signed_at)),
            (annotations::EXPIRES_AT.into(), seconds(self.expires_at)),
            (annotations::SOURCE_HASH.into(), self.source_hash.clone()),
        ])
    }

    fn of(token: &EksToken, source_hash: String) -> Option<Self> {
        let expires_at = Timestamp::try_from(token.expires_at).ok()?;
        let lifetime = SignedDuration::try_from(EKS_TOKEN_LIFETIME).ok()?;
        Some(Self {
            signed_at: expires_at - lifetime,
            expires_at,
            source_hash,
        })
    }
}

fn seconds(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// What the caller knows about the token of one control plane.
#[derive(Clone, Debug)]
pub struct TokenWorld {
    pub settings: RefreshSettings,
    /// `namespace/name` of the control plane: the seed of its jitter.
    pub key: String,
    /// The token the kubeconfig secret carries, if capt signed it.
    pub issued: Option<Issued>,
    /// A token signed for this reconcile, or why none could be; `None` when the caller did not sign.
    pub fresh: Option<Result<EksToken, CredentialsError>>,
}

/// This control plane's offset before the end of each period, in `[0, interval / 10)`.
pub fn jitter(key: &str, interval: Duration) -> Duration {
    let h = super::render::fnv1a64(key.as_bytes());
    interval.mul_f64((h % 1000) as f64 / 10_000.0)
}

/// When the token `issued` is to be replaced.
pub fn refresh_at(key: &str, interval: Duration, issued: &Issued) -> Timestamp {
    let period = interval.min(max_interval()) - jitter(key, interval);
    let latest = issued.expires_at - SignedDuration::try_from(EXPIRY_MARGIN).unwrap_or_default();
    let due = issued.signed_at + SignedDuration::try_from(period).unwrap_or_default();
    due.min(latest)
}

impl TokenWorld {
    fn generated(&self) -> bool {
        self.settings.mode == TokenMode::Generated
    }

    fn refresh_at(&self, issued: &Issued) -> Timestamp {
        refresh_at(&self.key, self.settings.interval, issued)
    }

    /// A generated token is to be signed now: none was issued, or its refresh time came.
    pub fn due(&self, now: Timestamp) -> bool {
        self.generated()
            && self
                .issued
                .as_ref()
                .is_none_or(|i| now >= self.refresh_at(i))
    }
}

/// [`TokenWorld::due`] when there is a token world.
pub fn due(tw: Option<&TokenWorld>, now: Timestamp) -> bool {
    tw.is_some_and(|t| t.due(now))
}

/// What happened to the token in a reconcile that had a valid connection secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenOutcome {
    /// A new token was signed and is written.
    Signed(Issued),
    /// The token in the secret is still fresh and the sources did not change: nothing written.
    Kept,
    /// No token could be signed; the last good kubeconfig is kept while it lasts, else the terraform one written.
    Failed {
        reason: &'static str,
        message: String,
    },
}

/// The kubeconfig to write (`None`: keep the existing secret), its extra annotations and the outcome.
#[derive(Debug)]
pub struct KubeconfigChoice {
    pub data: Option<Vec<u8>>,
    pub annotations: BTreeMap<String, String>,
    pub outcome: Option<TokenOutcome>,
}

fn source_hash(v: &ValidatedSecret) -> String {
    spec_hash(&json!([
        String::from_utf8_lossy(&v.kubeconfig),
        String::from_utf8_lossy(&v.ca_pem)
    ]))
}

/// Choose the kubeconfig for a validated connection secret. Without a token world or in terraform-output mode it
/// is the connection kubeconfig as validated.
pub fn choose_kubeconfig(
    tw: Option<&TokenWorld>,
    v: &ValidatedSecret,
    cluster: &str,
    secret_exists: bool,
    now: Timestamp,
) -> KubeconfigChoice {
    let terraform = |outcome| KubeconfigChoice {
        data: Some(v.kubeconfig.clone()),
        annotations: BTreeMap::new(),
        outcome,
    };
    let Some(tw) = tw.filter(|t| t.generated()) else {
        return terraform(None);
    };
    let source = source_hash(v);
    let fresh_enough = tw
        .issued
        .as_ref()
        .filter(|i| secret_exists && i.source_hash == source && now < tw.refresh_at(i));
    if fresh_enough.is_some() {
        return KubeconfigChoice {
            data: None,
            annotations: BTreeMap::new(),
            outcome: Some(TokenOutcome::Kept),
        };
    }
    let failed = |reason: &'static str, message: String| {
        let outcome = Some(TokenOutcome::Failed { reason, message });
        let last_good = tw.issued.as_ref().is_some_and(|i| now < i.expires_at);
        if secret_exists && last_good {
            KubeconfigChoice {
                data: None,
                annotations: BTreeMap::new(),
                outcome,
            }
        } else {
            terraform(outcome)
        }
    };
    match &tw.fresh {
        Some(Ok(token)) => match (
            token_kubeconfig(v, cluster, token.expose()),
            Issued::of(token, source),
        ) {
            (Ok(data), Some(issued)) => KubeconfigChoice {
                data: Some(data),
                annotations: issued.annotations(),
                outcome: Some(TokenOutcome::Signed(issued)),
            },
            (Err(e), _) => failed(reasons::INVALID_KUBECONFIG, e.to_string()),
            (_, None) => failed(reasons::NOT_SIGNED, "token expiry out of range".into()),
        },
        Some(Err(e)) => failed(e.reason(), e.to_string()),
        None => failed(reasons::NOT_SIGNED, "no token was signed".into()),
    }
}

/// The `CredentialsRefreshed` condition (status, reason, message) and the timer for the next refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenReport {
    pub condition: Option<(bool, &'static str, String)>,
    /// Wake the control plane after this long (`None`: cancel the timer).
    pub wake_after: Option<Duration>,
}

fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// What to report after a reconcile: `outcome` is what [`choose_kubeconfig`] decided (`None`: it did not run, the
/// connection secret was not revisited).
pub fn report(tw: &TokenWorld, outcome: Option<&TokenOutcome>, now: Timestamp) -> TokenReport {
    if !tw.generated() {
        return TokenReport {
            condition: Some((
                false,
                reasons::TERRAFORM_OUTPUT,
                "The kubeconfig carries the token from terraform output (--token-mode terraform-output): \
                 EKS refuses it 15 minutes after it was signed and capt does not renew it"
                    .into(),
            )),
            wake_after: None,
        };
    }
    let refreshed = |i: &Issued| TokenReport {
        condition: Some((
            true,
            reasons::REFRESHED,
            format!(
                "Token signed at {}, expires at {}",
                seconds(i.signed_at),
                seconds(i.expires_at)
            ),
        )),
        wake_after: Some(match tw.refresh_at(i) {
            at if at > now => until(now, at),
            _ => RETRY_AFTER,
        }),
    };
    match (outcome, &tw.issued) {
        (Some(TokenOutcome::Signed(i)), _) => refreshed(i),
        (Some(TokenOutcome::Failed { reason, message }), _) => TokenReport {
            condition: Some((false, reason, format!("Token refresh failed: {message}"))),
            wake_after: Some(RETRY_AFTER),
        },
        (_, Some(i)) => refreshed(i),
        (_, None) => TokenReport {
            condition: None,
            wake_after: None,
        },
    }
}

#[cfg(test)]
#[path = "token_refresh_tests.rs"]
mod tests;

/// Put [`report`] into the status conditions and the plan: the condition, a Warning Event when it turns False
/// with a new reason, and the refresh timer.
pub fn apply<S>(
    tw: &TokenWorld,
    outcome: Option<&TokenOutcome>,
    conditions: &mut Vec<crate::api::Condition>,
    plan: &mut super::plan::Plan<S>,
    now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    generation: Option<i64>,
) {
    let r = report(tw, outcome, now.0);
    if let Some((ok, reason, message)) = r.condition {
        let before = crate::api::find_condition(conditions, CREDENTIALS_REFRESHED)
            .map(|c| (c.status.clone(), c.reason.clone()));
        let c = crate::api::Condition::new(CREDENTIALS_REFRESHED, ok, reason, message.clone())
            .with_observed_generation(generation);
        let status = c.status.clone();
        crate::api::set_condition(conditions, c, now.clone());
        if !ok && before != Some((status, reason.to_string())) {
            plan.warning(reason, message);
        }
    }
    plan.timer(match r.wake_after {
        Some(after) => super::outcome::TimerCmd::Arm {
            name: TOKEN_TIMER,
            after,
        },
        None => super::outcome::TimerCmd::Cancel(TOKEN_TIMER),
    });
}
