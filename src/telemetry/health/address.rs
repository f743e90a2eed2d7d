//! Parsing of controller-runtime style bind addresses (`:8081`, `0.0.0.0:8443`, `[::]:8443`).

use std::net::{Ipv4Addr, SocketAddr};

/// A bind address that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bind address {0:?}: expected HOST:PORT or :PORT")]
pub struct BindAddressError(pub String);

/// Parses `:PORT` (all IPv4 interfaces), `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`.
/// Usable as a clap `value_parser`.
pub fn parse_bind_address(value: &str) -> Result<SocketAddr, BindAddressError> {
    let err = || BindAddressError(value.to_owned());
    let value = value.trim();
    if let Some(port) = value.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|_| err())?;
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    }
    if let Some(port) = value.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| err())?;
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    value.parse().map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_addresses() {
        assert_eq!(
            parse_bind_address(":8081").unwrap(),
            "0.0.0.0:8081".parse().unwrap()
        );
        assert_eq!(
            parse_bind_address("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_bind_address("[::]:8443").unwrap(),
            "[::]:8443".parse().unwrap()
        );
        assert_eq!(
            parse_bind_address("localhost:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert!(parse_bind_address("8081").is_err());
        assert!(parse_bind_address(":http").is_err());
    }
}
