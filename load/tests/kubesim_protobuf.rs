//! Protobuf bodies and content negotiation on the wire, checked with raw HTTP requests.

use std::time::Duration;

use capt_load::kubesim::{Config, Handle, start};
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

struct Reply {
    code: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        assert_eq!(self.content_type, "application/json");
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The `runtime.Unknown` envelope of a protobuf body.
    fn unknown(&self) -> Unknown {
        assert_eq!(self.content_type, PROTOBUF);
        let rest = self.body.strip_prefix(b"k8s\0").expect("protobuf magic");
        Unknown::decode(rest).unwrap()
    }
}

async fn raw(h: &Handle, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", h.port()))
        .await
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Reply {
        code,
        content_type,
        body: out[split + 4..].to_vec(),
    }
}

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let u = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = b"k8s\0".to_vec();
    out.extend(u.encode_to_vec());
    out
}

fn secret(name: &str) -> Vec<u8> {
    let s = core::Secret {
        metadata: Some(meta::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        }),
        string_data: [("token".to_string(), "abc".to_string())].into(),
        ..Default::default()
    };
    envelope("v1", "Secret", s.encode_to_vec())
}

const TYPED: (&str, &str) = (
    "Accept",
    "application/vnd.kubernetes.protobuf,application/json",
);
const SENDS_PROTOBUF: (&str, &str) = ("Content-Type", PROTOBUF);

#[tokio::test]
async fn typed_client_round_trip_in_protobuf() {
    let h = start(Config::default()).await.unwrap();
    let secrets = "/api/v1/namespaces/default/secrets";
    let r = raw(&h, "POST", secrets, &[TYPED, SENDS_PROTOBUF], &secret("s1")).await;
    assert_eq!(r.code, 201);
    let u = r.unknown();
    let tm = u.type_meta.unwrap();
    assert_eq!(
        (tm.api_version.unwrap(), tm.kind.unwrap()),
        ("v1".into(), "Secret".into())
    );
    let created = core::Secret::decode(u.raw.unwrap().as_slice()).unwrap();
    assert_eq!(
        created.data.get("token").map(Vec::as_slice),
        Some(&b"abc"[..])
    );
    assert_eq!(created.r#type.as_deref(), Some("Opaque"));
    let m = created.metadata.unwrap();
    assert_eq!(m.namespace.as_deref(), Some("default"));
    assert!(m.creation_timestamp.and_then(|t| t.seconds).is_some());
    let uid = m.uid.unwrap();

    let r = raw(&h, "GET", secrets, &[TYPED], b"").await;
    assert_eq!(r.code, 200);
    let u = r.unknown();
    assert_eq!(u.type_meta.unwrap().kind.as_deref(), Some("SecretList"));
    let list = core::SecretList::decode(u.raw.unwrap().as_slice()).unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|s| s.metadata.as_ref()?.name.clone())
        .collect();
    assert_eq!(names, vec!["s1".to_string()]);
    assert!(list.metadata.unwrap().resource_version.is_some());

    // Errors come back as a protobuf meta/v1 Status.
    let r = raw(&h, "GET", &format!("{secrets}/nope"), &[TYPED], b"").await;
    assert_eq!(r.code, 404);
    let st = meta::Status::decode(r.unknown().raw.unwrap().as_slice()).unwrap();
    assert_eq!(st.reason.as_deref(), Some("NotFound"));
    assert_eq!(st.code, Some(404));
    assert_eq!(st.message.as_deref(), Some("secrets \"nope\" not found"));

    // DeleteOptions in protobuf: a stale uid precondition is a 409 Conflict.
    let opts = |uid: &str| {
        let o = meta::DeleteOptions {
            preconditions: Some(meta::Preconditions {
                uid: Some(uid.into()),
                resource_version: None,
            }),
            ..Default::default()
        };
        envelope("meta.k8s.io/v1", "DeleteOptions", o.encode_to_vec())
    };
    let one = format!("{secrets}/s1");
    let r = raw(&h, "DELETE", &one, &[TYPED, SENDS_PROTOBUF], &opts("other")).await;
    assert_eq!(r.code, 409);
    let r = raw(&h, "DELETE", &one, &[TYPED, SENDS_PROTOBUF], &opts(&uid)).await;
    assert_eq!(r.code, 200);
    let r = raw(&h, "GET", &one, &[("Accept", "application/json")], b"").await;
    assert_eq!(r.code, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn unservable_requests_answer_like_kube_apiserver() {
    let h = start(Config::default()).await.unwrap();
    h.install_crds_yaml(CRD).unwrap();
    let gadgets = "/apis/example.com/v1/namespaces/default/gadgets";
    let json_ct = ("Content-Type", "application/json");
    let body = br#"{"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g1"},"spec":{"replicas":1}}"#;
    assert_eq!(raw(&h, "POST", gadgets, &[json_ct], body).await.code, 201);

    // Custom resources have no protobuf form: bodies get 415, protobuf-only Accept gets 406.
    let r = raw(&h, "POST", gadgets, &[TYPED, SENDS_PROTOBUF], &secret("x")).await;
    assert_eq!(r.code, 415);
    let st = r.json();
    assert_eq!(st["kind"], "Status");
    assert_eq!(st["reason"], "UnsupportedMediaType");
    assert_eq!(
        st["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
    );
    let r = raw(
        &h,
        "GET",
        &format!("{gadgets}/g1"),
        &[("Accept", PROTOBUF)],
        b"",
    )
    .await;
    assert_eq!(r.code, 406);
    let st = r.json();
    assert_eq!(st["reason"], "NotAcceptable");
    assert_eq!(
        st["message"],
        "only the following media types are accepted: application/json, application/yaml"
    );
    // A typed client that also lists JSON gets JSON.
    let r = raw(&h, "GET", &format!("{gadgets}/g1"), &[TYPED], b"").await;
    assert_eq!((r.code, r.json()["kind"].as_str()), (200, Some("Gadget")));
    // Their Scale has a protobuf form.
    let r = raw(&h, "GET", &format!("{gadgets}/g1/scale"), &[TYPED], b"").await;
    assert_eq!(r.code, 200);
    assert_eq!(
        r.unknown().type_meta.unwrap().kind.as_deref(),
        Some("Scale")
    );

    // Built-ins: an unknown body type lists protobuf among the accepted ones; a garbled
    // protobuf body is a 400 BadRequest; YAML is served on request.
    let secrets = "/api/v1/namespaces/default/secrets";
    let r = raw(&h, "POST", secrets, &[("Content-Type", "text/plain")], b"x").await;
    assert_eq!(r.code, 415);
    assert_eq!(
        r.json()["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let r = raw(
        &h,
        "POST",
        secrets,
        &[TYPED, SENDS_PROTOBUF],
        b"k8s\0\x0a\x05\x01",
    )
    .await;
    assert_eq!(r.code, 400);
    let st = meta::Status::decode(r.unknown().raw.unwrap().as_slice()).unwrap();
    assert_eq!(st.reason.as_deref(), Some("BadRequest"));
    let r = raw(
        &h,
        "GET",
        "/api/v1/namespaces/default",
        &[("Accept", "application/yaml")],
        b"",
    )
    .await;
    assert_eq!((r.code, r.content_type.as_str()), (200, "application/yaml"));
    let ns: serde_json::Value = serde_yaml::from_slice(&r.body).unwrap();
    assert_eq!(ns["metadata"]["name"], "default");
    let r = raw(&h, "GET", secrets, &[("Accept", "text/html")], b"").await;
    assert_eq!(r.code, 406);
    assert_eq!(
        r.json()["message"],
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    // Watches stream JSON; a protobuf-only watch is refused.
    let r = raw(
        &h,
        "GET",
        &format!("{secrets}?watch=true"),
        &[("Accept", PROTOBUF)],
        b"",
    )
    .await;
    assert_eq!(r.code, 406);
    assert_eq!(
        r.json()["message"],
        "only the following media types are accepted: application/json;stream=watch"
    );
    h.shutdown().await;
}
