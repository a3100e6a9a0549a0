//! Tarballs: the one directory a tarball holds (any compression [`crate::compress`] reads),
//! as `builtins.fetchTarball` unpacks it, from `file://`, `http://` or `https://`.
//!
//! A download goes to a temporary file under the store's state directory (with the
//! builder's retries, [`crate::fetch::download`]) and is unpacked into a temporary directory;
//! only the unpacked tree, its hash checked, reaches the store.
//!
//! `lastModified`: Nix 2.8 gives a tarball none (its lock has no `lastModified`). strata gives
//! a local tarball its top directory's time, and a downloaded one 0, so that a downloaded
//! input taken again from the store (not fetched) has the same `sourceInfo`.

use std::fs;
use std::path::{Path, PathBuf};

use strata_store::{HashAlgo, LocalStore};

use super::{add_tree, scratch, Fetched};
use crate::flake::FlakeError;

/// A tarball unpacked: its directory (removed when dropped), the one directory at its top,
/// and that directory's time in the archive.
pub(super) struct Unpacked {
    _dir: tempfile::TempDir,
    pub top: PathBuf,
    pub time: u64,
}

/// `url` without the parameters that are the reference's, not the server's (`dir`).
fn address(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("dir=") && !p.is_empty())
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

pub(super) fn fetch(
    store: &mut LocalStore,
    url: &str,
    expected: Option<&str>,
) -> Result<Fetched, FlakeError> {
    let shown = format!("tarball+{url}");
    let local = url.starts_with("file:");
    let u = download_and_unpack(store, &address(url))?;
    let info = add_tree(store, &u.top, &shown, expected)?;
    Ok(Fetched::clean(store, &info, if local { u.time } else { 0 }))
}

/// Downloads (or opens, for `file://`) the tarball at `url` and unpacks it.
pub(super) fn download_and_unpack(store: &LocalStore, url: &str) -> Result<Unpacked, FlakeError> {
    if let Some(rest) = url.strip_prefix("file://") {
        let path = PathBuf::from(super::percent_decode(
            rest.split('?').next().unwrap_or(rest),
        ));
        let f = fs::File::open(&path).map_err(|e| FlakeError::Io {
            context: format!("cannot open the tarball '{}'", path.display()),
            source: e,
        })?;
        return unpack(f, url);
    }
    let tmp_dir = store.state_dir().join("tmp");
    fs::create_dir_all(&tmp_dir).map_err(|e| FlakeError::Io {
        context: format!("cannot create '{}'", tmp_dir.display()),
        source: e,
    })?;
    let mut tmp = tempfile::Builder::new()
        .prefix("tarball-")
        .tempfile_in(&tmp_dir)
        .map_err(|e| FlakeError::Io {
            context: format!("cannot make a temporary file in '{}'", tmp_dir.display()),
            source: e,
        })?;
    crate::fetch::download(
        url,
        tmp.as_file_mut(),
        HashAlgo::Sha256,
        "source",
        crate::fetch::Progress::Terminal,
    )?;
    let f = tmp.reopen().map_err(|e| FlakeError::Io {
        context: format!("cannot read what {url} downloaded"),
        source: e,
    })?;
    unpack(f, url)
}

fn unpack(file: fs::File, shown: &str) -> Result<Unpacked, FlakeError> {
    let io = |what: String| {
        move |e: std::io::Error| FlakeError::Io {
            context: what,
            source: e,
        }
    };
    let reader = crate::compress::decoder(std::io::BufReader::new(file))
        .map_err(io(format!("cannot read the tarball {shown}")))?;
    let dir = scratch("tarball")?;
    let mut archive = tar::Archive::new(reader);
    let mut times = std::collections::BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(io(format!("cannot read the tarball {shown}")))?;
    for entry in entries {
        let mut entry = entry.map_err(io(format!("cannot read the tarball {shown}")))?;
        let path = entry
            .path()
            .map_err(io(format!("a bad entry name in the tarball {shown}")))?
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            // A forge's archive says its commit there; it is no file.
            continue;
        }
        if kind.is_dir() && path.components().count() == 1 {
            times.insert(path.clone(), entry.header().mtime().unwrap_or(0));
        }
        // `unpack_in` refuses entries that would leave the directory.
        entry
            .unpack_in(dir.path())
            .map_err(io(format!("cannot unpack {} of {shown}", path.display())))?;
    }
    let top: Vec<PathBuf> = fs::read_dir(dir.path())
        .map_err(io(format!("cannot read what {shown} unpacked to")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let [only] = top.as_slice() else {
        return Err(FlakeError::Strata(format!(
            "the tarball {shown} holds {} entries at its top, not one directory",
            top.len()
        )));
    };
    if !only.is_dir() {
        return Err(FlakeError::Strata(format!(
            "the tarball {shown} holds a file at its top, not a directory"
        )));
    }
    let name = only.strip_prefix(dir.path()).unwrap_or(only).to_owned();
    let time = times.get(Path::new(&name)).copied().unwrap_or(0);
    Ok(Unpacked {
        top: only.clone(),
        time,
        _dir: dir,
    })
}
