//! Schema helpers for fields whose shape schemars cannot express structurally.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Arbitrary JSON object kept as-is by the API server.
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Any JSON value kept as-is by the API server.
pub fn preserve_unknown_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true
    })
}
