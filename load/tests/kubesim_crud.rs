//! kubesim write semantics through kube-rs: conflicts, generation, status subresource,
//! finalizers, garbage collection, patches, selectors, CRD schema handling.

use std::time::Duration;

use capt_load::kubesim::{Config, Handle, start};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [region]
            properties:
              region: {type: string, pattern: '^[a-z]+-[a-z]+-[0-9]$'}
              size: {type: integer, default: 3, minimum: 1, maximum: 10}
              mode: {type: string, enum: [fast, slow], default: fast}
              nested:
                type: object
                default: {}
                properties:
                  flag: {type: boolean, default: true}
          status:
            type: object
            properties:
              phase: {type: string}
              conditions:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [type]
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: owners.example.com
spec:
  group: example.com
  scope: Cluster
  names: {plural: owners, singular: owner, kind: Owner}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

/// Runs `body` against a fresh server with the test CRDs and shuts the server down, all within `secs`.
async fn with_server<F, Fut>(secs: u64, body: F)
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::time::timeout(Duration::from_secs(secs), async {
        let h = start(Config::default()).await.expect("start");
        h.install_crds_yaml(CRD).expect("crds");
        body(h.clone()).await;
        h.shutdown().await;
    })
    .await
    .expect("test timed out");
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    )
}

fn widgets(h: &Handle) -> Api<DynamicObject> {
    Api::namespaced_with(h.client(), "default", &widget_resource())
}

fn owners(h: &Handle) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Owner"),
        "owners",
    );
    Api::all_with(h.client(), &ar)
}

fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("widget")
}

/// A JSON merge patch of object `name`.
async fn merge<K>(api: &Api<K>, name: &str, patch: Value) -> kube::Result<K>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
}

fn api_err(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .expect("cm")
}

#[tokio::test]
async fn crud_conflicts_generation_and_status() {
    with_server(60, |h| async move {
        let api = widgets(&h);
        let pp = PostParams::default();
        let w = api
            .create(&pp, &widget("a", json!({"region": "eu-west-1"})))
            .await
            .unwrap();
        assert_eq!(w.metadata.generation, Some(1));
        assert!(w.metadata.uid.is_some() && w.metadata.creation_timestamp.is_some());
        assert_eq!(w.data["spec"]["size"], 3, "defaults applied");
        assert_eq!(
            w.data["spec"]["nested"]["flag"], true,
            "nested defaults applied"
        );
        assert_eq!(
            api_err(api.create(&pp, &w).await.unwrap_err()),
            (409, "AlreadyExists".into())
        );

        // 409 on stale resourceVersion
        let mut stale = w.clone();
        let mut fresh = w.clone();
        fresh.data["spec"]["size"] = json!(4);
        let fresh = api.replace("a", &pp, &fresh).await.unwrap();
        assert_eq!(fresh.metadata.generation, Some(2));
        stale.data["spec"]["size"] = json!(5);
        assert_eq!(
            api_err(api.replace("a", &pp, &stale).await.unwrap_err()),
            (409, "Conflict".into())
        );
        // unset resourceVersion = unconditional
        stale.metadata.resource_version = None;
        let un = api.replace("a", &pp, &stale).await.unwrap();
        assert_eq!(un.data["spec"]["size"], 5);
        assert_eq!(un.metadata.generation, Some(3));

        // metadata-only change: no generation bump
        let p = merge(&api, "a", json!({"metadata": {"labels": {"x": "y"}}}))
            .await
            .unwrap();
        assert_eq!(p.metadata.generation, Some(3));
        let rv_before = p.metadata.resource_version.clone();
        // no-op write keeps the resourceVersion
        let same = merge(&api, "a", json!({"metadata": {"labels": {"x": "y"}}}))
            .await
            .unwrap();
        assert_eq!(same.metadata.resource_version, rv_before);

        // status subresource: main writes ignore status, status writes change only status
        let mut with_status = same.clone();
        with_status.data["status"] = json!({"phase": "Main"});
        with_status.metadata.resource_version = None;
        let r = api.replace("a", &pp, &with_status).await.unwrap();
        assert!(r.data.get("status").is_none());
        let s = api
            .patch_status(
                "a",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"size": 9}})),
            )
            .await
            .unwrap();
        assert_eq!(s.data["status"]["phase"], "Ready");
        assert_eq!(
            s.data["spec"]["size"], 5,
            "status patch must not change spec"
        );
        assert_eq!(
            s.metadata.generation,
            Some(3),
            "status change must not bump generation"
        );
        // status created with the object is dropped
        let c = api
            .create(&pp, &{
                let mut w = widget("b", json!({"region": "eu-west-1"}));
                w.data["status"] = json!({"phase": "X"});
                w
            })
            .await
            .unwrap();
        assert!(c.data.get("status").is_none());

        // generateName
        let mut g = widget("", json!({"region": "eu-west-1"}));
        g.metadata.name = None;
        g.metadata.generate_name = Some("gen-".into());
        let g = api.create(&pp, &g).await.unwrap();
        assert!(g.metadata.name.as_deref().unwrap().starts_with("gen-"));
        assert_eq!(g.metadata.name.as_deref().unwrap().len(), 9);

        // namespace must exist; name is required
        let other: Api<DynamicObject> =
            Api::namespaced_with(h.client(), "nope", &widget_resource());
        assert_eq!(
            api_err(
                other
                    .create(&pp, &widget("a", json!({"region": "eu-west-1"})))
                    .await
                    .unwrap_err()
            )
            .0,
            404
        );
        let mut unnamed = widget("x", json!({"region": "eu-west-1"}));
        unnamed.metadata.name = None;
        assert_eq!(
            api_err(api.create(&pp, &unnamed).await.unwrap_err()),
            (422, "Invalid".into())
        );
        assert_eq!(
            api_err(api.get("missing").await.unwrap_err()),
            (404, "NotFound".into())
        );
    })
    .await;
}

#[tokio::test]
async fn schema_validation_is_422_invalid() {
    with_server(30, |h| async move {
        let api = widgets(&h);
        let err = api
            .create(
                &PostParams::default(),
                &widget(
                    "bad",
                    json!({"region": "nowhere", "size": 50, "mode": "medium", "junk": 1}),
                ),
            )
            .await
            .unwrap_err();
        let kube::Error::Api(s) = err else {
            panic!("not an API error")
        };
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
        assert!(s.message.contains("spec.region"), "{}", s.message);
        assert!(s.message.contains("spec.size"), "{}", s.message);
        assert!(s.message.contains("spec.mode"), "{}", s.message);
        let missing = api
            .create(&PostParams::default(), &widget("bad", json!({})))
            .await
            .unwrap_err();
        let kube::Error::Api(s) = missing else {
            panic!("not an API error")
        };
        assert!(
            s.message.contains("spec.region: Required value"),
            "{}",
            s.message
        );
        // unknown fields are pruned
        let ok = api
            .create(
                &PostParams::default(),
                &widget("ok", json!({"region": "eu-west-1", "junk": 1})),
            )
            .await
            .unwrap();
        assert!(ok.data["spec"].get("junk").is_none());
    })
    .await;
}

#[tokio::test]
async fn finalizers_and_deletion_timestamp() {
    with_server(30, |h| async move {
        let api = widgets(&h);
        let mut w = widget("f", json!({"region": "eu-west-1"}));
        w.metadata.finalizers = Some(vec!["example.com/guard".into()]);
        let w = api.create(&PostParams::default(), &w).await.unwrap();
        let res = api.delete("f", &DeleteParams::default()).await.unwrap();
        assert!(
            res.is_left(),
            "object still present while finalizers remain"
        );
        let d = api.get("f").await.unwrap();
        assert!(d.metadata.deletion_timestamp.is_some());
        assert_eq!(
            d.metadata.generation,
            Some(w.metadata.generation.unwrap() + 1)
        );
        // no new finalizers on a deleting object
        let err = merge(
            &api,
            "f",
            json!({"metadata": {"finalizers": ["example.com/guard", "another"]}}),
        )
        .await
        .unwrap_err();
        assert_eq!(api_err(err).0, 422);
        // removing the last finalizer deletes it
        merge(&api, "f", json!({"metadata": {"finalizers": null}}))
            .await
            .unwrap();
        assert_eq!(api_err(api.get("f").await.unwrap_err()).0, 404);
    })
    .await;
}

fn owned_cm(name: &str, owner: &DynamicObject, api_version: &str, kind: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": api_version, "kind": kind,
        "name": owner.metadata.name, "uid": owner.metadata.uid, "controller": true
    }]}}))
    .unwrap()
}

#[tokio::test]
async fn owner_reference_garbage_collection() {
    with_server(30, |h| async move {
        let own = owners(&h);
        let cms: Api<ConfigMap> = Api::namespaced(h.client(), "default");
        let pp = PostParams::default();
        let mk = |n: &str| -> DynamicObject {
            serde_json::from_value(
                json!({"apiVersion": "example.com/v1", "kind": "Owner", "metadata": {"name": n}}),
            )
            .unwrap()
        };
        // background (default): dependents of a cluster-scoped owner go away
        let o1 = own.create(&pp, &mk("o1")).await.unwrap();
        cms.create(&pp, &owned_cm("d1", &o1, "example.com/v1", "Owner"))
            .await
            .unwrap();
        let mut guarded = owned_cm("d2", &o1, "example.com/v1", "Owner");
        guarded.metadata.finalizers = Some(vec!["x/y".into()]);
        cms.create(&pp, &guarded).await.unwrap();
        own.delete("o1", &DeleteParams::background()).await.unwrap();
        assert_eq!(api_err(cms.get("d1").await.unwrap_err()).0, 404);
        let d2 = cms.get("d2").await.unwrap();
        assert!(
            d2.metadata.deletion_timestamp.is_some(),
            "dependent with finalizer is being deleted"
        );

        // orphan: dependents stay, owner reference removed
        let o2 = own.create(&pp, &mk("o2")).await.unwrap();
        cms.create(&pp, &owned_cm("d3", &o2, "example.com/v1", "Owner"))
            .await
            .unwrap();
        own.delete("o2", &DeleteParams::orphan()).await.unwrap();
        let d3 = cms.get("d3").await.unwrap();
        assert!(d3.metadata.owner_references.unwrap_or_default().is_empty());

        // foreground: owner waits for dependents
        let o3 = own.create(&pp, &mk("o3")).await.unwrap();
        let mut slow = owned_cm("d4", &o3, "example.com/v1", "Owner");
        slow.metadata.finalizers = Some(vec!["x/y".into()]);
        cms.create(&pp, &slow).await.unwrap();
        own.delete("o3", &DeleteParams::foreground()).await.unwrap();
        let o3 = own.get("o3").await.unwrap();
        assert!(o3.metadata.deletion_timestamp.is_some());
        assert!(
            o3.metadata
                .finalizers
                .unwrap_or_default()
                .contains(&"foregroundDeletion".to_string())
        );
        merge(&cms, "d4", json!({"metadata": {"finalizers": null}}))
            .await
            .unwrap();
        assert_eq!(api_err(cms.get("d4").await.unwrap_err()).0, 404);
        assert_eq!(
            api_err(own.get("o3").await.unwrap_err()).0,
            404,
            "owner goes once dependents are gone"
        );
    })
    .await;
}

#[tokio::test]
async fn patches_and_server_side_apply() {
    with_server(30, |h| async move {
        let api = widgets(&h);
        let pp = PostParams::default();
        api.create(&pp, &widget("p", json!({"region": "eu-west-1"}))).await.unwrap();
        // JSON patch
        let j = api
            .patch("p", &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(json!([
                {"op": "replace", "path": "/spec/size", "value": 7},
                {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}
            ])).unwrap()))
            .await
            .unwrap();
        assert_eq!(j.data["spec"]["size"], 7);
        // failing JSON patch test op
        let err = api
            .patch("p", &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(json!([
                {"op": "test", "path": "/spec/size", "value": 1}
            ])).unwrap()))
            .await
            .unwrap_err();
        assert_eq!(api_err(err).0, 422);
        // strategic merge patch is refused for custom resources
        let err = api
            .patch("p", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"size": 2}})))
            .await
            .unwrap_err();
        assert_eq!(api_err(err).0, 415);
        // server-side apply creates, merges and keeps other fields
        let ssa = PatchParams::apply("tester").force();
        let created = api
            .patch("q", &ssa, &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "q"}, "spec": {"region": "us-east-1"}})))
            .await
            .unwrap();
        assert_eq!(created.data["spec"]["size"], 3);
        let merged = api
            .patch("q", &ssa, &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "q", "labels": {"l": "1"}}, "spec": {"size": 4}})))
            .await
            .unwrap();
        assert_eq!(merged.data["spec"]["region"], "us-east-1");
        assert_eq!(merged.data["spec"]["size"], 4);
        assert_eq!(merged.metadata.generation, Some(2));
        // apply on status merges list-map conditions by key
        let st = api
            .patch_status("q", &ssa, &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "q"}, "status": {"conditions": [{"type": "A", "status": "True"}]}})))
            .await
            .unwrap();
        assert_eq!(st.data["status"]["conditions"].as_array().unwrap().len(), 1);
        let st = api
            .patch_status("q", &ssa, &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "q"}, "status": {"conditions": [{"type": "B", "status": "False"}]}})))
            .await
            .unwrap();
        assert_eq!(st.data["status"]["conditions"].as_array().unwrap().len(), 2);
        // strategic merge on a built-in: finalizers merge as a set, data merges
        let cms: Api<ConfigMap> = Api::namespaced(h.client(), "default");
        let mut c = cm("smp", json!({}));
        c.metadata.finalizers = Some(vec!["a/b".into()]);
        cms.create(&pp, &c).await.unwrap();
        let c = cms
            .patch("smp", &PatchParams::default(), &Patch::Strategic(json!({"metadata": {"finalizers": ["c/d"]}, "data": {"k2": "v2"}})))
            .await
            .unwrap();
        assert_eq!(c.metadata.finalizers.unwrap(), vec!["a/b".to_string(), "c/d".to_string()]);
        assert_eq!(c.data.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn selectors_and_paging() {
    with_server(30, |h| async move {
        let cms: Api<ConfigMap> = Api::namespaced(h.client(), "default");
        let pp = PostParams::default();
        for i in 0..10 {
            let tier = if i % 2 == 0 { "fe" } else { "be" };
            cms.create(
                &pp,
                &cm(&format!("c{i}"), json!({"tier": tier, "n": i.to_string()})),
            )
            .await
            .unwrap();
        }
        let count = |l: ListParams| {
            let cms = cms.clone();
            async move { cms.list(&l).await.unwrap().items.len() }
        };
        assert_eq!(count(ListParams::default().labels("tier=fe")).await, 5);
        assert_eq!(
            count(ListParams::default().labels("tier==fe,n in (0,2,3)")).await,
            2
        );
        assert_eq!(count(ListParams::default().labels("tier!=fe")).await, 5);
        assert_eq!(
            count(ListParams::default().labels("n notin (0,1)")).await,
            8
        );
        assert_eq!(count(ListParams::default().labels("tier")).await, 10);
        assert_eq!(count(ListParams::default().labels("!tier")).await, 0);
        assert_eq!(
            count(ListParams::default().fields("metadata.name=c3")).await,
            1
        );
        assert_eq!(
            count(ListParams::default().fields("metadata.namespace=default")).await,
            10
        );
        // secrets by type, cluster-wide
        let secrets: Api<Secret> = Api::namespaced(h.client(), "kube-system");
        secrets
            .create(
                &pp,
                &serde_json::from_value(
                    json!({"metadata": {"name": "s1"}, "type": "x/y", "stringData": {"a": "b"}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        let all: Api<Secret> = Api::all(h.client());
        let l = all
            .list(&ListParams::default().fields("type=x/y"))
            .await
            .unwrap();
        assert_eq!(l.items.len(), 1);
        assert_eq!(
            l.items[0].data.as_ref().unwrap()["a"].0,
            b"b".to_vec(),
            "stringData folded into data"
        );
        // paging
        let first = cms.list(&ListParams::default().limit(4)).await.unwrap();
        assert_eq!(first.items.len(), 4);
        let token = first.metadata.continue_.clone().expect("continue token");
        let second = cms
            .list(&ListParams::default().limit(100).continue_token(&token))
            .await
            .unwrap();
        assert_eq!(second.items.len(), 6);
        assert!(
            second
                .metadata
                .continue_
                .as_deref()
                .unwrap_or("")
                .is_empty()
        );
    })
    .await;
}
