//! The only writes sharding makes to objects: merge patches of its labels.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::group::api_resource;
use crate::api::kinds::Kind;

/// One object of a sharded kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub kind: Kind,
    /// Empty for cluster-scoped kinds (Workspace).
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.namespace.as_str() {
            "" => write!(f, "{}/{}", self.kind.name(), self.name),
            ns => write!(f, "{}/{ns}/{}", self.kind.name(), self.name),
        }
    }
}

/// The merge patch setting (`Some`) or removing (`None`) each label.
pub fn labels_patch(labels: &[(&str, Option<&str>)]) -> Value {
    let map: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.map_or(Value::Null, |v| json!(v))))
        .collect();
    json!({"metadata": {"labels": map}})
}

/// Patch the labels of `id`; an object already gone counts as done.
pub async fn patch_labels(
    client: &Client,
    id: &ObjectId,
    labels: &[(&str, Option<&str>)],
) -> Result<(), kube::Error> {
    let Some(ar) = api_resource(id.kind) else {
        return Ok(());
    };
    let api: Api<DynamicObject> = match id.namespace.as_str() {
        "" => Api::all_with(client.clone(), &ar),
        ns => Api::namespaced_with(client.clone(), ns, &ar),
    };
    let pp = PatchParams::default();
    match api
        .patch(&id.name, &pp, &Patch::Merge(labels_patch(labels)))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_set_and_remove_labels() {
        assert_eq!(
            labels_patch(&[("s", Some("capt-1")), ("d", None)]),
            json!({"metadata": {"labels": {"s": "capt-1", "d": null}}})
        );
    }

    #[test]
    fn ids_read_like_keys() {
        let id = |ns: &str| ObjectId {
            kind: Kind::Workspace,
            namespace: ns.into(),
            name: "w".into(),
        };
        assert_eq!(id("").to_string(), "Workspace/w");
        assert_eq!(id("ns").to_string(), "Workspace/ns/w");
    }
}
