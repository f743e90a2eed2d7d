//! Why a token could not be signed. Messages name what is missing, never a credential.

/// Failure to produce an EKS token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The credential chain found nothing (or failed to load).
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    /// The control plane names no region, so the STS endpoint is not known.
    #[error("STS region unknown: the control plane has no spec.controlPlaneConfig.region")]
    RegionUnknown,
    /// The request or the signing parameters were refused by the signer.
    #[error("signing the STS request failed: {0}")]
    Signing(String),
}

impl CredentialsError {
    /// Condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            CredentialsError::NoCredentials(_) => "NoCredentials",
            CredentialsError::RegionUnknown => "RegionUnknown",
            CredentialsError::Signing(_) => "SigningFailed",
        }
    }
}
