//! The Workspace reconciler: finalizer, simulated apply, outputs, connection secret, faults, destroy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::runtime::reflector;
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Config;
use super::apply::{self, RunError};
use super::faults::{self, FAULT_ANNOTATION, FaultKind};
use super::ids;
use super::lifecycle;
use super::outputs::{self, Outputs, ROLE_EXISTS_ANNOTATION};
use super::plan::Settings;
use super::queue;
use super::secret;
use super::watch_loop::{WatchLoop, is_status, now_rfc3339};
use super::workspace::{self, Condition, FINALIZER, SecretRef, WorkspaceView, set_condition};

/// A reconcile that should be retried with backoff.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    #[error("patching workspace {name}: {source}")]
    Patch {
        name: String,
        source: Box<kube::Error>,
    },
    #[error("publishing connection secret {namespace}/{secret} of workspace {name}: {reason}")]
    Publish {
        name: String,
        namespace: String,
        secret: String,
        reason: String,
    },
    #[error("deleting connection secret {namespace}/{secret} of workspace {name}: {source}")]
    Unpublish {
        name: String,
        namespace: String,
        secret: String,
        source: Box<kube::Error>,
    },
    #[error("workspace {name}: {reason}")]
    VarFile { name: String, reason: String },
}

/// In-memory progress of one Workspace (rebuilt from its status after a restart).
#[derive(Debug, Clone)]
struct Track {
    uid: String,
    generation: i64,
    checksum: String,
    apply_at: Instant,
    published: bool,
    flap: Option<(Instant, bool)>,
    destroy_at: Option<Instant>,
    /// The planned outputs of this cycle, with the account settings they were planned for.
    plan: Option<(Settings, Result<Arc<Outputs>, RunError>)>,
}

struct Ctx {
    client: kube::Client,
    api: Api<DynamicObject>,
    store: Store<DynamicObject>,
    ar: ApiResource,
    config: Config,
    tracks: Mutex<HashMap<String, Track>>,
}

impl Ctx {
    fn tracks(&self) -> MutexGuard<'_, HashMap<String, Track>> {
        self.tracks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn apply_delay(&self, ws: &WorkspaceView) -> Duration {
        let seed = ids::hash(
            self.config.seed,
            &["apply", &ws.name, &ws.generation.to_string()],
        );
        self.config.delay.sample(seed)
    }

    fn destroy_delay(&self, ws: &WorkspaceView) -> Duration {
        if ws.orphan {
            return Duration::ZERO;
        }
        let seed = ids::hash(self.config.seed, &["destroy", &ws.name]);
        self.config.destroy_delay.sample(seed)
    }

    fn flap_period(&self, ws: &WorkspaceView, toggles: u64) -> Duration {
        let seed = ids::hash(self.config.seed, &["flap", &ws.name, &toggles.to_string()]);
        self.config
            .flap_period
            .sample(seed)
            .max(Duration::from_millis(10))
    }

    async fn reconcile(self: Arc<Self>, name: String) -> Result<Option<Duration>, ReconcileError> {
        let key = ObjectRef::new_with(&name, self.ar.clone());
        let Some(obj) = self.store.get(&key) else {
            self.tracks().remove(&name);
            return Ok(None);
        };
        let ws = match WorkspaceView::from_object(&obj) {
            Ok(ws) => ws,
            Err(err) => {
                tracing::warn!(workspace = %name, error = %err, "skipping unreadable workspace");
                return Ok(None);
            }
        };
        if ws.deleting {
            return self.reconcile_delete(ws).await;
        }
        let ws = if ws.has_finalizer() {
            ws
        } else {
            match self.add_finalizer(&ws).await? {
                Some(ws) => ws,
                None => return Ok(None),
            }
        };
        let annotation = lifecycle::initialize(&ws.name, &ws.annotations);
        let Some(ws) = self.annotate(ws, annotation).await? else {
            return Ok(None);
        };
        self.reconcile_apply(ws).await
    }

    /// Sets `annotation` when there is one (see [`lifecycle`]); the Workspace as it is then,
    /// `None` when it is gone.
    async fn annotate(
        &self,
        ws: WorkspaceView,
        annotation: Option<(&str, String)>,
    ) -> Result<Option<WorkspaceView>, ReconcileError> {
        match annotation {
            Some((key, value)) => {
                self.patch_view(&ws, json!({ "annotations": { key: value } }))
                    .await
            }
            None => Ok(Some(ws)),
        }
    }

    /// [`Self::patch_meta`], read back as a view.
    async fn patch_view(
        &self,
        ws: &WorkspaceView,
        meta: Value,
    ) -> Result<Option<WorkspaceView>, ReconcileError> {
        let Some(obj) = self.patch_meta(ws, meta).await? else {
            return Ok(None);
        };
        Ok(WorkspaceView::from_object(&obj).ok())
    }

    /// A metadata patch with the Workspace's resourceVersion (a stale view conflicts), as the
    /// Updates of crossplane-runtime's reconciler.
    async fn patch_meta(
        &self,
        ws: &WorkspaceView,
        mut meta: Value,
    ) -> Result<Option<DynamicObject>, ReconcileError> {
        if let Some(rv) = &ws.resource_version {
            meta["resourceVersion"] = json!(rv);
        }
        let patch = json!({ "metadata": meta });
        match self
            .api
            .patch(&ws.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(obj) => Ok(Some(obj)),
            Err(e) if is_status(&e, 404) => Ok(None),
            Err(source) => Err(ReconcileError::Patch {
                name: ws.name.clone(),
                source: Box::new(source),
            }),
        }
    }

    async fn add_finalizer(
        &self,
        ws: &WorkspaceView,
    ) -> Result<Option<WorkspaceView>, ReconcileError> {
        let mut finalizers = ws.finalizers.clone();
        finalizers.push(FINALIZER.to_string());
        self.patch_view(ws, json!({ "finalizers": finalizers }))
            .await
    }

    /// Writes conditions (and optionally atProvider) when they differ from what the Workspace shows.
    async fn write_status(
        &self,
        ws: &WorkspaceView,
        conditions: &[Condition],
        at_provider: Option<(&str, &serde_json::Map<String, Value>)>,
    ) -> Result<(), ReconcileError> {
        let conditions_changed = conditions != ws.conditions.as_slice();
        let at_changed = at_provider.is_some_and(|(checksum, outs)| {
            ws.at_provider.checksum.as_deref() != Some(checksum)
                || ws.at_provider.outputs.as_ref() != Some(outs)
        });
        if !conditions_changed && !at_changed {
            return Ok(());
        }
        let mut status = json!({ "conditions": conditions });
        if let Some((checksum, outs)) = at_provider {
            let mut patch_outs = outs.clone();
            if let Some(old) = &ws.at_provider.outputs {
                for k in old.keys() {
                    patch_outs.entry(k.clone()).or_insert(Value::Null);
                }
            }
            status["atProvider"] = json!({ "checksum": checksum, "outputs": patch_outs });
        }
        let patch = json!({ "status": status });
        match self
            .api
            .patch_status(&ws.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(source) => Err(ReconcileError::Patch {
                name: ws.name.clone(),
                source: Box::new(source),
            }),
        }
    }

    /// Starts or resumes the apply cycle of the Workspace's current spec; returns when it completes.
    fn apply_at(&self, ws: &WorkspaceView, now: Instant) -> (Instant, bool) {
        let mut tracks = self.tracks();
        let current = tracks.get(&ws.name).is_some_and(|t| {
            t.uid == ws.uid && t.generation == ws.generation && t.checksum == ws.checksum
        });
        if !current {
            let applied_before = ws.at_provider.checksum.as_deref() == Some(ws.checksum.as_str())
                && ws
                    .condition("Ready")
                    .is_some_and(|c| c.observed_generation == Some(ws.generation));
            let apply_at = if applied_before {
                now
            } else {
                now + self.apply_delay(ws)
            };
            tracks.insert(
                ws.name.clone(),
                Track {
                    uid: ws.uid.clone(),
                    generation: ws.generation,
                    checksum: ws.checksum.clone(),
                    apply_at,
                    published: false,
                    flap: None,
                    destroy_at: None,
                    plan: None,
                },
            );
        }
        tracks
            .get(&ws.name)
            .map_or((now, false), |t| (t.apply_at, t.published))
    }

    fn settings(&self, ws: &WorkspaceView) -> Settings {
        let spot_role_exists = ws
            .annotations
            .get(ROLE_EXISTS_ANNOTATION)
            .map(|v| v.trim() == "true")
            .unwrap_or(self.config.spot_role_exists);
        Settings {
            seed: self.config.seed,
            account_id: self.config.account_id.clone(),
            spot_role_exists,
            signed_at: chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0)
                .unwrap_or_else(chrono::Utc::now),
        }
    }

    /// The outputs of the current cycle, planned once per cycle (and again if the account settings change).
    async fn plan(&self, ws: &WorkspaceView) -> Result<Arc<Outputs>, RunError> {
        let settings = self.settings(ws);
        let cached = self
            .tracks()
            .get(&ws.name)
            .and_then(|t| t.plan.clone())
            .filter(|(s, _)| s.same_account(&settings));
        if let Some((_, result)) = cached {
            return result;
        }
        let result = apply::run(&self.client, ws, &settings).await.map(Arc::new);
        if !matches!(result, Err(RunError::VarFile(_)))
            && let Some(t) = self.tracks().get_mut(&ws.name)
        {
            t.plan = Some((settings, result.clone()));
        }
        result
    }

    /// Records a failed terraform run: `Synced=False/ReconcileError` only, as Crossplane does for connect
    /// and observe errors.
    async fn write_run_failed(
        &self,
        ws: &WorkspaceView,
        conds: &mut Vec<Condition>,
        err: &RunError,
        ts: &str,
    ) -> Result<(), ReconcileError> {
        set_condition(
            conds,
            Condition::new(
                "Synced",
                false,
                "ReconcileError",
                &err.message(),
                ws.generation,
            ),
            ts,
        );
        self.write_status(ws, conds, None).await
    }

    /// Records a failed apply: Synced=False/ReconcileError with `message`, Ready=False/Creating.
    async fn write_apply_failed(
        &self,
        ws: &WorkspaceView,
        conds: &mut Vec<Condition>,
        message: &str,
        ts: &str,
    ) -> Result<(), ReconcileError> {
        set_condition(
            conds,
            Condition::new("Synced", false, "ReconcileError", message, ws.generation),
            ts,
        );
        set_condition(
            conds,
            Condition::new("Ready", false, "Creating", "", ws.generation),
            ts,
        );
        self.write_status(ws, conds, None).await
    }

    async fn reconcile_apply(&self, ws: WorkspaceView) -> Result<Option<Duration>, ReconcileError> {
        let now = Instant::now();
        let ts = now_rfc3339();
        let gen_ = ws.generation;
        let fault = faults::resolve(
            &ws.name,
            ws.annotations.get(FAULT_ANNOTATION).map(String::as_str),
            &self.config.faults,
        );
        let (apply_at, published) = self.apply_at(&ws, now);
        let mut conds = ws.conditions.clone();
        let planned = match self.plan(&ws).await {
            Ok(planned) => planned,
            Err(err) => {
                self.write_run_failed(&ws, &mut conds, &err, &ts).await?;
                tracing::debug!(workspace = %ws.name, "terraform run failed");
                return match err {
                    RunError::VarFile(reason) => Err(ReconcileError::VarFile {
                        name: ws.name.clone(),
                        reason,
                    }),
                    RunError::Terraform(_) => Ok(None),
                };
            }
        };
        let annotation = lifecycle::before_create(&ws.annotations, &ts);
        let Some(ws) = self.annotate(ws, annotation).await? else {
            return Ok(None);
        };
        if now < apply_at {
            set_condition(
                &mut conds,
                Condition::new("Ready", false, "Creating", "", gen_),
                &ts,
            );
            self.write_status(&ws, &conds, None).await?;
            return Ok(Some(apply_at - now));
        }
        if fault == Some(FaultKind::ApplyError) {
            let message = apply::apply_error_message(&ws, self.config.seed);
            self.write_apply_failed(&ws, &mut conds, &message, &ts)
                .await?;
            tracing::debug!(workspace = %ws.name, "apply failed (injected)");
            return Ok(None);
        }
        let mut outs = Outputs::clone(&planned);
        outputs::apply_fault(&mut outs, fault);
        if let Some(target) = ws.secret_ref.clone().filter(|r| !r.name.is_empty())
            && !published
        {
            {
                if let Err(reason) = self.publish(&ws, &target, &outs, fault).await {
                    let message = format!("cannot publish connection details: {reason}");
                    self.write_apply_failed(&ws, &mut conds, &message, &ts)
                        .await?;
                    return Err(ReconcileError::Publish {
                        name: ws.name.clone(),
                        namespace: target.namespace,
                        secret: target.name,
                        reason,
                    });
                }
                if let Some(t) = self.tracks().get_mut(&ws.name) {
                    t.published = true;
                }
            }
        }
        let (ready, next) = if fault == Some(FaultKind::Flap) {
            self.flap_state(&ws, now)
        } else {
            (true, None)
        };
        set_condition(
            &mut conds,
            Condition::new("Synced", true, "ReconcileSuccess", "", gen_),
            &ts,
        );
        let ready_cond = if ready {
            Condition::new("Ready", true, "Available", "", gen_)
        } else {
            Condition::new("Ready", false, "Unavailable", "", gen_)
        };
        set_condition(&mut conds, ready_cond, &ts);
        // crossplane-runtime records the finished create before it writes the conditions.
        let annotation = lifecycle::after_create(&ws.annotations, &ts);
        let Some(ws) = self.annotate(ws, annotation).await? else {
            return Ok(None);
        };
        let status_outs = outputs::status_outputs(&outs);
        self.write_status(&ws, &conds, Some((&ws.checksum, &status_outs)))
            .await?;
        if ready && ws.condition("Ready").is_none_or(|c| c.status != "True") {
            tracing::info!(workspace = %ws.name, outputs = outs.len(), "workspace applied");
        }
        Ok(next.map(|at| at.saturating_duration_since(Instant::now())))
    }

    /// Flap schedule: up for a period, down for a period, and so on. Returns (ready, next toggle).
    fn flap_state(&self, ws: &WorkspaceView, now: Instant) -> (bool, Option<Instant>) {
        let mut tracks = self.tracks();
        let Some(t) = tracks.get_mut(&ws.name) else {
            return (true, None);
        };
        let (mut next, mut down) = t.flap.unwrap_or((now + self.flap_period(ws, 0), false));
        let mut toggles = 0u64;
        while now >= next {
            down = !down;
            toggles += 1;
            next += self.flap_period(ws, toggles);
        }
        t.flap = Some((next, down));
        (!down, Some(next))
    }

    async fn publish(
        &self,
        ws: &WorkspaceView,
        target: &SecretRef,
        outs: &outputs::Outputs,
        fault: Option<FaultKind>,
    ) -> Result<(), String> {
        if target.namespace.is_empty() {
            return Err("connection secret reference has no namespace".to_string());
        }
        let data = outputs::secret_data(outs, fault);
        secret::publish(&self.client, ws, target, data)
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) => format!("cannot apply connection secret: {}", s.message),
                other => format!("cannot apply connection secret: {other}"),
            })
    }

    async fn reconcile_delete(
        &self,
        ws: WorkspaceView,
    ) -> Result<Option<Duration>, ReconcileError> {
        if !ws.has_finalizer() {
            self.tracks().remove(&ws.name);
            return Ok(None);
        }
        let now = Instant::now();
        let destroy_at = {
            let delay = self.destroy_delay(&ws);
            let mut tracks = self.tracks();
            let t = tracks.entry(ws.name.clone()).or_insert_with(|| Track {
                uid: ws.uid.clone(),
                generation: ws.generation,
                checksum: ws.checksum.clone(),
                apply_at: now,
                published: false,
                flap: None,
                destroy_at: None,
                plan: None,
            });
            *t.destroy_at.get_or_insert(now + delay)
        };
        let mut conds = ws.conditions.clone();
        set_condition(
            &mut conds,
            Condition::new("Ready", false, "Deleting", "", ws.generation),
            &now_rfc3339(),
        );
        self.write_status(&ws, &conds, None).await?;
        if now < destroy_at {
            return Ok(Some(destroy_at - now));
        }
        if let Some(target) = ws
            .secret_ref
            .clone()
            .filter(|r| !r.name.is_empty() && !r.namespace.is_empty())
        {
            secret::unpublish(&self.client, &target)
                .await
                .map_err(|source| ReconcileError::Unpublish {
                    name: ws.name.clone(),
                    namespace: target.namespace.clone(),
                    secret: target.name.clone(),
                    source: Box::new(source),
                })?;
        }
        let remaining: Vec<String> = ws
            .finalizers
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        self.patch_meta(&ws, json!({ "finalizers": remaining }))
            .await?;
        self.tracks().remove(&ws.name);
        tracing::info!(workspace = %ws.name, orphan = ws.orphan, "workspace destroyed");
        Ok(None)
    }
}

fn slim(obj: &mut DynamicObject) {
    obj.metadata.managed_fields = None;
    if let Some(a) = obj.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Runs the Workspace controller until the future is dropped.
pub(crate) async fn run(client: kube::Client, config: Config) -> anyhow::Result<()> {
    let ar = workspace::api_resource();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let writer = reflector::store::Writer::new(ar.clone());
    let store = writer.as_reader();
    let concurrency = config.concurrency;
    let ctx = Arc::new(Ctx {
        client,
        api: api.clone(),
        store,
        ar,
        config,
        tracks: Mutex::new(HashMap::new()),
    });
    tracing::info!("tfsim started");
    WatchLoop {
        label: "workspace",
        api,
        writer,
        modify: slim,
        key_of: |obj: DynamicObject| obj.metadata.name,
        queue: queue::channel::<String>(),
        concurrency,
        reconcile: move |name: String| {
            let ctx = ctx.clone();
            async move { ctx.reconcile(name).await }
        },
    }
    .run()
    .await
}
