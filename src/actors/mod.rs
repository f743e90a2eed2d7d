//! The actor runtime: routers turn watch events into wake-ups, a registry keeps one supervised
//! actor per owned object, and each actor owns its retries, rate limit, timers and traces.

pub mod admit;
pub mod backoff;
pub mod cache;
pub mod freshness;
pub mod gate;
pub mod inbox;
pub mod key;
pub mod leader;
pub mod object_actor;
pub mod observer;
pub mod reconciler;
pub mod registry;
pub mod relist;
pub mod resync;
pub mod router;
pub mod runtime;
pub mod settings;
pub mod shutdown;

pub use key::ObjectKey;
pub use reconciler::{
    Action, ErrorCategory, ErrorClass, ReconcileCtx, Reconciled, Reconciler, TimerCmd, Trigger,
};
pub use runtime::{ActorRuntime, block_on};
pub use settings::RuntimeSettings;
