//! Byte-level tests of the BIOS embedding on synthetic images (no tools needed).

use super::*;

use std::path::PathBuf;

/// A boot.img-shaped sector: a pattern, with GRUB's bytes where we check them.
fn fake_boot_img() -> [u8; SECTOR] {
    let mut b = [0u8; SECTOR];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i * 7 + 3) as u8;
    }
    b[0x5a..0x5c].copy_from_slice(&[0x00, 0x80]);
    b[0x66..0x68].copy_from_slice(&[0xeb, 0x05]);
    b[510..].copy_from_slice(&[0x55, 0xaa]);
    b
}

/// A core image of 3 sectors and 100 bytes, a pattern everywhere but diskboot's segment.
fn fake_core_img() -> Vec<u8> {
    let mut c: Vec<u8> = (0..3 * SECTOR + 100).map(|i| (i * 13 + 1) as u8).collect();
    c[0x1fe..0x200].copy_from_slice(&[0x20, 0x08]);
    c
}

/// A 1 MiB disk image: a pattern everywhere, an MBR with the boot signature.
fn fake_disk(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut d: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    d[510..512].copy_from_slice(&[0x55, 0xaa]);
    let path = dir.join("disk.img");
    fs::write(&path, &d).unwrap();
    (path, d)
}

fn open_rw(path: &Path) -> File {
    File::options().read(true).write(true).open(path).unwrap()
}

#[test]
fn embed_bios_patches_exactly_the_documented_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = fake_disk(dir.path());
    let boot = BiosBoot {
        boot_img: fake_boot_img(),
        core_img: fake_core_img(),
    };
    let lba = 100u64;
    embed_bios(&mut open_rw(&path), &boot, lba, 4).unwrap();
    let after = fs::read(&path).unwrap();

    // What grub-bios-setup would leave, written out independently of the code under test.
    let mut want = before.clone();
    want[..440].copy_from_slice(&boot.boot_img[..440]);
    want[0x5c..0x64].copy_from_slice(&[100, 0, 0, 0, 0, 0, 0, 0]);
    want[0x64] = 0xff;
    want[0x66..0x68].copy_from_slice(&[0x90, 0x90]);
    let at = 100 * SECTOR;
    want[at..at + 4 * SECTOR].fill(0);
    want[at..at + boot.core_img.len()].copy_from_slice(&boot.core_img);
    want[at + 0x1e8..at + 0x1f4].fill(0);
    want[at + 0x1f4..at + 0x1fc].copy_from_slice(&[101, 0, 0, 0, 0, 0, 0, 0]);
    want[at + 0x1fc..at + 0x1fe].copy_from_slice(&[3, 0]);
    want[at + 0x1fe..at + 0x200].copy_from_slice(&[0x20, 0x08]);
    assert!(after == want, "{}", first_difference(&after, &want));
    assert_eq!(after[440..512], before[440..512]);
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(
            "first difference at byte {i:#x}: {:#04x} != {:#04x}",
            a[i], b[i]
        ),
        None => format!("lengths {} != {}", a.len(), b.len()),
    }
}

#[test]
fn embed_bios_refuses_and_leaves_the_disk_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = fake_disk(dir.path());
    let boot = BiosBoot {
        boot_img: fake_boot_img(),
        core_img: fake_core_img(),
    };
    let unchanged = || assert!(fs::read(&path).unwrap() == before, "the disk changed");

    let e = embed_bios(&mut open_rw(&path), &boot, 100, 3).unwrap_err();
    assert!(matches!(
        e,
        Error::CoreTooLarge {
            sectors: 4,
            lba: 100,
            capacity: 3
        }
    ));
    assert_eq!(
        e.to_string(),
        "embedding GRUB: core.img needs 4 sectors but the BIOS boot partition at LBA 100 \
         has 3"
    );
    unchanged();

    let e = embed_bios(&mut open_rw(&path), &boot, 0, 100).unwrap_err();
    assert!(matches!(e, Error::BadDisk { .. }), "{e}");
    unchanged();

    let e = embed_bios(&mut open_rw(&path), &boot, 2047, 100).unwrap_err();
    assert!(e.to_string().contains("ends at byte"), "{e}");
    unchanged();

    let big = BiosBoot {
        boot_img: fake_boot_img(),
        core_img: {
            let mut c = vec![0u8; 900 * SECTOR];
            c[0x1fe..0x200].copy_from_slice(&[0x20, 0x08]);
            c
        },
    };
    let e = embed_bios(&mut open_rw(&path), &big, 34, 2000).unwrap_err();
    assert!(
        matches!(e, Error::CoreTooLargeToLoad { sectors: 900 }),
        "{e}"
    );
    unchanged();

    let not_core = BiosBoot {
        boot_img: fake_boot_img(),
        core_img: vec![0u8; 3 * SECTOR],
    };
    let e = embed_bios(&mut open_rw(&path), &not_core, 100, 10).unwrap_err();
    assert!(matches!(e, Error::BadCoreImg { .. }), "{e}");
    unchanged();

    let mut not_boot = boot.clone();
    not_boot.boot_img[0x66] = 0x31;
    let e = embed_bios(&mut open_rw(&path), &not_boot, 100, 10).unwrap_err();
    assert!(e.to_string().contains("drive check"), "{e}");
    unchanged();

    let mut d = before.clone();
    d[510] = 0;
    fs::write(&path, &d).unwrap();
    let e = embed_bios(&mut open_rw(&path), &boot, 100, 10).unwrap_err();
    assert!(
        e.to_string().contains("write the protective MBR first"),
        "{e}"
    );
    assert!(fs::read(&path).unwrap() == d, "the disk changed");
}

#[test]
fn bios_boot_sectors_round_up() {
    assert_eq!(bios_boot_sectors(0), 0);
    assert_eq!(bios_boot_sectors(1), 1);
    assert_eq!(bios_boot_sectors(512), 1);
    assert_eq!(bios_boot_sectors(513), 2);
    assert_eq!(bios_boot_sectors(174_688), 342);
}
