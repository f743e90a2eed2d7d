//! `capt-load run`: creates clusters against the controller under test and reports how it copes
//! (time to Ready, event → status latency, API requests, memory, CPU, reconciles, quiet writes,
//! restart time). See load/README.md, section "Load testing".

pub mod args;
pub mod chaos;
pub mod churn;
pub mod controller;
pub mod http;
pub mod objects;
pub mod observer;
pub mod otlp_sink;
pub mod procfs;
pub mod promtext;
pub mod report;
pub mod run;
pub mod stack;
pub mod stats;
pub mod svg;
pub mod tokens;
pub mod usage;

pub use args::Args;

/// Runs `capt-load run`; fails when the clusters did not converge within `--timeout`.
pub async fn run_cli(args: Args) -> anyhow::Result<()> {
    run::run(args).await
}
