//! Validation of the EKS connection secret (`<cluster>-eks-connection`) and the secret sync state machine.
//!
//! ```text
//!                 secret absent < timeout (no change)
//!                        ┌──────┐
//!                        ▼      │
//!  [*] ──────────► WaitingForSecret ──── secret absent ≥ SECRET_TIMEOUT ────► Failed(SecretTimeout)
//!                   │      ▲     ▲                                              │   ▲
//!     secret present│      │     └─── retry, or secret changed ─────────────────┘   │
//!                   ▼      │                                                        │
//!             ValidatingSecret ──── validation error ──────────────────────────► Failed(<error reason>)
//!                   │      ▲
//!   validation ok   │      └─ (secret deleted while validating: back to WaitingForSecret)
//!                   ▼
//!                 Ready ──── secret changed (resourceVersion) or deleted ────► WaitingForSecret
//! ```
//!
//! Any other (state, input) pair is "no transition": [`next_state`] returns `None` and the caller keeps the current
//! status (state, reason and message) as it is.
//!
//! "Secret changed" compares the secret's `resourceVersion` with the one the last validation ran on (successful or
//! not), so a failed secret is not re-validated until it changes or a retry is requested.
//!
//! Errors, their messages and the `Debug` output of [`ValidatedSecret`] name keys but never contain secret values.

use std::collections::BTreeMap;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::captcontrolplane::{AddonKeys, SecretSyncState, SecretSyncStatus};
use crate::api::common::ApiEndpoint;
use crate::api::names;

use super::endpoint::{self, EndpointError, EndpointSource, Scheme};
use super::kubeconfig::{self, KubeconfigError, UserKind};

/// How long the connection secret may be absent before the sync fails with `SecretTimeout`.
pub const SECRET_TIMEOUT: SignedDuration = SignedDuration::from_mins(5);

/// Optional key of the connection secret (Fargate pod execution role).
pub const POD_EXECUTION_ROLE_ARN_KEY: &str = "pod_execution_role_arn";

/// Secret-sync reasons. `api::names::reasons` has none of these except `EndpointError`, which is reused for an
/// unparsable endpoint as upstream does.
pub mod reasons {
    pub const MISSING_KEY: &str = "MissingKey";
    pub const INVALID_KUBECONFIG: &str = "InvalidKubeconfig";
    pub const INVALID_CERTIFICATE: &str = "InvalidCertificate";
    pub const INVALID_ENDPOINT: &str = crate::api::names::reasons::ENDPOINT_ERROR;
    pub const ENDPOINT_NOT_AVAILABLE: &str = "EndpointNotAvailable";
    pub const SECRET_TIMEOUT: &str = "SecretTimeout";
    pub const WAITING_FOR_SECRET: &str = "WaitingForSecret";
    pub const VALIDATING_SECRET: &str = "ValidatingSecret";
    pub const SECRET_READY: &str = "SecretReady";
    pub const SECRET_CHANGED: &str = "SecretChanged";
    pub const SECRET_DELETED: &str = "SecretDeleted";
    pub const RETRYING: &str = "Retrying";
}

/// Why the connection secret is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("connection secret has no {key:?} key or it is empty")]
    MissingKey { key: &'static str },
    #[error("connection secret key \"kubeconfig\" is invalid: {0}")]
    InvalidKubeconfig(#[source] KubeconfigError),
    #[error(
        "connection secret key \"cluster_certificate_authority_data\" is not a PEM certificate: {reason}"
    )]
    InvalidCertificate { reason: &'static str },
    #[error("cluster endpoint is invalid: {0}")]
    InvalidEndpoint(#[source] EndpointError),
    #[error(
        "cluster endpoint is not available (no Workspace output or connection secret key \"cluster_endpoint\")"
    )]
    EndpointNotAvailable,
}

impl SecretError {
    /// Condition / secret-sync reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SecretError::MissingKey { .. } => reasons::MISSING_KEY,
            SecretError::InvalidKubeconfig(_) => reasons::INVALID_KUBECONFIG,
            SecretError::InvalidCertificate { .. } => reasons::INVALID_CERTIFICATE,
            SecretError::InvalidEndpoint(_) => reasons::INVALID_ENDPOINT,
            SecretError::EndpointNotAvailable => reasons::ENDPOINT_NOT_AVAILABLE,
        }
    }
}

/// A connection secret that passed [`validate_connection_secret`].
#[derive(Clone, PartialEq)]
pub struct ValidatedSecret {
    /// Kubeconfig whose selected cluster's server is `https://<endpoint>` (rewritten if it pointed elsewhere).
    pub kubeconfig: Vec<u8>,
    /// CA bundle as PEM.
    pub ca_pem: Vec<u8>,
    pub endpoint: ApiEndpoint,
    pub endpoint_source: EndpointSource,
    /// Presence of the add-on keys.
    pub addon_keys: AddonKeys,
    /// The optional `pod_execution_role_arn` key is present.
    pub has_pod_execution_role_arn: bool,
    /// The kubeconfig's server did not match the endpoint and was rewritten.
    pub kubeconfig_server_rewritten: bool,
    pub user_kind: UserKind,
}

impl std::fmt::Debug for ValidatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedSecret")
            .field(
                "kubeconfig",
                &format_args!("<{} bytes>", self.kubeconfig.len()),
            )
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field("endpoint", &self.endpoint)
            .field("endpoint_source", &self.endpoint_source)
            .field("addon_keys", &self.addon_keys)
            .field(
                "has_pod_execution_role_arn",
                &self.has_pod_execution_role_arn,
            )
            .field(
                "kubeconfig_server_rewritten",
                &self.kubeconfig_server_rewritten,
            )
            .field("user_kind", &self.user_kind)
            .finish()
    }
}

fn non_empty<'a>(data: &'a BTreeMap<String, Vec<u8>>, key: &str) -> Option<&'a [u8]> {
    data.get(key)
        .map(Vec::as_slice)
        .filter(|v| !v.iter().all(u8::is_ascii_whitespace))
}

fn required<'a>(
    data: &'a BTreeMap<String, Vec<u8>>,
    key: &'static str,
) -> Result<&'a [u8], SecretError> {
    non_empty(data, key).ok_or(SecretError::MissingKey { key })
}

/// Validate the decoded data of the connection secret.
///
/// Checks, in order: the keys `kubeconfig` and `cluster_certificate_authority_data` are present and non-empty; the
/// kubeconfig (raw or base64-encoded once more) selects a server, a CA and a user with credentials; the CA value
/// (base64 of a PEM as EKS emits it, raw PEM, or base64 twice) is a PEM bundle of DER certificates; an endpoint is
/// found (Workspace output first, then the secret's `cluster_endpoint`).
///
/// When the kubeconfig's server is not `https://` at the discovered endpoint, it is rewritten to
/// [`endpoint::endpoint_url`] of the endpoint, so the CAPI kubeconfig secret always points at the endpoint written
/// to the specs.
pub fn validate_connection_secret(
    data: &BTreeMap<String, Vec<u8>>,
    outputs_endpoint: Option<&str>,
) -> Result<ValidatedSecret, SecretError> {
    let kubeconfig_raw = required(data, names::secrets::KUBECONFIG_KEY)?;
    let ca_raw = required(data, names::secrets::CLUSTER_CA_DATA_KEY)?;

    let kubeconfig_bytes = endpoint::decode_if(kubeconfig_raw, |text| {
        kubeconfig::parse(text.as_bytes()).is_ok_and(|k| !k.clusters.is_empty())
    });
    let valid = kubeconfig::parse_and_validate(&kubeconfig_bytes)
        .map_err(SecretError::InvalidKubeconfig)?;

    let ca_pem = decode_ca(ca_raw).map_err(|reason| SecretError::InvalidCertificate { reason })?;

    let (endpoint, endpoint_source) = endpoint::discover(
        outputs_endpoint,
        non_empty(data, names::secrets::CLUSTER_ENDPOINT_KEY),
    )
    .map_err(SecretError::InvalidEndpoint)?
    .ok_or(SecretError::EndpointNotAvailable)?;

    let server_matches = endpoint::parse_endpoint_url(&valid.server).is_ok_and(|p| {
        p.scheme == Some(Scheme::Https) && endpoint::same_endpoint(&p.endpoint, &endpoint)
    });
    let (kubeconfig, kubeconfig_server_rewritten) = if server_matches {
        (kubeconfig_bytes, false)
    } else {
        let rewritten =
            kubeconfig::with_server(&kubeconfig_bytes, &endpoint::endpoint_url(&endpoint))
                .map_err(SecretError::InvalidKubeconfig)?;
        (rewritten, true)
    };

    let addon_keys = AddonKeys::from_keys(
        names::secrets::ADDON_KEYS
            .into_iter()
            .filter(|k| non_empty(data, k).is_some()),
    );

    Ok(ValidatedSecret {
        kubeconfig,
        ca_pem,
        endpoint,
        endpoint_source,
        addon_keys,
        has_pod_execution_role_arn: non_empty(data, POD_EXECUTION_ROLE_ARN_KEY).is_some(),
        kubeconfig_server_rewritten,
        user_kind: valid.user_kind,
    })
}

const PEM_BEGIN: &str = "-----BEGIN ";
const PEM_DASHES: &str = "-----";
const CERT_END: &str = "-----END CERTIFICATE-----";

/// PEM from the CA value: raw PEM, or PEM base64-encoded once or twice.
fn decode_ca(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut candidate = raw.to_vec();
    for _ in 0..3 {
        if contains(&candidate, PEM_BEGIN.as_bytes()) {
            check_pem_certificates(&candidate)?;
            return Ok(candidate);
        }
        match endpoint::decode_base64(&candidate) {
            Some(decoded) => candidate = decoded,
            None => break,
        }
    }
    Err("value is neither PEM nor base64-encoded PEM")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every PEM block must be a `CERTIFICATE` whose body is base64 of one DER SEQUENCE; at least one is required.
fn check_pem_certificates(pem: &[u8]) -> Result<(), &'static str> {
    let text = std::str::from_utf8(pem).map_err(|_| "PEM is not valid text")?;
    let mut rest = text;
    let mut certificates = 0usize;
    while let Some(begin) = rest.find(PEM_BEGIN) {
        let after = &rest[begin + PEM_BEGIN.len()..];
        let label_end = after.find(PEM_DASHES).ok_or("malformed PEM header")?;
        if &after[..label_end] != "CERTIFICATE" {
            return Err("PEM contains a block that is not a CERTIFICATE");
        }
        let body_and_rest = &after[label_end + PEM_DASHES.len()..];
        let end = body_and_rest
            .find(CERT_END)
            .ok_or("PEM CERTIFICATE block is not terminated")?;
        let der = endpoint::decode_base64(&body_and_rest.as_bytes()[..end])
            .ok_or("PEM CERTIFICATE body is not base64")?;
        check_der_sequence(&der)?;
        certificates += 1;
        rest = &body_and_rest[end + CERT_END.len()..];
    }
    if certificates == 0 {
        return Err("no CERTIFICATE block");
    }
    Ok(())
}

/// The DER must be exactly one ASN.1 SEQUENCE (tag 0x30) whose encoded length matches the data.
fn check_der_sequence(der: &[u8]) -> Result<(), &'static str> {
    const NOT_SEQUENCE: &str = "certificate is not DER (no ASN.1 SEQUENCE)";
    const BAD_LENGTH: &str = "certificate DER length does not match its content";
    match der {
        [0x30, len, rest @ ..] => {
            let (content_len, after_header) = if *len < 0x80 {
                (usize::from(*len), rest)
            } else {
                let n = usize::from(len & 0x7f);
                if n == 0 || n > 4 || rest.len() < n {
                    return Err(BAD_LENGTH);
                }
                let value = rest[..n]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                (value, &rest[n..])
            };
            if after_header.len() == content_len {
                Ok(())
            } else {
                Err(BAD_LENGTH)
            }
        }
        _ => Err(NOT_SEQUENCE),
    }
}

/// Data of the CAPI kubeconfig secret `<cluster>-kubeconfig`: `value` → kubeconfig.
pub fn kubeconfig_secret_data(v: &ValidatedSecret) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        names::secrets::KUBECONFIG_VALUE_KEY.to_string(),
        v.kubeconfig.clone(),
    )])
}

/// Data of the CA secret `<cp>-ca`: `tls.crt` and `ca.crt` → CA PEM.
pub fn ca_secret_data(v: &ValidatedSecret) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (names::secrets::TLS_CRT_KEY.to_string(), v.ca_pem.clone()),
        (names::secrets::CA_CRT_KEY.to_string(), v.ca_pem.clone()),
    ])
}

/// What the caller observed since the last step.
#[derive(Debug, Clone, Copy)]
pub enum SyncInput<'a> {
    /// The connection secret does not exist. `waiting_since` is when the sync entered `WaitingForSecret`.
    SecretAbsent {
        waiting_since: Timestamp,
        now: Timestamp,
    },
    /// The connection secret exists. `last_validated_version` is the resourceVersion the last validation ran on.
    SecretPresent {
        resource_version: &'a str,
        last_validated_version: Option<&'a str>,
    },
    /// [`validate_connection_secret`] succeeded.
    ValidationSucceeded,
    /// [`validate_connection_secret`] failed.
    ValidationFailed(&'a SecretError),
    /// A retry was requested.
    Retry,
}

/// An event to record for a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: SecretSyncState,
    pub reason: &'static str,
    pub message: String,
    pub event: Option<SyncEvent>,
}

impl Transition {
    fn new(state: SecretSyncState, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            state,
            reason,
            message: message.into(),
            event: None,
        }
    }

    fn normal(mut self) -> Self {
        self.event = Some(SyncEvent {
            warning: false,
            reason: self.reason,
            message: self.message.clone(),
        });
        self
    }

    fn warning(mut self) -> Self {
        self.event = Some(SyncEvent {
            warning: true,
            reason: self.reason,
            message: self.message.clone(),
        });
        self
    }

    /// Secret-sync status for this transition.
    pub fn to_status(&self, keys: AddonKeys) -> SecretSyncStatus {
        SecretSyncStatus {
            state: self.state,
            reason: Some(self.reason.to_string()),
            message: Some(self.message.clone()),
            keys,
            ..Default::default()
        }
    }
}

/// Status to start from when there is none: `WaitingForSecret`.
pub fn initial() -> Transition {
    Transition::new(
        SecretSyncState::WaitingForSecret,
        reasons::WAITING_FOR_SECRET,
        "Waiting for the connection secret",
    )
}

/// [`next_state_with_timeout`] with [`SECRET_TIMEOUT`].
pub fn next_state(current: SecretSyncState, input: &SyncInput<'_>) -> Option<Transition> {
    next_state_with_timeout(current, input, SECRET_TIMEOUT)
}

/// The transition for `input` in state `current`, or `None` when the state does not change.
pub fn next_state_with_timeout(
    current: SecretSyncState,
    input: &SyncInput<'_>,
    timeout: SignedDuration,
) -> Option<Transition> {
    use SecretSyncState as S;
    match (current, *input) {
        (S::WaitingForSecret, SyncInput::SecretAbsent { waiting_since, now }) => {
            (now.duration_since(waiting_since) >= timeout).then(|| {
                Transition::new(
                    S::Failed,
                    reasons::SECRET_TIMEOUT,
                    format!(
                        "Connection secret did not appear within {}",
                        format_duration(timeout)
                    ),
                )
                .warning()
            })
        }
        (S::WaitingForSecret, SyncInput::SecretPresent { .. }) => Some(
            Transition::new(
                S::ValidatingSecret,
                reasons::VALIDATING_SECRET,
                "Connection secret found, validating",
            )
            .normal(),
        ),
        (S::ValidatingSecret, SyncInput::ValidationSucceeded) => Some(
            Transition::new(
                S::Ready,
                reasons::SECRET_READY,
                "Connection secret is valid and the endpoint is available",
            )
            .normal(),
        ),
        (S::ValidatingSecret, SyncInput::ValidationFailed(err)) => {
            Some(Transition::new(S::Failed, err.reason(), err.to_string()).warning())
        }
        (S::ValidatingSecret | S::Ready, SyncInput::SecretAbsent { .. }) => Some(
            Transition::new(
                S::WaitingForSecret,
                reasons::SECRET_DELETED,
                "Connection secret was deleted, waiting for it",
            )
            .warning(),
        ),
        (
            S::Ready | S::Failed,
            SyncInput::SecretPresent {
                resource_version,
                last_validated_version,
            },
        ) if last_validated_version != Some(resource_version) => Some(
            Transition::new(
                S::WaitingForSecret,
                reasons::SECRET_CHANGED,
                "Connection secret changed, revalidating",
            )
            .normal(),
        ),
        (S::Failed, SyncInput::Retry) => Some(
            Transition::new(
                S::WaitingForSecret,
                reasons::RETRYING,
                "Retrying connection secret validation",
            )
            .normal(),
        ),
        _ => None,
    }
}

fn format_duration(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs != 0 && secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::kubeconfig::tests::{KEY_DATA, TOKEN, token_kubeconfig};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const HOST: &str = "ABCD1234.gr7.ap-northeast-1.eks.amazonaws.com";
    /// DER of SEQUENCE { INTEGER 1, INTEGER 2 }, enough to look like a certificate.
    const FAKE_DER: [u8; 8] = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];

    fn pem_of(der: &[u8]) -> String {
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        )
    }

    fn ca_pem() -> String {
        pem_of(&FAKE_DER)
    }

    fn secret(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect()
    }

    fn good_data() -> BTreeMap<String, Vec<u8>> {
        let kc = token_kubeconfig(&format!("https://{HOST}"));
        let ca = STANDARD.encode(ca_pem());
        secret(&[
            ("kubeconfig", kc.as_bytes()),
            ("cluster_certificate_authority_data", ca.as_bytes()),
            ("cluster_endpoint", format!("https://{HOST}").as_bytes()),
            ("cluster_name", b"demo"),
            ("karpenter_iam_role_arn", b"arn:aws:iam::1:role/k"),
        ])
    }

    #[test]
    fn validates_a_good_secret() {
        let v = validate_connection_secret(&good_data(), None).expect("valid");
        assert_eq!(
            v.endpoint,
            ApiEndpoint {
                host: HOST.into(),
                port: 443
            }
        );
        assert_eq!(v.endpoint_source, EndpointSource::ConnectionSecret);
        assert_eq!(v.ca_pem, ca_pem().into_bytes());
        assert!(!v.kubeconfig_server_rewritten);
        assert_eq!(v.kubeconfig, good_data()["kubeconfig"]);
        assert_eq!(
            v.addon_keys,
            AddonKeys {
                cluster_endpoint: true,
                cluster_name: true,
                karpenter_iam_role_arn: true,
                karpenter_queue_name: false,
            }
        );
        assert!(!v.has_pod_execution_role_arn);
        assert_eq!(v.user_kind, UserKind::Token);

        let kd = kubeconfig_secret_data(&v);
        assert_eq!(kd.keys().collect::<Vec<_>>(), vec!["value"]);
        assert_eq!(kd["value"], v.kubeconfig);
        let cd = ca_secret_data(&v);
        assert_eq!(cd.keys().collect::<Vec<_>>(), vec!["ca.crt", "tls.crt"]);
        assert_eq!(cd["ca.crt"], v.ca_pem);
        assert_eq!(cd["tls.crt"], v.ca_pem);
    }

    #[test]
    fn outputs_endpoint_wins_and_kubeconfig_is_pointed_at_it() {
        let mut data = good_data();
        data.insert("pod_execution_role_arn".into(), b"arn:x".to_vec());
        let v = validate_connection_secret(&data, Some("https://other.example.com:8443"))
            .expect("valid");
        assert_eq!(v.endpoint_source, EndpointSource::WorkspaceOutput);
        assert_eq!(v.endpoint.host, "other.example.com");
        assert_eq!(v.endpoint.port, 8443);
        assert!(v.kubeconfig_server_rewritten);
        assert!(v.has_pod_execution_role_arn);
        let server = kubeconfig::parse_and_validate(&v.kubeconfig)
            .expect("valid")
            .server;
        assert_eq!(server, "https://other.example.com:8443");
    }

    #[test]
    fn equivalent_server_is_not_rewritten_but_http_is() {
        let mut data = good_data();
        data.insert(
            "kubeconfig".into(),
            token_kubeconfig(&format!("https://{}:443/", HOST.to_lowercase())).into_bytes(),
        );
        let v = validate_connection_secret(&data, None).expect("valid");
        assert!(!v.kubeconfig_server_rewritten);

        data.insert(
            "kubeconfig".into(),
            token_kubeconfig(&format!("http://{HOST}:443")).into_bytes(),
        );
        let v = validate_connection_secret(&data, None).expect("valid");
        assert!(v.kubeconfig_server_rewritten);
        let server = kubeconfig::parse_and_validate(&v.kubeconfig)
            .expect("valid")
            .server;
        assert_eq!(server, format!("https://{HOST}:443"));
    }

    #[test]
    fn accepts_encoding_variants() {
        let kc = token_kubeconfig(&format!("https://{HOST}"));
        let pem = ca_pem();
        let cases: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = vec![
            (
                kc.clone().into_bytes(),
                pem.clone().into_bytes(),
                HOST.into(),
            ),
            (
                STANDARD.encode(&kc).into_bytes(),
                STANDARD.encode(STANDARD.encode(&pem)).into_bytes(),
                STANDARD.encode(format!("https://{HOST}")).into_bytes(),
            ),
            (
                kc.clone().into_bytes(),
                format!("{pem}{pem}").into_bytes(),
                format!("{HOST}:443\n").into_bytes(),
            ),
        ];
        for (kubeconfig, ca, endpoint) in cases {
            let data = secret(&[
                ("kubeconfig", &kubeconfig),
                ("cluster_certificate_authority_data", &ca),
                ("cluster_endpoint", &endpoint),
            ]);
            let v = validate_connection_secret(&data, None).expect("valid");
            assert_eq!(v.endpoint.host, HOST);
            assert!(String::from_utf8_lossy(&v.ca_pem).starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(kubeconfig::parse_and_validate(&v.kubeconfig).is_ok());
        }
    }

    #[test]
    fn validation_error_table() {
        let kc = token_kubeconfig(&format!("https://{HOST}"));
        let ca = STANDARD.encode(ca_pem());
        let no_user_kc = kc.replace(&format!("    token: {TOKEN}\n"), "    {}\n");
        let long_der = {
            let mut d = vec![0x30, 0x82, 0x01, 0x00];
            d.extend(std::iter::repeat_n(0u8, 0x100));
            d
        };
        let truncated_der = &long_der[..100];
        let key_pem =
            format!("-----BEGIN PRIVATE KEY-----\n{KEY_DATA}\n-----END PRIVATE KEY-----\n");
        let cases: Vec<ErrorCase<'_>> = vec![
            (secret(&[]), None, reasons::MISSING_KEY),
            (
                secret(&[("kubeconfig", kc.as_bytes())]),
                None,
                reasons::MISSING_KEY,
            ),
            (
                secret(&[
                    ("kubeconfig", b"  \n"),
                    ("cluster_certificate_authority_data", ca.as_bytes()),
                ]),
                None,
                reasons::MISSING_KEY,
            ),
            (
                secret(&[
                    ("kubeconfig", b"not: [a kubeconfig"),
                    ("cluster_certificate_authority_data", ca.as_bytes()),
                ]),
                None,
                reasons::INVALID_KUBECONFIG,
            ),
            (
                secret(&[
                    ("kubeconfig", no_user_kc.as_bytes()),
                    ("cluster_certificate_authority_data", ca.as_bytes()),
                ]),
                None,
                reasons::INVALID_KUBECONFIG,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    ("cluster_certificate_authority_data", b"not a certificate"),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    (
                        "cluster_certificate_authority_data",
                        STANDARD.encode(FAKE_DER).as_bytes(),
                    ),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    ("cluster_certificate_authority_data", key_pem.as_bytes()),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    (
                        "cluster_certificate_authority_data",
                        format!("{}{key_pem}", ca_pem()).as_bytes(),
                    ),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    (
                        "cluster_certificate_authority_data",
                        pem_of(&[0x02, 0x01, 0x01]).as_bytes(),
                    ),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    (
                        "cluster_certificate_authority_data",
                        pem_of(truncated_der).as_bytes(),
                    ),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    (
                        "cluster_certificate_authority_data",
                        b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n",
                    ),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    (
                        "cluster_certificate_authority_data",
                        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                    ),
                ]),
                None,
                reasons::INVALID_CERTIFICATE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    ("cluster_certificate_authority_data", ca.as_bytes()),
                ]),
                None,
                reasons::ENDPOINT_NOT_AVAILABLE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    ("cluster_certificate_authority_data", ca.as_bytes()),
                    ("cluster_endpoint", b""),
                ]),
                Some(""),
                reasons::ENDPOINT_NOT_AVAILABLE,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    ("cluster_certificate_authority_data", ca.as_bytes()),
                    ("cluster_endpoint", b"ftp://x"),
                ]),
                None,
                reasons::INVALID_ENDPOINT,
            ),
            (
                secret(&[
                    ("kubeconfig", kc.as_bytes()),
                    ("cluster_certificate_authority_data", ca.as_bytes()),
                ]),
                Some("https://bad:port"),
                reasons::INVALID_ENDPOINT,
            ),
        ];
        for (i, (data, outputs, want)) in cases.iter().enumerate() {
            let err = validate_connection_secret(data, *outputs)
                .expect_err(&format!("case {i} should fail"));
            assert_eq!(err.reason(), *want, "case {i}: {err}");
        }
        assert_eq!(
            validate_connection_secret(&secret(&[]), None),
            Err(SecretError::MissingKey { key: "kubeconfig" })
        );
        assert_eq!(
            validate_connection_secret(&secret(&[("kubeconfig", kc.as_bytes())]), None),
            Err(SecretError::MissingKey {
                key: "cluster_certificate_authority_data"
            })
        );
    }

    #[test]
    fn real_certificate_is_accepted() {
        let Ok(certified) = rcgen::generate_simple_self_signed(vec!["ca.example".to_string()])
        else {
            panic!("certificate generation failed");
        };
        let der: &[u8] = certified.cert.der();
        let mut body = String::new();
        for chunk in STANDARD.encode(der).as_bytes().chunks(64) {
            body.push_str(&String::from_utf8_lossy(chunk));
            body.push('\n');
        }
        let pem = format!("-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n");
        assert!(check_pem_certificates(pem.as_bytes()).is_ok());
        assert_eq!(
            decode_ca(STANDARD.encode(&pem).as_bytes()),
            Ok(pem.into_bytes())
        );
    }

    #[test]
    fn der_length_checks() {
        assert!(check_der_sequence(&FAKE_DER).is_ok());
        assert!(check_der_sequence(&[0x30, 0x00]).is_ok());
        assert!(check_der_sequence(&[0x30]).is_err());
        assert!(check_der_sequence(&[]).is_err());
        assert!(check_der_sequence(&[0x30, 0x01]).is_err());
        assert!(check_der_sequence(&[0x30, 0x80]).is_err());
        assert!(check_der_sequence(&[0x30, 0x85, 0, 0, 0, 0, 0]).is_err());
        assert!(check_der_sequence(&[0x30, 0x81, 0x01, 0x05]).is_ok());
        assert!(check_der_sequence(&[0x30, 0x82, 0xff]).is_err());
    }

    #[test]
    fn nothing_secret_leaks_into_errors_or_debug() {
        let kc = token_kubeconfig(&format!("https://{HOST}"));
        let ca_body = STANDARD.encode(FAKE_DER);
        let ca_b64 = STANDARD.encode(ca_pem());
        let forbidden: Vec<&str> = vec![
            TOKEN,
            KEY_DATA,
            &ca_body,
            &ca_b64,
            "apiVersion: v1",
            "BEGIN",
        ];

        let v = validate_connection_secret(&good_data(), None).expect("valid");
        let mut texts = vec![
            format!("{v:?}"),
            format!("{:?}", kubeconfig::parse(kc.as_bytes())),
        ];

        let bad_kc = format!("users: \"{TOKEN}\"\nclusters: 1\n");
        let key_pem =
            format!("-----BEGIN PRIVATE KEY-----\n{KEY_DATA}\n-----END PRIVATE KEY-----\n");
        let inputs: Vec<BTreeMap<String, Vec<u8>>> = vec![
            secret(&[]),
            secret(&[("kubeconfig", kc.as_bytes())]),
            secret(&[
                ("kubeconfig", bad_kc.as_bytes()),
                ("cluster_certificate_authority_data", ca_b64.as_bytes()),
            ]),
            secret(&[
                ("kubeconfig", kc.replace("token:", "tokn:").as_bytes()),
                ("cluster_certificate_authority_data", ca_b64.as_bytes()),
            ]),
            secret(&[
                ("kubeconfig", kc.as_bytes()),
                ("cluster_certificate_authority_data", key_pem.as_bytes()),
            ]),
            secret(&[
                ("kubeconfig", kc.as_bytes()),
                ("cluster_certificate_authority_data", TOKEN.as_bytes()),
            ]),
            secret(&[
                ("kubeconfig", kc.as_bytes()),
                ("cluster_certificate_authority_data", ca_b64.as_bytes()),
            ]),
        ];
        for data in &inputs {
            let err = validate_connection_secret(data, None).expect_err("invalid");
            texts.push(err.to_string());
            texts.push(format!("{err:?}"));
            if let Some(t) = next_state(
                SecretSyncState::ValidatingSecret,
                &SyncInput::ValidationFailed(&err),
            ) {
                texts.push(format!("{t:?}"));
            }
        }
        assert!(texts.len() > inputs.len() * 2);
        for text in &texts {
            for f in &forbidden {
                assert!(!text.contains(f), "{f:?} leaked into {text}");
            }
        }
    }

    /// (secret data, Workspace output endpoint, expected reason)
    type ErrorCase<'a> = (BTreeMap<String, Vec<u8>>, Option<&'a str>, &'a str);

    /// (current state, input, expected (state, reason, event is a warning), `None` for no transition)
    type StateCase<'a> = (
        SecretSyncState,
        SyncInput<'a>,
        Option<(SecretSyncState, &'a str, bool)>,
    );

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn state_machine_table() {
        use SecretSyncState as S;
        let err = SecretError::MissingKey { key: "kubeconfig" };
        let absent = |elapsed: i64| SyncInput::SecretAbsent {
            waiting_since: at(1_000),
            now: at(1_000 + elapsed),
        };
        let present = |rv: &'static str, last: Option<&'static str>| SyncInput::SecretPresent {
            resource_version: rv,
            last_validated_version: last,
        };
        let cases: Vec<StateCase<'_>> = vec![
            (S::WaitingForSecret, absent(0), None),
            (S::WaitingForSecret, absent(299), None),
            (S::WaitingForSecret, absent(-60), None),
            (
                S::WaitingForSecret,
                absent(300),
                Some((S::Failed, reasons::SECRET_TIMEOUT, true)),
            ),
            (
                S::WaitingForSecret,
                absent(3_600),
                Some((S::Failed, reasons::SECRET_TIMEOUT, true)),
            ),
            (
                S::WaitingForSecret,
                present("1", None),
                Some((S::ValidatingSecret, reasons::VALIDATING_SECRET, false)),
            ),
            (
                S::WaitingForSecret,
                present("1", Some("1")),
                Some((S::ValidatingSecret, reasons::VALIDATING_SECRET, false)),
            ),
            (S::WaitingForSecret, SyncInput::ValidationSucceeded, None),
            (S::WaitingForSecret, SyncInput::ValidationFailed(&err), None),
            (S::WaitingForSecret, SyncInput::Retry, None),
            (
                S::ValidatingSecret,
                SyncInput::ValidationSucceeded,
                Some((S::Ready, reasons::SECRET_READY, false)),
            ),
            (
                S::ValidatingSecret,
                SyncInput::ValidationFailed(&err),
                Some((S::Failed, reasons::MISSING_KEY, true)),
            ),
            (
                S::ValidatingSecret,
                absent(10),
                Some((S::WaitingForSecret, reasons::SECRET_DELETED, true)),
            ),
            (S::ValidatingSecret, present("2", Some("1")), None),
            (S::ValidatingSecret, SyncInput::Retry, None),
            (S::Ready, present("1", Some("1")), None),
            (
                S::Ready,
                present("2", Some("1")),
                Some((S::WaitingForSecret, reasons::SECRET_CHANGED, false)),
            ),
            (
                S::Ready,
                present("2", None),
                Some((S::WaitingForSecret, reasons::SECRET_CHANGED, false)),
            ),
            (
                S::Ready,
                absent(0),
                Some((S::WaitingForSecret, reasons::SECRET_DELETED, true)),
            ),
            (S::Ready, SyncInput::ValidationSucceeded, None),
            (S::Ready, SyncInput::ValidationFailed(&err), None),
            (S::Ready, SyncInput::Retry, None),
            (
                S::Failed,
                SyncInput::Retry,
                Some((S::WaitingForSecret, reasons::RETRYING, false)),
            ),
            (
                S::Failed,
                present("3", Some("2")),
                Some((S::WaitingForSecret, reasons::SECRET_CHANGED, false)),
            ),
            (
                S::Failed,
                present("3", None),
                Some((S::WaitingForSecret, reasons::SECRET_CHANGED, false)),
            ),
            (S::Failed, present("2", Some("2")), None),
            (S::Failed, absent(10_000), None),
            (S::Failed, SyncInput::ValidationSucceeded, None),
            (S::Failed, SyncInput::ValidationFailed(&err), None),
        ];
        for (i, (current, input, want)) in cases.iter().enumerate() {
            let got = next_state(*current, input);
            let got_summary = got.as_ref().map(|t| {
                let warning = t.event.as_ref().map(|e| e.warning);
                assert_eq!(
                    t.event.as_ref().map(|e| e.reason),
                    Some(t.reason),
                    "case {i}"
                );
                (t.state, t.reason, warning.unwrap_or(false))
            });
            assert_eq!(got_summary, *want, "case {i}: {current:?} + {input:?}");
            if let Some(t) = got {
                assert_ne!(
                    t.state, *current,
                    "case {i}: a transition changes the state"
                );
                assert!(!t.message.is_empty());
            }
        }
    }

    #[test]
    fn happy_path_walk_and_messages() {
        use SecretSyncState as S;
        let mut state = initial().state;
        assert_eq!(state, S::WaitingForSecret);
        let steps = [
            SyncInput::SecretPresent {
                resource_version: "7",
                last_validated_version: None,
            },
            SyncInput::ValidationSucceeded,
        ];
        for step in &steps {
            state = next_state(state, step).expect("transition").state;
        }
        assert_eq!(state, S::Ready);

        let t = next_state(
            S::WaitingForSecret,
            &SyncInput::SecretAbsent {
                waiting_since: at(0),
                now: at(301),
            },
        )
        .expect("timeout");
        assert_eq!(t.message, "Connection secret did not appear within 5m");
        let status = t.to_status(AddonKeys::default());
        assert_eq!(status.state, S::Failed);
        assert_eq!(status.reason.as_deref(), Some("SecretTimeout"));

        let err = SecretError::EndpointNotAvailable;
        let t =
            next_state(S::ValidatingSecret, &SyncInput::ValidationFailed(&err)).expect("failed");
        assert_eq!(t.message, err.to_string());
        assert_eq!(t.reason, "EndpointNotAvailable");
    }

    #[test]
    fn custom_timeout_and_duration_format() {
        let input = SyncInput::SecretAbsent {
            waiting_since: at(0),
            now: at(30),
        };
        let t = next_state_with_timeout(
            SecretSyncState::WaitingForSecret,
            &input,
            SignedDuration::from_secs(30),
        )
        .expect("timed out");
        assert_eq!(t.message, "Connection secret did not appear within 30s");
        assert_eq!(format_duration(SignedDuration::from_mins(10)), "10m");
        assert_eq!(format_duration(SignedDuration::ZERO), "0s");
    }

    #[test]
    fn reasons_are_camel_case() {
        let errors = [
            SecretError::MissingKey { key: "kubeconfig" },
            SecretError::InvalidKubeconfig(KubeconfigError::Empty),
            SecretError::InvalidCertificate { reason: "x" },
            SecretError::InvalidEndpoint(EndpointError::Empty),
            SecretError::EndpointNotAvailable,
        ];
        let reasons: Vec<&str> = errors.iter().map(SecretError::reason).collect();
        assert_eq!(
            reasons,
            vec![
                "MissingKey",
                "InvalidKubeconfig",
                "InvalidCertificate",
                "EndpointError",
                "EndpointNotAvailable"
            ]
        );
        for r in reasons {
            assert!(r.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
            assert!(r.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }
}
