//! A read view of `cluster.x-k8s.io/v1beta1` Clusters.

use std::fmt;

use kube::api::DynamicObject;
use kube::discovery::ApiResource;
use serde::Deserialize;
use serde_json::Value;

/// API group of Cluster.
pub const GROUP: &str = "cluster.x-k8s.io";
/// API version of Cluster served and read (CAPI v1.11 stores v1beta2 and still serves v1beta1).
pub const VERSION: &str = "v1beta1";
/// apiVersion Cluster API v1.11 writes into the ownerReferences it adds (its storage version).
pub const OWNER_API_VERSION: &str = "cluster.x-k8s.io/v1beta2";
/// Finalizer CAPI puts on Clusters.
pub const FINALIZER: &str = "cluster.cluster.x-k8s.io";
/// Label CAPI puts on objects belonging to a Cluster.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Annotation pausing reconciliation of a Cluster.
pub const PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";

/// The `ApiResource` of Clusters.
pub fn api_resource() -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: "Cluster".into(),
        plural: "clusters".into(),
    }
}

/// Namespace and name of a Cluster (the work-queue key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClusterKey {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// An object reference from a Cluster spec. Cluster API v1.11 keeps only its group, kind and name: the object
/// is looked up in the Cluster's namespace at the version its CRD's contract label names (the reference's
/// `namespace` and version are not used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjRef {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Endpoint {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: i64,
}

impl Endpoint {
    pub(crate) fn is_valid(&self) -> bool {
        !self.host.is_empty() && self.port != 0
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    infrastructure_ref: Option<ObjRef>,
    #[serde(default)]
    control_plane_ref: Option<ObjRef>,
    #[serde(default)]
    control_plane_endpoint: Option<Endpoint>,
    #[serde(default)]
    paused: bool,
}

/// The fields of a Cluster capisim reads.
#[derive(Debug, Clone)]
pub(crate) struct ClusterView {
    pub key: ClusterKey,
    pub uid: String,
    pub resource_version: Option<String>,
    pub generation: i64,
    pub deleting: bool,
    pub finalizers: Vec<String>,
    /// `spec.paused`.
    pub paused_spec: bool,
    /// The `cluster.x-k8s.io/paused` annotation.
    pub paused_annotation: bool,
    pub infra_ref: Option<ObjRef>,
    pub cp_ref: Option<ObjRef>,
    pub endpoint: Endpoint,
    pub status: serde_json::Map<String, Value>,
}

/// A Cluster whose spec cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewError {
    #[error("cluster has no name or namespace")]
    NoName,
    #[error("invalid cluster spec: {0}")]
    Spec(serde_json::Error),
}

impl ClusterView {
    pub(crate) fn from_object(obj: &DynamicObject) -> Result<Self, ViewError> {
        let meta = &obj.metadata;
        let (Some(name), Some(namespace)) = (meta.name.clone(), meta.namespace.clone()) else {
            return Err(ViewError::NoName);
        };
        let spec: Spec = match obj.data.get("spec") {
            Some(v) if !v.is_null() => {
                serde_json::from_value(v.clone()).map_err(ViewError::Spec)?
            }
            _ => Spec::default(),
        };
        let status = match obj.data.get("status") {
            Some(Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let paused_annotation = meta
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(PAUSED_ANNOTATION));
        let non_empty = |r: Option<ObjRef>| r.filter(|r| !r.name.is_empty() && !r.kind.is_empty());
        Ok(Self {
            key: ClusterKey { namespace, name },
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone(),
            generation: meta.generation.unwrap_or(1),
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            paused_spec: spec.paused,
            paused_annotation,
            infra_ref: non_empty(spec.infrastructure_ref),
            cp_ref: non_empty(spec.control_plane_ref),
            endpoint: spec.control_plane_endpoint.unwrap_or_default(),
            status,
        })
    }

    pub(crate) fn paused(&self) -> bool {
        self.paused_spec || self.paused_annotation
    }

    pub(crate) fn has_finalizer(&self) -> bool {
        self.finalizers.iter().any(|f| f == FINALIZER)
    }
}
