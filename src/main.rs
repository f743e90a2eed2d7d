#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

use capt::cli::{Cli, Command};

#[cfg(all(feature = "jemalloc", not(feature = "dhat-heap")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn main() -> anyhow::Result<ExitCode> {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::new_heap();
    let cli = Cli::parse();
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        None => done(capt::cli::run::run(cli.run)),
        Some(Command::Run(args)) => done(capt::cli::run::run(*args)),
        Some(Command::Crds) => {
            print!("{}", capt::api::crds_yaml());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check(args)) => capt::cli::check::run(args),
        Some(Command::ReleaseManifests(args)) => done(capt::cli::release::run(args)),
        Some(Command::Version) => {
            println!("capt {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "demo")]
        Some(Command::Demo(args)) => done(capt::demo::run(args)),
    }
}
