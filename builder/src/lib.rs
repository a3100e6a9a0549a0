//! strata-builder: the glue between `strata-lang` and `strata-store`: derivation
//! realisation in a sandbox, fetchers, the pinned Debian package set and its lock file, initrd
//! and toplevel assembly.
//!
//! Must not: activate anything on the host.
//!
//! Status: not yet written; it arrives with its own issue.
