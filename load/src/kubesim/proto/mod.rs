//! `application/vnd.kubernetes.protobuf` bodies for the built-in kinds kubesim serves.
//!
//! Wire format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the 4 bytes `k8s\0`, then a
//! `runtime.Unknown` message whose `typeMeta` names the apiVersion and kind and whose `raw` holds
//! the typed message (which carries no apiVersion/kind of its own). Messages are converted to and
//! from the JSON objects kubesim stores with the field lists in `messages`.

mod json;
mod messages;

use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::autoscaling::v1 as autoscaling;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::Value;

use json::{Json, ShapeError};

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a protobuf body could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    Magic,
    #[error("{0}")]
    Decode(#[from] prost::DecodeError),
    #[error("object {0:?} is missing in protobuf typeMeta")]
    MissingTypeMeta(&'static str),
    #[error("no kind {kind:?} is registered for version {api_version:?} in the protobuf scheme")]
    UnknownKind { api_version: String, kind: String },
    #[error("{0}")]
    Shape(#[from] ShapeError),
}

fn decode_as<T: Message + Json>(raw: &[u8]) -> Result<Value, ProtoError> {
    let msg = T::decode(raw)?;
    Ok(msg
        .to_json()
        .unwrap_or_else(|| Value::Object(Default::default())))
}

fn encode_as<T: Message + Json>(v: &Value) -> Result<Vec<u8>, ProtoError> {
    Ok(T::from_json(v)?.encode_to_vec())
}

/// `(apiVersion pattern, kind) => message type` for every kind with a protobuf form.
macro_rules! registry {
    ($( $av:pat, $kind:literal => $ty:ty; )*) => {
        fn decode_typed(av: &str, kind: &str, raw: &[u8]) -> Option<Result<Value, ProtoError>> {
            match (av, kind) {
                $( ($av, $kind) => Some(decode_as::<$ty>(raw)), )*
                _ => None,
            }
        }

        fn encode_typed(av: &str, kind: &str, v: &Value) -> Option<Result<Vec<u8>, ProtoError>> {
            match (av, kind) {
                $( ($av, $kind) => Some(encode_as::<$ty>(v)), )*
                _ => None,
            }
        }

        /// Whether objects of this apiVersion and kind have a protobuf form.
        pub fn has_kind(av: &str, kind: &str) -> bool {
            matches!((av, kind), $( ($av, $kind) )|*)
        }
    };
}

registry! {
    "v1", "Namespace" => core::Namespace;
    "v1", "NamespaceList" => core::NamespaceList;
    "v1", "Secret" => core::Secret;
    "v1", "SecretList" => core::SecretList;
    "v1", "ConfigMap" => core::ConfigMap;
    "v1", "ConfigMapList" => core::ConfigMapList;
    "v1", "Event" => core::Event;
    "v1", "EventList" => core::EventList;
    "v1", "ServiceAccount" => core::ServiceAccount;
    "v1", "ServiceAccountList" => core::ServiceAccountList;
    "events.k8s.io/v1", "Event" => events::Event;
    "events.k8s.io/v1", "EventList" => events::EventList;
    "coordination.k8s.io/v1", "Lease" => coordination::Lease;
    "coordination.k8s.io/v1", "LeaseList" => coordination::LeaseList;
    "autoscaling/v1", "Scale" => autoscaling::Scale;
    "authentication.k8s.io/v1", "TokenReview" => authn::TokenReview;
    "authorization.k8s.io/v1", "SubjectAccessReview" => authz::SubjectAccessReview;
    "authorization.k8s.io/v1", "SelfSubjectAccessReview" => authz::SelfSubjectAccessReview;
    "v1", "Status" => meta::Status;
    _, "DeleteOptions" => meta::DeleteOptions;
}

/// Reads a protobuf body into the JSON object kubesim stores (with `apiVersion` and `kind`).
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::Magic)?;
    let unknown = Unknown::decode(rest)?;
    let tm = unknown.type_meta.unwrap_or_default();
    let av = tm
        .api_version
        .filter(|s| !s.is_empty())
        .ok_or(ProtoError::MissingTypeMeta("apiVersion"))?;
    let kind = tm
        .kind
        .filter(|s| !s.is_empty())
        .ok_or(ProtoError::MissingTypeMeta("kind"))?;
    let raw = unknown.raw.unwrap_or_default();
    let mut v = decode_typed(&av, &kind, &raw).ok_or_else(|| ProtoError::UnknownKind {
        api_version: av.clone(),
        kind: kind.clone(),
    })??;
    if let Value::Object(m) = &mut v {
        m.insert("apiVersion".into(), Value::String(av));
        m.insert("kind".into(), Value::String(kind));
    }
    Ok(v)
}

/// Writes a JSON object (with `apiVersion` and `kind`) as a protobuf body.
pub fn encode(v: &Value) -> Result<Vec<u8>, ProtoError> {
    let field = |k: &'static str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .ok_or(ProtoError::MissingTypeMeta(k))
    };
    let (av, kind) = (field("apiVersion")?, field("kind")?);
    let raw = encode_typed(av, kind, v).ok_or_else(|| ProtoError::UnknownKind {
        api_version: av.to_string(),
        kind: kind.to_string(),
    })??;
    Ok(envelope(av, kind, raw))
}

/// The wire framing of an encoded message `raw` of `api_version`/`kind`: the magic, then the
/// `runtime.Unknown` that carries it.
pub(crate) fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_string()),
            kind: Some(kind.to_string()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = Vec::with_capacity(MAGIC.len() + unknown.encoded_len());
    out.extend_from_slice(MAGIC);
    out.extend(unknown.encode_to_vec());
    out
}

#[cfg(test)]
mod tests;
