//! The pass that fixes what `fatfs` writes for "." and "..", with just enough of its own FAT
//! reader (geometry, cluster chains, raw directory slots) to do it.
//!
//! Must not: write anything but the slots of directories' first clusters.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{Error, FatType, FAT32_MIN_CLUSTERS};

/// Moves every subdirectory's "." and ".." entries into the first two slots, where the FAT
/// specification (and `fsck.fat`, and some firmware) expects them.
///
/// `fatfs` 0.3 writes them like any other name, each after a long-name slot, so a new
/// directory starts `[LFN, ".", LFN, ".."]`; and in a FAT32 a ".." pointing at the root
/// carries the root's cluster where the specification asks for 0. This pass walks the finished
/// file system and rewrites such a start to `[".", "..", deleted, deleted]`. A directory that
/// already starts with "." and ".." is left alone, so a fixed `fatfs` passes through.
pub(super) fn fix_dot_entries(file: &File, offset: u64, len: u64) -> Result<(), Error> {
    let corrupt = |reason: String| Error::Corrupt {
        offset,
        len,
        reason,
    };
    let raw = RawFat::open(file, offset, len)?;
    let mut pending: Vec<(u32, bool)> = Vec::new();
    let root = raw.read_dir(None)?;
    for entry in raw.subdirs(&root) {
        pending.push((entry, true));
    }
    let mut visited = 0u64;
    while let Some((cluster, parent_is_root)) = pending.pop() {
        visited += 1;
        if visited > raw.clusters {
            return Err(corrupt("directories loop".to_owned()));
        }
        let content = raw.read_dir(Some(cluster))?;
        let slot = |i: usize| &content[i * 32..(i + 1) * 32];
        let is_lfn = |i: usize| content.len() >= (i + 1) * 32 && slot(i)[11] == 0x0F;
        let named =
            |i: usize, name: &[u8; 11]| content.len() >= (i + 1) * 32 && &slot(i)[..11] == name;
        let dot = *b".          ";
        let dotdot = *b"..         ";
        let (dot_slot, dotdot_slot) = if named(0, &dot) && named(1, &dotdot) {
            (0, 1)
        } else if is_lfn(0) && named(1, &dot) && is_lfn(2) && named(3, &dotdot) {
            (1, 3)
        } else {
            return Err(corrupt(format!(
                "the directory at cluster {cluster} does not start with \".\" and \"..\""
            )));
        };
        let mut start = [0u8; 128];
        start[..32].copy_from_slice(slot(dot_slot));
        start[32..64].copy_from_slice(slot(dotdot_slot));
        if parent_is_root {
            // First cluster high (FAT32) and low words.
            start[32 + 20..32 + 22].fill(0);
            start[32 + 26..32 + 28].fill(0);
        }
        let rewrite = if dotdot_slot == 3 {
            // Deleted entries: 0xE5 in the first byte.
            start[64] = 0xE5;
            start[96] = 0xE5;
            &start[..]
        } else {
            &start[..64]
        };
        if rewrite != &content[..rewrite.len()] {
            let at = offset + raw.cluster_offset(cluster);
            file.write_all_at(rewrite, at)
                .map_err(|source| Error::Write {
                    fat_path: format!("the \".\" and \"..\" entries at byte {at}"),
                    offset,
                    len,
                    source,
                })?;
        }
        for child in raw.subdirs(&content) {
            pending.push((child, false));
        }
    }
    Ok(())
}

/// Just enough of a FAT reader for [`fix_dot_entries`]: the geometry from the boot sector,
/// cluster chains, and directory contents as raw 32-byte slots.
pub(super) struct RawFat<'f> {
    file: &'f File,
    offset: u64,
    len: u64,
    fat_type: FatType,
    cluster_size: u64,
    fat_start: u64,
    /// FAT12/16 root directory region, as (byte offset, length).
    root_region: (u64, u64),
    root_cluster: u32,
    data_start: u64,
    clusters: u64,
}

impl<'f> RawFat<'f> {
    pub(super) fn open(file: &'f File, offset: u64, len: u64) -> Result<RawFat<'f>, Error> {
        let mut boot = [0u8; 512];
        file.read_exact_at(&mut boot, offset)
            .map_err(|source| Error::Read {
                offset,
                len,
                source,
            })?;
        let u16_at = |i: usize| u64::from(u16::from_le_bytes([boot[i], boot[i + 1]]));
        let u32_at = |i: usize| {
            u64::from(u32::from_le_bytes([
                boot[i],
                boot[i + 1],
                boot[i + 2],
                boot[i + 3],
            ]))
        };
        let sector_size = u16_at(11);
        let per_cluster = u64::from(boot[13]);
        let reserved = u16_at(14);
        let fats = u64::from(boot[16]);
        let root_entries = u16_at(17);
        let total = if u16_at(19) != 0 {
            u16_at(19)
        } else {
            u32_at(32)
        };
        let fat_sectors = if u16_at(22) != 0 {
            u16_at(22)
        } else {
            u32_at(36)
        };
        if sector_size == 0 || per_cluster == 0 {
            return Err(Error::Corrupt {
                offset,
                len,
                reason: "no geometry in the boot sector".to_owned(),
            });
        }
        let root_sectors = (root_entries * 32).div_ceil(sector_size);
        let first_data = reserved + fats * fat_sectors + root_sectors;
        let clusters = total.saturating_sub(first_data) / per_cluster;
        let fat_type = if clusters < 4085 {
            FatType::Fat12
        } else if clusters < FAT32_MIN_CLUSTERS {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        Ok(RawFat {
            file,
            offset,
            len,
            fat_type,
            cluster_size: per_cluster * sector_size,
            fat_start: reserved * sector_size,
            root_region: (
                (reserved + fats * fat_sectors) * sector_size,
                root_sectors * sector_size,
            ),
            root_cluster: u32_at(44) as u32,
            data_start: first_data * sector_size,
            clusters,
        })
    }

    fn read(&self, at: u64, buf: &mut [u8]) -> Result<(), Error> {
        let (offset, len) = (self.offset, self.len);
        if at.saturating_add(buf.len() as u64) > len {
            return Err(Error::Corrupt {
                offset,
                len,
                reason: format!("a read at byte {at} leaves the region"),
            });
        }
        self.file
            .read_exact_at(buf, offset + at)
            .map_err(|source| Error::Read {
                offset,
                len,
                source,
            })
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_start + (u64::from(cluster) - 2) * self.cluster_size
    }

    fn next_cluster(&self, cluster: u32) -> Result<Option<u32>, Error> {
        let n = u64::from(cluster);
        let next = match self.fat_type {
            FatType::Fat32 => {
                let mut b = [0u8; 4];
                self.read(self.fat_start + 4 * n, &mut b)?;
                u32::from_le_bytes(b) & 0x0FFF_FFFF
            }
            FatType::Fat16 => {
                let mut b = [0u8; 2];
                self.read(self.fat_start + 2 * n, &mut b)?;
                u32::from(u16::from_le_bytes(b))
            }
            FatType::Fat12 => {
                let mut b = [0u8; 2];
                self.read(self.fat_start + n + n / 2, &mut b)?;
                let pair = u32::from(u16::from_le_bytes(b));
                if n % 2 == 1 {
                    pair >> 4
                } else {
                    pair & 0xFFF
                }
            }
        };
        let end = match self.fat_type {
            FatType::Fat32 => 0x0FFF_FFF8,
            FatType::Fat16 => 0xFFF8,
            FatType::Fat12 => 0xFF8,
        };
        Ok((next < end).then_some(next))
    }

    /// The directory's slots: the FAT12/16 root region for `None`, else its cluster chain.
    pub(super) fn read_dir(&self, cluster: Option<u32>) -> Result<Vec<u8>, Error> {
        let (offset, len) = (self.offset, self.len);
        let cluster = match (cluster, self.fat_type) {
            (Some(cluster), _) => cluster,
            (None, FatType::Fat32) => self.root_cluster,
            (None, _) => {
                let mut content = vec![0u8; self.root_region.1 as usize];
                self.read(self.root_region.0, &mut content)?;
                return Ok(content);
            }
        };
        let mut content = Vec::new();
        let mut next = Some(cluster);
        while let Some(cluster) = next {
            if cluster < 2 || u64::from(cluster) >= self.clusters + 2 {
                return Err(Error::Corrupt {
                    offset,
                    len,
                    reason: format!("cluster {cluster} in a directory's chain"),
                });
            }
            if content.len() as u64 >= self.clusters * self.cluster_size {
                return Err(Error::Corrupt {
                    offset,
                    len,
                    reason: "a directory's cluster chain loops".to_owned(),
                });
            }
            let start = content.len();
            content.resize(start + self.cluster_size as usize, 0);
            self.read(self.cluster_offset(cluster), &mut content[start..])?;
            next = self.next_cluster(cluster)?;
        }
        Ok(content)
    }

    /// The first clusters of the live subdirectory entries among `slots`, other than "." and
    /// "..".
    pub(super) fn subdirs<'c>(&self, slots: &'c [u8]) -> impl Iterator<Item = u32> + 'c {
        let fat32 = self.fat_type == FatType::Fat32;
        slots
            .chunks_exact(32)
            .take_while(|e| e[0] != 0)
            .filter(|e| e[0] != 0xE5 && e[11] != 0x0F && e[11] & 0x08 == 0 && e[11] & 0x10 != 0)
            .filter(|e| e[0] != b'.')
            .map(move |e| {
                let hi = if fat32 {
                    u32::from(u16::from_le_bytes([e[20], e[21]]))
                } else {
                    0
                };
                let lo = u32::from(u16::from_le_bytes([e[26], e[27]]));
                (hi << 16) | lo
            })
    }
}
