//! What the demo creates: the shipped WorkspaceTemplates and, per cluster, a Cluster API
//! `Cluster` with its `CAPTCluster` and `CAPTControlPlane`.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::ObjectMeta;
use serde_json::json;

use super::error::DemoError;
use crate::api::names::groups;
use crate::api::{
    CAPTCluster, CAPTClusterSpec, CAPTControlPlane, CAPTControlPlaneSpec, Cluster, ClusterSpec,
    ControlPlaneConfig, EndpointAccess, TemplateRef, WorkspaceTemplate,
};

/// Namespace of everything the demo creates.
pub const NAMESPACE: &str = "default";
/// WorkspaceTemplate of the VPC (`CAPTCluster.spec.vpcTemplateRef`).
pub const VPC_TEMPLATE: &str = "vpc-template";
/// WorkspaceTemplate of the EKS control plane (`CAPTControlPlane.spec.workspaceTemplateRef`).
pub const EKS_TEMPLATE: &str = "eks-controlplane-template";
/// Kubernetes version of every control plane.
pub const KUBERNETES_VERSION: &str = "1.31";

/// The sample WorkspaceTemplates, as shipped in `samples/workspacetemplates/`.
pub const TEMPLATES: [(&str, &str); 5] = [
    (
        "vpc-template.yaml",
        include_str!("../../samples/workspacetemplates/vpc-template.yaml"),
    ),
    (
        "eks-controlplane-template.yaml",
        include_str!("../../samples/workspacetemplates/eks-controlplane-template.yaml"),
    ),
    (
        "eks-kubeconfig-template.yaml",
        include_str!("../../samples/workspacetemplates/eks-kubeconfig-template.yaml"),
    ),
    (
        "spot-role-check.yaml",
        include_str!("../../samples/workspacetemplates/spot-role-check.yaml"),
    ),
    (
        "spot-role-create.yaml",
        include_str!("../../samples/workspacetemplates/spot-role-create.yaml"),
    ),
];

/// `demo-01`, `demo-02`, … (wider numbers past 99).
pub fn cluster_names(count: u16) -> Vec<String> {
    let width = count.to_string().len().max(2);
    (1..=count).map(|i| format!("demo-{i:0width$}")).collect()
}

/// Parses the embedded templates.
pub fn templates() -> Result<Vec<DynamicObject>, DemoError> {
    TEMPLATES
        .iter()
        .map(|(file, text)| {
            let mut obj: DynamicObject =
                serde_yaml::from_str(text).map_err(|e| DemoError::Sample {
                    file,
                    message: e.to_string(),
                })?;
            obj.metadata.namespace = Some(NAMESPACE.to_string());
            Ok(obj)
        })
        .collect()
}

/// Creates the sample WorkspaceTemplates in [`NAMESPACE`].
pub async fn create_templates(client: &kube::Client) -> Result<(), DemoError> {
    let ar = ApiResource::erase::<WorkspaceTemplate>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &ar);
    for t in templates()? {
        let name = t.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &t)
            .await
            .map_err(|source| DemoError::Create {
                what: format!("WorkspaceTemplate {name}"),
                source,
            })?;
    }
    Ok(())
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(NAMESPACE.to_string()),
        ..ObjectMeta::default()
    }
}

fn object_ref(api_version: &str, kind: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: Some(name.to_string()),
        namespace: Some(NAMESPACE.to_string()),
        ..ObjectReference::default()
    }
}

/// The Cluster API `Cluster` pointing at the CAPTCluster and CAPTControlPlane of the same name.
pub fn cluster(name: &str) -> Cluster {
    Cluster {
        metadata: meta(name),
        spec: ClusterSpec {
            cluster_network: Some(json!({
                "pods": {"cidrBlocks": ["192.168.0.0/16"]},
                "services": {"cidrBlocks": ["10.96.0.0/12"]},
                "serviceDomain": "cluster.local",
            })),
            infrastructure_ref: Some(object_ref(
                groups::INFRASTRUCTURE_API_VERSION,
                "CAPTCluster",
                name,
            )),
            control_plane_ref: Some(object_ref(
                groups::CONTROL_PLANE_API_VERSION,
                "CAPTControlPlane",
                name,
            )),
            ..ClusterSpec::default()
        },
        status: None,
    }
}

/// The CAPTCluster: a new VPC from [`VPC_TEMPLATE`].
pub fn capt_cluster(name: &str, region: &str) -> CAPTCluster {
    CAPTCluster {
        metadata: meta(name),
        spec: CAPTClusterSpec {
            region: region.to_string(),
            vpc_template_ref: Some(TemplateRef::new(VPC_TEMPLATE, Some(NAMESPACE.to_string()))),
            ..CAPTClusterSpec::default()
        },
        status: None,
    }
}

/// The CAPTControlPlane: EKS [`KUBERNETES_VERSION`] from [`EKS_TEMPLATE`].
pub fn control_plane(name: &str, region: &str) -> CAPTControlPlane {
    CAPTControlPlane {
        metadata: meta(name),
        spec: CAPTControlPlaneSpec {
            version: KUBERNETES_VERSION.to_string(),
            workspace_template_ref: TemplateRef::new(EKS_TEMPLATE, Some(NAMESPACE.to_string())),
            control_plane_config: Some(ControlPlaneConfig {
                region: region.to_string(),
                endpoint_access: Some(EndpointAccess {
                    public: true,
                    private: true,
                    ..EndpointAccess::default()
                }),
                ..ControlPlaneConfig::default()
            }),
            ..CAPTControlPlaneSpec::default()
        },
        status: None,
    }
}

/// Creates the three objects of one cluster (Cluster first, as `clusterctl` would).
pub async fn create_cluster(
    client: &kube::Client,
    name: &str,
    region: &str,
) -> Result<(), DemoError> {
    let pp = PostParams::default();
    let err = |kind: &str| {
        let what = format!("{kind} {name}");
        move |source| DemoError::Create { what, source }
    };
    Api::<Cluster>::namespaced(client.clone(), NAMESPACE)
        .create(&pp, &cluster(name))
        .await
        .map_err(err("Cluster"))?;
    Api::<CAPTCluster>::namespaced(client.clone(), NAMESPACE)
        .create(&pp, &capt_cluster(name, region))
        .await
        .map_err(err("CAPTCluster"))?;
    Api::<CAPTControlPlane>::namespaced(client.clone(), NAMESPACE)
        .create(&pp, &control_plane(name, region))
        .await
        .map_err(err("CAPTControlPlane"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_zero_padded() {
        assert_eq!(cluster_names(3), ["demo-01", "demo-02", "demo-03"]);
        assert_eq!(cluster_names(100)[0], "demo-001");
        assert_eq!(cluster_names(100)[99], "demo-100");
    }

    #[test]
    fn embedded_templates_parse() {
        let ts = templates().unwrap();
        let names: Vec<_> = ts.iter().filter_map(|t| t.metadata.name.clone()).collect();
        assert!(names.contains(&VPC_TEMPLATE.to_string()));
        assert!(names.contains(&EKS_TEMPLATE.to_string()));
        assert!(names.contains(&"eks-kubeconfig-template".to_string()));
        assert!(ts.iter().all(|t| {
            t.types
                .as_ref()
                .is_some_and(|t| t.kind == "WorkspaceTemplate")
        }));
    }

    #[test]
    fn cluster_refs_are_exact() {
        let c = serde_json::to_value(cluster("demo-01")).unwrap();
        assert_eq!(c["apiVersion"], "cluster.x-k8s.io/v1beta1");
        assert_eq!(c["spec"]["infrastructureRef"]["kind"], "CAPTCluster");
        assert_eq!(
            c["spec"]["infrastructureRef"]["apiVersion"],
            "infrastructure.cluster.x-k8s.io/v1beta1"
        );
        assert_eq!(c["spec"]["controlPlaneRef"]["kind"], "CAPTControlPlane");
        assert_eq!(
            c["spec"]["controlPlaneRef"]["apiVersion"],
            "controlplane.cluster.x-k8s.io/v1beta1"
        );
        let cp = serde_json::to_value(control_plane("demo-01", "us-west-2")).unwrap();
        assert_eq!(cp["spec"]["version"], "1.31");
        assert_eq!(
            cp["spec"]["workspaceTemplateRef"]["name"],
            "eks-controlplane-template"
        );
        assert_eq!(cp["spec"]["controlPlaneConfig"]["region"], "us-west-2");
        let cc = serde_json::to_value(capt_cluster("demo-01", "us-west-2")).unwrap();
        assert_eq!(cc["spec"]["vpcTemplateRef"]["name"], "vpc-template");
        assert_eq!(cc["spec"]["region"], "us-west-2");
    }
}
