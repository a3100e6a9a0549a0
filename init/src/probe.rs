//! What is on a block device: the file system's type, label and UUID from its superblock, and a
//! partition's PARTUUID from its disk's partition table. Pure functions over bytes read from
//! the device, so stage 1 finds `LABEL=`, `UUID=` and `PARTUUID=` roots without udev or blkid.

/// How many bytes from the start of a device [`probe`] needs.
pub const PROBE_LEN: usize = 64 * 1024;

/// What a superblock says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probe {
    pub fstype: Option<&'static str>,
    pub label: Option<String>,
    pub uuid: Option<String>,
}

fn le16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// A label field: up to the first NUL, trailing spaces removed; `None` when empty.
fn label(field: &[u8]) -> Option<String> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let s = String::from_utf8_lossy(&field[..end]).trim_end().to_owned();
    (!s.is_empty()).then_some(s)
}

/// 16 bytes in order as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (ext4's and btrfs's form).
fn uuid_plain(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A GUID as GPT stores it (the first three fields little-endian).
pub fn guid(b: &[u8; 16]) -> String {
    let mut o = *b;
    o[..4].reverse();
    o[4..6].reverse();
    o[6..8].reverse();
    uuid_plain(&o)
}

/// Reads the superblock at the start of `data` (the device's first [`PROBE_LEN`] bytes, or
/// fewer for a small device): ext2/3/4, vfat, iso9660, squashfs and btrfs.
pub fn probe(data: &[u8]) -> Probe {
    // ext2/3/4: superblock at 1024, magic 0xEF53 at 56.
    if le16(data, 1024 + 56) == Some(0xEF53) {
        let sb = &data[1024..];
        let uuid = sb.get(104..120).map(uuid_plain);
        let incompat = le32(sb, 96).unwrap_or(0);
        let compat = le32(sb, 92).unwrap_or(0);
        // has_journal (compat 0x4); extents or 64bit or flex_bg (incompat 0x40|0x80|0x200).
        let fstype = if incompat & (0x40 | 0x80 | 0x200) != 0 {
            "ext4"
        } else if compat & 0x4 != 0 {
            "ext3"
        } else {
            "ext2"
        };
        return Probe {
            fstype: Some(fstype),
            label: sb.get(120..136).and_then(label),
            uuid,
        };
    }
    // btrfs: "_BHRfS_M" at 64 KiB + 64 (needs more than PROBE_LEN; checked when present).
    if data.get(0x10040..0x10048) == Some(b"_BHRfS_M") {
        let sb = &data[0x10000..];
        return Probe {
            fstype: Some("btrfs"),
            label: sb.get(0x12b..0x22b).and_then(label),
            uuid: sb.get(0x20..0x30).map(uuid_plain),
        };
    }
    // iso9660: the primary volume descriptor at 32 KiB.
    if data.get(32769..32774) == Some(b"CD001") {
        return Probe {
            fstype: Some("iso9660"),
            label: data.get(32768 + 40..32768 + 72).and_then(label),
            uuid: None,
        };
    }
    // squashfs: "hsqs".
    if data.get(..4) == Some(b"hsqs") {
        return Probe {
            fstype: Some("squashfs"),
            ..Probe::default()
        };
    }
    // FAT: the boot sector's signature and a FAT type string.
    if data.get(510..512) == Some(&[0x55, 0xAA]) {
        let (serial_at, label_at) = if data.get(82..87) == Some(b"FAT32") {
            (67, 71)
        } else if data.get(54..59).is_some_and(|t| t.starts_with(b"FAT")) {
            (39, 43)
        } else {
            return Probe::default();
        };
        let uuid = le32(data, serial_at).map(|s| format!("{:04X}-{:04X}", s >> 16, s & 0xffff));
        let l = data
            .get(label_at..label_at + 11)
            .and_then(label)
            .filter(|l| l != "NO NAME");
        return Probe {
            fstype: Some("vfat"),
            label: l,
            uuid,
        };
    }
    Probe::default()
}

/// Where a disk's partition table says partition `number` (from 1) has its PARTUUID: the GPT
/// entries' location, or, for an MBR disk, the PARTUUID itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartTable {
    /// Read `len` bytes at `offset` and give them to [`gpt_partuuid`].
    Gpt {
        offset: u64,
        len: usize,
        entry_size: usize,
    },
    Mbr(String),
    None,
}

/// Reads the first 1024 bytes of a disk (the MBR and the GPT header, 512-byte sectors).
pub fn part_table(head: &[u8], number: u32) -> PartTable {
    if head.get(512..520) == Some(b"EFI PART") {
        let entries_lba = le64(head, 512 + 72).unwrap_or(0);
        let count = le32(head, 512 + 80).unwrap_or(0);
        let size = le32(head, 512 + 84).unwrap_or(0) as usize;
        if number == 0 || number > count || !(128..=4096).contains(&size) {
            return PartTable::None;
        }
        return PartTable::Gpt {
            offset: entries_lba * 512 + u64::from(number - 1) * size as u64,
            len: size,
            entry_size: size,
        };
    }
    if head.get(510..512) == Some(&[0x55, 0xAA]) {
        if let Some(sig) = le32(head, 440).filter(|&s| s != 0) {
            return PartTable::Mbr(format!("{sig:08x}-{number:02x}"));
        }
    }
    PartTable::None
}

/// The unique partition GUID of one GPT entry (`None` for an unused entry).
pub fn gpt_partuuid(entry: &[u8]) -> Option<String> {
    let type_guid = entry.get(..16)?;
    if type_guid.iter().all(|&b| b == 0) {
        return None;
    }
    let g: &[u8; 16] = entry.get(16..32)?.try_into().ok()?;
    Some(guid(g))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::process::Command;

    fn have(tool: &str) -> bool {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn ext4_made_by_mkfs() {
        if !have("mkfs.ext4") {
            eprintln!("skipped: no mkfs.ext4");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        std::fs::write(&img, vec![0u8; 8 << 20]).unwrap();
        let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let ok = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "strata root", "-U", uuid])
            .arg(&img)
            .status()
            .unwrap();
        assert!(ok.success());
        let data = std::fs::read(&img).unwrap();
        let p = probe(&data[..PROBE_LEN]);
        assert_eq!(p.fstype, Some("ext4"));
        assert_eq!(p.label.as_deref(), Some("strata root"));
        assert_eq!(p.uuid.as_deref(), Some(uuid));
    }

    #[test]
    fn fat_iso_squashfs_and_nothing() {
        let mut fat = vec![0u8; 4096];
        fat[82..87].copy_from_slice(b"FAT32");
        fat[67..71].copy_from_slice(&0x1234_ABCDu32.to_le_bytes());
        fat[71..82].copy_from_slice(b"ESP        ");
        fat[510] = 0x55;
        fat[511] = 0xAA;
        let p = probe(&fat);
        assert_eq!(p.fstype, Some("vfat"));
        assert_eq!(p.label.as_deref(), Some("ESP"));
        assert_eq!(p.uuid.as_deref(), Some("1234-ABCD"));

        let mut iso = vec![0u8; PROBE_LEN];
        iso[32769..32774].copy_from_slice(b"CD001");
        iso[32808..32816].copy_from_slice(b"STRATA  ");
        let p = probe(&iso);
        assert_eq!(p.fstype, Some("iso9660"));
        assert_eq!(p.label.as_deref(), Some("STRATA"));

        assert_eq!(probe(b"hsqs....").fstype, Some("squashfs"));
        assert_eq!(probe(&[]), Probe::default());
        assert_eq!(probe(&vec![0xffu8; 2000]), Probe::default());
    }

    #[test]
    fn gpt_and_mbr_partuuids() {
        // A GPT header saying: entries at LBA 2, 128 of 128 bytes.
        let mut head = vec![0u8; 1024];
        head[512..520].copy_from_slice(b"EFI PART");
        head[512 + 72..512 + 80].copy_from_slice(&2u64.to_le_bytes());
        head[512 + 80..512 + 84].copy_from_slice(&128u32.to_le_bytes());
        head[512 + 84..512 + 88].copy_from_slice(&128u32.to_le_bytes());
        assert_eq!(
            part_table(&head, 2),
            PartTable::Gpt {
                offset: 1024 + 128,
                len: 128,
                entry_size: 128
            }
        );
        assert_eq!(part_table(&head, 0), PartTable::None);
        assert_eq!(part_table(&head, 129), PartTable::None);
        let mut entry = vec![0u8; 128];
        assert_eq!(gpt_partuuid(&entry), None, "unused entry");
        entry[0] = 1;
        // 01020304-0506-0708-090a-0b0c0d0e0f10 stored mixed-endian.
        entry[16..32].copy_from_slice(&[4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(
            gpt_partuuid(&entry).as_deref(),
            Some("01020304-0506-0708-090a-0b0c0d0e0f10")
        );

        let mut mbr = vec![0u8; 1024];
        mbr[440..444].copy_from_slice(&0xdeadbeefu32.to_le_bytes());
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert_eq!(part_table(&mbr, 1), PartTable::Mbr("deadbeef-01".into()));
        assert_eq!(part_table(&[0u8; 100], 1), PartTable::None);
    }
}
