//! strata-builder: the glue between `strata-lang` and `strata-store`. Today it provides the
//! evaluator's window on the world ([`eval_io::FsIo`]); derivation realisation in a sandbox,
//! fetchers, the pinned Debian package set and toplevel assembly arrive with their issue.
//!
//! Must not: activate anything on the host.

pub mod config;
pub mod eval_io;
