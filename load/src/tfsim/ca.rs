//! Self-signed cluster CA certificates, as EKS hands out in `cluster_certificate_authority_data`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Datelike;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// Certificate generation failed.
#[derive(Debug, thiserror::Error)]
#[error("generating CA certificate: {0}")]
pub struct CaError(#[from] rcgen::Error);

/// Generates a self-signed CA certificate (ECDSA P-256, CN=kubernetes, 10 years) and returns its PEM text.
/// The private key is discarded: like EKS, only the certificate is published.
pub(crate) fn generate_pem() -> Result<String, CaError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kubernetes");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let today = chrono::Utc::now().date_naive();
    let (year, month, day) = (
        today.year(),
        u8::try_from(today.month()).unwrap_or(1),
        u8::try_from(today.day()).unwrap_or(1).min(28),
    );
    params.not_before = rcgen::date_time_ymd(year, month, day);
    params.not_after = rcgen::date_time_ymd(year + 10, month, day);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(cert.pem())
}

/// A new CA certificate as EKS emits it: the PEM text, base64-encoded.
pub(crate) fn generate_b64() -> Result<String, CaError> {
    Ok(STANDARD.encode(generate_pem()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let b64 = generate_b64().unwrap_or_else(|e| panic!("{e}"));
        let pem = STANDARD.decode(b64).unwrap_or_else(|e| panic!("{e}"));
        let pem = String::from_utf8(pem).unwrap_or_else(|e| panic!("{e}"));
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
    }
}
