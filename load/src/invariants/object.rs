//! Read-only accessors over listed objects (`serde_json::Value`), so the checks read like the rules
//! they implement.

use serde_json::Value;

/// One listed object.
#[derive(Clone, Copy)]
pub struct Obj<'a>(pub &'a Value);

/// A controller (or plain) ownerReference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

impl Owner<'_> {
    /// The API group of the owner (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }
}

impl<'a> Obj<'a> {
    pub fn str_at(&self, pointer: &str) -> Option<&'a str> {
        self.0.pointer(pointer).and_then(Value::as_str)
    }

    pub fn bool_at(&self, pointer: &str) -> bool {
        self.0
            .pointer(pointer)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn name(&self) -> &'a str {
        self.str_at("/metadata/name").unwrap_or_default()
    }

    pub fn namespace(&self) -> &'a str {
        self.str_at("/metadata/namespace").unwrap_or_default()
    }

    pub fn uid(&self) -> &'a str {
        self.str_at("/metadata/uid").unwrap_or_default()
    }

    pub fn resource_version(&self) -> &'a str {
        self.str_at("/metadata/resourceVersion").unwrap_or_default()
    }

    pub fn deleting(&self) -> bool {
        self.0
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    }

    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.0.get("metadata")?.get("labels")?.get(key)?.as_str()
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.0
            .get("metadata")?
            .get("annotations")?
            .get(key)?
            .as_str()
    }

    fn owners(self) -> impl Iterator<Item = (Owner<'a>, bool)> + 'a {
        self.0
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|o| {
                let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default();
                let owner = Owner {
                    api_version: s("apiVersion"),
                    kind: s("kind"),
                    name: s("name"),
                    uid: s("uid"),
                };
                let controller = o.get("controller").and_then(Value::as_bool) == Some(true);
                (owner, controller)
            })
    }

    /// The controller ownerReference, if any.
    pub fn controller(&self) -> Option<Owner<'a>> {
        self.owners().find(|(_, c)| *c).map(|(o, _)| o)
    }

    /// The ownerReferences of `kind` in API group `group`, controller or not.
    pub fn owners_of_kind<'k>(
        self,
        group: &'k str,
        kind: &'k str,
    ) -> impl Iterator<Item = Owner<'a>> + use<'a, 'k> {
        self.owners()
            .map(|(o, _)| o)
            .filter(move |o| o.kind == kind && o.group() == group)
    }

    /// The first ownerReference of `kind` in API group `group`, controller or not.
    pub fn owner_of_kind(&self, group: &str, kind: &str) -> Option<Owner<'a>> {
        self.owners_of_kind(group, kind).next()
    }

    /// `status.conditions[type]` (Kubernetes or Crossplane shape).
    pub fn condition(&self, type_: &str) -> Option<&'a Value> {
        self.condition_in("/status/conditions", type_)
    }

    /// A condition of `type_` in the list at `pointer`.
    pub fn condition_in(&self, pointer: &str, type_: &str) -> Option<&'a Value> {
        self.0
            .pointer(pointer)?
            .as_array()?
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    }

    pub fn condition_true(&self, type_: &str) -> bool {
        self.condition(type_)
            .and_then(|c| c.get("status"))
            .and_then(Value::as_str)
            == Some("True")
    }

    /// Keys of `data` (and `stringData`) of a Secret.
    pub fn has_data_key(&self, key: &str) -> bool {
        ["data", "stringData"].iter().any(|field| {
            self.0
                .get(field)
                .and_then(|d| d.get(key))
                .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        })
    }
}

/// `namespace/name`, or `name` for cluster-scoped objects.
pub fn path(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}
