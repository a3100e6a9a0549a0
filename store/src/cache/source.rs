//! Where a cache's files come from: a directory (`file://`) or a web server (`http(s)://`,
//! one agent per cache so that connections are reused).

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use super::{CacheError, NarInfo};
pub use crate::http::is_loopback;
use crate::{StoreDir, StorePath};

/// The largest `.narinfo` or `nix-cache-info` strata reads.
const MAX_INFO: u64 = 1 << 20;

#[derive(Debug, Clone)]
enum Location {
    Dir(PathBuf),
    Http { base: String, agent: ureq::Agent },
}

/// One binary cache, as a URL names it.
#[derive(Debug, Clone)]
pub struct BinaryCache {
    url: String,
    location: Location,
}

/// A file a cache holds, opened for reading.
pub(crate) type CacheReader = Box<dyn Read + Send>;

impl BinaryCache {
    /// A cache at `url`. `timeout` bounds connecting and every read from a web server, so a
    /// cache that is down or stalls is given up on rather than waited for.
    pub fn new(url: &str, timeout: Duration) -> Result<BinaryCache, CacheError> {
        let url = url.trim_end_matches('/').to_owned();
        let location = if let Some(rest) = url.strip_prefix("file://") {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(CacheError::BadUrl(url));
            }
            Location::Dir(PathBuf::from(path))
        } else if url.starts_with("http://") || url.starts_with("https://") {
            let config = crate::http::agent_config(&url)
                .map_err(|e| CacheError::Tls {
                    cache: url.clone(),
                    source: e,
                })?
                .timeout_connect(Some(timeout))
                .timeout_per_read(Some(timeout))
                .timeout_recv_response(Some(timeout))
                .max_idle_connections_per_host(16)
                // Servers close idle connections (lighttpd after 5 s): one idle longer than
                // this is not reused, so a request rarely meets a connection closed under it.
                .max_idle_age(Duration::from_secs(2));
            Location::Http {
                base: url.clone(),
                agent: config.build().into(),
            }
        } else {
            return Err(CacheError::BadUrl(url));
        };
        Ok(BinaryCache { url, location })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The directory of a `file://` cache.
    pub fn dir(&self) -> Option<&std::path::Path> {
        match &self.location {
            Location::Dir(d) => Some(d),
            Location::Http { .. } => None,
        }
    }

    fn io_err(&self, action: &'static str, file: &str, problem: impl ToString) -> CacheError {
        CacheError::Io {
            cache: self.url.clone(),
            action,
            file: file.to_owned(),
            problem: problem.to_string(),
        }
    }

    /// Opens `rel` (relative to the cache's root); `None` when the cache does not have it.
    pub(crate) fn open(&self, rel: &str) -> Result<Option<CacheReader>, CacheError> {
        match &self.location {
            Location::Dir(d) => match std::fs::File::open(d.join(rel)) {
                Ok(f) => Ok(Some(Box::new(f))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.io_err("read", rel, e)),
            },
            Location::Http { base, agent } => {
                let url = format!("{base}/{rel}");
                // A pooled connection the server closed fails at once; a GET is safe to send
                // again on a fresh one.
                let mut attempt = 0;
                let resp = loop {
                    match agent.get(&url).call() {
                        Ok(r) => break r,
                        Err(ureq::Error::Io(e))
                            if attempt < 2
                                && matches!(
                                    e.kind(),
                                    io::ErrorKind::UnexpectedEof
                                        | io::ErrorKind::ConnectionReset
                                        | io::ErrorKind::BrokenPipe
                                        | io::ErrorKind::ConnectionAborted
                                ) =>
                        {
                            attempt += 1;
                            tracing::debug!(url, error = %e, "retrying on a fresh connection");
                        }
                        Err(e) => return Err(self.io_err("fetch", rel, e)),
                    }
                };
                match resp.status().as_u16() {
                    200 => Ok(Some(Box::new(
                        resp.into_body().into_with_config().limit(u64::MAX).reader(),
                    ))),
                    // What S3-style servers answer for a file that is not there.
                    403 | 404 | 410 => Ok(None),
                    s => Err(self.io_err("fetch", rel, format!("HTTP status {s}"))),
                }
            }
        }
    }

    /// Reads a small text file (`nix-cache-info`, a `.narinfo`) whole.
    fn read_text(&self, rel: &str) -> Result<Option<String>, CacheError> {
        let Some(r) = self.open(rel)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        r.take(MAX_INFO + 1)
            .read_to_end(&mut buf)
            .map_err(|e| self.io_err("read", rel, e))?;
        if buf.len() as u64 > MAX_INFO {
            return Err(self.io_err("read", rel, "larger than 1 MiB"));
        }
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| self.io_err("read", rel, "not UTF-8 text"))
    }

    /// Checks `nix-cache-info`: a cache for another store directory is of no use (its paths
    /// would have other names). A cache without the file is taken to be for `store_dir`, as
    /// Nix does.
    pub fn check_store_dir(&self, store_dir: &StoreDir) -> Result<(), CacheError> {
        let Some(text) = self.read_text("nix-cache-info")? else {
            return Ok(());
        };
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("StoreDir:") {
                let v = v.trim();
                if v != store_dir.as_str() {
                    return Err(CacheError::StoreDirMismatch {
                        cache: self.url.clone(),
                        found: v.to_owned(),
                        expected: store_dir.as_str().to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The narinfo the cache has for `path`, parsed but not yet checked.
    pub fn narinfo(
        &self,
        store_dir: &StoreDir,
        path: &StorePath,
    ) -> Result<Option<NarInfo>, CacheError> {
        let rel = format!("{}.narinfo", path.hash_part());
        let Some(text) = self.read_text(&rel)? else {
            return Ok(None);
        };
        NarInfo::parse(store_dir, &text)
            .map(Some)
            .map_err(|source| CacheError::NarInfo {
                cache: self.url.clone(),
                file: rel,
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let d = Duration::from_secs(1);
        assert_eq!(
            BinaryCache::new("file:///srv/cache/", d).unwrap().dir(),
            Some(std::path::Path::new("/srv/cache"))
        );
        assert!(BinaryCache::new("http://127.0.0.1:1/c", d).is_ok());
        assert!(matches!(
            BinaryCache::new("file://relative", d),
            Err(CacheError::BadUrl(_))
        ));
        assert!(matches!(
            BinaryCache::new("s3://bucket", d),
            Err(CacheError::BadUrl(_))
        ));
        assert!(is_loopback("http://127.0.0.1:8080/x"));
        assert!(!is_loopback("http://10.0.0.1/x"));
    }
}
