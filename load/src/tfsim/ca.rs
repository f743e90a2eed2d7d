//! Self-signed cluster CA certificates, as EKS hands out in `cluster_certificate_authority_data`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};

use super::ids;

/// Certificate generation failed.
#[derive(Debug, thiserror::Error)]
#[error("generating CA certificate: {0}")]
pub struct CaError(#[from] rcgen::Error);

/// DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Generates the self-signed CA certificate (Ed25519, CN=kubernetes, valid 2024-01-01 to 2034-01-01) of the
/// cluster identified by `parts` and returns its PEM text. Key, serial number and signature all derive from
/// `seed` and `parts`, so the same cluster always gets the same certificate. Like EKS, only the certificate is
/// published.
pub(crate) fn generate_pem(seed: u64, parts: &[&str]) -> Result<String, CaError> {
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
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    let mut serial = hex_bytes(&ids::hex(seed, &[&["ca-serial"], parts].concat(), 32));
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend(hex_bytes(&ids::hex(
        seed,
        &[&["ca-key"], parts].concat(),
        64,
    )));
    let key = KeyPair::try_from(der)?;
    let cert = params.self_signed(&key)?;
    Ok(cert.pem())
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

/// The CA of a cluster as EKS emits it: the PEM text, base64-encoded.
pub(crate) fn generate_b64(seed: u64, parts: &[&str]) -> Result<String, CaError> {
    Ok(STANDARD.encode(generate_pem(seed, parts)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let b64 = generate_b64(1, &["a", "c1"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            generate_b64(1, &["a", "c1"]).unwrap_or_else(|e| panic!("{e}")),
            b64,
            "same cluster, same certificate"
        );
        assert_ne!(
            generate_b64(1, &["a", "c2"]).unwrap_or_else(|e| panic!("{e}")),
            b64
        );
        let pem = STANDARD.decode(b64).unwrap_or_else(|e| panic!("{e}"));
        let pem = String::from_utf8(pem).unwrap_or_else(|e| panic!("{e}"));
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
    }
}
