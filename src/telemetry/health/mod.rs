//! Health probes (`/healthz`, `/readyz`) and the metrics endpoint (`/metrics`).
//!
//! Probes listen on plain HTTP. Metrics listen on TLS and require a bearer token that the API
//! server authenticates (TokenReview) and authorizes for `get` on the non-resource URL
//! (SubjectAccessReview) when `secure`; on plain HTTP without checks otherwise (the demo).

mod address;
mod authz;
mod readiness;
mod routes;
mod tls;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use tokio::net::TcpListener;

pub use address::{BindAddressError, parse_bind_address};
pub use authz::{Authorizer, DECISION_TTL, Decision};
pub use readiness::{Check, Readiness};
pub use tls::{CERT_FILE, KEY_FILE, TlsError, TlsListener, server_config};

use crate::telemetry::metrics::Metrics;

/// Where and how to serve probes and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// `--health-probe-bind-address`, default `:8081`.
    pub probe_addr: SocketAddr,
    /// `--metrics-bind-address`, default `:8443`.
    pub metrics_addr: SocketAddr,
    /// `--metrics-secure`: TLS plus TokenReview/SubjectAccessReview on `/metrics`.
    pub secure: bool,
    /// `--metrics-cert-dir`: holds `tls.crt` and `tls.key`; `None` generates a self-signed pair.
    pub cert_dir: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            probe_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8081)),
            metrics_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8443)),
            secure: true,
            cert_dir: None,
        }
    }
}

/// Errors of the health/metrics server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Secure metrics need a Kubernetes client for TokenReview/SubjectAccessReview.
    #[error("secure metrics need a Kubernetes client")]
    SecureNeedsClient,
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A server stopped with an I/O error.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    /// A server task panicked or was cancelled.
    #[error("server task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

enum MetricsListener {
    Plain(TcpListener),
    Tls(TlsListener),
}

/// Listeners bound and ready to serve; see [`BoundServer::run`].
pub struct BoundServer {
    probe: TcpListener,
    metrics: MetricsListener,
    probe_addr: SocketAddr,
    metrics_addr: SocketAddr,
    probe_router: axum::Router,
    metrics_router: axum::Router,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("probe_addr", &self.probe_addr)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Binds both listeners (port 0 picks a free port) without serving yet.
pub async fn bind(
    opts: &ServeOptions,
    metrics: Metrics,
    readiness: Readiness,
    kube_client: Option<kube::Client>,
) -> Result<BoundServer, ServeError> {
    let authorizer = if opts.secure {
        let client = kube_client.ok_or(ServeError::SecureNeedsClient)?;
        Some(Authorizer::new(client))
    } else {
        None
    };
    let tls_config = if opts.secure {
        Some(server_config(opts.cert_dir.as_deref())?)
    } else {
        None
    };
    let probe = bind_tcp(opts.probe_addr).await?;
    let metrics_tcp = bind_tcp(opts.metrics_addr).await?;
    let probe_addr = probe.local_addr()?;
    let metrics_addr = metrics_tcp.local_addr()?;
    let metrics_listener = match tls_config {
        Some(config) => MetricsListener::Tls(TlsListener::new(metrics_tcp, config)?),
        None => MetricsListener::Plain(metrics_tcp),
    };
    Ok(BoundServer {
        probe,
        metrics: metrics_listener,
        probe_addr,
        metrics_addr,
        probe_router: routes::probes(readiness),
        metrics_router: routes::metrics(metrics, authorizer),
    })
}

impl BoundServer {
    /// The bound probe address.
    pub fn probe_addr(&self) -> SocketAddr {
        self.probe_addr
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Serves until `shutdown` completes, then drains open connections gracefully.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        tracing::info!(probe = %self.probe_addr, metrics = %self.metrics_addr,
            secure = matches!(self.metrics, MetricsListener::Tls(_)), "serving probes and metrics");
        let probes = tokio::spawn(
            axum::serve(self.probe, self.probe_router)
                .with_graceful_shutdown(stopped())
                .into_future(),
        );
        let metrics = match self.metrics {
            MetricsListener::Plain(listener) => tokio::spawn(
                axum::serve(listener, self.metrics_router)
                    .with_graceful_shutdown(stopped())
                    .into_future(),
            ),
            MetricsListener::Tls(listener) => tokio::spawn(
                axum::serve(listener, self.metrics_router)
                    .with_graceful_shutdown(stopped())
                    .into_future(),
            ),
        };
        let (mut probes, mut metrics) = (probes, metrics);
        let early = tokio::select! {
            () = shutdown => None,
            done = &mut probes => Some(("probes", done)),
            done = &mut metrics => Some(("metrics", done)),
        };
        let _ = stop_tx.send(true);
        match early {
            None => {
                let (probes, metrics) = tokio::join!(probes, metrics);
                probes??;
                metrics??;
            }
            Some((which, done)) => {
                let other = if which == "probes" { metrics } else { probes };
                let _ = other.await;
                done??;
            }
        }
        Ok(())
    }
}

/// Binds and serves probes and metrics until `shutdown` completes.
pub async fn serve(
    opts: ServeOptions,
    metrics: Metrics,
    readiness: Readiness,
    kube_client: Option<kube::Client>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    bind(&opts, metrics, readiness, kube_client)
        .await?
        .run(shutdown)
        .await
}
