//! The check against synthetic objects shaped like a converged `capt demo` (see the table in the
//! module documentation).

use serde_json::{Value, json};

use super::*;

const NS: &str = "default";

fn meta(name: &str, ns: Option<&str>, uid: &str) -> Value {
    let mut m = json!({"name": name, "uid": uid, "resourceVersion": "1"});
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

fn owner(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true})
}

fn apply(name: &str, cluster: &str, owner_ref: Value, template: &str, ws: &str) -> Value {
    let mut m = meta(name, Some(NS), &format!("uid-{name}"));
    m["labels"] = json!({"cluster.x-k8s.io/cluster-name": cluster});
    m["ownerReferences"] = json!([owner_ref]);
    json!({
        "metadata": m,
        "spec": {"templateRef": {"name": template, "namespace": NS}},
        "status": {"applied": true, "workspaceName": ws},
    })
}

fn workspace(name: &str, apply: &str, conn: Option<&str>) -> Value {
    let mut m = meta(name, None, &format!("uid-ws-{name}"));
    m["annotations"] = json!({"infrastructure.cluster.x-k8s.io/owner": format!("WorkspaceTemplateApply/{NS}/{apply}")});
    m["labels"] = json!({"app.kubernetes.io/managed-by": "capt"});
    let mut ws = json!({
        "metadata": m,
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}],
            "atProvider": {"outputs": {"role_exists": true}},
        },
    });
    if let Some(c) = conn {
        ws["spec"]["writeConnectionSecretToRef"] = json!({"name": c, "namespace": NS});
    }
    ws
}

fn secret(
    name: &str,
    type_: &str,
    owner_ref: Value,
    data: &[&str],
    cluster: Option<&str>,
) -> Value {
    let mut m = meta(name, Some(NS), &format!("uid-s-{name}"));
    m["ownerReferences"] = json!([owner_ref]);
    if let Some(c) = cluster {
        m["labels"] = json!({"cluster.x-k8s.io/cluster-name": c});
    }
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|k| (k.to_string(), json!("eA==")))
        .collect();
    json!({"metadata": m, "type": type_, "data": data})
}

/// One converged cluster `c`: Cluster, CAPTCluster, CAPTControlPlane, four applies, four
/// Workspaces, three connection secrets, the kubeconfig and CA secrets.
fn add_cluster(s: &mut Snapshot, c: &str) {
    let cluster_uid = format!("uid-cluster-{c}");
    let by_cluster = owner("cluster.x-k8s.io/v1beta1", "Cluster", c, &cluster_uid);
    s.clusters.push(json!({
        "metadata": meta(c, Some(NS), &cluster_uid),
        "spec": {
            "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "CAPTCluster", "name": c, "namespace": NS},
            "controlPlaneRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "CAPTControlPlane", "name": c, "namespace": NS},
        },
        "status": {"phase": "Provisioned"},
    }));
    let mut m = meta(c, Some(NS), &format!("uid-cc-{c}"));
    m["ownerReferences"] = json!([by_cluster.clone()]);
    s.capt_clusters.push(json!({
        "metadata": m,
        "spec": {"vpcTemplateRef": {"name": "vpc-template"}, "workspaceTemplateApplyName": format!("{c}-vpc")},
        "status": {"ready": true},
    }));
    let mut m = meta(c, Some(NS), &format!("uid-cp-{c}"));
    m["ownerReferences"] = json!([by_cluster]);
    s.control_planes.push(json!({
        "metadata": m,
        "spec": {
            "workspaceTemplateRef": {"name": "eks-controlplane-template"},
            "controlPlaneConfig": {"region": "us-west-2"},
            "workspaceTemplateApplyName": format!("{c}-eks-controlplane-apply"),
        },
        "status": {"ready": true, "secretSync": {"state": "Ready"}, "conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]},
    }));
    let by_cc = owner(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "CAPTCluster",
        c,
        &format!("uid-cc-{c}"),
    );
    let by_cp = owner(
        "controlplane.cluster.x-k8s.io/v1beta1",
        "CAPTControlPlane",
        c,
        &format!("uid-cp-{c}"),
    );
    let vpc = format!("{c}-vpc");
    let eks = format!("{c}-eks-controlplane");
    let spot = format!("{c}-spot-role-check");
    let kc = format!("{c}-kubeconfig");
    s.applies.extend([
        apply(&vpc, c, by_cc, "vpc-template", &vpc),
        apply(
            &format!("{eks}-apply"),
            c,
            by_cp.clone(),
            "eks-controlplane-template",
            &eks,
        ),
        apply(&spot, c, by_cp.clone(), "spot-role-check", &spot),
        apply(
            &format!("{kc}-apply"),
            c,
            by_cp.clone(),
            "eks-kubeconfig-template",
            &kc,
        ),
    ]);
    let eks_apply = s.applies.len() - 3;
    s.applies[eks_apply]["spec"]["writeConnectionSecretToRef"] =
        json!({"name": format!("{c}-eks-connection"), "namespace": NS});
    let conns = [
        (
            vpc.clone(),
            vpc.clone(),
            Some(format!("{vpc}-vpc-connection")),
        ),
        (
            eks.clone(),
            format!("{eks}-apply"),
            Some(format!("{c}-eks-connection")),
        ),
        (spot.clone(), spot.clone(), None),
        (
            kc.clone(),
            format!("{kc}-apply"),
            Some(format!("{c}-outputs-kubeconfig")),
        ),
    ];
    for (ws, a, conn) in conns {
        s.workspaces.push(workspace(&ws, &a, conn.as_deref()));
        if let Some(conn) = conn {
            let by_ws = owner(
                "tf.upbound.io/v1beta1",
                "Workspace",
                &ws,
                &format!("uid-ws-{ws}"),
            );
            let keys = ["cluster_certificate_authority_data", "kubeconfig"];
            s.secrets.push(secret(
                &conn,
                "connection.crossplane.io/v1alpha1",
                by_ws,
                &keys,
                None,
            ));
        }
    }
    s.secrets.push(secret(
        &kc,
        "cluster.x-k8s.io/secret",
        by_cp.clone(),
        &["value"],
        Some(c),
    ));
    s.secrets.push(secret(
        &format!("{c}-ca"),
        "Opaque",
        by_cp,
        &["tls.crt", "ca.crt"],
        Some(c),
    ));
}

fn converged(clusters: &[&str]) -> Snapshot {
    let mut s = Snapshot::default();
    for t in [
        "vpc-template",
        "eks-controlplane-template",
        "eks-kubeconfig-template",
        "spot-role-check",
        "spot-role-create",
    ] {
        s.templates
            .push(json!({"metadata": meta(t, Some(NS), &format!("uid-t-{t}"))}));
    }
    for c in clusters {
        add_cluster(&mut s, c);
    }
    s
}

fn named<'a>(items: &'a mut [Value], name: &str) -> &'a mut Value {
    items
        .iter_mut()
        .find(|v| v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the fixture"))
}

fn remove(items: &mut Vec<Value>, name: &str) {
    let before = items.len();
    items.retain(|v| v["metadata"]["name"] != name);
    assert_eq!(items.len() + 1, before, "{name} not in the fixture");
}

fn only(r: &InvariantReport, category: Category) -> &Violation {
    assert_eq!(r.violations, 1, "{:#?}", r.details);
    assert_eq!(r.details[0].category, category, "{:#?}", r.details);
    &r.details[0]
}

#[test]
fn a_converged_set_is_clean() {
    let s = converged(&["a", "b"]);
    let r = check(&s, Some(&fingerprints(&s)));
    assert!(r.is_clean(), "{:#?}", r.details);
    assert_eq!((r.clusters, r.ready_clusters), (2, 2));
    assert_eq!(r.kubeconfig_unknown, 2);
}

#[test]
fn a_missing_kubeconfig_apply_is_reported() {
    let mut s = converged(&["a", "b"]);
    remove(&mut s.applies, "a-kubeconfig-apply");
    remove(&mut s.workspaces, "a-kubeconfig");
    remove(&mut s.secrets, "a-outputs-kubeconfig");
    let r = check(&s, None);
    let v = only(&r, Category::Missing);
    assert_eq!(r.missing, 1);
    assert_eq!(
        (v.kind.as_str(), v.object.as_str()),
        ("WorkspaceTemplateApply", "default/a-kubeconfig-apply")
    );
    assert!(v.what.contains("kubeconfig apply"), "{v}");
}

#[test]
fn missing_secrets_and_workspaces_are_reported() {
    let mut s = converged(&["a"]);
    remove(&mut s.secrets, "a-ca");
    let r = check(&s, None);
    assert_eq!(only(&r, Category::Missing).object, "default/a-ca");

    let mut s = converged(&["a"]);
    remove(&mut s.secrets, "a-eks-connection");
    let r = check(&s, None);
    // Without the CA in the connection secret capt would not create the kubeconfig apply: only
    // the connection secret itself is reported.
    assert_eq!(
        only(&r, Category::Missing).object,
        "default/a-eks-connection"
    );

    let mut s = converged(&["a"]);
    remove(&mut s.workspaces, "a-vpc");
    remove(&mut s.secrets, "a-vpc-vpc-connection");
    let r = check(&s, None);
    assert_eq!(only(&r, Category::Missing).object, "a-vpc");
}

#[test]
fn a_second_workspace_for_one_apply_is_a_duplicate() {
    let mut s = converged(&["a"]);
    s.workspaces.push(workspace("a-vpc-copy", "a-vpc", None));
    let r = check(&s, None);
    let v = only(&r, Category::Duplicate);
    assert_eq!(
        (v.kind.as_str(), v.object.as_str()),
        ("Workspace", "a-vpc-copy")
    );
    assert_eq!(r.duplicates, 1);
}

#[test]
fn a_second_apply_for_one_role_is_a_duplicate_whatever_its_name() {
    let mut s = converged(&["a"]);
    let by_cc = named(&mut s.applies, "a-vpc")["metadata"]["ownerReferences"][0].clone();
    s.applies.push(apply(
        "zz-network",
        "a",
        by_cc,
        "vpc-template",
        "zz-network",
    ));
    s.workspaces
        .push(workspace("zz-network", "zz-network", None));
    let r = check(&s, None);
    let v = only(&r, Category::Duplicate);
    assert_eq!(v.object, "default/zz-network");
    assert!(v.what.contains("VPC"), "{v}");
}

#[test]
fn objects_whose_owner_is_gone_are_orphans() {
    let mut s = converged(&["a", "b"]);
    // b's Cluster, CAPTCluster and CAPTControlPlane are gone; its children stayed behind.
    remove(&mut s.clusters, "b");
    remove(&mut s.capt_clusters, "b");
    remove(&mut s.control_planes, "b");
    let r = check(&s, None);
    assert_eq!(r.clusters, 1);
    // 4 applies, 2 capt secrets; the Workspaces and connection secrets still have their owners.
    assert_eq!(r.orphans, 6, "{:#?}", r.details);
    assert_eq!(r.violations, 6);
    assert!(r.details.iter().all(|v| v.what.contains("is gone")));

    // Then the applies go too: now the Workspaces (but the spot-role ones kept on purpose).
    let mut s2 = s.clone();
    s2.applies.retain(|a| {
        a["metadata"]["name"]
            .as_str()
            .is_some_and(|n| !n.starts_with("b-"))
    });
    s2.workspaces
        .push(workspace("b-spot-role-create", "b-spot-role-create", None));
    let r = check(&s2, None);
    let ws: Vec<_> = r
        .details
        .iter()
        .filter(|v| v.kind == "Workspace")
        .map(|v| v.object.as_str())
        .collect();
    assert_eq!(
        ws,
        [
            "b-eks-controlplane",
            "b-kubeconfig",
            "b-spot-role-check",
            "b-vpc"
        ]
    );
    assert_eq!(r.retained, 1);
}

#[test]
fn an_owner_recreated_under_the_same_name_is_a_wrong_owner() {
    let mut s = converged(&["a"]);
    named(&mut s.control_planes, "a")["metadata"]["uid"] = json!("uid-cp-a-new");
    let r = check(&s, None);
    // The three control plane applies point at the old uid; so do the two secrets.
    assert_eq!(r.wrong_owner, 5, "{:#?}", r.details);
    assert_eq!(r.violations, 5);
}

#[test]
fn secrets_in_the_wrong_shape_are_malformed() {
    let mut s = converged(&["a"]);
    let kc = named(&mut s.secrets, "a-kubeconfig");
    kc["type"] = json!("Opaque");
    kc["data"] = json!({"kubeconfig": "eA=="});
    kc["metadata"]["labels"] = json!({});
    kc["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    let r = check(&s, None);
    assert_eq!(r.malformed, 4, "{:#?}", r.details);
    assert_eq!(r.violations, 4);
}

#[test]
fn a_cluster_not_ready_and_unchanged_is_stuck_but_not_while_it_moves() {
    let mut s = converged(&["a", "b"]);
    let cp = named(&mut s.control_planes, "b");
    cp["status"] = json!({"ready": false, "conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]});
    let before = fingerprints(&s);
    let r = check(&s, Some(&before));
    let v = only(&r, Category::Stuck);
    assert_eq!(v.object, "default/b");
    assert!(
        v.what.contains("CAPTControlPlane ready=false (Creating)"),
        "{v}"
    );
    assert_eq!(r.ready_clusters, 1);
    // Without an earlier snapshot nothing is stuck.
    assert!(check(&s, None).is_clean());
    // A change to one of b's objects (here its EKS Workspace) means it is progressing.
    named(&mut s.workspaces, "b-eks-controlplane")["metadata"]["resourceVersion"] = json!("2");
    assert!(check(&s, Some(&before)).is_clean());
}

#[test]
fn cluster_api_failures_and_unusable_kubeconfigs_count_unknown_probes_do_not() {
    let mut s = converged(&["a", "b", "c"]);
    named(&mut s.clusters, "a")["status"]["failureReason"] = json!("InvalidConfiguration");
    named(&mut s.clusters, "b")["status"]["v1beta2"] = json!({"conditions": [
        {"type": "RemoteConnectionProbe", "status": "False", "reason": "ProbeFailed", "message": "no route"}
    ]});
    named(&mut s.clusters, "c")["status"]["v1beta2"] =
        json!({"conditions": [{"type": "RemoteConnectionProbe", "status": "True"}]});
    let r = check(&s, None);
    assert_eq!(
        (r.failed_clusters, r.kubeconfig_unusable),
        (1, 1),
        "{:#?}",
        r.details
    );
    assert_eq!(r.kubeconfig_unknown, 1);
    assert_eq!(r.violations, 2);
    assert!(
        r.details
            .iter()
            .any(|v| v.what.contains("ProbeFailed: no route"))
    );
}

#[test]
fn a_spot_role_create_apply_is_expected_only_when_the_check_finds_no_role() {
    let mut s = converged(&["a"]);
    named(&mut s.workspaces, "a-spot-role-check")["status"]["atProvider"]["outputs"]["role_exists"] =
        json!(false);
    let r = check(&s, None);
    assert_eq!(
        only(&r, Category::Missing).object,
        "default/a-spot-role-create"
    );
}

#[test]
fn details_are_capped_and_printed() {
    let mut s = converged(&[]);
    for i in 0..MAX_DETAILS + 10 {
        let c = format!("c{i:04}");
        add_cluster(&mut s, &c);
        remove(&mut s.secrets, &format!("{c}-ca"));
    }
    let r = check(&s, None);
    assert_eq!(r.missing, MAX_DETAILS + 10);
    assert_eq!((r.details.len(), r.details_omitted), (MAX_DETAILS, 10));
    let text = r.first_details(2, "  ");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.starts_with("  missing: Secret default/c0000-ca: "),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("… and {} more\n", MAX_DETAILS + 8)),
        "{text}"
    );
    assert!(r.counts_line().starts_with(&format!(
        "{} violations (missing {}",
        r.violations, r.missing
    )));
}

#[test]
fn report_json_has_the_documented_fields() {
    let mut s = converged(&["a"]);
    remove(&mut s.secrets, "a-ca");
    let v = serde_json::to_value(check(&s, None)).unwrap();
    for key in [
        "violations",
        "missing",
        "duplicates",
        "orphans",
        "stuck",
        "wrong_owner",
        "malformed",
        "failed_clusters",
        "kubeconfig_unusable",
        "kubeconfig_unknown",
        "details",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["details"][0]["category"], "missing");
    assert_eq!(v["details"][0]["object"], "default/a-ca");
}
