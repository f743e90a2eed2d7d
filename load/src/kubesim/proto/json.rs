//! The JSON form of protobuf messages: the mapping kube-apiserver's Go types give both
//! encodings, for the message types kubesim serves.
//!
//! Rules (from the Go types' `json` and `protobuf` tags):
//! - proto2 optional scalars come from Go fields that are either pointers (`nil` ⇒ absent) or plain
//!   values that Go's protobuf marshaller always writes. Plain `omitempty` strings are omitted when
//!   empty; plain `omitempty` integers and booleans are marked `zero` in the field lists and
//!   omitted when zero.
//! - repeated fields and maps are omitted when empty; `bytes` are base64 strings.
//! - `meta/v1 Time` is RFC 3339 seconds (the zero time is not written in protobuf and is `null`
//!   in JSON); `MicroTime` keeps microseconds; `FieldsV1` holds raw JSON; `ExtraValue` is a bare
//!   string array.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;

/// A JSON value that does not fit the protobuf message.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ShapeError {
    pub field: String,
    pub message: String,
}

impl ShapeError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        ShapeError {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Prefixes the field path with the enclosing field.
    pub fn within(mut self, field: &str) -> Self {
        self.field = if self.field.is_empty() {
            field.to_string()
        } else if self.field.starts_with('[') {
            format!("{field}{}", self.field)
        } else {
            format!("{field}.{}", self.field)
        };
        self
    }
}

/// Conversion between a protobuf value and its JSON form.
pub trait Json: Sized + Default {
    /// The JSON value, or `None` when the field is omitted.
    fn to_json(&self) -> Option<Value>;
    /// Reads the JSON value (never called with `null`).
    fn from_json(v: &Value) -> Result<Self, ShapeError>;
}

fn type_error(want: &str, v: &Value) -> ShapeError {
    ShapeError::new("", format!("expected {want}, got {v}"))
}

impl Json for String {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.clone()))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        v.as_str()
            .map(String::from)
            .ok_or_else(|| type_error("string", v))
    }
}

impl Json for bool {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Bool(*self))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        v.as_bool().ok_or_else(|| type_error("boolean", v))
    }
}

fn integer(v: &Value) -> Result<i64, ShapeError> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .ok_or_else(|| type_error("integer", v))
}

impl Json for i64 {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        integer(v)
    }
}

impl Json for i32 {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        i32::try_from(integer(v)?).map_err(|_| type_error("32-bit integer", v))
    }
}

impl Json for Vec<u8> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(
            base64::engine::general_purpose::STANDARD.encode(self),
        ))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        let s = v.as_str().ok_or_else(|| type_error("base64 string", v))?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| ShapeError::new("", format!("illegal base64 data: {e}")))
    }
}

/// `Option<String>` fields drop empty strings (Go `omitempty` values); other optional scalars
/// keep every value they hold.
impl<T: Json + OmitEmpty> Json for Option<T> {
    fn to_json(&self) -> Option<Value> {
        self.as_ref()
            .filter(|x| !x.omit_when_optional())
            .and_then(Json::to_json)
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        T::from_json(v).map(Some)
    }
}

/// Whether an optional value is left out of JSON.
pub trait OmitEmpty {
    fn omit_when_optional(&self) -> bool {
        false
    }
}

impl OmitEmpty for String {
    fn omit_when_optional(&self) -> bool {
        self.is_empty()
    }
}
impl OmitEmpty for bool {}
impl OmitEmpty for i64 {}
impl OmitEmpty for i32 {}
impl OmitEmpty for Vec<u8> {}

impl<T: Json> Json for Vec<T> {
    fn to_json(&self) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        Some(Value::Array(
            self.iter()
                .map(|x| x.to_json().unwrap_or(Value::Null))
                .collect(),
        ))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        let a = v.as_array().ok_or_else(|| type_error("array", v))?;
        a.iter()
            .enumerate()
            .filter(|(_, x)| !x.is_null())
            .map(|(i, x)| T::from_json(x).map_err(|e| e.within(&format!("[{i}]"))))
            .collect()
    }
}

impl<T: Json> Json for BTreeMap<String, T> {
    fn to_json(&self) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        let m: Map<String, Value> = self
            .iter()
            .map(|(k, x)| (k.clone(), x.to_json().unwrap_or(Value::Null)))
            .collect();
        Some(Value::Object(m))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        let o = v.as_object().ok_or_else(|| type_error("object", v))?;
        o.iter()
            .filter(|(_, x)| !x.is_null())
            .map(|(k, x)| Ok((k.clone(), T::from_json(x).map_err(|e| e.within(k))?)))
            .collect()
    }
}

/// Implements [`Json`] (and [`OmitEmpty`]) for a message from its fields:
/// `rust_field: "jsonName"`, with `zero` after a plain Go integer/boolean marked `omitempty`.
macro_rules! message {
    ($ty:ty { $($field:ident : $json:literal $($zero:ident)?),* $(,)? }) => {
        impl $crate::kubesim::proto::json::OmitEmpty for $ty {}
        impl $crate::kubesim::proto::json::Json for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                #[allow(unused_mut)]
                let mut m = serde_json::Map::new();
                $(
                    let v = $crate::kubesim::proto::json::Json::to_json(&self.$field);
                    $( let v = $crate::kubesim::proto::json::$zero(v); )?
                    if let Some(v) = v {
                        m.insert($json.to_string(), v);
                    }
                )*
                Some(serde_json::Value::Object(m))
            }
            fn from_json(
                v: &serde_json::Value,
            ) -> Result<Self, $crate::kubesim::proto::json::ShapeError> {
                let obj = v.as_object().ok_or_else(|| {
                    $crate::kubesim::proto::json::ShapeError::new("", format!("expected object, got {v}"))
                })?;
                #[allow(unused_mut)]
                let mut out = Self::default();
                $(
                    if let Some(x) = obj.get($json).filter(|x| !x.is_null()) {
                        out.$field = $crate::kubesim::proto::json::Json::from_json(x)
                            .map_err(|e| e.within($json))?;
                    }
                )*
                let _ = obj;
                Ok(out)
            }
        }
    };
}
pub(crate) use message;

/// Drops a zero number or `false` (plain Go fields marked `omitempty`).
pub fn zero(v: Option<Value>) -> Option<Value> {
    v.filter(|x| !(x == &Value::Bool(false) || x.as_f64() == Some(0.0)))
}

fn parse_time(v: &Value) -> Result<DateTime<Utc>, ShapeError> {
    let s = v.as_str().ok_or_else(|| type_error("RFC 3339 time", v))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ShapeError::new("", format!("parsing time {s:?}: {e}")))
}

impl OmitEmpty for meta::Time {}
impl Json for meta::Time {
    fn to_json(&self) -> Option<Value> {
        if self.seconds.is_none() && self.nanos.is_none() {
            return None;
        }
        let t = DateTime::from_timestamp(self.seconds.unwrap_or(0), 0)?;
        Some(Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        let t = parse_time(v)?;
        Ok(meta::Time {
            seconds: Some(t.timestamp()),
            nanos: None,
        })
    }
}

impl OmitEmpty for meta::MicroTime {}
impl Json for meta::MicroTime {
    fn to_json(&self) -> Option<Value> {
        let nanos = self.nanos.unwrap_or(0).max(0) as u32;
        let t = DateTime::from_timestamp(self.seconds.unwrap_or(0), nanos / 1000 * 1000)?;
        Some(Value::String(
            t.to_rfc3339_opts(SecondsFormat::Micros, true),
        ))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        let t = parse_time(v)?;
        let micros = t.timestamp_subsec_micros() as i32;
        Ok(meta::MicroTime {
            seconds: Some(t.timestamp()),
            nanos: Some(micros * 1000),
        })
    }
}

impl OmitEmpty for meta::FieldsV1 {}
impl Json for meta::FieldsV1 {
    fn to_json(&self) -> Option<Value> {
        let raw = self.raw.as_deref().unwrap_or(b"{}");
        Some(serde_json::from_slice(raw).unwrap_or(Value::Object(Map::new())))
    }
    fn from_json(v: &Value) -> Result<Self, ShapeError> {
        Ok(meta::FieldsV1 {
            raw: Some(v.to_string().into_bytes()),
        })
    }
}

/// `ExtraValue` messages are bare string arrays in JSON.
macro_rules! string_list {
    ($ty:ty) => {
        impl $crate::kubesim::proto::json::OmitEmpty for $ty {}
        impl $crate::kubesim::proto::json::Json for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::json!(self.items))
            }
            fn from_json(
                v: &serde_json::Value,
            ) -> Result<Self, $crate::kubesim::proto::json::ShapeError> {
                Ok(Self {
                    items: $crate::kubesim::proto::json::Json::from_json(v)?,
                })
            }
        }
    };
}
pub(crate) use string_list;
