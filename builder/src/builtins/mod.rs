//! strata's builtin builders: derivations whose builder is `builtin:<kind>` run strata's own
//! code in this process, without a sandbox, and leave their output where a sandboxed build
//! would ([`BuiltinContext::out`]); [`crate::build`] registers it exactly like a sandboxed
//! build's. One builder a file:
//!
//! - [`fetchurl`]: `builtin:fetchurl` downloads the `url` attribute (a `mirror://debian/` URL
//!   resolves against the configured archive) into a flat fixed output, whose hash is then
//!   checked like any fixed output's;
//! - [`unpack_deb`]: `builtin:unpack-deb` unpacks the data of the `.deb` named by the `deb`
//!   attribute (which must be an input) with [`crate::debian::unpack::unpack_deb`];
//! - [`kernel_modules`]: `builtin:strata-kernel-modules` makes a system's kernel and its
//!   modules, recompressed and indexed, from the kernel package;
//! - [`initrd`]: `builtin:strata-initrd` makes a system's initrd;
//! - [`toplevel`]: `builtin:strata-toplevel` makes a system's toplevel;
//! - [`usr_tree`]: `builtin:strata-usr` joins unpacked packages into the generation's
//!   usr-merged tree with [`crate::userspace::build_usr_tree`].
//!
//! Here: [`run`], the dispatcher, and [`BuiltinContext`], what a builder sees.
//!
//! Must not: register outputs or reach the scheduler or the system's orchestration
//! ([`crate::system`]); the builders only read their inputs and write their output.

pub mod fetchurl;
pub mod initrd;
pub mod kernel_modules;
pub mod toplevel;
pub mod unpack_deb;
pub mod usr_tree;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use strata_store::derivation::Derivation;
use strata_store::{LocalStore, StorePath};

pub use fetchurl::{resolve_mirror_url, MirrorUrlError, DEBIAN_MIRROR_SCHEME};
pub use initrd::{INITRD_APPLETS, INITRD_CONF};

/// Why a builtin builder failed. Every variant but [`BuiltinError::BadDerivation`] and
/// [`BuiltinError::Io`] is the builder failing ([`crate::build::BuildError::Builtin`]).
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    /// The derivation does not give the builder what it needs (an attribute, an input, a
    /// fixed output).
    #[error("{0}")]
    BadDerivation(String),
    /// Making the output's place failed (a build error, not the builder's).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("the attribute '{0}' is missing")]
    MissingAttr(String),
    #[error("attribute '{name}': {source}")]
    BadPath {
        name: String,
        #[source]
        source: strata_store::path::PathError,
    },
    #[error("attribute '{name}' ('{value}') is not among the derivation's inputs")]
    NotAnInput { name: String, value: String },
    #[error("attribute '{0}' holds a line break")]
    LineBreak(&'static str),
    #[error("unknown compression '{0}' (zstd, gzip or none)")]
    UnknownCompression(String),
    #[error("attribute 'kernelParams' is not a JSON list of strings: {0}")]
    KernelParams(#[source] serde_json::Error),
    #[error("the derivation has no output 'out'")]
    NoOut,
    #[error(
        "no kernel: none of {packages} holds boot/vmlinuz-<version> and lib/modules/<version>/ \
         (boot.kernel must name a Debian kernel package such as linux-image-amd64)"
    )]
    NoKernel { packages: String },
    #[error("more than one kernel among the kernel packages: {versions}")]
    ManyKernels { versions: String },
    #[error("cannot {action} '{}': {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    MirrorUrl(#[from] MirrorUrlError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Unpack(#[from] crate::debian::unpack::DebError),
    #[error(transparent)]
    Modules(#[from] crate::initrd::modules::ModuleError),
    #[error(transparent)]
    Cpio(#[from] crate::initrd::cpio::CpioError),
    #[error(transparent)]
    Usr(#[from] crate::userspace::UsrError),
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
}

/// A file operation's error, naming the file.
fn file_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BuiltinError {
    let path = path.to_owned();
    move |source| BuiltinError::File {
        action,
        path,
        source,
    }
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(io::Error) -> BuiltinError {
    let context = context.into();
    move |source| BuiltinError::Io { context, source }
}

/// What a builtin builder sees: the derivation's attributes and a way to reach store paths.
pub struct BuiltinContext<'a> {
    pub store: &'a LocalStore,
    pub drv: &'a Derivation,
    /// The derivation's one output, `out`.
    pub out_path: &'a StorePath,
    /// The closure of the derivation's inputs: every store path a builtin may read.
    pub closure: &'a BTreeSet<StorePath>,
    /// Where the output goes (a fresh path in the store's staging directory).
    pub out: &'a Path,
    /// The build log.
    pub log: &'a mut dyn std::io::Write,
    /// The base URL `mirror://debian/` stands for.
    pub debian_mirror: Option<&'a str>,
}

impl std::fmt::Debug for BuiltinContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinContext")
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

/// Runs the builtin builder `builtin:<kind>`.
pub fn run(kind: &str, cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    match kind {
        "fetchurl" => fetchurl::run(cx),
        "unpack-deb" => unpack_deb::run(cx),
        "strata-kernel-modules" => kernel_modules::run(cx),
        "strata-initrd" => initrd::run(cx),
        "strata-toplevel" => toplevel::run(cx),
        "strata-usr" => usr_tree::run(cx),
        other => Err(BuiltinError::BadDerivation(format!(
            "unknown builtin builder 'builtin:{other}' (strata has builtin:fetchurl, \
             builtin:unpack-deb, builtin:strata-kernel-modules, builtin:strata-initrd, \
             builtin:strata-toplevel and builtin:strata-usr)"
        ))),
    }
}

impl BuiltinContext<'_> {
    /// A non-empty attribute the builder needs, else the derivation is bad.
    fn required(&self, name: &str) -> Result<&str, BuiltinError> {
        self.drv
            .env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                BuiltinError::BadDerivation(format!(
                    "'{}' needs the attribute '{name}'",
                    self.drv.builder
                ))
            })
    }

    fn attr(&self, name: &str) -> Result<&str, BuiltinError> {
        self.drv
            .env
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| BuiltinError::MissingAttr(name.to_owned()))
    }

    /// An attribute naming a path inside an input: where it is on disk.
    fn input(&self, name: &str, value: &str) -> Result<PathBuf, BuiltinError> {
        let dir = self.store.store_dir();
        let p = dir
            .parse_containing(value)
            .map_err(|source| BuiltinError::BadPath {
                name: name.to_owned(),
                source,
            })?;
        if !self.closure.contains(&p) {
            return Err(BuiltinError::NotAnInput {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
        let rest = value
            .strip_prefix(&dir.display(&p))
            .unwrap_or("")
            .trim_start_matches('/');
        let real = self.store.real_path(&p);
        Ok(if rest.is_empty() {
            real
        } else {
            real.join(rest)
        })
    }

    /// A space-separated list of store paths.
    fn inputs(&self, name: &str) -> Result<Vec<(String, PathBuf)>, BuiltinError> {
        self.attr(name)?
            .split_whitespace()
            .map(|v| Ok((v.to_owned(), self.input(name, v)?)))
            .collect()
    }
}

/// The kernel among `packages`: `(logical package path, its physical path, version)` of the
/// one package holding `boot/vmlinuz-<version>` and `lib/modules/<version>/`.
fn find_kernel(packages: &[(String, PathBuf)]) -> Result<(String, PathBuf, String), BuiltinError> {
    let mut found = Vec::new();
    for (logical, real) in packages {
        let Ok(rd) = fs::read_dir(real.join("boot")) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(version) = name.strip_prefix("vmlinuz-") {
                if real.join("lib/modules").join(version).is_dir() {
                    found.push((logical.clone(), real.clone(), version.to_owned()));
                }
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(BuiltinError::NoKernel {
            packages: packages
                .iter()
                .map(|p| format!("'{}'", p.0))
                .collect::<Vec<_>>()
                .join(", "),
        }),
        _ => Err(BuiltinError::ManyKernels {
            versions: found
                .iter()
                .map(|k| k.2.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
