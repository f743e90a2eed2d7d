//! Response bodies and request bodies in the negotiated serialization (JSON, YAML or protobuf).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::negotiate::{self, Media};
use super::proto;
use super::status::{ApiError, ApiResult};

fn with_type(code: u16, body: Bytes, media: Media) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media.mime()));
    r
}

/// Pre-serialized JSON.
pub fn json_bytes(code: u16, body: Bytes) -> Response {
    with_type(code, body, Media::Json)
}

/// `v` in JSON.
pub fn json_value(code: u16, v: &Value) -> Response {
    json_bytes(code, Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
}

/// `v` (an object with `apiVersion` and `kind`) in `media`. An object without a protobuf form
/// never reaches here in protobuf: negotiation only picks protobuf for kinds that have one.
pub fn respond(media: Media, code: u16, v: &Value) -> Response {
    match media {
        Media::Json => json_value(code, v),
        Media::Yaml => match serde_yaml::to_string(v) {
            Ok(s) => with_type(code, Bytes::from(s), Media::Yaml),
            Err(e) => internal(&format!("encoding YAML: {e}")),
        },
        Media::Protobuf => match proto::encode(v) {
            Ok(b) => with_type(code, Bytes::from(b), Media::Protobuf),
            Err(e) => internal(&format!("encoding protobuf: {e}")),
        },
    }
}

fn internal(message: &str) -> Response {
    error_response(Media::Json, &ApiError::new(500, "InternalError", message))
}

/// An error as a `meta/v1 Status` in `media`.
pub fn error_response(media: Media, e: &ApiError) -> Response {
    let mut r = respond(media, e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reads a request body; `protobuf` tells whether the endpoint decodes protobuf.
pub fn parse_body(headers: &HeaderMap, body: &[u8], protobuf: bool) -> ApiResult<Value> {
    match negotiate::input(content_type(headers), protobuf)? {
        Media::Yaml => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
        Media::Json => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}"))),
        Media::Protobuf => proto::decode(body).map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// Reads an optional `DeleteOptions` body (any serialization, as kube-apiserver decodes
/// them with its meta codecs on every endpoint).
pub fn parse_delete_options(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(Value::Null);
    }
    parse_body(headers, body, true).map_err(|e| {
        if e.code == 400 {
            ApiError::bad_request(format!("error decoding DeleteOptions: {}", e.message))
        } else {
            e
        }
    })
}
