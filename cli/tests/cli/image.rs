//! `strata image` of the example (GRUB) and of a systemd-boot variant, in the shared store of
//! [`crate::system`]: each format is read back with tools that do not share strata's code
//! (`sfdisk`, `fsck.fat`, `e2fsck`, `debugfs`, `qemu-img`, `tar`), and the same configuration
//! gives the same bytes twice.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_images::fat::{read_fat_tree, FatEntry};
use strata_images::gpt::{read_gpt, BIOS_BOOT_TYPE, ESP_TYPE, LINUX_FS_TYPE};

use crate::system::{example, repo, shared, Shared};
use crate::{run, Output};

/// `strata --store-root SHARED image ARGS...` with a fixed SOURCE_DATE_EPOCH.
fn image(s: &Shared, args: &[&str]) -> Output {
    let mut c = crate::strata();
    c.arg("--store-root")
        .arg(s.root())
        .arg("image")
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("STRATA_DEBIAN_MIRROR");
    run(&mut c, None)
}

/// [`image`] of `configuration` in `format` to `out`.
fn image_of(s: &Shared, configuration: &Path, format: &str, out: &Path) -> Output {
    image(
        s,
        &[
            "-f",
            path(configuration),
            "--format",
            format,
            "-o",
            path(out),
        ],
    )
}

/// The example edited by `edit`, as `dir/configuration.nix` with the lock beside it.
fn variant(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::copy(repo().join("examples/strata.lock"), dir.join("strata.lock")).unwrap();
    let conf = dir.join("configuration.nix");
    fs::write(&conf, edit(fs::read_to_string(example()).unwrap())).unwrap();
    conf
}

fn sh(cmd: &mut Command) -> (bool, String) {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The region `[offset, offset + len)` of `disk` as a file of its own.
fn extract(disk: &Path, offset: u64, len: u64, to: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(disk).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut out = fs::File::create(to).unwrap();
    std::io::copy(&mut f.take(len), &mut out).unwrap();
}

/// What `debugfs -R request` prints on standard output.
fn debugfs(fs_image: &Path, request: &str) -> String {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(request)
        .arg(fs_image)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "debugfs -R {request:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sha256(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    std::io::copy(&mut fs::File::open(p).unwrap(), &mut h).unwrap();
    format!("{:x}", h.finalize())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn raw_disk_with_grub_for_bios_and_uefi() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let raw = work.path().join("disk.raw");
    let o = image_of(&s, &example(), "raw", &raw).ok();
    assert!(o.stderr.contains("grub boot menu"), "{}", o.stderr);

    // The partition table, read by strata's reader and by sfdisk.
    let t = read_gpt(&fs::File::open(&raw).unwrap()).unwrap();
    let types: Vec<_> = t.partitions.iter().map(|p| p.type_guid).collect();
    assert_eq!(types, [BIOS_BOOT_TYPE, ESP_TYPE, LINUX_FS_TYPE]);
    let (ok, dump) = sh(Command::new("sfdisk").arg("--dump").arg(&raw));
    assert!(ok && dump.matches(" : start=").count() == 3, "{dump}");
    // GRUB's boot code in the MBR, the protective partition kept.
    let mbr = &fs::read(&raw).unwrap()[..512];
    assert_eq!(&mbr[510..], [0x55, 0xaa]);
    assert_eq!(mbr[450], 0xee, "the protective MBR partition");
    assert_ne!(&mbr[..440], &[0u8; 440][..], "boot code");

    // The ESP: GRUB's EFI program, the menu, the kernel and initrd by content hash.
    let esp = &t.partitions[1];
    let file = fs::File::open(&raw).unwrap();
    let tree = read_fat_tree(&file, esp.offset(), esp.size()).unwrap();
    let names: Vec<&String> = tree.keys().collect();
    assert!(tree.contains_key("EFI/BOOT/BOOTX64.EFI"), "{names:?}");
    let Some(FatEntry::File(cfg)) = tree.get("grub/grub.cfg") else {
        panic!("no grub/grub.cfg: {names:?}")
    };
    let cfg = String::from_utf8_lossy(cfg);
    assert!(cfg.contains("Generation 1"), "{cfg}");
    assert!(cfg.contains("-strata-system-saguaro/init"), "{cfg}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("EFI/strata/") && n.contains("-vmlinuz-")),
        "{names:?}"
    );
    let esp_file = work.path().join("esp.fat");
    extract(&raw, esp.offset(), esp.size(), &esp_file);
    let (ok, out) = sh(Command::new("fsck.fat").arg("-n").arg(&esp_file));
    assert!(ok, "fsck.fat: {out}");

    // The root file system: clean, labelled for the configuration's root device, holding the
    // configuration, the profile and a store database that names the whole closure.
    let root = &t.partitions[2];
    let root_file = work.path().join("root.ext4");
    extract(&raw, root.offset(), root.size(), &root_file);
    let (ok, out) = sh(Command::new("e2fsck").arg("-fn").arg(&root_file));
    assert!(ok, "e2fsck: {out}");
    let (_, label) = sh(Command::new("e2label").arg(&root_file));
    assert_eq!(label.trim(), "strata");
    let conf = debugfs(&root_file, "cat /etc/strata/configuration.nix");
    assert_eq!(conf, fs::read_to_string(example()).unwrap());
    assert!(debugfs(&root_file, "stat /etc/strata/machine").contains("Type: regular"));
    let profile = debugfs(&root_file, "ls -l /nix/var/nix/profiles");
    assert!(profile.contains("system-1-link"), "{profile}");
    let db = work.path().join("db.sqlite");
    debugfs(
        &root_file,
        &format!("dump /nix/var/nix/db/db.sqlite {}", db.display()),
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let paths: Vec<String> = conn
        .prepare("select path from ValidPaths")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("-strata-system-saguaro")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with("-kernel")), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("linux-image-")),
        "{paths:?}"
    );
    let times: Vec<i64> = conn
        .prepare("select distinct registrationTime from ValidPaths")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(times, [1_700_000_000]);
    // Every path the database names is on the file system.
    let listing = debugfs(&root_file, "ls /nix/store");
    for p in &paths {
        let base = p.rsplit('/').next().unwrap();
        assert!(listing.contains(base), "{base} is registered but missing");
    }

    // Reproducible: the same configuration gives the same bytes.
    let again = work.path().join("again.raw");
    image_of(&s, &example(), "raw", &again).ok();
    assert_eq!(sha256(&raw), sha256(&again), "two builds differ");

    // qcow2: valid, and the same disk.
    let q = work.path().join("disk.qcow2");
    image_of(&s, &example(), "qcow2", &q).ok();
    let (ok, out) = sh(Command::new("qemu-img").arg("check").arg(&q));
    assert!(ok, "qemu-img check: {out}");
    let (ok, out) = sh(Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&raw)
        .arg(&q));
    assert!(ok, "qemu-img compare: {out}");
}

#[test]
fn tarball_and_systemd_boot_and_bad_sizes() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("root.tar.zst");
    image_of(&s, &example(), "tar", &tarball).ok();
    let (ok, list) = sh(Command::new("tar").arg("--zstd").arg("-tvf").arg(&tarball));
    assert!(ok, "tar: {list}");
    for want in [
        "etc/strata/configuration.nix",
        "nix/var/nix/profiles/system-1-link",
        "nix/var/nix/db/db.sqlite",
        "boot/grub/grub.cfg",
        "-strata-system-saguaro/init",
    ] {
        assert!(list.contains(want), "{want} is not in the tarball");
    }
    let conf = list
        .lines()
        .find(|l| l.ends_with("etc/strata/configuration.nix"))
        .unwrap();
    assert!(conf.starts_with("-rw------- "), "{conf}");
    assert!(
        list.lines().all(|l| l.contains("root/root")),
        "every entry is root's"
    );

    // A systemd-boot machine: no BIOS boot partition; systemd-boot and its entries on the ESP.
    let conf = variant(&work.path().join("sd"), |t| {
        t.replace(
            "boot.loader.grub.enable = true;",
            "boot.loader.systemd-boot.enable = true;",
        )
        .replace("  boot.loader.grub.device = \"/dev/vda\";\n", "")
    });
    let raw = work.path().join("sd.raw");
    let o = image_of(&s, &conf, "raw", &raw).ok();
    assert!(o.stderr.contains("systemd-boot boot menu"), "{}", o.stderr);
    let file = fs::File::open(&raw).unwrap();
    let t = read_gpt(&file).unwrap();
    assert_eq!(t.partitions.len(), 2);
    let tree = read_fat_tree(&file, t.partitions[0].offset(), t.partitions[0].size()).unwrap();
    let Some(FatEntry::File(efi)) = tree.get("EFI/BOOT/BOOTX64.EFI") else {
        panic!("no BOOTX64.EFI")
    };
    assert_eq!(&efi[..2], b"MZ");
    assert!(efi.windows(12).any(|w| w == b"systemd-boot"));
    let Some(FatEntry::File(entry)) = tree.get("loader/entries/strata-generation-1.conf") else {
        panic!("no entry: {:?}", tree.keys().collect::<Vec<_>>())
    };
    let entry = String::from_utf8_lossy(entry);
    assert!(entry.contains("options init=/nix/store/"), "{entry}");

    // A size that cannot hold the system is refused before anything is written.
    let small = work.path().join("small.raw");
    let o = image(
        &s,
        &[
            "-f",
            path(&conf),
            "--format",
            "raw",
            "--size",
            "300M",
            "-o",
            path(&small),
        ],
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("needs at least"), "{}", o.stderr);
    assert!(!small.exists());
    let leftovers: Vec<PathBuf> = fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("strata-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // An explicit size that fits is used as given.
    let sized = work.path().join("sized.raw");
    image(
        &s,
        &[
            "-f",
            path(&conf),
            "--format",
            "raw",
            "--size",
            "2G",
            "-o",
            path(&sized),
        ],
    )
    .ok();
    assert_eq!(fs::metadata(&sized).unwrap().len(), 2 << 30);
}

/// `xorriso ARGS...` on an ISO: its report.
fn xorriso(args: &[&str]) -> String {
    let (ok, out) = sh(Command::new("xorriso").args(args));
    assert!(ok, "xorriso {args:?}: {out}");
    out
}

#[test]
fn hybrid_iso_with_a_squashfs_root_for_uefi_and_bios() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let iso = work.path().join("live.iso");
    let o = image_of(&s, &example(), "iso", &iso).ok();
    assert!(o.stderr.contains("grub boot menu"), "{}", o.stderr);
    assert!(
        !o.stderr.contains("no file system is declared at"),
        "a medium needs no /boot: {}",
        o.stderr
    );

    // El Torito for BIOS and UEFI, GRUB's hybrid MBR, the EFI image as a GPT partition.
    let report = xorriso(&[
        "-indev",
        path(&iso),
        "-report_el_torito",
        "plain",
        "-report_system_area",
        "plain",
    ]);
    assert!(report.contains("Volume id    : 'STRATA_LIVE'"), "{report}");
    for want in [
        "El Torito img path :   1  /grub/i386-pc/eltorito.img",
        "El Torito img opts :   1  boot-info-table grub2-boot-info",
        "El Torito img path :   2  /grub/efi.img",
        "GPT partition path :   2  /grub/efi.img",
    ] {
        assert!(report.contains(want), "no {want:?} in {report}");
    }
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("El Torito boot img :   1  BIOS  y   none")),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("El Torito boot img :   2  UEFI  y   none")),
        "{report}"
    );
    assert!(report.contains("grub2-mbr"), "{report}");
    // The MBR's code is the system's own GRUB's boot_hybrid.img (xorriso patches in the LBA of
    // the BIOS image at 432).
    let hybrid = fs::read_dir(s.root().join("nix/store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.contains("-grub-pc-bin-") && !n.ends_with(".drv") && p.is_dir()
        })
        .expect("grub-pc-bin in the store")
        .join("usr/lib/grub/i386-pc/boot_hybrid.img");
    let mbr = &fs::read(&iso).unwrap()[..512];
    assert_eq!(&mbr[..432], &fs::read(&hybrid).unwrap()[..432]);
    assert_eq!(&mbr[510..], [0x55, 0xaa]);

    // The medium's files.
    let medium = work.path().join("medium");
    xorriso(&[
        "-osirrox",
        "on",
        "-indev",
        path(&iso),
        "-extract",
        "/",
        path(&medium),
    ]);
    let cfg = fs::read_to_string(medium.join("grub/grub.cfg")).unwrap();
    assert!(cfg.contains("Generation 1"), "{cfg}");
    assert!(cfg.contains("strata.live=/strata/root.squashfs"), "{cfg}");
    // The example sets no kernel parameters: the live profile's adds to the default consoles
    // rather than replacing them, so the serial console still shows the boot.
    assert!(
        cfg.contains("console=tty0 console=ttyS0,115200"),
        "the live system lost the default consoles:\n{cfg}"
    );
    assert!(cfg.contains("-strata-system-saguaro/init"), "{cfg}");
    let kernels: Vec<String> = fs::read_dir(medium.join("EFI/strata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        kernels.iter().any(|k| k.contains("-vmlinuz-")),
        "{kernels:?}"
    );
    for k in &kernels {
        assert!(
            cfg.contains(&format!("/EFI/strata/{k}")),
            "{k} not in {cfg}"
        );
    }
    // The UEFI boot image: a clean FAT holding GRUB's EFI program, which knows the label.
    let efi_img = medium.join("grub/efi.img");
    let (ok, out) = sh(Command::new("fsck.fat").arg("-n").arg(&efi_img));
    assert!(ok, "fsck.fat: {out}");
    let f = fs::File::open(&efi_img).unwrap();
    let tree = read_fat_tree(&f, 0, f.metadata().unwrap().len()).unwrap();
    let Some(FatEntry::File(efi)) = tree.get("EFI/BOOT/BOOTX64.EFI") else {
        panic!("no BOOTX64.EFI: {:?}", tree.keys().collect::<Vec<_>>())
    };
    assert_eq!(&efi[..2], b"MZ");
    assert!(
        efi.windows(11).any(|w| w == b"STRATA_LIVE"),
        "GRUB's early config names the medium"
    );

    // The root image: the machine's tree, every file root's.
    let sq = medium.join("strata/root.squashfs");
    let (ok, list) = sh(Command::new("unsquashfs").arg("-lls").arg(&sq));
    assert!(ok, "unsquashfs: {list}");
    for want in [
        "squashfs-root/etc/strata/configuration.nix",
        "squashfs-root/etc/strata/machine",
        "squashfs-root/nix/var/nix/db/db.sqlite",
        "squashfs-root/nix/var/nix/profiles/system-1-link",
        "-strata-system-saguaro/init",
    ] {
        assert!(list.contains(want), "{want} is not in the root image");
    }
    let entries: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("squashfs-root"))
        .collect();
    assert!(entries.len() > 1000, "{}", entries.len());
    assert!(
        entries.iter().all(|l| l.contains(" root/root ")),
        "every entry is root's"
    );
    let (ok, conf) = sh(Command::new("unsquashfs")
        .args(["-cat"])
        .arg(&sq)
        .arg("etc/strata/configuration.nix"));
    assert!(ok, "{conf}");
    assert_eq!(conf, fs::read_to_string(example()).unwrap());
    let tree = work.path().join("tree");
    let (ok, out) = sh(Command::new("unsquashfs")
        .arg("-d")
        .arg(&tree)
        .arg(&sq)
        .arg("nix/var/nix/db/db.sqlite"));
    assert!(ok, "{out}");
    let conn = rusqlite::Connection::open(tree.join("nix/var/nix/db/db.sqlite")).unwrap();
    let paths: Vec<String> = conn
        .prepare("select path from ValidPaths")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for p in &paths {
        let base = p.rsplit('/').next().unwrap();
        assert!(
            list.contains(&format!("squashfs-root/nix/store/{base}\n"))
                || list.contains(&format!("squashfs-root/nix/store/{base} ->")),
            "{base} is registered but not in the image"
        );
    }
    let top = paths
        .iter()
        .find(|p| p.ends_with("-strata-system-saguaro"))
        .expect("the toplevel is registered");
    assert!(cfg.contains(&format!("init={top}/init")), "{cfg}");

    // Reproducible.
    let again = work.path().join("again.iso");
    image_of(&s, &example(), "iso", &again).ok();
    assert_eq!(sha256(&iso), sha256(&again), "two builds differ");

    // A volume label ISO 9660 and GRUB's search cannot both take is refused by name, and
    // nothing is written.
    let conf = variant(&work.path().join("bad"), |t| {
        t.replace(
            "  system.stateVersion",
            "  isoImage.volumeID = \"my live disk\";\n  system.stateVersion",
        )
    });
    let bad = work.path().join("bad.iso");
    let o = image_of(&s, &conf, "iso", &bad);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("isoImage.volumeID"), "{}", o.stderr);
    assert!(!bad.exists());
}
