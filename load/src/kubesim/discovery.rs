//! Discovery documents (`/version`, `/api`, `/apis`, resource lists) and a minimal OpenAPI v3
//! index that tells kubectl every PATCH supports server-side `fieldValidation`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::resources::ResourceDef;
use super::store::Inner;

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kubesim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

pub fn api_versions(addr: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]
    })
}

/// group -> (served versions, preferred version)
fn groups(g: &Inner) -> BTreeMap<String, (Vec<String>, String)> {
    let mut out: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
    let mut defs: Vec<&Arc<ResourceDef>> = g.defs.values().collect();
    defs.sort_by(|a, b| a.key.cmp(&b.key));
    for d in defs {
        if d.key.group.is_empty() {
            continue;
        }
        let e = out
            .entry(d.key.group.clone())
            .or_insert_with(|| (Vec::new(), d.storage_version.clone()));
        for v in &d.versions {
            if !e.0.contains(&v.name) {
                e.0.push(v.name.clone());
            }
        }
    }
    for (vs, pref) in out.values_mut() {
        if !vs.contains(pref) {
            if let Some(first) = vs.first() {
                *pref = first.clone();
            }
        }
        let p = pref.clone();
        vs.sort_by_key(|v| v != &p);
    }
    out
}

fn group_doc(name: &str, versions: &[String], preferred: &str) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": {"groupVersion": format!("{name}/{preferred}"), "version": preferred}
    })
}

pub fn group_list(g: &Inner) -> Value {
    let items: Vec<Value> = groups(g)
        .iter()
        .map(|(n, (vs, p))| group_doc(n, vs, p))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": items})
}

pub fn group(g: &Inner, name: &str) -> Option<Value> {
    let gs = groups(g);
    let (vs, p) = gs.get(name)?;
    let mut d = group_doc(name, vs, p);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    Some(d)
}

fn served<'a>(g: &'a Inner, group: &str, version: &str) -> Vec<&'a Arc<ResourceDef>> {
    let mut v: Vec<&Arc<ResourceDef>> = g
        .defs
        .values()
        .filter(|d| d.key.group == group && d.version(version).is_some())
        .collect();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

pub fn resource_list(g: &Inner, group: &str, version: &str) -> Option<Value> {
    let defs = served(g, group, version);
    if defs.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut res = Vec::new();
    for d in defs {
        let mut main = json!({
            "name": d.key.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs(),
        });
        if !d.short_names.is_empty() {
            main["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            main["categories"] = json!(d.categories);
        }
        res.push(main);
        let vd = d.version(version);
        if vd.is_some_and(|v| v.status) {
            res.push(json!({
                "name": format!("{}/status", d.key.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if vd.is_some_and(|v| v.scale.is_some()) {
            res.push(json!({
                "name": format!("{}/scale", d.key.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}),
    )
}

/// `/openapi/v3`: one entry per served group-version.
pub fn openapi_index(g: &Inner) -> Value {
    let mut paths = serde_json::Map::new();
    let hash = format!("{:016X}", g.discovery_gen);
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": format!("/openapi/v3/api/v1?hash={hash}")}),
    );
    for (name, (vs, _)) in groups(g) {
        for v in vs {
            let p = format!("apis/{name}/{v}");
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/{api/v1|apis/g/v}`: paths with PATCH operations that accept `fieldValidation`
/// (no schemas: kubectl then validates server-side and uses merge patch for custom resources).
pub fn openapi_group_version(g: &Inner, group: &str, version: &str) -> Option<Value> {
    let defs = served(g, group, version);
    if defs.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    for d in defs {
        let path = if d.namespaced {
            format!(
                "{prefix}/namespaces/{{namespace}}/{}/{{name}}",
                d.key.plural
            )
        } else {
            format!("{prefix}/{}/{{name}}", d.key.plural)
        };
        let op = json!({
            "operationId": format!("patch{}", d.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": d.kind},
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
            ],
            "responses": {"200": {"description": "OK"}}
        });
        paths.insert(path, json!({"patch": op}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}}
    }))
}
