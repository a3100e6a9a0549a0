//! Why an image could not be made: the one error type of the image writers, which wraps the
//! errors of the formats they use.

use std::io;
use std::path::{Path, PathBuf};

use crate::{ext4, fat, gpt, grub};

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    #[error(transparent)]
    Activate(#[from] strata_activate::ActivateError),
    #[error(transparent)]
    Gpt(#[from] gpt::Error),
    #[error(transparent)]
    Fat(#[from] fat::Error),
    #[error(transparent)]
    Grub(#[from] grub::Error),
    #[error(transparent)]
    Ext4(#[from] ext4::Error),
    #[error(transparent)]
    BootLoader(#[from] strata_activate::switch::BootLoaderError),
    #[error("{0}")]
    Other(String),
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    }
}
