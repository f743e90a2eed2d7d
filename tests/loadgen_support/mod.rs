//! Running `capt-load run` from a test against the `capt` binary under test.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use capt_load::loadgen::{self, Args};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

/// One finished run: its outcome, the report and the report directory.
pub struct Run {
    pub result: anyhow::Result<()>,
    pub report: serde_json::Value,
    pub out: PathBuf,
}

impl Run {
    /// The last lines of a controller log of this run (`controller.log`, `controller-1.log`, …).
    pub fn log_tail(&self, file: &str) -> String {
        let log = std::fs::read_to_string(self.out.join(file)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Panics with the notes and the controller log when the run failed.
    pub fn expect_ok(&self, what: &str) {
        if let Err(e) = &self.result {
            panic!(
                "{what} failed: {e}\nnotes: {}\ncontroller log tail:\n{}",
                self.report["notes"],
                self.log_tail("controller.log")
            );
        }
    }

    pub fn summary(&self) -> String {
        std::fs::read_to_string(self.out.join("summary.md")).expect("summary.md")
    }

    pub fn clean_up(&self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

/// Runs `capt-load run` with `flags` (plus the controller command and a report directory named
/// after `name`), within `limit`.
pub fn run(name: &str, flags: &[&str], limit: Duration) -> Run {
    let out = std::env::temp_dir().join(format!("capt-load-{name}-{}", std::process::id()));
    let controller = format!("--controller-cmd={} run", env!("CARGO_BIN_EXE_capt"));
    let out_flag = format!("--out={}", out.display());
    let argv = std::iter::once("capt-load")
        .chain(flags.iter().copied())
        .chain([controller.as_str(), out_flag.as_str()]);
    let cli = Cli::try_parse_from(argv).expect("arguments");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let result = rt
        .block_on(async { tokio::time::timeout(limit, loadgen::run_cli(cli.args)).await })
        .unwrap_or_else(|_| Err(anyhow::anyhow!("run did not finish within {limit:?}")));
    let report = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json written"),
    )
    .expect("report.json parses");
    Run {
        result,
        report,
        out,
    }
}
