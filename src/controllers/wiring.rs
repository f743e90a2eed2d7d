//! What the events of each watched kind do, written once for both runtimes: a kind with a
//! reconciler wakes its own object's actor (and maybe others), any other kind only wakes the
//! actors it concerns. Whether a kind is watched or reconciled at all comes from
//! [`crate::api::kinds::Kind`]; each runtime ([`crate::controllers::manager`],
//! [`crate::baseline`]) implements [`Runtime`] to schedule them its way.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::core::PartialObjectMeta;

use super::caches::Streams;
use super::context::SharedCtx;
use super::controlplane::ControlPlane;
use super::generic::Decide;
use super::infra::Infra;
use super::templates::{ClusterTemplates, ControlPlaneTemplates, WorkspaceTemplates};
use super::wta::Wta;
use super::{grants, routes};
use crate::actors::ObjectKey;
use crate::actors::cache::EventStream;
use crate::api::kinds::Kind;

/// Maps an object of a watched kind to the actors it concerns.
pub type OwnersFn<K> = Arc<dyn Fn(&K) -> Vec<ObjectKey> + Send + Sync>;

/// What both runtimes need of a watched object type.
pub trait Watched: Resource<DynamicType = ()> + Clone + Send + Sync + 'static {}
impl<K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static> Watched for K {}

/// How a runtime schedules the kinds handed to it by [`wire`].
pub trait Runtime {
    /// A kind with its own reconciler `D` (run when its controller group is enabled); its events
    /// also wake `owners`.
    fn reconciled<D: Decide>(&mut self, stream: EventStream<D::K>, owners: Option<OwnersFn<D::K>>);

    /// A kind whose events only wake the actors `owners` names.
    fn watched<K: Watched>(&mut self, kind: Kind, stream: EventStream<K>, owners: OwnersFn<K>);
}

fn owners<K: 'static>(f: impl Fn(&K) -> Vec<ObjectKey> + Send + Sync + 'static) -> OwnersFn<K> {
    Arc::new(f)
}

/// An owners function that reads the shared context (caches, waiters, the rollout).
fn with_ctx<K: 'static>(ctx: &SharedCtx, f: fn(&SharedCtx, &K) -> Vec<ObjectKey>) -> OwnersFn<K> {
    let ctx = ctx.clone();
    owners(move |k| f(&ctx, k))
}

/// Hand every watched kind's stream and route to `rt`.
pub fn wire(ctx: &SharedCtx, s: Streams, rt: &mut impl Runtime) {
    rt.reconciled::<Infra>(
        s.captclusters,
        Some(with_ctx(ctx, routes::captcluster_waiters)),
    );
    rt.reconciled::<ControlPlane>(
        s.controlplanes,
        Some(with_ctx(ctx, routes::control_plane_owners)),
    );
    rt.reconciled::<Wta>(s.applies, Some(with_ctx(ctx, routes::apply_owners)));
    rt.reconciled::<WorkspaceTemplates>(s.templates, Some(with_ctx(ctx, routes::template_owners)));
    rt.reconciled::<ClusterTemplates>(s.cluster_templates, None);
    rt.reconciled::<ControlPlaneTemplates>(s.cp_templates, None);
    rt.watched(
        Kind::Workspace,
        s.workspaces,
        with_ctx(ctx, routes::workspace_owners),
    );
    rt.watched(
        Kind::Cluster,
        s.clusters,
        with_ctx(ctx, routes::cluster_and_waiters),
    );
    rt.watched(
        Kind::Secret,
        s.secrets,
        with_ctx(ctx, routes::secret_owners::<PartialObjectMeta<Secret>>),
    );
    rt.watched(
        Kind::WorkspaceTemplateGrant,
        s.grants,
        with_ctx(ctx, grants::grant_referrers),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::kinds::Controllers;

    /// Records what [`wire`] hands over.
    #[derive(Default)]
    struct Record(Vec<(Kind, bool)>);

    impl Runtime for Record {
        fn reconciled<D: Decide>(&mut self, _: EventStream<D::K>, _: Option<OwnersFn<D::K>>) {
            self.0.push((D::KIND, true));
        }
        fn watched<K: Watched>(&mut self, kind: Kind, _: EventStream<K>, _: OwnersFn<K>) {
            self.0.push((kind, false));
        }
    }

    #[tokio::test]
    async fn every_kind_is_wired_once_as_the_table_says() {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        let client = kube::Client::try_from(config).expect("client");
        let (world, streams) = super::super::caches::build(&client, None, false, None);
        let ctx = super::super::context::Ctx::shared(
            client,
            world,
            crate::telemetry::Metrics::new(),
            &super::super::manager::ManagerConfig::default(),
        );
        let mut r = Record::default();
        wire(&ctx, streams, &mut r);
        let mut kinds: Vec<Kind> = r.0.iter().map(|(k, _)| *k).collect();
        kinds.sort_unstable();
        assert_eq!(kinds, Kind::ALL.to_vec());
        for (kind, reconciled) in r.0 {
            assert_eq!(kind.has_reconciler(), reconciled, "{kind}");
        }
        assert!(Kind::ALL.iter().all(|k| k.watched(Controllers::default())));
    }
}
