//! EKS bearer tokens signed in-process.
//!
//! An EKS token is what `aws-iam-authenticator token` and `aws eks get-token` print: `k8s-aws-v1.` followed by
//! the unpadded base64url of a presigned STS `GetCallerIdentity` URL whose signature covers the header
//! `x-k8s-aws-id: <EKS cluster name>`. The API server's authenticator replays the URL with that header against
//! STS, so the token proves an AWS identity for one cluster; EKS accepts it for 15 minutes after the URL's
//! `X-Amz-Date` whatever `X-Amz-Expires` says (60 seconds, as the reference tools sign).
//!
//! Signing uses `aws-sigv4` (query-string signing); credentials come from `aws-config`'s default chain
//! (environment, web identity / IRSA, EKS Pod Identity, profile, IMDS) or, in the demo and load runs, from fixed
//! fake credentials. See `docs/credentials.md` for how refresh is scheduled and why.

mod error;
mod source;
mod token;

pub use error::CredentialsError;
pub use source::CredentialSource;
#[cfg(test)]
pub(crate) use source::fake_credentials;
pub use token::{
    CLUSTER_ID_HEADER, EKS_TOKEN_LIFETIME, EksToken, TOKEN_PREFIX, TokenRequest, sign_token,
    sts_host,
};

#[cfg(test)]
mod tests;
