//! The unit of sharding: a Cluster API cluster (namespace/name). Every object capt reconciles or
//! owns for a cluster maps to it, so the whole cluster lives on one shard.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::discovery::ApiResource;

use crate::api::kinds::Kind;
use crate::api::names::labels;
use crate::api::{CAPTCluster, CAPTControlPlane, Cluster, Workspace, WorkspaceTemplateApply};

/// The kinds split across shards; every other kind is watched by every replica.
pub const SHARDED: [Kind; 5] = [
    Kind::Cluster,
    Kind::CaptCluster,
    Kind::CaptControlPlane,
    Kind::WorkspaceTemplateApply,
    Kind::Workspace,
];

pub fn is_sharded(kind: Kind) -> bool {
    SHARDED.contains(&kind)
}

/// The API resource of a sharded kind (for label patches).
pub fn api_resource(kind: Kind) -> Option<ApiResource> {
    Some(match kind {
        Kind::Cluster => ApiResource::erase::<Cluster>(&()),
        Kind::CaptCluster => ApiResource::erase::<CAPTCluster>(&()),
        Kind::CaptControlPlane => ApiResource::erase::<CAPTControlPlane>(&()),
        Kind::WorkspaceTemplateApply => ApiResource::erase::<WorkspaceTemplateApply>(&()),
        Kind::Workspace => ApiResource::erase::<Workspace>(&()),
        _ => return None,
    })
}

/// A Cluster API cluster: the key hashed onto the ring.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub namespace: String,
    pub cluster: String,
}

impl GroupKey {
    pub fn new(namespace: &str, cluster: &str) -> Self {
        Self {
            namespace: namespace.into(),
            cluster: cluster.into(),
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.cluster)
    }
}

fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The cluster an object belongs to. A Cluster is its own; CAPTCluster, CAPTControlPlane and
/// WorkspaceTemplateApply name theirs in `cluster.x-k8s.io/cluster-name` (else their own name
/// stands for it, as their reconcilers read it); a Workspace (cluster-scoped) belongs to the
/// cluster of the apply named by its apply labels, found through `apply_group`. `None` for other
/// kinds and for Workspaces that are not capt's.
pub fn group_of(
    kind: Kind,
    meta: &ObjectMeta,
    apply_group: impl Fn(&str, &str) -> Option<GroupKey>,
) -> Option<GroupKey> {
    let name = meta.name.as_deref()?;
    let ns = meta.namespace.as_deref().unwrap_or_default();
    match kind {
        Kind::Cluster => Some(GroupKey::new(ns, name)),
        Kind::CaptCluster | Kind::CaptControlPlane | Kind::WorkspaceTemplateApply => Some(
            GroupKey::new(ns, label(meta, labels::CLUSTER_NAME).unwrap_or(name)),
        ),
        Kind::Workspace => {
            let ans = label(meta, labels::WORKSPACE_TEMPLATE_APPLY_NAMESPACE)?;
            let aname = label(meta, labels::WORKSPACE_TEMPLATE_APPLY_NAME)?;
            apply_group(ans, aname)
        }
        _ => None,
    }
}

/// What the shard labels of one object say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    pub shard: Option<String>,
    pub draining: bool,
}

pub fn placement(meta: &ObjectMeta, shard_label: &str, drain_label: &str) -> Placement {
    Placement {
        shard: label(meta, shard_label).map(String::from),
        draining: label(meta, drain_label).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ns: Option<&str>, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            namespace: ns.map(String::from),
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn every_object_of_a_cluster_maps_to_the_cluster() {
        let apply = |ns: &str, name: &str| {
            (ns == "team" && name == "alpha-vpc").then(|| GroupKey::new("team", "alpha"))
        };
        let cl = [(labels::CLUSTER_NAME, "alpha")];
        let ws = [
            (labels::WORKSPACE_TEMPLATE_APPLY_NAMESPACE, "team"),
            (labels::WORKSPACE_TEMPLATE_APPLY_NAME, "alpha-vpc"),
        ];
        let want = Some(GroupKey::new("team", "alpha"));
        let cases = [
            (Kind::Cluster, meta(Some("team"), "alpha", &[])),
            (Kind::CaptCluster, meta(Some("team"), "alpha-x7k2", &cl)),
            (Kind::CaptControlPlane, meta(Some("team"), "alpha-cp", &cl)),
            (
                Kind::WorkspaceTemplateApply,
                meta(Some("team"), "alpha-vpc", &cl),
            ),
            (Kind::Workspace, meta(None, "alpha-vpc", &ws)),
        ];
        for (kind, m) in cases {
            assert_eq!(group_of(kind, &m, apply), want, "{kind:?}");
        }
    }

    #[test]
    fn unlabelled_objects_stand_for_their_own_cluster_and_foreign_ones_for_none() {
        let none = |_: &str, _: &str| None;
        assert_eq!(
            group_of(Kind::CaptCluster, &meta(Some("ns"), "beta", &[]), none),
            Some(GroupKey::new("ns", "beta"))
        );
        assert_eq!(group_of(Kind::Workspace, &meta(None, "w", &[]), none), None);
        assert_eq!(
            group_of(Kind::WorkspaceTemplate, &meta(Some("ns"), "t", &[]), none),
            None
        );
        let ws = [
            (labels::WORKSPACE_TEMPLATE_APPLY_NAMESPACE, "ns"),
            (labels::WORKSPACE_TEMPLATE_APPLY_NAME, "gone"),
        ];
        assert_eq!(group_of(Kind::Workspace, &meta(None, "w", &ws), none), None);
    }

    #[test]
    fn placement_reads_shard_and_drain_labels() {
        let m = meta(Some("ns"), "a", &[("s", "capt-1"), ("d", "true")]);
        assert_eq!(
            placement(&m, "s", "d"),
            Placement {
                shard: Some("capt-1".into()),
                draining: true
            }
        );
        assert_eq!(
            placement(&meta(Some("ns"), "a", &[]), "s", "d"),
            Placement::default()
        );
    }

    #[test]
    fn only_the_cluster_kinds_are_sharded() {
        assert!(SHARDED.iter().all(|k| api_resource(*k).is_some()));
        assert!(!is_sharded(Kind::WorkspaceTemplate) && !is_sharded(Kind::Secret));
    }
}
