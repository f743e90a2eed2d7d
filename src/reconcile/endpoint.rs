//! Control plane endpoint discovery.
//!
//! The EKS Workspace reports the API server as the Terraform output `cluster_endpoint`, a URL such as
//! `https://ABCD.gr7.ap-northeast-1.eks.amazonaws.com`. CAPI's `APIEndpoint` wants the host **without** scheme and a
//! separate port, so the URL is parsed here (upstream wrote the raw URL into `host`).
//!
//! Sources, in order: the Workspace output `cluster_endpoint`, then the `cluster_endpoint` key of the connection
//! secret. Secret values are sometimes base64-encoded one more time than the API's own encoding; such values are
//! decoded only when the decoded text is itself a valid endpoint, so an already-decoded value is never mangled.

use std::net::Ipv6Addr;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::api::common::ApiEndpoint;

/// Port used when the endpoint does not name one (EKS serves the API on 443).
pub const DEFAULT_PORT: i32 = 443;

/// Longest accepted host name (DNS limit).
const MAX_HOST_LEN: usize = 253;

/// Where an endpoint was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointSource {
    /// `status.atProvider.outputs.cluster_endpoint` of the Workspace.
    WorkspaceOutput,
    /// Key `cluster_endpoint` of the connection secret.
    ConnectionSecret,
}

impl EndpointSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointSource::WorkspaceOutput => "WorkspaceOutput",
            EndpointSource::ConnectionSecret => "ConnectionSecret",
        }
    }
}

impl std::fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an endpoint could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint is empty")]
    Empty,
    #[error("endpoint contains whitespace")]
    ContainsWhitespace,
    #[error("endpoint is not valid UTF-8 text")]
    NotUtf8,
    #[error("endpoint scheme {scheme:?} is not supported (use https)")]
    UnsupportedScheme { scheme: String },
    #[error("endpoint host is invalid: {reason}")]
    InvalidHost { reason: &'static str },
    #[error("endpoint port {port:?} is invalid (expected 1-65535)")]
    InvalidPort { port: String },
}

/// Scheme of a parsed endpoint URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// An endpoint together with the scheme it was written with (`None` for `HOST[:PORT]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedEndpoint {
    pub scheme: Option<Scheme>,
    pub endpoint: ApiEndpoint,
}

/// Parse `https://HOST[:PORT][/path]`, `http://HOST[:PORT][/path]`, `HOST:PORT` or `HOST` into a host without
/// scheme and a port (443 when absent). IPv6 literals are written in brackets (`[::1]:6443`); the returned host
/// carries no brackets. Surrounding whitespace (e.g. a trailing newline) is ignored.
pub fn parse_endpoint(raw: &str) -> Result<ApiEndpoint, EndpointError> {
    parse_endpoint_url(raw).map(|p| p.endpoint)
}

/// Like [`parse_endpoint`], also returning the scheme.
pub fn parse_endpoint_url(raw: &str) -> Result<ParsedEndpoint, EndpointError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(EndpointError::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(EndpointError::ContainsWhitespace);
    }
    let (scheme, rest) = match s.find("://") {
        Some(i) => {
            let name = &s[..i];
            let scheme = if name.eq_ignore_ascii_case("https") {
                Scheme::Https
            } else if name.eq_ignore_ascii_case("http") {
                Scheme::Http
            } else {
                return Err(EndpointError::UnsupportedScheme {
                    scheme: truncate(name, 32),
                });
            };
            (Some(scheme), &s[i + 3..])
        }
        None => (None, s),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return Err(EndpointError::InvalidHost {
            reason: "user information is not allowed",
        });
    }
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => parse_port(p)?,
    };
    Ok(ParsedEndpoint {
        scheme,
        endpoint: ApiEndpoint {
            host: host.to_string(),
            port,
        },
    })
}

/// `https://HOST:PORT` for an endpoint, with IPv6 hosts in brackets.
pub fn endpoint_url(endpoint: &ApiEndpoint) -> String {
    if endpoint.host.contains(':') {
        format!("https://[{}]:{}", endpoint.host, endpoint.port)
    } else {
        format!("https://{}:{}", endpoint.host, endpoint.port)
    }
}

/// Whether two endpoints name the same server (host compared case-insensitively).
pub fn same_endpoint(a: &ApiEndpoint, b: &ApiEndpoint) -> bool {
    a.port == b.port && a.host.eq_ignore_ascii_case(&b.host)
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), EndpointError> {
    if authority.is_empty() {
        return Err(EndpointError::InvalidHost {
            reason: "host is empty",
        });
    }
    if let Some(inner) = authority.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(EndpointError::InvalidHost {
                reason: "unterminated IPv6 literal",
            });
        };
        let host = &inner[..close];
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(EndpointError::InvalidHost {
                reason: "invalid IPv6 literal",
            });
        }
        let after = &inner[close + 1..];
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(EndpointError::InvalidHost {
                    reason: "unexpected characters after IPv6 literal",
                }),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => {
            if p.contains(':') {
                return Err(EndpointError::InvalidHost {
                    reason: "IPv6 literals must be enclosed in brackets",
                });
            }
            (h, Some(p))
        }
        None => (authority, None),
    };
    validate_host(host)?;
    Ok((host, port))
}

fn validate_host(host: &str) -> Result<(), EndpointError> {
    if host.is_empty() {
        return Err(EndpointError::InvalidHost {
            reason: "host is empty",
        });
    }
    if host.len() > MAX_HOST_LEN {
        return Err(EndpointError::InvalidHost {
            reason: "host is longer than 253 characters",
        });
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(EndpointError::InvalidHost {
            reason: "host contains characters other than letters, digits, '.', '-' and '_'",
        });
    }
    if host.starts_with('.') || host.starts_with('-') || host.contains("..") {
        return Err(EndpointError::InvalidHost {
            reason: "host is not a valid DNS name or address",
        });
    }
    Ok(())
}

fn parse_port(p: &str) -> Result<i32, EndpointError> {
    let invalid = || EndpointError::InvalidPort {
        port: truncate(p, 16),
    };
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match p.parse::<i32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n),
        _ => Err(invalid()),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Standard alphabet, padding optional, so `abc=` and `abc` both decode.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decode `bytes` as standard base64 (ASCII whitespace such as line breaks ignored). `None` when the bytes are not
/// base64 or decode to nothing.
pub fn decode_base64(bytes: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return None;
    }
    match LENIENT_STANDARD.decode(&compact) {
        Ok(decoded) if !decoded.is_empty() => Some(decoded),
        _ => None,
    }
}

/// If `bytes` are valid base64 and decode to UTF-8 text accepted by `accept`, return the decoded bytes; otherwise
/// return `bytes` unchanged.
pub fn decode_if(bytes: &[u8], accept: impl Fn(&str) -> bool) -> Vec<u8> {
    match decode_base64(bytes) {
        Some(decoded) => match std::str::from_utf8(&decoded) {
            Ok(text) if accept(text) => decoded,
            _ => bytes.to_vec(),
        },
        None => bytes.to_vec(),
    }
}

/// [`decode_if`] accepting any decoded value that is printable text (no control characters other than tab, CR and
/// LF). Prefer [`decode_if`] with a predicate describing the expected content.
pub fn decode_maybe_base64(bytes: &[u8]) -> Vec<u8> {
    decode_if(bytes, is_printable_text)
}

fn is_printable_text(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t')
}

/// Decode the connection secret's `cluster_endpoint` value: base64 only when the decoded text is an endpoint.
pub fn decode_secret_endpoint(bytes: &[u8]) -> Result<String, EndpointError> {
    let value = decode_if(bytes, |text| parse_endpoint(text).is_ok());
    String::from_utf8(value).map_err(|_| EndpointError::NotUtf8)
}

/// Find the API endpoint: the Workspace output first, the connection secret's `cluster_endpoint` second.
///
/// An absent or blank source is skipped; a present source that does not parse is an error (the next source is not
/// consulted, so a broken primary source is reported instead of silently masked).
pub fn discover(
    outputs_endpoint: Option<&str>,
    secret_endpoint: Option<&[u8]>,
) -> Result<Option<(ApiEndpoint, EndpointSource)>, EndpointError> {
    if let Some(raw) = outputs_endpoint.filter(|s| !s.trim().is_empty()) {
        return parse_endpoint(raw).map(|e| Some((e, EndpointSource::WorkspaceOutput)));
    }
    if let Some(bytes) = secret_endpoint.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) {
        let text = decode_secret_endpoint(bytes)?;
        return parse_endpoint(&text).map(|e| Some((e, EndpointSource::ConnectionSecret)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn ep(host: &str, port: i32) -> ApiEndpoint {
        ApiEndpoint {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn parse_accepts_supported_forms() {
        let eks = "ABCD1234.gr7.ap-northeast-1.eks.amazonaws.com";
        let cases: &[(&str, ApiEndpoint)] = &[
            (
                "https://ABCD1234.gr7.ap-northeast-1.eks.amazonaws.com",
                ep(eks, 443),
            ),
            (
                "https://ABCD1234.gr7.ap-northeast-1.eks.amazonaws.com/",
                ep(eks, 443),
            ),
            (
                "HTTPS://ABCD1234.gr7.ap-northeast-1.eks.amazonaws.com:8443/some/path?x=1",
                ep(eks, 8443),
            ),
            ("http://example.com:6443", ep("example.com", 6443)),
            ("example.com:6443", ep("example.com", 6443)),
            ("example.com", ep("example.com", 443)),
            ("10.0.0.1:6443", ep("10.0.0.1", 6443)),
            ("[::1]:6443", ep("::1", 6443)),
            ("https://[fd00::1]", ep("fd00::1", 443)),
            ("https://[fd00::1]:65535/x", ep("fd00::1", 65535)),
            ("  https://example.com\n", ep("example.com", 443)),
            ("localhost:1", ep("localhost", 1)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_endpoint(raw).as_ref(), Ok(want), "input {raw:?}");
        }
    }

    #[test]
    fn parse_reports_scheme() {
        let p = parse_endpoint_url("http://h:80").expect("parses");
        assert_eq!(p.scheme, Some(Scheme::Http));
        let p = parse_endpoint_url("h").expect("parses");
        assert_eq!(p.scheme, None);
        let p = parse_endpoint_url("https://h").expect("parses");
        assert_eq!(p.scheme, Some(Scheme::Https));
    }

    #[test]
    fn parse_rejects_bad_input() {
        let cases: &[(&str, EndpointError)] = &[
            ("", EndpointError::Empty),
            ("   \n", EndpointError::Empty),
            ("https://exa mple.com", EndpointError::ContainsWhitespace),
            (
                "ftp://example.com",
                EndpointError::UnsupportedScheme {
                    scheme: "ftp".into(),
                },
            ),
            (
                "://example.com",
                EndpointError::UnsupportedScheme {
                    scheme: String::new(),
                },
            ),
            (
                "example.com:0",
                EndpointError::InvalidPort { port: "0".into() },
            ),
            (
                "example.com:65536",
                EndpointError::InvalidPort {
                    port: "65536".into(),
                },
            ),
            (
                "example.com:-1",
                EndpointError::InvalidPort { port: "-1".into() },
            ),
            (
                "example.com:",
                EndpointError::InvalidPort {
                    port: String::new(),
                },
            ),
            (
                "example.com:https",
                EndpointError::InvalidPort {
                    port: "https".into(),
                },
            ),
            (
                "example.com:99999999999999999999",
                EndpointError::InvalidPort {
                    port: "9999999999999999".into(),
                },
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_endpoint(raw).as_ref(), Err(want), "input {raw:?}");
        }
        for raw in [
            "https://",
            "https:///path",
            ":443",
            "::1",
            "::1:6443",
            "[::1",
            "[zz::1]:443",
            "[::1]x",
            "https://user:pw@example.com",
            "exa$mple.com",
            ".example.com",
            "-example.com",
            "a..b",
        ] {
            assert!(
                matches!(parse_endpoint(raw), Err(EndpointError::InvalidHost { .. })),
                "input {raw:?} gave {:?}",
                parse_endpoint(raw)
            );
        }
        let long = "a".repeat(254);
        assert!(matches!(
            parse_endpoint(&long),
            Err(EndpointError::InvalidHost { .. })
        ));
    }

    #[test]
    fn endpoint_url_brackets_ipv6() {
        assert_eq!(endpoint_url(&ep("h.example", 443)), "https://h.example:443");
        assert_eq!(endpoint_url(&ep("::1", 6443)), "https://[::1]:6443");
        assert!(same_endpoint(
            &ep("ABC.example", 443),
            &ep("abc.example", 443)
        ));
        assert!(!same_endpoint(
            &ep("abc.example", 443),
            &ep("abc.example", 6443)
        ));
    }

    #[test]
    fn decode_if_uses_decoded_form_only_when_accepted() {
        let url = "https://abc.example.com";
        let once = STANDARD.encode(url);
        assert_eq!(
            decode_if(once.as_bytes(), |t| t.starts_with("https://")),
            url.as_bytes()
        );
        assert_eq!(decode_if(once.as_bytes(), |_| false), once.as_bytes());
        assert_eq!(decode_if(url.as_bytes(), |_| true), url.as_bytes());
        let with_newlines = format!("{}\n{}\n", &once[..8], &once[8..]);
        assert_eq!(
            decode_if(with_newlines.as_bytes(), |_| true),
            url.as_bytes()
        );
        let unpadded = STANDARD.encode("ab");
        let unpadded = unpadded.trim_end_matches('=');
        assert_eq!(decode_if(unpadded.as_bytes(), |_| true), b"ab");
        let not_utf8 = STANDARD.encode([0xff, 0xfe, 0x00]);
        assert_eq!(
            decode_if(not_utf8.as_bytes(), |_| true),
            not_utf8.as_bytes()
        );
        assert_eq!(decode_if(b"", |_| true), b"");
    }

    #[test]
    fn decode_maybe_base64_requires_printable_text() {
        let text = "hello world\n";
        let enc = STANDARD.encode(text);
        assert_eq!(decode_maybe_base64(enc.as_bytes()), text.as_bytes());
        let binary = STANDARD.encode([0x30, 0x82, 0x01]);
        assert_eq!(decode_maybe_base64(binary.as_bytes()), binary.as_bytes());
        assert_eq!(decode_maybe_base64(b"not base64!"), b"not base64!");
    }

    /// (Workspace output, secret value, expected endpoint)
    type DiscoverCase<'a> = (
        Option<&'a str>,
        Option<&'a [u8]>,
        Option<(ApiEndpoint, EndpointSource)>,
    );

    #[test]
    fn discover_prefers_outputs_then_secret() {
        let url = "https://abc.eks.amazonaws.com";
        let enc = STANDARD.encode(url);
        let cases: &[DiscoverCase<'_>] = &[
            (None, None, None),
            (Some(""), None, None),
            (Some("  "), Some(b""), None),
            (
                Some(url),
                Some(b"https://other.example.com"),
                Some((
                    ep("abc.eks.amazonaws.com", 443),
                    EndpointSource::WorkspaceOutput,
                )),
            ),
            (
                None,
                Some(url.as_bytes()),
                Some((
                    ep("abc.eks.amazonaws.com", 443),
                    EndpointSource::ConnectionSecret,
                )),
            ),
            (
                Some(""),
                Some(enc.as_bytes()),
                Some((
                    ep("abc.eks.amazonaws.com", 443),
                    EndpointSource::ConnectionSecret,
                )),
            ),
        ];
        for (outputs, secret, want) in cases {
            assert_eq!(
                discover(*outputs, *secret).as_ref(),
                Ok(want),
                "outputs {outputs:?} secret {secret:?}"
            );
        }
    }

    #[test]
    fn discover_reports_broken_sources() {
        assert_eq!(
            discover(Some("ftp://x"), Some(b"https://ok.example")),
            Err(EndpointError::UnsupportedScheme {
                scheme: "ftp".into()
            })
        );
        assert_eq!(
            discover(None, Some(&[0xff, 0xfe])),
            Err(EndpointError::NotUtf8)
        );
        assert!(matches!(
            discover(None, Some(b"bad host!")),
            Err(EndpointError::ContainsWhitespace)
        ));
    }

    #[test]
    fn bare_base64_looking_host_is_not_decoded_into_garbage() {
        let raw = b"abcd";
        assert_eq!(
            discover(None, Some(raw)),
            Ok(Some((ep("abcd", 443), EndpointSource::ConnectionSecret)))
        );
    }
}
