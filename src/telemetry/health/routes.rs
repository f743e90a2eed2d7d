//! Routers of the probe and metrics listeners.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::authz::{Authorizer, require_authorization};
use super::readiness::Readiness;
use crate::telemetry::metrics::{CONTENT_TYPE, Metrics};

/// `/healthz` and `/readyz`.
pub fn probes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// `/metrics`, behind [`require_authorization`] when `authorizer` is set.
pub fn metrics(metrics: Metrics, authorizer: Option<Authorizer>) -> Router {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics);
    match authorizer {
        Some(authorizer) => router.layer(axum::middleware::from_fn_with_state(
            authorizer,
            require_authorization,
        )),
        None => router,
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let checks = readiness.checks();
    if checks.iter().all(|c| c.ok) {
        return (StatusCode::OK, "ok".to_owned());
    }
    let mut body = String::new();
    for check in checks {
        let (mark, word) = if check.ok {
            ('+', "ok")
        } else {
            ('-', "failed")
        };
        body.push_str(&format!("[{mark}]{} {word}\n", check.name));
    }
    body.push_str("readyz check failed: ");
    body.push_str(&readiness.missing().join(", "));
    body.push('\n');
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode())
}
