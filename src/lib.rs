//! capt: Cluster API provider for Amazon EKS through Crossplane provider-terraform Workspaces.
#![forbid(unsafe_code)]

pub mod actors;
pub mod api;
pub mod client;
pub mod reconcile;
pub mod telemetry;
