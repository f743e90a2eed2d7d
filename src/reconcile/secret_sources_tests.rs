use super::*;

#[path = "decision_test_support.rs"]
#[allow(clippy::duplicate_mod)]
mod support;

#[test]
fn the_connection_secret_is_read_whenever_a_decision_needs_it() {
    // (settled, kubeconfig apply missing, endpoint in outputs, fetch)
    let table = [
        (false, false, true, true),
        (true, false, true, false),
        (true, true, true, true),
        (true, false, false, true),
    ];
    for (settled, kubeconfig_apply_missing, endpoint_in_outputs, want) in table {
        let n = ConnectionNeeds {
            settled,
            kubeconfig_apply_missing,
            endpoint_in_outputs,
        };
        assert_eq!(n.fetch(), want, "{n:?}");
    }
}

#[test]
fn a_settled_sync_reopens_when_either_source_changes() {
    use crate::api::{AddonKeys, SecretSyncStatus};
    let status = |state, version: &str| SecretSyncStatus {
        state,
        observed_secret_version: Some(version.to_string()),
        keys: AddonKeys::default(),
        ..Default::default()
    };
    let v = source_version("10", Some("20"));
    assert_eq!(v, "10+20");
    assert_eq!(source_version("10", None), "10");
    let ready = status(SecretSyncState::Ready, &v);
    assert!(secret_sync_settled(Some(&ready), Some(&v), true));
    assert!(
        !secret_sync_settled(Some(&ready), Some(&v), false),
        "outputs missing"
    );
    assert!(!secret_sync_settled(
        Some(&ready),
        Some(&source_version("10", Some("21"))),
        true
    ));
    assert!(!secret_sync_settled(Some(&ready), Some("10"), true));
    assert!(secret_sync_settled(
        Some(&status(SecretSyncState::Failed, &v)),
        Some(&v),
        false
    ));
    assert!(!secret_sync_settled(
        Some(&status(SecretSyncState::WaitingForSecret, &v)),
        Some(&v),
        true
    ));
    assert!(!secret_sync_settled(None, Some(&v), true));
}

mod decisions {
    use super::super::{reads_connection, settled, signs_token, source_version};
    use super::support::{apply, at, from, ready_workspace};
    use crate::api::{
        AddonKeys, CAPTControlPlane, SecretSyncState, SecretSyncStatus, Workspace,
        WorkspaceTemplateApply,
    };
    use crate::reconcile::controlplane::CpWorld;
    use crate::reconcile::secret_sync::{ConnectionSecret, OwnedSecret};
    use crate::reconcile::token_refresh::{RefreshSettings, TokenMode, TokenWorld};
    use serde_json::json;

    const VERSION: &str = "10+20";

    /// A control plane whose sync is in `state` on `VERSION`, or has no sync yet.
    fn cp(state: Option<SecretSyncState>) -> CAPTControlPlane {
        let mut cp: CAPTControlPlane = from(json!({
            "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
            "kind": "CAPTControlPlane",
            "metadata": {"name": "alpha", "namespace": "ns"},
            "spec": {"version": "1.31", "workspaceTemplateRef": {"name": "eks"}}
        }));
        cp.status = Some(Default::default());
        if let (Some(state), Some(st)) = (state, cp.status.as_mut()) {
            st.secret_sync = Some(SecretSyncStatus {
                state,
                observed_secret_version: Some(VERSION.into()),
                keys: AddonKeys::default(),
                ..Default::default()
            });
        }
        cp
    }

    /// What the caches show, one switch per input.
    #[derive(Clone, Copy)]
    struct Inputs {
        /// The connection secret exists (at `VERSION`, or a newer one when `changed`).
        connection: bool,
        changed: bool,
        /// `<cluster>-kubeconfig` and `<cluster>-ca` exist.
        outputs_exist: bool,
        /// The kubeconfig template exists but its apply does not.
        kubeconfig_apply_missing: bool,
        /// The EKS Workspace reports the endpoint.
        endpoint_in_outputs: bool,
        /// A generated token is due.
        token_due: bool,
        /// The connection secret's data was read.
        read: bool,
    }

    const BASE: Inputs = Inputs {
        connection: true,
        changed: false,
        outputs_exist: true,
        kubeconfig_apply_missing: false,
        endpoint_in_outputs: true,
        token_due: false,
        read: false,
    };

    struct Owned {
        eks_workspace: Workspace,
        kubeconfig_apply: WorkspaceTemplateApply,
        connection: ConnectionSecret,
    }

    fn owned() -> Owned {
        Owned {
            eks_workspace: ready_workspace("alpha-eks", json!({"cluster_endpoint": "https://x"})),
            kubeconfig_apply: apply(
                "alpha-kubeconfig-apply",
                json!({}),
                json!({"templateRef": {"name": "eks-kubeconfig-template"}}),
                json!({}),
            ),
            connection: ConnectionSecret {
                resource_version: VERSION.into(),
                data: Default::default(),
            },
        }
    }

    fn world<'a>(i: Inputs, o: &'a Owned) -> CpWorld<'a> {
        let secret = i.outputs_exist.then_some(OwnedSecret { data_hash: None });
        let version = if i.changed {
            source_version("11", Some("20"))
        } else {
            VERSION.to_string()
        };
        let mode = if i.token_due {
            TokenMode::Generated
        } else {
            TokenMode::TerraformOutput
        };
        CpWorld {
            cluster: None,
            template_exists: true,
            refused: None,
            eks_apply: None,
            eks_workspace: i.endpoint_in_outputs.then_some(&o.eks_workspace),
            vpc_workspace: None,
            vpc_pending: false,
            vpc_ready_since: None,
            spot_check_template: false,
            spot_create_template: false,
            spot_check_apply: None,
            spot_check_workspace: None,
            spot_create_apply: None,
            kubeconfig_template_ns: Some("ns".into()),
            kubeconfig_apply: (!i.kubeconfig_apply_missing).then_some(&o.kubeconfig_apply),
            connection: i.read.then_some(&o.connection),
            source_version: i.connection.then_some(version),
            kubeconfig_secret: secret.clone(),
            ca_secret: secret,
            now: at(0),
            token: Some(TokenWorld {
                settings: RefreshSettings {
                    mode,
                    ..RefreshSettings::default()
                },
                key: "ns/alpha".into(),
                issued: None,
                fresh: None,
            }),
        }
    }

    #[test]
    fn settled_reads_and_token_signing_table() {
        use SecretSyncState::{Failed, Ready, WaitingForSecret};
        let o = owned();
        // (case, sync state, inputs, settled, reads the connection, signs a token)
        type Row = (
            &'static str,
            Option<SecretSyncState>,
            Inputs,
            bool,
            bool,
            bool,
        );
        let table: [Row; 12] = [
            (
                "ready on this version",
                Some(Ready),
                BASE,
                true,
                false,
                false,
            ),
            (
                "failed on this version",
                Some(Failed),
                BASE,
                true,
                false,
                false,
            ),
            ("no sync yet", None, BASE, false, true, false),
            (
                "still waiting",
                Some(WaitingForSecret),
                BASE,
                false,
                true,
                false,
            ),
            (
                "a source changed",
                Some(Ready),
                Inputs {
                    changed: true,
                    ..BASE
                },
                false,
                true,
                false,
            ),
            (
                "an output secret is missing",
                Some(Ready),
                Inputs {
                    outputs_exist: false,
                    ..BASE
                },
                false,
                true,
                false,
            ),
            (
                "no connection secret",
                None,
                Inputs {
                    connection: false,
                    ..BASE
                },
                false,
                false,
                false,
            ),
            (
                "the kubeconfig apply needs the CA",
                Some(Ready),
                Inputs {
                    kubeconfig_apply_missing: true,
                    ..BASE
                },
                true,
                true,
                false,
            ),
            (
                "the endpoint comes from the secret",
                Some(Ready),
                Inputs {
                    endpoint_in_outputs: false,
                    ..BASE
                },
                true,
                true,
                false,
            ),
            (
                "the token is due",
                Some(Ready),
                Inputs {
                    token_due: true,
                    ..BASE
                },
                true,
                true,
                true,
            ),
            (
                "a new connection secret was read",
                None,
                Inputs { read: true, ..BASE },
                false,
                true,
                true,
            ),
            (
                "a settled one read for the endpoint",
                Some(Ready),
                Inputs {
                    read: true,
                    endpoint_in_outputs: false,
                    ..BASE
                },
                true,
                true,
                false,
            ),
        ];
        for (case, state, inputs, want_settled, want_read, want_sign) in table {
            let (cp, w) = (cp(state), world(inputs, &o));
            assert_eq!(settled(&cp, &w), want_settled, "{case}: settled");
            assert_eq!(reads_connection(&cp, &w), want_read, "{case}: reads");
            assert_eq!(signs_token(&cp, &w), want_sign, "{case}: signs");
        }
    }
}
