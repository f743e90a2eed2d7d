//! Table tests of the CAPTCluster decision.

use serde_json::{Value, json};

use super::*;
use crate::api::names::{conditions as ct, reasons as r};
use crate::reconcile::plan::BlockKind;

#[path = "decision_test_support.rs"]
#[allow(clippy::duplicate_mod)]
mod support;
use support::*;

const NAME: &str = "alpha";
const VPC_APPLY: &str = "alpha-vpc";

/// A CAPTCluster as it looks once Cluster API owns it: finalizer, owner Cluster `alpha`, label.
fn cc_json() -> Value {
    json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTCluster",
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "uid": "uid-cc",
            "generation": 1,
            "finalizers": [finalizers::CAPT_CLUSTER],
            "labels": {labels::CLUSTER_NAME: NAME},
            "ownerReferences": [cluster_owner_ref(NAME)],
        },
        "spec": {
            "region": "ap-northeast-1",
            "vpcTemplateRef": {"name": "vpc-template", "namespace": NS},
        },
    })
}

fn cc(edit: impl FnOnce(&mut Value)) -> CAPTCluster {
    edited(cc_json(), edit)
}

/// Inputs of one decision.
struct W {
    cluster: Option<Cluster>,
    template_exists: bool,
    apply: Option<WorkspaceTemplateApply>,
    workspace: Option<Workspace>,
    control_plane_exists: bool,
    refused: Option<crate::reconcile::grants::RefNotPermitted>,
    now: Time,
}

impl Default for W {
    fn default() -> Self {
        W {
            cluster: Some(cluster(NAME)),
            template_exists: true,
            apply: None,
            workspace: None,
            control_plane_exists: false,
            refused: None,
            now: at(0),
        }
    }
}

impl W {
    fn run(&self, cc: &CAPTCluster) -> Plan<CAPTClusterStatus> {
        let world = InfraWorld {
            cluster: self.cluster.as_ref(),
            template_exists: self.template_exists,
            apply: self.apply.as_ref(),
            workspace: self.workspace.as_ref(),
            control_plane_exists: self.control_plane_exists,
            refused: self.refused.clone(),
            now: self.now.clone(),
        };
        let plan = decide(cc, &world);
        assert_no_cluster_writes(&plan);
        plan
    }
}

/// The VPC apply as the apply controller leaves it: created at `created`, Workspace `alpha-vpc`.
fn vpc_apply(created: i64) -> WorkspaceTemplateApply {
    apply(
        VPC_APPLY,
        json!({"creationTimestamp": at(created).0.to_string()}),
        json!({
            "templateRef": {"name": "vpc-template", "namespace": NS},
            "variables": {"cluster_name": NAME, "vpc_name": "alpha-vpc", "environment": "production", "region": "ap-northeast-1"},
        }),
        json!({"workspaceName": VPC_APPLY, "applied": true, "lastAppliedTime": at(created).0.to_string()}),
    )
}

#[test]
fn waits_for_the_owner_reference_cluster_api_sets_and_never_adopts() {
    for (case, owned, cached, waits) in OWNER_WAIT_CASES {
        let c = cc(|v| {
            remove(v, &["metadata", "finalizers"]);
            if !owned {
                remove(v, &["metadata", "ownerReferences"]);
            }
            v["status"] = json!({"conditions": [{
                "type": ct::WAITING_FOR_CLUSTER, "status": "True",
                "reason": r::CLUSTER_NOT_FOUND, "message": messages::WAITING_FOR_CLUSTER,
            }]});
        });
        let w = W {
            cluster: cached.then(|| cluster(NAME)),
            ..W::default()
        };
        let plan = w.run(&c);
        assert_owner_wait(
            &plan,
            case,
            finalizers::CAPT_CLUSTER,
            waits,
            r::CLUSTER_NOT_FOUND,
        );
        let s = st(&plan);
        if waits {
            assert_eq!(
                cond_state(&s.conditions, ct::WAITING_FOR_CLUSTER),
                state("True", r::CLUSTER_NOT_FOUND, messages::WAITING_FOR_CLUSTER),
                "{case}"
            );
            assert!(!s.ready, "{case}");
        } else {
            assert!(
                cond(&s.conditions, ct::WAITING_FOR_CLUSTER).is_none(),
                "{case}"
            );
        }
        for p in self_patches(&plan) {
            assert!(p["metadata"].get("ownerReferences").is_none(), "{case}");
        }
    }
}

#[test]
fn a_differently_named_cluster_is_found_through_the_owner_reference() {
    let c = cc(|v| {
        v["metadata"]["name"] = json!("alpha-infra");
        v["metadata"]["ownerReferences"] = json!([cluster_owner_ref("prod")]);
        remove(v, &["metadata", "labels"]);
    });
    let w = W {
        cluster: Some(cluster("prod")),
        ..W::default()
    };
    let plan = w.run(&c);
    assert!(plan.blocked.is_none());
    assert!(
        self_patches(&plan)
            .contains(&&json!({"metadata": {"labels": {labels::CLUSTER_NAME: "prod"}}}))
    );
    let create = created(&plan, "WorkspaceTemplateApply");
    assert_eq!(create[0].name, "alpha-infra-vpc");
    let vars = &create[0].body["spec"]["variables"];
    assert_eq!(vars["cluster_name"], "prod");
    assert_eq!(vars["vpc_name"], "alpha-infra-vpc");
    assert_eq!(
        create[0].body["metadata"]["labels"][labels::CLUSTER_NAME],
        "prod"
    );
}

#[test]
fn cluster_name_label_is_written_only_when_missing() {
    let w = W::default();
    let plan = w.run(&cc(|v| remove(v, &["metadata", "labels"])));
    assert!(
        self_patches(&plan)
            .contains(&&json!({"metadata": {"labels": {labels::CLUSTER_NAME: NAME}}}))
    );
    let plan = w.run(&cc(|_| {}));
    assert!(
        self_patches(&plan)
            .iter()
            .all(|p| p.get("metadata").is_none())
    );
}

#[test]
fn pause_stops_before_any_write() {
    let paused_cluster = W {
        cluster: Some(cluster_with(NAME, json!({}), json!({"paused": true}))),
        ..W::default()
    };
    let annotated_cluster = W {
        cluster: Some(cluster_with(
            NAME,
            json!({"cluster.x-k8s.io/paused": ""}),
            json!({}),
        )),
        ..W::default()
    };
    let annotated_cc =
        cc(|v| v["metadata"]["annotations"] = json!({"cluster.x-k8s.io/paused": ""}));
    for (case, w, c) in [
        ("spec.paused", &paused_cluster, cc(|_| {})),
        ("Cluster annotation", &annotated_cluster, cc(|_| {})),
        ("CAPTCluster annotation", &W::default(), annotated_cc),
    ] {
        let plan = w.run(&c);
        assert!(plan.ops.is_empty(), "{case}");
        assert!(plan.status.is_none(), "{case}");
        let b = plan.blocked.expect(case);
        assert_eq!((b.kind, b.reason), (BlockKind::Waiting, "Paused"), "{case}");
    }
}

#[test]
fn invalid_vpc_configuration_is_terminal() {
    let table: [(&str, Value); 3] = [
        (
            "both sources",
            json!({"region": "ap-northeast-1", "vpcTemplateRef": {"name": "t"}, "existingVpcId": "vpc-1"}),
        ),
        ("no source", json!({"region": "ap-northeast-1"})),
        (
            "retain without a template",
            json!({"region": "ap-northeast-1", "existingVpcId": "vpc-1", "retainVpcOnDelete": true}),
        ),
    ];
    for (case, spec) in table {
        let c = cc(|v| v["spec"] = spec.clone());
        let plan = W::default().run(&c);
        let s = st(&plan).clone();
        assert!(!s.ready, "{case}");
        assert_eq!(
            s.failure_reason.as_deref(),
            Some(r::INVALID_VPC_CONFIG),
            "{case}"
        );
        let c_state = cond(&s.conditions, ct::VPC_FAILED).expect(case);
        assert_eq!(
            (c_state.status.as_str(), c_state.reason.as_str()),
            ("True", r::INVALID_VPC_CONFIG)
        );
        assert_eq!(s.failure_message.as_deref(), Some(c_state.message.as_str()));
        let b = plan.blocked.as_ref().expect(case);
        assert_eq!(
            (b.kind, b.reason),
            (BlockKind::InvalidSpec, r::INVALID_VPC_CONFIG),
            "{case}"
        );
        assert_eq!(warnings(&plan), vec![r::INVALID_VPC_CONFIG], "{case}");
        assert!(
            created(&plan, "WorkspaceTemplateApply").is_empty(),
            "{case}"
        );

        // Seen again with the status already written: no repeated warning.
        let again = cc(|v| {
            v["spec"] = spec.clone();
            v["status"] = serde_json::to_value(&s).unwrap();
        });
        let plan = W::default().run(&again);
        assert!(warnings(&plan).is_empty(), "{case}");
        assert_eq!(plan.status.as_ref(), Some(&s), "{case}");
    }
}

#[test]
fn existing_vpc_is_used_and_clears_earlier_failures() {
    let failed = json!({
        "ready": false,
        "failureReason": r::INVALID_VPC_CONFIG,
        "failureMessage": "old",
        "conditions": [{"type": ct::VPC_FAILED, "status": "True", "reason": r::INVALID_VPC_CONFIG, "message": "old"}],
    });
    let c = cc(|v| {
        v["spec"] = json!({"region": "ap-northeast-1", "existingVpcId": "vpc-0123"});
        v["status"] = failed.clone();
    });
    let plan = W::default().run(&c);
    let s = st(&plan);
    assert_eq!(s.vpc_id.as_deref(), Some("vpc-0123"));
    assert!(s.ready);
    assert!(s.workspace_template_status.as_ref().unwrap().ready);
    assert_eq!(
        cond_state(&s.conditions, ct::VPC_READY),
        state("True", r::EXISTING_VPC_USED, messages::EXISTING_VPC_USED)
    );
    assert!(
        cond(&s.conditions, ct::VPC_FAILED).is_none(),
        "VPCFailed cleared"
    );
    assert_eq!(
        (s.failure_reason.as_deref(), s.failure_message.as_deref()),
        (None, None)
    );
    assert_eq!(normals(&plan), vec![r::EXISTING_VPC_USED]);
    assert!(
        plan.ops.is_empty(),
        "no apply for an existing VPC: {:?}",
        plan.ops
    );
    assert!(plan.blocked.is_none());

    let ready = cc(|v| {
        v["spec"] = json!({"region": "ap-northeast-1", "existingVpcId": "vpc-0123"});
        v["status"] = serde_json::to_value(s).unwrap();
    });
    let plan = W::default().run(&ready);
    assert!(plan.events.is_empty(), "announced once");
}

#[test]
fn missing_vpc_template_waits_with_reconciliation_failed() {
    let table = [
        (
            "explicit namespace",
            Some("templates"),
            "templates/vpc-template",
        ),
        (
            "namespace defaults to the CAPTCluster's",
            None,
            "team-a/vpc-template",
        ),
    ];
    for (case, tns, shown) in table {
        let c = cc(|v| {
            v["metadata"]["namespace"] = json!("team-a");
            v["spec"]["vpcTemplateRef"] = json!({"name": "vpc-template", "namespace": tns});
        });
        let w = W {
            template_exists: false,
            ..W::default()
        };
        let plan = w.run(&c);
        let msg = format!("WorkspaceTemplate {shown} not found");
        assert_eq!(
            cond_state(&st(&plan).conditions, ct::VPC_READY),
            state("False", r::VPC_RECONCILIATION_FAILED, &msg),
            "{case}"
        );
        let b = plan.blocked.as_ref().expect(case);
        assert_eq!(
            (b.kind, b.reason),
            (BlockKind::Waiting, r::VPC_RECONCILIATION_FAILED)
        );
        assert_eq!(
            warnings(&plan),
            vec![r::VPC_RECONCILIATION_FAILED],
            "{case}"
        );
        assert!(
            created(&plan, "WorkspaceTemplateApply").is_empty(),
            "{case}"
        );
    }
}

#[test]
fn vpc_template_creates_the_apply_and_arms_the_vpc_timer() {
    // (case, vpcConfig.name, workspaceTemplateApplyName, apply name, vpc_name)
    let table = [
        ("defaults", None, None, "alpha-vpc", "alpha-vpc"),
        (
            "vpcConfig.name",
            Some("shared"),
            None,
            "alpha-vpc",
            "shared",
        ),
        (
            "recorded apply name",
            None,
            Some("my-vpc"),
            "my-vpc",
            "alpha-vpc",
        ),
    ];
    for (case, vpc_name, apply_name_set, want_apply, want_vpc) in table {
        let c = cc(|v| {
            if let Some(n) = vpc_name {
                v["spec"]["vpcConfig"] = json!({"name": n});
            }
            if let Some(n) = apply_name_set {
                v["spec"]["workspaceTemplateApplyName"] = json!(n);
            }
        });
        let plan = W::default().run(&c);
        let create = created(&plan, "WorkspaceTemplateApply");
        assert_eq!(create.len(), 1, "{case}");
        let child = create[0];
        assert_eq!(
            (child.name.as_str(), child.namespace.as_deref()),
            (want_apply, Some(NS))
        );
        let body = &child.body;
        assert_eq!(
            body["spec"]["templateRef"],
            json!({"name": "vpc-template", "namespace": NS})
        );
        assert_eq!(
            body["spec"]["variables"],
            json!({"cluster_name": NAME, "vpc_name": want_vpc, "environment": "production", "region": "ap-northeast-1"}),
            "{case}"
        );
        assert_eq!(body["spec"]["retainWorkspaceOnDelete"], json!(false));
        let owner = &body["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                owner["kind"].as_str(),
                owner["name"].as_str(),
                owner["controller"].as_bool()
            ),
            (Some("CAPTCluster"), Some(NAME), Some(true))
        );
        assert_eq!(body["metadata"]["labels"][labels::CLUSTER_NAME], NAME);
        let name_patch = json!({"spec": {"workspaceTemplateApplyName": want_apply}});
        assert_eq!(
            self_patches(&plan).contains(&&name_patch),
            apply_name_set.is_none(),
            "{case}"
        );
        let s = st(&plan);
        assert!(!s.ready);
        assert_eq!(
            cond_state(&s.conditions, ct::VPC_READY),
            state("False", r::VPC_CREATING, messages::VPC_CREATING),
            "{case}"
        );
        assert_eq!(armed(&plan, VPC_TIMER), Some(after(15 * 60)), "{case}");
        assert!(plan.blocked.is_none(), "{case}");
    }
}

#[test]
fn apply_spec_drift_is_patched_and_user_fields_are_kept() {
    let mut drifted = vpc_apply(0);
    drifted
        .spec
        .variables
        .insert("environment".into(), "staging".into());
    drifted.spec.wait_for_secrets = vec![crate::api::NamespacedName::new(NS, "user-secret")];
    let w = W {
        apply: Some(drifted),
        workspace: Some(creating_workspace(VPC_APPLY)),
        ..W::default()
    };
    let c = cc(|v| v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY));
    let plan = w.run(&c);
    assert!(created(&plan, "WorkspaceTemplateApply").is_empty());
    let p = patched(&plan, "WorkspaceTemplateApply");
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].body,
        json!({"spec": {"variables": {"cluster_name": NAME, "vpc_name": "alpha-vpc", "environment": "production", "region": "ap-northeast-1"}}})
    );

    let in_step = W {
        apply: Some(vpc_apply(0)),
        workspace: Some(creating_workspace(VPC_APPLY)),
        ..W::default()
    };
    let plan = in_step.run(&c);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
}

#[test]
fn vpc_ready_sets_id_and_provisioned_and_clears_failures() {
    let previously_failed = json!({
        "ready": false,
        "failureReason": r::VPC_READY_TIMEOUT,
        "failureMessage": "VPC not ready within 15 minutes",
        "conditions": [
            {"type": ct::VPC_FAILED, "status": "True", "reason": r::VPC_READY_TIMEOUT, "message": "x"},
            {"type": ct::VPC_READY, "status": "False", "reason": r::VPC_CREATION_FAILED, "message": "boom"},
        ],
        "workspaceTemplateStatus": {"ready": false, "lastFailureMessage": "boom"},
    });
    // (case, outputs, AZs in the outputs)
    let table = [
        (
            "private subnet AZs",
            json!({"vpc_id": "vpc-1", "private_subnet_azs": ["a", "b"], "azs": ["x"]}),
            vec!["a", "b"],
        ),
        ("azs", json!({"vpc_id": "vpc-1", "azs": ["c"]}), vec!["c"]),
        ("no AZs", json!({"vpc_id": "vpc-1"}), vec![]),
    ];
    for (case, outputs, fds) in table {
        let c = cc(|v| {
            v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY);
            v["status"] = previously_failed.clone();
        });
        let w = W {
            apply: Some(vpc_apply(0)),
            workspace: Some(ready_workspace(VPC_APPLY, outputs)),
            now: at(mins(20)),
            ..W::default()
        };
        let plan = w.run(&c);
        let s = st(&plan);
        assert_eq!(s.vpc_id.as_deref(), Some("vpc-1"), "{case}");
        assert!(s.ready, "{case}");
        assert_eq!(
            cond_state(&s.conditions, ct::VPC_READY),
            state("True", r::VPC_CREATED, messages::VPC_CREATED)
        );
        assert!(
            cond(&s.conditions, ct::VPC_FAILED).is_none(),
            "{case}: VPCFailed cleared"
        );
        assert_eq!(
            (s.failure_reason.as_deref(), s.failure_message.as_deref()),
            (None, None)
        );
        let wts = s.workspace_template_status.as_ref().unwrap();
        assert!(wts.ready);
        assert_eq!(wts.last_failure_message, None);
        assert_eq!(wts.last_applied_revision, Some(at(0).0.to_string()));
        assert_eq!(wts.workspace_name.as_deref(), Some(VPC_APPLY));
        assert_eq!(s.vpc_workspace_name.as_deref(), Some(VPC_APPLY));
        let _ = fds;
        assert_eq!(
            s.failure_domains, None,
            "{case}: not published under either contract"
        );
        assert_eq!(
            s.initialization.as_ref().map(|i| i.provisioned),
            Some(true),
            "{case}"
        );
        assert_eq!(
            cond(&s.conditions, ct::READY).map(|c| (c.status.as_str(), c.reason.as_str())),
            Some(("True", r::VPC_CREATED)),
            "{case}"
        );
        assert!(cancelled(&plan, VPC_TIMER), "{case}");
        assert_eq!(armed(&plan, VPC_TIMER), None);
        assert_eq!(normals(&plan), vec![r::VPC_CREATED], "{case}");
        assert!(warnings(&plan).is_empty(), "{case}");
        assert!(plan.blocked.is_none());
    }
}

#[test]
fn vpc_not_ready_yet_or_failing() {
    // (case, workspace, reason, message)
    let table = [
        (
            "no workspace yet",
            None,
            r::VPC_CREATING,
            messages::VPC_CREATING,
        ),
        (
            "applying",
            Some(creating_workspace(VPC_APPLY)),
            r::VPC_CREATING,
            messages::VPC_CREATING,
        ),
        (
            "ready without vpc_id",
            Some(ready_workspace(VPC_APPLY, json!({}))),
            r::VPC_CREATING,
            messages::VPC_CREATING,
        ),
        (
            "terraform error",
            Some(failed_workspace(VPC_APPLY, "apply failed: quota")),
            r::VPC_CREATION_FAILED,
            "apply failed: quota",
        ),
    ];
    for (case, ws, reason, msg) in table {
        let c = cc(|v| v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY));
        let w = W {
            apply: Some(vpc_apply(0)),
            workspace: ws,
            now: at(mins(1)),
            ..W::default()
        };
        let plan = w.run(&c);
        let s = st(&plan).clone();
        assert!(!s.ready, "{case}");
        assert_eq!(
            cond_state(&s.conditions, ct::VPC_READY),
            state("False", reason, msg),
            "{case}"
        );
        let wts = s.workspace_template_status.clone().unwrap();
        assert!(!wts.ready);
        let failing = reason == r::VPC_CREATION_FAILED;
        assert_eq!(
            wts.last_failure_message.as_deref(),
            failing.then_some(msg),
            "{case}"
        );
        assert_eq!(
            wts.last_failed_revision,
            failing.then(|| at(0).0.to_string()),
            "{case}"
        );
        assert_eq!(
            warnings(&plan),
            if failing {
                vec![r::VPC_CREATION_FAILED]
            } else {
                vec![]
            },
            "{case}"
        );
        assert!(plan.blocked.is_none(), "{case}: waiting is not an error");
        assert_eq!(armed(&plan, VPC_TIMER), Some(after(14 * 60)), "{case}");

        // The same failure again is not announced twice.
        let again = cc(|v| {
            v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY);
            v["status"] = serde_json::to_value(&s).unwrap();
        });
        assert!(w.run(&again).events.is_empty(), "{case}");
    }
}

#[test]
fn vpc_timeout_after_fifteen_minutes() {
    let c = cc(|v| v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY));
    // (case, now, timed out, timer left)
    let table = [
        ("just created", 0, false, Some(15 * 60)),
        ("five minutes in", mins(5), false, Some(10 * 60)),
        ("one second before", mins(15) - 1, false, Some(1)),
        ("at the deadline", mins(15), true, None),
        ("past the deadline", mins(16), true, None),
    ];
    for (case, now, timed_out, left) in table {
        let w = W {
            apply: Some(vpc_apply(0)),
            workspace: Some(creating_workspace(VPC_APPLY)),
            now: at(now),
            ..W::default()
        };
        let plan = w.run(&c);
        let s = st(&plan).clone();
        assert_eq!(armed(&plan, VPC_TIMER), left.map(after), "{case}");
        if timed_out {
            let m = "VPC not ready within 15 minutes";
            assert_eq!(
                cond_state(&s.conditions, ct::VPC_FAILED),
                state("True", r::VPC_READY_TIMEOUT, m),
                "{case}"
            );
            assert_eq!(
                (s.failure_reason.as_deref(), s.failure_message.as_deref()),
                (None, None),
                "a timeout is recoverable: never copied to the Cluster for good"
            );
            assert_eq!(warnings(&plan), vec![r::VPC_READY_TIMEOUT], "{case}");
            assert!(!s.ready);
            // Announced once.
            let again = cc(|v| {
                v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY);
                v["status"] = serde_json::to_value(&s).unwrap();
            });
            assert!(warnings(&w.run(&again)).is_empty(), "{case}");
        } else {
            assert!(cond(&s.conditions, ct::VPC_FAILED).is_none(), "{case}");
            assert_eq!(s.failure_reason, None, "{case}");
        }
    }
}

#[test]
fn vpc_recovers_after_timeout() {
    let timed_out = W {
        apply: Some(vpc_apply(0)),
        workspace: Some(creating_workspace(VPC_APPLY)),
        now: at(mins(20)),
        ..W::default()
    };
    let c = cc(|v| v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY));
    let s = st(&timed_out.run(&c)).clone();
    assert_eq!(
        cond(&s.conditions, ct::VPC_FAILED).map(|c| c.reason.as_str()),
        Some(r::VPC_READY_TIMEOUT)
    );
    assert_eq!(s.failure_reason, None);

    let later = W {
        apply: Some(vpc_apply(0)),
        workspace: Some(ready_workspace(VPC_APPLY, json!({"vpc_id": "vpc-late"}))),
        now: at(mins(25)),
        ..W::default()
    };
    let c = cc(|v| {
        v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY);
        v["status"] = serde_json::to_value(&s).unwrap();
    });
    let plan = later.run(&c);
    let s = st(&plan);
    assert!(s.ready);
    assert_eq!(s.vpc_id.as_deref(), Some("vpc-late"));
    assert_eq!(s.failure_reason, None);
    assert!(cond(&s.conditions, ct::VPC_FAILED).is_none());
    assert!(cancelled(&plan, VPC_TIMER));
}

#[test]
fn deletion_waits_for_the_control_plane_then_deletes_or_retains_the_vpc() {
    let deleting = |retain: bool, finalizer: bool| {
        cc(|v| {
            v["metadata"]["deletionTimestamp"] = json!(at(0).0.to_string());
            v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY);
            v["spec"]["retainVpcOnDelete"] = json!(retain);
            if !finalizer {
                remove(v, &["metadata", "finalizers"]);
            }
        })
    };
    let retained_apply = {
        let mut a = vpc_apply(0);
        a.spec.retain_workspace_on_delete = true;
        a
    };
    let deleting_apply = {
        let mut a = vpc_apply(0);
        a.metadata.deletion_timestamp = Some(at(0));
        a
    };
    let retain_patch = Op::PatchChild(crate::reconcile::plan::Child {
        api_version: crate::api::names::groups::INFRASTRUCTURE_API_VERSION,
        kind: "WorkspaceTemplateApply",
        plural: "workspacetemplateapplies",
        namespace: Some(NS.into()),
        name: VPC_APPLY.into(),
        body: json!({"spec": {"retainWorkspaceOnDelete": true}}),
    });
    let delete = delete_apply(NS, VPC_APPLY);
    // (case, retain, finalizer, control plane exists, apply, ops, blocked reason, events)
    type Row = (
        &'static str,
        bool,
        bool,
        bool,
        Option<WorkspaceTemplateApply>,
        Vec<Op>,
        Option<&'static str>,
        Vec<&'static str>,
    );
    let table: Vec<Row> = vec![
        (
            "no finalizer",
            false,
            false,
            false,
            Some(vpc_apply(0)),
            vec![],
            None,
            vec![],
        ),
        (
            "control plane still there",
            false,
            true,
            true,
            Some(vpc_apply(0)),
            vec![],
            Some("WaitingForControlPlane"),
            vec![],
        ),
        (
            "deletes the apply",
            false,
            true,
            false,
            Some(vpc_apply(0)),
            vec![delete.clone()],
            Some("WaitingForVPCDeletion"),
            vec![],
        ),
        (
            "retain marks the apply first",
            true,
            true,
            false,
            Some(vpc_apply(0)),
            vec![retain_patch, delete.clone()],
            Some("WaitingForVPCDeletion"),
            vec!["RetainingVPC"],
        ),
        (
            "retain already marked",
            true,
            true,
            false,
            Some(retained_apply),
            vec![delete],
            Some("WaitingForVPCDeletion"),
            vec![],
        ),
        (
            "apply deleting",
            false,
            true,
            false,
            Some(deleting_apply),
            vec![],
            Some("WaitingForVPCDeletion"),
            vec![],
        ),
        (
            "apply gone",
            false,
            true,
            false,
            None,
            vec![Op::RemoveFinalizer(finalizers::CAPT_CLUSTER)],
            None,
            vec![],
        ),
    ];
    for (case, retain, finalizer, cp, apply, ops, blocked, events) in table {
        let w = W {
            apply,
            control_plane_exists: cp,
            ..W::default()
        };
        let plan = w.run(&deleting(retain, finalizer));
        assert_deletion(&plan, case, &ops, blocked, &events);
    }
}

#[test]
fn a_ready_vpc_stays_ready_while_its_workspace_reapplies() {
    let ready = json!({"ready": true, "vpcId": "vpc-1"});
    let c = cc(|v| {
        v["spec"]["workspaceTemplateApplyName"] = json!(VPC_APPLY);
        v["status"] = ready.clone();
    });
    let w = W {
        apply: Some(vpc_apply(0)),
        workspace: Some(creating_workspace(VPC_APPLY)),
        now: at(mins(60)),
        ..W::default()
    };
    let plan = w.run(&c);
    let s = st(&plan);
    assert!(s.ready, "infrastructure readiness is not withdrawn");
    assert_eq!(s.vpc_id.as_deref(), Some("vpc-1"));
    assert_eq!(s.failure_reason, None, "no timeout once the VPC was ready");
    assert_eq!(armed(&plan, VPC_TIMER), None);
}

fn refused(kind: &str) -> crate::reconcile::grants::RefNotPermitted {
    let referrer = crate::reconcile::grants::Referrer {
        kind,
        namespace: "team-a",
        name: NAME,
        on_behalf_of: None,
    };
    let tref = crate::api::TemplateRef::new("vpc-template", Some("platform".into()));
    *crate::reconcile::grants::check(&referrer, &tref, "default", []).expect_err("refused")
}

#[test]
fn a_refused_vpc_template_creates_no_apply_and_keeps_a_running_vpc() {
    // (case, status before, ready after)
    let table = [
        ("not started", json!(null), false),
        ("running", json!({"ready": true, "vpcId": "vpc-1"}), true),
    ];
    for (case, status, ready) in table {
        let c = cc(|v| {
            v["metadata"]["namespace"] = json!("team-a");
            v["spec"]["vpcTemplateRef"] = json!({"name": "vpc-template", "namespace": "platform"});
            v["status"] = status;
        });
        // The template's existence is irrelevant: the refusal is reported first.
        let w = W {
            refused: Some(refused("CAPTCluster")),
            ..W::default()
        };
        let plan = w.run(&c);
        let s = st(&plan);
        let vpc = cond(&s.conditions, ct::VPC_READY).expect(case);
        assert_eq!(
            (vpc.status.as_str(), vpc.reason.as_str()),
            ("False", "RefNotPermitted"),
            "{case}"
        );
        assert!(
            vpc.message.contains("CAPTCluster team-a/"),
            "{case}: {}",
            vpc.message
        );
        assert_eq!(s.ready, ready, "{case}");
        assert_eq!(warnings(&plan), vec!["RefNotPermitted"], "{case}");
        assert!(
            plan.ops
                .iter()
                .all(|o| !matches!(o, Op::Create(_) | Op::PatchChild(_) | Op::Delete { .. })),
            "{case}: {:?}",
            plan.ops
        );
        let b = plan.blocked.as_ref().expect(case);
        assert_eq!((b.kind, b.reason), (BlockKind::Waiting, "RefNotPermitted"));
    }
}

#[test]
fn derived_apply_names_at_the_length_limit() {
    // (case, CAPTCluster name, workspaceTemplateApplyName, refused)
    let table = [
        ("name plus -vpc fits", "a".repeat(249), None, false),
        (
            "name plus -vpc is one too long",
            "a".repeat(250),
            None,
            true,
        ),
        (
            "an explicit apply name is used instead",
            "a".repeat(250),
            Some("short-vpc"),
            false,
        ),
    ];
    for (case, name, apply, refused) in table {
        let c = cc(|v| {
            v["metadata"]["name"] = json!(name);
            v["metadata"]["labels"] = json!({});
            v["spec"]["workspaceTemplateApplyName"] = json!(apply);
        });
        let w = W {
            cluster: Some(cluster(&name)),
            ..W::default()
        };
        let plan = w.run(&c);
        let creates = created(&plan, "WorkspaceTemplateApply");
        if refused {
            assert!(creates.is_empty(), "{case}");
            let vpc = cond(&st(&plan).conditions, ct::VPC_READY).expect(case);
            assert_eq!(vpc.reason, "NameTooLong", "{case}");
            assert!(
                vpc.message.contains("254 characters"),
                "{case}: {}",
                vpc.message
            );
            assert_eq!(warnings(&plan), vec!["NameTooLong"], "{case}");
            let b = plan.blocked.as_ref().expect(case);
            assert_eq!(b.kind, BlockKind::InvalidSpec, "{case}");
        } else {
            assert_eq!(creates.len(), 1, "{case}: {:?}", plan.ops);
            assert!(creates[0].name.len() <= 253, "{case}");
        }
    }
}

#[test]
fn an_absent_vpc_template_is_waited_for_unless_refused_or_unused() {
    let template = Wait {
        kind: Kind::WorkspaceTemplate,
        namespace: NS.into(),
        name: "vpc-template".into(),
    };
    let absent = W {
        template_exists: false,
        ..W::default()
    };
    assert_eq!(absent.run(&cc(|_| {})).waits, vec![template.clone()]);
    // Also while paused or without an owner Cluster: the wait does not depend on the decision.
    let no_owner = W {
        cluster: None,
        template_exists: false,
        ..W::default()
    };
    assert_eq!(no_owner.run(&cc(|_| {})).waits, vec![template]);
    assert!(W::default().run(&cc(|_| {})).waits.is_empty(), "present");
    let refused = W {
        template_exists: false,
        refused: Some(refused("CAPTCluster")),
        ..W::default()
    };
    assert!(refused.run(&cc(|_| {})).waits.is_empty(), "refused");
    let existing = cc(|v| {
        v["spec"].as_object_mut().unwrap().remove("vpcTemplateRef");
        v["spec"]["existingVpcId"] = json!("vpc-1");
    });
    assert!(absent.run(&existing).waits.is_empty(), "existing VPC");
}
