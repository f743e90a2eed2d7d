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

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

/// How long Amazon EKS accepts a token after its `X-Amz-Date`.
pub const EKS_TOKEN_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
const EKS_PREFIX: &str = "k8s-aws-v1.";

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

/// Judges the bytes of a kubeconfig Secret's `value` key (`None`: the key is missing).
pub(crate) fn evaluate(secret: &str, value: Option<&[u8]>) -> KubeconfigState {
    match check(secret, value) {
        Ok(expires_at) => KubeconfigState::Usable { expires_at },
        Err(m) => KubeconfigState::Unusable(m),
    }
}

fn check(secret: &str, value: Option<&[u8]>) -> Result<Option<DateTime<Utc>>, String> {
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
            Some(encoded) => eks_token_expiry(encoded)
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

/// The expiry of an EKS token (the part after `k8s-aws-v1.`).
pub(crate) fn eks_token_expiry(encoded: &str) -> Result<DateTime<Utc>, String> {
    let bad = |what: &str| format!("EKS token is not a presigned STS URL ({what})");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| bad("not unpadded base64url"))?;
    let url = String::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| bad("not https"))?;
    let (host_path, query) = rest.split_once('?').ok_or_else(|| bad("no query"))?;
    let (host, path) = host_path.split_once('/').unwrap_or((host_path, ""));
    if !is_sts_host(host) {
        return Err(bad("host is not an STS endpoint"));
    }
    if !path.is_empty() {
        return Err(bad("path is not /"));
    }
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if !param("Action").is_some_and(|a| a.eq_ignore_ascii_case("GetCallerIdentity")) {
        return Err(bad("Action is not GetCallerIdentity"));
    }
    let signed = param("X-Amz-SignedHeaders").unwrap_or_default();
    if !signed
        .split(';')
        .any(|h| h.eq_ignore_ascii_case("x-k8s-aws-id"))
    {
        return Err(bad("x-k8s-aws-id header not signed"));
    }
    let date = param("X-Amz-Date").ok_or_else(|| bad("no X-Amz-Date"))?;
    let date = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| bad("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?
        .and_utc();
    Ok(date + EKS_TOKEN_LIFETIME)
}

fn is_sts_host(host: &str) -> bool {
    let host = host.strip_suffix(".cn").unwrap_or(host);
    let Some(mid) = host
        .strip_prefix("sts")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
    else {
        return false;
    };
    mid.is_empty()
        || mid.strip_prefix('.').is_some_and(|r| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An EKS token for `date` (the shape `aws eks get-token` produces; the signature is not checked).
pub fn eks_token(cluster: &str, region: &str, date: DateTime<Utc>) -> String {
    let url = format!(
        "https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F{day}%2F{region}%2Fsts%2Faws4_request\
&X-Amz-Date={stamp}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=00\
&x-k8s-aws-id={cluster}",
        day = date.format("%Y%m%d"),
        stamp = date.format("%Y%m%dT%H%M%SZ"),
    );
    format!(
        "{EKS_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
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
        let token = eks_token("demo", "us-west-2", date);
        let enc = token.strip_prefix(EKS_PREFIX).expect("prefix");
        assert_eq!(eks_token_expiry(enc), Ok(date + EKS_TOKEN_LIFETIME));
        let state = evaluate(
            "ns/x-kubeconfig",
            Some(kubeconfig(&format!("{{token: {token}}}")).as_bytes()),
        );
        assert!(state.at(date).is_ok());
        let expired = state.at(date + EKS_TOKEN_LIFETIME).expect_err("expired");
        assert!(expired.contains("expired"), "{expired}");
        assert!(!expired.contains(enc), "no token in message");
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
            match evaluate("ns/x-kubeconfig", value.as_deref().map(str::as_bytes)) {
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
                Some(kubeconfig("{token: static}").as_bytes())
            ),
            KubeconfigState::Usable { expires_at: None }
        );
    }

    #[test]
    fn sts_hosts() {
        for h in [
            "sts.amazonaws.com",
            "sts.us-west-2.amazonaws.com",
            "sts.cn-north-1.amazonaws.com.cn",
        ] {
            assert!(is_sts_host(h), "{h}");
        }
        for h in [
            "evil.com",
            "sts.amazonaws.com.evil.com",
            "sts..amazonaws.com",
            "xsts.amazonaws.com",
        ] {
            assert!(!is_sts_host(h), "{h}");
        }
    }
}
