//! GUID partition tables (UEFI specification, chapter 5) written into and read from a disk
//! image file.
//!
//! Owns: the protective MBR's partition record and signature, the primary header and entry
//! array at LBA 1 and 2..=33, their backup copies at the end of the disk, partition GUIDs
//! (parsed, printed and derived reproducibly from a seed), and the planning of 1 MiB aligned
//! partitions on a disk of a given size.
//!
//! Must not: touch bytes 0..440 of the MBR except through [`write_mbr_boot_code`] (a BIOS boot
//! loader's code lives there), write anything inside a partition, or need root or a loop
//! device. Every write goes to a regular file at an explicit offset.
//!
//! Logical blocks are always 512 bytes: the images strata makes are read by virtual machines
//! and USB sticks, which present 512-byte sectors.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Size of a logical block in bytes.
pub const SECTOR_SIZE: u64 = 512;
/// Number of entries in the partition entry array.
pub const ENTRY_COUNT: u32 = 128;
/// Size of one partition entry in bytes.
pub const ENTRY_SIZE: u32 = 128;
/// Maximum length of a partition name in UTF-16 code units.
pub const MAX_NAME_UNITS: usize = 36;
/// Default partition alignment: 1 MiB, what every partitioning tool uses.
pub const DEFAULT_ALIGNMENT: u64 = 1024 * 1024;

/// Bit 0 of the attributes: the platform needs the partition to function.
pub const ATTR_REQUIRED_PARTITION: u64 = 1 << 0;
/// Bit 1 of the attributes: firmware must not produce an EFI_BLOCK_IO_PROTOCOL for it.
pub const ATTR_NO_BLOCK_IO_PROTOCOL: u64 = 1 << 1;
/// Bit 2 of the attributes: the partition is bootable by legacy BIOS code.
pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

/// EFI system partition.
pub const ESP_TYPE: Guid = Guid::from_u128(0xC12A7328_F81F_11D2_BA4B_00A0C93EC93B);
/// Linux file system data (the generic Linux type).
pub const LINUX_FS_TYPE: Guid = Guid::from_u128(0x0FC63DAF_8483_4772_8E79_3D69D8477DE4);
/// BIOS boot partition, where GRUB's core image goes on GPT disks.
pub const BIOS_BOOT_TYPE: Guid = Guid::from_u128(0x21686148_6449_6E6F_744E_656564454649);

const ENTRY_ARRAY_BYTES: usize = (ENTRY_COUNT * ENTRY_SIZE) as usize;
const ENTRY_ARRAY_SECTORS: u64 = ENTRY_ARRAY_BYTES as u64 / SECTOR_SIZE;
/// The MBR, the primary header and the primary entry array.
const FIRST_USABLE_LBA: u64 = 2 + ENTRY_ARRAY_SECTORS;
/// The backup entry array and the backup header at the end of the disk.
const BACKUP_SECTORS: u64 = ENTRY_ARRAY_SECTORS + 1;
/// Sectors a disk needs for both tables and a single usable sector.
const MIN_DISK_SECTORS: u64 = FIRST_USABLE_LBA + 1 + BACKUP_SECTORS;
const SIGNATURE: &[u8; 8] = b"EFI PART";
const REVISION_1_0: u32 = 0x0001_0000;
const HEADER_SIZE: u32 = 92;
/// Bounds the entry array `read_gpt` is willing to load from a foreign header.
const MAX_ENTRY_ARRAY_BYTES: u64 = 1024 * 1024;
const MBR_TABLE_OFFSET: u64 = 440;
const PROTECTIVE_TYPE: u8 = 0xEE;

/// What can go wrong while planning, writing or reading a GUID partition table.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("parse GUID {text:?}: expected the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX with hexadecimal digits")]
    BadGuid { text: String },
    #[error(
        "use a disk of {disk_size} bytes: its size must be a multiple of {SECTOR_SIZE}-byte sectors"
    )]
    DiskSizeNotSectorMultiple { disk_size: u64 },
    #[error("use a disk of {disk_size} bytes: a GPT disk needs at least {min} bytes")]
    DiskTooSmall { disk_size: u64, min: u64 },
    #[error(
        "use an alignment of {alignment} bytes: it must be a non-zero multiple of {SECTOR_SIZE}"
    )]
    BadAlignment { alignment: u64 },
    #[error("place partition {name:?}: a partition size must be more than 0 bytes")]
    ZeroSize { name: String },
    #[error("place partition {name:?}: only the last partition may take the rest of the disk")]
    RestNotLast { name: String },
    #[error(
        "place partition {name:?} ({size} bytes from byte {start}): it ends at byte {end}, but \
         the disk of {disk_size} bytes is usable only up to byte {usable_end}; the partitions \
         need a disk of at least {needed_disk_size} bytes"
    )]
    DoesNotFit {
        name: String,
        size: u64,
        start: u64,
        end: u64,
        disk_size: u64,
        usable_end: u64,
        needed_disk_size: u64,
    },
    #[error(
        "place partition {name:?}, which takes the rest of the disk: after alignment it would \
         start at byte {start}, but the disk of {disk_size} bytes is usable only up to byte \
         {usable_end}"
    )]
    NoRoomForRest {
        name: String,
        start: u64,
        disk_size: u64,
        usable_end: u64,
    },
    #[error("name partition {name:?}: its name has {units} UTF-16 code units, at most {MAX_NAME_UNITS} fit")]
    NameTooLong { name: String, units: usize },
    #[error("write {count} partitions: a GPT holds at most {ENTRY_COUNT}")]
    TooManyPartitions { count: usize },
    #[error(
        "place partition {name:?} at LBA {first_lba}..={last_lba}: the usable LBAs of a disk of \
         {disk_size} bytes are {first_usable}..={last_usable}"
    )]
    OutsideUsable {
        name: String,
        first_lba: u64,
        last_lba: u64,
        disk_size: u64,
        first_usable: u64,
        last_usable: u64,
    },
    #[error("place partition {name:?}: its type GUID is all zeros, which marks an unused entry")]
    ZeroType { name: String },
    #[error(
        "place partition {second:?}: it overlaps partition {first:?} (LBA {first_last_lba} is the \
         end of {first:?}, {second:?} starts at LBA {second_first_lba})"
    )]
    Overlap {
        first: String,
        first_last_lba: u64,
        second: String,
        second_first_lba: u64,
    },
    #[error("give partitions {first:?} and {second:?} unique GUIDs: both have {guid}")]
    DuplicateGuid {
        first: String,
        second: String,
        guid: Guid,
    },
    #[error(
        "write a GPT for a disk of {disk_size} bytes into an image file of {file_len} bytes: the \
         backup table must sit at the end of the file"
    )]
    FileLongerThanDisk { disk_size: u64, file_len: u64 },
    #[error("{action}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("read the protective MBR: {reason}")]
    NoProtectiveMbr { reason: String },
    #[error("read the {which} GPT header at LBA {lba}: {reason}")]
    BadHeader {
        which: &'static str,
        lba: u64,
        reason: String,
    },
    #[error(
        "read the {which} GPT header at LBA {lba}: its CRC32 field says {stored:#010x}, its \
         contents give {computed:#010x}"
    )]
    HeaderCrc {
        which: &'static str,
        lba: u64,
        stored: u32,
        computed: u32,
    },
    #[error(
        "read the {which} GPT entry array at LBA {lba}: the header says CRC32 {stored:#010x}, \
         the entries give {computed:#010x}"
    )]
    EntriesCrc {
        which: &'static str,
        lba: u64,
        stored: u32,
        computed: u32,
    },
    #[error("read the GPT: the primary and backup tables disagree about {what}")]
    Mismatch { what: &'static str },
}

fn io_error(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let action = action.into();
    move |source| Error::Io { action, source }
}

/// A GUID as the GPT stores it: the first three fields little-endian, the rest in text order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The unused-entry GUID.
    pub const ZERO: Guid = Guid([0; 16]);

    /// The GUID whose text form spells `value` in hexadecimal, e.g.
    /// `0xC12A7328_F81F_11D2_BA4B_00A0C93EC93B`.
    pub const fn from_u128(value: u128) -> Guid {
        Guid::from_text_order(value.to_be_bytes())
    }

    /// Parses the text form `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (either case).
    pub fn parse(text: &str) -> Result<Guid, Error> {
        let bad = || Error::BadGuid {
            text: text.to_owned(),
        };
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return Err(bad());
        }
        let mut digits = [0u8; 32];
        let mut n = 0;
        for (i, &c) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(bad());
                }
                continue;
            }
            let value = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(bad()),
            };
            digits[n] = value;
            n += 1;
        }
        let mut text_order = [0u8; 16];
        for (i, byte) in text_order.iter_mut().enumerate() {
            *byte = (digits[2 * i] << 4) | digits[2 * i + 1];
        }
        Ok(Guid::from_text_order(text_order))
    }

    /// The 16 bytes in the order the text form prints them.
    pub const fn to_text_order(self) -> [u8; 16] {
        // Swapping the first three fields' byte order is its own inverse.
        Guid::from_text_order(self.0).0
    }

    const fn from_text_order(t: [u8; 16]) -> Guid {
        Guid([
            t[3], t[2], t[1], t[0], t[5], t[4], t[7], t[6], t[8], t[9], t[10], t[11], t[12], t[13],
            t[14], t[15],
        ])
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_text_order();
        for (i, byte) in t.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = Error;

    fn from_str(text: &str) -> Result<Guid, Error> {
        Guid::parse(text)
    }
}

/// A version 4 (random) GUID whose "randomness" is SHA-256 of `seed` and `what`, so that an
/// image built twice from the same inputs carries the same disk and partition GUIDs.
///
/// The seed is hashed with its length in front, so that the seed "ab" with "c" and the seed
/// "a" with "bc" give different GUIDs.
pub fn derive_guid(seed: &[u8], what: &str) -> Guid {
    let mut hasher = Sha256::new();
    hasher.update((seed.len() as u64).to_le_bytes());
    hasher.update(seed);
    hasher.update(what.as_bytes());
    let digest = hasher.finalize();
    let mut text_order = [0u8; 16];
    text_order.copy_from_slice(&digest[..16]);
    // RFC 4122: version 4 in the high nibble of time_hi_and_version, variant 0b10 in
    // clock_seq_hi_and_reserved.
    text_order[6] = (text_order[6] & 0x0F) | 0x40;
    text_order[8] = (text_order[8] & 0x3F) | 0x80;
    Guid::from_text_order(text_order)
}

/// One partition of a GPT, with inclusive LBA bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// At most [`MAX_NAME_UNITS`] UTF-16 code units; stored as UTF-16LE.
    pub name: String,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub first_lba: u64,
    /// Inclusive.
    pub last_lba: u64,
    pub attributes: u64,
}

impl PartitionSpec {
    /// Byte offset of the partition in the disk.
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR_SIZE
    }

    /// Size of the partition in bytes.
    pub fn size(&self) -> u64 {
        (self.last_lba.saturating_sub(self.first_lba) + 1) * SECTOR_SIZE
    }
}

/// How much of the disk a requested partition takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartSize {
    /// This many bytes, rounded up to whole sectors.
    Bytes(u64),
    /// Everything up to the last usable LBA; only for the last partition.
    Rest,
}

/// A partition [`Layout::plan`] is asked to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionRequest {
    pub name: String,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub size: PartSize,
    pub attributes: u64,
}

/// The geometry of a disk that partitions are planned on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Size of the whole disk image in bytes, a multiple of [`SECTOR_SIZE`].
    pub disk_size: u64,
    /// Every partition starts at a multiple of this many bytes.
    pub alignment: u64,
}

impl Layout {
    /// A disk of `disk_size` bytes with partitions aligned to 1 MiB.
    pub fn new(disk_size: u64) -> Layout {
        Layout {
            disk_size,
            alignment: DEFAULT_ALIGNMENT,
        }
    }

    /// The first LBA a partition may use: after the MBR, the primary header and entry array.
    pub fn first_usable_lba(&self) -> u64 {
        FIRST_USABLE_LBA
    }

    /// The last LBA a partition may use: before the backup entry array and header.
    pub fn last_usable_lba(&self) -> Result<u64, Error> {
        Ok(disk_sectors(self.disk_size)? - 1 - BACKUP_SECTORS)
    }

    /// Places `requests` one after the other, each starting at the next multiple of the
    /// alignment. A request for [`PartSize::Rest`] must come last and takes everything up to
    /// the last usable LBA.
    pub fn plan(&self, requests: &[PartitionRequest]) -> Result<Vec<PartitionSpec>, Error> {
        let last_usable = self.last_usable_lba()?;
        if self.alignment == 0 || self.alignment % SECTOR_SIZE != 0 {
            return Err(Error::BadAlignment {
                alignment: self.alignment,
            });
        }
        let align = self.alignment / SECTOR_SIZE;
        let usable_end = (last_usable + 1) * SECTOR_SIZE;

        // Place everything as if the disk were endless first, so that an error can say how big
        // a disk the partitions need.
        let mut placed = Vec::with_capacity(requests.len());
        let mut next = FIRST_USABLE_LBA;
        for (i, request) in requests.iter().enumerate() {
            check_name(&request.name)?;
            let first = round_up(next, align);
            let last = match request.size {
                PartSize::Bytes(0) => {
                    return Err(Error::ZeroSize {
                        name: request.name.clone(),
                    })
                }
                PartSize::Bytes(bytes) => first.saturating_add(bytes.div_ceil(SECTOR_SIZE) - 1),
                PartSize::Rest if i + 1 != requests.len() => {
                    return Err(Error::RestNotLast {
                        name: request.name.clone(),
                    })
                }
                // At least one sector, so that a disk too small shows up below.
                PartSize::Rest => last_usable.max(first),
            };
            placed.push((first, last));
            next = last.saturating_add(1);
        }

        let needed_disk_size = next
            .saturating_add(BACKUP_SECTORS)
            .max(MIN_DISK_SECTORS)
            .saturating_mul(SECTOR_SIZE);
        let mut specs = Vec::with_capacity(requests.len());
        for (request, (first, last)) in requests.iter().zip(placed) {
            if last > last_usable {
                let PartSize::Bytes(size) = request.size else {
                    return Err(Error::NoRoomForRest {
                        name: request.name.clone(),
                        start: first.saturating_mul(SECTOR_SIZE),
                        disk_size: self.disk_size,
                        usable_end,
                    });
                };
                return Err(Error::DoesNotFit {
                    name: request.name.clone(),
                    size,
                    start: first.saturating_mul(SECTOR_SIZE),
                    end: last.saturating_add(1).saturating_mul(SECTOR_SIZE),
                    disk_size: self.disk_size,
                    usable_end,
                    needed_disk_size,
                });
            }
            specs.push(PartitionSpec {
                name: request.name.clone(),
                type_guid: request.type_guid,
                unique_guid: request.unique_guid,
                first_lba: first,
                last_lba: last,
                attributes: request.attributes,
            });
        }
        Ok(specs)
    }
}

/// [`Layout::plan`] on a disk of `disk_size` bytes with 1 MiB alignment.
pub fn plan(disk_size: u64, requests: &[PartitionRequest]) -> Result<Vec<PartitionSpec>, Error> {
    Layout::new(disk_size).plan(requests)
}

fn round_up(value: u64, multiple: u64) -> u64 {
    value.div_ceil(multiple).saturating_mul(multiple)
}

fn disk_sectors(disk_size: u64) -> Result<u64, Error> {
    if disk_size % SECTOR_SIZE != 0 {
        return Err(Error::DiskSizeNotSectorMultiple { disk_size });
    }
    let sectors = disk_size / SECTOR_SIZE;
    if sectors < MIN_DISK_SECTORS {
        return Err(Error::DiskTooSmall {
            disk_size,
            min: MIN_DISK_SECTORS * SECTOR_SIZE,
        });
    }
    Ok(sectors)
}

fn check_name(name: &str) -> Result<(), Error> {
    let units = name.encode_utf16().count();
    if units > MAX_NAME_UNITS {
        return Err(Error::NameTooLong {
            name: name.to_owned(),
            units,
        });
    }
    Ok(())
}

/// Checks `parts` against the disk and each other; the table would be rejected or misread
/// by firmware otherwise.
fn check_partitions(disk_size: u64, parts: &[PartitionSpec]) -> Result<(), Error> {
    let last_usable = Layout::new(disk_size).last_usable_lba()?;
    if parts.len() > ENTRY_COUNT as usize {
        return Err(Error::TooManyPartitions { count: parts.len() });
    }
    for part in parts {
        check_name(&part.name)?;
        if part.type_guid == Guid::ZERO {
            return Err(Error::ZeroType {
                name: part.name.clone(),
            });
        }
        if part.first_lba < FIRST_USABLE_LBA
            || part.last_lba > last_usable
            || part.first_lba > part.last_lba
        {
            return Err(Error::OutsideUsable {
                name: part.name.clone(),
                first_lba: part.first_lba,
                last_lba: part.last_lba,
                disk_size,
                first_usable: FIRST_USABLE_LBA,
                last_usable,
            });
        }
    }
    let mut by_start: Vec<&PartitionSpec> = parts.iter().collect();
    by_start.sort_by_key(|p| p.first_lba);
    for pair in by_start.windows(2) {
        if let [a, b] = pair {
            if b.first_lba <= a.last_lba {
                return Err(Error::Overlap {
                    first: a.name.clone(),
                    first_last_lba: a.last_lba,
                    second: b.name.clone(),
                    second_first_lba: b.first_lba,
                });
            }
        }
    }
    let mut by_guid: Vec<&PartitionSpec> = parts.iter().collect();
    by_guid.sort_by_key(|p| p.unique_guid);
    for pair in by_guid.windows(2) {
        if let [a, b] = pair {
            if a.unique_guid == b.unique_guid {
                return Err(Error::DuplicateGuid {
                    first: a.name.clone(),
                    second: b.name.clone(),
                    guid: a.unique_guid,
                });
            }
        }
    }
    Ok(())
}

fn encode_entries(parts: &[PartitionSpec]) -> Vec<u8> {
    let mut array = vec![0u8; ENTRY_ARRAY_BYTES];
    for (entry, part) in array.chunks_exact_mut(ENTRY_SIZE as usize).zip(parts) {
        entry[0..16].copy_from_slice(&part.type_guid.0);
        entry[16..32].copy_from_slice(&part.unique_guid.0);
        entry[32..40].copy_from_slice(&part.first_lba.to_le_bytes());
        entry[40..48].copy_from_slice(&part.last_lba.to_le_bytes());
        entry[48..56].copy_from_slice(&part.attributes.to_le_bytes());
        for (slot, unit) in entry[56..128]
            .chunks_exact_mut(2)
            .zip(part.name.encode_utf16())
        {
            slot.copy_from_slice(&unit.to_le_bytes());
        }
    }
    array
}

struct Header {
    my_lba: u64,
    alternate_lba: u64,
    first_usable_lba: u64,
    last_usable_lba: u64,
    disk_guid: Guid,
    entries_lba: u64,
    entry_count: u32,
    entry_size: u32,
    entries_crc: u32,
}

impl Header {
    /// The whole sector: the 92 header bytes, then zeros as the specification requires.
    fn encode(&self) -> [u8; SECTOR_SIZE as usize] {
        let mut sector = [0u8; SECTOR_SIZE as usize];
        sector[0..8].copy_from_slice(SIGNATURE);
        sector[8..12].copy_from_slice(&REVISION_1_0.to_le_bytes());
        sector[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        // 16..20 is the header CRC, computed below with the field still zero; 20..24 reserved.
        sector[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        sector[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        sector[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        sector[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        sector[56..72].copy_from_slice(&self.disk_guid.0);
        sector[72..80].copy_from_slice(&self.entries_lba.to_le_bytes());
        sector[80..84].copy_from_slice(&self.entry_count.to_le_bytes());
        sector[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        sector[88..92].copy_from_slice(&self.entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&sector[..HEADER_SIZE as usize]);
        sector[16..20].copy_from_slice(&crc.to_le_bytes());
        sector
    }

    /// Parses and checks a header sector read from `lba`.
    fn decode(
        sector: &[u8; SECTOR_SIZE as usize],
        which: &'static str,
        lba: u64,
    ) -> Result<Header, Error> {
        let bad = |reason: String| Error::BadHeader { which, lba, reason };
        if &sector[0..8] != SIGNATURE {
            return Err(bad("no \"EFI PART\" signature".to_owned()));
        }
        let revision = le_u32(&sector[8..12]);
        if revision >> 16 != 1 {
            return Err(bad(format!("revision {revision:#010x} is not 1.x")));
        }
        let header_size = le_u32(&sector[12..16]);
        if !(HEADER_SIZE..=SECTOR_SIZE as u32).contains(&header_size) {
            return Err(bad(format!(
                "header size {header_size} is outside {HEADER_SIZE}..=512"
            )));
        }
        let stored = le_u32(&sector[16..20]);
        let mut copy = *sector;
        copy[16..20].fill(0);
        let computed = crc32fast::hash(&copy[..header_size as usize]);
        if stored != computed {
            return Err(Error::HeaderCrc {
                which,
                lba,
                stored,
                computed,
            });
        }
        let header = Header {
            my_lba: le_u64(&sector[24..32]),
            alternate_lba: le_u64(&sector[32..40]),
            first_usable_lba: le_u64(&sector[40..48]),
            last_usable_lba: le_u64(&sector[48..56]),
            disk_guid: Guid(to_array(&sector[56..72])),
            entries_lba: le_u64(&sector[72..80]),
            entry_count: le_u32(&sector[80..84]),
            entry_size: le_u32(&sector[84..88]),
            entries_crc: le_u32(&sector[88..92]),
        };
        if header.my_lba != lba {
            return Err(bad(format!("it says it sits at LBA {}", header.my_lba)));
        }
        // The specification allows 128 * 2^n bytes per entry.
        if header.entry_size < ENTRY_SIZE || !header.entry_size.is_power_of_two() {
            return Err(bad(format!(
                "entry size {} is not 128 * 2^n",
                header.entry_size
            )));
        }
        let array_bytes = u64::from(header.entry_count) * u64::from(header.entry_size);
        if array_bytes > MAX_ENTRY_ARRAY_BYTES {
            return Err(bad(format!(
                "its entry array of {} entries of {} bytes exceeds {MAX_ENTRY_ARRAY_BYTES} bytes",
                header.entry_count, header.entry_size
            )));
        }
        Ok(header)
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(to_array(bytes))
}

fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(to_array(bytes))
}

/// Copies the first N bytes; callers pass slices of fixed, sufficient length.
fn to_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut array = [0u8; N];
    let n = N.min(bytes.len());
    array[..n].copy_from_slice(&bytes[..n]);
    array
}

/// The protective MBR's partition table and signature (bytes 440..512 of LBA 0): one record
/// of type 0xEE covering the disk from LBA 1, as far as 32 bits reach.
fn protective_mbr_table(disk_sectors: u64) -> [u8; 72] {
    let mut table = [0u8; 72];
    // 440..444 is the MBR disk signature and 444..446 reserved: both zero in a protective MBR.
    let record = &mut table[6..22];
    record[0] = 0x00; // not bootable
    record[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
    record[4] = PROTECTIVE_TYPE;
    record[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]); // CHS beyond reach
    record[8..12].copy_from_slice(&1u32.to_le_bytes());
    let size = u32::try_from(disk_sectors - 1).unwrap_or(u32::MAX);
    record[12..16].copy_from_slice(&size.to_le_bytes());
    table[70] = 0x55;
    table[71] = 0xAA;
    table
}

/// Writes a GPT for a disk of `disk_size` bytes holding `parts` into `file`: the protective
/// MBR's partition table (bytes 440..512; the boot code before it is left alone), the primary
/// header and entries at LBA 1..=33, and the backup entries and header in the last 33
/// sectors. Partition contents are not touched.
///
/// A file shorter than `disk_size` is extended (sparsely); a longer one is an error, since the
/// backup table must be at the end of the disk.
pub fn write_gpt(
    file: &File,
    disk_size: u64,
    disk_guid: Guid,
    parts: &[PartitionSpec],
) -> Result<(), Error> {
    let sectors = disk_sectors(disk_size)?;
    check_partitions(disk_size, parts)?;
    let file_len = file
        .metadata()
        .map_err(io_error("read the size of the image file"))?
        .len();
    if file_len > disk_size {
        return Err(Error::FileLongerThanDisk {
            disk_size,
            file_len,
        });
    }
    if file_len < disk_size {
        file.set_len(disk_size).map_err(io_error(format!(
            "extend the image file to {disk_size} bytes"
        )))?;
    }

    let last_lba = sectors - 1;
    let backup_entries_lba = last_lba - ENTRY_ARRAY_SECTORS;
    let entries = encode_entries(parts);
    let entries_crc = crc32fast::hash(&entries);
    let header = |my_lba, alternate_lba, entries_lba| Header {
        my_lba,
        alternate_lba,
        first_usable_lba: FIRST_USABLE_LBA,
        last_usable_lba: backup_entries_lba - 1,
        disk_guid,
        entries_lba,
        entry_count: ENTRY_COUNT,
        entry_size: ENTRY_SIZE,
        entries_crc,
    };
    let primary = header(1, last_lba, 2);
    let backup = header(last_lba, 1, backup_entries_lba);

    let writes: [(&str, u64, &[u8]); 5] = [
        (
            "the protective MBR",
            MBR_TABLE_OFFSET,
            &protective_mbr_table(sectors),
        ),
        ("the primary GPT header", SECTOR_SIZE, &primary.encode()),
        ("the primary GPT entries", 2 * SECTOR_SIZE, &entries),
        (
            "the backup GPT entries",
            backup_entries_lba * SECTOR_SIZE,
            &entries,
        ),
        (
            "the backup GPT header",
            last_lba * SECTOR_SIZE,
            &backup.encode(),
        ),
    ];
    for (what, offset, bytes) in writes {
        file.write_all_at(bytes, offset)
            .map_err(io_error(format!("write {what} at byte {offset}")))?;
    }
    tracing::debug!(disk_size, %disk_guid, partitions = parts.len(), "wrote GPT");
    Ok(())
}

/// Writes a BIOS boot loader's first stage into bytes 0..440 of the MBR, the part
/// [`write_gpt`] leaves alone.
pub fn write_mbr_boot_code(file: &File, code: &[u8; 440]) -> Result<(), Error> {
    file.write_all_at(code, 0)
        .map_err(io_error("write the MBR boot code at byte 0"))
}

/// A GPT as [`read_gpt`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptTable {
    pub disk_guid: Guid,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    /// The used entries, in entry-array order.
    pub partitions: Vec<PartitionSpec>,
}

/// Reads the GPT of a disk image: checks the protective MBR, both headers' signatures and
/// CRCs, both entry arrays' CRCs, and that the two tables agree.
pub fn read_gpt(file: &File) -> Result<GptTable, Error> {
    let file_len = file
        .metadata()
        .map_err(io_error("read the size of the image file"))?
        .len();
    let sectors = file_len / SECTOR_SIZE;
    if sectors < MIN_DISK_SECTORS {
        return Err(Error::DiskTooSmall {
            disk_size: file_len,
            min: MIN_DISK_SECTORS * SECTOR_SIZE,
        });
    }

    let mbr = read_sector(file, 0, "the protective MBR")?;
    if mbr[510..512] != [0x55, 0xAA] {
        return Err(Error::NoProtectiveMbr {
            reason: "no 55AA boot signature".to_owned(),
        });
    }
    if !mbr[446..510]
        .chunks_exact(16)
        .any(|record| record[4] == PROTECTIVE_TYPE)
    {
        return Err(Error::NoProtectiveMbr {
            reason: "no partition record of type 0xEE".to_owned(),
        });
    }

    let (primary, entries) = read_table(file, sectors, 1, "primary")?;
    let (backup, backup_entries) = read_table(file, sectors, primary.alternate_lba, "backup")?;
    if backup.alternate_lba != 1 {
        return Err(Error::Mismatch {
            what: "where the primary header sits",
        });
    }
    if backup.disk_guid != primary.disk_guid {
        return Err(Error::Mismatch {
            what: "the disk GUID",
        });
    }
    if (backup.first_usable_lba, backup.last_usable_lba)
        != (primary.first_usable_lba, primary.last_usable_lba)
    {
        return Err(Error::Mismatch {
            what: "the usable LBAs",
        });
    }
    if backup_entries != entries {
        return Err(Error::Mismatch {
            what: "the partition entries",
        });
    }

    let mut partitions = Vec::new();
    for entry in entries.chunks_exact(primary.entry_size as usize) {
        let type_guid = Guid(to_array(&entry[0..16]));
        if type_guid == Guid::ZERO {
            continue;
        }
        let units: Vec<u16> = entry[56..128]
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .take_while(|&unit| unit != 0)
            .collect();
        partitions.push(PartitionSpec {
            name: String::from_utf16_lossy(&units),
            type_guid,
            unique_guid: Guid(to_array(&entry[16..32])),
            first_lba: le_u64(&entry[32..40]),
            last_lba: le_u64(&entry[40..48]),
            attributes: le_u64(&entry[48..56]),
        });
    }
    Ok(GptTable {
        disk_guid: primary.disk_guid,
        first_usable_lba: primary.first_usable_lba,
        last_usable_lba: primary.last_usable_lba,
        partitions,
    })
}

fn read_sector(file: &File, lba: u64, what: &str) -> Result<[u8; SECTOR_SIZE as usize], Error> {
    let mut sector = [0u8; SECTOR_SIZE as usize];
    let offset = lba * SECTOR_SIZE;
    file.read_exact_at(&mut sector, offset)
        .map_err(io_error(format!("read {what} at byte {offset}")))?;
    Ok(sector)
}

fn read_table(
    file: &File,
    sectors: u64,
    lba: u64,
    which: &'static str,
) -> Result<(Header, Vec<u8>), Error> {
    if lba >= sectors {
        return Err(Error::BadHeader {
            which,
            lba,
            reason: format!("the disk has only {sectors} sectors"),
        });
    }
    let sector = read_sector(file, lba, &format!("the {which} GPT header"))?;
    let header = Header::decode(&sector, which, lba)?;
    let array_bytes = header.entry_count as usize * header.entry_size as usize;
    let array_end = header
        .entries_lba
        .checked_mul(SECTOR_SIZE)
        .and_then(|start| start.checked_add(array_bytes as u64));
    if header.entries_lba == 0 || array_end.is_none_or(|end| end > sectors * SECTOR_SIZE) {
        return Err(Error::BadHeader {
            which,
            lba,
            reason: format!(
                "its entry array at LBA {} does not fit on a disk of {sectors} sectors",
                header.entries_lba
            ),
        });
    }
    let mut entries = vec![0u8; array_bytes];
    let offset = header.entries_lba * SECTOR_SIZE;
    file.read_exact_at(&mut entries, offset)
        .map_err(io_error(format!(
            "read the {which} GPT entries at byte {offset}"
        )))?;
    let computed = crc32fast::hash(&entries);
    if computed != header.entries_crc {
        return Err(Error::EntriesCrc {
            which,
            lba: header.entries_lba,
            stored: header.entries_crc,
            computed,
        });
    }
    Ok((header, entries))
}

#[cfg(test)]
mod tests;
