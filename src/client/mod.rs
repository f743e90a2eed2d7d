//! The only code that talks to the API server: a client with a global rate limit, metrics and a
//! span per call, the status writer and the Event recorder.

pub mod diff;
pub mod event_correlator;
pub mod events;
pub mod layer;
pub mod limiter;
pub mod status;

use std::sync::Arc;

use kube::client::ClientBuilder;

pub use layer::ApiObserver;

/// Client-wide limits (flags `--kube-api-qps`, `--kube-api-burst`; 0 disables the limit).
#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    pub qps: u32,
    pub burst: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            qps: 200,
            burst: 400,
        }
    }
}

pub use limiter::Limiter;

/// A `kube::Client` whose every call goes through the QPS/burst limit and the API observer.
pub fn build(
    config: kube::Config,
    limits: ClientLimits,
    observer: Arc<dyn ApiObserver>,
) -> Result<kube::Client, kube::Error> {
    let limiter = Limiter::new(limits.qps, limits.burst).map(Arc::new);
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&layer::ApiLayer::new(limiter, observer))
        .build())
}
