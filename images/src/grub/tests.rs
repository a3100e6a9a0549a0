//! Tests of driving grub-mkimage, and boots of a hybrid disk in QEMU.

use super::*;

use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::bios::SECTOR;

fn open_rw(path: &Path) -> File {
    File::options().read(true).write(true).open(path).unwrap()
}

#[test]
fn early_config_finds_the_esp_by_label() {
    assert_eq!(
        early_config("ESP").unwrap(),
        "search --no-floppy --set=root --label 'ESP'\nset prefix=($root)/grub\n"
    );
    assert_eq!(
        early_config("MY ESP").unwrap(),
        "search --no-floppy --set=root --label 'MY ESP'\nset prefix=($root)/grub\n"
    );
    for bad in ["", "a'b", "a\nb"] {
        let e = early_config(bad).unwrap_err();
        assert!(matches!(e, Error::BadLabel { .. }), "{bad:?}: {e}");
    }
}

#[test]
fn missing_modules_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["kernel.img", "moddep.lst", "part_gpt.mod"] {
        fs::write(dir.path().join(f), "").unwrap();
    }
    let out = dir.path().join("out.efi");
    let e = efi_image(
        Path::new("/nonexistent/grub-mkimage"),
        dir.path(),
        "ESP",
        &out,
    )
    .unwrap_err();
    let Error::MissingFiles { missing, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(missing.len(), EFI_MODULES.len() - 1);
    assert_eq!(missing[0], "part_msdos.mod");
    assert!(e.to_string().starts_with("finding GRUB files in "), "{e}");
    assert!(
        e.to_string().contains("part_msdos.mod, fat.mod, ext2.mod"),
        "{e}"
    );
    assert!(!out.exists());
}

// ---- With the host's GRUB (Debian grub-common, grub-pc-bin, grub-efi-amd64-bin). ----

const MKIMAGE: &str = "/usr/bin/grub-mkimage";
const BIOS_DIR: &str = "/usr/lib/grub/i386-pc";
const EFI_DIR: &str = "/usr/lib/grub/x86_64-efi";
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

/// Fails with what to install when a host tool is missing.
fn require(paths: &[&str]) {
    let missing: Vec<&&str> = paths.iter().filter(|p| !Path::new(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?}: these tests need the Debian packages grub-common grub-pc-bin \
         grub-efi-amd64-bin dosfstools mtools qemu-system-x86 ovmf"
    );
}

#[test]
fn grub_images_are_reproducible() {
    require(&[MKIMAGE, BIOS_DIR, EFI_DIR]);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.efi"), dir.path().join("b.efi"));
    efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "ESP", &a).unwrap();
    efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "ESP", &b).unwrap();
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "EFI images differ"
    );
    let c = dir.path().join("c.efi");
    efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "OTHER", &c).unwrap();
    assert!(
        fs::read(&a).unwrap() != fs::read(&c).unwrap(),
        "the label is not built in"
    );

    let x = bios_core(Path::new(MKIMAGE), Path::new(BIOS_DIR), "ESP").unwrap();
    let y = bios_core(Path::new(MKIMAGE), Path::new(BIOS_DIR), "ESP").unwrap();
    assert!(x == y, "BIOS images differ");
    assert_eq!(
        x.boot_img[..],
        fs::read(Path::new(BIOS_DIR).join("boot.img")).unwrap()
    );
    assert!(
        bios_boot_sectors(x.core_img.len()) < 2048,
        "{x:?} does not fit 1 MiB"
    );
}

#[test]
fn grub_mkimage_failure_is_reported_and_writes_nothing() {
    require(&[MKIMAGE, EFI_DIR]);
    let dir = tempfile::tempdir().unwrap();
    // Every file grub-mkimage is asked for exists, but none is a module.
    let modules = dir.path().join("x86_64-efi");
    fs::create_dir(&modules).unwrap();
    fs::write(modules.join("kernel.img"), "").unwrap();
    fs::write(modules.join("moddep.lst"), "").unwrap();
    for m in EFI_MODULES {
        fs::write(modules.join(format!("{m}.mod")), "not ELF").unwrap();
    }
    let out = dir.path().join("BOOTX64.EFI");
    let e = efi_image(Path::new(MKIMAGE), &modules, "ESP", &out).unwrap_err();
    assert!(matches!(e, Error::Mkimage { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("running /usr/bin/grub-mkimage -O x86_64-efi: exit status: "),
        "{e}"
    );
    assert!(!out.exists());

    let out = dir.path().join("no/such/dir/BOOTX64.EFI");
    let e = efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "ESP", &out).unwrap_err();
    assert!(e.to_string().starts_with("writing "), "{e}");
    assert!(e.to_string().contains("no/such/dir/BOOTX64.EFI: "), "{e}");
}

// ---- A GPT disk with GRUB for BIOS and UEFI, booted in QEMU (TCG). ----

const BIOS_BOOT_LBA: u64 = 2048;
const BIOS_BOOT_SECTORS: u64 = 2048;
const ESP_LBA: u64 = 4096;
const ESP_SECTORS: u64 = 64 << 11; // 64 MiB
const DISK_SECTORS: u64 = ESP_LBA + ESP_SECTORS + 2048;
const ESP_LABEL: &str = "ESP";
/// The type GUIDs as stored (the first three fields little endian).
const BIOS_BOOT_TYPE: [u8; 16] = *b"Hah!IdontNeedEFI"; // 21686148-6449-6E6F-744E-656564454649
const ESP_TYPE: [u8; 16] = [
    0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
]; // C12A7328-F81F-11D2-BA4B-00A0C93EC93B

/// The menu both firmwares read: the marker names the platform GRUB runs on. The marker text
/// is not in the file, so only GRUB running it can print it. Under OVMF the firmware's
/// console reaches the serial port already; with `terminal_output serial console` there,
/// every line came out twice.
const GRUB_CFG: &str = r#"if [ "$grub_platform" = efi ]; then
  terminal_input console
  terminal_output console
else
  serial --unit=0 --speed=115200
  terminal_input serial
  terminal_output serial
fi
set kind=OK
echo "STRATA-GRUB-${kind}-${grub_platform}"
sleep 30
"#;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A protective MBR and both GPT copies for `parts` (type, first LBA, sector count, name).
fn write_gpt(disk: &File, total: u64, parts: &[([u8; 16], u64, u64, &str)]) {
    let mut mbr = [0u8; SECTOR];
    let e = &mut mbr[446..462];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    e[4] = 0xee;
    e[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&u32::try_from(total - 1).unwrap_or(u32::MAX).to_le_bytes());
    mbr[510..].copy_from_slice(&[0x55, 0xaa]);
    disk.write_all_at(&mbr, 0).unwrap();

    let mut entries = vec![0u8; 128 * 128];
    for (i, (ty, first, len, name)) in parts.iter().enumerate() {
        let e = &mut entries[i * 128..(i + 1) * 128];
        e[..16].copy_from_slice(ty);
        e[16..32].copy_from_slice(&[0x5a, i as u8 + 1, 0x11, 0x22].repeat(4));
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&(first + len - 1).to_le_bytes());
        for (j, u) in name.encode_utf16().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
    }
    let entries_crc = crc32(&entries);
    let header = |current: u64, backup: u64, entries_lba: u64| {
        let mut h = [0u8; SECTOR];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&current.to_le_bytes());
        h[32..40].copy_from_slice(&backup.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&(total - 34).to_le_bytes());
        h[56..72].copy_from_slice(&[0xd1, 0x5c, 0x00, 0x5e].repeat(4));
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    let s = SECTOR as u64;
    disk.write_all_at(&header(1, total - 1, 2), s).unwrap();
    disk.write_all_at(&entries, 2 * s).unwrap();
    disk.write_all_at(&entries, (total - 33) * s).unwrap();
    disk.write_all_at(&header(total - 1, 1, total - 33), (total - 1) * s)
        .unwrap();
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A GPT disk with a BIOS boot partition holding GRUB's core, boot.img in the MBR, and a
/// FAT32 ESP labelled `ESP` holding `grub/grub.cfg` and `EFI/BOOT/BOOTX64.EFI`.
fn hybrid_disk(dir: &Path) -> PathBuf {
    let img = dir.join("disk.img");
    let disk = File::create(&img).unwrap();
    disk.set_len(DISK_SECTORS * SECTOR as u64).unwrap();
    write_gpt(
        &disk,
        DISK_SECTORS,
        &[
            (BIOS_BOOT_TYPE, BIOS_BOOT_LBA, BIOS_BOOT_SECTORS, "bios"),
            (ESP_TYPE, ESP_LBA, ESP_SECTORS, "esp"),
        ],
    );
    drop(disk);

    run(Command::new("mkfs.fat")
        .args(["-F", "32", "-n", ESP_LABEL, "--offset"])
        .arg(ESP_LBA.to_string())
        .arg(&img)
        .arg((ESP_SECTORS / 2).to_string()));
    let at = format!("{}@@{}", img.display(), ESP_LBA * SECTOR as u64);
    let efi = dir.join("BOOTX64.EFI");
    efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), ESP_LABEL, &efi).unwrap();
    let cfg = dir.join("grub.cfg");
    fs::write(&cfg, GRUB_CFG).unwrap();
    run(Command::new("mmd").env("MTOOLS_SKIP_CHECK", "1").args([
        "-i",
        &at,
        "::/grub",
        "::/EFI",
        "::/EFI/BOOT",
    ]));
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-i", &at])
        .arg(&cfg)
        .arg("::/grub/grub.cfg"));
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-i", &at])
        .arg(&efi)
        .arg("::/EFI/BOOT/BOOTX64.EFI"));

    let boot = bios_core(Path::new(MKIMAGE), Path::new(BIOS_DIR), ESP_LABEL).unwrap();
    let mut disk = open_rw(&img);
    let before = {
        let mut b = [0u8; SECTOR];
        disk.read_exact_at(&mut b, 0).unwrap();
        b
    };
    embed_bios(&mut disk, &boot, BIOS_BOOT_LBA, BIOS_BOOT_SECTORS).unwrap();
    let mut after = [0u8; SECTOR];
    disk.read_exact_at(&mut after, 0).unwrap();
    assert_eq!(after[440..], before[440..], "the partition table changed");
    img
}

/// Boots QEMU (q35, TCG, the disk on virtio) with `extra` arguments until `marker` is on
/// the serial port; returns the time it took, or fails with the end of the serial output.
/// (`-nographic` would put the monitor on stdio too, and `-serial stdio` then fails.)
fn boot_until(disk: &Path, extra: &[String], marker: &str, log: &Path) -> Duration {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-machine", "q35", "-accel", "tcg", "-m", "256"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .args(["-nic", "none", "-no-reboot", "-drive"])
        .arg(format!("file={},format=raw,if=virtio", disk.display()))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let found = watch(&mut child, marker, log, Duration::from_secs(90));
    let elapsed = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    if !found {
        let text = String::from_utf8_lossy(&fs::read(log).unwrap_or_default()).into_owned();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "no {marker:?} on the serial port after {elapsed:?}; QEMU stderr: {stderr}\n\
             the serial output ends:\n{}",
            tail.join("\n")
        );
    }
    elapsed
}

/// Copies the child's output to `log` until `marker` appears (true) or QEMU ends or the
/// time is up (false).
fn watch(child: &mut Child, marker: &str, log: &Path, timeout: Duration) -> bool {
    let Some(mut out) = child.stdout.take() else {
        return false;
    };
    let mut file = File::create(log).unwrap();
    let marker = marker.as_bytes().to_vec();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            let _ = file.write_all(&buf[..n]);
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(marker.len()).any(|w| w == marker) {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(timeout).is_ok()
}

#[test]
fn grub_boots_the_disk_on_bios() {
    require(&[MKIMAGE, BIOS_DIR, EFI_DIR, "/usr/bin/qemu-system-x86_64"]);
    let dir = tempfile::tempdir().unwrap();
    let disk = hybrid_disk(dir.path());
    let log = dir.path().join("serial.log");
    let t = boot_until(&disk, &[], "STRATA-GRUB-OK-pc", &log);
    eprintln!("SeaBIOS: GRUB read grub.cfg after {t:?}");
}

#[test]
fn grub_boots_the_disk_on_uefi() {
    require(&[MKIMAGE, BIOS_DIR, EFI_DIR, "/usr/bin/qemu-system-x86_64"]);
    require(&[OVMF_CODE, OVMF_VARS]);
    let dir = tempfile::tempdir().unwrap();
    let disk = hybrid_disk(dir.path());
    let vars = dir.path().join("OVMF_VARS.fd");
    fs::copy(OVMF_VARS, &vars).unwrap();
    let log = dir.path().join("serial.log");
    let extra = [
        "-drive".to_owned(),
        format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
        "-drive".to_owned(),
        format!("if=pflash,format=raw,file={}", vars.display()),
    ];
    let t = boot_until(&disk, &extra, "STRATA-GRUB-OK-efi", &log);
    eprintln!("OVMF: GRUB read grub.cfg after {t:?}");
}
