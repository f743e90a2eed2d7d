//! capt-load: an in-memory Kubernetes API server (`kubesim`), a provider-terraform simulator (`tfsim`),
//! a Cluster API core stand-in (`capisim`) and a load generator (`loadgen`). No dependency on `capt`.
#![forbid(unsafe_code)]

pub mod capisim;
pub mod kubesim;
pub mod loadgen;
pub mod tfsim;
