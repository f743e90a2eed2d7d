//! EKS tokens as the API server's authenticator checks them: `k8s-aws-v1.` + unpadded base64url of a presigned
//! STS `GetCallerIdentity` URL. The check is what the authenticator (and STS behind it) refuse: wrong scheme,
//! host, path or action, a query parameter outside the presigned set, an unsigned `x-k8s-aws-id` header, a
//! signature that does not verify when the request is replayed with `x-k8s-aws-id: <cluster>` — which is how
//! a token for another cluster fails — and a token older than 15 minutes.
//!
//! The signature is recomputed here with plain HMAC-SHA256 (an implementation independent of the signer capt
//! uses) with the fixed fake credentials that the demo and load runs give capt and the terraform simulator.
//!
//! Error messages never contain the token, the URL or a key.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Access key id of the fake credentials (the same as capt's demo credentials).
pub const FAKE_ACCESS_KEY_ID: &str = "AKIDCAPTSIMULATION01";
/// Secret key of the fake credentials (the same as capt's demo credentials).
pub const FAKE_SECRET_ACCESS_KEY: &str = "capt/simulated/secret/key/not/a/real/one0";
/// How long Amazon EKS accepts a token after its `X-Amz-Date`.
pub const EKS_TOKEN_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
pub(crate) const EKS_PREFIX: &str = "k8s-aws-v1.";
const CLUSTER_HEADER: &str = "x-k8s-aws-id";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Query parameters the authenticator accepts (lower case).
const ALLOWED: [&str; 9] = [
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding as SigV4 canonicalises it (unreserved characters kept).
fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The SigV4 signature of a presigned STS GET with `params` (all but `X-Amz-Signature`), signed headers host and
/// `x-k8s-aws-id`.
fn signature(
    secret: &str,
    host: &str,
    cluster: &str,
    params: &[(String, String)],
    amz_date: &str,
    scope: &str,
) -> String {
    let mut q: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    q.sort();
    let query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical = format!(
        "GET\n/\n{query}\nhost:{host}\n{CLUSTER_HEADER}:{cluster}\n\nhost;{CLUSTER_HEADER}\n{EMPTY_SHA256}"
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut parts = scope.split('/');
    let (day, region, service) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), day);
    let k = hmac(&k, region);
    let k = hmac(&k, service);
    let k = hmac(&k, "aws4_request");
    hex(&hmac(&k, &to_sign))
}

fn sts_region(host: &str) -> Option<&str> {
    let host = host.strip_suffix(".cn").unwrap_or(host);
    let mid = host.strip_prefix("sts")?.strip_suffix(".amazonaws.com")?;
    if mid.is_empty() {
        return Some("us-east-1");
    }
    let r = mid.strip_prefix('.')?;
    (!r.is_empty()
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    .then_some(r)
}

/// The expiry of the token (the part after `k8s-aws-v1.`) when it is a well-formed presigned URL for `cluster`
/// whose signature verifies with the fake credentials; else why not.
pub(crate) fn verify(encoded: &str, cluster: &str) -> Result<DateTime<Utc>, String> {
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
    let region = sts_region(host).ok_or_else(|| bad("host is not an STS endpoint"))?;
    if !path.is_empty() {
        return Err(bad("path is not /"));
    }
    let mut params = Vec::new();
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let (k, v) = percent_decode(k)
            .zip(percent_decode(v))
            .ok_or_else(|| bad("bad percent-encoding"))?;
        if !ALLOWED.contains(&k.to_ascii_lowercase().as_str()) {
            return Err(bad("query parameter outside the presigned set"));
        }
        params.push((k, v));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if param("Action") != Some("GetCallerIdentity") {
        return Err(bad("Action is not GetCallerIdentity"));
    }
    if param("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(bad("algorithm is not AWS4-HMAC-SHA256"));
    }
    if param("X-Amz-SignedHeaders") != Some("host;x-k8s-aws-id") {
        return Err(bad("signed headers are not host;x-k8s-aws-id"));
    }
    let amz_date = param("X-Amz-Date").ok_or_else(|| bad("no X-Amz-Date"))?;
    let date = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| bad("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?
        .and_utc();
    let credential = param("X-Amz-Credential").ok_or_else(|| bad("no X-Amz-Credential"))?;
    let (akid, scope) = credential
        .split_once('/')
        .ok_or_else(|| bad("malformed X-Amz-Credential"))?;
    let want_scope = format!("{}/{region}/sts/aws4_request", date.format("%Y%m%d"));
    if scope != want_scope {
        return Err(bad(
            "credential scope does not match the date and the STS region",
        ));
    }
    if akid != FAKE_ACCESS_KEY_ID {
        return Err("EKS token: STS does not know the access key (InvalidClientTokenId)".into());
    }
    let want = signature(
        FAKE_SECRET_ACCESS_KEY,
        host,
        cluster,
        &params,
        amz_date,
        scope,
    );
    if param("X-Amz-Signature") != Some(want.as_str()) {
        return Err(format!(
            "EKS token: signature does not verify for x-k8s-aws-id {cluster:?} (SignatureDoesNotMatch)"
        ));
    }
    Ok(date + EKS_TOKEN_LIFETIME)
}

/// A token for `cluster` signed at `date` with the fake credentials (what terraform's `aws_eks_cluster_auth`
/// gives in the simulation).
pub fn eks_token(cluster: &str, region: &str, date: DateTime<Utc>) -> String {
    let host = format!("sts.{region}.amazonaws.com");
    let amz_date = date.format("%Y%m%dT%H%M%SZ").to_string();
    let scope = format!("{}/{region}/sts/aws4_request", date.format("%Y%m%d"));
    let mut params: Vec<(String, String)> = [
        ("Action", "GetCallerIdentity".to_string()),
        ("Version", "2011-06-15".to_string()),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_string()),
        ("X-Amz-Credential", format!("{FAKE_ACCESS_KEY_ID}/{scope}")),
        ("X-Amz-Date", amz_date.clone()),
        ("X-Amz-Expires", "60".to_string()),
        ("X-Amz-SignedHeaders", "host;x-k8s-aws-id".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sig = signature(
        FAKE_SECRET_ACCESS_KEY,
        &host,
        cluster,
        &params,
        &amz_date,
        &scope,
    );
    params.push(("X-Amz-Signature".into(), sig));
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={}", uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{EKS_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("https://{host}/?{query}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn url_of(token: &str) -> String {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.strip_prefix(EKS_PREFIX).expect("prefix"))
            .expect("base64");
        String::from_utf8(raw).expect("utf-8")
    }

    fn token_of(url: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    }

    #[test]
    fn own_tokens_verify_and_tampering_does_not() {
        let token = eks_token("alpha", "us-west-2", date());
        let enc = token.strip_prefix(EKS_PREFIX).expect("prefix");
        assert_eq!(verify(enc, "alpha"), Ok(date() + EKS_TOKEN_LIFETIME));
        let url = url_of(&token);
        let cases = [
            (
                "another cluster",
                enc.to_string(),
                "beta",
                "SignatureDoesNotMatch",
            ),
            (
                "later date",
                token_of(&url.replace("T100000Z", "T100500Z")),
                "alpha",
                "SignatureDoesNotMatch",
            ),
            (
                "cluster in the query",
                token_of(&format!("{url}&x-k8s-aws-id=alpha")),
                "alpha",
                "outside the presigned set",
            ),
            (
                "header not signed",
                token_of(&url.replace("host%3Bx-k8s-aws-id", "host")),
                "alpha",
                "signed headers",
            ),
            (
                "other host",
                token_of(&url.replace("sts.us-west-2.amazonaws.com", "sts.evil.com")),
                "alpha",
                "not an STS endpoint",
            ),
            (
                "other region in scope",
                token_of(&url.replace("us-west-2.amazonaws", "eu-west-1.amazonaws")),
                "alpha",
                "credential scope",
            ),
            (
                "unknown key",
                token_of(&url.replace(FAKE_ACCESS_KEY_ID, "AKIAOTHER")),
                "alpha",
                "InvalidClientTokenId",
            ),
        ];
        for (case, enc, cluster, want) in cases {
            let err = verify(&enc, cluster).expect_err(case);
            assert!(err.contains(want), "{case}: {err}");
            assert!(
                !err.contains(&enc) && !err.contains("X-Amz-Signature="),
                "{case}"
            );
        }
    }

    #[test]
    fn sts_hosts() {
        for (h, r) in [
            ("sts.amazonaws.com", "us-east-1"),
            ("sts.us-west-2.amazonaws.com", "us-west-2"),
            ("sts.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ] {
            assert_eq!(sts_region(h), Some(r), "{h}");
        }
        for h in [
            "evil.com",
            "sts.amazonaws.com.evil.com",
            "sts..amazonaws.com",
            "xsts.amazonaws.com",
        ] {
            assert_eq!(sts_region(h), None, "{h}");
        }
    }
}
