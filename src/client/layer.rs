//! A tower layer under every API call: the global QPS/burst limit (governor), a span per request
//! and the `capt_api_requests_total{verb,resource,code}` count.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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
    limiter: Option<Arc<super::Limiter>>,
    observer: Arc<dyn ApiObserver>,
}

impl ApiLayer {
    pub fn new(limiter: Option<Arc<super::Limiter>>, observer: Arc<dyn ApiObserver>) -> Self {
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

/// The object a request addresses: namespace and name when the path has them, and the path with
/// both replaced by `{namespace}` / `{name}` (the `url.template` of a client span).
#[derive(Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub template: String,
}

pub fn target_of(path: &str) -> Target<'_> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let base = match segs.first() {
        Some(&"api") => 2,
        Some(&"apis") => 3,
        _ => segs.len(),
    };
    let mut out: Vec<&str> = segs.iter().take(base).copied().collect();
    let (mut namespace, mut name) = (None, None);
    let mut rest = segs.get(base..).unwrap_or_default();
    if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        namespace = Some(rest[1]);
        out.extend(["namespaces", "{namespace}"]);
        rest = &rest[2..];
    }
    for (i, seg) in rest.iter().enumerate() {
        if i == 1 {
            name = Some(*seg);
            out.push("{name}");
        } else {
            out.push(seg);
        }
    }
    Target {
        namespace,
        name,
        template: format!("/{}", out.join("/")),
    }
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
        let target = target_of(req.uri().path());
        let span = tracing::debug_span!(
            "api",
            otel.name = %format!("{verb} {resource}"),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = %req.method(),
            server.address = req.uri().host().unwrap_or_default(),
            url.template = %target.template,
            k8s.verb = verb,
            k8s.resource = %resource,
            k8s.namespace.name = tracing::field::Empty,
            capt.object.name = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        if let Some(ns) = target.namespace {
            span.record("k8s.namespace.name", ns);
        }
        if let Some(name) = target.name {
            span.record("capt.object.name", name);
        }
        // The inner future does nothing until polled, so the limiter below still gates the call.
        let fut = self.inner.call(req);
        let limiter = self.layer.limiter.clone();
        let observer = self.layer.observer.clone();
        Box::pin(
            async move {
                // Events have a budget of their own (`events::EventLimits`).
                if let Some(l) = limiter.filter(|_| verb != "watch" && resource != "events")
                    && l.acquire().await
                {
                    observer.rate_limited();
                }
                let res = fut.await;
                let code = res.as_ref().map_or(0, |r| r.status().as_u16());
                let span = tracing::Span::current();
                if code != 0 {
                    span.record("http.response.status_code", i64::from(code));
                }
                // As the HTTP client conventions say: a 4xx/5xx or a failed call is an error
                // (the watch/get 404s a reconcile expects are errors of the call, not of it).
                if code == 0 || code >= 400 {
                    span.record("otel.status_code", "ERROR");
                    let kind = if code == 0 {
                        "transport".to_string()
                    } else {
                        code.to_string()
                    };
                    span.record("error.type", kind.as_str());
                }
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

    #[test]
    fn targets_name_the_object_and_template_the_path() {
        let cases = [
            (
                "/api/v1/namespaces/ns/secrets/a",
                Some("ns"),
                Some("a"),
                "/api/v1/namespaces/{namespace}/secrets/{name}",
            ),
            (
                "/apis/controlplane.cluster.x-k8s.io/v1beta1/namespaces/ns/captcontrolplanes/x/status",
                Some("ns"),
                Some("x"),
                "/apis/controlplane.cluster.x-k8s.io/v1beta1/namespaces/{namespace}/captcontrolplanes/{name}/status",
            ),
            (
                "/apis/tf.upbound.io/v1beta1/workspaces/w",
                None,
                Some("w"),
                "/apis/tf.upbound.io/v1beta1/workspaces/{name}",
            ),
            ("/api/v1/secrets", None, None, "/api/v1/secrets"),
            (
                "/api/v1/namespaces/ns",
                None,
                Some("ns"),
                "/api/v1/namespaces/{name}",
            ),
            ("/version", None, None, "/version"),
        ];
        for (path, ns, name, template) in cases {
            let t = target_of(path);
            assert_eq!(
                (t.namespace, t.name, t.template.as_str()),
                (ns, name, template),
                "{path}"
            );
        }
    }
}
