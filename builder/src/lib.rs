//! strata-builder: the glue between `strata-lang` and `strata-store`. Today it provides the
//! evaluator's window on the world ([`eval_io`]), the evaluated machine configuration
//! ([`config`]), and the first pieces of the Debian package set: `.deb` unpacking ([`deb`])
//! and the Packages index, dependency resolution and the lock file ([`debian_index`]).
//! Derivation realisation in a sandbox, fetchers and toplevel assembly arrive with their
//! issue.
//!
//! Must not: activate anything on the host.

pub mod config;
pub mod deb;
pub mod debian_index;
pub mod eval_io;
