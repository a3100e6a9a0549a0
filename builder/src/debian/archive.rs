//! The Debian archive as strata reaches it: where it is, its `Packages` index, and the
//! operations behind `strata lock update` and `strata lock fetch`.
//!
//! The archive's address is never built in: [`super::mirror`] gives it (a `--mirror URL` flag,
//! else `STRATA_DEBIAN_MIRROR`, else the host's apt sources). The suite comes from the caller,
//! else from those apt sources.
//!
//! [`Archive::fetch_packages_index`] reads `dists/<suite>/main/binary-<arch>/Packages.xz` and
//! falls back to `Packages.gz` when the archive has no `.xz`; [`update_lock`] resolves packages
//! over that index into a [`LockFile`]; [`fetch_locked`] puts every `.deb` a lock pins into the
//! store with [`fetch_fixed`], checked against the lock's sha256.

use std::io;
use std::path::Path;

use strata_store::{Hash, HashAlgo, LocalStore, PathInfo};
use thiserror::Error;

use crate::compress::{decompress_limited, Format};

use super::apt_sources::{find_debian_archive, SourcesError};
use super::index::{parse_packages_bytes, Index, IndexError};
use super::lock::{sha256_hex, LockFile, LockedIndex, LockedPackage};
use super::mirror::{explicit_mirror, MIRROR_ENV};
use super::resolve::ResolveError;
use crate::fetch::{fetch_bytes, fetch_fixed, FetchError, Progress};

#[doc(hidden)]
pub mod fake;

/// The packages `strata lock update` pins when none are named: the kernel (through the
/// `linux-image-<arch>` metapackage, resolved like any other package), busybox, time zone data,
/// the boot loaders' files and the firmware the VM tests boot with.
pub const BASE_PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "busybox-static",
    "tzdata",
    "systemd-boot-efi",
    "grub-efi-amd64-bin",
    "grub-pc-bin",
    "ovmf",
];

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
    #[error("{url}: {source}")]
    Index {
        url: String,
        #[source]
        source: IndexError,
    },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("strata.lock: package {name}: sha256 `{sha256}` is not a sha256 in hex")]
    BadLockHash { name: String, sha256: String },
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

    /// `dists/<suite>/main/binary-<arch>/Packages`.
    pub fn packages_path(&self) -> String {
        format!("dists/{}/main/binary-{}/Packages", self.suite, self.arch)
    }

    /// Fetches the `main` component's `Packages` index: `Packages.xz`, or `Packages.gz` when
    /// the archive has no `.xz` (only a missing file falls back; any other failure is an error).
    pub fn fetch_packages_index(&self) -> Result<PackagesIndex, ArchiveError> {
        let path = self.packages_path();
        let xz_url = self.url(&format!("{path}.xz"));
        let (url, compressed) = match fetch_bytes(&xz_url) {
            Ok(b) => (xz_url, b),
            Err(e) if e.is_not_found() => {
                tracing::info!(url = %xz_url, "no Packages.xz; trying Packages.gz");
                let gz_url = self.url(&format!("{path}.gz"));
                let b = fetch_bytes(&gz_url)?;
                (gz_url, b)
            }
            Err(e) => return Err(e.into()),
        };
        // The name declares the format; the bytes must agree.
        let declared = if url.ends_with(".xz") {
            Format::Xz
        } else if url.ends_with(".gz") {
            Format::Gzip
        } else {
            Format::None
        };
        let data =
            decompress_limited(&compressed, Some(declared), MAX_INDEX_SIZE).map_err(|source| {
                ArchiveError::Decompress {
                    url: url.clone(),
                    source,
                }
            })?;
        let sha256 = sha256_hex(&data);
        Ok(PackagesIndex {
            path,
            url,
            data,
            sha256,
        })
    }
}

/// Fetches the archive's index and resolves `packages` (with their `Pre-Depends` and
/// `Depends`) over it into a lock file.
pub fn update_lock<S: AsRef<str>>(
    archive: &Archive,
    packages: &[S],
) -> Result<LockFile, ArchiveError> {
    let index = archive.fetch_packages_index()?;
    let parsed = parse_packages_bytes(&index.data).map_err(|source| ArchiveError::Index {
        url: index.url.clone(),
        source,
    })?;
    let idx = Index::new(&archive.arch, parsed);
    let resolution = idx.resolve(packages)?;
    Ok(LockFile::from_resolution(
        &archive.suite,
        &archive.arch,
        vec![LockedIndex {
            path: index.path,
            sha256: index.sha256,
        }],
        &resolution,
    ))
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

/// One package of a lock, in the store.
#[derive(Debug, Clone)]
pub struct FetchedPackage {
    pub name: String,
    pub info: PathInfo,
    /// `false` when the path was already valid and nothing was downloaded.
    pub downloaded: bool,
}

/// Fetches every `.deb` that `lock` pins from `archive` into `store` (skipping those already
/// valid), each checked against the lock's sha256, calling `each` after each one. Stops at the
/// first failure; what was fetched before it stays in the store.
pub fn fetch_locked(
    store: &mut LocalStore,
    archive: &Archive,
    lock: &LockFile,
    progress: Progress,
    mut each: impl FnMut(&FetchedPackage),
) -> Result<Vec<FetchedPackage>, ArchiveError> {
    let mut out = Vec::with_capacity(lock.packages.len());
    for p in &lock.packages {
        let expected = lock_hash(p)?;
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

fn lock_hash(p: &LockedPackage) -> Result<Hash, ArchiveError> {
    strata_store::hash::from_hex(&p.sha256)
        .and_then(|d| Hash::from_digest(HashAlgo::Sha256, &d))
        .ok_or_else(|| ArchiveError::BadLockHash {
            name: p.name.clone(),
            sha256: p.sha256.clone(),
        })
}

#[cfg(test)]
mod tests;
