//! Routing: children wake their owners (namespaced by ownerReference, cluster-scoped by an
//! annotation), unknown owners are dropped, and the router keeps going.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use capt::actors::registry::Dispatch;
use capt::actors::{Trigger, block_on};
use common::{Env, NS, OWNER_ANNOTATION, succeed};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};

fn secret(name: &str, owner: Option<(&str, &str)>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            owner_references: owner.map(|(name, uid)| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: name.into(),
                    uid: uid.into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

fn namespace(name: &str, owner: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(BTreeMap::from([(
                OWNER_ANNOTATION.to_string(),
                owner.to_string(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn children_wake_their_owner_and_unknown_owners_are_dropped() {
    block_on(async {
        let env = Env::start(common::fast_settings(), succeed()).await;
        let secrets: Api<Secret> = Api::namespaced(env.client.clone(), NS);
        let namespaces: Api<Namespace> = Api::all(env.client.clone());
        let pp = PostParams::default();

        let owner = env.create("o", &[]).await;
        let uid = owner.metadata.uid.clone().unwrap();
        env.wait_count("o", 1).await;

        secrets
            .create(&pp, &secret("child", Some(("o", &uid))))
            .await
            .unwrap();
        env.wait_count("o", 2).await;
        assert_eq!(env.rec.seen_of("o")[1].trigger, Trigger::Event("Secret"));

        namespaces
            .create(&pp, &namespace("team-a", "default/o"))
            .await
            .unwrap();
        env.wait_count("o", 3).await;
        assert_eq!(env.rec.seen_of("o")[2].trigger, Trigger::Event("Namespace"));

        // Unknown owners and ownerless children: dropped, nobody reconciles, nothing panics.
        secrets
            .create(&pp, &secret("orphan", Some(("ghost", "no-such-uid"))))
            .await
            .unwrap();
        secrets.create(&pp, &secret("plain", None)).await.unwrap();
        namespaces
            .create(&pp, &namespace("team-b", "default/ghost"))
            .await
            .unwrap();
        namespaces
            .create(&pp, &namespace("team-c", "not-a-key"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(env.rec.count("o"), 3);
        assert_eq!(env.rec.count("ghost"), 0);
        assert_eq!(env.reg.keys(), vec![Env::key("o")]);
        assert!(env.routers.iter().all(|r| !r.is_finished()));

        // The routers still deliver.
        let patch = serde_json::json!({ "stringData": { "k": "v2" } });
        secrets
            .patch("child", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        env.wait_count("o", 4).await;
        assert_eq!(env.rec.seen_of("o")[3].trigger, Trigger::Event("Secret"));

        // Deleting the owner stops its actor; later child events find no owner.
        env.cms.delete("o", &DeleteParams::default()).await.unwrap();
        let reg = env.reg.clone();
        common::wait_until("the owner's actor to stop", common::WAIT, || reg.is_empty()).await;
        let patch = serde_json::json!({ "metadata": { "annotations": { "x": "1" } } });
        namespaces
            .patch("team-a", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(env.rec.count("o"), 4);
        assert!(env.reg.is_empty());
        assert!(env.routers.iter().all(|r| !r.is_finished()));
        env.stop().await;
    });
}
