//! Whether Cluster API could use a Cluster's kubeconfig, judged from the Secret alone.
//!
//! The cluster cache reads Secret `<cluster>-kubeconfig` (key `value`) and builds a client with client-go's
//! kubeconfig loader. These checks mirror what makes that fail: missing key, unparsable YAML, no
//! `current-context` or a context, cluster or user it names that does not exist, a cluster without a
//! server URL, a user without usable credentials (inline bearer token, or client certificate + key; exec
//! plugins and token files are not available inside the Cluster API controller). A bearer token of the form
//! `k8s-aws-v1.<unpadded base64url of a presigned STS GetCallerIdentity URL>` is an EKS token: Amazon EKS
//! accepts it for 15 minutes after the URL's `X-Amz-Date` and refuses one that does not decode to such a
//! URL (https, host `sts[.<region>].amazonaws.com[.cn]`, path `/`, `Action=GetCallerIdentity`, a signed
//! `x-k8s-aws-id` header).
//!
//! Messages never contain credentials.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::sts::{self, EKS_PREFIX};

/// What a kubeconfig Secret allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KubeconfigState {
    /// Parses, names a server and carries credentials; a token that expires has `expires_at`.
    Usable { expires_at: Option<DateTime<Utc>> },
    /// Why Cluster API could not use it.
    Unusable(String),
}

impl KubeconfigState {
    /// The state at `now`: `Ok(expiry)` when usable, else the reason.
    pub(crate) fn at(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
        match self {
            KubeconfigState::Unusable(m) => Err(m.clone()),
            KubeconfigState::Usable {
                expires_at: Some(t),
            } if *t <= now => Err(format!(
                "EKS token expired at {} (X-Amz-Date + 15m)",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            KubeconfigState::Usable { expires_at } => Ok(*expires_at),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    clusters: Option<Vec<Named<ClusterEntry>>>,
    #[serde(default)]
    users: Option<Vec<Named<UserEntry>>>,
    #[serde(default)]
    contexts: Option<Vec<Named<ContextEntry>>>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Named<T> {
    #[serde(default)]
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    entry: Option<T>,
}

#[derive(Deserialize, Default)]
struct ClusterEntry {
    #[serde(default)]
    server: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    exec: Option<serde_yaml::Value>,
    #[serde(default)]
    auth_provider: Option<serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
struct ContextEntry {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

fn find<'a, T>(list: &'a Option<Vec<Named<T>>>, name: &str) -> Option<&'a Named<T>> {
    list.iter().flatten().find(|n| n.name == name)
}

fn present(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Judges the bytes of a kubeconfig Secret's `value` key (`None`: the key is missing) for the EKS cluster
/// `cluster` (an EKS token must be signed for it).
pub(crate) fn evaluate(secret: &str, cluster: &str, value: Option<&[u8]>) -> KubeconfigState {
    match check(secret, cluster, value) {
        Ok(expires_at) => KubeconfigState::Usable { expires_at },
        Err(m) => KubeconfigState::Unusable(m),
    }
}

fn check(
    secret: &str,
    eks_cluster: &str,
    value: Option<&[u8]>,
) -> Result<Option<DateTime<Utc>>, String> {
    let bytes =
        value.ok_or_else(|| format!("secret {secret}: missing key \"value\" in secret data"))?;
    let k: Kubeconfig = serde_yaml::from_slice(bytes).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {} column {}", l.line(), l.column()))
            .unwrap_or_default();
        format!("secret {secret}: kubeconfig is not valid YAML{at}")
    })?;
    let ctx_name = k
        .current_context
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("secret {secret}: kubeconfig has no current-context"))?;
    let ctx = find(&k.contexts, ctx_name)
        .and_then(|c| c.entry.as_ref())
        .ok_or_else(|| format!("secret {secret}: context {ctx_name:?} does not exist"))?;
    let cluster = find(&k.clusters, &ctx.cluster)
        .and_then(|c| c.entry.as_ref())
        .ok_or_else(|| {
            format!(
                "secret {secret}: cluster {:?} was not found for context {ctx_name:?}",
                ctx.cluster
            )
        })?;
    let server = cluster
        .server
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "secret {secret}: no server found for cluster {:?}",
                ctx.cluster
            )
        })?;
    if !(server.starts_with("https://") || server.starts_with("http://")) || server.contains(' ') {
        return Err(format!(
            "secret {secret}: server of cluster {:?} is not a URL",
            ctx.cluster
        ));
    }
    let user = find(&k.users, &ctx.user)
        .and_then(|u| u.entry.as_ref())
        .ok_or_else(|| {
            format!(
                "secret {secret}: user {:?} was not found for context {ctx_name:?}",
                ctx.user
            )
        })?;
    if present(&user.token) {
        let token = user.token.as_deref().unwrap_or_default().trim();
        return match token.strip_prefix(EKS_PREFIX) {
            Some(encoded) => sts::verify(encoded, eks_cluster)
                .map(Some)
                .map_err(|m| format!("secret {secret}: user {:?}: {m}", ctx.user)),
            None => Ok(None),
        };
    }
    if present(&user.client_certificate_data) && present(&user.client_key_data) {
        return Ok(None);
    }
    let why = if user.exec.is_some() {
        "uses an exec credential plugin, which the Cluster API controller cannot run"
    } else if present(&user.token_file) {
        "uses a tokenFile, which does not exist in the Cluster API controller"
    } else if user.auth_provider.is_some() {
        "uses an auth-provider plugin, which client-go no longer supports"
    } else {
        "has no credentials (token, or client certificate and key)"
    };
    Err(format!("secret {secret}: user {:?} {why}", ctx.user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://ABC.gr7.us-west-2.eks.amazonaws.com\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\nusers:\n- name: u\n  user: {user}\n"
        )
    }

    #[test]
    fn eks_token_expires_fifteen_minutes_after_its_date() {
        let date = DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let token = sts::eks_token("demo", "us-west-2", date);
        let enc = token.strip_prefix(EKS_PREFIX).expect("prefix");
        let state = evaluate(
            "ns/demo-kubeconfig",
            "demo",
            Some(kubeconfig(&format!("{{token: {token}}}")).as_bytes()),
        );
        assert_eq!(
            state,
            KubeconfigState::Usable {
                expires_at: Some(date + sts::EKS_TOKEN_LIFETIME)
            }
        );
        assert!(state.at(date).is_ok());
        let expired = state
            .at(date + sts::EKS_TOKEN_LIFETIME)
            .expect_err("expired");
        assert!(expired.contains("expired"), "{expired}");
        assert!(!expired.contains(enc), "no token in message");
        let other = evaluate(
            "ns/other-kubeconfig",
            "other",
            Some(kubeconfig(&format!("{{token: {token}}}")).as_bytes()),
        );
        match other {
            KubeconfigState::Unusable(m) => {
                assert!(m.contains("SignatureDoesNotMatch"), "{m}");
                assert!(!m.contains(enc), "no token in message");
            }
            usable => panic!("a token for another cluster: {usable:?}"),
        }
    }

    #[test]
    fn unusable_kubeconfigs_say_why_without_secrets() {
        let cases = [
            (None, "missing key"),
            (Some("{".to_string()), "not valid YAML"),
            (Some("clusters: []\n".to_string()), "no current-context"),
            (Some(kubeconfig("{}")), "has no credentials"),
            (
                Some(kubeconfig("{exec: {command: aws}}")),
                "exec credential plugin",
            ),
            (
                Some(kubeconfig("{token: k8s-aws-v1.c2VjcmV0LXRva2VuLXZhbHVl}")),
                "not a presigned STS URL",
            ),
            (
                Some(kubeconfig("{token: t}").replace(
                    "server: https://ABC.gr7.us-west-2.eks.amazonaws.com",
                    "insecure-skip-tls-verify: true",
                )),
                "no server",
            ),
            (
                Some(kubeconfig("{token: t}").replace("user: u}", "user: v}")),
                "was not found",
            ),
        ];
        for (value, want) in cases {
            match evaluate("ns/x-kubeconfig", "x", value.as_deref().map(str::as_bytes)) {
                KubeconfigState::Unusable(m) => {
                    assert!(m.contains(want), "{want}: {m}");
                    assert!(!m.contains("c2VjcmV0"), "no token in {m}");
                }
                other => panic!("{want}: {other:?}"),
            }
        }
        assert_eq!(
            evaluate(
                "ns/x-kubeconfig",
                "x",
                Some(kubeconfig("{token: static}").as_bytes())
            ),
            KubeconfigState::Usable { expires_at: None }
        );
    }
}
