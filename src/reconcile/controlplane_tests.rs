//! Table tests of the CAPTControlPlane decision.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::*;
use crate::reconcile::kubeconfig::tests::token_kubeconfig;
use crate::reconcile::ownership::DATA_HASH_ANNOTATION;
use crate::reconcile::plan::BlockKind;
use crate::reconcile::secrets::reasons as sr;

#[path = "decision_test_support.rs"]
#[allow(clippy::duplicate_mod)]
mod support;
use support::cond;
use support::*;

const NAME: &str = "alpha";
const EKS_APPLY: &str = "alpha-eks-controlplane-apply";
const EKS_WS: &str = "alpha-eks-controlplane";
const HOST: &str = "ABCD1234.gr7.ap-northeast-1.eks.amazonaws.com";
const FAKE_DER: [u8; 8] = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];

fn cp_json() -> Value {
    json!({
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTControlPlane",
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "uid": "uid-cp",
            "generation": 1,
            "creationTimestamp": at(0).0.to_string(),
            "finalizers": [finalizers::CAPT_CONTROL_PLANE],
            "ownerReferences": [cluster_owner_ref(NAME)],
        },
        "spec": {
            "version": "1.31",
            "workspaceTemplateRef": {"name": "eks-controlplane-template", "namespace": NS},
            "controlPlaneConfig": {
                "region": "ap-northeast-1",
                "endpointAccess": {"public": true, "private": false},
            },
            "additionalTags": {"Environment": "dev"},
            "workspaceTemplateApplyName": EKS_APPLY,
        },
    })
}

fn cp(edit: impl FnOnce(&mut Value)) -> CAPTControlPlane {
    edited(cp_json(), edit)
}

fn ca_pem() -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(FAKE_DER)
    )
}

fn connection_data() -> BTreeMap<String, Vec<u8>> {
    [
        ("kubeconfig", token_kubeconfig(&format!("https://{HOST}"))),
        (
            "cluster_certificate_authority_data",
            STANDARD.encode(ca_pem()),
        ),
        ("cluster_endpoint", format!("https://{HOST}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_bytes()))
    .collect()
}

fn connection(data: BTreeMap<String, Vec<u8>>) -> ConnectionSecret {
    ConnectionSecret {
        resource_version: "1".into(),
        data,
    }
}

/// Inputs of one decision.
struct W {
    cluster: Option<Cluster>,
    template_exists: bool,
    eks_apply: Option<WorkspaceTemplateApply>,
    eks_workspace: Option<Workspace>,
    vpc_workspace: Option<String>,
    vpc_pending: bool,
    vpc_ready_since: Option<Time>,
    spot_check_template: bool,
    spot_create_template: bool,
    spot_check_apply: Option<WorkspaceTemplateApply>,
    spot_check_workspace: Option<Workspace>,
    spot_create_apply: Option<WorkspaceTemplateApply>,
    kubeconfig_template_ns: Option<String>,
    kubeconfig_apply: Option<WorkspaceTemplateApply>,
    connection: Option<ConnectionSecret>,
    source_version: Option<String>,
    kubeconfig_secret: Option<OwnedSecret>,
    ca_secret: Option<OwnedSecret>,
    refused: Option<crate::reconcile::grants::RefNotPermitted>,
    now: Time,
}

impl Default for W {
    fn default() -> Self {
        W {
            cluster: Some(cluster(NAME)),
            template_exists: true,
            eks_apply: None,
            eks_workspace: None,
            vpc_workspace: None,
            vpc_pending: false,
            vpc_ready_since: None,
            spot_check_template: false,
            spot_create_template: false,
            spot_check_apply: None,
            spot_check_workspace: None,
            spot_create_apply: None,
            kubeconfig_template_ns: None,
            kubeconfig_apply: None,
            connection: None,
            source_version: None,
            kubeconfig_secret: None,
            ca_secret: None,
            refused: None,
            now: at(0),
        }
    }
}

impl W {
    /// The decision's world (no token state).
    fn world(&self) -> CpWorld<'_> {
        CpWorld {
            cluster: self.cluster.as_ref(),
            template_exists: self.template_exists,
            refused: self.refused.clone(),
            eks_apply: self.eks_apply.as_ref(),
            eks_workspace: self.eks_workspace.as_ref(),
            vpc_workspace: self.vpc_workspace.clone(),
            vpc_pending: self.vpc_pending,
            vpc_ready_since: self.vpc_ready_since.clone(),
            spot_check_template: self.spot_check_template,
            spot_create_template: self.spot_create_template,
            spot_check_apply: self.spot_check_apply.as_ref(),
            spot_check_workspace: self.spot_check_workspace.as_ref(),
            spot_create_apply: self.spot_create_apply.as_ref(),
            kubeconfig_template_ns: self.kubeconfig_template_ns.clone(),
            kubeconfig_apply: self.kubeconfig_apply.as_ref(),
            connection: self.connection.as_ref(),
            source_version: self.source_version.clone(),
            kubeconfig_secret: self.kubeconfig_secret.clone(),
            ca_secret: self.ca_secret.clone(),
            now: self.now.clone(),
            token: None,
        }
    }

    fn run(&self, cp: &CAPTControlPlane) -> Plan<CAPTControlPlaneStatus> {
        let plan = decide(cp, &self.world());
        assert_no_cluster_writes(&plan);
        plan
    }

    /// A second decision on `cp` carrying the status the first one wrote warns no more.
    fn assert_warned_once(
        &self,
        cp: &CAPTControlPlane,
        written: CAPTControlPlaneStatus,
        case: &str,
    ) {
        let mut again = cp.clone();
        again.status = Some(written);
        assert!(
            warnings(&self.run(&again)).is_empty(),
            "{case}: announced once"
        );
    }

    /// The EKS apply as a first decision creates it, applied to Workspace `alpha-eks-controlplane`.
    fn with_eks(mut self, ws: Workspace) -> Self {
        let plan = W::default().run(&cp(|_| {}));
        let body = created(&plan, "WorkspaceTemplateApply")[0].body.clone();
        let mut a: WorkspaceTemplateApply = from(body);
        a.status = Some(from(json!({
            "workspaceName": EKS_WS, "applied": true, "lastAppliedTime": at(60).0.to_string(),
        })));
        self.eks_apply = Some(a);
        self.eks_workspace = Some(ws);
        self
    }
}

fn eks_outputs(endpoint: &str) -> Value {
    json!({
        "cluster_endpoint": endpoint,
        "cluster_name": NAME,
        "karpenter": {"queue_name": "q", "service_account": {"annotations": {"eks.amazonaws.com/role-arn": "arn"}}},
    })
}

fn observed(s: &CAPTControlPlaneStatus) -> impl FnOnce(&mut Value) {
    let v = serde_json::to_value(s).unwrap();
    move |cp: &mut Value| cp["status"] = v
}

#[test]
fn waits_for_the_owner_reference_cluster_api_sets_and_never_adopts() {
    for (case, owned, cached, waits) in OWNER_WAIT_CASES {
        let c = cp(|v| {
            remove(v, &["metadata", "finalizers"]);
            if !owned {
                remove(v, &["metadata", "ownerReferences"]);
            }
        });
        let w = W {
            cluster: cached.then(|| cluster(NAME)),
            ..W::default()
        };
        let plan = w.run(&c);
        assert_owner_wait(
            &plan,
            case,
            finalizers::CAPT_CONTROL_PLANE,
            waits,
            reasons::CREATING,
        );
        if waits {
            assert_eq!(
                cond_state(&st(&plan).conditions, ct::READY),
                state(
                    "False",
                    reasons::CREATING,
                    messages::WAITING_FOR_OWNER_CLUSTER
                ),
                "{case}"
            );
        } else {
            assert_eq!(created(&plan, "WorkspaceTemplateApply").len(), 1, "{case}");
        }
    }
}

#[test]
fn pause_stops_before_any_write() {
    let paused = W {
        cluster: Some(cluster_with(NAME, json!({}), json!({"paused": true}))),
        ..W::default()
    };
    let plan = paused.run(&cp(|_| {}));
    assert!(plan.ops.is_empty() && plan.status.is_none());
    assert_eq!(plan.blocked.map(|b| b.reason), Some("Paused"));
    let plan = W::default().run(&cp(|v| {
        v["metadata"]["annotations"] = json!({"cluster.x-k8s.io/paused": "true"})
    }));
    assert!(plan.ops.is_empty());
    assert_eq!(plan.blocked.map(|b| b.reason), Some("Paused"));
}

#[test]
fn invalid_spec_and_missing_template_fail_the_phase() {
    type Edit = fn(&mut Value);
    // (case, edit, template exists, reason, class)
    let table: [(&str, Edit, bool, &str, BlockKind); 3] = [
        (
            "empty version",
            |v| v["spec"]["version"] = json!(""),
            true,
            "InvalidSpec",
            BlockKind::InvalidSpec,
        ),
        (
            "template missing",
            |_| {},
            false,
            reasons::WORKSPACE_TEMPLATE_NOT_FOUND,
            BlockKind::Waiting,
        ),
        (
            "template missing, namespace from the control plane",
            |v| v["spec"]["workspaceTemplateRef"] = json!({"name": "eks"}),
            false,
            reasons::WORKSPACE_TEMPLATE_NOT_FOUND,
            BlockKind::Waiting,
        ),
    ];
    for (case, edit, template_exists, reason, class) in table {
        let w = W {
            template_exists,
            ..W::default()
        };
        let c = cp(edit);
        let plan = w.run(&c);
        let s = st(&plan).clone();
        assert_eq!(s.phase, Some(ControlPlanePhase::Failed), "{case}");
        assert!(!s.ready, "{case}");
        let ready = cond(&s.conditions, ct::READY).expect(case);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason),
            "{case}"
        );
        let failed = cond(&s.conditions, ct::FAILED).expect(case);
        assert_eq!(
            (failed.status.as_str(), failed.reason.as_str()),
            ("True", reason),
            "{case}"
        );
        let b = plan.blocked.as_ref().expect(case);
        assert_eq!((b.kind, b.reason), (class, reason), "{case}");
        assert!(
            created(&plan, "WorkspaceTemplateApply").is_empty(),
            "{case}"
        );
        assert_eq!(warnings(&plan), vec![reason], "{case}");
        if reason == reasons::WORKSPACE_TEMPLATE_NOT_FOUND {
            assert!(
                ready.message.contains("default/eks"),
                "{case}: {}",
                ready.message
            );
        }
        w.assert_warned_once(&c, s, case);
    }
}

#[test]
fn creates_the_eks_apply_and_arms_the_control_plane_timer() {
    // (case, vpc workspace, apply name recorded)
    let table = [
        ("no VPC apply", None, true),
        ("VPC apply exists", Some("alpha-vpc"), true),
        ("apply name not recorded yet", None, false),
    ];
    for (case, vpc, recorded) in table {
        let c = cp(|v| {
            if !recorded {
                remove(v, &["spec", "workspaceTemplateApplyName"]);
            }
        });
        let w = W {
            vpc_workspace: vpc.map(str::to_string),
            ..W::default()
        };
        let plan = w.run(&c);
        let create = created(&plan, "WorkspaceTemplateApply");
        assert_eq!(create.len(), 1, "{case}");
        let child = create[0];
        assert_eq!(child.name, EKS_APPLY);
        let spec = &child.body["spec"];
        assert_eq!(
            spec["templateRef"],
            json!({"name": "eks-controlplane-template", "namespace": NS})
        );
        assert_eq!(
            spec["variables"],
            json!({
                "cluster_name": NAME,
                "kubernetes_version": "1.31",
                "region": "ap-northeast-1",
                "endpoint_public_access": "true",
                "endpoint_private_access": "false",
                "tags_Environment": "dev",
            }),
            "{case}"
        );
        assert_eq!(
            spec["writeConnectionSecretToRef"],
            json!({"name": "alpha-eks-connection", "namespace": NS})
        );
        let waits = match vpc {
            Some(n) => json!([{"name": n, "namespace": NS}]),
            None => Value::Null,
        };
        assert_eq!(spec["waitForWorkspaces"], waits, "{case}");
        let owner = &child.body["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["controller"].as_bool()),
            (Some("CAPTControlPlane"), Some(true))
        );
        let name_patch = json!({"spec": {"workspaceTemplateApplyName": EKS_APPLY}});
        assert_eq!(
            self_patches(&plan).contains(&&name_patch),
            !recorded,
            "{case}"
        );

        let s = st(&plan);
        assert!(s.external_managed_control_plane);
        assert_eq!(s.phase, Some(ControlPlanePhase::Creating));
        assert_eq!(
            cond_state(&s.conditions, ct::READY),
            state("False", reasons::CREATING, messages::CONTROL_PLANE_CREATING)
        );
        // While the VPC is not ready the deadline is vpcReadyTimeout; afterwards controlPlaneTimeout.
        let limit = if vpc.is_some() { 15 * 60 } else { 30 * 60 };
        assert_eq!(
            armed(&plan, CONTROL_PLANE_TIMER),
            Some(after(limit)),
            "{case}"
        );
        assert!(plan.blocked.is_none(), "{case}");
        assert!(!s.secrets_ready);
        assert_eq!(
            cond(&s.conditions, SECRETS_READY).map(|c| (c.status.as_str(), c.reason.as_str())),
            Some(("False", sr::WAITING_FOR_SECRET))
        );
    }
}

#[test]
fn ready_workspace_sets_endpoint_without_scheme_and_mirrors_outputs() {
    // (case, output endpoint, secret endpoint, host, port)
    let table = [
        (
            "EKS output",
            Some(format!("https://{HOST}")),
            None,
            HOST,
            443,
        ),
        (
            "output with port",
            Some("https://api.example.com:8443/".to_string()),
            None,
            "api.example.com",
            8443,
        ),
        (
            "host only",
            Some("api.example.com".to_string()),
            None,
            "api.example.com",
            443,
        ),
        (
            "from the connection secret",
            None,
            Some("https://sec.example.com"),
            "sec.example.com",
            443,
        ),
        (
            "base64 in the connection secret",
            None,
            Some("aHR0cHM6Ly9iNjQuZXhhbXBsZS5jb20="),
            "b64.example.com",
            443,
        ),
    ];
    for (case, output, secret, host, port) in table {
        let outputs = match &output {
            Some(e) => eks_outputs(e),
            None => json!({"cluster_name": NAME}),
        };
        let mut w = W::default().with_eks(ready_workspace(EKS_WS, outputs.clone()));
        w.now = at(mins(10));
        if let Some(e) = secret {
            w.connection = Some(connection(BTreeMap::from([(
                "cluster_endpoint".to_string(),
                e.as_bytes().to_vec(),
            )])));
        }
        let plan = w.run(&cp(|_| {}));
        let s = st(&plan);
        assert!(s.ready && s.initialized, "{case}");
        assert_eq!(s.endpoint, Some(format!("{host}:{port}")), "{case}");
        assert_eq!(s.phase, Some(ControlPlanePhase::Ready));
        assert_eq!(
            cond_state(&s.conditions, ct::READY),
            state("True", reasons::READY, messages::CONTROL_PLANE_READY)
        );
        assert_eq!(
            cond(&s.conditions, ct::INITIALIZED).map(|c| c.status.as_str()),
            Some("True")
        );
        assert_eq!(s.version.as_deref(), Some("1.31"));
        assert_eq!(
            (s.failure_reason.as_deref(), s.failure_message.as_deref()),
            (None, None)
        );
        let mirror = s.workspace_status.as_ref().unwrap();
        assert!(mirror.ready);
        assert_eq!(mirror.state.as_deref(), Some("Available"));
        assert_eq!(
            mirror.at_provider.as_ref().unwrap()["outputs"],
            outputs,
            "{case}: atProvider mirrored with nested outputs"
        );
        assert_eq!(
            s.workspace_template_status
                .as_ref()
                .unwrap()
                .last_applied_revision,
            Some(at(60).0.to_string())
        );
        assert!(
            self_patches(&plan).contains(
                &&json!({"spec": {"controlPlaneEndpoint": {"host": host, "port": port}}})
            ),
            "{case}"
        );
        assert!(cancelled(&plan, CONTROL_PLANE_TIMER), "{case}");
        assert_eq!(normals(&plan).first(), Some(&reasons::READY), "{case}");
        assert!(plan.blocked.is_none());
    }
}

#[test]
fn endpoint_already_in_spec_is_not_rewritten() {
    let w = W::default().with_eks(ready_workspace(
        EKS_WS,
        eks_outputs(&format!("https://{HOST}")),
    ));
    let plan = w.run(&cp(|v| {
        v["spec"]["controlPlaneEndpoint"] = json!({"host": HOST, "port": 443})
    }));
    assert!(
        self_patches(&plan)
            .iter()
            .all(|p| p["spec"].get("controlPlaneEndpoint").is_none())
    );
    assert!(st(&plan).ready);
}

#[test]
fn ready_workspace_without_a_usable_endpoint_is_not_ready() {
    // (case, outputs, warning)
    let table = [
        ("no endpoint", json!({"cluster_name": NAME}), vec![]),
        (
            "unusable endpoint",
            eks_outputs("ftp://x"),
            vec![reasons::ENDPOINT_ERROR],
        ),
    ];
    for (case, outputs, warn) in table {
        let w = W::default().with_eks(ready_workspace(EKS_WS, outputs));
        let plan = w.run(&cp(|_| {}));
        let s = st(&plan);
        assert!(!s.ready && !s.initialized, "{case}");
        assert_eq!(s.phase, Some(ControlPlanePhase::Creating), "{case}");
        assert_eq!(
            cond(&s.conditions, ct::READY).map(|c| c.message.as_str()),
            Some("Control plane is up; waiting for its endpoint"),
            "{case}"
        );
        assert_eq!(warnings(&plan), warn, "{case}");
        assert!(armed(&plan, CONTROL_PLANE_TIMER).is_some(), "{case}");
    }
}

#[test]
fn terraform_errors_are_terminal_or_waiting_by_message() {
    let terminal =
        "apply failed: operation error EKS: CreateCluster, InvalidParameterException: bad subnet";
    let retryable = "apply failed: ThrottlingException: Rate exceeded";
    // (case, message, phase, blocked class, warning)
    let table = [
        (
            "non-retryable",
            terminal,
            ControlPlanePhase::Failed,
            Some(BlockKind::DependencyFailed),
            vec![reasons::WORKSPACE_ERROR],
        ),
        (
            "retryable",
            retryable,
            ControlPlanePhase::Creating,
            None,
            vec![],
        ),
    ];
    for (case, msg, phase, class, warn) in table {
        let w = W {
            now: at(mins(3)),
            ..W::default()
        }
        .with_eks(failed_workspace(EKS_WS, msg));
        let c = cp(|_| {});
        let plan = w.run(&c);
        let s = st(&plan).clone();
        assert_eq!(s.phase, Some(phase), "{case}");
        assert!(!s.ready, "{case}");
        assert_eq!(plan.blocked.as_ref().map(|b| b.kind), class, "{case}");
        assert_eq!(warnings(&plan), warn, "{case}");
        assert_eq!(
            s.workspace_template_status
                .as_ref()
                .unwrap()
                .last_failure_message
                .as_deref(),
            (phase == ControlPlanePhase::Failed).then_some(msg),
            "{case}"
        );
        let ready = cond(&s.conditions, ct::READY).unwrap();
        if phase == ControlPlanePhase::Failed {
            assert_eq!(
                (ready.reason.as_str(), ready.message.as_str()),
                (reasons::WORKSPACE_ERROR, msg)
            );
            assert_eq!(
                s.failure_reason, None,
                "recoverable (an IAM fix outside the spec): never copied to the Cluster for good"
            );
            assert_eq!(armed(&plan, CONTROL_PLANE_TIMER), None);
            w.assert_warned_once(&c, s.clone(), case);
        } else {
            assert_eq!(ready.reason, reasons::CREATING);
            assert_eq!(
                ready.message,
                format!("{}: {msg}", messages::CONTROL_PLANE_CREATING)
            );
            assert_eq!(armed(&plan, CONTROL_PLANE_TIMER), Some(after(27 * 60)));
        }
    }
    for (msg, want) in [
        (terminal, true),
        ("AccessDenied: not authorized", true),
        ("UnauthorizedOperation", true),
        (retryable, false),
        ("connection reset by peer", false),
    ] {
        assert_eq!(non_retryable(msg), want, "{msg}");
    }
}

#[test]
fn control_plane_timeout_after_thirty_minutes() {
    // (case, now, timed out, timer left)
    let table = [
        ("ten minutes in", mins(10), false, Some(20 * 60)),
        ("one second before", mins(30) - 1, false, Some(1)),
        ("at the deadline", mins(30), true, None),
        ("past the deadline", mins(45), true, None),
    ];
    for (case, now, timed_out, left) in table {
        let w = W {
            now: at(now),
            ..W::default()
        }
        .with_eks(creating_workspace(EKS_WS));
        let c = cp(|_| {});
        let plan = w.run(&c);
        let s = st(&plan).clone();
        assert_eq!(armed(&plan, CONTROL_PLANE_TIMER), left.map(after), "{case}");
        if timed_out {
            let m = "Control plane not ready within 30 minutes";
            assert_eq!(s.phase, Some(ControlPlanePhase::Failed), "{case}");
            assert_eq!(
                cond_state(&s.conditions, ct::READY),
                state("False", reasons::CONTROL_PLANE_TIMEOUT, m)
            );
            assert_eq!(s.failure_reason, None, "a timeout is recoverable: {case}");
            assert_eq!(
                warnings(&plan),
                vec![reasons::CONTROL_PLANE_TIMEOUT],
                "{case}"
            );
            w.assert_warned_once(&c, s, case);
        } else {
            assert_eq!(s.phase, Some(ControlPlanePhase::Creating), "{case}");
            assert_eq!(s.failure_reason, None, "{case}");
        }
    }
}

#[test]
fn recovers_after_timeout_when_the_workspace_succeeds() {
    let late = W {
        now: at(mins(40)),
        ..W::default()
    }
    .with_eks(creating_workspace(EKS_WS));
    let mut timed_out = st(&late.run(&cp(|_| {}))).clone();
    assert_eq!(timed_out.phase, Some(ControlPlanePhase::Failed));
    assert_eq!(timed_out.failure_reason, None);
    // A status written by an earlier version with a failure reason is cleared too.
    timed_out.failure_reason = Some(reasons::CONTROL_PLANE_TIMEOUT.into());
    timed_out.failure_message = Some("old".into());

    let w = W {
        now: at(mins(50)),
        ..W::default()
    }
    .with_eks(ready_workspace(
        EKS_WS,
        eks_outputs(&format!("https://{HOST}")),
    ));
    let plan = w.run(&cp(observed(&timed_out)));
    let s = st(&plan);
    assert_eq!(s.phase, Some(ControlPlanePhase::Ready));
    assert!(s.ready && s.initialized);
    assert_eq!(
        (s.failure_reason.as_deref(), s.failure_message.as_deref()),
        (None, None)
    );
    assert_eq!(
        cond(&s.conditions, ct::FAILED).map(|c| c.status.as_str()),
        Some("False")
    );
    assert!(cancelled(&plan, CONTROL_PLANE_TIMER));
}

#[test]
fn initialized_never_goes_back() {
    // A Ready control plane whose Workspace stops being Ready.
    let ready = W::default().with_eks(ready_workspace(
        EKS_WS,
        eks_outputs(&format!("https://{HOST}")),
    ));
    let up = st(&ready.run(&cp(|_| {}))).clone();
    assert!(up.initialized);
    let flapping = workspace(
        EKS_WS,
        json!({"conditions": [
            xp_cond("Synced", true, "ReconcileSuccess", None),
            xp_cond("Ready", false, "Unavailable", None),
        ]}),
    );
    let w = W {
        now: at(mins(90)),
        ..W::default()
    }
    .with_eks(flapping);
    let plan = w.run(&cp(observed(&up)));
    let s = st(&plan);
    assert!(!s.ready);
    assert!(s.initialized, "initialized never goes back");
    assert_eq!(
        cond(&s.conditions, ct::INITIALIZED).map(|c| c.status.as_str()),
        Some("True")
    );
    assert_eq!(
        s.phase,
        Some(ControlPlanePhase::Creating),
        "no timeout once initialized"
    );
    assert_eq!(s.failure_reason, None);
    assert_eq!(armed(&plan, CONTROL_PLANE_TIMER), None);
}

#[test]
fn version_change_patches_the_apply_and_reports_the_upgrade() {
    // The new version reaches the apply; status keeps the running version until applied.
    let w = W::default().with_eks(ready_workspace(
        EKS_WS,
        eks_outputs(&format!("https://{HOST}")),
    ));
    let up = st(&w.run(&cp(|_| {}))).clone();
    assert_eq!(up.version.as_deref(), Some("1.31"));
    let bumped = cp(|v| {
        v["spec"]["version"] = json!("1.32");
        v["metadata"]["generation"] = json!(2);
        observed(&up)(v);
    });
    let plan = w.run(&bumped);
    let p = patched(&plan, "WorkspaceTemplateApply");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].name, EKS_APPLY);
    assert_eq!(p[0].body["spec"]["variables"]["kubernetes_version"], "1.32");
    assert!(created(&plan, "WorkspaceTemplateApply").is_empty());
    let s = st(&plan);
    assert_eq!(s.version.as_deref(), Some("1.31"));
    assert_eq!(
        cond_state(&s.conditions, ct::CREATING),
        state("True", "Upgrading", "Upgrading from 1.31 to 1.32")
    );
}

#[test]
fn spot_role_flow_never_gates_the_control_plane() {
    let check_ws =
        |exists: bool| ready_workspace("alpha-spot-role-check", json!({"role_exists": exists}));
    let check_apply = || {
        apply(
            "alpha-spot-role-check",
            json!({}),
            json!({"templateRef": {"name": "spot-role-check", "namespace": NS}}),
            json!({}),
        )
    };
    // (case, check template, create template, check apply, check workspace, created applies)
    let table = [
        ("no templates", false, false, None, None, vec![EKS_APPLY]),
        (
            "check created",
            true,
            true,
            None,
            None,
            vec!["alpha-spot-role-check", EKS_APPLY],
        ),
        (
            "role exists",
            true,
            true,
            Some(check_apply()),
            Some(check_ws(true)),
            vec![EKS_APPLY],
        ),
        (
            "role missing",
            true,
            true,
            Some(check_apply()),
            Some(check_ws(false)),
            vec!["alpha-spot-role-create", EKS_APPLY],
        ),
        (
            "role missing, no create template",
            true,
            false,
            Some(check_apply()),
            Some(check_ws(false)),
            vec![EKS_APPLY],
        ),
    ];
    for (case, check_t, create_t, check_a, check_w, want) in table {
        let w = W {
            spot_check_template: check_t,
            spot_create_template: create_t,
            spot_check_apply: check_a,
            spot_check_workspace: check_w,
            ..W::default()
        };
        let plan = w.run(&cp(|_| {}));
        let names: Vec<&str> = created(&plan, "WorkspaceTemplateApply")
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, want, "{case}");
        assert!(plan.blocked.is_none(), "{case}");
        for c in created(&plan, "WorkspaceTemplateApply") {
            let spec = &c.body["spec"];
            match c.name.as_str() {
                "alpha-spot-role-check" => {
                    assert_eq!(
                        spec["templateRef"],
                        json!({"name": "spot-role-check", "namespace": NS})
                    );
                    assert_eq!(spec["retainWorkspaceOnDelete"], json!(false));
                }
                "alpha-spot-role-create" => {
                    assert_eq!(
                        spec["templateRef"],
                        json!({"name": "spot-role-create", "namespace": NS})
                    );
                    assert_eq!(
                        spec["retainWorkspaceOnDelete"],
                        json!(true),
                        "the account-wide role is kept"
                    );
                }
                _ => {}
            }
        }
    }
}

#[test]
fn kubeconfig_apply_after_ready() {
    // (case, kubeconfig template namespace, region in spec, Cluster region annotation, created)
    let table = [
        ("no template", None, true, None, false),
        ("template, region from spec", Some(NS), true, None, true),
        (
            "region from the Cluster",
            Some(NS),
            false,
            Some("eu-west-1"),
            true,
        ),
        ("no region anywhere", Some(NS), false, None, false),
    ];
    for (case, tns, spec_region, annotation, want) in table {
        let mut w = W::default().with_eks(ready_workspace(
            EKS_WS,
            eks_outputs(&format!("https://{HOST}")),
        ));
        w.kubeconfig_template_ns = tns.map(str::to_string);
        w.connection = Some(connection(connection_data()));
        if let Some(r) = annotation {
            w.cluster = Some(cluster_with(
                NAME,
                json!({"cluster.x-k8s.io/region": r}),
                json!({}),
            ));
        }
        let c = cp(|v| {
            if !spec_region {
                remove(v, &["spec", "controlPlaneConfig"]);
            }
        });
        let plan = w.run(&c);
        let kc: Vec<_> = created(&plan, "WorkspaceTemplateApply")
            .into_iter()
            .filter(|c| c.name == "alpha-kubeconfig-apply")
            .collect();
        assert_eq!(kc.len(), usize::from(want), "{case}");
        if let Some(k) = kc.first() {
            let spec = &k.body["spec"];
            assert_eq!(
                spec["templateRef"],
                json!({"name": "eks-kubeconfig-template", "namespace": NS})
            );
            assert_eq!(spec["variables"]["cluster_name"], NAME);
            assert_eq!(
                spec["variables"]["region"],
                annotation.unwrap_or("ap-northeast-1"),
                "{case}"
            );
            assert_eq!(
                spec["variables"]["cluster_endpoint"],
                format!("https://{HOST}:443")
            );
            assert_eq!(
                spec["writeConnectionSecretToRef"],
                json!({"name": "alpha-outputs-kubeconfig", "namespace": NS})
            );
            assert_eq!(
                spec["waitForWorkspaces"],
                json!([{"name": EKS_WS, "namespace": NS}])
            );
        }
    }
}

#[test]
fn secrets_ready_only_once_the_kubeconfig_secret_exists() {
    // Secrets are ready only once the kubeconfig secret exists.
    let base = || {
        let mut w = W::default().with_eks(ready_workspace(
            EKS_WS,
            eks_outputs(&format!("https://{HOST}")),
        ));
        w.connection = Some(connection(connection_data()));
        w
    };
    let plan = base().run(&cp(|_| {}));
    let first = st(&plan).clone();
    assert_eq!(
        first.secret_sync.as_ref().unwrap().state,
        SecretSyncState::Ready
    );
    assert!(
        !first.secrets_ready,
        "the kubeconfig secret is only planned"
    );
    assert_eq!(
        cond(&first.conditions, SECRETS_READY).map(|c| (c.status.as_str(), c.reason.as_str())),
        Some(("False", "WritingSecrets"))
    );
    let written: Vec<(String, &'static str)> = plan
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::WriteSecret(s) => Some((s.name.clone(), s.type_)),
            _ => None,
        })
        .collect();
    assert_eq!(
        written,
        vec![
            ("alpha-kubeconfig".to_string(), "cluster.x-k8s.io/secret"),
            ("alpha-ca".to_string(), "Opaque"),
        ]
    );
    let hash = |name: &str| {
        plan.ops.iter().find_map(|o| match o {
            Op::WriteSecret(s) if s.name == name => Some(OwnedSecret {
                data_hash: s.annotations.get(DATA_HASH_ANNOTATION).cloned(),
            }),
            _ => None,
        })
    };

    let mut w = base();
    w.connection = None;
    // The caches show the version the first sync settled on.
    w.source_version = (first.secret_sync.as_ref()).and_then(|s| s.observed_secret_version.clone());
    w.kubeconfig_secret = hash("alpha-kubeconfig");
    w.ca_secret = hash("alpha-ca");
    let plan = w.run(&cp(observed(&first)));
    let s = st(&plan);
    assert!(s.secrets_ready);
    assert_eq!(
        cond(&s.conditions, SECRETS_READY).map(|c| (c.status.as_str(), c.reason.as_str())),
        Some(("True", "Ready"))
    );
    assert!(plan.ops.iter().all(|o| !matches!(o, Op::WriteSecret(_))));
}

#[test]
fn secret_failures_show_in_secrets_ready_and_never_block_the_control_plane() {
    type Edit = fn(&mut BTreeMap<String, Vec<u8>>);
    let table: [(&str, Edit, &str); 4] = [
        (
            "missing kubeconfig",
            |d| {
                d.remove("kubeconfig");
            },
            sr::MISSING_KEY,
        ),
        (
            "missing CA",
            |d| {
                d.remove("cluster_certificate_authority_data");
            },
            sr::MISSING_KEY,
        ),
        (
            "invalid kubeconfig",
            |d| {
                d.insert("kubeconfig".into(), b"{{{ not yaml".to_vec());
            },
            sr::INVALID_KUBECONFIG,
        ),
        (
            "invalid CA",
            |d| {
                d.insert("cluster_certificate_authority_data".into(), b"%%%".to_vec());
            },
            sr::INVALID_CERTIFICATE,
        ),
    ];
    for (case, edit, reason) in table {
        let mut data = connection_data();
        edit(&mut data);
        let mut w = W::default().with_eks(ready_workspace(
            EKS_WS,
            eks_outputs(&format!("https://{HOST}")),
        ));
        w.connection = Some(connection(data));
        let plan = w.run(&cp(|_| {}));
        let s = st(&plan);
        assert_eq!(s.phase, Some(ControlPlanePhase::Ready), "{case}");
        assert!(s.ready && !s.secrets_ready, "{case}");
        let sync = s.secret_sync.as_ref().unwrap();
        assert_eq!(
            (sync.state, sync.reason.as_deref()),
            (SecretSyncState::Failed, Some(reason)),
            "{case}"
        );
        assert_eq!(
            cond(&s.conditions, SECRETS_READY).map(|c| (c.status.as_str(), c.reason.as_str())),
            Some(("False", reason)),
            "{case}"
        );
        assert!(plan.blocked.is_none(), "{case}");
        assert!(
            plan.ops.iter().all(|o| !matches!(o, Op::WriteSecret(_))),
            "{case}"
        );
    }

    // No endpoint in outputs or secret: the control plane waits and the sync names the cause.
    let mut data = connection_data();
    data.remove("cluster_endpoint");
    let mut w = W::default().with_eks(ready_workspace(EKS_WS, json!({"cluster_name": NAME})));
    w.connection = Some(connection(data));
    let plan = w.run(&cp(|_| {}));
    let s = st(&plan);
    assert!(!s.ready);
    assert_eq!(
        s.secret_sync.as_ref().and_then(|x| x.reason.as_deref()),
        Some(sr::ENDPOINT_NOT_AVAILABLE)
    );
}

#[test]
fn deletion_removes_applies_in_order_and_leaves_the_spot_role() {
    let deleting = |finalizer: bool| {
        cp(|v| {
            v["metadata"]["deletionTimestamp"] = json!(at(0).0.to_string());
            if !finalizer {
                remove(v, &["metadata", "finalizers"]);
            }
        })
    };
    let a = |name: &str, deleting: bool| {
        let meta = if deleting {
            json!({"deletionTimestamp": at(0).0.to_string(), "finalizers": ["f"]})
        } else {
            json!({})
        };
        Some(apply(
            name,
            meta,
            json!({"templateRef": {"name": "t"}}),
            json!({}),
        ))
    };
    let del = |name: &str| delete_apply(NS, name);
    let remove_fin = Op::RemoveFinalizer(finalizers::CAPT_CONTROL_PLANE);
    // (case, finalizer, spot check, eks, kubeconfig, ops, blocked)
    type Row = (
        &'static str,
        bool,
        Option<WorkspaceTemplateApply>,
        Option<WorkspaceTemplateApply>,
        Option<WorkspaceTemplateApply>,
        Vec<Op>,
        bool,
    );
    let table: Vec<Row> = vec![
        (
            "no finalizer",
            false,
            None,
            a(EKS_APPLY, false),
            None,
            vec![],
            false,
        ),
        (
            "EKS apply and spot check deleted",
            true,
            a("alpha-spot-role-check", false),
            a(EKS_APPLY, false),
            a("alpha-kubeconfig-apply", false),
            vec![del("alpha-spot-role-check"), del(EKS_APPLY)],
            true,
        ),
        (
            "EKS workspace being destroyed",
            true,
            None,
            a(EKS_APPLY, true),
            a("alpha-kubeconfig-apply", false),
            vec![],
            true,
        ),
        (
            "then the kubeconfig apply",
            true,
            None,
            None,
            a("alpha-kubeconfig-apply", false),
            vec![del("alpha-kubeconfig-apply")],
            true,
        ),
        (
            "kubeconfig apply going",
            true,
            None,
            None,
            a("alpha-kubeconfig-apply", true),
            vec![],
            true,
        ),
        ("all gone", true, None, None, None, vec![remove_fin], false),
    ];
    for (case, finalizer, spot, eks, kc, ops, blocked) in table {
        let w = W {
            spot_check_apply: spot,
            eks_apply: eks,
            kubeconfig_apply: kc,
            spot_create_apply: a("alpha-spot-role-create", false),
            ..W::default()
        };
        let plan = w.run(&deleting(finalizer));
        assert_eq!(plan.ops, ops, "{case}");
        assert_eq!(
            plan.blocked.as_ref().map(|b| b.kind),
            blocked.then_some(BlockKind::Waiting),
            "{case}"
        );
        assert!(
            deleted(&plan)
                .iter()
                .all(|(_, n)| *n != "alpha-spot-role-create"),
            "{case}: the account-wide role is kept"
        );
        assert!(plan.status.is_none(), "{case}");
    }
}

#[test]
fn eks_apply_waits_until_the_vpc_is_known() {
    let c = cp(|_| {});
    let w = W {
        vpc_pending: true,
        ..W::default()
    };
    let plan = w.run(&c);
    assert!(created(&plan, "WorkspaceTemplateApply").is_empty());
    let b = plan.blocked.as_ref().expect("blocked");
    assert_eq!(b.reason, "WaitingForVPC");
    let st = plan.status.as_ref().expect("status");
    assert_eq!(st.phase, Some(crate::api::ControlPlanePhase::Creating));
    assert!(plan.waits.is_empty(), "no Cluster, nothing to wait for");

    // The CAPTCluster the Cluster names is not cached: its arrival wakes the control plane.
    let infra = json!({"infrastructureRef": {"kind": "CAPTCluster", "name": "alpha-infra"}});
    let w = W {
        cluster: Some(cluster_with(NAME, json!({}), infra)),
        ..w
    };
    let waits = w.run(&c).waits;
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(
        (
            waits[0].kind,
            waits[0].namespace.as_str(),
            waits[0].name.as_str()
        ),
        (Kind::CaptCluster, NS, "alpha-infra")
    );
    let known = W {
        vpc_pending: false,
        ..w
    };
    assert!(
        known.run(&c).waits.is_empty(),
        "a cached CAPTCluster is no wait"
    );
}

#[test]
fn ready_comes_from_the_workspace_ready_and_synced_problems_have_their_own_condition() {
    let msg = "apply failed: ThrottlingException: Rate exceeded";
    let mut ws = ready_workspace(EKS_WS, eks_outputs(&format!("https://{HOST}")));
    let conds = &mut ws.status.as_mut().unwrap().conditions;
    conds.retain(|c| c.type_ != ct::SYNCED);
    conds.push(
        serde_json::from_value(xp_cond("Synced", false, "ReconcileError", Some(msg))).unwrap(),
    );
    let plan = W::default().with_eks(ws).run(&cp(|_| {}));
    let s = st(&plan);
    assert!(
        s.ready,
        "a provider error on a running control plane keeps it ready"
    );
    assert_eq!(s.phase, Some(ControlPlanePhase::Ready));
    assert_eq!(
        cond_state(&s.conditions, ct::WORKSPACE_SYNCED),
        state("False", reasons::WORKSPACE_ERROR, msg)
    );
    let healthy = W::default()
        .with_eks(ready_workspace(
            EKS_WS,
            eks_outputs(&format!("https://{HOST}")),
        ))
        .run(&cp(|_| {}));
    assert_eq!(
        cond(&st(&healthy).conditions, ct::WORKSPACE_SYNCED).map(|c| c.status.as_str()),
        Some("True")
    );
}

#[test]
fn deadlines_follow_the_spec_timeouts_and_start_when_the_vpc_is_ready() {
    let vpc = Some("demo-vpc".to_string());
    // (case, vpc workspace, vpc ready since, timeouts (cp, vpc) in minutes, now, reason when timed out, timer left)
    type Case<'a> = (
        &'a str,
        Option<String>,
        Option<i64>,
        Option<(i32, i32)>,
        i64,
        Option<&'a str>,
        Option<u64>,
    );
    let table: [Case; 7] = [
        (
            "no VPC dependency, default 30",
            None,
            None,
            None,
            mins(10),
            None,
            Some(20 * 60),
        ),
        (
            "no VPC dependency, spec 5",
            None,
            None,
            Some((5, 15)),
            mins(6),
            Some(reasons::CONTROL_PLANE_TIMEOUT),
            None,
        ),
        (
            "VPC not ready, default 15",
            vpc.clone(),
            None,
            None,
            mins(10),
            None,
            Some(5 * 60),
        ),
        (
            "VPC not ready past vpcReadyTimeout",
            vpc.clone(),
            None,
            Some((30, 8)),
            mins(9),
            Some(reasons::VPC_READY_TIMEOUT),
            None,
        ),
        (
            "VPC ready at 12 min: 30 from then",
            vpc.clone(),
            Some(mins(12)),
            None,
            mins(35),
            None,
            Some(7 * 60),
        ),
        (
            "VPC ready at 12 min, spec 10",
            vpc.clone(),
            Some(mins(12)),
            Some((10, 15)),
            mins(23),
            Some(reasons::CONTROL_PLANE_TIMEOUT),
            None,
        ),
        (
            "VPC ready before creation",
            vpc.clone(),
            Some(-mins(5)),
            None,
            mins(29),
            None,
            Some(60),
        ),
    ];
    for (case, vpc_ws, since, timeouts, now, timed_out, left) in table {
        let w = W {
            now: at(now),
            vpc_workspace: vpc_ws,
            vpc_ready_since: since.map(at),
            ..W::default()
        }
        .with_eks(creating_workspace(EKS_WS));
        let c = cp(|c| {
            if let Some((cp_min, vpc_min)) = timeouts {
                c["spec"]["controlPlaneConfig"]["timeouts"] = json!({
                    "controlPlaneTimeout": cp_min,
                    "vpcReadyTimeout": vpc_min,
                });
            }
        });
        let plan = w.run(&c);
        let s = st(&plan);
        assert_eq!(armed(&plan, CONTROL_PLANE_TIMER), left.map(after), "{case}");
        match timed_out {
            Some(reason) => {
                assert_eq!(s.phase, Some(ControlPlanePhase::Failed), "{case}");
                assert_eq!(
                    cond(&s.conditions, ct::READY).unwrap().reason,
                    reason,
                    "{case}"
                );
                assert_eq!(warnings(&plan), vec![reason], "{case}");
                assert_eq!(s.failure_reason, None, "{case}");
            }
            None => assert_eq!(s.phase, Some(ControlPlanePhase::Creating), "{case}"),
        }
    }
}

#[test]
fn clusterclass_names_use_the_cluster_name_and_versions_are_normalised() {
    // (case, Cluster name, spec.version, existing apply's cluster_name, want cluster_name, want version)
    let table = [
        ("same names", NAME, "1.31", None, NAME, "1.31"),
        (
            "generated control plane name",
            "demo",
            "v1.31",
            None,
            "demo",
            "1.31",
        ),
        ("semver with patch", NAME, "v1.30.4", None, NAME, "1.30"),
        (
            "an existing apply keeps its name",
            "demo",
            "1.31",
            Some("legacy"),
            "legacy",
            "1.31",
        ),
    ];
    for (case, cluster_name, version, existing, want_name, want_version) in table {
        let c = cp(|v| {
            v["spec"]["version"] = json!(version);
            v["metadata"]["ownerReferences"] = json!([cluster_owner_ref(cluster_name)]);
        });
        let existing_apply = existing.map(|n| {
            apply(
                EKS_APPLY,
                json!({}),
                json!({"templateRef": {"name": "eks-controlplane-template"},
                       "variables": {"cluster_name": n, "kubernetes_version": want_version}}),
                json!({}),
            )
        });
        let intent = super::eks_intent(&c, cluster_name, existing_apply.as_ref(), None);
        assert_eq!(intent.variables["cluster_name"], want_name, "{case}");
        assert_eq!(
            intent.variables["kubernetes_version"], want_version,
            "{case}"
        );
        let w = W {
            cluster: Some(cluster(cluster_name)),
            ..W::default()
        };
        let plan = w.run(&c);
        if existing.is_none() {
            let body = &created(&plan, "WorkspaceTemplateApply")[0].body;
            assert_eq!(
                body["spec"]["variables"]["cluster_name"], want_name,
                "{case}"
            );
        }
    }
}

#[test]
fn a_paused_control_plane_writes_nothing_even_when_deleting() {
    // (case, object annotated, cluster paused, deleting)
    let table = [
        ("annotation", true, false, false),
        ("cluster spec.paused", false, true, false),
        ("annotation while deleting", true, false, true),
        ("cluster paused while deleting", false, true, true),
    ];
    for (case, annotated, cluster_paused, deleting) in table {
        let c = cp(|v| {
            if annotated {
                v["metadata"]["annotations"] = json!({"cluster.x-k8s.io/paused": ""});
            }
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!(at(mins(1)).0.to_string());
            }
            remove(v, &["metadata", "finalizers"]);
        });
        let w = W {
            cluster: Some(cluster_with(
                NAME,
                json!({}),
                json!({"paused": cluster_paused}),
            )),
            ..W::default()
        }
        .with_eks(creating_workspace(EKS_WS));
        let plan = w.run(&c);
        assert!(plan.ops.is_empty(), "{case}: {:?}", plan.ops);
        assert!(plan.status.is_none() && plan.events.is_empty(), "{case}");
        assert_eq!(
            plan.blocked.as_ref().map(|b| b.reason),
            Some(crate::reconcile::pause::PAUSED_REASON),
            "{case}"
        );
    }
}

fn refused() -> crate::reconcile::grants::RefNotPermitted {
    let referrer = crate::reconcile::grants::Referrer {
        kind: "CAPTControlPlane",
        namespace: "team-a",
        name: NAME,
        on_behalf_of: None,
    };
    let tref = crate::api::TemplateRef::new("eks", Some("platform".into()));
    *crate::reconcile::grants::check(&referrer, &tref, "default", []).expect_err("refused")
}

#[test]
fn a_refused_template_fails_a_new_control_plane_and_leaves_a_running_one() {
    let w = W {
        refused: Some(refused()),
        ..W::default()
    };
    // Not started: failed like a missing template, nothing created.
    let new = cp(|_| {});
    let plan = w.run(&new);
    let s = st(&plan).clone();
    assert_eq!(s.phase, Some(ControlPlanePhase::Failed));
    assert!(!s.ready);
    let ready = cond(&s.conditions, ct::READY).expect("ready");
    assert_eq!(ready.reason, "RefNotPermitted");
    assert!(
        ready.message.contains("CAPTControlPlane team-a/"),
        "{}",
        ready.message
    );
    assert!(created(&plan, "WorkspaceTemplateApply").is_empty());
    assert_eq!(warnings(&plan), vec!["RefNotPermitted"]);
    w.assert_warned_once(&new, s, "new");

    // Running: phase and readiness stay; a condition reports the refusal; no apply is touched.
    let running = cp(|v| {
        v["status"] = json!({"ready": true, "initialized": true, "phase": "Ready"});
    });
    let plan = w.run(&running);
    let s = st(&plan);
    assert_eq!(s.phase, Some(ControlPlanePhase::Ready));
    assert!(s.ready && s.initialized);
    let c = cond(&s.conditions, "TemplateRefPermitted").expect("condition");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "RefNotPermitted")
    );
    assert!(
        plan.ops
            .iter()
            .all(|o| !matches!(o, Op::Create(_) | Op::PatchChild(_) | Op::Delete { .. })),
        "{:?}",
        plan.ops
    );

    // Permitted again: the condition goes away.
    let mut back = running.clone();
    back.status = Some(s.clone());
    let plan = W::default().run(&back);
    assert!(cond(&st(&plan).conditions, "TemplateRefPermitted").is_none());
}

#[test]
fn derived_apply_names_at_the_length_limit() {
    // `<name>-eks-controlplane-apply` is the longest derived name (23 characters added).
    let table = [(230, false), (231, true)];
    for (len, refused) in table {
        let name = "c".repeat(len);
        let c = cp(|v| {
            v["metadata"]["name"] = json!(name);
            v["metadata"]["labels"] = json!({"cluster.x-k8s.io/cluster-name": name});
            v["spec"]["workspaceTemplateApplyName"] = Value::Null;
        });
        let w = W {
            cluster: Some(cluster(&name)),
            ..W::default()
        };
        let plan = w.run(&c);
        let creates = created(&plan, "WorkspaceTemplateApply");
        if refused {
            assert!(creates.is_empty(), "{len}: {:?}", plan.ops);
            let s = st(&plan);
            assert_eq!(s.phase, Some(ControlPlanePhase::Failed), "{len}");
            let ready = cond(&s.conditions, ct::READY).expect("ready");
            assert_eq!(ready.reason, "NameTooLong", "{len}");
            assert_eq!(warnings(&plan), vec!["NameTooLong"], "{len}");
        } else {
            assert!(creates.iter().all(|c| c.name.len() <= 253), "{len}");
            assert!(!creates.is_empty(), "{len}: {:?}", plan.ops);
        }
    }
}

#[test]
fn the_vpc_dependency_follows_the_clusters_infrastructure() {
    use std::sync::Arc;
    let infra = |kind: &str| {
        cluster_with(
            "alpha",
            json!({}),
            json!({"infrastructureRef": {"kind": kind, "name": "net"}}),
        )
    };
    let cc = |spec: Value| -> Arc<crate::api::CAPTCluster> {
        Arc::new(from(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "CAPTCluster",
            "metadata": {"name": "net", "namespace": NS},
            "spec": spec,
        })))
    };
    let templated = cc(json!({"region": "r", "vpcTemplateRef": {"name": "vpc-template"}}));
    let existing = cc(json!({"region": "r", "existingVpcId": "vpc-1"}));
    let applied = Arc::new(apply(
        "net-vpc",
        json!({}),
        json!({"templateRef": {"name": "vpc-template"}}),
        json!({"workspaceName": "ws-1"}),
    ));
    type Ccs<'a> = &'a dyn Fn(&str) -> Option<Arc<crate::api::CAPTCluster>>;
    type Applies<'a> = &'a dyn Fn(&str) -> Option<Arc<WorkspaceTemplateApply>>;
    let no_cc = |_: &str| None;
    let no_apply = |_: &str| None;
    let with_existing = |n: &str| (n == "net").then(|| existing.clone());
    let with_templated = |n: &str| (n == "net").then(|| templated.clone());
    let with_apply = |n: &str| (n == "net-vpc").then(|| applied.clone());
    let cp = Some(infra("CAPTCluster"));
    // (case, Cluster, CAPTClusters, applies, (VPC Workspace, pending))
    type Case<'a> = (
        &'a str,
        Option<Cluster>,
        Ccs<'a>,
        Applies<'a>,
        (Option<&'a str>, bool),
    );
    let cases: Vec<Case> = vec![
        ("no Cluster", None, &no_cc, &no_apply, (None, false)),
        (
            "another infrastructure kind",
            Some(infra("AWSCluster")),
            &no_cc,
            &no_apply,
            (None, false),
        ),
        (
            "a CAPTCluster not cached yet",
            cp.clone(),
            &no_cc,
            &no_apply,
            (None, true),
        ),
        (
            "an existing VPC",
            cp.clone(),
            &with_existing,
            &no_apply,
            (None, false),
        ),
        (
            "a templated VPC before its apply reports a Workspace",
            cp.clone(),
            &with_templated,
            &no_apply,
            (Some("net-vpc"), false),
        ),
        (
            "the Workspace the apply reports",
            cp,
            &with_templated,
            &with_apply,
            (Some("ws-1"), false),
        ),
    ];
    for (case, cluster, ccs, applies, (name, pending)) in cases {
        let want = (name.map(String::from), pending);
        let got = vpc_dependency(cluster.as_ref(), ccs, applies);
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn the_sync_settles_and_the_gather_step_reads_only_what_the_decision_needs() {
    use crate::reconcile::secret_sources::{reads_connection, settled, signs_token};
    use crate::reconcile::token_refresh::{RefreshSettings, TokenMode, TokenWorld};
    use SecretSyncState::{Failed, Ready, WaitingForSecret};
    /// One switch per input the caches (or the read) show.
    #[derive(Clone, Copy)]
    struct In {
        /// The connection secret exists, at the settled version unless `changed`.
        connection: bool,
        changed: bool,
        /// `<cluster>-kubeconfig` and `<cluster>-ca` exist.
        outputs_exist: bool,
        /// The kubeconfig template exists but its apply does not.
        kubeconfig_apply_missing: bool,
        endpoint_in_outputs: bool,
        token_due: bool,
        /// The connection secret's data was read.
        read: bool,
    }
    const BASE: In = In {
        connection: true,
        changed: false,
        outputs_exist: true,
        kubeconfig_apply_missing: false,
        endpoint_in_outputs: true,
        token_due: false,
        read: false,
    };
    const VERSION: &str = "1+20";
    // (case, sync state on VERSION, inputs, settled, reads the connection, signs a token)
    type Row = (&'static str, Option<SecretSyncState>, In, bool, bool, bool);
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
            In {
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
            In {
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
            In {
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
            In {
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
            In {
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
            In {
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
            In { read: true, ..BASE },
            false,
            true,
            true,
        ),
        (
            "a settled one read for the endpoint",
            Some(Ready),
            In {
                read: true,
                endpoint_in_outputs: false,
                ..BASE
            },
            true,
            true,
            false,
        ),
    ];
    for (case, state, i, want_settled, want_read, want_sign) in table {
        let mut c = cp(|_| {});
        c.status = Some(CAPTControlPlaneStatus {
            secret_sync: state.map(|state| crate::api::SecretSyncStatus {
                state,
                observed_secret_version: Some(VERSION.into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let secret = i.outputs_exist.then_some(OwnedSecret { data_hash: None });
        let w = W {
            eks_workspace: i
                .endpoint_in_outputs
                .then(|| ready_workspace(EKS_WS, eks_outputs(&format!("https://{HOST}")))),
            kubeconfig_template_ns: Some(NS.into()),
            kubeconfig_apply: (!i.kubeconfig_apply_missing).then(|| {
                apply(
                    "alpha-kubeconfig-apply",
                    json!({}),
                    json!({"templateRef": {"name": "k"}}),
                    json!({}),
                )
            }),
            connection: i.read.then(|| connection(connection_data())),
            source_version: i
                .connection
                .then(|| if i.changed { "2+20" } else { VERSION }.to_string()),
            kubeconfig_secret: secret.clone(),
            ca_secret: secret,
            ..W::default()
        };
        let mut world = w.world();
        world.token = Some(TokenWorld {
            settings: RefreshSettings {
                mode: if i.token_due {
                    TokenMode::Generated
                } else {
                    TokenMode::TerraformOutput
                },
                ..RefreshSettings::default()
            },
            key: format!("{NS}/{NAME}"),
            issued: None,
            fresh: None,
        });
        assert_eq!(settled(&c, &world), want_settled, "{case}: settled");
        assert_eq!(reads_connection(&c, &world), want_read, "{case}: reads");
        assert_eq!(signs_token(&c, &world), want_sign, "{case}: signs");
    }
}
