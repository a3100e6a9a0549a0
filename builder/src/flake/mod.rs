//! Flakes: a configuration as a locked source tree. A `flake.nix` names its `inputs` (other
//! trees, each fetched into the store and pinned in `flake.lock`) and `outputs`, a function of
//! `self` and the inputs; `strataConfigurations.<name>` is a machine.
//!
//! | module | owns |
//! |---|---|
//! | [`fetch`] | flake references (URLs with `?dir=`, `?ref=`, `?rev=`, `?narHash=`; bare paths; an input's attributes) and fetching their trees into the store as Nix does: `path:`, `git+file://` and `git+http(s)://`, tarballs from `file://` and `http(s)://`, `github:` and `gitlab:` |
//! | [`lock`] | `flake.lock`, version 7 |
//! | [`resolve`] | reading a flake's `inputs` (URLs or attribute sets, `follows`, an input's inputs overridden), locking them (`flake.lock` written beside a local flake; `--override-input`) and the Nix expression that calls the outputs with `self` and the inputs |
//! | [`check`] | `strata flake check`: every output evaluated, each configuration's assertions checked |
//! | [`machine`] | a configuration of `strataConfigurations` made a configuration file the builder builds as any other |
//!
//! Must not: change a flake's tree other than writing its `flake.lock`, fetch an input its
//! lock pins to a commit (or a downloaded tarball) again when the tree is in the store, or
//! add a tree whose NAR hash is not the one pinned.

pub mod check;
pub mod fetch;
pub mod lock;
pub mod machine;
pub mod resolve;

pub use fetch::{Fetched, FlakeRef, Forge, RefKind};
pub use lock::FlakeLock;
pub use machine::{flake_configuration, FlakeConfiguration};
pub use resolve::{lock_flake, lock_flake_with, LockMode, LockedFlake};

/// Why a flake could not be fetched, locked or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum FlakeError {
    #[error("the flake reference {reference:?} is not usable: {why}")]
    BadRef { reference: String, why: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("git {command} in '{repo}' failed: {stderr}")]
    Git {
        repo: String,
        command: String,
        stderr: String,
    },
    #[error("{file}: {why}")]
    Lock { file: String, why: String },
    #[error(
        "input '{input}': the fetched tree's NAR hash is {got}, but flake.lock has {locked} \
         (the input changed under its lock; `strata flake update {input}` locks it again)"
    )]
    NarHashMismatch {
        input: String,
        locked: String,
        got: String,
    },
    #[error("the tree of {reference} has the NAR hash {got}, not {expected} as pinned")]
    HashMismatch {
        reference: String,
        expected: String,
        got: String,
    },
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("input '{input}': {source}")]
    Input {
        input: String,
        #[source]
        source: Box<FlakeError>,
    },
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    #[error("{0}")]
    Eval(String),
    #[error("{0}")]
    Strata(String),
}
