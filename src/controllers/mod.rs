//! The actor edges of the CAPT kinds: gather inputs from the caches, call the pure decisions in
//! `crate::reconcile`, execute the plans. One generic plumbing ([`generic::Controller`]) for all kinds.

pub mod caches;
pub mod context;
pub mod controlplane;
pub mod error;
pub mod exec;
pub mod generic;
pub mod grants;
pub mod infra;
pub mod manager;
pub mod observe;
pub mod rollout;
pub mod routes;
pub mod templates;
pub mod tokens;
pub mod waiters;
pub mod wiring;
pub mod world;
pub mod wta;
