//! `capt demo`: the whole flow on one machine with no cluster.
//!
//! Starts the in-memory API server (`kubesim`) with the capt, Workspace and Cluster CRDs, the
//! provider-terraform simulator (`tfsim`), the Cluster API stand-in (`capisim`) and the controller,
//! creates the sample WorkspaceTemplates and N clusters, draws their progress, prints a table
//! with time to Ready, API calls per cluster, reconciles and peak memory, and checks that every
//! cluster has exactly the objects capt creates for it (`capt_load::invariants`).

mod args;
mod error;
mod invariants;
mod monitor;
mod objects;
mod progress;
mod session;
mod stack;
mod stats;
mod summary;
mod view;

pub use args::{DEFAULT_TF_DELAY, DemoArgs};
pub use error::DemoError;
pub use invariants::{
    Failure, INVARIANT_EXIT_CODE, InvariantCheck, NOT_READY_EXIT_CODE, PRINTED_VIOLATIONS, verdict,
};
pub use objects::{NAMESPACE, cluster_names};
pub use session::Inspect;
pub use summary::{ClusterReport, DemoSummary, Ending};
pub use view::{ClusterView, ConditionLine, Phase, Stage, kubeconfig_server};

use crate::telemetry::TelemetryOptions;
use crate::telemetry::options::LOG_FILTER_ENV;

/// Console log filter unless `RUST_LOG` says otherwise: warnings only (errors only from the
/// simulators, whose write conflicts are routine), so the progress bar stays readable.
pub const DEFAULT_LOG_FILTER: &str = "warn,capt_load=error";

/// Runs the demo without printing anything but the progress bar (when `progress`), and returns
/// what it measured. Telemetry is left to the caller. Must not be called inside a Tokio runtime.
pub fn run_with(args: DemoArgs) -> Result<DemoSummary, DemoError> {
    run_inner(args, None)
}

/// Like [`run_with`], and once the clusters are Ready (or the timeout passed) and before the
/// invariant check, hands `inspect` a client of the in-memory API server to look around or to
/// change objects.
pub fn run_with_inspect(args: DemoArgs, inspect: Inspect) -> Result<DemoSummary, DemoError> {
    run_inner(args, Some(inspect))
}

fn run_inner(args: DemoArgs, inspect: Option<Inspect>) -> Result<DemoSummary, DemoError> {
    crate::actors::block_on(async move {
        let mut ignore = |_: &DemoSummary| {};
        session::run(
            &args,
            session::Hooks {
                progress: !args.quiet,
                on_summary: &mut ignore,
                ctrl_c: false,
                inspect,
            },
        )
        .await
    })
}

fn print_summary(s: &DemoSummary, keep_running: bool) {
    println!();
    print!("{}", s.table());
    println!();
    print!("{}", s.totals());
    print!("{}", s.invariants.lines());
    if !s.all_ready() {
        println!();
        println!("Not Ready:");
        print!("{}", s.stuck_report());
    }
    println!();
    println!("API server:  {}", s.api_url);
    println!(
        "Metrics:     {}   (probes: {})",
        s.metrics_url, s.health_url
    );
    println!(
        "Look around: kubectl --kubeconfig {} get captclusters,captcontrolplanes",
        s.kubeconfig_path.display()
    );
    if keep_running {
        println!("Serving until Ctrl-C.");
    } else {
        println!("(the API server stops with the demo; run with --keep-running to keep it up)");
    }
}

/// `capt demo`: runs the demo and prints the summary. Returns when every cluster became Ready
/// and no invariant is violated; otherwise, once everything is stopped, says why and exits the
/// process with [`NOT_READY_EXIT_CODE`] or [`INVARIANT_EXIT_CODE`] (see [`verdict`]). Errors that
/// keep the demo from running are returned.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    crate::actors::block_on(async move {
        let env_filter = std::env::var(LOG_FILTER_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let guard = crate::telemetry::init(&TelemetryOptions {
            log_filter: env_filter.is_none().then(|| DEFAULT_LOG_FILTER.to_string()),
            ..TelemetryOptions::default()
        })?;
        if guard.otel_enabled() {
            eprintln!("Exporting traces over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT).");
        }
        eprintln!(
            "capt demo: {} clusters, terraform delay {}, timeout {}s",
            args.clusters,
            args.tf_delay,
            args.timeout.as_secs_f64()
        );
        let keep_running = args.keep_running;
        let mut print = |s: &DemoSummary| print_summary(s, keep_running);
        let result = session::run(
            &args,
            session::Hooks {
                progress: !args.quiet,
                on_summary: &mut print,
                ctrl_c: true,
                inspect: None,
            },
        )
        .await;
        if let Err(e) = guard.shutdown_async().await {
            eprintln!("warning: flushing traces: {e}");
        }
        let summary = result?;
        match verdict(&summary) {
            Ok(()) => Ok(()),
            Err(f) => {
                eprintln!("Error: {}", f.message);
                std::process::exit(f.code)
            }
        }
    })
}
