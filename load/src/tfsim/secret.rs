//! Connection secrets, written like Crossplane's secret publisher.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};

use super::workspace::{GROUP, KIND, SecretRef, VERSION, WorkspaceView};

/// Secret type Crossplane uses for connection secrets.
pub const CONNECTION_SECRET_TYPE: &str = "connection.crossplane.io/v1alpha1";

fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

/// Creates or overwrites the connection secret of `ws` with `data`.
pub(crate) async fn publish(
    client: &kube::Client,
    ws: &WorkspaceView,
    target: &SecretRef,
    data: BTreeMap<String, Vec<u8>>,
) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &target.namespace);
    let data: BTreeMap<String, ByteString> =
        data.into_iter().map(|(k, v)| (k, ByteString(v))).collect();
    let owner = OwnerReference {
        api_version: format!("{GROUP}/{VERSION}"),
        kind: KIND.into(),
        name: ws.name.clone(),
        uid: ws.uid.clone(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(target.name.clone()),
            namespace: Some(target.namespace.clone()),
            owner_references: if ws.uid.is_empty() {
                None
            } else {
                Some(vec![owner.clone()])
            },
            ..Default::default()
        },
        type_: Some(CONNECTION_SECRET_TYPE.into()),
        data: Some(data.clone()),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => return Ok(()),
        Err(e) if is_status(&e, 409) => {}
        Err(e) => return Err(e),
    }
    let mut existing = api.get(&target.name).await?;
    if existing.data.as_ref() == Some(&data) {
        return Ok(());
    }
    existing.data = Some(data);
    existing.string_data = None;
    if !ws.uid.is_empty() {
        let refs = existing
            .metadata
            .owner_references
            .get_or_insert_with(Vec::new);
        if !refs.iter().any(|r| r.uid == ws.uid) {
            refs.push(owner);
        }
    }
    api.replace(&target.name, &PostParams::default(), &existing)
        .await?;
    Ok(())
}

/// Deletes the connection secret; a missing secret is not an error.
pub(crate) async fn unpublish(
    client: &kube::Client,
    target: &SecretRef,
) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &target.namespace);
    match api.delete(&target.name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}
