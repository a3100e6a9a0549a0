//! Root file system tarballs: the staged root with the ESP's files under `boot/`, as a tar
//! archive (GNU headers for long names) compressed with zstd. Entries are in sorted order,
//! owned by root, with the tree's modes and times, so the same tree gives the same bytes.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{io_err, Error};
use crate::staged::Staged;

/// Appends `dir`'s entries below the archive path `prefix` (sorted, recursively).
fn append_tree<W: io::Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
) -> Result<(), Error> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io_err("cannot read", dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_err("cannot read", dir))?;
    names.sort();
    for n in names {
        let p = dir.join(&n);
        let name = format!("{prefix}{}", n.to_string_lossy());
        let m = fs::symlink_metadata(&p).map_err(io_err("cannot read", &p))?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root")
            .map_err(io_err("cannot name the owner of", &p))?;
        h.set_groupname("root")
            .map_err(io_err("cannot name the group of", &p))?;
        h.set_mtime(m.mtime().max(0) as u64);
        let ft = m.file_type();
        let w = |e: io::Error| Error::Io {
            what: "cannot add to the archive",
            path: p.clone(),
            source: e,
        };
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{name}/"), io::empty())
                .map_err(w)?;
            append_tree(tar, &p, &format!("{name}/"))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&p).map_err(io_err("cannot read", &p))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &name, &target).map_err(w)?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            let f = File::open(&p).map_err(io_err("cannot open", &p))?;
            tar.append_data(&mut h, &name, f).map_err(w)?;
        } else {
            return Err(Error::Other(format!(
                "{} is neither a file, a directory nor a link",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Writes the tarball of `staged` to `out`.
pub fn write_tar(staged: &Staged, out: &Path) -> Result<(), Error> {
    let file = File::create(out).map_err(io_err("cannot create", out))?;
    let mut enc = zstd::stream::Encoder::new(BufWriter::new(file), 3)
        .map_err(io_err("cannot compress into", out))?;
    // Both cores: the compression is most of the work.
    let _ = enc.multithread(2);
    let mut tar = tar::Builder::new(enc);
    tar.mode(tar::HeaderMode::Deterministic);
    append_tree(&mut tar, &staged.root, "")?;
    // The ESP's files where the machine mounts them.
    append_tree(&mut tar, &staged.esp, "boot/")?;
    let enc = tar.into_inner().map_err(io_err("cannot write", out))?;
    let mut w = enc.finish().map_err(io_err("cannot write", out))?;
    w.flush().map_err(io_err("cannot write", out))?;
    w.get_ref().sync_all().map_err(io_err("cannot sync", out))
}
