//! ext4 root file systems: the size a tree needs ([`measure`], [`size_for`]), and the file
//! system itself, written by `mkfs.ext4 -d` straight into a region of the disk image
//! (`-E offset=`), with every choice that would vary pinned so the same tree gives the same
//! bytes:
//!
//! - the features come from a configuration file of strata's own (`MKE2FS_CONFIG`), not from
//!   the host's `/etc/mke2fs.conf`: `has_journal, extent, huge_file, flex_bg, metadata_csum,
//!   64bit, dir_nlink, extra_isize, sparse_super, large_file, filetype, dir_index, ext_attr`,
//!   4 KiB blocks, 256-byte inodes, no blocks reserved for root, no resize inode;
//! - the UUID and the directory hash seed are given by the caller (derived from the
//!   toplevel); every time stamp mke2fs writes is `E2FSPROGS_FAKE_TIME`;
//! - the files keep the modification times, modes and owners they have in the tree (the
//!   caller pins them); mke2fs 1.47.0 also copies each file's access and change times, which
//!   no caller controls (reading a file sets one, staging it the other), so [`make_ext4`] then
//!   sets both to the epoch for every inode with `debugfs` ([`pin_times`]).
//!
//! # Size
//!
//! [`size_for`] counts, for a [`Usage`] measured from the tree: a block per 4 KiB of each
//! file, the blocks of each directory (its entries at 8 bytes plus the name rounded up to 4,
//! in blocks of 4084 bytes after the checksum tail, plus an index block when it spans
//! several), a block for each symlink of 60 bytes or more, the inode tables (256 bytes per
//! inode), per block group two bitmaps and, in the groups holding a superblock backup
//! (0, 1 and the powers of 3, 5 and 7), the superblock and the group descriptors, the
//! 16 MiB journal, lost+found's 4 blocks, and the free space asked for. Nothing is guessed
//! and nothing is retried: the group count follows from the total, which is recomputed until
//! it stops changing (it changes at most once or twice).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Block size.
pub const BLOCK: u64 = 4096;
/// Journal size in blocks (16 MiB).
pub const JOURNAL_BLOCKS: u64 = 4096;
const INODE_SIZE: u64 = 256;
const BLOCKS_PER_GROUP: u64 = 32768;
/// Inodes mke2fs reserves (1 to 10) and lost+found.
const RESERVED_INODES: u64 = 11;

/// Why a file system could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot run {tool} ({source}); install Debian's e2fsprogs, which makes the root file \
         system"
    )]
    Tool {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error("mkfs.ext4 failed ({status}) making the root file system at byte {offset}: {stderr}")]
    Failed {
        status: String,
        offset: u64,
        stderr: String,
    },
}

/// What a tree holds, as ext4 will store it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Blocks of file data, directories and long symlinks.
    pub blocks: u64,
    /// Files, directories and links (one inode each).
    pub inodes: u64,
}

/// Walks `tree` (without following links) and counts what it needs.
pub fn measure(tree: &Path) -> Result<Usage, Error> {
    let mut u = Usage::default();
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![tree.to_path_buf()];
    let read = |path: &Path| {
        let p = path.to_owned();
        move |source| Error::Read { path: p, source }
    };
    while let Some(dir) = todo.pop() {
        u.inodes += 1;
        let mut bytes = 24u64; // "." and ".."
        for e in fs::read_dir(&dir).map_err(read(&dir))? {
            let e = e.map_err(read(&dir))?;
            let name_len = e.file_name().len() as u64;
            bytes += 8 + name_len.div_ceil(4) * 4;
            let m = fs::symlink_metadata(e.path()).map_err(read(&e.path()))?;
            let ft = m.file_type();
            if ft.is_dir() {
                todo.push(e.path());
            } else {
                // Hard links share an inode and its blocks; count them once, at the first.
                if m.nlink() > 1 && !seen.insert((m.dev(), m.ino())) {
                    continue;
                }
                u.inodes += 1;
                if ft.is_file() {
                    u.blocks += m.len().div_ceil(BLOCK);
                    // An extent maps at most 128 MiB and the inode holds 4: a larger file
                    // needs an extent block.
                    if m.len() > 4 * (128 << 20) {
                        u.blocks += 1;
                    }
                } else if ft.is_symlink() && m.len() >= 60 {
                    u.blocks += 1;
                }
            }
        }
        let dir_blocks = bytes.div_ceil(BLOCK - 12).max(1);
        u.blocks += dir_blocks + u64::from(dir_blocks > 1);
    }
    Ok(u)
}

/// Whether group `g` holds a superblock backup (sparse_super).
fn has_backup(g: u64) -> bool {
    if g <= 1 {
        return true;
    }
    [3u64, 5, 7].iter().any(|&b| {
        let mut p = b;
        while p < g {
            p *= b;
        }
        p == g
    })
}

/// The file system size (bytes, a whole number of blocks) for `usage` plus `free` bytes and
/// `free_inodes` inodes to spare; see the module documentation.
pub fn size_for(usage: Usage, free: u64, free_inodes: u64) -> u64 {
    let inodes = usage.inodes + RESERVED_INODES + free_inodes;
    let data = usage.blocks + free.div_ceil(BLOCK) + JOURNAL_BLOCKS + 4 + 1;
    let mut total = data;
    loop {
        let groups = total.div_ceil(BLOCKS_PER_GROUP).max(1);
        let inodes_per_group = inodes.div_ceil(groups).div_ceil(8) * 8;
        let table = (inodes_per_group * INODE_SIZE).div_ceil(BLOCK) * groups;
        let gdt = (groups * 64).div_ceil(BLOCK);
        let backups = (0..groups).filter(|g| has_backup(*g)).count() as u64;
        let next = data + table + 2 * groups + backups * (1 + gdt);
        if next <= total {
            return total * BLOCK;
        }
        total = next;
    }
}

/// The inodes a file system of `size` bytes gets for `usage` and free space: the tree's,
/// plus one per 16 KiB of the free space (mke2fs's usual ratio).
pub fn inodes_for(usage: Usage, free: u64) -> u64 {
    usage.inodes + RESERVED_INODES + free / 16384
}

/// How to make the file system.
#[derive(Debug, Clone)]
pub struct Ext4Options {
    pub label: String,
    /// A UUID in its text form.
    pub uuid: String,
    /// The directory hash seed, a UUID in text form.
    pub hash_seed: String,
    pub inodes: u64,
    /// Every time stamp mke2fs writes itself.
    pub epoch: u64,
}

/// Makes an ext4 file system of `size` bytes at byte `offset` of `image` (which must be
/// long enough), holding the tree `tree`.
pub fn make_ext4(
    image: &Path,
    offset: u64,
    size: u64,
    tree: &Path,
    opts: &Ext4Options,
) -> Result<(), Error> {
    let conf_dir = tempfile::tempdir().map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let conf = conf_dir.path().join("mke2fs.conf");
    fs::write(
        &conf,
        "[defaults]\n\tbase_features = sparse_super,large_file,filetype,dir_index,ext_attr\n\
         \tblocksize = 4096\n\tinode_size = 256\n\n[fs_types]\n\text4 = {\n\t\tfeatures = \
         has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize\n\t}\n",
    )
    .map_err(|source| Error::Write {
        path: conf.clone(),
        source,
    })?;
    let out = Command::new("mkfs.ext4")
        .env("MKE2FS_CONFIG", &conf)
        .env("E2FSPROGS_FAKE_TIME", opts.epoch.to_string())
        .env("LC_ALL", "C")
        .arg("-q")
        .arg("-F")
        .args(["-t", "ext4", "-b", "4096", "-I", "256", "-m", "0"])
        .args(["-J", &format!("size={}", (JOURNAL_BLOCKS * BLOCK) >> 20)])
        .args(["-L", &opts.label, "-U", &opts.uuid])
        .args(["-N", &opts.inodes.to_string()])
        .args(["-O", "^resize_inode"])
        .arg("-E")
        .arg(format!(
            "offset={offset},hash_seed={},root_owner=0:0,nodiscard,lazy_itable_init=0,\
             lazy_journal_init=0",
            opts.hash_seed
        ))
        .arg("-d")
        .arg(tree)
        .arg(image)
        .arg(format!("{}k", size / 1024))
        .output()
        .map_err(|source| Error::Tool {
            tool: "mkfs.ext4",
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Failed {
            status: out.status.to_string(),
            offset,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    pin_times(image, offset, tree, opts.epoch, conf_dir.path())
}

/// Sets the access and change times of every inode of the file system at `offset` of
/// `image` (made from `tree`) to `epoch`, through one `debugfs` session.
fn pin_times(image: &Path, offset: u64, tree: &Path, epoch: u64, tmp: &Path) -> Result<(), Error> {
    let mut cmds = String::new();
    let mut todo = vec![PathBuf::from("/")];
    while let Some(rel) = todo.pop() {
        let name = rel.to_string_lossy();
        if name.contains(['"', '\n', '\\']) {
            return Err(Error::Failed {
                status: "refused".into(),
                offset,
                stderr: format!("{name}: a name with a quote, backslash or line break"),
            });
        }
        for field in ["atime", "ctime"] {
            cmds.push_str(&format!("sif \"{name}\" {field} @{epoch}\n"));
        }
        let real = tree.join(rel.strip_prefix("/").unwrap_or(&rel));
        let m = fs::symlink_metadata(&real).map_err(|source| Error::Read {
            path: real.clone(),
            source,
        })?;
        if m.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&real)
                .map_err(|source| Error::Read {
                    path: real.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            todo.extend(names.into_iter().map(|n| rel.join(n)));
        }
    }
    // lost+found is mke2fs's own.
    for field in ["atime", "ctime"] {
        cmds.push_str(&format!("sif /lost+found {field} @{epoch}\n"));
    }
    let file = tmp.join("debugfs-commands");
    fs::write(&file, cmds).map_err(|source| Error::Write {
        path: file.clone(),
        source,
    })?;
    let out = Command::new("debugfs")
        .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .arg("-w")
        .arg("-f")
        .arg(&file)
        .arg(format!("{}?offset={offset}", image.display()))
        .output()
        .map_err(|source| Error::Tool {
            tool: "debugfs",
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // debugfs reports a failed command on standard error but exits 0.
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
        .collect();
    if !out.status.success() || !problems.is_empty() {
        return Err(Error::Failed {
            status: out.status.to_string(),
            offset,
            stderr: problems.join("; "),
        });
    }
    Ok(())
}
