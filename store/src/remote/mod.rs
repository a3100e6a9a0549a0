//! Another machine's store, reached through the host's OpenSSH client ([`ssh`]), and closures
//! copied to and from it ([`copy_to`], [`copy_from`]).
//!
//! The far side needs nothing but strata: every exchange is one `ssh` run of `strata
//! --store-dir DIR store ...` there, with its default store root (`/` on a strata machine).
//! Lists of store paths travel one a line on standard input and output ([`path_list`],
//! [`parse_path_list`]); closures travel as one `nix-store --export` stream
//! ([`crate::export`]), which the receiving side imports in one transaction, so an interrupted
//! copy leaves its store as it was. Everything the far side answers is checked: a path list
//! holds only the paths asked about, a stream only the paths asked for.
//!
//! Which program runs there: `--remote-program` ([`RemoteStore::new`]'s `program`), else
//! `strata` from the remote shell's `PATH`, else [`STRATA_MACHINE_PROGRAM`] (where a strata
//! machine keeps it: a non-login shell's `PATH` there lacks it). Which one answers is
//! remembered, so only the first exchange can cost a second try.
//!
//! Must not: read or write the local store except through [`LocalStore`]'s export and import;
//! interpret anything the far side prints beyond the path lists it asked for.

mod copy;
pub mod machine;
pub mod ssh;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;

pub use copy::{copy_from, copy_to, CopyProgress, CopyReport};
pub use ssh::{Ssh, SshTarget};

use crate::{StoreDir, StoreError, StorePath};

/// Where a strata machine keeps its `strata`: the current generation's own.
pub const STRATA_MACHINE_PROGRAM: &str = "/run/current-system/strata/bin/strata";

/// The exit status a shell gives a command it cannot find.
const NOT_FOUND: i32 = 127;
/// The exit status of `ssh` itself failing (no connection, no authentication).
const SSH_FAILED: i32 = 255;
/// Most bytes of the far side's standard error quoted in an error.
const MAX_DETAIL: usize = 2000;

/// Everything that can go wrong between two stores.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("'{target}' is not a machine to copy to or from: {problem}")]
    BadTarget { target: String, problem: String },
    #[error("${var} cannot be split into ssh options: {source}")]
    BadOptions {
        var: String,
        source: ssh::SplitError,
    },
    #[error("cannot run the ssh program '{program}': {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot reach {target}: {detail}")]
    Unreachable { target: String, detail: String },
    #[error("the connection to {target} broke, nothing was copied: {detail}")]
    ConnectionLost { target: String, detail: String },
    #[error("strata not found on {target} (tried {tried}); pass --remote-program")]
    NoStrata { target: String, tried: String },
    #[error("`{command}` failed on {target} ({status}): {detail}")]
    Failed {
        target: String,
        command: String,
        status: String,
        detail: String,
    },
    #[error("{target} answered `{command}` with something else than asked: {problem}")]
    Garbage {
        target: String,
        command: String,
        problem: String,
    },
    #[error("the stream from {target} was refused, nothing was imported: {source}")]
    BadStream { target: String, source: StoreError },
    #[error("cannot {what} {target}: {source}")]
    Io {
        what: &'static str,
        target: String,
        source: std::io::Error,
    },
    #[error("path '{0}' is not valid in this store, so it cannot be copied")]
    NotValidHere(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A store on another machine, reached with `ssh`.
#[derive(Debug)]
pub struct RemoteStore {
    ssh: Ssh,
    store_dir: StoreDir,
    /// The programs to try, in order.
    candidates: Vec<String>,
    /// The one that answered.
    program: OnceLock<String>,
    /// Run every command but the probe for strata through `sudo -n --` (`--use-remote-sudo`).
    sudo: bool,
}

/// What a finished remote command left.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl RemoteStore {
    /// The store of `ssh`'s target, with the logical store directory `store_dir` (both sides
    /// must agree on it: it is part of every path's hash). `program` is strata's path there;
    /// `None` tries `strata` and then [`STRATA_MACHINE_PROGRAM`].
    pub fn new(ssh: Ssh, store_dir: StoreDir, program: Option<String>) -> RemoteStore {
        let candidates = match program {
            Some(p) => vec![p],
            None => vec!["strata".to_owned(), STRATA_MACHINE_PROGRAM.to_owned()],
        };
        RemoteStore {
            ssh,
            store_dir,
            candidates,
            program: OnceLock::new(),
            sudo: false,
        }
    }

    /// The same store, with every command run as root through `sudo -n --` there (what
    /// `--use-remote-sudo` and a fleet machine's non-root `deployment.targetUser` ask for).
    /// `-n`: sudo fails at once where it would ask for a password, since nobody could type it.
    pub fn with_sudo(mut self, sudo: bool) -> RemoteStore {
        self.sudo = sudo;
        self
    }

    /// Whether commands run through `sudo` there.
    pub fn sudo(&self) -> bool {
        self.sudo
    }

    pub fn target(&self) -> &SshTarget {
        &self.ssh.target
    }

    pub fn ssh(&self) -> &Ssh {
        &self.ssh
    }

    pub fn store_dir(&self) -> &StoreDir {
        &self.store_dir
    }

    /// The paths among `paths` that the remote store lacks (`strata store missing`).
    pub fn missing(&self, paths: &[StorePath]) -> Result<BTreeSet<StorePath>, RemoteError> {
        let out = self.strata(&["store", "missing"], &path_list(&self.store_dir, paths))?;
        let asked: BTreeSet<&StorePath> = paths.iter().collect();
        let answer = self.parse_answer("store missing", &out)?;
        if let Some(p) = answer.iter().find(|p| !asked.contains(p)) {
            return Err(self.garbage(
                "store missing",
                format!("'{}' was not asked about", self.store_dir.display(p)),
            ));
        }
        Ok(answer.into_iter().collect())
    }

    /// The closure of `paths` in the remote store, references first (`strata store closure`).
    pub fn closure(&self, paths: &[StorePath]) -> Result<Vec<StorePath>, RemoteError> {
        let out = self.strata(
            &["store", "closure", "--stdin"],
            &path_list(&self.store_dir, paths),
        )?;
        let closure = self.parse_answer("store closure", &out)?;
        let set: BTreeSet<&StorePath> = closure.iter().collect();
        if set.len() != closure.len() {
            return Err(self.garbage("store closure", "a path is listed twice".into()));
        }
        if let Some(p) = paths.iter().find(|p| !set.contains(p)) {
            return Err(self.garbage(
                "store closure",
                format!(
                    "the closure lacks '{}', one of its own roots",
                    self.store_dir.display(p)
                ),
            ));
        }
        Ok(closure)
    }

    /// Runs `strata --store-dir DIR ARGS...` there with `input` on its standard input and
    /// returns its standard output; a failure carries what it printed on standard error.
    pub fn strata(&self, args: &[&str], input: &[u8]) -> Result<Vec<u8>, RemoteError> {
        if let Some(program) = self.program.get() {
            return self.query(program, args, input);
        }
        for program in &self.candidates {
            match self.query(program, args, input) {
                Err(RemoteError::NoStrata { .. }) => continue,
                other => {
                    let _ = self.program.set(program.clone());
                    return other;
                }
            }
        }
        Err(self.no_strata())
    }

    fn query(&self, program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>, RemoteError> {
        let mut child = self.spawn(program, args)?;
        let stdin = child.stdin.take();
        let finished = std::thread::scope(|s| {
            if let Some(mut pipe) = stdin {
                s.spawn(move || {
                    // A far side that stops reading early says why in its exit status.
                    let _ = pipe.write_all(input);
                });
            }
            child.wait_with_output()
        })
        .map_err(|e| self.io("wait for ssh to", e))?;
        let f = Finished {
            status: finished.status,
            stdout: finished.stdout,
            stderr: finished.stderr,
        };
        self.check(program, args, &f)?;
        Ok(f.stdout)
    }

    /// The program that answered the first exchange (probing with `--version` if none ran).
    pub fn program(&self) -> Result<&str, RemoteError> {
        if self.program.get().is_none() {
            self.strata(&["--version"], b"")?;
        }
        self.program
            .get()
            .map(String::as_str)
            .ok_or_else(|| self.no_strata())
    }

    /// `ssh TARGET [sudo -n --] PROGRAM --store-dir DIR ARGS...` with all three standard
    /// streams piped.
    pub(crate) fn spawn(&self, program: &str, args: &[&str]) -> Result<Child, RemoteError> {
        let mut words = Vec::new();
        if self.sudo {
            words.extend_from_slice(&["sudo", "-n", "--"]);
        }
        words.extend_from_slice(&[program, "--store-dir", self.store_dir.as_str()]);
        words.extend_from_slice(args);
        let mut cmd: Command = self.ssh.command(&words);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tracing::debug!(command = ?cmd, "running on {}", self.ssh.target);
        cmd.spawn().map_err(|source| RemoteError::Spawn {
            program: self.ssh.program.to_string_lossy().into_owned(),
            source,
        })
    }

    /// Maps a finished command's exit status to the error it means.
    fn check(&self, program: &str, args: &[&str], f: &Finished) -> Result<(), RemoteError> {
        if f.status.success() {
            return Ok(());
        }
        let detail = detail(&f.stderr);
        // sudo says so itself, and exits with 1, when it cannot find the program.
        let sudo_not_found = self.sudo
            && f.status.code() == Some(1)
            && detail.contains(&format!("{program}: command not found"));
        if sudo_not_found {
            return Err(RemoteError::NoStrata {
                target: self.ssh.target.to_string(),
                tried: program.to_owned(),
            });
        }
        match f.status.code() {
            Some(SSH_FAILED) => Err(RemoteError::Unreachable {
                target: self.ssh.target.to_string(),
                detail,
            }),
            Some(NOT_FOUND) => Err(RemoteError::NoStrata {
                target: self.ssh.target.to_string(),
                tried: program.to_owned(),
            }),
            code => Err(RemoteError::Failed {
                target: self.ssh.target.to_string(),
                command: format!("strata {}", args.join(" ")),
                status: code.map_or_else(
                    || format!("ssh ended by signal {:?}", signal_of(&f.status)),
                    |c| format!("exit status {c}"),
                ),
                detail,
            }),
        }
    }

    fn parse_answer(&self, command: &str, out: &[u8]) -> Result<Vec<StorePath>, RemoteError> {
        parse_path_list(&self.store_dir, out).map_err(|e| self.garbage(command, e.to_string()))
    }

    fn garbage(&self, command: &str, problem: String) -> RemoteError {
        RemoteError::Garbage {
            target: self.ssh.target.to_string(),
            command: format!("strata {command}"),
            problem,
        }
    }

    fn io(&self, what: &'static str, source: std::io::Error) -> RemoteError {
        RemoteError::Io {
            what,
            target: self.ssh.target.to_string(),
            source,
        }
    }

    fn no_strata(&self) -> RemoteError {
        let tried: Vec<String> = self.candidates.iter().map(|c| format!("`{c}`")).collect();
        RemoteError::NoStrata {
            target: self.ssh.target.to_string(),
            tried: tried.join(" and "),
        }
    }
}

fn signal_of(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal()
}

/// The far side's standard error as one line for an error message: its lines joined, a
/// leading `error: ` dropped (strata's own prefix), cut at [`MAX_DETAIL`] bytes.
fn detail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    if lines.is_empty() {
        return "it printed no message".to_owned();
    }
    let mut d = lines.join("; ");
    if d.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !d.is_char_boundary(cut) {
            cut -= 1;
        }
        d.truncate(cut);
        d.push_str("...");
    }
    d
}

/// `paths` one a line, absolute: what `strata store missing`, `closure --stdin` and `export
/// --stdin` read.
pub fn path_list(store_dir: &StoreDir, paths: &[StorePath]) -> Vec<u8> {
    let mut out = Vec::with_capacity(paths.len() * 80);
    for p in paths {
        out.extend_from_slice(store_dir.display(p).as_bytes());
        out.push(b'\n');
    }
    out
}

/// Why a list of store paths cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PathListError {
    #[error("the list of store paths is not UTF-8 (at byte {0})")]
    NotUtf8(usize),
    #[error("line {line}: {text:?} is not a store path: {source}")]
    BadLine {
        line: usize,
        /// The line, cut at 120 characters.
        text: String,
        source: crate::path::PathError,
    },
    #[error("cannot read the list of store paths: {0}")]
    Read(#[source] std::io::Error),
}

/// Parses a list of absolute store paths, one a line (blank lines ignored).
pub fn parse_path_list(store_dir: &StoreDir, text: &[u8]) -> Result<Vec<StorePath>, PathListError> {
    let text = std::str::from_utf8(text).map_err(|e| PathListError::NotUtf8(e.valid_up_to()))?;
    let mut paths = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let p = store_dir
            .parse(line)
            .map_err(|source| PathListError::BadLine {
                line: i + 1,
                text: line.chars().take(120).collect(),
                source,
            })?;
        paths.push(p);
    }
    Ok(paths)
}

/// Reads a path list from `input` (standard input, for the plumbing commands).
pub fn read_path_list(
    store_dir: &StoreDir,
    input: impl Read,
) -> Result<Vec<StorePath>, PathListError> {
    let mut buf = Vec::new();
    input
        .take(1 << 30)
        .read_to_end(&mut buf)
        .map_err(PathListError::Read)?;
    parse_path_list(store_dir, &buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn path_lists_round_trip_and_name_the_bad_line() {
        let dir = StoreDir::default();
        let a = StorePath::from_base_name("7rjj86a15146cq1d3qy068lml7n8ykzm-a").unwrap();
        let b = StorePath::from_base_name("ffffffffffffffffffffffffffffffff-b").unwrap();
        let list = path_list(&dir, &[a.clone(), b.clone()]);
        assert_eq!(parse_path_list(&dir, &list).unwrap(), [a, b]);
        assert_eq!(parse_path_list(&dir, b"\n\n").unwrap(), []);
        let e = parse_path_list(
            &dir,
            b"/nix/store/7rjj86a15146cq1d3qy068lml7n8ykzm-a\nhello\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("line 2: \"hello\""), "{e}");
        let e = parse_path_list(&dir, b"\xff\xfe").unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn details_are_one_line_without_strata_s_prefix() {
        assert_eq!(
            detail(b"Warning: x\nerror: failed to import: bad\n\n"),
            "Warning: x; failed to import: bad"
        );
        assert_eq!(detail(b""), "it printed no message");
        assert!(detail(&vec![b'a'; 5000]).ends_with("..."));
    }
}
