//! Table tests of the WorkspaceTemplateApply decision.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::reconcile::plan::BlockKind;

#[path = "decision_test_support.rs"]
#[allow(clippy::duplicate_mod)]
mod support;
use support::*;

const APPLY: &str = "alpha-eks-controlplane-apply";
const WS: &str = "alpha-eks-controlplane";
const ME: &str = "WorkspaceTemplateApply/default/alpha-eks-controlplane-apply";

fn template() -> WorkspaceTemplate {
    from(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": "eks", "namespace": NS},
        "spec": {"template": {"spec": {
            "providerConfigRef": {"name": "aws"},
            "writeConnectionSecretToRef": {"name": "${WORKSPACE_NAME}-template-secret", "namespace": NS},
            "forProvider": {
                "source": "Inline",
                "module": "resource \"x\" \"${WORKSPACE_NAME}\" { name = \"${cluster_name}\" tags = var.tags }",
                "vars": [
                    {"key": "cluster_name", "value": "${cluster_name}"},
                    {"key": "version", "value": "${kubernetes_version}"},
                    {"key": "note", "value": "${note}"},
                ],
            },
        }}},
    }))
}

fn wta_json() -> Value {
    json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplateApply",
        "metadata": {
            "name": APPLY,
            "namespace": NS,
            "uid": "uid-wta",
            "generation": 1,
            "finalizers": [finalizers::WORKSPACE_TEMPLATE_APPLY],
        },
        "spec": {
            "templateRef": {"name": "eks", "namespace": NS},
            "variables": {"cluster_name": "alpha", "kubernetes_version": "1.31", "note": "plain"},
            "writeConnectionSecretToRef": {"name": "alpha-eks-connection", "namespace": NS},
        },
    })
}

fn wta(edit: impl FnOnce(&mut Value)) -> WorkspaceTemplateApply {
    edited(wta_json(), edit)
}

/// Caches for one decision.
struct W {
    template: Option<WorkspaceTemplate>,
    workspaces: HashMap<String, Arc<Workspace>>,
    missing_secrets: Vec<String>,
    unready_workspaces: Vec<(String, bool)>,
    paused: bool,
    cluster_missing: bool,
    refused: Option<crate::reconcile::grants::RefNotPermitted>,
    now: Time,
}

impl Default for W {
    fn default() -> Self {
        W {
            template: Some(template()),
            workspaces: HashMap::new(),
            missing_secrets: Vec::new(),
            unready_workspaces: Vec::new(),
            paused: false,
            cluster_missing: false,
            refused: None,
            now: at(0),
        }
    }
}

impl W {
    fn with_ws(mut self, ws: Workspace) -> Self {
        self.workspaces.insert(ws.name_any(), Arc::new(ws));
        self
    }

    fn run(&self, wta: &WorkspaceTemplateApply) -> Plan<WorkspaceTemplateApplyStatus> {
        let lookup = |n: &str| self.workspaces.get(n).cloned();
        let world = WtaWorld {
            template: self.template.as_ref(),
            workspace: &lookup,
            missing_secrets: self.missing_secrets.clone(),
            unready_workspaces: self.unready_workspaces.clone(),
            root_owner: Some("CAPTControlPlane/default/alpha".into()),
            traceparent: Some("00-0123456789abcdef0123456789abcdef-0123456789abcdef-01".into()),
            paused: self.paused,
            cluster_missing: self.cluster_missing,
            refused: self.refused.clone(),
            now: self.now.clone(),
        };
        let plan = decide(wta, &world);
        assert_no_cluster_writes(&plan);
        plan
    }
}

fn owned_by(owner: &str) -> Value {
    json!({"annotations": {OWNER_ANNOTATION: owner}})
}

/// The Workspace a previous decision created for `wta`, with `status`.
fn created_workspace(wta: &WorkspaceTemplateApply, w: &W, name: &str, status: Value) -> Workspace {
    let plan = w.run(wta);
    let c = created(&plan, "Workspace");
    assert_eq!(c.len(), 1, "{:?}", plan.ops);
    let mut body = c[0].body.clone();
    body["metadata"]["name"] = json!(name);
    body["status"] = status;
    from(body)
}

fn rendered_cond(s: &WorkspaceTemplateApplyStatus) -> (&str, &str) {
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == RENDERED)
        .expect("Rendered condition");
    (c.status.as_str(), c.reason.as_str())
}

#[test]
fn finalizer_is_added_first() {
    let plan = W::default().run(&wta(|v| {
        remove(v, &["metadata", "finalizers"]);
    }));
    assert_eq!(
        plan.ops.first(),
        Some(&Op::AddFinalizer(finalizers::WORKSPACE_TEMPLATE_APPLY))
    );
    assert_eq!(created(&plan, "Workspace").len(), 1);
}

#[test]
fn renders_and_creates_the_workspace() {
    let plan = W::default().run(&wta(|_| {}));
    let c = created(&plan, "Workspace");
    assert_eq!(c.len(), 1);
    let child = c[0];
    assert_eq!(child.name, WS, "name without -apply");
    assert_eq!(child.namespace, None, "Workspaces are cluster-scoped");
    let body = &child.body;
    assert_eq!(body["metadata"]["name"], WS);
    let ann = &body["metadata"]["annotations"];
    assert_eq!(ann[OWNER_ANNOTATION], ME);
    assert_eq!(ann[ROOT_OWNER_ANNOTATION], "CAPTControlPlane/default/alpha");
    assert!(
        ann[SPEC_HASH_ANNOTATION]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    assert!(ann["traceparent"].as_str().is_some());
    let labels = &body["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "capt");
    assert_eq!(
        labels["infrastructure.cluster.x-k8s.io/workspacetemplateapply-name"],
        APPLY
    );
    let spec = &body["spec"];
    assert_eq!(
        spec["forProvider"]["module"],
        "resource \"x\" \"alpha-eks-controlplane\" { name = \"alpha\" tags = var.tags }"
    );
    assert_eq!(
        spec["forProvider"]["vars"],
        json!([
            {"key": "cluster_name", "value": "alpha"},
            {"key": "version", "value": "1.31"},
            {"key": "note", "value": "plain"},
        ])
    );
    assert_eq!(
        spec["writeConnectionSecretToRef"],
        json!({"name": "alpha-eks-connection", "namespace": NS}),
        "the apply's connection secret replaces the template's"
    );
    assert_eq!(spec["providerConfigRef"]["name"], "aws");

    let s = st(&plan);
    assert!(s.applied);
    assert_eq!(s.workspace_name.as_deref(), Some(WS));
    assert_eq!(s.last_applied_time, Some(at(0)));
    assert_eq!(rendered_cond(s), ("True", reasons::APPLIED));
    assert_eq!(normals(&plan), vec![events::CREATED_WORKSPACE]);
    assert!(plan.blocked.is_none());
}

#[test]
fn template_connection_secret_is_kept_without_an_override() {
    let plan = W::default().run(&wta(|v| {
        remove(v, &["spec", "writeConnectionSecretToRef"]);
    }));
    assert_eq!(
        created(&plan, "Workspace")[0].body["spec"]["writeConnectionSecretToRef"],
        json!({"name": "alpha-eks-controlplane-template-secret", "namespace": NS})
    );
}

#[test]
fn variable_values_are_inserted_as_text_not_json() {
    // Quotes, backslashes, newlines and placeholders in values neither corrupt the spec nor expand.
    let tricky = "a \"quoted\" \\ value\nwith ${cluster_name} and }";
    let plan = W::default().run(&wta(|v| v["spec"]["variables"]["note"] = json!(tricky)));
    let spec = &created(&plan, "Workspace")[0].body["spec"];
    assert_eq!(spec["forProvider"]["vars"][2]["value"], tricky);
    assert_eq!(spec["forProvider"]["vars"][0]["value"], "alpha");
}

#[test]
fn blocked_before_apply_table() {
    // (case, apply edit, world edit, class, reason, message, warning)
    type Edit = fn(&mut Value);
    type WEdit = fn(&mut W);
    let table: [(&str, Edit, WEdit, BlockKind, &str, &str, bool); 6] = [
        (
            "invalid spec",
            |v| v["spec"]["templateRef"]["name"] = json!(""),
            |_| {},
            BlockKind::InvalidSpec,
            reasons::INVALID_SPEC,
            "",
            true,
        ),
        (
            "template missing",
            |_| {},
            |w| w.template = None,
            BlockKind::Waiting,
            reasons::TEMPLATE_NOT_FOUND,
            "WorkspaceTemplate default/eks not found",
            true,
        ),
        (
            "template missing, namespace from the apply",
            |v| {
                v["metadata"]["namespace"] = json!("team-a");
                v["spec"]["templateRef"] = json!({"name": "eks"});
            },
            |w| w.template = None,
            BlockKind::Waiting,
            reasons::TEMPLATE_NOT_FOUND,
            "WorkspaceTemplate team-a/eks not found",
            true,
        ),
        (
            "secrets missing",
            |_| {},
            |w| w.missing_secrets = vec!["default/a".into(), "other/b".into()],
            BlockKind::Waiting,
            reasons::WAITING_FOR_SECRETS,
            "Waiting for secrets: default/a, other/b",
            false,
        ),
        (
            "workspaces not ready",
            |_| {},
            |w| w.unready_workspaces = vec![("vpc".into(), true), ("gone".into(), false)],
            BlockKind::Waiting,
            reasons::WAITING_FOR_WORKSPACES,
            "Waiting for workspace vpc to be ready, gone",
            false,
        ),
        (
            "unusable variable name",
            |v| v["spec"]["variables"]["bad}name"] = json!("x"),
            |_| {},
            BlockKind::InvalidSpec,
            reasons::RENDER_FAILED,
            "",
            true,
        ),
    ];
    for (case, edit, wedit, class, reason, message, warn) in table {
        let mut w = W::default();
        wedit(&mut w);
        let a = wta(edit);
        let plan = w.run(&a);
        assert!(created(&plan, "Workspace").is_empty(), "{case}");
        assert!(plan.ops.is_empty(), "{case}: {:?}", plan.ops);
        let b = plan.blocked.as_ref().expect(case);
        assert_eq!((b.kind, b.reason), (class, reason), "{case}");
        if !message.is_empty() {
            assert_eq!(b.message, message, "{case}");
        }
        let s = st(&plan).clone();
        assert!(!s.applied, "{case}");
        assert_eq!(rendered_cond(&s), ("False", reason), "{case}");
        let (expected_w, expected_n) = if warn {
            (vec![reason], vec![])
        } else {
            (vec![], vec![reason])
        };
        assert_eq!(
            (warnings(&plan), normals(&plan)),
            (expected_w, expected_n),
            "{case}"
        );

        // Recorded already: the event is not repeated.
        let mut again = a.clone();
        again.status = Some(s);
        assert!(w.run(&again).events.is_empty(), "{case}");
    }
}

#[test]
fn waits_apply_only_before_the_first_apply() {
    let w = W {
        missing_secrets: vec!["default/a".into()],
        unready_workspaces: vec![("vpc".into(), false)],
        ..W::default()
    };
    let applied = wta(|v| v["status"] = json!({"applied": true, "workspaceName": WS}));
    let existing = created_workspace(&applied, &W::default(), WS, json!({}));
    let w = w.with_ws(existing);
    let plan = w.run(&applied);
    assert!(plan.blocked.is_none(), "{:?}", plan.blocked);
}

#[test]
fn mirrors_workspace_conditions_and_announces_readiness_once() {
    let a = wta(|_| {});
    let base = W::default();
    let conds = json!([
        xp_cond("Synced", true, "ReconcileSuccess", None),
        xp_cond("Ready", true, "Available", None),
    ]);
    let ws = created_workspace(&a, &base, WS, json!({"conditions": conds}));
    let w = base.with_ws(ws);
    let applied = wta(|v| {
        v["status"] =
            json!({"applied": true, "workspaceName": WS, "lastAppliedTime": at(0).0.to_string()})
    });
    let plan = w.run(&applied);
    assert!(plan.ops.is_empty(), "in step: {:?}", plan.ops);
    let s = st(&plan).clone();
    let types: Vec<(&str, &str)> = s
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        types,
        vec![("Synced", "True"), ("Ready", "True"), (RENDERED, "True")]
    );
    assert!(s.synced_and_ready());
    assert_eq!(normals(&plan), vec![events::WORKSPACE_READY]);
    assert_eq!(s.last_applied_time, Some(at(0)), "not re-applied");

    let mut again = applied.clone();
    again.status = Some(s);
    assert!(w.run(&again).events.is_empty(), "announced once");
}

#[test]
fn spec_change_patches_the_workspace() {
    // A changed variable reaches the Workspace.
    let before = wta(|_| {});
    let base = W::default();
    let ws = created_workspace(
        &before,
        &base,
        WS,
        json!({"conditions": [xp_cond("Ready", true, "Available", None), xp_cond("Synced", true, "ReconcileSuccess", None)]}),
    );
    let w = W {
        now: at(600),
        ..W::default()
    }
    .with_ws(ws);
    let bumped = wta(|v| {
        v["spec"]["variables"]["kubernetes_version"] = json!("1.32");
        v["status"] =
            json!({"applied": true, "workspaceName": WS, "lastAppliedTime": at(0).0.to_string()});
    });
    let plan = w.run(&bumped);
    assert!(created(&plan, "Workspace").is_empty());
    let p = patched(&plan, "Workspace");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].name, WS);
    let body = &p[0].body;
    assert_eq!(body["spec"]["forProvider"]["vars"][1]["value"], "1.32");
    assert!(
        body["spec"]["forProvider"]
            .as_object()
            .is_some_and(|fp| fp.contains_key("varFiles")),
        "the whole spec is replaced"
    );
    assert_ne!(
        body["metadata"]["annotations"][SPEC_HASH_ANNOTATION],
        Value::Null
    );
    assert_eq!(normals(&plan), vec![reasons::UPDATED_WORKSPACE]);
    let s = st(&plan);
    assert_eq!(s.last_applied_time, Some(at(600)));
    assert!(!s.synced_and_ready(), "an updated Workspace reports afresh");
}

#[test]
fn workspace_deleted_from_outside_is_recreated() {
    // No error forever, a new Workspace.
    let applied = wta(|v| {
        v["status"] =
            json!({"applied": true, "workspaceName": WS, "lastAppliedTime": at(0).0.to_string()})
    });
    let w = W {
        now: at(900),
        missing_secrets: vec!["default/a".into()],
        ..W::default()
    };
    let plan = w.run(&applied);
    let c = created(&plan, "Workspace");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].name, WS);
    assert_eq!(normals(&plan), vec![reasons::RECREATED_WORKSPACE]);
    assert_eq!(st(&plan).last_applied_time, Some(at(900)));
}

#[test]
fn workspace_names_taken_by_other_applies() {
    // G-18: Workspaces are cluster-scoped; another namespace's apply may own the name.
    let other = "WorkspaceTemplateApply/team-b/alpha-eks-controlplane-apply";
    let alt = format!(
        "{WS}-{}",
        &crate::reconcile::render::spec_hash(&json!(NS))[..8]
    );
    let a = wta(|_| {});

    // Base name foreign: the alternate name is used.
    let w = W::default().with_ws(workspace_meta(WS, owned_by(other), json!({})));
    let plan = w.run(&a);
    let c = created(&plan, "Workspace");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].name, alt);
    assert_eq!(st(&plan).workspace_name.as_deref(), Some(alt.as_str()));

    // Both foreign: conflict, nothing adopted or written.
    let w = W::default()
        .with_ws(workspace_meta(WS, owned_by(other), json!({})))
        .with_ws(workspace_meta(
            &alt,
            owned_by("WorkspaceTemplateApply/x/y"),
            json!({}),
        ));
    let plan = w.run(&a);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
    let b = plan.blocked.as_ref().expect("conflict");
    assert_eq!(
        (b.kind, b.reason),
        (BlockKind::Waiting, reasons::NAME_CONFLICT)
    );
    assert_eq!(rendered_cond(st(&plan)), ("False", reasons::NAME_CONFLICT));
    assert_eq!(warnings(&plan), vec![reasons::NAME_CONFLICT]);

    // A recorded name that another apply took since: conflict, not adopted.
    let recorded = wta(|v| v["status"] = json!({"applied": true, "workspaceName": WS}));
    let w = W::default().with_ws(workspace_meta(WS, owned_by(other), json!({})));
    let plan = w.run(&recorded);
    assert!(plan.ops.is_empty());
    assert_eq!(
        plan.blocked.as_ref().map(|b| b.reason),
        Some(reasons::NAME_CONFLICT)
    );
}

#[test]
fn an_unlabelled_workspace_of_the_same_name_is_taken_over() {
    let w = W::default().with_ws(workspace(WS, json!({})));
    let plan = w.run(&wta(|_| {}));
    assert!(created(&plan, "Workspace").is_empty());
    let p = patched(&plan, "Workspace");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].body["metadata"]["annotations"][OWNER_ANNOTATION], ME);
}

#[test]
fn deletion_deletes_or_retains_the_workspace() {
    let deleting = |retain: bool, finalizer: bool| {
        wta(|v| {
            v["metadata"]["deletionTimestamp"] = json!(at(0).0.to_string());
            v["spec"]["retainWorkspaceOnDelete"] = json!(retain);
            v["status"] = json!({"applied": true, "workspaceName": WS});
            if !finalizer {
                remove(v, &["metadata", "finalizers"]);
            }
        })
    };
    let ours = || workspace_meta(WS, owned_by(ME), json!({}));
    let ours_deleting = || {
        let mut m = owned_by(ME);
        m["deletionTimestamp"] = json!(at(0).0.to_string());
        m["finalizers"] = json!(["finalizer.managedresource.crossplane.io"]);
        workspace_meta(WS, m, json!({}))
    };
    let foreign = || workspace_meta(WS, owned_by("WorkspaceTemplateApply/x/y"), json!({}));
    let delete_ws = Op::Delete {
        api_version: groups::TERRAFORM_API_VERSION,
        kind: "Workspace",
        plural: "workspaces",
        namespace: None,
        name: WS.into(),
    };
    let remove = Op::RemoveFinalizer(finalizers::WORKSPACE_TEMPLATE_APPLY);
    // (case, retain, finalizer, workspace, ops, blocked, events)
    type Row = (
        &'static str,
        bool,
        bool,
        Option<Workspace>,
        Vec<Op>,
        Option<&'static str>,
        Vec<&'static str>,
    );
    let table: Vec<Row> = vec![
        (
            "no finalizer",
            false,
            false,
            Some(ours()),
            vec![],
            None,
            vec![],
        ),
        (
            "retain",
            true,
            true,
            Some(ours()),
            vec![remove.clone()],
            None,
            vec![events::RETAINED_WORKSPACE],
        ),
        (
            "delete",
            false,
            true,
            Some(ours()),
            vec![delete_ws],
            Some(reasons::DELETING),
            vec![events::DELETED_WORKSPACE],
        ),
        (
            "workspace being destroyed",
            false,
            true,
            Some(ours_deleting()),
            vec![],
            Some(reasons::DELETING),
            vec![],
        ),
        (
            "workspace gone",
            false,
            true,
            None,
            vec![remove.clone()],
            None,
            vec![],
        ),
        (
            "another apply's workspace is left alone",
            false,
            true,
            Some(foreign()),
            vec![remove],
            None,
            vec![],
        ),
    ];
    for (case, retain, finalizer, ws, ops, blocked, evs) in table {
        let mut w = W::default();
        if let Some(ws) = ws {
            w = w.with_ws(ws);
        }
        let plan = w.run(&deleting(retain, finalizer));
        assert_deletion(&plan, case, &ops, blocked, &evs);
    }
}

#[test]
fn replace_spec_patch_nulls_absent_fields() {
    let p = replace_spec_patch(&json!({"forProvider": {"module": "m", "source": "Inline"}}));
    assert_eq!(p["forProvider"]["module"], "m");
    assert_eq!(p["forProvider"]["vars"], Value::Null);
    assert!(p["forProvider"].as_object().unwrap().contains_key("env"));
    assert!(
        p.as_object()
            .unwrap()
            .contains_key("writeConnectionSecretToRef")
    );
}

#[test]
fn a_paused_apply_writes_nothing_even_when_deleting() {
    for deleting in [false, true] {
        let w = W {
            paused: true,
            ..W::default()
        };
        let a = wta(|v| {
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
                v["metadata"]["finalizers"] = json!([finalizers::WORKSPACE_TEMPLATE_APPLY]);
            }
        });
        let plan = w.run(&a);
        assert!(plan.ops.is_empty(), "deleting={deleting}: {:?}", plan.ops);
        assert!(plan.status.is_none() && plan.events.is_empty());
        assert_eq!(
            plan.blocked.as_ref().map(|b| b.reason),
            Some(crate::reconcile::pause::PAUSED_REASON)
        );
    }
}

fn refusal() -> crate::reconcile::grants::RefNotPermitted {
    let referrer = crate::reconcile::grants::Referrer {
        kind: "WorkspaceTemplateApply",
        namespace: "team-a",
        name: APPLY,
        on_behalf_of: None,
    };
    let tref = crate::api::TemplateRef::new("eks", Some("platform".into()));
    *crate::reconcile::grants::check(&referrer, &tref, "default", []).expect_err("refused")
}

#[test]
fn a_refused_reference_renders_nothing() {
    let w = W {
        refused: Some(refusal()),
        ..W::default()
    };
    let plan = w.run(&wta(|_| {}));
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
    let b = plan.blocked.as_ref().expect("blocked");
    assert_eq!(
        (b.kind, b.reason),
        (
            BlockKind::Waiting,
            crate::reconcile::grants::REF_NOT_PERMITTED
        )
    );
    assert!(
        b.message.contains("WorkspaceTemplateGrant in platform"),
        "{}",
        b.message
    );
    assert_eq!(warnings(&plan), vec!["RefNotPermitted"]);
    let s = st(&plan).clone();
    assert_eq!(rendered_cond(&s), ("False", "RefNotPermitted"));
    assert!(!s.applied);
    // Reported once.
    let mut again = wta(|_| {});
    again.status = Some(s);
    assert!(w.run(&again).events.is_empty());
}

#[test]
fn a_revoked_grant_leaves_the_workspace_as_it_is() {
    // Rendered and applied while permitted; then the template changes and the grant is gone.
    let applied = wta(|_| {});
    let base = W::default();
    let ws = created_workspace(
        &applied,
        &base,
        WS,
        json!({"conditions": [xp_cond("Ready", true, "Available", None), xp_cond("Synced", true, "ReconcileSuccess", None)]}),
    );
    let mut changed = template();
    changed.spec.template.spec.for_provider.vars[2].value = "${note} v2".into();
    let w = W {
        template: Some(changed),
        refused: Some(refusal()),
        now: at(600),
        ..W::default()
    }
    .with_ws(ws);
    let running = wta(|v| {
        v["status"] = json!({
            "applied": true, "workspaceName": WS, "lastAppliedTime": at(0).0.to_string(),
            "conditions": [xp_cond("Ready", true, "Available", None), xp_cond("Synced", true, "ReconcileSuccess", None)],
        });
    });
    let plan = w.run(&running);
    assert!(plan.ops.is_empty(), "no Workspace write: {:?}", plan.ops);
    let s = st(&plan);
    assert_eq!(rendered_cond(s), ("False", "RefNotPermitted"));
    assert!(s.applied, "what was applied stays applied");
    assert_eq!(s.workspace_name.as_deref(), Some(WS));
    assert!(
        s.synced_and_ready(),
        "the running Workspace's conditions are kept"
    );
    assert_eq!(warnings(&plan), vec!["RefNotPermitted"]);
}

#[test]
fn deleting_a_refused_apply_still_cleans_up_its_own_workspace() {
    let ws = created_workspace(&wta(|_| {}), &W::default(), WS, json!({}));
    let w = W {
        refused: Some(refusal()),
        ..W::default()
    }
    .with_ws(ws);
    let deleting = wta(|v| {
        v["metadata"]["deletionTimestamp"] = json!(at(5).0.to_string());
        v["status"] = json!({"applied": true, "workspaceName": WS});
    });
    let plan = w.run(&deleting);
    assert!(
        plan.ops
            .iter()
            .any(|o| matches!(o, Op::Delete { name, .. } if name == WS)),
        "{:?}",
        plan.ops
    );
}

#[test]
fn placeholders_without_a_variable_are_rendered_and_reported_once() {
    let a = wta(|v| {
        v["spec"]["variables"] = json!({"cluster_name": "alpha", "kubernetes_version": "1.31"});
    });
    let plan = W::default().run(&a);
    assert_eq!(created(&plan, "Workspace").len(), 1, "rendered anyway");
    let body = &created(&plan, "Workspace")[0].body;
    assert_eq!(body["spec"]["forProvider"]["vars"][2]["value"], "${note}");
    assert_eq!(warnings(&plan), vec![reasons::UNRESOLVED_PLACEHOLDERS]);
    let s = st(&plan).clone();
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == RENDERED)
        .expect("rendered");
    assert_eq!(
        c.message.as_deref(),
        Some("placeholders without a variable, rendered as written: note")
    );
    let mut again = a.clone();
    again.status = Some(s);
    assert!(
        warnings(&W::default().run(&again)).is_empty(),
        "reported once"
    );
    // With every variable given there is nothing to report.
    assert!(warnings(&W::default().run(&wta(|_| {}))).is_empty());
}

#[test]
fn a_namespaced_alternative_over_253_characters_is_not_tried() {
    // The apply name is at the limit; its Workspace name (without `-apply`) is taken by another
    // namespace's apply, and the alternative (`-<hash>` added) would be too long to create.
    let long = format!("{}-apply", "w".repeat(247));
    let base = "w".repeat(247);
    let a = wta(|v| v["metadata"]["name"] = json!(long));
    let other = "WorkspaceTemplateApply/team-b/other-apply";
    let w = W::default().with_ws(workspace_meta(&base, owned_by(other), json!({})));
    let plan = w.run(&a);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
    assert_eq!(
        plan.blocked.as_ref().map(|b| b.reason),
        Some(reasons::NAME_CONFLICT)
    );
    // Free: the base name (253 characters less `-apply`) is used.
    let plan = W::default().run(&a);
    assert_eq!(created(&plan, "Workspace")[0].name, base);
}

#[test]
fn an_apply_whose_cluster_is_not_cached_writes_nothing_until_it_is() {
    // (deleting, writes nothing)
    for deleting in [false, true] {
        let w = W {
            cluster_missing: true,
            ..W::default()
        };
        let a = wta(|v| {
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
            }
        });
        let plan = w.run(&a);
        if deleting {
            assert!(
                !plan.ops.is_empty(),
                "deletion proceeds: {:?}",
                plan.blocked
            );
        } else {
            assert!(plan.ops.is_empty() && plan.status.is_none() && plan.events.is_empty());
            assert_eq!(
                plan.blocked.as_ref().map(|b| b.reason),
                Some(reasons::WAITING_FOR_CLUSTER)
            );
        }
    }
}

#[test]
fn an_apply_waits_for_what_it_misses_whatever_it_decides() {
    let wait = |kind, ns: &str, name: &str| Wait {
        kind,
        namespace: ns.into(),
        name: name.into(),
    };
    type Edit = fn(&mut Value);
    type Cache = fn(&mut W);
    let cases: Vec<(&str, Edit, Cache, Vec<Wait>)> = vec![
        ("nothing missing", |_| {}, |_| {}, vec![]),
        (
            "a secret in the apply's namespace and one elsewhere",
            |v| {
                v["spec"]["waitForSecrets"] = json!([
                    {"name": "a", "namespace": ""},
                    {"name": "b", "namespace": "other"},
                    {"name": "c", "namespace": ""},
                ])
            },
            |w| w.missing_secrets = vec!["default/a".into(), "other/b".into()],
            vec![
                wait(Kind::Secret, "default", "a"),
                wait(Kind::Secret, "other", "b"),
            ],
        ),
        (
            "unready and absent Workspaces",
            |_| {},
            |w| w.unready_workspaces = vec![("vpc".into(), true), ("gone".into(), false)],
            vec![
                wait(Kind::Workspace, "", "vpc"),
                wait(Kind::Workspace, "", "gone"),
            ],
        ),
        (
            "an absent template",
            |_| {},
            |w| w.template = None,
            vec![wait(Kind::WorkspaceTemplate, "default", "eks")],
        ),
        (
            "a refused template is not waited for",
            |_| {},
            |w| {
                w.template = None;
                w.refused = Some(crate::reconcile::grants::RefNotPermitted {
                    kind: "WorkspaceTemplateApply".into(),
                    namespace: "default".into(),
                    name: APPLY.into(),
                    template_namespace: "team-a".into(),
                    template: "eks".into(),
                    shared: "default".into(),
                });
            },
            vec![],
        ),
        (
            "a Cluster not cached, also while paused",
            |v| v["metadata"]["labels"] = json!({crate::api::names::labels::CLUSTER_NAME: "alpha"}),
            |w| {
                w.cluster_missing = true;
                w.paused = true;
            },
            vec![wait(Kind::Cluster, "default", "alpha")],
        ),
    ];
    for (name, edit, cache, want) in cases {
        let mut w = W::default();
        cache(&mut w);
        let plan = w.run(&wta(edit));
        assert_eq!(plan.waits, want, "{name}");
    }
}
