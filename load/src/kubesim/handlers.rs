//! HTTP front: parses Kubernetes API paths, applies faults, counts requests and dispatches to
//! the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::App;
use super::codec::{self, json_bytes, json_value, respond};
use super::discovery;
use super::gc::{DeleteOpts, Policy};
use super::negotiate::{self, Convert, Media, Output};
use super::ops::Sub;
use super::patch::PatchType;
use super::proto;
use super::resources::{ResKey, ResourceDef};
use super::selectors::Filter;
use super::status::{ApiError, ApiResult};
use super::store::at_version;
use super::table;
use super::watch::{self, WatchFaults, WatchParams};

const MAX_BODY: usize = 64 << 20;

struct Target {
    version: String,
    ns: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
    watch_path: bool,
}

fn parse_target(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let mut rest = rest;
    let mut watch_path = false;
    if rest.first() == Some(&"watch") {
        watch_path = true;
        rest = &rest[1..];
    }
    let t = |ns: Option<&str>, plural: &str, tail: &[&str]| Target {
        version: version.to_string(),
        ns: ns.map(String::from),
        plural: plural.to_string(),
        name: tail.first().map(|s| s.to_string()),
        sub: tail.get(1).map(|s| s.to_string()),
        watch_path,
    };
    match rest {
        ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
            Some(t(None, "namespaces", &[ns, sub]))
        }
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => Some(t(Some(ns), plural, tail)),
        [plural, tail @ ..] if tail.len() <= 2 => Some(t(None, plural, tail)),
        _ => None,
    }
}

fn q<'a>(query: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    query.get(k).map(|s| s.as_str())
}

fn q_true(query: &HashMap<String, String>, k: &str) -> bool {
    matches!(q(query, k), Some("true") | Some("1"))
}

/// Entry point for every request.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    if app.down.load(std::sync::atomic::Ordering::SeqCst) {
        return unavailable(&app);
    }
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let query: HashMap<String, String> = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return codec::error_response(
                Media::Json,
                &ApiError::new(413, "RequestEntityTooLarge", "request body too large"),
            );
        }
    };
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => {
            resource(&app, method, "", "v1", rest, &query, &headers, body).await
        }
        ["apis", g, v, rest @ ..] if !rest.is_empty() => {
            resource(&app, method, g, v, rest, &query, &headers, body).await
        }
        _ => non_resource(&app, &method, &segs),
    }
}

/// Answer during an outage: 503 and the connection closed behind it.
fn unavailable(app: &App) -> Response {
    app.refused
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    app.metrics.record("unavailable", "*", 503);
    let mut r = codec::error_response(Media::Json, &ApiError::injected(503));
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn non_resource(app: &App, method: &Method, segs: &[&str]) -> Response {
    let label = segs.first().copied().unwrap_or("root").to_string();
    let res = if method != Method::GET {
        Err(ApiError::method_not_allowed())
    } else {
        let g = app.store.lock();
        match segs {
            ["version"] => Ok(discovery::version()),
            ["healthz"] | ["livez"] | ["readyz"] => {
                drop(g);
                app.metrics.record("get", &label, 200);
                return (StatusCode::OK, "ok").into_response();
            }
            ["metrics"] => {
                drop(g);
                app.metrics.record("get", &label, 200);
                let mut r = app.metrics.snapshot().to_prometheus().into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                return r;
            }
            ["api"] => Ok(discovery::api_versions(&app.addr)),
            ["apis"] => Ok(discovery::group_list(&g)),
            ["api", "v1"] => {
                discovery::resource_list(&g, "", "v1").ok_or_else(ApiError::path_not_found)
            }
            ["apis", grp] => discovery::group(&g, grp).ok_or_else(ApiError::path_not_found),
            ["apis", grp, v] => {
                discovery::resource_list(&g, grp, v).ok_or_else(ApiError::path_not_found)
            }
            ["openapi", "v3"] => Ok(discovery::openapi_index(&g)),
            ["openapi", "v3", "api", v] => {
                discovery::openapi_group_version(&g, "", v).ok_or_else(ApiError::path_not_found)
            }
            ["openapi", "v3", "apis", grp, v] => {
                discovery::openapi_group_version(&g, grp, v).ok_or_else(ApiError::path_not_found)
            }
            [] => Ok(
                json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/metrics", "/openapi/v3", "/version"]}),
            ),
            _ => Err(ApiError::path_not_found()),
        }
    };
    match res {
        Ok(v) => {
            app.metrics.record("get", &label, 200);
            json_value(200, &v)
        }
        Err(e) => {
            app.metrics.record("get", &label, e.code);
            codec::error_response(Media::Json, &e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    app: &Arc<App>,
    method: Method,
    group: &str,
    version: &str,
    rest: &[&str],
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(t) = parse_target(group, version, rest) else {
        app.metrics.record("get", "unknown", 404);
        return codec::error_response(Media::Json, &ApiError::path_not_found());
    };
    let def = {
        let g = app.store.lock();
        g.def(&ResKey::new(group, &t.plural))
            .filter(|d| d.version(version).is_some())
    };
    let verb = match (&method, &t.name) {
        (&Method::GET, None) if t.watch_path || q_true(query, "watch") => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) if t.watch_path => "watch",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, None) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => "unknown",
    };
    let label = match &t.sub {
        Some(s) => format!("{}/{s}", t.plural),
        None => t.plural.clone(),
    };
    let Some(def) = def else {
        app.metrics.record(verb, &label, 404);
        return codec::error_response(Media::Json, &ApiError::path_not_found());
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let negotiated = if verb == "watch" {
        negotiate::watch_output(accept)
    } else {
        negotiate::output(accept, answers_protobuf(&def, &t))
    };
    let out = match negotiated {
        Ok(o) => o,
        Err(e) => {
            app.metrics.record(verb, &label, e.code);
            return codec::error_response(Media::Json, &e);
        }
    };
    let decision = app.faults.decide(verb, &label);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let mut wf = WatchFaults {
        expired: false,
        cut_after_events: decision.cut_after_events,
        cut_after: decision.cut_after,
    };
    if let Some(e) = decision.error {
        if verb == "watch" && e.code == 410 {
            wf.expired = true;
        } else {
            app.metrics.record(verb, &label, e.code);
            return codec::error_response(out.media, &e);
        }
    }
    let resp = dispatch(app, &def, &t, verb, query, headers, body, wf, out);
    let code = match &resp {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.code,
    };
    app.metrics.record(verb, &label, code);
    match resp {
        Ok(r) => r,
        Err(e) => codec::error_response(out.media, &e),
    }
}

/// Whether the endpoint's objects (a `Scale` on `/scale`) have a protobuf form.
fn answers_protobuf(def: &ResourceDef, t: &Target) -> bool {
    t.sub.as_deref() == Some("scale") || proto::has_kind(&def.api_version(&t.version), &def.kind)
}

fn sub_of(t: &Target) -> ApiResult<Sub> {
    match t.sub.as_deref() {
        None => Ok(Sub::Main),
        Some("status") => Ok(Sub::Status),
        Some("scale") => Ok(Sub::Scale),
        Some("finalize") if t.plural == "namespaces" => Ok(Sub::Main),
        Some(_) => Err(ApiError::path_not_found()),
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch(
    app: &Arc<App>,
    def: &Arc<ResourceDef>,
    t: &Target,
    verb: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
    wf: WatchFaults,
    out: Output,
) -> ApiResult<Response> {
    if def.namespaced != t.ns.is_some() && !(def.namespaced && matches!(verb, "list" | "watch")) {
        return Err(ApiError::path_not_found());
    }
    let sub = sub_of(t)?;
    if sub == Sub::Status && !def.has_status(&t.version) {
        return Err(ApiError::path_not_found());
    }
    if sub == Sub::Scale && def.version(&t.version).is_none_or(|v| v.scale.is_none()) {
        return Err(ApiError::path_not_found());
    }
    let ns = t.ns.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    let av = def.api_version(&t.version);
    let dry_run = q(query, "dryRun") == Some("All");
    // `/scale` writes answer the `autoscaling/v1 Scale`, every other call the object.
    let serve = |code: u16, obj: &Arc<Value>| match sub {
        Sub::Scale => respond(out.media, code, obj),
        _ => respond(out.media, code, &at_version(obj, &av)),
    };
    let body_protobuf = answers_protobuf(def, t);
    match verb {
        "get" => {
            let obj = {
                let g = app.store.lock();
                g.get(&super::store::ObjRef {
                    res: def.key.clone(),
                    ns: ns.clone(),
                    name: name.clone(),
                })
            }
            .ok_or_else(|| ApiError::not_found(&def.target(&name)))?;
            if sub == Sub::Scale {
                let g = app.store.lock();
                return Ok(respond(out.media, 200, &g.scale_of(def, &t.version, &obj)));
            }
            if out.convert == Some(Convert::Table) {
                let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion")});
                let include = q(query, "includeObject").unwrap_or("Metadata");
                return Ok(respond(
                    out.media,
                    200,
                    &table::render(def, &t.version, &[at_version(&obj, &av)], meta, include),
                ));
            }
            Ok(serve(200, &obj))
        }
        "list" => list(app, def, t, query, out),
        "watch" => {
            let filter = Filter::parse(q(query, "labelSelector"), q(query, "fieldSelector"))?;
            let mut filter = filter;
            if let Some(n) = &t.name {
                filter = Filter::parse(
                    q(query, "labelSelector"),
                    Some(&match q(query, "fieldSelector") {
                        Some(f) if !f.is_empty() => format!("{f},metadata.name={n}"),
                        _ => format!("metadata.name={n}"),
                    }),
                )?;
            }
            let timeout = q(query, "timeoutSeconds")
                .and_then(|s| s.parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1800));
            let p = WatchParams {
                ns: t.ns.clone(),
                resource_version: q(query, "resourceVersion").map(String::from),
                send_initial_events: q_true(query, "sendInitialEvents"),
                bookmarks: q_true(query, "allowWatchBookmarks"),
                timeout,
                filter,
                version: t.version.clone(),
            };
            let s = watch::start(&app.store, def, p, wf)?;
            let mut r = Response::new(Body::from_stream(s));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        "create" => {
            let v = codec::parse_body(headers, &body, body_protobuf)?;
            let mut g = app.store.lock();
            let obj = g.create(def, &t.version, &ns, v, dry_run)?;
            drop(g);
            Ok(serve(201, &obj))
        }
        "update" => {
            let v = codec::parse_body(headers, &body, body_protobuf)?;
            let mut g = app.store.lock();
            let obj = g.update(def, &t.version, &ns, &name, v, sub, dry_run)?;
            drop(g);
            Ok(serve(200, &obj))
        }
        "patch" => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ptype =
                PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media(ct))?;
            let mut g = app.store.lock();
            let existed = ptype == PatchType::Apply
                && g.get(&super::store::ObjRef {
                    res: def.key.clone(),
                    ns: ns.clone(),
                    name: name.clone(),
                })
                .is_none();
            let obj = g.patch(
                def,
                &t.version,
                &ns,
                &name,
                ptype,
                &body,
                sub,
                q(query, "fieldManager"),
                dry_run,
            )?;
            drop(g);
            Ok(serve(if existed { 201 } else { 200 }, &obj))
        }
        "delete" => {
            let opts = delete_opts(query, headers, &body, dry_run)?;
            let mut g = app.store.lock();
            let (obj, _gone) = g.delete(def, &ns, &name, &opts)?;
            drop(g);
            Ok(serve(200, &obj))
        }
        "deletecollection" => {
            let opts = delete_opts(query, headers, &body, dry_run)?;
            let filter = Filter::parse(q(query, "labelSelector"), q(query, "fieldSelector"))?;
            let mut g = app.store.lock();
            let names: Vec<(String, String)> = g
                .scan(&def.key, t.ns.as_deref(), None)
                .into_iter()
                .filter(|(_, o)| filter.matches(o))
                .map(|(k, _)| k.clone())
                .collect();
            let mut items = Vec::new();
            for (n_ns, n) in names {
                if let Ok((o, _)) = g.delete(def, &n_ns, &n, &opts) {
                    items.push(at_version(&o, &av));
                }
            }
            let rv = g.rv;
            drop(g);
            let items: Vec<Value> = items.iter().map(|o| (**o).clone()).collect();
            Ok(respond(
                out.media,
                200,
                &json!({"apiVersion": av, "kind": def.list_kind, "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn delete_opts(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
    dry_run: bool,
) -> ApiResult<DeleteOpts> {
    let mut o = DeleteOpts {
        dry_run,
        ..Default::default()
    };
    let b = codec::parse_delete_options(headers, body)?;
    if let Some(p) = b
        .get("propagationPolicy")
        .and_then(|v| v.as_str())
        .or(q(query, "propagationPolicy"))
    {
        o.policy = Some(Policy::parse(p)?);
    } else if let Some(orphan) = b.get("orphanDependents").and_then(|v| v.as_bool()) {
        o.policy = Some(if orphan {
            Policy::Orphan
        } else {
            Policy::Background
        });
    }
    o.uid = b
        .pointer("/preconditions/uid")
        .and_then(|v| v.as_str())
        .map(String::from);
    o.resource_version = b
        .pointer("/preconditions/resourceVersion")
        .and_then(|v| v.as_str())
        .map(String::from);
    if b.get("dryRun")
        .and_then(|v| v.as_array())
        .is_some_and(|a| a.iter().any(|x| x == "All"))
    {
        o.dry_run = true;
    }
    Ok(o)
}

fn encode_continue(rv: u64, key: &(String, String)) -> String {
    let v = json!({"rv": rv, "ns": key.0, "name": key.1});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, (String, String))> {
    let bad = || ApiError::bad_request(format!("invalid continue token {token:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(|x| x.as_u64()).ok_or_else(bad)?;
    let ns = v.get("ns").and_then(|x| x.as_str()).ok_or_else(bad)?;
    let name = v.get("name").and_then(|x| x.as_str()).ok_or_else(bad)?;
    Ok((rv, (ns.to_string(), name.to_string())))
}

fn list(
    app: &Arc<App>,
    def: &Arc<ResourceDef>,
    t: &Target,
    query: &HashMap<String, String>,
    out: Output,
) -> ApiResult<Response> {
    let filter = Filter::parse(q(query, "labelSelector"), q(query, "fieldSelector"))?;
    let limit = q(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let cont = match q(query, "continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let av = def.api_version(&t.version);
    let (items, rv, next) = {
        let g = app.store.lock();
        let list_rv = match &cont {
            Some((rv, _)) => {
                if *rv < g.compacted {
                    return Err(ApiError::new(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ));
                }
                *rv
            }
            None => g.rv,
        };
        let mut items = Vec::new();
        let mut next = None;
        let exact = filter.exact_name().map(String::from);
        let after = cont.as_ref().map(|(_, k)| k);
        for (k, o) in g.scan(&def.key, t.ns.as_deref(), after) {
            if exact.as_deref().is_some_and(|n| n != k.1) {
                continue;
            }
            if !filter.matches(o) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                next = items
                    .last()
                    .map(|(k, _): &((String, String), Arc<Value>)| encode_continue(list_rv, k));
                break;
            }
            items.push((k.clone(), o.clone()));
        }
        (items, list_rv, next)
    };
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(n) = &next {
        meta["continue"] = json!(n);
    }
    if out.convert == Some(Convert::Table) {
        let objs: Vec<Arc<Value>> = items.iter().map(|(_, o)| at_version(o, &av)).collect();
        let include = q(query, "includeObject").unwrap_or("Metadata");
        return Ok(respond(
            out.media,
            200,
            &table::render(def, &t.version, &objs, meta, include),
        ));
    }
    if out.media != Media::Json {
        let items: Vec<Value> = items
            .iter()
            .map(|(_, o)| (*at_version(o, &av)).clone())
            .collect();
        let list =
            json!({"apiVersion": av, "kind": def.list_kind, "metadata": meta, "items": items});
        return Ok(respond(out.media, 200, &list));
    }
    let mut buf = Vec::with_capacity(64 + items.len() * 512);
    buf.extend_from_slice(b"{\"apiVersion\":");
    buf.extend_from_slice(json!(av).to_string().as_bytes());
    buf.extend_from_slice(b",\"kind\":");
    buf.extend_from_slice(json!(def.list_kind).to_string().as_bytes());
    buf.extend_from_slice(b",\"metadata\":");
    buf.extend_from_slice(meta.to_string().as_bytes());
    buf.extend_from_slice(b",\"items\":[");
    for (i, (_, o)) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let _ = serde_json::to_writer(&mut buf, &*at_version(o, &av));
    }
    buf.extend_from_slice(b"]}");
    Ok(json_bytes(200, Bytes::from(buf)))
}
