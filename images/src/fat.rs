//! FAT file systems (the EFI system partition) made inside a region of a disk image file and
//! filled from a host directory tree, through the `fatfs` crate.
//!
//! Owns: choosing the FAT type and cluster size for a region, the size an ESP needs for a
//! tree ([`fat_size_for`]), copying a tree reproducibly (sorted names, one fixed timestamp,
//! a zeroed region underneath), and reading a FAT back ([`read_fat_tree`], [`read_fat_volume`])
//! for tests.
//!
//! Must not: run mkfs.vfat or mtools, use a loop device or root, write outside the region it
//! is given, or follow a symlink in the source tree.
//!
//! # FAT type
//!
//! The UEFI specification names FAT32 for system partitions, and FAT32 needs at least 65525
//! clusters. A region of [`FAT32_MIN_SIZE`] (33 MiB) or more is formatted as FAT32 with
//! 512-byte clusters up to 260 MiB, then 4 KiB clusters up to 8 GiB and doubling beyond (the
//! sizes Microsoft's format tools use). A smaller region gets whatever `fatfs` picks for its
//! cluster count: FAT16 from about 4 MiB, FAT12 below. OVMF and the firmware of real machines
//! read all three; [`fat_size_for`] never suggests less than [`FAT32_MIN_SIZE`].
//!
//! # Reproducibility
//!
//! The region is zeroed first (holes are punched where the file system supports it), because
//! `fatfs` leaves the tails of clusters and free clusters as it finds them. Entries are created
//! in sorted name order, directories' entries before their subdirectories' contents, and every
//! timestamp is the given time in UTC (FAT times have no zone; 2-second resolution; clamped to
//! 1980..=2107, so `SOURCE_DATE_EPOCH=0` or `1` gives 1980-01-01 00:00:00). `fatfs` derives
//! short names from the long names deterministically.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

mod raw;

use fatfs::{
    Date, DateTime, FileSystem, FormatVolumeOptions, FsOptions, ReadWriteSeek, Time, TimeProvider,
};
use raw::fix_dot_entries;
#[cfg(test)]
use raw::RawFat;

const SECTOR: u64 = 512;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
/// FAT32 needs this many clusters; fewer make a FAT16 or FAT12 by definition.
const FAT32_MIN_CLUSTERS: u64 = 65525;
/// Room between the clusters `fatfs` will compute and the FAT32 minimum, so that a region near
/// the boundary never fails to format for a rounding difference.
const FAT32_CLUSTER_MARGIN: u64 = 64;
/// Sectors `fatfs` reserves in front of the FATs of a FAT32 (boot sector, FSInfo, backup).
const FAT32_RESERVED_SECTORS: u64 = 8;
const FAT_COPIES: u64 = 2;
/// The largest cluster this module uses (the largest all FAT drivers accept).
const MAX_CLUSTER: u64 = 32 * KIB;
/// A directory entry with the longest long name: 20 LFN slots and the 8.3 slot.
const MAX_DIR_ENTRY_BYTES: u64 = 21 * 32;
/// The largest file FAT can hold.
const MAX_FILE_SIZE: u64 = u32::MAX as u64;
/// Bounds how deep `read_fat_tree` follows directories in an image it did not make.
const MAX_READ_DEPTH: usize = 64;

/// The smallest region [`make_fat`] formats as FAT32 (512-byte clusters).
pub const FAT32_MIN_SIZE: u64 = 33 * MIB;

/// What can go wrong while making or reading a FAT file system.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("use the volume label {label:?}: {reason}")]
    BadLabel { label: String, reason: String },
    #[error("use the region of {len} bytes at byte {offset} of the image: {reason}")]
    BadRegion {
        offset: u64,
        len: u64,
        reason: String,
    },
    #[error("read the source tree: {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("read {path}")]
    ReadSource {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "copy {path}: it is a {kind}, and the file system can hold only regular files and \
         directories"
    )]
    Unsupported { path: PathBuf, kind: &'static str },
    #[error("copy {path}: {reason}")]
    BadName { path: PathBuf, reason: String },
    #[error(
        "copy {path}: its name differs from {other}'s only in case, and FAT names ignore case"
    )]
    CaseClash { path: PathBuf, other: PathBuf },
    #[error("copy {path}: its name matches the short name of {existing:?}, already in the same directory")]
    ShortNameClash { path: PathBuf, existing: String },
    #[error("copy {path}: it has {size} bytes, and a FAT file holds at most {MAX_FILE_SIZE}")]
    FileTooLarge { path: PathBuf, size: u64 },
    #[error(
        "copy {path}: it changed size while it was copied (it had {expected} bytes when listed)"
    )]
    SourceChanged { path: PathBuf, expected: u64 },
    #[error("zero the region of {len} bytes at byte {offset} of the image")]
    Zero {
        offset: u64,
        len: u64,
        #[source]
        source: io::Error,
    },
    #[error("format a FAT file system in the region of {len} bytes at byte {offset} of the image")]
    Format {
        offset: u64,
        len: u64,
        #[source]
        source: io::Error,
    },
    #[error(
        "write {fat_path} into the FAT file system of {len} bytes at byte {offset} of the image"
    )]
    Write {
        fat_path: String,
        offset: u64,
        len: u64,
        #[source]
        source: io::Error,
    },
    #[error(
        "fit {file_bytes} bytes in {entries} files and directories into the FAT file system of \
         {len} bytes at byte {offset} of the image: it was full when writing {fat_path}; \
         fat_size_for suggests {suggested} bytes"
    )]
    NoSpace {
        fat_path: String,
        offset: u64,
        len: u64,
        file_bytes: u64,
        entries: u64,
        suggested: u64,
    },
    #[error("read the FAT file system of {len} bytes at byte {offset} of the image")]
    Read {
        offset: u64,
        len: u64,
        #[source]
        source: io::Error,
    },
    #[error("read the FAT file system of {len} bytes at byte {offset} of the image: {reason}")]
    Corrupt {
        offset: u64,
        len: u64,
        reason: String,
    },
}

/// The FAT variant of a file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

impl std::fmt::Display for FatType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FatType::Fat12 => "FAT12",
            FatType::Fat16 => "FAT16",
            FatType::Fat32 => "FAT32",
        })
    }
}

impl From<fatfs::FatType> for FatType {
    fn from(fat_type: fatfs::FatType) -> FatType {
        match fat_type {
            fatfs::FatType::Fat12 => FatType::Fat12,
            fatfs::FatType::Fat16 => FatType::Fat16,
            fatfs::FatType::Fat32 => FatType::Fat32,
        }
    }
}

/// What [`make_fat`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatReport {
    pub fat_type: FatType,
    pub cluster_size: u32,
    pub total_clusters: u32,
    pub free_clusters: u32,
    pub files: u64,
    pub directories: u64,
    /// Sum of the files' sizes.
    pub file_bytes: u64,
}

/// Facts about a FAT file system, as [`read_fat_volume`] found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatVolume {
    pub fat_type: FatType,
    /// The boot sector's label without its padding.
    pub label: String,
    pub volume_id: u32,
    pub cluster_size: u32,
    pub total_clusters: u32,
    pub free_clusters: u32,
}

/// One entry of [`read_fat_tree`]'s listing.
#[derive(Clone, PartialEq, Eq)]
pub enum FatEntry {
    Dir,
    File(Vec<u8>),
}

impl std::fmt::Debug for FatEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FatEntry::Dir => f.write_str("Dir"),
            FatEntry::File(content) => write!(f, "File({} bytes)", content.len()),
        }
    }
}

/// The window `[offset, offset + len)` of an image file as a stream of its own, so that
/// `fatfs` writes the file system straight into its partition. Positional IO leaves the
/// file's own cursor alone.
struct Region<'f> {
    file: &'f File,
    offset: u64,
    len: u64,
    pos: u64,
    writable: bool,
}

impl<'f> Region<'f> {
    fn new(file: &'f File, offset: u64, len: u64, writable: bool) -> Self {
        Region {
            file,
            offset,
            len,
            pos: 0,
            writable,
        }
    }
}

impl Read for Region<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.offset + self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Write for Region<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the region is read-only",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.len.saturating_sub(self.pos);
        if left == 0 {
            return Err(io::Error::other(format!(
                "write at byte {} past the end of the {}-byte region",
                self.pos, self.len
            )));
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let put = self.file.write_at(&buf[..n], self.offset + self.pos)?;
        self.pos += put as u64;
        Ok(put)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Region<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the region",
            ));
        };
        self.pos = target;
        Ok(target)
    }
}

/// Hands `fatfs` one fixed time for every entry it creates or modifies.
#[derive(Debug)]
struct FixedTime(DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }

    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// `fatfs` 0.3 takes only a `&'static` time provider, so each distinct time gets one leaked
/// provider, kept for reuse: a build uses one time, a test run a handful.
fn fixed_time(time: DateTime) -> &'static FixedTime {
    static PROVIDERS: Mutex<Vec<&'static FixedTime>> = Mutex::new(Vec::new());
    let mut providers = PROVIDERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(provider) = providers.iter().find(|p| p.0 == time) {
        return provider;
    }
    let provider: &'static FixedTime = Box::leak(Box::new(FixedTime(time)));
    providers.push(provider);
    provider
}

/// Seconds since 1970 in UTC as a FAT date and time, clamped to the years FAT can store.
fn dos_time(unix_seconds: u64) -> DateTime {
    const DOS_EPOCH: u64 = 315_532_800; // 1980-01-01T00:00:00Z
    let seconds = unix_seconds.max(DOS_EPOCH);
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    if year > 2107 {
        return DateTime {
            date: Date {
                year: 2107,
                month: 12,
                day: 31,
            },
            time: Time {
                hour: 23,
                min: 59,
                sec: 58,
                millis: 0,
            },
        };
    }
    // Every value below is bounded by the calendar, so the narrowing casts are exact.
    DateTime {
        date: Date {
            year: year as u16,
            month: month as u16,
            day: day as u16,
        },
        time: Time {
            hour: (of_day / 3600) as u16,
            min: (of_day / 60 % 60) as u16,
            sec: (of_day % 60) as u16,
            millis: 0,
        },
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01, so that the leap day ends each 400-year era's years.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// The cluster size used for a FAT32 of `len` bytes.
fn fat32_cluster_size(len: u64) -> u64 {
    match len {
        0..=0x1040_0000 => 512, // 260 MiB
        _ if len <= 8 * GIB => 4 * KIB,
        _ if len <= 16 * GIB => 8 * KIB,
        _ if len <= 32 * GIB => 16 * KIB,
        _ => MAX_CLUSTER,
    }
}

/// The clusters of a FAT32 of `len` bytes with `cluster`-byte clusters, as `fatfs` lays it
/// out: 8 reserved sectors, two FATs just big enough for every cluster plus the two reserved
/// entries, then the data clusters.
fn fat32_clusters(len: u64, cluster: u64) -> u64 {
    let sectors = len / SECTOR;
    let per_cluster = cluster / SECTOR;
    let Some(after_reserved) = sectors.checked_sub(FAT32_RESERVED_SECTORS) else {
        return 0;
    };
    // A FAT sector maps SECTOR / 4 clusters; solve sectors_per_fat for the FATs plus the data.
    let sectors_per_fat =
        (after_reserved + 2 * per_cluster).div_ceil(per_cluster * SECTOR / 4 + FAT_COPIES);
    after_reserved.saturating_sub(FAT_COPIES * sectors_per_fat) / per_cluster
}

/// Whether a region of `len` bytes becomes a FAT32, and with which cluster size.
fn fat32_geometry(len: u64) -> Option<u64> {
    let cluster = fat32_cluster_size(len);
    (fat32_clusters(len, cluster) >= FAT32_MIN_CLUSTERS + FAT32_CLUSTER_MARGIN).then_some(cluster)
}

/// A partition size, in whole MiB, that holds `file_bytes` of file contents in `entries`
/// files and directories (not counting the root) as a FAT32, computed from upper bounds:
/// every entry wastes at most one cluster and takes at most 21 directory slots, and the FATs
/// are sized for 512-byte clusters. Never less than [`FAT32_MIN_SIZE`].
pub fn fat_size_for(file_bytes: u64, entries: u64) -> u64 {
    // No cluster of the result is bigger than the cluster for this size, which bounds it.
    let generous = file_bytes
        .saturating_add(entries.saturating_mul(MAX_CLUSTER + MAX_DIR_ENTRY_BYTES))
        .saturating_add(2 * MIB);
    let cluster = fat32_cluster_size(generous);
    let data = file_bytes
        .saturating_add(entries.saturating_mul(cluster + MAX_DIR_ENTRY_BYTES))
        .saturating_add(cluster); // the root directory and the volume label entry
    let fat_entries = data.div_ceil(SECTOR).saturating_add(2);
    let fat_bytes = fat_entries
        .saturating_mul(4)
        .div_ceil(SECTOR)
        .saturating_mul(SECTOR);
    let total = (FAT32_RESERVED_SECTORS * SECTOR)
        .saturating_add(FAT_COPIES.saturating_mul(fat_bytes))
        .saturating_add(data)
        .saturating_add(MIB); // slack for the rounding above
    total.div_ceil(MIB).saturating_mul(MIB).max(FAT32_MIN_SIZE)
}

/// [`fat_size_for`] the tree below `source_dir`, which is listed and checked as
/// [`make_fat`] would.
pub fn fat_size_for_dir(source_dir: &Path) -> Result<u64, Error> {
    let nodes = collect_tree(source_dir)?;
    let file_bytes = nodes.iter().map(Node::size).sum();
    Ok(fat_size_for(file_bytes, nodes.len() as u64))
}

/// An 11-byte boot sector label: ASCII letters (uppercased), digits, spaces and the
/// punctuation short names allow, padded with spaces. An empty label becomes "NO NAME".
fn volume_label(label: &str) -> Result<[u8; 11], Error> {
    let bad = |reason: String| Error::BadLabel {
        label: label.to_owned(),
        reason,
    };
    if label.len() > 11 {
        return Err(bad(format!("it has {} bytes, at most 11 fit", label.len())));
    }
    let mut bytes = *b"NO NAME    ";
    if label.trim().is_empty() {
        return Ok(bytes);
    }
    bytes = [b' '; 11];
    for (slot, c) in bytes.iter_mut().zip(label.bytes()) {
        *slot = match c {
            b'A'..=b'Z' | b'0'..=b'9' | b' ' => c,
            b'a'..=b'z' => c.to_ascii_uppercase(),
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'(' | b')' | b'-' | b'@' | b'^' | b'_'
            | b'`' | b'{' | b'}' | b'~' => c,
            _ => {
                return Err(bad(format!(
                    "{:?} cannot appear in a FAT label",
                    char::from(c)
                )))
            }
        };
    }
    Ok(bytes)
}

/// Why `name` cannot be a FAT long name, mirroring the characters `fatfs` accepts.
fn name_problem(name: &str) -> Option<String> {
    if name.len() > 255 {
        return Some(format!(
            "its name has {} bytes, FAT takes at most 255",
            name.len()
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Some("its name ends in a dot or space, which FAT drivers strip".to_owned());
    }
    for c in name.chars() {
        let ok = matches!(c,
            'a'..='z' | 'A'..='Z' | '0'..='9' | '\u{80}'..='\u{FFFF}'
            | '$' | '%' | '\'' | '-' | '_' | '@' | '~' | '`' | '!' | '(' | ')' | '{' | '}' | '.'
            | ' ' | '+' | ',' | ';' | '=' | '[' | ']' | '^' | '#' | '&');
        if !ok {
            return Some(format!(
                "its name contains {c:?}, which FAT names cannot hold"
            ));
        }
    }
    None
}

fn fold_case(name: &str) -> String {
    name.chars().flat_map(char::to_uppercase).collect()
}

#[derive(Debug)]
enum NodeKind {
    Dir,
    File { size: u64 },
}

/// One file or directory to create, with its '/'-separated path in the file system.
#[derive(Debug)]
struct Node {
    fat_path: String,
    host: PathBuf,
    kind: NodeKind,
}

impl Node {
    fn size(&self) -> u64 {
        match self.kind {
            NodeKind::File { size } => size,
            NodeKind::Dir => 0,
        }
    }
}

/// Lists the tree below `root` in creation order, checking every name and type before the
/// image is touched: each directory's entries sorted by name, then the subdirectories'
/// contents, depth first.
fn collect_tree(root: &Path) -> Result<Vec<Node>, Error> {
    let meta = std::fs::metadata(root).map_err(|source| Error::ReadSource {
        path: root.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory {
            path: root.to_owned(),
        });
    }
    let mut nodes = Vec::new();
    let mut pending = vec![(root.to_owned(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let read_error = |source| Error::ReadSource {
            path: dir.clone(),
            source,
        };
        let mut children = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let host = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(Error::BadName {
                    path: host,
                    reason: "its name is not valid UTF-8".to_owned(),
                });
            };
            if let Some(reason) = name_problem(&name) {
                return Err(Error::BadName { path: host, reason });
            }
            let meta = std::fs::symlink_metadata(&host).map_err(|source| Error::ReadSource {
                path: host.clone(),
                source,
            })?;
            let file_type = meta.file_type();
            let kind = if file_type.is_dir() {
                NodeKind::Dir
            } else if file_type.is_file() {
                if meta.len() > MAX_FILE_SIZE {
                    return Err(Error::FileTooLarge {
                        path: host,
                        size: meta.len(),
                    });
                }
                NodeKind::File { size: meta.len() }
            } else {
                return Err(Error::Unsupported {
                    path: host,
                    kind: describe(file_type),
                });
            };
            children.push((name, host, kind));
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));

        let mut folded: BTreeMap<String, &Path> = BTreeMap::new();
        for (name, host, _) in &children {
            if let Some(other) = folded.insert(fold_case(name), host) {
                return Err(Error::CaseClash {
                    path: host.clone(),
                    other: other.to_owned(),
                });
            }
        }

        let mut subdirs = Vec::new();
        for (name, host, kind) in children {
            let fat_path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if let NodeKind::Dir = kind {
                subdirs.push((host.clone(), fat_path.clone()));
            }
            nodes.push(Node {
                fat_path,
                host,
                kind,
            });
        }
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(nodes)
}

fn describe(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_fifo() {
        "named pipe"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

fn check_region(file: &File, offset: u64, len: u64) -> Result<(), Error> {
    let bad = |reason: String| Error::BadRegion {
        offset,
        len,
        reason,
    };
    if offset % SECTOR != 0 || len % SECTOR != 0 {
        return Err(bad(format!(
            "offset and length must be multiples of {SECTOR} bytes"
        )));
    }
    if len / SECTOR > u64::from(u32::MAX) {
        return Err(bad(
            "a FAT file system has at most 2^32 - 1 sectors".to_owned()
        ));
    }
    let file_len = file
        .metadata()
        .map_err(|source| Error::Read {
            offset,
            len,
            source,
        })?
        .len();
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(bad(format!("the image file has only {file_len} bytes")));
    }
    Ok(())
}

/// Makes the region read as zeros: a punched hole keeps a sparse image sparse; writing zeros
/// is the fallback where holes are not supported.
fn zero_region(file: &File, offset: u64, len: u64) -> Result<(), Error> {
    use rustix::fs::{fallocate, FallocateFlags};
    if len == 0
        || fallocate(
            file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            offset,
            len,
        )
        .is_ok()
    {
        return Ok(());
    }
    let zeros = vec![0u8; MIB as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(MIB);
        file.write_all_at(&zeros[..n as usize], offset + done)
            .map_err(|source| Error::Zero {
                offset,
                len,
                source,
            })?;
        done += n;
    }
    Ok(())
}

/// Formats the region `[offset, offset + len)` of `file` as a FAT file system labelled
/// `label` (up to 11 characters, uppercased) with serial number `volume_id`, and copies the
/// files and directories below `source_dir` into it, every timestamp set to `mtime` (seconds
/// since 1970, like `SOURCE_DATE_EPOCH`).
///
/// The source tree is listed and checked before the image is touched: a symlink or other
/// special file, a name FAT cannot hold, two names differing only in case, or a file of 4 GiB
/// or more is an error naming it. See the module documentation for the FAT type chosen.
pub fn make_fat(
    file: &File,
    offset: u64,
    len: u64,
    label: &str,
    volume_id: u32,
    source_dir: &Path,
    mtime: u64,
) -> Result<FatReport, Error> {
    let label_bytes = volume_label(label)?;
    check_region(file, offset, len)?;
    let nodes = collect_tree(source_dir)?;
    let file_bytes: u64 = nodes.iter().map(Node::size).sum();
    let files = nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::File { .. }))
        .count() as u64;
    let directories = nodes.len() as u64 - files;

    zero_region(file, offset, len)?;
    let mut options = FormatVolumeOptions::new()
        .volume_label(label_bytes)
        .volume_id(volume_id);
    if let Some(cluster) = fat32_geometry(len) {
        options = options
            .fat_type(fatfs::FatType::Fat32)
            .bytes_per_cluster(cluster as u32);
    }
    fatfs::format_volume(Region::new(file, offset, len, true), options).map_err(|source| {
        Error::Format {
            offset,
            len,
            source,
        }
    })?;

    let fs_options = FsOptions::new().time_provider(fixed_time(dos_time(mtime)));
    let fs =
        FileSystem::new(Region::new(file, offset, len, true), fs_options).map_err(|source| {
            Error::Format {
                offset,
                len,
                source,
            }
        })?;
    let write_error = |fat_path: &str, source: io::Error| {
        let full = fs.stats().is_ok_and(|stats| stats.free_clusters() == 0);
        if full {
            Error::NoSpace {
                fat_path: fat_path.to_owned(),
                offset,
                len,
                file_bytes,
                entries: nodes.len() as u64,
                suggested: fat_size_for(file_bytes, nodes.len() as u64),
            }
        } else {
            Error::Write {
                fat_path: fat_path.to_owned(),
                offset,
                len,
                source,
            }
        }
    };

    // `fatfs` directories hold the file system borrowed until they are dropped.
    {
        let root = fs.root_dir();
        let mut dirs = BTreeMap::new();
        for node in &nodes {
            let (parent_path, name) = match node.fat_path.rsplit_once('/') {
                Some((parent, name)) => (Some(parent), name),
                None => (None, node.fat_path.as_str()),
            };
            let parent = match parent_path.and_then(|p| dirs.get(p)) {
                Some(dir) => dir,
                None => &root,
            };
            check_short_name_clash(parent, name, node).map_err(|e| match e {
                Clash::Io(source) => write_error(&node.fat_path, source),
                Clash::Found(error) => error,
            })?;
            match node.kind {
                NodeKind::Dir => {
                    let dir = parent
                        .create_dir(name)
                        .map_err(|source| write_error(&node.fat_path, source))?;
                    dirs.insert(node.fat_path.clone(), dir);
                }
                NodeKind::File { size } => {
                    let mut fat_file = parent
                        .create_file(name)
                        .map_err(|source| write_error(&node.fat_path, source))?;
                    copy_file(node, size, &mut fat_file, |source| {
                        write_error(&node.fat_path, source)
                    })?;
                }
            }
        }
    }

    let stats = fs.stats().map_err(|source| Error::Read {
        offset,
        len,
        source,
    })?;
    let report = FatReport {
        fat_type: fs.fat_type().into(),
        cluster_size: stats.cluster_size(),
        total_clusters: stats.total_clusters(),
        free_clusters: stats.free_clusters(),
        files,
        directories,
        file_bytes,
    };
    fs.unmount().map_err(|source| Error::Write {
        fat_path: "the FSInfo sector".to_owned(),
        offset,
        len,
        source,
    })?;
    fix_dot_entries(file, offset, len)?;
    tracing::debug!(?report, offset, len, "made FAT file system");
    Ok(report)
}

enum Clash {
    Io(io::Error),
    Found(Error),
}

/// `fatfs` opens an existing entry when a new name matches its long or short name ignoring
/// case, which would silently merge two source files; a sibling whose long name folds to the
/// same text is caught earlier, this catches a name spelling another entry's 8.3 alias.
fn check_short_name_clash<T: ReadWriteSeek>(
    parent: &fatfs::Dir<'_, T>,
    name: &str,
    node: &Node,
) -> Result<(), Clash> {
    let folded = fold_case(name);
    for entry in parent.iter() {
        let entry = entry.map_err(Clash::Io)?;
        if fold_case(&entry.file_name()) == folded || fold_case(&entry.short_file_name()) == folded
        {
            return Err(Clash::Found(Error::ShortNameClash {
                path: node.host.clone(),
                existing: entry.file_name(),
            }));
        }
    }
    Ok(())
}

fn copy_file<W: Write>(
    node: &Node,
    size: u64,
    to: &mut W,
    write_error: impl Fn(io::Error) -> Error,
) -> Result<(), Error> {
    let read_error = |source| Error::ReadSource {
        path: node.host.clone(),
        source,
    };
    let mut from = File::open(&node.host).map_err(read_error)?;
    let mut buf = vec![0u8; MIB.min(size.max(1)) as usize];
    let mut copied = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        copied += n as u64;
        if copied > size {
            break;
        }
        to.write_all(&buf[..n]).map_err(&write_error)?;
    }
    if copied != size {
        return Err(Error::SourceChanged {
            path: node.host.clone(),
            expected: size,
        });
    }
    to.flush().map_err(&write_error)
}

/// Runs `read` on the FAT in the region, turning a panic inside `fatfs` (it has a few on
/// malformed input) into an error: the image may not be one strata made.
fn with_fat<'f, R>(
    file: &'f File,
    offset: u64,
    len: u64,
    read: impl FnOnce(&FileSystem<Region<'f>>) -> Result<R, Error>,
) -> Result<R, Error> {
    check_region(file, offset, len)?;
    let run = || {
        let fs = FileSystem::new(Region::new(file, offset, len, false), FsOptions::new()).map_err(
            |source| Error::Read {
                offset,
                len,
                source,
            },
        )?;
        read(&fs)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
        Err(Error::Corrupt {
            offset,
            len,
            reason: "the fatfs crate panicked on it".to_owned(),
        })
    })
}

/// Everything in the FAT in the region: '/'-separated paths (long names) mapped to a
/// directory marker or the file's contents. For tests of the images strata makes.
pub fn read_fat_tree(
    file: &File,
    offset: u64,
    len: u64,
) -> Result<BTreeMap<String, FatEntry>, Error> {
    with_fat(file, offset, len, |fs| {
        let corrupt = |reason: String| Error::Corrupt {
            offset,
            len,
            reason,
        };
        let read_error = |source| Error::Read {
            offset,
            len,
            source,
        };
        // Every entry takes 32 bytes and every content byte a byte of the region, so a
        // listing beyond either bound means cross-linked or looping cluster chains.
        let max_entries = len / 32;
        let mut budget = len;
        let mut tree = BTreeMap::new();
        let mut pending = vec![(fs.root_dir(), String::new(), 0usize)];
        while let Some((dir, prefix, depth)) = pending.pop() {
            if depth > MAX_READ_DEPTH {
                return Err(corrupt(format!(
                    "{prefix} is nested deeper than {MAX_READ_DEPTH}"
                )));
            }
            for entry in dir.iter() {
                let entry = entry.map_err(read_error)?;
                let name = entry.file_name();
                if name == "." || name == ".." {
                    continue;
                }
                let path = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                if tree.len() as u64 >= max_entries {
                    return Err(corrupt(format!("more than {max_entries} entries")));
                }
                if entry.is_dir() {
                    pending.push((entry.to_dir(), path.clone(), depth + 1));
                    tree.insert(path, FatEntry::Dir);
                } else {
                    let size = entry.len();
                    if size > budget {
                        return Err(corrupt(format!("{path} claims {size} bytes")));
                    }
                    budget -= size;
                    let mut content = Vec::with_capacity(size as usize);
                    entry
                        .to_file()
                        .read_to_end(&mut content)
                        .map_err(read_error)?;
                    tree.insert(path, FatEntry::File(content));
                }
            }
        }
        Ok(tree)
    })
}

/// The type, label, serial number and cluster counts of the FAT in the region.
pub fn read_fat_volume(file: &File, offset: u64, len: u64) -> Result<FatVolume, Error> {
    with_fat(file, offset, len, |fs| {
        let stats = fs.stats().map_err(|source| Error::Read {
            offset,
            len,
            source,
        })?;
        Ok(FatVolume {
            fat_type: fs.fat_type().into(),
            label: fs.volume_label(),
            volume_id: fs.volume_id(),
            cluster_size: stats.cluster_size(),
            total_clusters: stats.total_clusters(),
            free_clusters: stats.free_clusters(),
        })
    })
}

#[cfg(test)]
mod tests;
