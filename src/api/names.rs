//! Externally visible names: finalizers, condition types and reasons, phases, labels, annotations,
//! object name suffixes, secret names and keys, template variables and event reasons.
//!
//! These strings are part of capt's compatibility surface; changing one is a breaking change.

/// API groups and versions.
pub mod groups {
    pub const CONTROL_PLANE: &str = "controlplane.cluster.x-k8s.io";
    pub const CLUSTER_API: &str = "cluster.x-k8s.io";
    pub const VERSION: &str = "v1beta1";
    pub const INFRASTRUCTURE_API_VERSION: &str = "infrastructure.cluster.x-k8s.io/v1beta1";
    pub const CONTROL_PLANE_API_VERSION: &str = "controlplane.cluster.x-k8s.io/v1beta1";
    pub const TERRAFORM_API_VERSION: &str = "tf.upbound.io/v1beta1";
}

/// Finalizers.
pub mod finalizers {
    pub const CAPT_CLUSTER: &str = "infrastructure.cluster.x-k8s.io/captcluster";
    pub const CAPT_CONTROL_PLANE: &str = "controlplane.cluster.x-k8s.io/captcontrolplane";
    pub const WORKSPACE_TEMPLATE_APPLY: &str = "infrastructure.cluster.x-k8s.io/finalizer";
    pub const WORKSPACE_TEMPLATE: &str = "workspacetemplate.v2.infrastructure.cluster.x-k8s.io";
}

/// Condition status values.
pub mod status {
    pub const TRUE: &str = "True";
    pub const FALSE: &str = "False";
}

/// Condition types.
pub mod conditions {
    /// CAPTCluster: VPC readiness.
    pub const VPC_READY: &str = "VPCReady";
    /// CAPTCluster: failed-status path.
    pub const VPC_FAILED: &str = "VPCFailed";
    /// CAPTCluster: the owner Cluster does not exist yet.
    pub const WAITING_FOR_CLUSTER: &str = "WaitingForCluster";
    /// CAPTCluster: declared upstream, unused.
    pub const VPC_CREATING: &str = "VPCCreating";
    /// CAPTControlPlane (and Crossplane Workspace): readiness.
    pub const READY: &str = "Ready";
    /// Crossplane Workspace: reconcile success of the provider.
    pub const SYNCED: &str = "Synced";
    /// CAPTControlPlane: the EKS Workspace's provider reconcile (its `Synced`), reported apart
    /// from readiness.
    pub const WORKSPACE_SYNCED: &str = "WorkspaceSynced";
    /// CAPTControlPlane: declared upstream, unused.
    pub const INITIALIZED: &str = "Initialized";
    pub const FAILED: &str = "Failed";
    pub const CREATING: &str = "Creating";
    /// CAPI Cluster condition written for the infrastructure.
    pub const INFRASTRUCTURE_READY: &str = "InfrastructureReady";
    /// CAPI Cluster condition written for the control plane.
    pub const CONTROL_PLANE_INITIALIZED: &str = "ControlPlaneInitialized";
}

/// Condition reasons.
pub mod reasons {
    // CAPTCluster
    pub const EXISTING_VPC_USED: &str = "ExistingVPCUsed";
    pub const VPC_CREATING: &str = "VPCCreating";
    pub const VPC_CREATION_FAILED: &str = "VPCCreationFailed";
    pub const VPC_CREATED: &str = "VPCCreated";
    pub const INVALID_VPC_CONFIG: &str = "InvalidVPCConfig";
    pub const VPC_RECONCILIATION_FAILED: &str = "VPCReconciliationFailed";
    pub const CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
    // CAPTControlPlane
    pub const CREATING: &str = "Creating";
    pub const READY: &str = "Ready";
    pub const FAILED: &str = "Failed";
    pub const WORKSPACE_ERROR: &str = "WorkspaceError";
    pub const WORKSPACE_TEMPLATE_NOT_FOUND: &str = "WorkspaceTemplateNotFound";
    pub const ENDPOINT_ERROR: &str = "EndpointError";
    pub const WAITING_FOR_VPC: &str = "WaitingForVPC";
    pub const VPC_READY_TIMEOUT: &str = "VPCReadyTimeout";
    pub const CONTROL_PLANE_TIMEOUT: &str = "ControlPlaneTimeout";
    // CAPI Cluster conditions
    pub const INFRASTRUCTURE_READY: &str = "InfrastructureReady";
    pub const CONTROL_PLANE_NOT_READY: &str = "ControlPlaneNotReady";
    // Crossplane Workspace conditions
    pub const AVAILABLE: &str = "Available";
    pub const DELETING: &str = "Deleting";
}

/// Condition messages used verbatim upstream.
pub mod messages {
    pub const EXISTING_VPC_USED: &str = "Using existing VPC";
    pub const VPC_CREATING: &str = "VPC is being created";
    pub const VPC_CREATED: &str = "VPC has been successfully created";
    pub const WAITING_FOR_CLUSTER: &str = "Waiting for owner Cluster to be created";
    pub const WAITING_FOR_OWNER_CLUSTER: &str = "Waiting for owner cluster";
    pub const CONTROL_PLANE_CREATING: &str = "Control plane is being created";
    pub const CONTROL_PLANE_READY: &str = "Control plane is ready";
    pub const CONTROL_PLANE_NOT_READY: &str = "Control plane is not ready";
    pub const INFRASTRUCTURE_READY: &str = "Infrastructure is ready";
}

/// CAPTControlPlane `status.phase` values (see [`crate::api::ControlPlanePhase`]).
pub mod phases {
    pub const CREATING: &str = "Creating";
    pub const READY: &str = "Ready";
    pub const FAILED: &str = "Failed";
}

/// Label keys and values.
pub mod labels {
    /// Cluster name label set on CAPTCluster and on the kubeconfig secret.
    pub const CLUSTER_NAME: &str = "cluster.x-k8s.io/cluster-name";
    /// Contract label carried by every CRD.
    pub const CONTRACT_V1BETA1: &str = "cluster.x-k8s.io/v1beta1";
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    pub const MANAGED_BY_VALUE: &str = "capt";
    /// Set on Workspaces (cluster-scoped, so they cannot carry a namespaced owner reference):
    /// namespace and name of the WorkspaceTemplateApply that created them.
    pub const WORKSPACE_TEMPLATE_APPLY_NAMESPACE: &str =
        "infrastructure.cluster.x-k8s.io/workspacetemplateapply-namespace";
    pub const WORKSPACE_TEMPLATE_APPLY_NAME: &str =
        "infrastructure.cluster.x-k8s.io/workspacetemplateapply-name";
}

/// Annotation keys.
pub mod annotations {
    /// Read from the Cluster as fallback region for the kubeconfig workspace.
    pub const REGION: &str = "cluster.x-k8s.io/region";
    /// CAPI pause annotation.
    pub const PAUSED: &str = "cluster.x-k8s.io/paused";
    /// W3C trace context: on objects capt creates or patches, the reconcile that did it; on an
    /// object whose lifecycle step capt traced first, that step's root span.
    pub const TRACEPARENT: &str = "traceparent";
    /// The lifecycle step (`generation-<n>` or `delete`) the object's `traceparent` belongs to.
    pub const TRACE_STEP: &str = "capt.appthrust.io/trace-step";
}

/// Object name suffixes (`<name><suffix>`) and fixed object names.
pub mod suffixes {
    /// VPC WorkspaceTemplateApply and its Workspace.
    pub const VPC: &str = "-vpc";
    /// EKS WorkspaceTemplateApply.
    pub const EKS_CONTROL_PLANE_APPLY: &str = "-eks-controlplane-apply";
    /// EKS connection secret.
    pub const EKS_CONNECTION: &str = "-eks-connection";
    /// Kubeconfig WorkspaceTemplateApply.
    pub const KUBECONFIG_APPLY: &str = "-kubeconfig-apply";
    /// Kubeconfig Workspace and CAPI kubeconfig secret.
    pub const KUBECONFIG: &str = "-kubeconfig";
    /// Kubeconfig outputs secret written by provider-terraform.
    pub const OUTPUTS_KUBECONFIG: &str = "-outputs-kubeconfig";
    pub const SPOT_ROLE_CHECK: &str = "-spot-role-check";
    pub const SPOT_ROLE_CREATE: &str = "-spot-role-create";
    /// CA secret.
    pub const CA: &str = "-ca";
    /// Removed from a WorkspaceTemplateApply name to get its Workspace name.
    pub const APPLY: &str = "-apply";
}

/// Names of WorkspaceTemplates capt looks up by convention.
pub mod templates {
    pub const SPOT_ROLE_CHECK: &str = "spot-role-check";
    pub const SPOT_ROLE_CREATE: &str = "spot-role-create";
    pub const EKS_KUBECONFIG: &str = "eks-kubeconfig-template";
    /// Namespace of the kubeconfig template and the outputs-kubeconfig secret upstream.
    pub const DEFAULT_NAMESPACE: &str = "default";
}

/// Secret types and keys.
pub mod secrets {
    pub const CLUSTER_SECRET_TYPE: &str = "cluster.x-k8s.io/secret";
    pub const OPAQUE_TYPE: &str = "Opaque";
    /// Kubeconfig key of the CAPI kubeconfig secret.
    pub const KUBECONFIG_VALUE_KEY: &str = "value";
    /// Key of the outputs-kubeconfig secret.
    pub const KUBECONFIG_KEY: &str = "kubeconfig";
    pub const TLS_CRT_KEY: &str = "tls.crt";
    pub const CA_CRT_KEY: &str = "ca.crt";
    pub const CLUSTER_ENDPOINT_KEY: &str = "cluster_endpoint";
    pub const CLUSTER_NAME_KEY: &str = "cluster_name";
    pub const CLUSTER_CA_DATA_KEY: &str = "cluster_certificate_authority_data";
    pub const KARPENTER_IAM_ROLE_ARN_KEY: &str = "karpenter_iam_role_arn";
    pub const KARPENTER_QUEUE_NAME_KEY: &str = "karpenter_queue_name";
    /// Add-on keys of the EKS connection secret whose presence is reported in
    /// `CAPTControlPlane.status.secretSync.keys`.
    pub const ADDON_KEYS: [&str; 4] = [
        CLUSTER_ENDPOINT_KEY,
        CLUSTER_NAME_KEY,
        KARPENTER_IAM_ROLE_ARN_KEY,
        KARPENTER_QUEUE_NAME_KEY,
    ];
}

/// Terraform outputs read from `Workspace.status.atProvider.outputs`.
pub mod outputs {
    pub const VPC_ID: &str = "vpc_id";
    pub const CLUSTER_ENDPOINT: &str = "cluster_endpoint";
    pub const CLUSTER_NAME: &str = "cluster_name";
    pub const ROLE_EXISTS: &str = "role_exists";
}

/// Variables passed to WorkspaceTemplates (`${name}` placeholders).
pub mod variables {
    pub const CLUSTER_NAME: &str = "cluster_name";
    pub const VPC_NAME: &str = "vpc_name";
    pub const ENVIRONMENT: &str = "environment";
    pub const ENVIRONMENT_VALUE: &str = "production";
    pub const KUBERNETES_VERSION: &str = "kubernetes_version";
    pub const REGION: &str = "region";
    pub const ENDPOINT_PUBLIC_ACCESS: &str = "endpoint_public_access";
    pub const ENDPOINT_PRIVATE_ACCESS: &str = "endpoint_private_access";
    /// Prefix of one variable per `additionalTags` entry.
    pub const TAGS_PREFIX: &str = "tags_";
    pub const CLUSTER_ENDPOINT: &str = "cluster_endpoint";
    pub const CLUSTER_CA_DATA: &str = "cluster_certificate_authority_data";
}

/// Event reasons (WorkspaceTemplateApply).
pub mod events {
    pub const CREATED_WORKSPACE: &str = "CreatedWorkspace";
    pub const RETAINED_WORKSPACE: &str = "RetainedWorkspace";
    pub const DELETED_WORKSPACE: &str = "DeletedWorkspace";
    pub const WAITING_FOR_SECRETS: &str = "WaitingForSecrets";
    pub const WORKSPACE_READY: &str = "WorkspaceReady";
}

/// Field manager for server-side apply and patches.
pub const FIELD_MANAGER: &str = "capt";

/// Object names derived from a cluster / control plane / apply name.
pub fn with_suffix(name: &str, suffix: &str) -> String {
    format!("{name}{suffix}")
}

/// Workspace name for a WorkspaceTemplateApply: one trailing `-apply` removed.
pub fn workspace_name_for_apply(apply_name: &str) -> &str {
    apply_name
        .strip_suffix(suffixes::APPLY)
        .unwrap_or(apply_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_name_strips_one_apply_suffix() {
        assert_eq!(
            workspace_name_for_apply("x-eks-controlplane-apply"),
            "x-eks-controlplane"
        );
        assert_eq!(workspace_name_for_apply("x-vpc"), "x-vpc");
        assert_eq!(workspace_name_for_apply("x-apply-apply"), "x-apply");
        assert_eq!(workspace_name_for_apply("apply"), "apply");
        assert_eq!(workspace_name_for_apply("-apply"), "");
    }

    #[test]
    fn suffix_joins() {
        assert_eq!(with_suffix("demo", suffixes::KUBECONFIG), "demo-kubeconfig");
    }
}
