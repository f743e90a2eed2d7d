#![forbid(unsafe_code)]

use clap::Parser;

use capt::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => capt::cli::run::run(cli.run),
        Some(Command::Run(args)) => capt::cli::run::run(*args),
        Some(Command::Crds) => {
            print!("{}", capt::api::crds_yaml());
            Ok(())
        }
        Some(Command::Version) => {
            println!("capt {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        #[cfg(feature = "demo")]
        Some(Command::Demo(args)) => capt::demo::run(args),
    }
}
