use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use base64::Engine;

use super::token::{Presign, presign};
use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2025-03-01T10:00:00Z
const MARCH_1: u64 = 1_740_823_200;

fn decoded_url(token: &EksToken) -> String {
    let enc = token
        .expose()
        .strip_prefix(TOKEN_PREFIX)
        .expect("token prefix");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(enc)
        .expect("unpadded base64url");
    String::from_utf8(raw).expect("utf-8")
}

fn query(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').expect("query").1;
    q.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("k=v");
            (k.to_string(), v.replace("%2F", "/").replace("%3B", ";"))
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The query-string authentication example of the Amazon S3 SigV4 documentation ("Authenticating Requests:
/// Using Query Parameters"): its published signature must come out of the same signing path the token uses.
#[test]
fn published_presigning_example_signature() {
    let creds = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "example",
    );
    let url = presign(
        &creds,
        &Presign {
            service: "s3",
            region: "us-east-1",
            url: "https://examplebucket.s3.amazonaws.com/test.txt",
            headers: &[],
            expires: Duration::from_secs(86_400),
            at: at(1_369_353_600), // 2013-05-24T00:00:00Z
            s3: true,
        },
    )
    .expect("presign");
    let q = query(&url);
    assert_eq!(param(&q, "X-Amz-Date"), Some("20130524T000000Z"));
    assert_eq!(param(&q, "X-Amz-SignedHeaders"), Some("host"));
    assert_eq!(
        param(&q, "X-Amz-Credential"),
        Some("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request")
    );
    assert_eq!(
        param(&q, "X-Amz-Signature"),
        Some("aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    );
}

#[test]
fn token_is_a_presigned_get_caller_identity_url() {
    let token = sign_token(
        &fake_credentials(),
        &TokenRequest {
            cluster: "demo-01",
            region: "us-west-2",
        },
        at(MARCH_1),
    )
    .expect("token");
    assert_eq!(token.expires_at, at(MARCH_1) + EKS_TOKEN_LIFETIME);
    assert!(!token.expose().contains('='), "unpadded");
    let url = decoded_url(&token);
    assert!(
        url.starts_with("https://sts.us-west-2.amazonaws.com/?"),
        "{url}"
    );
    let q = query(&url);
    let want = [
        ("Action", "GetCallerIdentity"),
        ("Version", "2011-06-15"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        (
            "X-Amz-Credential",
            "AKIDCAPTUNITTEST0001/20250301/us-west-2/sts/aws4_request",
        ),
        ("X-Amz-Date", "20250301T100000Z"),
        ("X-Amz-Expires", "60"),
        ("X-Amz-SignedHeaders", "host;x-k8s-aws-id"),
    ];
    for (k, v) in want {
        assert_eq!(param(&q, k), Some(v), "{k} in {url}");
    }
    let sig = param(&q, "X-Amz-Signature").expect("signature");
    assert!(sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(param(&q, "x-k8s-aws-id"), None, "the cluster is a header");
    assert_eq!(param(&q, "X-Amz-Security-Token"), None);
    assert!(!format!("{token:?}").contains(token.expose()));
}

#[test]
fn signing_is_deterministic_and_covers_cluster_time_and_session() {
    let sign = |creds: &Credentials, cluster: &str, secs: u64| {
        let req = TokenRequest {
            cluster,
            region: "eu-west-1",
        };
        sign_token(creds, &req, at(secs)).expect("token")
    };
    let creds = fake_credentials();
    let base = sign(&creds, "a", MARCH_1);
    assert_eq!(base, sign(&creds, "a", MARCH_1));
    assert_ne!(base.expose(), sign(&creds, "b", MARCH_1).expose());
    assert_ne!(base.expose(), sign(&creds, "a", MARCH_1 + 1).expose());
    let session = Credentials::new("AKID", "secret", Some("session".into()), None, "t");
    let q = query(&decoded_url(&sign(&session, "a", MARCH_1)));
    assert_eq!(param(&q, "X-Amz-Security-Token"), Some("session"));
}

#[test]
fn region_must_be_known() {
    let req = TokenRequest {
        cluster: "a",
        region: "",
    };
    let err = sign_token(&fake_credentials(), &req, at(MARCH_1)).expect_err("no region");
    assert_eq!(err, CredentialsError::RegionUnknown);
    assert_eq!(err.reason(), "RegionUnknown");
}

#[test]
fn china_regions_use_their_partition() {
    let req = TokenRequest {
        cluster: "a",
        region: "cn-north-1",
    };
    let t = sign_token(&fake_credentials(), &req, at(MARCH_1)).expect("token");
    assert!(decoded_url(&t).starts_with("https://sts.cn-north-1.amazonaws.com.cn/?"));
}

#[tokio::test]
async fn fixed_source_provides_its_credentials() {
    let got = CredentialSource::fixed(fake_credentials())
        .credentials()
        .await
        .expect("credentials");
    assert_eq!(got.access_key_id(), fake_credentials().access_key_id());
}
