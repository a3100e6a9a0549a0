//! Fetching files by URL into the store as flat fixed-output paths.
//!
//! [`fetch_fixed`] downloads an `http://`, `https://` or `file://` URL to a temporary file under
//! the store root while hashing it, compares the hash with the one the caller expects (for a
//! Debian package, the sha256 the archive's index gives and `strata.lock` records) and only then
//! adds the file to the store. A mismatch registers nothing. A path that is already valid is not
//! downloaded again: its name and the expected hash determine it.
//!
//! [`fetch_bytes`] reads a (small) URL into memory, for indexes that are parsed rather than
//! stored.
//!
//! HTTP goes through `ureq` with rustls. Transient failures (connection problems, timeouts,
//! `408`, `429` and `5xx` statuses, a body cut short) are retried [`RETRIES`] times with a
//! growing pause; any other status is an error naming the URL and the status at once.

use std::fs;
use std::io::{self, IsTerminal as _, Read, Seek as _, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_store::hash::Hasher;
use strata_store::{Hash, LocalStore, PathInfo, StoreError};
use thiserror::Error;

/// How many times a transient HTTP failure is retried (so at most `RETRIES + 1` attempts).
pub const RETRIES: u32 = 3;

/// The pause before the first retry; it doubles for each further one.
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Longest wait for a connection to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for any single read of a response (a stalled transfer).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether to show a progress line while downloading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Never print anything.
    Never,
    /// A progress line on stderr, only when stderr is a terminal.
    Terminal,
}

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, Error)]
pub enum FetchError {
    #[error("cannot fetch {url}: unsupported URL (expected http://, https:// or file://)")]
    UnsupportedUrl { url: String },
    #[error("cannot fetch {url}: HTTP status {status}{}", attempts_text(*attempts))]
    HttpStatus {
        url: String,
        status: u16,
        attempts: u32,
    },
    #[error("cannot fetch {url}{}: {source}", attempts_text(*attempts))]
    Http {
        url: String,
        attempts: u32,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("cannot fetch {url}: {source}")]
    Tls {
        url: String,
        #[source]
        source: strata_store::http::CertFileError,
    },
    #[error("cannot fetch {url}: {} not found", path.display())]
    FileNotFound { url: String, path: PathBuf },
    #[error("cannot fetch {url}: {context}: {source}")]
    Io {
        url: String,
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "hash mismatch fetching {url}:\n  expected: {} ({})\n  got:      {} ({})",
        expected.to_sri(), expected, actual.to_sri(), actual
    )]
    HashMismatch {
        url: String,
        expected: Box<Hash>,
        actual: Box<Hash>,
    },
    #[error("cannot fetch {url}: {source}")]
    Store {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error(
        "cannot fetch {url}: the store added it as {got}, not the expected {expected} (a bug)"
    )]
    UnexpectedPath {
        url: String,
        expected: String,
        got: String,
    },
}

fn attempts_text(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl FetchError {
    /// Whether the resource does not exist (HTTP 404 or 410, or a missing file), as opposed
    /// to a failure to reach or read it.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FetchError::FileNotFound { .. }
                | FetchError::HttpStatus {
                    status: 404 | 410,
                    ..
                }
        )
    }
}

/// Fetches `url` into `store` as the flat fixed-output path called `name` whose content hash
/// is `expected` (sha256 for Debian packages; any algorithm the store knows works).
///
/// If that path is already valid, nothing is downloaded. Otherwise the file is downloaded to a
/// temporary file under the store root (`nix/var/nix/tmp`) while it is hashed with
/// `expected`'s algorithm; a different hash is [`FetchError::HashMismatch`] and leaves the
/// store unchanged; a matching file is added with [`LocalStore::add_fixed`].
pub fn fetch_fixed(
    store: &mut LocalStore,
    url: &str,
    name: &str,
    expected: &Hash,
    progress: Progress,
) -> Result<PathInfo, FetchError> {
    let store_err = |source| FetchError::Store {
        url: url.to_owned(),
        source,
    };
    let path = store
        .store_dir()
        .make_fixed_output_path(name, false, expected)
        .map_err(|e| store_err(e.into()))?;
    if let Some(info) = store.path_info(&path).map_err(store_err)? {
        return Ok(info);
    }
    let tmp_dir = store.state_dir().join("tmp");
    fs::create_dir_all(&tmp_dir).map_err(|source| FetchError::Io {
        url: url.to_owned(),
        context: format!("cannot create {}", tmp_dir.display()),
        source,
    })?;
    let mut tmp = tempfile::Builder::new()
        .prefix("fetch-")
        .tempfile_in(&tmp_dir)
        .map_err(|source| FetchError::Io {
            url: url.to_owned(),
            context: format!("cannot create a temporary file in {}", tmp_dir.display()),
            source,
        })?;
    let actual = download(url, tmp.as_file_mut(), expected.algo(), name, progress)?;
    if actual != *expected {
        return Err(FetchError::HashMismatch {
            url: url.to_owned(),
            expected: Box::new(expected.clone()),
            actual: Box::new(actual),
        });
    }
    let info = store
        .add_fixed(tmp.path(), Some(name), expected.algo(), false)
        .map_err(store_err)?;
    if info.path != path {
        return Err(FetchError::UnexpectedPath {
            url: url.to_owned(),
            expected: store.print(&path),
            got: store.print(&info.path),
        });
    }
    Ok(info)
}

/// Reads all of `url` into memory (`http://`, `https://` or `file://`), with the same retries
/// as [`fetch_fixed`]. Meant for indexes of a few tens of megabytes at most.
pub fn fetch_bytes(url: &str) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    with_source(url, |reader, _len| {
        out.clear();
        reader.read_to_end(&mut out).map(|_| ())
    })?;
    Ok(out)
}

/// Downloads `url` (`http://`, `https://` or `file://`) into `file` (truncating it on every
/// attempt, with the same retries as [`fetch_fixed`]) and returns its hash with `algo`. `name`
/// labels the progress line. Checking the hash is the caller's business; the builder's
/// `builtin:fetchurl` streams into its output's staging file with this.
pub fn download(
    url: &str,
    file: &mut fs::File,
    algo: strata_store::HashAlgo,
    name: &str,
    progress: Progress,
) -> Result<Hash, FetchError> {
    let mut hash = None;
    with_source(url, |reader, len| {
        file.set_len(0)?;
        file.rewind()?;
        let mut hasher = Hasher::new(algo);
        let mut bar = ProgressLine::new(progress, name, len);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bar.finish();
                    return Err(e);
                }
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            bar.advance(n as u64);
        }
        bar.finish();
        file.flush()?;
        hash = Some(hasher.finish());
        Ok(())
    })?;
    hash.ok_or_else(|| FetchError::Io {
        url: url.to_owned(),
        context: "the download produced nothing".into(),
        source: io::Error::other("no data"),
    })
}

/// Opens `url` and hands its body (and its length, when known) to `consume`, retrying
/// transient HTTP failures, including a body that breaks off, from the start.
fn with_source(
    url: &str,
    mut consume: impl FnMut(&mut dyn Read, Option<u64>) -> io::Result<()>,
) -> Result<(), FetchError> {
    if let Some(rest) = url.strip_prefix("file://") {
        let path = file_url_path(url, rest)?;
        let mut f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(FetchError::FileNotFound {
                    url: url.to_owned(),
                    path,
                })
            }
            Err(source) => {
                return Err(FetchError::Io {
                    url: url.to_owned(),
                    context: format!("cannot open {}", path.display()),
                    source,
                })
            }
        };
        let len = f.metadata().ok().map(|m| m.len());
        return consume(&mut f, len).map_err(|source| FetchError::Io {
            url: url.to_owned(),
            context: format!("cannot read {}", path.display()),
            source,
        });
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(FetchError::UnsupportedUrl {
            url: url.to_owned(),
        });
    }
    let agent = http_agent(url)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let retry = attempt <= RETRIES;
        let err = match agent.get(url).call() {
            Ok(resp) if resp.status().is_success() => {
                let len = resp.body().content_length();
                let mut reader = resp.into_body().into_reader();
                match consume(&mut reader, len) {
                    Ok(()) => return Ok(()),
                    Err(e) if retry && transient_io(&e) => {
                        tracing::warn!(%url, error = %e, attempt, "download broke off; retrying");
                        pause(attempt);
                        continue;
                    }
                    Err(source) => {
                        return Err(FetchError::Io {
                            url: url.to_owned(),
                            context: "download failed".into(),
                            source,
                        })
                    }
                }
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                if retry && matches!(status, 408 | 429 | 500..=599) {
                    tracing::warn!(%url, status, attempt, "HTTP error; retrying");
                    pause(attempt);
                    continue;
                }
                return Err(FetchError::HttpStatus {
                    url: url.to_owned(),
                    status,
                    attempts: attempt,
                });
            }
            Err(e) => e,
        };
        if retry && transient_http(&err) {
            tracing::warn!(%url, error = %err, attempt, "HTTP request failed; retrying");
            pause(attempt);
            continue;
        }
        return Err(FetchError::Http {
            url: url.to_owned(),
            attempts: attempt,
            source: Box::new(err),
        });
    }
}

fn pause(attempt: u32) {
    std::thread::sleep(FIRST_PAUSE * 2u32.saturating_pow(attempt.saturating_sub(1)));
}

fn transient_http(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(e) => transient_io(e),
        ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_)
        | ureq::Error::BodyStalled => true,
        _ => false,
    }
}

fn transient_io(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionReset
            | K::ConnectionAborted
            | K::ConnectionRefused
            | K::BrokenPipe
            | K::TimedOut
            | K::UnexpectedEof
            | K::Interrupted
            | K::WouldBlock
            | K::Other
    )
}

/// The HTTP agent ([`strata_store::http`]: trusted authorities, no proxy for loopback);
/// errors for statuses are handled here, not by ureq; no content decoding (the hash is of the
/// bytes as served).
fn http_agent(url: &str) -> Result<ureq::Agent, FetchError> {
    let config = strata_store::http::agent_config(url)
        .map_err(|source| FetchError::Tls {
            url: url.to_owned(),
            source,
        })?
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT));
    Ok(config.build().into())
}

/// The local path of a `file://` URL: `file:///abs/path` or `file://localhost/abs/path`, with
/// `%XX` escapes decoded.
fn file_url_path(url: &str, rest: &str) -> Result<PathBuf, FetchError> {
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(FetchError::UnsupportedUrl {
            url: url.to_owned(),
        });
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt as _;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// A one-line progress display on stderr, redrawn at most ten times a second.
struct ProgressLine<'a> {
    enabled: bool,
    name: &'a str,
    total: Option<u64>,
    done: u64,
    last: Option<Instant>,
}

impl<'a> ProgressLine<'a> {
    fn new(progress: Progress, name: &'a str, total: Option<u64>) -> ProgressLine<'a> {
        ProgressLine {
            enabled: progress == Progress::Terminal && io::stderr().is_terminal(),
            name,
            total,
            done: 0,
            last: None,
        }
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        self.draw();
    }

    fn draw(&self) {
        let line = match self.total {
            Some(t) if t > 0 => format!(
                "{}: {} / {} ({}%)",
                self.name,
                human_size(self.done),
                human_size(t),
                self.done.saturating_mul(100) / t
            ),
            _ => format!("{}: {}", self.name, human_size(self.done)),
        };
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.enabled && self.last.is_some() {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
        self.enabled = false;
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `40.2 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The `file://` URL of an absolute local path, percent-encoding every byte that is not
/// plainly safe in a URL.
pub fn file_url(path: &Path) -> String {
    let mut s = String::from("file://");
    for b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~+".contains(b) {
            s.push(char::from(*b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
pub(crate) mod tests;
