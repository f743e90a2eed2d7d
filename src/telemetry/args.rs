//! Command-line flags for telemetry and the probe/metrics server, to `#[command(flatten)]` into the CLI.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::health::{ServeOptions, parse_bind_address};
use super::options::{LogFormat, TelemetryOptions};

/// Console logging flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Console log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "CAPT_LOG_FORMAT")]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Options for [`crate::telemetry::init`]; filters come from `RUST_LOG` / `OTEL_LOG_LEVEL`.
    pub fn telemetry_options(&self) -> TelemetryOptions {
        TelemetryOptions {
            log_format: self.log_format,
            ..TelemetryOptions::default()
        }
    }
}

/// Probe and metrics server flags (controller-runtime names).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of `/healthz` and `/readyz` (plain HTTP).
    #[arg(long, default_value = ":8081", value_parser = parse_bind_address)]
    pub health_probe_bind_address: SocketAddr,
    /// Address of `/metrics`.
    #[arg(long, default_value = ":8443", value_parser = parse_bind_address)]
    pub metrics_bind_address: SocketAddr,
    /// Serve metrics over HTTPS with TokenReview/SubjectAccessReview checks; `false` serves plain HTTP.
    #[arg(
        long,
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub metrics_secure: bool,
    /// Directory holding `tls.crt` and `tls.key` for the metrics server; self-signed when unset.
    #[arg(long)]
    pub metrics_cert_dir: Option<PathBuf>,
}

impl ServeArgs {
    /// The server options these flags describe.
    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            probe_addr: self.health_probe_bind_address,
            metrics_addr: self.metrics_bind_address,
            secure: self.metrics_secure,
            cert_dir: self.metrics_cert_dir.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn defaults_match_controller_runtime() {
        let cli = Cli::try_parse_from(["capt"]).unwrap();
        assert_eq!(cli.serve.serve_options(), ServeOptions::default());
        assert_eq!(cli.log.log_format, LogFormat::Text);
    }

    #[test]
    fn demo_flags() {
        let cli = Cli::try_parse_from([
            "capt",
            "--metrics-secure=false",
            "--metrics-bind-address=127.0.0.1:8080",
            "--health-probe-bind-address",
            ":9440",
            "--log-format",
            "json",
        ])
        .unwrap();
        let opts = cli.serve.serve_options();
        assert!(!opts.secure);
        assert_eq!(opts.metrics_addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(opts.probe_addr, "0.0.0.0:9440".parse().unwrap());
        assert_eq!(cli.log.log_format, LogFormat::Json);
        let bare = Cli::try_parse_from(["capt", "--metrics-secure"]).unwrap();
        assert!(bare.serve.metrics_secure);
    }
}
