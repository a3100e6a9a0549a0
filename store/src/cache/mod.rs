//! Binary caches in Nix's format: a directory (or a web server's view of one) holding
//!
//! ```text
//! nix-cache-info                  StoreDir: /nix/store
//! <hash>.narinfo                  one store path's metadata and signatures (narinfo.rs)
//! nar/<filehash>.nar.<ext>        its NAR, compressed (zstd, xz or none)
//! ```
//!
//! [`keys`] holds the Ed25519 keys and signatures, [`publish`](write::publish) writes a
//! closure into a cache directory, [`Substituter`](read::Substituter) reads from one or more
//! caches (`file://`, `http://`, `https://`) into a [`LocalStore`](crate::LocalStore),
//! accepting a path only when a trusted key signed it, its NAR has the hash and size the
//! signed narinfo names, and everything it refers to comes along or is valid already.
//!
//! Must not: run programs, or leave a half-written file where a reader can see it.

pub mod keys;
pub mod narinfo;
mod read;
mod source;
mod write;

pub use keys::{fingerprint, KeyError, PublicKey, SecretKey, TrustedKeys};
pub use narinfo::{NarInfo, NarInfoError};
pub use read::{Event, SubstituteReport, Substituter, SubstituterOptions};
pub use source::{is_loopback, BinaryCache};
pub use write::{publish, Compression, PublishEvent, PublishOptions, PublishReport};

use crate::StoreError;

/// Everything that can go wrong reading or writing a binary cache. Each names the cache and
/// the path or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("'{0}' is not a binary cache URL strata can use (file:///DIR, http://HOST/PATH or https://HOST/PATH)")]
    BadUrl(String),
    #[error("cache {cache}: cannot {action} '{file}': {problem}")]
    Io {
        cache: String,
        action: &'static str,
        file: String,
        problem: String,
    },
    #[error("cache {cache}: {file}: {source}")]
    NarInfo {
        cache: String,
        file: String,
        source: NarInfoError,
    },
    #[error("cache {cache} is for store directory '{found}', but this store's is '{expected}'")]
    StoreDirMismatch {
        cache: String,
        found: String,
        expected: String,
    },
    #[error("cache {cache}: refused '{path}': {reason}")]
    Refused {
        cache: String,
        path: String,
        reason: String,
    },
    #[error("'{path}' is not in any of the caches ({caches})")]
    NotInCache { path: String, caches: String },
    #[error("cache {cache}: compression '{compression}' of '{path}' is not one strata reads (none, xz, zstd)")]
    Compression {
        cache: String,
        path: String,
        compression: String,
    },
    #[error("cache {cache}: {source}")]
    Tls {
        cache: String,
        source: crate::http::CertFileError,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests;
