#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::FileExt;
use std::process::Command;

use super::*;

const MIB: u64 = 1024 * 1024;

fn request(name: &str, type_guid: Guid, size: PartSize) -> PartitionRequest {
    PartitionRequest {
        name: name.to_owned(),
        type_guid,
        unique_guid: derive_guid(b"test disk", name),
        size,
        attributes: 0,
    }
}

fn typical_requests() -> Vec<PartitionRequest> {
    vec![
        request("bios", BIOS_BOOT_TYPE, PartSize::Bytes(MIB)),
        PartitionRequest {
            attributes: ATTR_REQUIRED_PARTITION | ATTR_LEGACY_BIOS_BOOTABLE,
            ..request("ESP", ESP_TYPE, PartSize::Bytes(32 * MIB + 5))
        },
        request("strata-root-ä", LINUX_FS_TYPE, PartSize::Rest),
    ]
}

#[test]
fn guid_text_and_disk_order() {
    assert_eq!(ESP_TYPE.to_string(), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(
        ESP_TYPE.0,
        [
            0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
            0xC9, 0x3B
        ]
    );
    assert_eq!(
        Guid::parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b").unwrap(),
        ESP_TYPE
    );
    assert_eq!(
        LINUX_FS_TYPE,
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4".parse().unwrap()
    );
    assert_eq!(
        BIOS_BOOT_TYPE.to_string(),
        "21686148-6449-6E6F-744E-656564454649"
    );
    // "Hah!IdontNeedEFI" is what the BIOS boot GUID spells on disk.
    assert_eq!(&BIOS_BOOT_TYPE.0, b"Hah!IdontNeedEFI");
    assert_eq!(
        format!("{:?}", ESP_TYPE),
        "Guid(C12A7328-F81F-11D2-BA4B-00A0C93EC93B)"
    );
}

#[test]
fn guid_parse_rejects_malformed_text() {
    for text in [
        "",
        "C12A7328F81F11D2BA4B00A0C93EC93B",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93BB",
        "C12A7328-F81F-11D2+BA4B-00A0C93EC93B",
        "G12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC9ä",
    ] {
        let err = Guid::parse(text).unwrap_err();
        assert!(matches!(err, Error::BadGuid { .. }), "{text:?}: {err}");
        assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
    }
}

#[test]
fn derived_guids_are_deterministic_version_4() {
    let a = derive_guid(b"seed", "root");
    assert_eq!(a, derive_guid(b"seed", "root"));
    assert_ne!(a, derive_guid(b"seed", "esp"));
    assert_ne!(a, derive_guid(b"seed2", "root"));
    // The seed's length is hashed, so moving bytes between seed and name changes the GUID.
    assert_ne!(derive_guid(b"ab", "c"), derive_guid(b"a", "bc"));
    let text = a.to_text_order();
    assert_eq!(text[6] >> 4, 4, "version nibble of {a}");
    assert_eq!(text[8] >> 6, 0b10, "variant bits of {a}");
    assert_eq!(a.to_string().as_bytes()[14], b'4');
    assert_eq!(Guid::parse(&a.to_string()).unwrap(), a);
}

#[test]
fn derived_guid_is_pinned() {
    let got = derive_guid(b"strata", "disk").to_string();
    let expected = {
        let digest = Sha256::new()
            .chain_update(6u64.to_le_bytes())
            .chain_update(b"strata")
            .chain_update(b"disk")
            .finalize();
        let mut t = [0u8; 16];
        t.copy_from_slice(&digest[..16]);
        t[6] = (t[6] & 0x0F) | 0x40;
        t[8] = (t[8] & 0x3F) | 0x80;
        let hex: String = t.iter().map(|b| format!("{b:02X}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    };
    assert_eq!(got, expected);
    // Every image's GUIDs change with the derivation; this notices.
    assert_eq!(got, "EC6A0046-B3DF-453A-BDAD-302EEA15B51F");
}

#[test]
fn plan_aligns_partitions_and_gives_the_rest_to_the_last() {
    let disk_size = 100 * MIB;
    let parts = plan(disk_size, &typical_requests()).unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!((parts[0].first_lba, parts[0].last_lba), (2048, 4095));
    assert_eq!(parts[1].first_lba, 4096);
    // 32 MiB + 5 bytes round up to one more sector.
    assert_eq!(parts[1].size(), 32 * MIB + 512);
    assert_eq!(
        parts[1].attributes,
        ATTR_REQUIRED_PARTITION | ATTR_LEGACY_BIOS_BOOTABLE
    );
    // The next 1 MiB boundary after the ESP's odd end.
    assert_eq!(parts[2].offset(), 35 * MIB);
    assert_eq!(parts[2].last_lba, disk_size / 512 - 34);
    for part in &parts {
        assert_eq!(part.offset() % MIB, 0, "{part:?}");
    }
    assert_eq!(
        Layout::new(disk_size).last_usable_lba().unwrap(),
        disk_size / 512 - 34
    );
}

#[test]
fn plan_with_custom_alignment() {
    let layout = Layout {
        disk_size: 10 * MIB,
        alignment: 4096,
    };
    let parts = layout
        .plan(&[
            request("a", LINUX_FS_TYPE, PartSize::Bytes(1000)),
            request("b", LINUX_FS_TYPE, PartSize::Bytes(512)),
        ])
        .unwrap();
    assert_eq!((parts[0].first_lba, parts[0].last_lba), (40, 41));
    assert_eq!((parts[1].first_lba, parts[1].last_lba), (48, 48));
}

#[test]
fn plan_refuses_too_small_disks_naming_sizes() {
    let err = plan(20 * MIB, &typical_requests()).unwrap_err();
    let Error::DoesNotFit {
        ref name,
        size,
        needed_disk_size,
        ..
    } = err
    else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(name, "ESP");
    assert_eq!(size, 32 * MIB + 5);
    // The ESP ends 512 bytes past 34 MiB; the root needs a sector more and the backup GPT.
    assert_eq!(needed_disk_size, 35 * MIB + 512 + 33 * 512);
    let text = err.to_string();
    for needle in [
        "\"ESP\"",
        "33554437",
        "20971520",
        &needed_disk_size.to_string(),
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }

    // Exactly the reported size is enough.
    let parts = plan(needed_disk_size, &typical_requests()).unwrap();
    assert_eq!(parts[2].first_lba, parts[2].last_lba);

    // The rest partition alone has no room left.
    let err = plan(
        34 * MIB,
        &[
            request("big", LINUX_FS_TYPE, PartSize::Bytes(33 * MIB - 32 * 1024)),
            request("rest", LINUX_FS_TYPE, PartSize::Rest),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::NoRoomForRest { ref name, .. } if name == "rest"),
        "{err}"
    );

    let err = plan(67 * 512, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DiskTooSmall {
                disk_size: 34304,
                min: 34816
            }
        ),
        "{err}"
    );
    let err = plan(MIB + 1, &[]).unwrap_err();
    assert!(
        matches!(err, Error::DiskSizeNotSectorMultiple { .. }),
        "{err}"
    );
}

#[test]
fn plan_rejects_bad_requests() {
    let err = plan(
        100 * MIB,
        &[
            request("rest", LINUX_FS_TYPE, PartSize::Rest),
            request("after", LINUX_FS_TYPE, PartSize::Bytes(MIB)),
        ],
    )
    .unwrap_err();
    assert!(matches!(err, Error::RestNotLast { .. }), "{err}");
    let err = plan(
        100 * MIB,
        &[request("empty", LINUX_FS_TYPE, PartSize::Bytes(0))],
    )
    .unwrap_err();
    assert!(matches!(err, Error::ZeroSize { .. }), "{err}");
    let long = "x".repeat(37);
    let err = plan(100 * MIB, &[request(&long, LINUX_FS_TYPE, PartSize::Rest)]).unwrap_err();
    assert!(matches!(err, Error::NameTooLong { units: 37, .. }), "{err}");
    let err = Layout {
        disk_size: 100 * MIB,
        alignment: 1000,
    }
    .plan(&[])
    .unwrap_err();
    assert!(
        matches!(err, Error::BadAlignment { alignment: 1000 }),
        "{err}"
    );
    // Huge sizes saturate instead of overflowing.
    let err = plan(
        100 * MIB,
        &[request("huge", LINUX_FS_TYPE, PartSize::Bytes(u64::MAX))],
    )
    .unwrap_err();
    assert!(matches!(err, Error::DoesNotFit { .. }), "{err}");
}

fn written_image(disk_size: u64) -> (tempfile::NamedTempFile, Guid, Vec<PartitionSpec>) {
    let image = tempfile::NamedTempFile::new().unwrap();
    let disk_guid = derive_guid(b"test disk", "disk");
    let parts = plan(disk_size, &typical_requests()).unwrap();
    write_gpt(image.as_file(), disk_size, disk_guid, &parts).unwrap();
    (image, disk_guid, parts)
}

#[test]
fn round_trip() {
    let disk_size = 100 * MIB;
    let (image, disk_guid, parts) = written_image(disk_size);
    assert_eq!(image.as_file().metadata().unwrap().len(), disk_size);
    let table = read_gpt(image.as_file()).unwrap();
    assert_eq!(table.disk_guid, disk_guid);
    assert_eq!(table.partitions, parts);
    assert_eq!(table.first_usable_lba, 34);
    assert_eq!(table.last_usable_lba, disk_size / 512 - 34);
}

#[test]
fn on_disk_layout() {
    let disk_size = 100 * MIB;
    let (image, _, _) = written_image(disk_size);
    let file = image.as_file();
    let last_lba = disk_size / 512 - 1;
    let sector = |lba: u64| {
        let mut buf = [0u8; 512];
        file.read_exact_at(&mut buf, lba * 512).unwrap();
        buf
    };
    let mbr = sector(0);
    assert_eq!(
        &mbr[446..462],
        &[0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0xFF, 0x1F, 0x03, 0]
    );
    assert_eq!(
        u32::from_le_bytes(mbr[458..462].try_into().unwrap()),
        (last_lba) as u32
    );
    assert!(mbr[462..510].iter().all(|&b| b == 0));
    assert_eq!(&mbr[510..], &[0x55, 0xAA]);

    let primary = sector(1);
    let backup = sector(last_lba);
    assert_eq!(&primary[0..8], b"EFI PART");
    assert_eq!(&backup[0..8], b"EFI PART");
    assert_eq!(le_u64(&primary[24..32]), 1);
    assert_eq!(le_u64(&primary[32..40]), last_lba);
    assert_eq!(le_u64(&backup[24..32]), last_lba);
    assert_eq!(le_u64(&backup[32..40]), 1);
    assert_eq!(le_u64(&primary[72..80]), 2);
    assert_eq!(le_u64(&backup[72..80]), last_lba - 32);
    assert_eq!(le_u64(&primary[40..48]), 34);
    assert_eq!(le_u64(&primary[48..56]), disk_size / 512 - 34);
    assert!(primary[92..].iter().all(|&b| b == 0));

    // An independent CRC: the bitwise IEEE polynomial, not crc32fast.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut entries = vec![0u8; 16384];
    file.read_exact_at(&mut entries, 2 * 512).unwrap();
    assert_eq!(le_u32(&primary[88..92]), crc32(&entries));
    let mut header = primary;
    header[16..20].fill(0);
    assert_eq!(le_u32(&primary[16..20]), crc32(&header[..92]));
    let mut backup_entries = vec![0u8; 16384];
    file.read_exact_at(&mut backup_entries, (last_lba - 32) * 512)
        .unwrap();
    assert_eq!(entries, backup_entries);

    // The ESP's name is UTF-16LE.
    assert_eq!(&entries[128 + 56..128 + 62], &[b'E', 0, b'S', 0, b'P', 0]);
}

#[test]
fn boot_code_survives_write_gpt() {
    let image = tempfile::tempfile().unwrap();
    let code: [u8; 440] = std::array::from_fn(|i| (i % 251) as u8 + 1);
    write_mbr_boot_code(&image, &code).unwrap();
    let disk_size = 64 * MIB;
    let parts = plan(disk_size, &[request("root", LINUX_FS_TYPE, PartSize::Rest)]).unwrap();
    write_gpt(&image, disk_size, derive_guid(b"x", "disk"), &parts).unwrap();
    let mut mbr = [0u8; 512];
    image.read_exact_at(&mut mbr, 0).unwrap();
    assert_eq!(&mbr[..440], &code[..]);
    // The code written after the table is also kept apart from it.
    write_mbr_boot_code(&image, &[0xAB; 440]).unwrap();
    assert_eq!(read_gpt(&image).unwrap().partitions, parts);
}

#[test]
fn protective_record_is_clamped_to_32_bits() {
    let table = protective_mbr_table(5 * (1 << 32));
    assert_eq!(&table[6 + 12..6 + 16], &[0xFF; 4]);
    let table = protective_mbr_table(1 << 32);
    assert_eq!(&table[6 + 12..6 + 16], &[0xFF; 4]);
    let table = protective_mbr_table(1000);
    assert_eq!(le_u32(&table[6 + 12..6 + 16]), 999);
}

fn flip(file: &File, offset: u64) {
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0] ^= 0x01;
    file.write_all_at(&byte, offset).unwrap();
}

#[test]
fn corrupted_header_crc_is_detected() {
    let disk_size = 100 * MIB;
    let (image, _, _) = written_image(disk_size);
    // A byte of the disk GUID in the primary header.
    flip(image.as_file(), 512 + 60);
    let err = read_gpt(image.as_file()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::HeaderCrc {
                which: "primary",
                lba: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("primary GPT header at LBA 1"),
        "{err}"
    );
}

#[test]
fn corrupted_backup_header_is_detected() {
    let disk_size = 100 * MIB;
    let (image, _, _) = written_image(disk_size);
    flip(image.as_file(), disk_size - 512 + 40);
    let err = read_gpt(image.as_file()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::HeaderCrc {
                which: "backup",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn corrupted_entries_are_detected() {
    let disk_size = 100 * MIB;
    let (image, _, _) = written_image(disk_size);
    // A byte of the first entry's starting LBA.
    flip(image.as_file(), 2 * 512 + 33);
    let err = read_gpt(image.as_file()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::EntriesCrc {
                which: "primary",
                lba: 2,
                ..
            }
        ),
        "{err}"
    );

    let (image, _, _) = written_image(disk_size);
    flip(image.as_file(), disk_size - 33 * 512 + 200);
    let err = read_gpt(image.as_file()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::EntriesCrc {
                which: "backup",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn read_gpt_rejects_non_gpt_images() {
    let image = tempfile::tempfile().unwrap();
    image.set_len(MIB).unwrap();
    let err = read_gpt(&image).unwrap_err();
    assert!(matches!(err, Error::NoProtectiveMbr { .. }), "{err}");

    // A protective MBR but no header.
    image
        .write_all_at(&protective_mbr_table(2048), 440)
        .unwrap();
    let err = read_gpt(&image).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadHeader {
                which: "primary",
                ..
            }
        ),
        "{err}"
    );

    // Garbage everywhere must give an error, never a panic.
    let noise: Vec<u8> = (0..MIB as usize)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    image.write_all_at(&noise, 0).unwrap();
    assert!(read_gpt(&image).is_err());

    let tiny = tempfile::tempfile().unwrap();
    tiny.set_len(1000).unwrap();
    assert!(matches!(
        read_gpt(&tiny).unwrap_err(),
        Error::DiskTooSmall { .. }
    ));
}

#[test]
fn read_gpt_rejects_a_header_claiming_a_huge_entry_array() {
    let disk_size = 100 * MIB;
    let (image, _, _) = written_image(disk_size);
    let file = image.as_file();
    let mut sector = [0u8; 512];
    file.read_exact_at(&mut sector, 512).unwrap();
    sector[80..84].copy_from_slice(&u32::MAX.to_le_bytes());
    sector[16..20].fill(0);
    let crc = crc32fast::hash(&sector[..92]);
    sector[16..20].copy_from_slice(&crc.to_le_bytes());
    file.write_all_at(&sector, 512).unwrap();
    let err = read_gpt(file).unwrap_err();
    assert!(matches!(err, Error::BadHeader { .. }), "{err}");
}

#[test]
fn write_gpt_rejects_inconsistent_partitions() {
    let disk_size = 100 * MIB;
    let image = tempfile::tempfile().unwrap();
    let guid = derive_guid(b"x", "disk");
    let mut parts = plan(disk_size, &typical_requests()).unwrap();

    let mut overlapping = parts.clone();
    overlapping[1].first_lba = overlapping[0].last_lba;
    let err = write_gpt(&image, disk_size, guid, &overlapping).unwrap_err();
    assert!(matches!(err, Error::Overlap { .. }), "{err}");

    let mut outside = parts.clone();
    outside[2].last_lba += 1;
    let err = write_gpt(&image, disk_size, guid, &outside).unwrap_err();
    assert!(matches!(err, Error::OutsideUsable { .. }), "{err}");
    outside[2].last_lba -= 1;
    outside[0].first_lba = 33;
    let err = write_gpt(&image, disk_size, guid, &outside).unwrap_err();
    assert!(matches!(err, Error::OutsideUsable { .. }), "{err}");

    let mut same_guid = parts.clone();
    same_guid[2].unique_guid = same_guid[0].unique_guid;
    let err = write_gpt(&image, disk_size, guid, &same_guid).unwrap_err();
    assert!(matches!(err, Error::DuplicateGuid { .. }), "{err}");

    let mut unused = parts.clone();
    unused[0].type_guid = Guid::ZERO;
    let err = write_gpt(&image, disk_size, guid, &unused).unwrap_err();
    assert!(matches!(err, Error::ZeroType { .. }), "{err}");

    let many: Vec<PartitionSpec> = (0..129)
        .map(|i| PartitionSpec {
            name: format!("p{i}"),
            type_guid: LINUX_FS_TYPE,
            unique_guid: derive_guid(b"x", &format!("p{i}")),
            first_lba: 2048 + i,
            last_lba: 2048 + i,
            attributes: 0,
        })
        .collect();
    let err = write_gpt(&image, disk_size, guid, &many).unwrap_err();
    assert!(
        matches!(err, Error::TooManyPartitions { count: 129 }),
        "{err}"
    );
    // Nothing was written by the failed attempts.
    assert_eq!(image.metadata().unwrap().len(), 0);

    image.set_len(disk_size + 512).unwrap();
    parts.truncate(1);
    let err = write_gpt(&image, disk_size, guid, &parts).unwrap_err();
    assert!(matches!(err, Error::FileLongerThanDisk { .. }), "{err}");
}

#[test]
fn a_full_table_round_trips() {
    let disk_size = 200 * MIB;
    let parts: Vec<PartitionSpec> = (0..128)
        .map(|i| PartitionSpec {
            name: format!("partition number {i} with a long nam"),
            type_guid: LINUX_FS_TYPE,
            unique_guid: derive_guid(b"x", &format!("p{i}")),
            first_lba: 2048 + 2048 * i,
            last_lba: 2048 + 2048 * i + 2047,
            attributes: i << 48,
        })
        .collect();
    let image = tempfile::tempfile().unwrap();
    write_gpt(&image, disk_size, Guid::ZERO, &parts).unwrap();
    assert_eq!(read_gpt(&image).unwrap().partitions, parts);
}

fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        println!("note: {name} is not installed; skipping its independent check");
    }
    found
}

#[test]
fn sfdisk_agrees() {
    if !tool("sfdisk") {
        return;
    }
    let disk_size = 100 * MIB;
    let (image, disk_guid, parts) = written_image(disk_size);
    let output = Command::new("sfdisk")
        .arg("--json")
        .arg(image.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // sfdisk complains about a damaged table on stderr but still prints it.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.trim().is_empty(), "sfdisk warned: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let table = &json["partitiontable"];
    assert_eq!(table["label"], "gpt");
    assert_eq!(table["id"], disk_guid.to_string());
    assert_eq!(table["firstlba"], 34);
    assert_eq!(table["lastlba"], disk_size / 512 - 34);
    let listed = table["partitions"].as_array().unwrap();
    assert_eq!(listed.len(), parts.len());
    for (got, want) in listed.iter().zip(&parts) {
        assert_eq!(got["start"], want.first_lba);
        assert_eq!(got["size"], want.last_lba - want.first_lba + 1);
        assert_eq!(got["type"], want.type_guid.to_string());
        assert_eq!(got["uuid"], want.unique_guid.to_string());
        assert_eq!(got["name"], want.name.as_str());
    }
}

#[test]
fn sgdisk_verifies() {
    if !tool("sgdisk") {
        return;
    }
    let disk_size = 100 * MIB;
    let (image, disk_guid, parts) = written_image(disk_size);
    let verify = Command::new("sgdisk")
        .arg("--verify")
        .arg(image.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(stdout.contains("No problems found"), "{stdout}");

    let print = Command::new("sgdisk")
        .arg("--print")
        .arg(image.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&print.stdout);
    assert!(
        stdout.contains(&format!("Disk identifier (GUID): {disk_guid}")),
        "{stdout}"
    );
    for part in &parts {
        let info = Command::new("sgdisk")
            .arg(format!(
                "--info={}",
                parts.iter().position(|p| p == part).unwrap() + 1
            ))
            .arg(image.path())
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(
            info.contains(&format!("Partition GUID code: {}", part.type_guid)),
            "{info}"
        );
        assert!(
            info.contains(&format!("Partition unique GUID: {}", part.unique_guid)),
            "{info}"
        );
        assert!(
            info.contains(&format!("First sector: {} ", part.first_lba)),
            "{info}"
        );
        assert!(
            info.contains(&format!("Last sector: {} ", part.last_lba)),
            "{info}"
        );
        assert!(
            info.contains(&format!("Partition name: '{}'", part.name)),
            "{info}"
        );
        assert!(
            info.contains(&format!("Attribute flags: {:016x}", part.attributes)),
            "{info}"
        );
    }
}
