//! The `strata` binary: parse arguments, set up logging, run, report errors once.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;

// The evaluator allocates many small values; mimalloc serves them faster than the C
// library's allocator (see strata_builder::alloc).
#[global_allocator]
static GLOBAL: strata_builder::alloc::MiMalloc = strata_builder::alloc::MiMalloc;

fn main() -> ExitCode {
    let cli = strata_cli::Cli::parse();
    strata_cli::init_logging(cli.verbose);
    match strata_cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Like `{e:#}`, but without repeating a cause that an error already quotes (many
            // I/O errors name their source in their own message).
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !msg.ends_with(&cause) {
                    msg.push_str(": ");
                    msg.push_str(&cause);
                }
            }
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
