use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::json;

use super::*;

#[test]
fn secret_as_go_writes_it_decodes_to_the_json_object() {
    // Go writes every plain field, so unset strings arrive as "" and generation as 0.
    let secret = core::Secret {
        metadata: Some(meta::ObjectMeta {
            name: Some("db".into()),
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            uid: Some(String::new()),
            resource_version: Some(String::new()),
            generation: Some(0),
            labels: [("app".to_string(), String::new())].into(),
            ..Default::default()
        }),
        data: [("password".to_string(), b"s3cret".to_vec())].into(),
        r#type: Some("Opaque".into()),
        immutable: None,
        ..Default::default()
    };
    let v = decode(&envelope("v1", "Secret", secret.encode_to_vec())).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "labels": {"app": ""}},
            "data": {"password": "czNjcmV0"},
            "type": "Opaque",
        })
    );
}

#[test]
fn encode_then_decode_keeps_the_object() {
    let objects = [
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                         "generation": 1, "creationTimestamp": "2025-01-02T03:04:05Z",
                         "annotations": {"a": "b"}, "finalizers": ["x/y"],
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": "s",
                                              "uid": "u-2", "controller": true}],
                         "managedFields": [{"manager": "kubectl", "operation": "Apply",
                                            "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:data": {"f:k": {}}}}]},
            "data": {"k": "v"}, "binaryData": {"b": "AAE="}, "immutable": false,
        }),
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "l", "namespace": "kube-system"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                     "renewTime": "2025-01-02T03:04:05.123456Z", "leaseTransitions": 0},
        }),
        json!({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "g"}, "spec": {"replicas": 3},
            "status": {"replicas": 0, "selector": "app=g"},
        }),
        json!({
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": "secrets \"x\" not found", "reason": "NotFound", "code": 404,
            "details": {"name": "x", "kind": "secrets"},
        }),
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {"user": "u", "extra": {"scopes": ["a", "b"]},
                     "resourceAttributes": {"verb": "get", "resource": "secrets"}},
            "status": {"allowed": true},
        }),
        json!({
            "apiVersion": "v1", "kind": "SecretList",
            "metadata": {"resourceVersion": "9", "continue": "abc"},
            "items": [{"metadata": {"name": "a"}, "type": "Opaque"},
                      {"metadata": {"name": "b"}, "stringData": {"k": "v"}}],
        }),
    ];
    for o in objects {
        let back = decode(&encode(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}

#[test]
fn delete_options_decode_in_any_group_version() {
    let opts = meta::DeleteOptions {
        propagation_policy: Some("Foreground".into()),
        preconditions: Some(meta::Preconditions {
            uid: Some("u-1".into()),
            resource_version: None,
        }),
        dry_run: vec!["All".into()],
        ..Default::default()
    };
    let v = decode(&envelope(
        "meta.k8s.io/v1",
        "DeleteOptions",
        opts.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(v["propagationPolicy"], "Foreground");
    assert_eq!(v["preconditions"], json!({"uid": "u-1"}));
    assert_eq!(v["dryRun"], json!(["All"]));
}

#[test]
fn bad_bodies_are_errors() {
    assert!(matches!(decode(b"{\"kind\":1}"), Err(ProtoError::Magic)));
    assert!(matches!(
        decode(&envelope("example.com/v1", "Gadget", Vec::new())),
        Err(ProtoError::UnknownKind { .. })
    ));
    assert!(matches!(
        decode(&envelope("v1", "Secret", vec![0x0a, 0x05, 0x01])),
        Err(ProtoError::Decode(_))
    ));
    let wrong = json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}});
    let e = encode(&wrong).unwrap_err();
    assert!(e.to_string().starts_with("data.k: illegal base64"), "{e}");
}
