//! The control plane's EKS token at the actor edge: the refresh settings and credential source, the token state
//! read from the kubeconfig secret's metadata, and the signing itself (credentials are IO).

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::jiff::Timestamp;
use tracing::Instrument;

use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::{Resource, ResourceExt};

use super::context::SharedCtx;
use crate::actors::ObjectKey;
use crate::api::CAPTControlPlane;
use crate::credentials::{CredentialSource, CredentialsError, EksToken, TokenRequest, sign_token};
use crate::reconcile::token_refresh::{Issued, RefreshSettings, TokenMode, TokenWorld};

/// How this controller handles EKS tokens (`None` in [`super::manager::ManagerConfig`]: the connection
/// kubeconfig is copied as it is, with no token state).
#[derive(Clone, Debug)]
pub struct TokenConfig {
    pub settings: RefreshSettings,
    /// Where generated tokens get their credentials; `None` with the generated mode reports `NoCredentials`.
    pub source: Option<CredentialSource>,
}

impl TokenConfig {
    /// Generated tokens signed with `source`.
    pub fn generated(source: CredentialSource, interval: std::time::Duration) -> Self {
        Self {
            settings: RefreshSettings {
                mode: TokenMode::Generated,
                interval,
            },
            source: Some(source),
        }
    }
}

/// The token state of `cp` from its kubeconfig secret's annotations; nothing signed yet.
pub fn token_world(
    cfg: &TokenConfig,
    key: String,
    kubeconfig_annotations: Option<&BTreeMap<String, String>>,
) -> TokenWorld {
    TokenWorld {
        settings: cfg.settings,
        key,
        issued: kubeconfig_annotations.and_then(Issued::from_annotations),
        fresh: None,
    }
}

/// Sign a token for `cluster` in `cp`'s region, in a span of its own. The span and logs carry the cluster and
/// the outcome, never the token.
pub async fn sign(
    cfg: &TokenConfig,
    cp: &CAPTControlPlane,
    cluster: &str,
) -> Result<EksToken, CredentialsError> {
    let span = tracing::info_span!(
        "token refresh",
        capt.cluster = cluster,
        capt.result = tracing::field::Empty
    );
    let result = async {
        let region = cp.spec.region().ok_or(CredentialsError::RegionUnknown)?;
        let source = cfg
            .source
            .as_ref()
            .ok_or_else(|| CredentialsError::NoCredentials("no credential source".into()))?;
        let credentials = source.credentials().await?;
        sign_token(
            &credentials,
            &TokenRequest { cluster, region },
            SystemTime::now(),
        )
    }
    .instrument(span.clone())
    .await;
    span.record(
        "capt.result",
        match &result {
            Ok(_) => "signed",
            Err(e) => e.reason(),
        },
    );
    result
}

/// Seconds from `now` until `expires_at` (negative when past).
pub fn seconds_left(now: Timestamp, expires_at: Timestamp) -> f64 {
    expires_at.duration_since(now).as_secs_f64()
}

/// The token state of `cp` (`None` without token handling), its expiry recorded in the metrics (forgotten once
/// `cp` is being deleted).
pub fn observe(
    ctx: &SharedCtx,
    cp: &CAPTControlPlane,
    key: &ObjectKey,
    kubeconfig: Option<&PartialObjectMeta<Secret>>,
) -> Option<TokenWorld> {
    let cfg = ctx.tokens.as_ref()?;
    let t = token_world(cfg, key.to_string(), kubeconfig.map(|s| s.annotations()));
    let live = cp.meta().deletion_timestamp.is_none();
    let expiry = t
        .issued
        .as_ref()
        .filter(|_| live)
        .map(|i| i.expires_at.as_second());
    ctx.metrics.token_expiry(&t.key, expiry);
    Some(t)
}

/// Sign a token into `tw` (generated mode only) and count the result; `due`: it replaces the issued one.
pub async fn refresh(
    ctx: &SharedCtx,
    cp: &CAPTControlPlane,
    tw: &mut TokenWorld,
    cluster: &str,
    due: bool,
) {
    let Some(cfg) = ctx
        .tokens
        .as_ref()
        .filter(|c| c.settings.mode == TokenMode::Generated)
    else {
        return;
    };
    let result = sign(cfg, cp, cluster).await;
    if let Some(i) = tw.issued.as_ref().filter(|_| due) {
        ctx.metrics
            .token_replaced(seconds_left(Timestamp::now(), i.expires_at));
    }
    ctx.metrics.token_refresh(match &result {
        Ok(_) => "signed",
        Err(e) => e.reason(),
    });
    tw.fresh = Some(result);
}

/// How long the credential chain may take to answer at start (IMDS outside AWS times out slowly).
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The token handling for `capt run`: the flag's mode, or generated when the default credential chain yields
/// credentials and terraform-output (with a warning) when it does not.
pub async fn resolve(mode: Option<TokenMode>, interval: std::time::Duration) -> TokenConfig {
    let settings = |mode| RefreshSettings { mode, interval };
    if mode == Some(TokenMode::TerraformOutput) {
        return TokenConfig {
            settings: settings(TokenMode::TerraformOutput),
            source: None,
        };
    }
    let source = CredentialSource::default_chain().await;
    let usable = match &source {
        Some(s) => tokio::time::timeout(PROBE_TIMEOUT, s.credentials())
            .await
            .map_err(|_| CredentialsError::NoCredentials("timed out".into()))
            .and_then(|r| r.map(|_| ())),
        None => Err(CredentialsError::NoCredentials("no provider".into())),
    };
    let chosen = match (mode, &usable) {
        (Some(m), _) => m,
        (None, Ok(())) => TokenMode::Generated,
        (None, Err(e)) => {
            tracing::warn!(
                error = %e,
                "no AWS credentials: kubeconfigs carry the terraform-output token, which expires after 15 minutes"
            );
            TokenMode::TerraformOutput
        }
    };
    tracing::info!(mode = ?chosen, interval_s = interval.as_secs(), "EKS token mode");
    TokenConfig {
        settings: settings(chosen),
        source,
    }
}
