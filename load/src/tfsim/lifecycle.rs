//! The bookkeeping annotations crossplane-runtime's managed reconciler writes on a new managed
//! resource; provider-terraform's Workspace controller uses its defaults, so every new Workspace
//! gets them, each in a write of its own (each is one more watch event for every Workspace
//! watcher):
//!
//! 1. `crossplane.io/external-name` = the object's name, set by the default initializer
//!    (`NameAsExternalName`) when missing;
//! 2. `crossplane.io/external-create-pending` = now, written before the first Create (the
//!    external resource — here the terraform state — does not exist yet) with the object's
//!    resourceVersion, so a stale copy conflicts;
//! 3. `crossplane.io/external-create-succeeded` = now, written after that Create returned.
//!
//! Not modelled: a Create interrupted between 2 and 3 (the real reconciler then refuses to go
//! on until someone removes the pending annotation).

use std::collections::BTreeMap;

/// Set to the object's name when missing.
pub const EXTERNAL_NAME: &str = "crossplane.io/external-name";
/// Written before the first Create.
pub const CREATE_PENDING: &str = "crossplane.io/external-create-pending";
/// Written after the first Create succeeded.
pub const CREATE_SUCCEEDED: &str = "crossplane.io/external-create-succeeded";

/// The annotation the initializer writes, when it has something to write.
pub fn initialize(
    name: &str,
    annotations: &BTreeMap<String, String>,
) -> Option<(&'static str, String)> {
    (!annotations.contains_key(EXTERNAL_NAME)).then(|| (EXTERNAL_NAME, name.to_string()))
}

/// The annotation written before applying: only before the first successful create.
pub fn before_create(
    annotations: &BTreeMap<String, String>,
    now: &str,
) -> Option<(&'static str, String)> {
    let created = annotations.contains_key(CREATE_SUCCEEDED);
    let pending = annotations.contains_key(CREATE_PENDING);
    (!created && !pending).then(|| (CREATE_PENDING, now.to_string()))
}

/// The annotation written once the first create succeeded.
pub fn after_create(
    annotations: &BTreeMap<String, String>,
    now: &str,
) -> Option<(&'static str, String)> {
    (!annotations.contains_key(CREATE_SUCCEEDED)).then(|| (CREATE_SUCCEEDED, now.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), "x".to_string()))
            .collect()
    }

    #[test]
    fn each_annotation_is_written_once_in_order() {
        let none = with(&[]);
        assert_eq!(initialize("ws", &none), Some((EXTERNAL_NAME, "ws".into())));
        assert_eq!(initialize("ws", &with(&[EXTERNAL_NAME])), None);
        assert_eq!(
            before_create(&none, "t"),
            Some((CREATE_PENDING, "t".into()))
        );
        assert_eq!(before_create(&with(&[CREATE_PENDING]), "t"), None);
        assert_eq!(
            before_create(&with(&[CREATE_PENDING, CREATE_SUCCEEDED]), "t"),
            None
        );
        assert_eq!(
            after_create(&with(&[CREATE_PENDING]), "t"),
            Some((CREATE_SUCCEEDED, "t".into()))
        );
        assert_eq!(
            after_create(&with(&[CREATE_PENDING, CREATE_SUCCEEDED]), "t"),
            None
        );
    }
}
