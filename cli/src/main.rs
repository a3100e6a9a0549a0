//! The `strata` binary: parse arguments, set up logging, run, report errors once.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = strata_cli::Cli::parse();
    strata_cli::init_logging(cli.verbose);
    match strata_cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
