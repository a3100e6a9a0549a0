//! The Debian archive as strata reaches it: where it is, its `Packages` indexes, and the
//! operations behind `strata lock update`, `strata lock fetch` and a build's digest.
//!
//! The archive's address is never built in: [`super::mirror`] gives it (a `--mirror URL` flag,
//! else `STRATA_DEBIAN_MIRROR`, else the host's apt sources). The suite comes from the caller,
//! else from those apt sources.
//!
//! [`Archive::fetch_index`] reads `<path>.xz` and falls back to `<path>.gz` when the archive
//! has no `.xz`; [`update_lock`] fetches every component's index (`main` must exist, the others
//! are used when the archive has them), makes the digest ([`super::digest`]) and the lock that
//! pins both; [`ensure_digest`] puts a lock's digest into the store, made again from the pinned
//! indexes when the store lacks it; [`fetch_debs`] puts `.deb`s into the store with
//! [`fetch_fixed`], each checked against its sha256.

use std::io;
use std::path::Path;

use strata_store::{Hash, HashAlgo, LocalStore, PathInfo};
use thiserror::Error;

use crate::compress::{decompress_limited, Format};

use super::apt_sources::{find_debian_archive, SourcesError};
use super::digest::{DigestError, DigestRecord, COMPONENTS};
use super::lock::{sha256_hex, LockFile, LockedIndex};
use super::mirror::{explicit_mirror, MIRROR_ENV};
use crate::fetch::{fetch_bytes, fetch_fixed, FetchError, Progress};

#[doc(hidden)]
pub mod fake;

/// An uncompressed index larger than this is refused (a main `Packages` is tens of MiB).
const MAX_INDEX_SIZE: u64 = 1 << 30;

/// Why an archive operation failed.
#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error(
        "no Debian archive configured: pass --mirror URL, set {MIRROR_ENV}, or add a `deb` entry \
         with the `main` component to the apt sources"
    )]
    NoArchive,
    #[error("no suite known for the archive {base}: pass --suite")]
    NoSuite { base: String },
    #[error("the apt sources: {0}")]
    Sources(#[from] SourcesError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("cannot decompress {url}: {source}")]
    Decompress {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("{url} does not exist (nor its .gz): the archive has no such index")]
    NoIndex { url: String },
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("package {name}: sha256 `{sha256}` is not a sha256 in hex")]
    BadHash { name: String, sha256: String },
    #[error(
        "{url} no longer holds the index strata.lock pins (its sha256 is {got}, the lock's \
         {wanted}): the suite has moved on. Run `strata lock update` to pin the suite as it is now"
    )]
    IndexMoved {
        url: String,
        got: String,
        wanted: String,
    },
    #[error(
        "the digest made from the pinned indexes has sha256 {got}, but strata.lock pins {wanted}: \
         this strata chooses dependencies differently from the one that wrote the lock. Run \
         `strata lock update` to pin its choice"
    )]
    DigestMismatch { got: String, wanted: String },
    #[error("cannot add the digest to the store: {0}")]
    Store(#[from] strata_store::StoreError),
    #[error("cannot write the digest to a temporary file: {0}")]
    Temp(#[source] io::Error),
}

/// Where the archive is: base URL (no trailing `/`), suite and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub base: String,
    pub suite: String,
    pub arch: String,
}

/// A `Packages` index as fetched: its archive-relative path (the uncompressed name, as the lock
/// records it), the URL it came from, its uncompressed bytes and their sha256 in hex.
#[derive(Debug, Clone)]
pub struct PackagesIndex {
    pub path: String,
    pub url: String,
    pub data: Vec<u8>,
    pub sha256: String,
}

impl Archive {
    /// The archive to use: base URL from `mirror`, else `$STRATA_DEBIAN_MIRROR`, else the apt
    /// sources under `apt_root` (`/` for the host); suite from `suite`, else those apt sources.
    /// The apt sources are read only when something is missing.
    pub fn configure(
        mirror: Option<&str>,
        suite: Option<&str>,
        arch: &str,
        apt_root: &Path,
    ) -> Result<Archive, ArchiveError> {
        let mirror = explicit_mirror(mirror);
        let (base, suite) = match (mirror, suite) {
            (Some(m), Some(s)) => (m, s.to_owned()),
            (mirror, suite) => {
                let apt = find_debian_archive(apt_root, arch)?;
                match (mirror, apt) {
                    (Some(m), apt) => {
                        let s = suite
                            .map(str::to_owned)
                            .or(apt.map(|a| a.suite))
                            .ok_or_else(|| ArchiveError::NoSuite {
                                base: m.trim_end_matches('/').to_owned(),
                            })?;
                        (m, s)
                    }
                    (None, Some(a)) => (a.uri, suite.map_or(a.suite, str::to_owned)),
                    (None, None) => return Err(ArchiveError::NoArchive),
                }
            }
        };
        Ok(Archive {
            base: base.trim().trim_end_matches('/').to_owned(),
            suite,
            arch: arch.to_owned(),
        })
    }

    /// The URL of an archive-relative path.
    pub fn url(&self, relative: &str) -> String {
        format!("{}/{}", self.base, relative.trim_start_matches('/'))
    }

    /// `dists/<suite>/<component>/binary-<arch>/Packages`.
    pub fn packages_path(&self, component: &str) -> String {
        format!(
            "dists/{}/{component}/binary-{}/Packages",
            self.suite, self.arch
        )
    }

    /// Fetches the `Packages` index at the archive-relative `path` (uncompressed name):
    /// `<path>.xz`, or `<path>.gz` when the archive has no `.xz` (only a missing file falls
    /// back; any other failure is an error). `Ok(None)` when neither exists.
    pub fn fetch_index(&self, path: &str) -> Result<Option<PackagesIndex>, ArchiveError> {
        let xz_url = self.url(&format!("{path}.xz"));
        let (url, compressed) = match fetch_bytes(&xz_url) {
            Ok(b) => (xz_url, b),
            Err(e) if e.is_not_found() => {
                tracing::info!(url = %xz_url, "no Packages.xz; trying Packages.gz");
                let gz_url = self.url(&format!("{path}.gz"));
                match fetch_bytes(&gz_url) {
                    Ok(b) => (gz_url, b),
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        // The name declares the format; the bytes must agree.
        let declared = if url.ends_with(".xz") {
            Format::Xz
        } else {
            Format::Gzip
        };
        let data =
            decompress_limited(&compressed, Some(declared), MAX_INDEX_SIZE).map_err(|source| {
                ArchiveError::Decompress {
                    url: url.clone(),
                    source,
                }
            })?;
        let sha256 = sha256_hex(&data);
        Ok(Some(PackagesIndex {
            path: path.to_owned(),
            url,
            data,
            sha256,
        }))
    }

    /// The `main` component's index, which must exist.
    pub fn fetch_main_index(&self) -> Result<PackagesIndex, ArchiveError> {
        let path = self.packages_path("main");
        match self.fetch_index(&path)? {
            Some(i) => Ok(i),
            None => Err(ArchiveError::NoIndex {
                url: self.url(&format!("{path}.xz")),
            }),
        }
    }
}

/// A new lock: every component's index (`main` required, the others when the archive has
/// them) and the digest made of them, which is returned too.
pub fn update_lock(archive: &Archive) -> Result<(LockFile, Vec<u8>), ArchiveError> {
    let mut fetched = vec![archive.fetch_main_index()?];
    for component in COMPONENTS.iter().skip(1) {
        if let Some(i) = archive.fetch_index(&archive.packages_path(component))? {
            fetched.push(i);
        }
    }
    let indexes: Vec<(LockedIndex, &[u8])> = fetched
        .iter()
        .map(|i| {
            (
                LockedIndex {
                    path: i.path.clone(),
                    sha256: i.sha256.clone(),
                },
                i.data.as_slice(),
            )
        })
        .collect();
    let digest = super::digest::build(&archive.suite, &archive.arch, &indexes)?;
    let lock = LockFile {
        suite: archive.suite.clone(),
        architecture: archive.arch.clone(),
        indexes: indexes.into_iter().map(|(l, _)| l).collect(),
        digest: sha256_hex(&digest),
    };
    Ok((lock, digest))
}

/// The store path name of a lock's digest.
pub fn digest_store_name(lock: &LockFile) -> String {
    format!("debian-digest-{}-{}", lock.suite, lock.architecture).replace('/', "_")
}

/// The store path a lock's digest has (a flat fixed output named [`digest_store_name`]).
pub fn digest_store_path(
    store: &LocalStore,
    lock: &LockFile,
) -> Result<strata_store::StorePath, ArchiveError> {
    let hash = hex_hash("the digest", &lock.digest)?;
    Ok(store
        .store_dir()
        .make_fixed_output_path(&digest_store_name(lock), false, &hash)
        .map_err(strata_store::StoreError::from)?)
}

/// Adds `digest` (whose sha256 the lock pins) to the store; returns its path.
pub fn add_digest(
    store: &mut LocalStore,
    lock: &LockFile,
    digest: &[u8],
) -> Result<strata_store::StorePath, ArchiveError> {
    let got = sha256_hex(digest);
    if got != lock.digest {
        return Err(ArchiveError::DigestMismatch {
            got,
            wanted: lock.digest.clone(),
        });
    }
    let dir = tempfile::tempdir().map_err(ArchiveError::Temp)?;
    let file = dir.path().join("digest");
    std::fs::write(&file, digest).map_err(ArchiveError::Temp)?;
    let info = store.add_fixed(
        &file,
        Some(&digest_store_name(lock)),
        HashAlgo::Sha256,
        false,
    )?;
    Ok(info.path)
}

/// The lock's digest in the store: the valid path if there is one, else made from the pinned
/// indexes (fetched from the archive `archive` gives, each checked against the lock) and
/// added. The digest made must have the sha256 the lock pins.
pub fn ensure_digest(
    store: &mut LocalStore,
    lock: &LockFile,
    archive: impl FnOnce() -> Result<Archive, ArchiveError>,
) -> Result<strata_store::StorePath, ArchiveError> {
    let path = digest_store_path(store, lock)?;
    if store.is_valid(&path)? {
        return Ok(path);
    }
    let archive = archive()?;
    let mut fetched = Vec::with_capacity(lock.indexes.len());
    for locked in &lock.indexes {
        let index = archive
            .fetch_index(&locked.path)?
            .ok_or_else(|| ArchiveError::NoIndex {
                url: archive.url(&format!("{}.xz", locked.path)),
            })?;
        if index.sha256 != locked.sha256 {
            return Err(ArchiveError::IndexMoved {
                url: index.url,
                got: index.sha256,
                wanted: locked.sha256.clone(),
            });
        }
        fetched.push((locked.clone(), index.data));
    }
    let indexes: Vec<(LockedIndex, &[u8])> = fetched
        .iter()
        .map(|(l, d)| (l.clone(), d.as_slice()))
        .collect();
    let digest = super::digest::build(&lock.suite, &lock.architecture, &indexes)?;
    add_digest(store, lock, &digest)
}

/// The store path name for a `.deb`: its file name, with every character a store path name
/// cannot hold (such as `~` or `%`) replaced by `_`.
pub fn deb_store_name(filename: &str) -> String {
    let base = filename.rsplit('/').next().unwrap_or(filename);
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-._?=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => name,
    }
}

/// One package, in the store.
#[derive(Debug, Clone)]
pub struct FetchedPackage {
    pub name: String,
    pub info: PathInfo,
    /// `false` when the path was already valid and nothing was downloaded.
    pub downloaded: bool,
}

/// Fetches the `.deb` of every record from `archive` into `store` (skipping those already
/// valid), each checked against its sha256, calling `each` after each one. Stops at the first
/// failure; what was fetched before it stays in the store.
pub fn fetch_debs(
    store: &mut LocalStore,
    archive: &Archive,
    records: &[DigestRecord],
    progress: Progress,
    mut each: impl FnMut(&FetchedPackage),
) -> Result<Vec<FetchedPackage>, ArchiveError> {
    let mut out = Vec::with_capacity(records.len());
    for p in records {
        let expected = hex_hash(&p.name, &p.sha256)?;
        let name = deb_store_name(&p.filename);
        let path = store
            .store_dir()
            .make_fixed_output_path(&name, false, &expected)
            .map_err(|e| FetchError::Store {
                url: archive.url(&p.filename),
                source: e.into(),
            })?;
        let was_valid = store.is_valid(&path).map_err(|source| FetchError::Store {
            url: archive.url(&p.filename),
            source,
        })?;
        let info = fetch_fixed(store, &archive.url(&p.filename), &name, &expected, progress)?;
        let fetched = FetchedPackage {
            name: p.name.clone(),
            info,
            downloaded: !was_valid,
        };
        each(&fetched);
        out.push(fetched);
    }
    Ok(out)
}

fn hex_hash(name: &str, sha256: &str) -> Result<Hash, ArchiveError> {
    strata_store::hash::from_hex(sha256)
        .and_then(|d| Hash::from_digest(HashAlgo::Sha256, &d))
        .ok_or_else(|| ArchiveError::BadHash {
            name: name.to_owned(),
            sha256: sha256.to_owned(),
        })
}

#[cfg(test)]
mod tests;
