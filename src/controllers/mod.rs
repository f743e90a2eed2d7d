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
pub mod world;
pub mod wta;

/// Register the reconcilers of the CAPT kinds besides WorkspaceTemplateApply.
pub fn register_reconcilers(
    runtime: &mut crate::actors::ActorRuntime,
    ctx: &context::SharedCtx,
    enabled: manager::Controllers,
) {
    if enabled.infrastructure {
        runtime.register(generic::Controller::<infra::Infra>::new(ctx.clone()));
        runtime.register(generic::Controller::<templates::WorkspaceTemplates>::new(
            ctx.clone(),
        ));
        runtime.register(generic::Controller::<templates::ClusterTemplates>::new(
            ctx.clone(),
        ));
    }
    if enabled.control_plane {
        runtime.register(generic::Controller::<controlplane::ControlPlane>::new(
            ctx.clone(),
        ));
        runtime.register(generic::Controller::<templates::ControlPlaneTemplates>::new(ctx.clone()));
    }
}
