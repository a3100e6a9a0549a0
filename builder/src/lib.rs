//! strata-builder: the glue between `strata-lang` and `strata-store`: from a
//! `configuration.nix` and its `strata.lock` to a system's toplevel in the store. One concern
//! a module:
//!
//! | module | owns |
//! |---|---|
//! | [`alloc`] | the global allocator of strata's binaries (mimalloc) |
//! | [`config`] | the evaluated machine configuration, and the one rule for which configuration file a command means |
//! | [`eval_io`] | the evaluator's window on the world (host files, the store) |
//! | [`eval_thread`] | the big-stack thread every evaluation runs on |
//! | [`sources`] | where a configuration's lock is found (beside it, else strata's own) |
//! | [`pkgs`] | the Debian package set as the evaluator sees it |
//! | [`debian`] | Debian: versions, relations, the one deb822 reader, the `Packages` index, the resolver, `strata.lock`, apt sources, the archive's address, fetching and `.deb` unpacking |
//! | [`compress`] | the one decompression (format by magic bytes), the initrd's compression and kernel modules' xz |
//! | [`fetch`] | fixed-output downloads into the store |
//! | [`build`] | realising one derivation: its inputs, its log ([`build::log_path`]), running it, registering its outputs |
//! | [`sandbox`] | the namespace sandbox a builder runs in |
//! | [`builtins`] | strata's own builders (`builtin:fetchurl`, `unpack-deb`, `strata-kernel-modules`, `strata-initrd`, `strata-toplevel`, `strata-usr`) |
//! | [`scheduler`] | realising whole derivation graphs in parallel |
//! | [`initrd`] | the initrd: cpio writer, kernel-module closure, ELF reader |
//! | [`kernel`] | a system's kernel modules: recompressed, indexed (text and kmod's binary indexes), directories left out |
//! | [`toplevel`] | the static `/etc` tree and the activation manifest |
//! | [`wrappers`] | the manifest's setuid and capability wrappers, checked against the system's packages |
//! | [`userspace`] | the generation's usr-merged tree of Debian packages: join, collisions, alternatives, the loader cache |
//! | [`crypt`] | SHA-512 crypt for clear-text passwords |
//! | [`bootspec`] | `boot.json` (bootspec v1) |
//! | [`system`] | the whole system, from configuration to toplevel |
//! | [`shell`] | development shells: a package tree laid over `/usr` in user and mount namespaces |
//!
//! Imports go one way: [`system`] -> [`scheduler`] -> [`build`] -> [`sandbox`] and
//! [`builtins`]; no builtin reaches back to the orchestration.
//!
//! Must not: activate anything on the host.

pub mod alloc;
pub mod bootspec;
pub mod build;
pub mod builtins;
pub mod compress;
pub mod config;
pub mod crypt;
pub mod debian;
pub mod eval_io;
pub mod eval_thread;
pub mod fetch;
pub mod flake;
pub mod fleet;
pub mod initrd;
pub mod kernel;
pub mod pkgs;
pub mod sandbox;
pub mod scheduler;
pub mod shell;
pub mod sources;
pub mod system;
pub mod toplevel;
pub mod userspace;
pub mod wrappers;
