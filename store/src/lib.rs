//! strata-store: the Nix-compatible store.
//!
//! It owns the formats that must be byte-for-byte what Nix produces — nix32, store paths,
//! NAR, export streams — and the local store that keeps valid paths, their metadata in SQLite,
//! closures, garbage collection, optimisation and verification.
//!
//! [`fs`] holds the file-system primitives every crate shares: the atomic write (file and
//! directory synced), deletion of read-only trees, `syncfs` and the `statvfs` queries.
//!
//! [`cache`] is Nix's binary-cache format: Ed25519 keys and signatures, `.narinfo`, publishing
//! closures to a cache directory and substituting them from `file://` and `http(s)://` caches.
//!
//! [`http`] is the HTTP client's settings every download shares: the trusted certificate
//! authorities (`NIX_SSL_CERT_FILE`, `SSL_CERT_FILE`, the system bundle), no proxy for loopback.
//!
//! [`remote`] is another machine's store, reached by running `strata store ...` there through
//! the host's OpenSSH client, and the copying of closures to and from it.
//!
//! Cargo feature `local` (on by default) gates the local store, the export/import of streams
//! into it and the remote store ([`local`], [`export`], [`remote`]) and with them `rusqlite`,
//! which bundles SQLite.
//! Without it the crate is the pure formats alone (hashes, nix32, store paths, NAR,
//! derivations, references, the wire encoding) and links no SQLite: `strata-lang` uses it
//! with `default-features = false`, so the evaluator does not link SQLite.
//!
//! Must not: know the Nix language. Evaluation lives in `strata-lang`; the builder connects
//! the two.

#![forbid(unsafe_code)]

#[cfg(feature = "local")]
pub mod cache;
pub mod derivation;
#[cfg(feature = "local")]
pub mod export;
pub mod fs;
pub mod hash;
#[cfg(feature = "local")]
pub mod http;
#[cfg(feature = "local")]
pub mod local;
pub mod nar;
pub mod nix32;
pub mod path;
pub mod refs;
#[cfg(feature = "local")]
pub mod remote;
pub mod wire;

pub use hash::{Hash, HashAlgo, HashFormat};
#[cfg(feature = "local")]
pub use local::{LocalStore, PathInfo, StoreError};
pub use path::{StoreDir, StorePath};
