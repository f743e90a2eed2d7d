//! Where credentials come from: the AWS SDK's default chain, or fixed credentials.

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::CredentialsError;

/// Access key id of the fixed fake credentials the demo and load runs sign with.
pub const FAKE_ACCESS_KEY_ID: &str = "AKIDCAPTSIMULATION01";
/// Secret key of the fixed fake credentials; the Cluster API simulator verifies signatures with it.
pub const FAKE_SECRET_ACCESS_KEY: &str = "capt/simulated/secret/key/not/a/real/one0";

/// The fixed fake credentials of the demo and load runs.
pub fn fake_credentials() -> Credentials {
    Credentials::new(
        FAKE_ACCESS_KEY_ID,
        FAKE_SECRET_ACCESS_KEY,
        None,
        None,
        "capt-simulation",
    )
}

/// A credentials provider shared by every control plane (the provider caches and refreshes what it loads).
#[derive(Clone, Debug)]
pub struct CredentialSource {
    provider: SharedCredentialsProvider,
}

impl CredentialSource {
    /// The SDK's default chain: environment, web identity (IRSA), EKS Pod Identity, profile, IMDS.
    pub async fn default_chain() -> Option<Self> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        config
            .credentials_provider()
            .map(|provider| Self { provider })
    }

    /// Fixed credentials (tests, demo, load runs).
    pub fn fixed(credentials: Credentials) -> Self {
        Self {
            provider: SharedCredentialsProvider::new(credentials),
        }
    }

    /// Current credentials (cached by the provider until shortly before they expire).
    pub async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        self.provider
            .provide_credentials()
            .await
            .map_err(|e| CredentialsError::NoCredentials(e.to_string()))
    }
}
