//! API types: the capt CRDs, the external objects capt reads and writes, and shared pieces.
//!
//! capt kinds (all `v1beta1`, namespaced):
//! * `infrastructure.cluster.x-k8s.io`: [`CAPTCluster`], [`CAPTClusterTemplate`], [`WorkspaceTemplate`],
//!   [`WorkspaceTemplateApply`], [`WorkspaceTemplateGrant`], [`CaptMachine`], [`CaptMachineSet`],
//!   [`CaptMachineDeployment`], [`CaptMachineTemplate`];
//! * `controlplane.cluster.x-k8s.io`: [`CAPTControlPlane`], [`CaptControlPlaneTemplate`].
//!
//! External views (not in [`crds()`]): Crossplane [`Workspace`] / [`DesiredWorkspace`] and CAPI [`Cluster`].

pub mod captcluster;
pub mod captclustertemplate;
pub mod captcontrolplane;
pub mod captcontrolplanetemplate;
pub mod captmachine;
pub mod captmachinedeployment;
pub mod captmachineset;
pub mod captmachinetemplate;
pub mod cluster;
pub mod common;
mod crds;
pub mod kinds;
pub mod names;
pub mod schema;
pub mod validation;
pub mod workspace;
pub mod workspace_spec;
pub mod workspacetemplate;
pub mod workspacetemplateapply;
pub mod workspacetemplategrant;

pub use captcluster::*;
pub use captclustertemplate::*;
pub use captcontrolplane::*;
pub use captcontrolplanetemplate::*;
pub use captmachine::*;
pub use captmachinedeployment::*;
pub use captmachineset::*;
pub use captmachinetemplate::*;
pub use cluster::*;
pub use common::*;
pub use crds::{CrdError, crd_file_name, crd_yaml, crds, crds_yaml};
pub use validation::{REGION_PATTERN, ValidationError, is_valid_region};
pub use workspace::*;
pub use workspace_spec::*;
pub use workspacetemplate::*;
pub use workspacetemplateapply::*;
pub use workspacetemplategrant::*;
