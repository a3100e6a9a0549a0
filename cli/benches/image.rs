//! `strata image` against the standard tools by hand, on the same tree, in one run.
//!
//! ```text
//! cargo bench -p strata-cli --bench image
//! ```
//!
//! The example configuration is built (packages from the Debian archive the host's apt
//! sources name) and staged once with `strata_images::assemble::stage`: the root tree (the
//! closure, its database, the profile) and the ESP tree (the menu, the kernel and initrd, GRUB).
//! Then, best of `STRATA_BENCH_REPS` (3):
//!
//! - strata: `write_raw` (GPT, GRUB's BIOS boot code, FAT through fatfs, ext4 through
//!   `mkfs.ext4 -d` at the partition's offset with its times pinned);
//! - by hand: `sgdisk` for the same three partitions, `mkfs.vfat` and `mcopy -s` into a
//!   separate ESP file copied in with `dd`, `mkfs.ext4 -d` into a separate root file copied in
//!   with `dd` (the usual recipe; no boot code, no pinned times, so not reproducible);
//! - qcow2 from the raw disk: `qemu-img convert` in both columns (strata uses it too);
//! - the ISO from the staged live variant: strata's `write_iso` (squashfs, GRUB's images from
//!   the system's packages, its own EFI image, `xorriso`) against `mksquashfs -comp zstd`
//!   (zstd's default level, as a user would write it) and `grub-mkrescue` (the host's GRUB,
//!   mtools, `xorriso`);
//! - the whole `strata image` command for each format (evaluation, an up-to-date build,
//!   staging, writing), and the image sizes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use strata_images::assemble::{disk_sizes, stage, write_raw, Format, ImageIds, ImageSpec};
use strata_images::iso::{write_iso, LIVE_PROFILE, ROOT_IMAGE};
use strata_store::{LocalStore, StoreDir};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const MIB: u64 = 1 << 20;

fn sh(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn best(v: &[Duration]) -> f64 {
    v.iter().min().unwrap().as_secs_f64()
}

fn allocated(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).unwrap().blocks() * 512
}

/// `strata build` of `conf` into `store_root`: the toplevel's path.
fn build(store_root: &Path, conf: &Path) -> String {
    let o = Command::new(STRATA)
        .arg("--store-root")
        .arg(store_root)
        .args(["build", "--no-out-link", "-f"])
        .arg(conf)
        .env_remove("STRATA_DEBIAN_MIRROR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store_root = dir.path().join("store");
    let conf = common::repo().join("examples/configuration.nix");
    let top = build(&store_root, &conf);
    let store = LocalStore::open(&store_root, StoreDir::default()).unwrap();
    let toplevel = store.parse_path(&top).unwrap();
    let out = dir.path().join("unused");
    let spec = ImageSpec {
        store: &store,
        toplevel: &toplevel,
        configuration: &conf,
        lock: None,
        format: Format::Raw,
        size: None,
        free: 512 * MIB,
        epoch: 1,
        out: &out,
    };
    let staged = stage(&spec).unwrap();
    let sizes = disk_sizes(&staged, None, 512 * MIB).unwrap();
    let ids = ImageIds::new(&toplevel);

    let (mut ours, mut theirs, mut q_ours) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..common::reps() {
        let raw = dir.path().join("strata.raw");
        let _ = fs::remove_file(&raw);
        let t = Instant::now();
        write_raw(&staged, &sizes, &ids, 1, &raw).unwrap();
        ours.push(t.elapsed());
        let q = dir.path().join("strata.qcow2");
        let _ = fs::remove_file(&q);
        let t = Instant::now();
        strata_images::assemble::write_qcow2(&raw, &q).unwrap();
        q_ours.push(t.elapsed());

        // By hand, the same layout.
        let hand = dir.path().join("hand.raw");
        let esp = dir.path().join("esp.fat");
        let root = dir.path().join("root.ext4");
        for f in [&hand, &esp, &root] {
            let _ = fs::remove_file(f);
        }
        let t = Instant::now();
        fs::File::create(&hand)
            .unwrap()
            .set_len(sizes.disk)
            .unwrap();
        sh(Command::new("sgdisk")
            .arg(format!("--new=1:2048:+{}K", sizes.bios / 1024))
            .arg("--typecode=1:EF02")
            .arg(format!("--new=2:0:+{}K", sizes.esp / 1024))
            .arg("--typecode=2:EF00")
            .arg("--new=3:0:0")
            .arg("--typecode=3:8300")
            .arg(&hand));
        fs::File::create(&esp).unwrap().set_len(sizes.esp).unwrap();
        sh(Command::new("mkfs.vfat")
            .args(["-F", "32", "-n", "ESP"])
            .arg(&esp));
        let mut mcopy = Command::new("mcopy");
        mcopy.arg("-s").arg("-i").arg(&esp);
        for e in fs::read_dir(&staged.esp).unwrap() {
            mcopy.arg(e.unwrap().path());
        }
        mcopy.arg("::");
        sh(&mut mcopy);
        fs::File::create(&root)
            .unwrap()
            .set_len(sizes.root)
            .unwrap();
        sh(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "strata", "-d"])
            .arg(&staged.root)
            .arg(&root));
        let esp_start = 2048 + sizes.bios / 512;
        let root_start = esp_start + sizes.esp / 512;
        for (f, start) in [(&esp, esp_start), (&root, root_start)] {
            sh(Command::new("dd")
                .arg(format!("if={}", f.display()))
                .arg(format!("of={}", hand.display()))
                .args([
                    "bs=4M",
                    "conv=notrunc,sparse",
                    "oflag=seek_bytes",
                    "status=none",
                ])
                .arg(format!("seek={}", start * 512)));
        }
        theirs.push(t.elapsed());
    }
    let raw = dir.path().join("strata.raw");
    let q = dir.path().join("strata.qcow2");

    // The ISO: the example's live variant, staged once.
    let live_conf_dir = dir.path().join("live-conf");
    fs::create_dir_all(&live_conf_dir).unwrap();
    fs::copy(
        common::repo().join("examples/strata.lock"),
        live_conf_dir.join("strata.lock"),
    )
    .unwrap();
    let live_conf = live_conf_dir.join("configuration.nix");
    fs::write(
        &live_conf,
        format!(
            "{{ imports = [ {:?} {:?} ]; }}\n",
            conf.display().to_string(),
            common::repo()
                .join("modules")
                .join(LIVE_PROFILE)
                .display()
                .to_string()
        ),
    )
    .unwrap();
    let live_top = store.parse_path(&build(&store_root, &live_conf)).unwrap();
    let live_spec = ImageSpec {
        toplevel: &live_top,
        format: Format::Iso,
        ..spec
    };
    let live = stage(&live_spec).unwrap();
    let live_ids = ImageIds::new(&live_top);
    let (mut iso_ours, mut iso_theirs) = (Vec::new(), Vec::new());
    let iso = dir.path().join("strata.iso");
    let hand_iso = dir.path().join("hand.iso");
    for _ in 0..common::reps() {
        let _ = fs::remove_file(&iso);
        let t = Instant::now();
        write_iso(&live, &live_ids, 1, &iso).unwrap();
        iso_ours.push(t.elapsed());

        let medium = dir.path().join("hand-medium");
        let _ = fs::remove_dir_all(&medium);
        let _ = fs::remove_file(&hand_iso);
        let t = Instant::now();
        sh(Command::new("cp").arg("-a").arg(&live.esp).arg(&medium));
        let squashfs = medium.join(ROOT_IMAGE);
        fs::create_dir_all(squashfs.parent().unwrap()).unwrap();
        sh(Command::new("mksquashfs")
            .arg(&live.root)
            .arg(&squashfs)
            .args(["-noappend", "-no-progress", "-quiet", "-comp", "zstd"]));
        sh(Command::new("grub-mkrescue")
            .arg("-o")
            .arg(&hand_iso)
            .arg(&medium)
            .args(["--", "-volid", "STRATA_LIVE"]));
        iso_theirs.push(t.elapsed());
    }

    // The whole command, per format.
    let mut whole = Vec::new();
    for format in ["raw", "qcow2", "tar", "iso"] {
        let out = dir.path().join(format!("whole.{format}"));
        let t = Instant::now();
        let o = Command::new(STRATA)
            .arg("--store-root")
            .arg(&store_root)
            .args(["image", "--format", format, "-f"])
            .arg(&conf)
            .arg("-o")
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        whole.push((format, t.elapsed(), out));
    }

    println!("| case | strata | by hand (sgdisk, mkfs.vfat + mcopy, mkfs.ext4 -d, dd) |");
    println!("|---|---|---|");
    println!(
        "| raw disk from the staged tree ({} MiB disk) | {:.2} s | {:.2} s |",
        sizes.disk / MIB,
        best(&ours),
        best(&theirs)
    );
    println!(
        "| qcow2 from the raw disk (qemu-img convert) | {:.2} s | {:.2} s (the same tool) |",
        best(&q_ours),
        best(&q_ours)
    );
    println!(
        "| hybrid ISO from the staged live system ({:.1} MiB; by hand {:.1} MiB) | {:.2} s | \
         {:.2} s (mksquashfs, grub-mkrescue) |",
        fs::metadata(&iso).unwrap().len() as f64 / MIB as f64,
        fs::metadata(&hand_iso).unwrap().len() as f64 / MIB as f64,
        best(&iso_ours),
        best(&iso_theirs)
    );
    println!();
    println!("| `strata image` | time | file size | allocated |");
    println!("|---|---|---|---|");
    for (format, t, out) in &whole {
        println!(
            "| {format} | {:.2} s | {:.1} MiB | {:.1} MiB |",
            t.as_secs_f64(),
            fs::metadata(out).unwrap().len() as f64 / MIB as f64,
            allocated(out) as f64 / MIB as f64
        );
    }
    let _ = (raw, q);
}
