//! strata-builder: the glue between `strata-lang` and `strata-store`. Today it provides the
//! evaluator's window on the world ([`eval_io`]), the evaluated machine configuration
//! ([`config`]), derivation realisation in a namespace sandbox ([`build`]), the fixed-output
//! fetcher ([`fetch`]), and the Debian package set: `.deb` unpacking ([`deb`]), the Packages
//! index, dependency resolution and the lock file ([`debian_index`]), and the archive itself
//! ([`debian_archive`]), the scheduler that realises whole derivation graphs in parallel
//! ([`scheduler`]), the initrd's cpio writer and kernel module closure ([`initrd`]), and parts
//! of the toplevel: the static etc tree, the activation manifest and `boot.json`
//! ([`toplevel`]), and the whole system from configuration to toplevel, with the builtin
//! builders of the initrd and the toplevel ([`system`]).
//!
//! Must not: activate anything on the host.

pub mod build;
pub mod config;
pub mod deb;
pub mod debian_archive;
pub mod debian_index;
pub mod eval_io;
pub mod fetch;
pub mod initrd;
pub mod pkgs;
pub mod scheduler;
pub mod sources;
pub mod system;
pub mod toplevel;
