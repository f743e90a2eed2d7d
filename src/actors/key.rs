//! Identity of an object an actor is responsible for.

use std::fmt;
use std::sync::Arc;

/// The kind, namespace and name of an object: the key of the actor registry.
///
/// Cheap to clone (`Arc<str>` inside) because it travels in every message.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

impl ObjectKey {
    pub fn new(kind: &'static str, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: Arc::from(namespace),
            name: Arc::from(name),
        }
    }

    /// Key of a Kubernetes object of kind `kind` (cluster-scoped objects have an empty namespace).
    pub fn of<K: kube::Resource>(kind: &'static str, obj: &K) -> Self {
        let meta = obj.meta();
        Self::new(
            kind,
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_namespace_only_when_present() {
        assert_eq!(
            ObjectKey::new("Secret", "ns", "a").to_string(),
            "Secret/ns/a"
        );
        assert_eq!(
            ObjectKey::new("Workspace", "", "w").to_string(),
            "Workspace/w"
        );
    }
}
