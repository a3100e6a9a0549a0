//! The client side of strata-init's control socket: one request line, an answer that starts
//! with `ok` or `error: ...`.

use std::io::{self, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Where strata-init listens, on the running machine.
pub const CONTROL_SOCKET: &str = "/run/strata/init.sock";

/// Why a request did not get an `ok`.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "cannot reach strata-init at {socket} (is this a running strata system, and are you \
         root?): {source}"
    )]
    Connect { socket: String, source: io::Error },
    #[error("no answer from strata-init at {socket}: {source}")]
    Answer { socket: String, source: io::Error },
    #[error("strata-init refused `{request}': {message}")]
    Refused { request: String, message: String },
}

/// Sends `line` to the init listening at `socket` and returns its answer without the leading
/// `ok` line; an `error:` answer is [`ControlError::Refused`].
pub fn request(socket: &Path, line: &str, timeout: Duration) -> Result<String, ControlError> {
    let name = socket.display().to_string();
    let mut s = UnixStream::connect(socket).map_err(|source| ControlError::Connect {
        socket: name.clone(),
        source,
    })?;
    let answer = (|| {
        s.set_read_timeout(Some(timeout))?;
        s.write_all(format!("{line}\n").as_bytes())?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        Ok(answer)
    })()
    .map_err(|source| ControlError::Answer {
        socket: name,
        source,
    })?;
    if let Some(e) = answer.strip_prefix("error: ") {
        return Err(ControlError::Refused {
            request: line.to_owned(),
            message: e.trim_end().to_owned(),
        });
    }
    Ok(answer.strip_prefix("ok\n").unwrap_or(&answer).to_owned())
}

/// The services strata-init at `socket` reports running.
pub fn running_services(socket: &Path, timeout: Duration) -> Result<Vec<String>, ControlError> {
    Ok(running_in_status(&request(socket, "status", timeout)?))
}

/// The names of the running services in the answer to `status`: a line `NAME STATE ...` per
/// service; `running (pid N)` is a process, `active (exited)` a `RemainAfterExit` service
/// whose process finished, and both count.
pub fn running_in_status(status: &str) -> Vec<String> {
    status
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            matches!(words.next(), Some("running" | "active")).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_services_of_a_status_answer() {
        let status = "hello\trunning (pid 12)\nsshd\tstopped\nnet\tactive (exited)\n\
                      once\texited: exited with status 0\nweb running pid 40 restarts 2\n\nodd\n";
        assert_eq!(running_in_status(status), ["hello", "net", "web"]);
        assert!(running_in_status("").is_empty());
    }
}
