//! Content negotiation, as kube-apiserver does it (k8s.io/apiserver handlers/negotiation).
//!
//! Rules:
//! - Responses: the `Accept` clauses are ordered by `q` (highest first; more specific ranges
//!   before wildcards on ties, otherwise in header order); the first clause matching a media
//!   type the endpoint serves wins. `as=Table` (meta.k8s.io v1/v1beta1) is only served as JSON or
//!   YAML; `as=PartialObjectMetadata[List]` is allowed with any media type; any other `as` skips
//!   the clause. An empty `Accept` gets JSON. No match → 406 `NotAcceptable` ("only the
//!   following media types are accepted: ...").
//! - Request bodies: an empty `Content-Type` is JSON; a type the endpoint does not decode → 415
//!   `UnsupportedMediaType` ("the body of the request was in an unknown format - accepted media
//!   types include: ...").
//! - Built-in kinds with a protobuf form serve JSON, YAML and protobuf; custom resources (and
//!   kubesim's other built-ins) JSON and YAML. Watches serve JSON only (`;stream=watch`).

use super::proto::MEDIA_TYPE as PROTOBUF;
use super::status::ApiError;

/// A serialization kubesim writes or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    Yaml,
    Protobuf,
}

impl Media {
    pub fn mime(self) -> &'static str {
        match self {
            Media::Json => "application/json",
            Media::Yaml => "application/yaml",
            Media::Protobuf => PROTOBUF,
        }
    }

    fn served(protobuf: bool) -> &'static [Media] {
        if protobuf {
            &[Media::Json, Media::Yaml, Media::Protobuf]
        } else {
            &[Media::Json, Media::Yaml]
        }
    }
}

/// A transformation requested with `as=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    Table,
    PartialObjectMetadata,
}

/// The outcome of `Accept` negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub media: Media,
    pub convert: Option<Convert>,
}

impl Output {
    pub const JSON: Output = Output {
        media: Media::Json,
        convert: None,
    };
}

struct Clause<'a> {
    kind: &'a str,
    sub: &'a str,
    q: f64,
    params: Vec<(&'a str, &'a str)>,
}

fn parse_accept(header: &str) -> Vec<Clause<'_>> {
    let mut clauses: Vec<Clause> = header
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';').map(str::trim);
            let (kind, sub) = it.next()?.split_once('/')?;
            let mut q = 1.0;
            let mut params = Vec::new();
            for p in it {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                if k == "q" {
                    q = v.parse().unwrap_or(0.0);
                } else if !k.is_empty() {
                    params.push((k, v));
                }
            }
            Some(Clause {
                kind: kind.trim(),
                sub: sub.trim(),
                q,
                params,
            })
        })
        .collect();
    clauses.sort_by(|a, b| {
        b.q.partial_cmp(&a.q)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then((a.kind == "*").cmp(&(b.kind == "*")))
            .then((a.sub == "*").cmp(&(b.sub == "*")))
    });
    clauses
}

fn convert_of(c: &Clause, media: Media) -> Result<Option<Convert>, ()> {
    let get = |k: &str| c.params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    if c.params
        .iter()
        .any(|(k, v)| *k == "stream" && !v.is_empty())
    {
        return Err(());
    }
    let Some(kind) = get("as") else {
        return Ok(None);
    };
    let meta_group = get("g") == Some("meta.k8s.io") && matches!(get("v"), Some("v1" | "v1beta1"));
    match kind {
        "Table" if meta_group && media != Media::Protobuf => Ok(Some(Convert::Table)),
        "PartialObjectMetadata" | "PartialObjectMetadataList" if meta_group => {
            Ok(Some(Convert::PartialObjectMetadata))
        }
        _ => Err(()),
    }
}

fn list(media: &[Media], suffix: &str) -> String {
    media
        .iter()
        .map(|m| format!("{}{suffix}", m.mime()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the response serialization for `Accept`; `protobuf` tells whether the endpoint's kind
/// has a protobuf form.
pub fn output(accept: &str, protobuf: bool) -> Result<Output, ApiError> {
    let served = Media::served(protobuf);
    if accept.trim().is_empty() {
        return Ok(Output::JSON);
    }
    for c in parse_accept(accept) {
        for &m in served {
            let (kind, sub) = m.mime().split_once('/').unwrap_or_default();
            let matches = (c.kind == kind && (c.sub == sub || c.sub == "*"))
                || (c.kind == "*" && c.sub == "*");
            if matches {
                if let Ok(convert) = convert_of(&c, m) {
                    return Ok(Output { media: m, convert });
                }
            }
        }
    }
    Err(not_acceptable(&list(served, "")))
}

/// Watches stream JSON only: an `Accept` without a JSON (or wildcard) clause gets 406.
pub fn watch_output(accept: &str) -> Result<Output, ApiError> {
    match output(accept, false) {
        Ok(o) if o.media == Media::Json => Ok(o),
        _ if accept.trim().is_empty() => Ok(Output::JSON),
        _ => Err(not_acceptable(&list(&[Media::Json], ";stream=watch"))),
    }
}

fn not_acceptable(types: &str) -> ApiError {
    ApiError::new(
        406,
        "NotAcceptable",
        format!("only the following media types are accepted: {types}"),
    )
}

/// The serialization of a request body with this `Content-Type`.
pub fn input(content_type: &str, protobuf: bool) -> Result<Media, ApiError> {
    let served = Media::served(protobuf);
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() {
        return Ok(Media::Json);
    }
    served
        .iter()
        .copied()
        .find(|m| m.mime() == essence)
        .ok_or_else(|| unsupported(&list(served, "")))
}

fn unsupported(types: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {types}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_go_typed_accept_prefers_protobuf_and_falls_back_to_json() {
        let a = "application/vnd.kubernetes.protobuf,application/json";
        assert_eq!(output(a, true).unwrap().media, Media::Protobuf);
        assert_eq!(output(a, false).unwrap().media, Media::Json);
    }

    #[test]
    fn protobuf_only_on_a_kind_without_protobuf_is_406() {
        let e = output("application/vnd.kubernetes.protobuf", false).unwrap_err();
        assert_eq!(e.code, 406);
        assert_eq!(e.reason, "NotAcceptable");
        assert_eq!(
            e.message,
            "only the following media types are accepted: application/json, application/yaml"
        );
    }

    #[test]
    fn kubectl_table_accept_gets_a_json_table() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        let o = output(a, true).unwrap();
        assert_eq!((o.media, o.convert), (Media::Json, Some(Convert::Table)));
        let o = output(
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
            true,
        );
        assert_eq!(o.unwrap_err().code, 406, "tables are never protobuf");
    }

    #[test]
    fn q_values_order_clauses() {
        let a = "application/json;q=0.5, application/vnd.kubernetes.protobuf";
        assert_eq!(output(a, true).unwrap().media, Media::Protobuf);
        let a = "application/vnd.kubernetes.protobuf;q=0.1, application/json";
        assert_eq!(output(a, true).unwrap().media, Media::Json);
        assert_eq!(output("*/*", true).unwrap().media, Media::Json);
        assert_eq!(output("application/yaml", true).unwrap().media, Media::Yaml);
        assert!(output("text/html", true).is_err());
    }

    #[test]
    fn request_bodies() {
        assert_eq!(input("", false).unwrap(), Media::Json);
        assert_eq!(
            input("application/json; charset=utf-8", false).unwrap(),
            Media::Json
        );
        assert_eq!(input(PROTOBUF, true).unwrap(), Media::Protobuf);
        let e = input(PROTOBUF, false).unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
        assert_eq!(
            e.message,
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
        );
        let e = input("text/plain", true).unwrap_err();
        assert!(
            e.message.ends_with(
                "application/json, application/yaml, application/vnd.kubernetes.protobuf"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn watches_need_json() {
        assert!(watch_output("application/vnd.kubernetes.protobuf, application/json").is_ok());
        let e = watch_output("application/vnd.kubernetes.protobuf").unwrap_err();
        assert_eq!(e.code, 406);
        assert_eq!(
            e.message,
            "only the following media types are accepted: application/json;stream=watch"
        );
    }
}
