//! Listing the snapshot from an API server, and checking until the result holds still.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::{Fingerprints, InvariantReport, Snapshot, check, fingerprints};

/// Objects listed per request.
const PAGE: u32 = 500;

/// Why the objects could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("listing {what}: {source}")]
    List {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("listed {what} do not serialize: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// How long to keep checking.
#[derive(Clone, Copy, Debug)]
pub struct Settle {
    /// A cluster not Ready whose objects did not change for this long is stuck; a result that
    /// did not change for this long is final.
    pub window: Duration,
    /// Give up re-checking after this long (should exceed `window`).
    pub timeout: Duration,
    /// Pause between checks.
    pub poll: Duration,
}

impl Default for Settle {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3),
            timeout: Duration::from_secs(30),
            poll: Duration::from_millis(250),
        }
    }
}

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1beta1", kind), plural)
}

/// Every object of `ar` in every namespace, page by page; an unknown resource lists as empty.
async fn list_all(
    client: &kube::Client,
    ar: &ApiResource,
    what: &'static str,
) -> Result<Vec<Value>, SettleError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(PAGE);
    loop {
        let page = match api.list(&lp).await {
            Ok(p) => p,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(out),
            Err(source) => return Err(SettleError::List { what, source }),
        };
        for item in page.items {
            out.push(
                serde_json::to_value(item)
                    .map_err(|source| SettleError::Encode { what, source })?,
            );
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => return Ok(out),
        }
    }
}

/// Lists the objects the check reads.
pub async fn snapshot(client: &kube::Client) -> Result<Snapshot, SettleError> {
    let infra = super::names::INFRASTRUCTURE_GROUP;
    Ok(Snapshot {
        clusters: list_all(
            client,
            &resource(super::names::CLUSTER_API_GROUP, "Cluster", "clusters"),
            "Clusters",
        )
        .await?,
        capt_clusters: list_all(
            client,
            &resource(infra, "CAPTCluster", "captclusters"),
            "CAPTClusters",
        )
        .await?,
        control_planes: list_all(
            client,
            &resource(
                super::names::CONTROL_PLANE_GROUP,
                "CAPTControlPlane",
                "captcontrolplanes",
            ),
            "CAPTControlPlanes",
        )
        .await?,
        applies: list_all(
            client,
            &resource(infra, "WorkspaceTemplateApply", "workspacetemplateapplies"),
            "WorkspaceTemplateApplies",
        )
        .await?,
        workspaces: list_all(
            client,
            &resource(super::names::TERRAFORM_GROUP, "Workspace", "workspaces"),
            "Workspaces",
        )
        .await?,
        templates: list_all(
            client,
            &resource(infra, "WorkspaceTemplate", "workspacetemplates"),
            "WorkspaceTemplates",
        )
        .await?,
        secrets: list_all(client, &ApiResource::erase::<Secret>(&()), "Secrets").await?,
    })
}

/// Checks until the result is clean, or nothing changed for `settle.window` (then clusters not
/// Ready are stuck), or `settle.timeout` passed (then clusters unchanged over the last window are).
pub async fn check_settled(
    client: &kube::Client,
    settle: &Settle,
) -> Result<InvariantReport, SettleError> {
    let start = Instant::now();
    let mut history: VecDeque<(Instant, Fingerprints)> = VecDeque::new();
    let mut last: Option<Fingerprints> = None;
    let mut last_change = start;
    loop {
        let snap = snapshot(client).await?;
        let now = Instant::now();
        let fp = fingerprints(&snap);
        if last.as_ref() != Some(&fp) {
            last_change = now;
            last = Some(fp.clone());
        }
        while history.len() >= 2 && now.duration_since(history[1].0) >= settle.window {
            history.pop_front();
        }
        let earlier = history
            .front()
            .filter(|(t, _)| now.duration_since(*t) >= settle.window)
            .map(|(_, f)| f);
        let report = check(&snap, earlier);
        let still = now.duration_since(last_change) >= settle.window;
        if report.is_clean() || still || now.duration_since(start) >= settle.timeout {
            return Ok(report);
        }
        history.push_back((now, fp));
        tokio::time::sleep(settle.poll).await;
    }
}
