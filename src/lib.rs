//! capt: Cluster API provider for Amazon EKS through Crossplane provider-terraform Workspaces.
#![forbid(unsafe_code)]

pub mod actors;
pub mod addons;
pub mod api;
pub mod baseline;
pub mod cli;
pub mod client;
pub mod controllers;
pub mod credentials;
#[cfg(feature = "demo")]
pub mod demo;
pub mod packaging;
pub mod reconcile;
pub mod sharding;
pub mod telemetry;
