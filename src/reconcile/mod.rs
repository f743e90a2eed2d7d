//! Pure decisions: (object, what the caches hold, the clock) → [`plan::Plan`] of writes, Events,
//! timers and the next wake-up. No IO here; `crate::controllers` gathers inputs and executes plans.
//! This module is a leaf: it imports nothing from `crate::actors`, `crate::client` or
//! `crate::controllers` (the types a decision returns live in [`outcome`] and [`plan`]).

pub mod children;
pub mod controlplane;
pub mod endpoint;
pub mod grants;
pub mod infra;
pub mod kubeconfig;
pub mod limits;
pub mod outcome;
pub mod ownership;
pub mod pause;
pub mod plan;
pub mod render;
pub mod secret_sources;
pub mod secret_sync;
pub mod secrets;
pub mod templates;
pub mod token_kubeconfig;
pub mod token_refresh;
pub mod wta;
