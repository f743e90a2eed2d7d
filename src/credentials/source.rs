//! Where credentials come from: the AWS SDK's default chain, or fixed credentials.

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::CredentialsError;

/// Fixed fake credentials for unit tests.
#[cfg(test)]
pub(crate) fn fake_credentials() -> Credentials {
    Credentials::new(
        "AKIDCAPTUNITTEST0001",
        "capt/unit/test/secret/key/not/a/real/one",
        None,
        None,
        "capt-unit-test",
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
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        // The process's one rustls crypto provider is ring (as for the Kubernetes client).
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
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

    /// Fixed long-term keys (the demo and load runs' fake credentials).
    pub fn static_keys(access_key_id: &str, secret_access_key: &str) -> Self {
        Self::fixed(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "capt-static",
        ))
    }

    /// Current credentials (cached by the provider until shortly before they expire).
    pub async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        self.provider
            .provide_credentials()
            .await
            .map_err(|e| CredentialsError::NoCredentials(e.to_string()))
    }
}
