//! The one place status is written: only when the intended status differs from the observed one
//! (ignoring condition timestamps), as a JSON merge patch on the `/status` subresource.

use std::fmt::Debug;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::diff::{differs, merge_patch};
use crate::actors::freshness::WriteLog;

/// Counts status writes and skipped (unchanged) writes.
pub trait StatusObserver: Send + Sync + 'static {
    fn status_write(&self, kind: &'static str, written: bool);
}

pub const FIELD_MANAGER: &str = "capt";

#[derive(Clone)]
pub struct StatusWriter {
    observer: Arc<dyn StatusObserver>,
}

impl StatusWriter {
    pub fn new(observer: Arc<dyn StatusObserver>) -> Self {
        Self { observer }
    }

    /// Write `new` (the desired status, as JSON) as the status of `obj` if it differs from
    /// `observed`. Returns whether a write happened. The written resourceVersion goes to `writes`.
    pub async fn write<K, S>(
        &self,
        api: &Api<K>,
        kind: &'static str,
        obj: &K,
        observed: Option<&S>,
        new: serde_json::Value,
        writes: &WriteLog,
    ) -> Result<bool, kube::Error>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
        S: Serialize,
    {
        let old = observed
            .map_or(Ok(json!({})), serde_json::to_value)
            .map_err(kube::Error::SerdeError)?;
        let Some(patch) = merge_patch(&old, &new).filter(|_| differs(&old, &new)) else {
            self.observer.status_write(kind, false);
            return Ok(false);
        };
        crate::telemetry::conditions::record(&old, &new);
        tracing::debug!(
            kind,
            name = %obj.name_any(),
            fields = ?patch.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()),
            "writing status"
        );
        let body = json!({ "status": patch });
        let written = api
            .patch_status(
                &obj.name_any(),
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                },
                &Patch::Merge(&body),
            )
            .await?;
        writes.record_status(kind, written.resource_version().as_deref());
        self.observer.status_write(kind, true);
        Ok(true)
    }
}
