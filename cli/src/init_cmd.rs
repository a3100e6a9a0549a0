//! `strata poweroff`, `strata reboot` and `strata service ...`: requests to the running
//! strata-init through its control socket.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use strata_init::stage2::CONTROL_SOCKET;

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

/// Sends one request line and returns the answer; an `error:` answer is an error.
fn request(line: &str) -> Result<String> {
    let mut s = UnixStream::connect(CONTROL_SOCKET).with_context(|| {
        format!("cannot reach strata-init at {CONTROL_SOCKET} (is this a running strata system, and are you root?)")
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(format!("{line}\n").as_bytes())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .context("no answer from strata-init")?;
    if let Some(e) = answer.strip_prefix("error: ") {
        anyhow::bail!("{}", e.trim_end());
    }
    Ok(answer.strip_prefix("ok\n").unwrap_or(&answer).to_owned())
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
