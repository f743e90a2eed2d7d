//! Fault scenarios end to end: one world, one cluster per tfsim fault plus a healthy one, all
//! created at once. Each faulty control plane shows the named condition; the healthy cluster still
//! reaches Ready with its kubeconfig secret.

mod support;

use std::time::Duration;

use capt::api::{
    CAPTControlPlane, CAPTControlPlaneStatus, Condition, ControlPlanePhase, SecretSyncState,
};
use capt_load::tfsim::{self, FaultKind};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

const HEALTHY: &str = "good";

/// (cluster, fault on its EKS Workspace)
const CASES: [(&str, FaultKind); 6] = [
    ("f-apply", FaultKind::ApplyError),
    ("f-flap", FaultKind::Flap),
    ("f-nokc", FaultKind::SecretMissingKubeconfig),
    ("f-noca", FaultKind::SecretMissingCa),
    ("f-badkc", FaultKind::SecretInvalidKubeconfig),
    ("f-noep", FaultKind::SecretNoEndpoint),
];

fn cond<'a>(s: &'a CAPTControlPlaneStatus, type_: &str) -> Option<&'a Condition> {
    s.conditions.iter().find(|c| c.type_ == type_)
}

fn secret_failed_with(s: &CAPTControlPlaneStatus, reason: &str) -> bool {
    let sync_failed = s
        .secret_sync
        .as_ref()
        .is_some_and(|x| x.state == SecretSyncState::Failed && x.reason.as_deref() == Some(reason));
    let condition =
        cond(s, "SecretsReady").is_some_and(|c| c.status == "False" && c.reason == reason);
    sync_failed && condition && !s.secrets_ready
}

/// What each fault must show on its control plane.
fn expected(fault: FaultKind, s: &CAPTControlPlaneStatus) -> bool {
    match fault {
        FaultKind::ApplyError => {
            s.phase == Some(ControlPlanePhase::Failed)
                && !s.ready
                && s.failure_reason.is_none()
                && cond(s, "WorkspaceSynced")
                    .is_some_and(|c| c.status == "False" && c.reason == "WorkspaceError")
                && cond(s, "Ready").is_some_and(|c| {
                    c.reason == "WorkspaceError" && c.message.contains("InvalidParameterException")
                })
        }
        // Up once, then not ready while the Workspace flaps: initialized stays.
        FaultKind::Flap => {
            s.initialized && !s.ready && s.phase == Some(ControlPlanePhase::Creating)
        }
        // Without a kubeconfig in the connection secret, upstream's source is used: the
        // kubeconfig apply's `<cluster>-outputs-kubeconfig`.
        FaultKind::SecretMissingKubeconfig => {
            s.ready
                && s.secrets_ready
                && s.phase == Some(ControlPlanePhase::Ready)
                && s.secret_sync
                    .as_ref()
                    .is_some_and(|x| x.state == SecretSyncState::Ready)
        }
        FaultKind::SecretMissingCa => {
            s.ready
                && s.phase == Some(ControlPlanePhase::Ready)
                && secret_failed_with(s, "MissingKey")
        }
        FaultKind::SecretInvalidKubeconfig => {
            s.ready
                && s.phase == Some(ControlPlanePhase::Ready)
                && secret_failed_with(s, "InvalidKubeconfig")
        }
        // No endpoint anywhere: the control plane waits for it; the secret lacks its kubeconfig too.
        FaultKind::SecretNoEndpoint => {
            !s.ready
                && !s.initialized
                && s.phase == Some(ControlPlanePhase::Creating)
                && cond(s, "Ready").is_some_and(|c| c.message.contains("waiting for its endpoint"))
                && secret_failed_with(s, "MissingKey")
        }
    }
}

#[test]
fn each_fault_shows_its_condition_and_the_healthy_cluster_is_ready() {
    capt::actors::block_on(async {
        let tf = tfsim::Config {
            faults: CASES
                .iter()
                .map(|(name, kind)| (format!("{name}-eks-controlplane"), *kind))
                .collect(),
            flap_period: tfsim::Delay::Fixed(Duration::from_millis(1500)),
            ..fast_tfsim()
        };
        let w = World::start(tf).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        for (name, _) in CASES {
            w.apply(&cluster_yaml(name, "1.31")).await;
        }
        w.apply(&cluster_yaml(HEALTHY, "1.31")).await;
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        let secrets: Api<Secret> = Api::namespaced(w.client.clone(), "default");

        // All run concurrently in the world; each wait is bounded on its own.
        for (name, fault) in CASES {
            let what = format!("{name}: {fault}");
            let seen = std::cell::Cell::new(false);
            eventually(30, &what, || {
                let cps = cps.clone();
                let seen = &seen;
                async move {
                    let s = cps.get(name).await.ok()?.status?;
                    if fault == FaultKind::Flap {
                        // Once initialized, never back.
                        assert!(
                            !seen.get() || s.initialized,
                            "{name}: initialized went back: {s:?}"
                        );
                        seen.set(seen.get() || s.initialized);
                    }
                    expected(fault, &s).then_some(())
                }
            })
            .await;
        }

        let cp = eventually(30, "healthy control plane ready with secrets", || async {
            cps.get(HEALTHY).await.ok().filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.ready && s.secrets_ready)
            })
        })
        .await;
        let s = cp.status.unwrap();
        assert_eq!(s.phase, Some(ControlPlanePhase::Ready));
        assert_eq!(s.failure_reason, None);
        assert_eq!(s.secret_sync.map(|x| x.state), Some(SecretSyncState::Ready));
        let kc = secrets
            .get("good-kubeconfig")
            .await
            .expect("kubeconfig secret");
        assert_eq!(kc.type_.as_deref(), Some("cluster.x-k8s.io/secret"));
        assert!(kc.data.unwrap().contains_key("value"));

        // No kubeconfig secret was written from a faulty connection secret (a missing kubeconfig
        // key is not a fault: upstream's outputs-kubeconfig secret is the other source).
        for (name, fault) in CASES {
            if matches!(fault, FaultKind::ApplyError | FaultKind::SecretNoEndpoint)
                || (fault.as_str().starts_with("secret-")
                    && fault != FaultKind::SecretMissingKubeconfig)
            {
                let kc = secrets
                    .get_opt(&format!("{name}-kubeconfig"))
                    .await
                    .expect("read");
                assert!(kc.is_none(), "{name}: kubeconfig secret from a bad secret");
            }
        }
        w.stop().await;
    });
}
