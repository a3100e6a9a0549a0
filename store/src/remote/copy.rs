//! Copying a closure between this store and a [`RemoteStore`]: ask the receiving side which
//! paths it lacks, then send exactly those as one export stream over one `ssh` connection,
//! imported there in one transaction.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{self, BufWriter, Read, Write};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{detail, path_list, Finished, RemoteError, RemoteStore};
use crate::export::ImportOptions;
use crate::{LocalStore, StoreError, StorePath};

/// How far a copy is, for a progress display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyProgress {
    /// Paths whose records have gone through the stream.
    pub paths_done: usize,
    /// Paths the stream will carry.
    pub paths_total: usize,
    /// Bytes of the stream so far.
    pub bytes: u64,
    /// The NAR size of what the stream carries, when this side knows it (sending).
    pub nar_total: Option<u64>,
}

/// What a copy did. `--json` prints it; the field names are stable.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    /// `ssh://...`
    pub remote: String,
    /// Paths in the closure of what was asked for.
    pub closure: usize,
    /// How many of them the receiving side lacked.
    pub missing: usize,
    /// How many paths the stream carried (equal to `missing` when the copy succeeded).
    pub sent: usize,
    /// Bytes of the export stream.
    pub bytes: u64,
    /// The NAR size of the paths the stream carried.
    pub nar_bytes: u64,
    /// The paths copied, references first.
    pub paths: Vec<String>,
}

/// How long a far side that is no longer needed gets to exit before it is killed.
const GRACE: Duration = Duration::from_secs(3);

/// Copies the closure of `paths` from `local` to `remote`: only what `remote` lacks, as one
/// stream. The remote imports all of it or nothing.
pub fn copy_to(
    local: &LocalStore,
    remote: &RemoteStore,
    paths: &[StorePath],
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<CopyReport, RemoteError> {
    for p in paths {
        if !local.is_valid(p)? {
            return Err(RemoteError::NotValidHere(local.print(p)));
        }
    }
    let closure = local.closure(paths)?;
    let order = local.topo_sort(&closure)?;
    let missing = remote.missing(&order)?;
    let send: Vec<StorePath> = order.into_iter().filter(|p| missing.contains(p)).collect();
    let mut nar_bytes = 0;
    for p in &send {
        nar_bytes += local.require_info(p)?.nar_size;
    }
    let mut report = CopyReport {
        remote: remote.target().to_string(),
        closure: closure.len(),
        missing: missing.len(),
        nar_bytes,
        paths: send.iter().map(|p| local.print(p)).collect(),
        ..CopyReport::default()
    };
    if send.is_empty() {
        return Ok(report);
    }

    let program = remote.program()?.to_owned();
    let args = ["store", "import"];
    let mut child = remote.spawn(&program, &args)?;
    let (stdin, stdout, stderr) = pipes(&mut child, remote)?;
    let mut state = CopyProgress {
        paths_total: send.len(),
        nar_total: Some(nar_bytes),
        ..CopyProgress::default()
    };
    let progress = RefCell::new((&mut state, progress));
    let tell = |f: &dyn Fn(&mut CopyProgress)| {
        let mut p = progress.borrow_mut();
        let (state, callback) = &mut *p;
        f(state);
        callback(state);
    };
    let (exported, pipe_failed, bytes, stdout, stderr) = std::thread::scope(|s| {
        let out = s.spawn(move || read_all(stdout));
        let err = s.spawn(move || read_all(stderr));
        let mut on_bytes = |n: u64| tell(&|p| p.bytes += n);
        let mut w = BufWriter::with_capacity(
            256 * 1024,
            Counting {
                inner: stdin,
                on_bytes: &mut on_bytes,
                bytes: 0,
                failed: false,
            },
        );
        let exported = local
            .export_with(&send, &mut w, &mut |_| tell(&|p| p.paths_done += 1))
            .and_then(|()| {
                w.flush().map_err(|e| StoreError::Io {
                    context: "cannot write the export stream to",
                    path: "ssh".into(),
                    source: e,
                })
            });
        let (bytes, pipe_failed) = (w.get_ref().bytes, w.get_ref().failed);
        // Closing our end tells the far side that the stream is over, or cut after an error:
        // then it imports nothing.
        drop(w);
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        (exported, pipe_failed, bytes, stdout, stderr)
    });
    let sent = progress.into_inner().0.paths_done;
    let finished = Finished {
        status: child.wait().map_err(|e| remote.io("wait for ssh to", e))?,
        stdout,
        stderr,
    };
    match exported {
        Ok(()) => stream_check(remote, &program, &args, &finished)?,
        // The far side stopped reading: its own account of why comes first.
        Err(_) if pipe_failed => {
            stream_check(remote, &program, &args, &finished)?;
            return Err(RemoteError::Failed {
                target: remote.target().to_string(),
                command: "strata store import".into(),
                status: "it stopped reading the stream".into(),
                detail: detail(&finished.stderr),
            });
        }
        // A problem here (a corrupt path): the far side saw a cut stream and imported nothing.
        Err(e) => return Err(e.into()),
    }
    report.sent = sent;
    report.bytes = bytes;
    let imported: BTreeSet<StorePath> = remote
        .parse_answer("store import", &finished.stdout)?
        .into_iter()
        .collect();
    if imported != missing {
        return Err(remote.garbage(
            "store import",
            format!(
                "it reports {} paths imported, not the {} sent",
                imported.len(),
                missing.len()
            ),
        ));
    }
    Ok(report)
}

/// Copies the closure of `paths` (store paths on `remote`) into `local`: only what `local`
/// lacks, as one stream, imported in one transaction; a stream with anything but the paths
/// asked for is refused whole.
pub fn copy_from(
    local: &mut LocalStore,
    remote: &RemoteStore,
    paths: &[StorePath],
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<CopyReport, RemoteError> {
    let closure = remote.closure(paths)?;
    let mut fetch = Vec::new();
    for p in &closure {
        if !local.is_valid(p)? {
            fetch.push(p.clone());
        }
    }
    let mut report = CopyReport {
        remote: remote.target().to_string(),
        closure: closure.len(),
        missing: fetch.len(),
        paths: fetch.iter().map(|p| local.print(p)).collect(),
        ..CopyReport::default()
    };
    if fetch.is_empty() {
        return Ok(report);
    }

    let program = remote.program()?.to_owned();
    let args = ["store", "export", "--only", "--stdin"];
    let mut child = remote.spawn(&program, &args)?;
    let (stdin, stdout, stderr) = pipes(&mut child, remote)?;
    let expect: BTreeSet<StorePath> = fetch.iter().cloned().collect();
    let list = path_list(remote.store_dir(), &fetch);
    let mut state = CopyProgress {
        paths_total: fetch.len(),
        ..CopyProgress::default()
    };
    let progress = RefCell::new((&mut state, progress));
    let tell = |f: &dyn Fn(&mut CopyProgress)| {
        let mut p = progress.borrow_mut();
        let (state, callback) = &mut *p;
        f(state);
        callback(state);
    };
    let (imported, bytes, status, stderr) = std::thread::scope(|s| {
        s.spawn(move || {
            let mut stdin = stdin;
            // A far side that stops reading says why in its exit status.
            let _ = stdin.write_all(&list);
        });
        let err = s.spawn(move || read_all(stderr));
        let mut on_bytes = |n: u64| tell(&|p| p.bytes += n);
        let mut counting = CountingReader {
            inner: stdout,
            on_bytes: &mut on_bytes,
            bytes: 0,
        };
        let mut on_path = |_: &StorePath| tell(&|p| p.paths_done += 1);
        let imported = local.import_with(
            &mut counting,
            ImportOptions {
                expect: Some(&expect),
                on_path: Some(&mut on_path),
            },
        );
        let bytes = counting.bytes;
        // Closing our end stops a far side that is still writing; one that neither writes nor
        // exits is killed, so that the threads here end.
        drop(counting);
        let status = match &imported {
            Ok(_) => child.wait().map_err(|e| remote.io("wait for ssh to", e)),
            Err(_) => end(&mut child, remote),
        };
        (imported, bytes, status, err.join().unwrap_or_default())
    });
    let finished = Finished {
        status: status?,
        stdout: Vec::new(),
        stderr,
    };
    match imported {
        Ok(paths) => {
            // The stream was whole and every path in it is valid now; a far side that failed
            // afterwards changes nothing here.
            if let Err(e) = stream_check(remote, &program, &args, &finished) {
                tracing::warn!("{e}");
            }
            report.sent = paths.len();
            report.bytes = bytes;
            for p in &paths {
                report.nar_bytes += local.require_info(p)?.nar_size;
            }
            Ok(report)
        }
        Err(e) => {
            stream_check(remote, &program, &args, &finished)?;
            Err(RemoteError::BadStream {
                target: remote.target().to_string(),
                source: e,
            })
        }
    }
}

/// [`RemoteStore::check`] for the command that carried the stream: ssh failing then means the
/// connection broke midway.
fn stream_check(
    remote: &RemoteStore,
    program: &str,
    args: &[&str],
    finished: &Finished,
) -> Result<(), RemoteError> {
    remote.check(program, args, finished).map_err(|e| match e {
        RemoteError::Unreachable { target, detail } => {
            RemoteError::ConnectionLost { target, detail }
        }
        other => other,
    })
}

type Pipes = (
    std::process::ChildStdin,
    std::process::ChildStdout,
    std::process::ChildStderr,
);

fn pipes(child: &mut Child, remote: &RemoteStore) -> Result<Pipes, RemoteError> {
    match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
        (Some(i), Some(o), Some(e)) => Ok((i, o, e)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err(remote.io(
                "talk to",
                io::Error::other("ssh was started without its pipes"),
            ))
        }
    }
}

/// Waits a moment for `child` to exit by itself (its own error message is the better one),
/// then kills it.
fn end(child: &mut Child, remote: &RemoteStore) -> Result<ExitStatus, RemoteError> {
    let deadline = Instant::now() + GRACE;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| remote.io("wait for ssh to", e))?
        {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return child.wait().map_err(|e| remote.io("wait for ssh to", e));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.read_to_end(&mut v);
    v
}

/// Counts what goes through, telling `on_bytes` each time, and remembers whether a write
/// failed (the far side's end of the pipe is gone).
struct Counting<'a, W> {
    inner: W,
    on_bytes: &'a mut dyn FnMut(u64),
    bytes: u64,
    failed: bool,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf).inspect_err(|_| self.failed = true)?;
        self.bytes += n as u64;
        (self.on_bytes)(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct CountingReader<'a, R> {
    inner: R,
    on_bytes: &'a mut dyn FnMut(u64),
    bytes: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        (self.on_bytes)(n as u64);
        Ok(n)
    }
}
