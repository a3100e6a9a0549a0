//! strata-store: the Nix-compatible store.
//!
//! It owns the formats that must be byte-for-byte what Nix produces — nix32, store paths,
//! NAR, export streams — and the local store that keeps valid paths, their metadata in SQLite,
//! closures, garbage collection, optimisation and verification.
//!
//! Must not: know the Nix language. Evaluation lives in `strata-lang`; the builder connects
//! the two.

pub mod derivation;
pub mod export;
pub mod hash;
pub mod local;
pub mod nar;
pub mod nix32;
pub mod path;
pub mod refs;
pub mod wire;

pub use hash::{Hash, HashAlgo, HashFormat};
pub use local::{LocalStore, PathInfo, StoreError};
pub use path::{StoreDir, StorePath};
