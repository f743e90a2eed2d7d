//! capt-load: an in-memory Kubernetes API server (`kubesim`), a provider-terraform simulator (`tfsim`),
//! a Cluster API core stand-in (`capisim`), a load generator (`loadgen`) and the
//! invariant check of converged clusters (`invariants`). No dependency on `capt`.
#![forbid(unsafe_code)]

pub mod capisim;
pub mod invariants;
pub mod kubesim;
pub mod loadgen;
pub mod simstack;
pub mod tfsim;
