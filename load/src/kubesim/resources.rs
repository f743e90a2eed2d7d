//! Served resource types: the built-in ones and those registered by CustomResourceDefinitions.

use serde_json::Value;

use super::status::{ApiError, ApiResult, Cause, Target};

/// Identifies a resource type: API group ("" for core) and plural name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResKey {
    pub group: String,
    pub plural: String,
}

impl ResKey {
    pub fn new(group: &str, plural: &str) -> Self {
        ResKey {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }
}

/// Behaviour that differs from a plain stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    Namespace,
    Secret,
    Crd,
    /// TokenReview / SubjectAccessReview: create-only, answered, never stored.
    Review,
}

#[derive(Debug, Clone)]
pub struct ScaleDef {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

#[derive(Debug, Clone)]
pub struct VersionDef {
    pub name: String,
    pub schema: Option<Value>,
    pub status: bool,
    pub scale: Option<ScaleDef>,
    pub columns: Vec<PrinterColumn>,
}

#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub key: ResKey,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub versions: Vec<VersionDef>,
    pub storage_version: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub custom: bool,
    pub special: Special,
}

impl ResourceDef {
    pub fn version(&self, v: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|x| x.name == v)
    }

    pub fn api_version(&self, v: &str) -> String {
        if self.key.group.is_empty() {
            v.to_string()
        } else {
            format!("{}/{}", self.key.group, v)
        }
    }

    pub fn storage_api_version(&self) -> String {
        self.api_version(&self.storage_version)
    }

    pub fn has_status(&self, v: &str) -> bool {
        self.version(v).map(|x| x.status).unwrap_or(false)
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        if self.special == Special::Review {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }

    pub fn target(&self, name: &str) -> Target {
        Target::new(&self.key.group, &self.key.plural, name)
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    special: Special,
    status: bool,
) -> ResourceDef {
    ResourceDef {
        key: ResKey::new(group, plural),
        singular: kind.to_lowercase(),
        kind: kind.to_string(),
        list_kind: format!("{kind}List"),
        namespaced,
        versions: vec![VersionDef {
            name: version.to_string(),
            schema: None,
            status,
            scale: None,
            columns: Vec::new(),
        }],
        storage_version: version.to_string(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        custom: false,
        special,
    }
}

/// The resource types served at start-up.
pub fn builtins() -> Vec<ResourceDef> {
    use Special::*;
    vec![
        builtin(
            "",
            "v1",
            "namespaces",
            "Namespace",
            false,
            &["ns"],
            Namespace,
            true,
        ),
        builtin("", "v1", "secrets", "Secret", true, &[], Secret, false),
        builtin(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            true,
            &["cm"],
            None,
            false,
        ),
        builtin("", "v1", "events", "Event", true, &["ev"], None, false),
        builtin(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            &["sa"],
            None,
            false,
        ),
        builtin(
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            true,
            &["ev"],
            None,
            false,
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            &[],
            None,
            false,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            Crd,
            true,
        ),
        builtin(
            "authentication.k8s.io",
            "v1",
            "tokenreviews",
            "TokenReview",
            false,
            &[],
            Review,
            false,
        ),
        builtin(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
            &[],
            Review,
            false,
        ),
        builtin(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
            &[],
            Review,
            false,
        ),
    ]
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(|x| x.to_string())
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a CustomResourceDefinition (apiextensions.k8s.io/v1) into the resource it serves.
pub fn from_crd(crd: &Value) -> ApiResult<ResourceDef> {
    let name = s(crd, &["metadata", "name"]).unwrap_or_default();
    let target = Target::new("apiextensions.k8s.io", "customresourcedefinitions", &name);
    let mut causes = Vec::new();
    let group = s(crd, &["spec", "group"]).unwrap_or_default();
    let plural = s(crd, &["spec", "names", "plural"]).unwrap_or_default();
    let kind = s(crd, &["spec", "names", "kind"]).unwrap_or_default();
    if group.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.group",
            "Required value",
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value",
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope = s(crd, &["spec", "scope"]).unwrap_or_default();
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.scope",
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let mut versions = Vec::new();
    let mut storage = None;
    let empty = Vec::new();
    let vs = crd
        .pointer("/spec/versions")
        .and_then(|v| v.as_array())
        .unwrap_or(&empty);
    if vs.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.versions",
            "Required value",
        ));
    }
    for (i, v) in vs.iter().enumerate() {
        let vname = s(v, &["name"]).unwrap_or_default();
        if vname.is_empty() {
            causes.push(Cause::new(
                "FieldValueRequired",
                format!("spec.versions[{i}].name"),
                "Required value",
            ));
            continue;
        }
        if v.get("storage").and_then(|x| x.as_bool()) == Some(true) {
            storage = Some(vname.clone());
        }
        if v.get("served").and_then(|x| x.as_bool()) != Some(true) {
            continue;
        }
        let scale = v.pointer("/subresources/scale").map(|sc| ScaleDef {
            spec_replicas: s(sc, &["specReplicasPath"]).unwrap_or_else(|| ".spec.replicas".into()),
            status_replicas: s(sc, &["statusReplicasPath"])
                .unwrap_or_else(|| ".status.replicas".into()),
            label_selector: s(sc, &["labelSelectorPath"]),
        });
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(|c| c.as_array())
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: s(c, &["name"]).unwrap_or_default(),
                        type_: s(c, &["type"]).unwrap_or_else(|| "string".into()),
                        format: s(c, &["format"]).unwrap_or_default(),
                        description: s(c, &["description"]).unwrap_or_default(),
                        priority: c.get("priority").and_then(|p| p.as_i64()).unwrap_or(0),
                        json_path: s(c, &["jsonPath"]).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.push(VersionDef {
            name: vname,
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            status: v.pointer("/subresources/status").is_some(),
            scale,
            columns,
        });
    }
    let storage_version = match storage {
        Some(s) => s,
        None => {
            if !vs.is_empty() {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.versions",
                    "Invalid value: must have exactly one version marked as storage version",
                ));
            }
            String::new()
        }
    };
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            &target,
            causes,
        ));
    }
    let singular = s(crd, &["spec", "names", "singular"]).unwrap_or_else(|| kind.to_lowercase());
    let list_kind = s(crd, &["spec", "names", "listKind"]).unwrap_or_else(|| format!("{kind}List"));
    Ok(ResourceDef {
        key: ResKey::new(&group, &plural),
        singular,
        kind,
        list_kind,
        namespaced: scope == "Namespaced",
        versions,
        storage_version,
        short_names: str_list(crd.pointer("/spec/names/shortNames")),
        categories: str_list(crd.pointer("/spec/names/categories")),
        custom: true,
        special: Special::None,
    })
}
