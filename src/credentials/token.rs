//! The presigned STS `GetCallerIdentity` URL and its token encoding.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;

use super::CredentialsError;

/// Prefix of every EKS token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header whose signed value names the EKS cluster the token is for.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long Amazon EKS accepts a token after the URL's `X-Amz-Date`.
pub const EKS_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// `X-Amz-Expires` of the presigned URL, as the reference tools sign it.
const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);

/// What a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest<'a> {
    /// The EKS cluster name (the value of `x-k8s-aws-id`).
    pub cluster: &'a str,
    /// The region whose STS endpoint signs and verifies (`sts.<region>.amazonaws.com`).
    pub region: &'a str,
}

/// A signed token. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct EksToken {
    value: String,
    /// When EKS stops accepting it (signing time + 15 minutes).
    pub expires_at: SystemTime,
}

impl EksToken {
    /// The bearer token, for the kubeconfig only.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl std::fmt::Debug for EksToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The STS endpoint of `region` (China regions use the `.amazonaws.com.cn` partition).
pub fn sts_host(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("sts.{region}.{suffix}")
}

/// One presigned request: the signer's inputs. `s3` selects S3's canonicalisation (single percent-encoding, no
/// path normalisation, unsigned payload), which only the published S3 example needs.
pub(crate) struct Presign<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub expires: Duration,
    pub at: SystemTime,
    pub s3: bool,
}

/// The presigned URL of `p`, signed with `credentials` by the SDK's SigV4 signer (query-string signing).
pub(crate) fn presign(
    credentials: &Credentials,
    p: &Presign<'_>,
) -> Result<String, CredentialsError> {
    let failed = |e: &dyn std::fmt::Display| CredentialsError::Signing(e.to_string());
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(p.expires);
    let body = if p.s3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(&[])
    };
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(p.region)
        .name(p.service)
        .time(p.at)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let signable = SignableRequest::new("GET", p.url, p.headers.iter().copied(), body)
        .map_err(|e| failed(&e))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| failed(&e))?
        .into_parts();
    let mut req = http::Request::get(p.url).body(()).map_err(|e| failed(&e))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(req.uri().to_string())
}

/// Presign `GET https://sts.<region>/?Action=GetCallerIdentity&Version=2011-06-15` at `at`, with the signed header
/// `x-k8s-aws-id`, and encode it as a token.
pub fn sign_token(
    credentials: &Credentials,
    request: &TokenRequest<'_>,
    at: SystemTime,
) -> Result<EksToken, CredentialsError> {
    if request.region.is_empty() {
        return Err(CredentialsError::RegionUnknown);
    }
    let url = format!(
        "https://{}/?Action=GetCallerIdentity&Version=2011-06-15",
        sts_host(request.region)
    );
    let presigned = presign(
        credentials,
        &Presign {
            service: "sts",
            region: request.region,
            url: &url,
            headers: &[(CLUSTER_ID_HEADER, request.cluster)],
            expires: PRESIGN_EXPIRES,
            at,
            s3: false,
        },
    )?;
    Ok(EksToken {
        value: format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
        ),
        expires_at: at + EKS_TOKEN_LIFETIME,
    })
}
