//! A tower layer under every API call: the global QPS/burst limit (governor), a span per request
//! and the `capt_api_requests_total{verb,resource,code}` count.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use governor::DefaultDirectRateLimiter;
use http::{Method, Request, Response};
use tower::{Layer, Service};
use tracing::Instrument;

/// Receives one record per API call.
pub trait ApiObserver: Send + Sync + 'static {
    fn request(&self, verb: &'static str, resource: &str, code: u16);
    fn rate_limited(&self);
}

#[derive(Clone)]
pub struct ApiLayer {
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    observer: Arc<dyn ApiObserver>,
}

impl ApiLayer {
    pub fn new(
        limiter: Option<Arc<DefaultDirectRateLimiter>>,
        observer: Arc<dyn ApiObserver>,
    ) -> Self {
        Self { limiter, observer }
    }
}

impl<S> Layer<S> for ApiLayer {
    type Service = ApiService<S>;
    fn layer(&self, inner: S) -> ApiService<S> {
        ApiService {
            inner,
            layer: self.clone(),
        }
    }
}

pub struct ApiService<S> {
    inner: S,
    layer: ApiLayer,
}

/// The Kubernetes verb of a request, from its method, path and query.
pub fn verb_of(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    match *method {
        Method::GET if watch => "watch",
        Method::GET if is_collection(path) => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}

/// Splits an API path into (resource, subresource, has name).
fn parts(path: &str) -> (Option<&str>, Option<&str>, bool) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/group/version/...
    let rest = match segs.first() {
        Some(&"api") => segs.get(2..),
        Some(&"apis") => segs.get(3..),
        _ => None,
    };
    let Some(mut rest) = rest else {
        return (None, None, false);
    };
    if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        rest = &rest[2..];
    }
    (rest.first().copied(), rest.get(2).copied(), rest.len() >= 2)
}

fn is_collection(path: &str) -> bool {
    !parts(path).2
}

/// `secrets`, `captclusters/status`, … (empty for discovery paths).
pub fn resource_of(path: &str) -> String {
    match parts(path) {
        (Some(r), Some(sub), _) => format!("{r}/{sub}"),
        (Some(r), None, _) => r.to_string(),
        _ => String::new(),
    }
}

type BoxFut<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for ApiService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = BoxFut<Response<ResB>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let verb = verb_of(req.method(), req.uri().path(), req.uri().query());
        let resource = resource_of(req.uri().path());
        let span = tracing::debug_span!(
            "api",
            otel.name = %format!("{verb} {resource}"),
            http.request.method = %req.method(),
            k8s.verb = verb,
            k8s.resource = %resource,
            http.response.status_code = tracing::field::Empty,
        );
        // The inner future does nothing until polled, so the limiter below still gates the call.
        let fut = self.inner.call(req);
        let limiter = self.layer.limiter.clone();
        let observer = self.layer.observer.clone();
        Box::pin(
            async move {
                if let Some(l) = limiter.filter(|_| verb != "watch")
                    && l.check().is_err()
                {
                    observer.rate_limited();
                    l.until_ready().await;
                }
                let res = fut.await;
                let code = res.as_ref().map_or(0, |r| r.status().as_u16());
                tracing::Span::current().record("http.response.status_code", code);
                observer.request(verb, &resource, code);
                res
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_resources_from_requests() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/ns/secrets/a",
                None,
                "get",
                "secrets",
            ),
            (
                Method::GET,
                "/api/v1/secrets",
                Some("labelSelector=x"),
                "list",
                "secrets",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/secrets",
                Some("watch=true&resourceVersion=1"),
                "watch",
                "secrets",
            ),
            (
                Method::PATCH,
                "/apis/controlplane.cluster.x-k8s.io/v1beta1/namespaces/ns/captcontrolplanes/x/status",
                None,
                "patch",
                "captcontrolplanes/status",
            ),
            (
                Method::POST,
                "/apis/tf.upbound.io/v1beta1/workspaces",
                None,
                "create",
                "workspaces",
            ),
            (
                Method::PUT,
                "/apis/tf.upbound.io/v1beta1/workspaces/w",
                None,
                "update",
                "workspaces",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns/events/e",
                None,
                "delete",
                "events",
            ),
            (
                Method::GET,
                "/apis/coordination.k8s.io/v1/namespaces/capt-system/leases/l",
                None,
                "get",
                "leases",
            ),
            (Method::GET, "/version", None, "list", ""),
        ];
        for (m, path, q, verb, res) in cases {
            assert_eq!(verb_of(&m, path, q), verb, "{path}");
            assert_eq!(resource_of(path), res, "{path}");
        }
    }
}
