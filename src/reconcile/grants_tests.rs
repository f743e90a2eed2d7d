//! Table tests of the template reference check.

use serde_json::json;

use super::*;

const SHARED: &str = "default";

/// (case, referrer, reference, grants, permitted)
type Case<'a> = (
    &'a str,
    Referrer<'a>,
    TemplateRef,
    Vec<&'a WorkspaceTemplateGrant>,
    Result<Permit, ()>,
);

fn grant(
    ns: &str,
    name: &str,
    from: &[(&str, &str)],
    to: &[Option<&str>],
) -> WorkspaceTemplateGrant {
    serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplateGrant",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "from": from.iter().map(|(k, n)| json!({"kind": k, "namespace": n})).collect::<Vec<_>>(),
            "to": to.iter().map(|n| match n { Some(n) => json!({"name": n}), None => json!({}) }).collect::<Vec<_>>(),
        },
    }))
    .expect("grant")
}

fn apply_in(ns: &'static str) -> Referrer<'static> {
    Referrer {
        kind: "WorkspaceTemplateApply",
        namespace: ns,
        name: "a",
        on_behalf_of: None,
    }
}

#[test]
fn references_are_permitted_by_namespace_or_grant() {
    let team_grant = grant(
        "platform",
        "team-a-eks",
        &[("WorkspaceTemplateApply", "team-a")],
        &[Some("eks")],
    );
    let all_templates = grant(
        "platform",
        "team-a-all",
        &[("WorkspaceTemplateApply", "team-a")],
        &[None],
    );
    let empty_name = grant(
        "platform",
        "team-a-empty",
        &[("WorkspaceTemplateApply", "team-a")],
        &[Some("")],
    );
    let other_kind = grant(
        "platform",
        "cluster-only",
        &[("CAPTCluster", "team-a")],
        &[Some("eks")],
    );
    let other_ns = grant(
        "platform",
        "team-b",
        &[("WorkspaceTemplateApply", "team-b")],
        &[Some("eks")],
    );
    let other_template = grant(
        "platform",
        "vpc-only",
        &[("WorkspaceTemplateApply", "team-a")],
        &[Some("vpc")],
    );
    // A grant in the referrer's namespace shares nothing of another namespace.
    let wrong_home = grant(
        "team-a",
        "self-grant",
        &[("WorkspaceTemplateApply", "team-a")],
        &[None],
    );
    let by_owner = Referrer {
        on_behalf_of: Some("CAPTCluster"),
        ..apply_in("team-a")
    };
    let table: Vec<Case> = vec![
        (
            "unset namespace",
            apply_in("team-a"),
            TemplateRef::new("eks", None),
            vec![],
            Ok(Permit::SameNamespace),
        ),
        (
            "empty namespace",
            apply_in("team-a"),
            TemplateRef::new("eks", Some(String::new())),
            vec![],
            Ok(Permit::SameNamespace),
        ),
        (
            "own namespace named",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("team-a".into())),
            vec![],
            Ok(Permit::SameNamespace),
        ),
        (
            "shared namespace",
            apply_in("team-a"),
            TemplateRef::new("eks", Some(SHARED.into())),
            vec![],
            Ok(Permit::SharedNamespace),
        ),
        (
            "other namespace, no grant",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![],
            Err(()),
        ),
        (
            "granted by name",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&team_grant],
            Ok(Permit::Granted("team-a-eks".into())),
        ),
        (
            "granted all templates",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&all_templates],
            Ok(Permit::Granted("team-a-all".into())),
        ),
        (
            "granted with empty name",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&empty_name],
            Ok(Permit::Granted("team-a-empty".into())),
        ),
        (
            "grant for another kind",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&other_kind],
            Err(()),
        ),
        (
            "grant for another namespace",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&other_ns],
            Err(()),
        ),
        (
            "grant for another template",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&other_template],
            Err(()),
        ),
        (
            "grant in the wrong namespace",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&wrong_home],
            Err(()),
        ),
        (
            "owner's grant covers its apply",
            by_owner,
            TemplateRef::new("eks", Some("platform".into())),
            vec![&other_kind],
            Ok(Permit::Granted("cluster-only".into())),
        ),
        (
            "first matching grant wins",
            apply_in("team-a"),
            TemplateRef::new("eks", Some("platform".into())),
            vec![&other_ns, &team_grant, &all_templates],
            Ok(Permit::Granted("team-a-eks".into())),
        ),
        (
            "shared namespace user in the shared namespace",
            apply_in(SHARED),
            TemplateRef::new("eks", Some("platform".into())),
            vec![],
            Err(()),
        ),
    ];
    for (case, referrer, tref, grants, want) in table {
        let got = check(&referrer, &tref, SHARED, grants);
        assert_eq!(got.clone().map_err(|_| ()), want, "{case}");
        if let Err(e) = got {
            let msg = e.to_string();
            assert!(
                msg.contains("WorkspaceTemplateApply team-a/a") || msg.contains("default/a"),
                "{case}: {msg}"
            );
            assert!(
                msg.contains(&format!("WorkspaceTemplate platform/{}", tref.name)),
                "{case}: {msg}"
            );
            assert!(
                msg.contains("kind: WorkspaceTemplateApply"),
                "{case}: names the grant that would allow it: {msg}"
            );
        }
    }
}

#[test]
fn an_empty_shared_namespace_shares_nothing() {
    let r = apply_in("team-a");
    let got = check(
        &r,
        &TemplateRef::new("eks", Some(String::from("x"))),
        "",
        [],
    );
    assert!(got.is_err());
    let same = check(&r, &TemplateRef::new("eks", None), "", []);
    assert_eq!(same, Ok(Permit::SameNamespace));
}

#[test]
fn refusal_message_names_the_grant_that_would_allow_it() {
    let r = Referrer {
        kind: "CAPTCluster",
        namespace: "team-a",
        name: "c1",
        on_behalf_of: None,
    };
    let e = check(
        &r,
        &TemplateRef::new("vpc", Some("platform".into())),
        SHARED,
        [],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "CAPTCluster team-a/c1 may not use WorkspaceTemplate platform/vpc: it is neither in namespace \
         team-a nor in the shared template namespace default, and no WorkspaceTemplateGrant in \
         platform allows it (a grant there with from [{kind: CAPTCluster, namespace: team-a}] and to \
         [{name: vpc}] would)"
    );
}

#[test]
fn same_template_resolves_namespaces() {
    let a = TemplateRef::new("eks", None);
    let b = TemplateRef::new("eks", Some("ns".into()));
    assert!(same_template(&a, "ns", &b, "other"));
    assert!(!same_template(&a, "other", &b, "other"));
    assert!(!same_template(
        &TemplateRef::new("vpc", None),
        "ns",
        &b,
        "ns"
    ));
}
