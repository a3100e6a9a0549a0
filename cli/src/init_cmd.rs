//! `strata poweroff`, `strata reboot` and `strata service ...`: requests to the running
//! strata-init through its control socket.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use strata_activate::control::CONTROL_SOCKET;

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Every service and its state.
    Status,
    /// Start a service.
    Start { name: String },
    /// Stop a service (it is not restarted).
    Stop { name: String },
    /// Stop and start a service.
    Restart { name: String },
}

/// Sends one request line and returns the answer.
fn request(line: &str) -> Result<String> {
    Ok(strata_activate::control::request(
        Path::new(CONTROL_SOCKET),
        line,
        Duration::from_secs(30),
    )?)
}

pub fn power(what: &str) -> Result<ExitCode> {
    request(what)?;
    Ok(ExitCode::SUCCESS)
}

pub fn service(cmd: ServiceCommand) -> Result<ExitCode> {
    let line = match &cmd {
        ServiceCommand::Status => "status".to_owned(),
        ServiceCommand::Start { name } => format!("start {name}"),
        ServiceCommand::Stop { name } => format!("stop {name}"),
        ServiceCommand::Restart { name } => format!("restart {name}"),
    };
    print!("{}", request(&line)?);
    Ok(ExitCode::SUCCESS)
}
