//! The unpacked package's `DEBIAN/` directory: the control members strata keeps from
//! `control.tar` (`control`, `conffiles`, `preinst`, `postinst`, `triggers`, the names
//! `dpkg-deb --raw-extract` uses too) and `strata-modes`, the list of what the extraction of
//! `data.tar` dropped (setuid and setgid bits, owners other than root).
//!
//! Must not: interpret the members (the tree join in [`crate::userspace`] reads them) or write
//! anywhere but the `DEBIAN/` directory it creates itself.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The directory below an unpacked package that holds its control members.
pub const DEBIAN_DIR: &str = "DEBIAN";
/// The control members kept, in the order they are looked for.
pub const KEPT_MEMBERS: [&str; 5] = ["control", "conffiles", "preinst", "postinst", "triggers"];
/// The file listing what extraction dropped.
pub const MODES_FILE: &str = "strata-modes";
/// The largest control member kept (maintainer scripts are a few KiB).
pub const MAX_MEMBER: u64 = 4 << 20;

/// One entry of `data.tar` whose setuid/setgid bit or non-root owner extraction dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedMode {
    /// The permission bits as the archive has them (`0o7777` mask).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// The entry's path, relative, without `./`.
    pub path: Vec<u8>,
}

impl DroppedMode {
    /// Whether extraction drops something of an entry with these header fields.
    pub fn drops(mode: u32, uid: u64, gid: u64) -> bool {
        mode & 0o6000 != 0 || uid != 0 || gid != 0
    }
}

/// The text of `strata-modes`: one `mode uid gid path` line per entry (mode in octal, four
/// digits), in archive order. A backslash or line break in a path is written `\\` or `\n`.
pub fn modes_text(modes: &[DroppedMode]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in modes {
        out.extend_from_slice(format!("{:04o} {} {} ", m.mode & 0o7777, m.uid, m.gid).as_bytes());
        for &b in &m.path {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                _ => out.push(b),
            }
        }
        out.push(b'\n');
    }
    out
}

/// Why a control member could not be kept; the caller names the package and member.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("the data member holds {DEBIAN_DIR}/, where strata keeps the control files")]
    DataHasDebian,
    #[error("{name} is not a regular file")]
    NotAFile { name: String },
    #[error("{name} is {size} bytes long (at most {MAX_MEMBER} are kept)")]
    TooLong { name: String, size: u64 },
    #[error("{name} appears twice")]
    Duplicate { name: String },
    #[error("write {name}: {source}")]
    Io { name: String, source: io::Error },
}

/// Creates `dest/DEBIAN` (which must not exist: a data member that made it is refused).
pub fn create(dest: &Path) -> Result<(), KeepError> {
    let dir = dest.join(DEBIAN_DIR);
    match fs::DirBuilder::new().create(&dir) {
        Ok(()) => fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(|source| {
            KeepError::Io {
                name: DEBIAN_DIR.into(),
                source,
            }
        }),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(KeepError::DataHasDebian),
        Err(source) => Err(KeepError::Io {
            name: DEBIAN_DIR.into(),
            source,
        }),
    }
}

/// The kept member a control-tar entry's components name, if any.
pub fn kept_name(components: &[&[u8]]) -> Option<&'static str> {
    match components {
        [one] => KEPT_MEMBERS.iter().copied().find(|k| k.as_bytes() == *one),
        _ => None,
    }
}

/// Writes one kept member into `dest/DEBIAN/<name>` with its mode's permission bits (setuid,
/// setgid and sticky dropped), refusing a second copy.
pub fn keep(
    dest: &Path,
    name: &str,
    is_file: bool,
    size: u64,
    mode: u32,
    data: &mut impl Read,
) -> Result<(), KeepError> {
    if !is_file {
        return Err(KeepError::NotAFile { name: name.into() });
    }
    if size > MAX_MEMBER {
        return Err(KeepError::TooLong {
            name: name.into(),
            size,
        });
    }
    let io_err = |source| KeepError::Io {
        name: name.into(),
        source,
    };
    let path = dest.join(DEBIAN_DIR).join(name);
    let mut file = match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeepError::Duplicate { name: name.into() })
        }
        Err(e) => return Err(io_err(e)),
    };
    io::copy(&mut data.take(MAX_MEMBER), &mut file).map_err(io_err)?;
    file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
        .map_err(io_err)
}

/// Writes `dest/DEBIAN/strata-modes`.
pub fn write_modes(dest: &Path, modes: &[DroppedMode]) -> Result<(), KeepError> {
    let io_err = |source| KeepError::Io {
        name: MODES_FILE.into(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest.join(DEBIAN_DIR).join(MODES_FILE))
        .map_err(io_err)?;
    file.write_all(&modes_text(modes)).map_err(io_err)
}
