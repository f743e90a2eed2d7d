//! One demo run: start the stack, create the clusters, follow them to Ready (or the timeout),
//! check the invariants, measure, and tear down.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::args::DemoArgs;
use super::error::DemoError;
use super::invariants::{self, InvariantCheck};
use super::monitor::Monitor;
use super::objects;
use super::progress::{self, Progress};
use super::stack::Stack;
use super::stats;
use super::summary::{ClusterReport, DemoSummary, Ending};
use super::view::ClusterView;

/// Clusters created at once.
const CREATE_CONCURRENCY: usize = 16;

/// What the caller wants around the run.
pub struct Hooks<'a> {
    /// Draw the progress line on stderr.
    pub progress: bool,
    /// Called with the summary while everything is still running.
    pub on_summary: &'a mut dyn FnMut(&DemoSummary),
    /// Whether Ctrl-C ends the wait early (and, with `--keep-running`, the run).
    pub ctrl_c: bool,
    /// Called with a client of the API server after the wait, before the invariant check.
    pub inspect: Option<Inspect>,
}

/// Looks at (or changes) the objects once the wait is over; see [`super::run_with_inspect`].
pub type Inspect = Box<dyn FnOnce(kube::Client) -> futures::future::BoxFuture<'static, ()> + Send>;

struct Tracker {
    names: Vec<String>,
    created: Vec<Option<Instant>>,
    ready_after: Vec<Option<Duration>>,
}

impl Tracker {
    fn new(names: Vec<String>) -> Self {
        let n = names.len();
        Self {
            names,
            created: vec![None; n],
            ready_after: vec![None; n],
        }
    }

    /// Reads every cluster's state, stamping first-seen Ready times.
    fn observe(&mut self, monitor: &Monitor) -> Vec<ClusterView> {
        let now = Instant::now();
        self.names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let v = monitor.view(name);
                if v.is_ready()
                    && self.ready_after[i].is_none()
                    && let Some(t0) = self.created[i]
                {
                    self.ready_after[i] = Some(now.duration_since(t0));
                }
                v
            })
            .collect()
    }
}

fn progress_line(views: &[ClusterView], elapsed: Duration) -> String {
    let mut counts = BTreeMap::new();
    for v in views {
        *counts.entry(v.stage().phase()).or_insert(0) += 1;
    }
    progress::line(&counts, views.len(), elapsed)
}

async fn ctrl_c(enabled: bool) {
    if enabled {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    } else {
        std::future::pending::<()>().await;
    }
}

fn validate(args: &DemoArgs) -> Result<(), DemoError> {
    if !crate::api::is_valid_region(&args.region) {
        return Err(DemoError::InvalidArg {
            flag: "region",
            message: format!(
                "{:?} is not an AWS region name (e.g. us-west-2)",
                args.region
            ),
        });
    }
    if args.timeout.is_zero() {
        return Err(DemoError::InvalidArg {
            flag: "timeout",
            message: "must be more than zero".into(),
        });
    }
    Ok(())
}

fn write_kubeconfig(args: &DemoArgs, yaml: &str) -> Result<(), DemoError> {
    std::fs::write(&args.kubeconfig_out, yaml).map_err(|source| DemoError::WriteKubeconfig {
        path: args.kubeconfig_out.display().to_string(),
        source,
    })
}

/// Runs the demo inside a Tokio runtime with an actix `System` (see [`crate::actors::block_on`]).
pub async fn run(args: &DemoArgs, hooks: Hooks<'_>) -> Result<DemoSummary, DemoError> {
    validate(args)?;
    let stack = Stack::start(args).await?;
    let result = drive(args, &stack, hooks).await;
    stack.shutdown().await;
    result
}

async fn drive(args: &DemoArgs, stack: &Stack, hooks: Hooks<'_>) -> Result<DemoSummary, DemoError> {
    write_kubeconfig(args, &stack.sim.kubeconfig_yaml())?;
    stack.wait_synced().await;
    let monitor = Monitor::start(&stack.user);
    let result = follow(args, stack, &monitor, hooks).await;
    monitor.stop();
    result
}

async fn follow(
    args: &DemoArgs,
    stack: &Stack,
    monitor: &Monitor,
    hooks: Hooks<'_>,
) -> Result<DemoSummary, DemoError> {
    objects::create_templates(&stack.user).await?;
    let mut tracker = Tracker::new(objects::cluster_names(args.clusters));
    let start = Instant::now();
    let mut creates = futures::stream::iter(tracker.names.clone().into_iter().enumerate())
        .map(|(i, name)| {
            let client = stack.user.clone();
            let region = args.region.clone();
            async move {
                let t0 = Instant::now();
                objects::create_cluster(&client, &name, &region)
                    .await
                    .map(|()| (i, t0))
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY);
    while let Some(created) = creates.next().await {
        let (i, t0) = created?;
        tracker.created[i] = Some(t0);
    }
    drop(creates);

    let mut bar = Progress::new(hooks.progress);
    let deadline = start + args.timeout;
    let interrupt = ctrl_c(hooks.ctrl_c);
    tokio::pin!(interrupt);
    let ending = loop {
        let views = tracker.observe(monitor);
        let all_ready = views.iter().all(ClusterView::is_ready);
        bar.draw(&progress_line(&views, start.elapsed()), all_ready);
        if all_ready {
            break Ending::AllReady;
        }
        if Instant::now() >= deadline {
            bar.draw(&progress_line(&views, start.elapsed()), true);
            break Ending::TimedOut;
        }
        let tick = bar
            .period()
            .min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            () = monitor.changed() => {}
            () = tokio::time::sleep(tick) => {}
            () = &mut interrupt => {
                bar.draw(&progress_line(&views, start.elapsed()), true);
                break Ending::Interrupted;
            }
        }
    };
    bar.finish();
    let elapsed = start.elapsed();
    let invariants = if ending == Ending::Interrupted {
        InvariantCheck::NotRun
    } else {
        if let Some(inspect) = hooks.inspect {
            inspect(stack.user.clone()).await;
        }
        invariants::check(&stack.user).await
    };
    let views = tracker.observe(monitor);
    let mut summary = summarize(args, stack, &tracker, views, ending, elapsed);
    summary.invariants = invariants;
    (hooks.on_summary)(&summary);
    if args.keep_running && ending != Ending::Interrupted {
        interrupt.await;
    }
    Ok(summary)
}

fn summarize(
    args: &DemoArgs,
    stack: &Stack,
    tracker: &Tracker,
    views: Vec<ClusterView>,
    ending: Ending,
    elapsed: Duration,
) -> DemoSummary {
    let text = stack.metrics.encode();
    let whole = |m: BTreeMap<String, f64>| -> BTreeMap<String, u64> {
        m.into_iter().map(|(k, v)| (k, v.round() as u64)).collect()
    };
    DemoSummary {
        clusters: tracker
            .names
            .iter()
            .zip(views)
            .zip(&tracker.ready_after)
            .map(|((name, view), t)| ClusterReport {
                name: name.clone(),
                view,
                time_to_ready: *t,
            })
            .collect(),
        ending,
        elapsed,
        api_calls: stack.sim.counters().total_by_verb(),
        controller_api_calls: whole(stats::metric_by_label(
            &text,
            "capt_api_requests_total",
            "verb",
        )),
        reconciles: whole(stats::metric_by_label(
            &text,
            "controller_runtime_reconcile_total",
            "controller",
        )),
        peak_rss_kib: stats::peak_rss_kib(),
        api_url: stack.sim.url(),
        metrics_url: format!("http://{}/metrics", stack.metrics_addr),
        health_url: format!("http://{}/readyz", stack.probe_addr),
        kubeconfig_path: args.kubeconfig_out.clone(),
        invariants: InvariantCheck::NotRun,
    }
}
