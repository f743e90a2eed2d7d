//! reconcile

pub mod endpoint;
pub mod kubeconfig;
pub mod render;
pub mod secrets;
