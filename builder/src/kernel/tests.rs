//! Tests of [`super::build_modules_tree`] on a synthetic kernel and, when one is unpacked
//! under `target/bench-data/kernel/`, on Debian's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::initrd::modules::tests::fake_module;
use crate::initrd::modules::{read_left_out, ModuleError, ModulesDir};
use std::process::Command;

fn put(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

/// A kernel's modules directory: ext4 and its dependencies, a sound driver stack, a driver
/// outside `sound/` that needs the sound core, and a module with an alias.
fn synthetic() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("pkg/lib/modules/6.1.0-test");
    // Big enough to compress, and different per module.
    let body = |name: &str| -> Vec<String> { vec![format!("description={}", name.repeat(200))] };
    let m = |name: &str, extra: &[&str]| -> Vec<u8> {
        let mut info: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        info.extend(body(name));
        fake_module(&info.iter().map(String::as_str).collect::<Vec<_>>())
    };
    put(
        &src,
        "kernel/fs/ext4/ext4.ko",
        &m(
            "ext4",
            &[
                "depends=jbd2,mbcache,crc16",
                "softdep=pre: crc32c",
                "alias=fs-ext4",
                "alias=ext3",
            ],
        ),
    );
    put(
        &src,
        "kernel/fs/jbd2/jbd2.ko",
        &m("jbd2", &["depends=crc16"]),
    );
    put(&src, "kernel/fs/mbcache.ko", &m("mbcache", &["depends="]));
    put(&src, "kernel/lib/crc16.ko", &m("crc16", &["depends="]));
    put(
        &src,
        "kernel/crypto/crc32c_generic.ko",
        &m(
            "crc32c",
            &["depends=", "alias=crc32c", "alias=crypto-crc32c"],
        ),
    );
    put(&src, "kernel/sound/core/snd.ko", &m("snd", &["depends="]));
    put(
        &src,
        "kernel/sound/pci/hda/snd-hda-intel.ko",
        &m(
            "hda",
            &["depends=snd", "alias=pci:v00008086d*sv*sd*bc04sc03i*"],
        ),
    );
    put(
        &src,
        "kernel/drivers/platform/x86/needs-snd.ko",
        &m("needs", &["depends=snd_hda_intel"]),
    );
    put(
        &src,
        "kernel/drivers/block/loop.ko",
        &m(
            "loop",
            &[
                "depends=",
                "alias=devname:loop-control",
                "alias=block-major-7-*",
            ],
        ),
    );
    let order = "kernel/fs/mbcache.ko\nkernel/fs/jbd2/jbd2.ko\nkernel/fs/ext4/ext4.ko\n\
                 kernel/lib/crc16.ko\nkernel/sound/core/snd.ko\n\
                 kernel/sound/pci/hda/snd-hda-intel.ko\nkernel/drivers/block/loop.ko\n";
    put(&src, "modules.order", order.as_bytes());
    put(&src, "modules.builtin", b"kernel/fs/fat/vfat.ko\n");
    put(&src, "modules.builtin.modinfo", b"vfat.license=GPL\0");
    (t, src)
}

fn built(filter: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf, TreeSummary) {
    let (t, src) = synthetic();
    let out = t.path().join("out/lib/modules/6.1.0-test");
    let filter: Vec<String> = filter.iter().map(|s| (*s).to_owned()).collect();
    let summary = build_modules_tree(&src, &out, &filter, 2).unwrap();
    (t, src, out, summary)
}

#[test]
fn modules_are_recompressed_as_xz_with_crc32_and_round_trip() {
    let (_t, src, out, summary) = built(&[]);
    assert_eq!((summary.kept, summary.left_out), (9, 0));
    assert!(summary.bytes_out * 3 < summary.bytes_in, "{summary:?}");
    for rel in [
        "kernel/fs/ext4/ext4.ko",
        "kernel/sound/pci/hda/snd-hda-intel.ko",
        "kernel/drivers/block/loop.ko",
    ] {
        assert!(!out.join(rel).exists(), "{rel} is left uncompressed");
        let packed = fs::read(out.join(format!("{rel}.xz"))).unwrap();
        // The stream header: magic, then flags 00 01 (CRC32), as the kernel and kmod read.
        assert_eq!(&packed[..6], b"\xfd7zXZ\0");
        assert_eq!(&packed[6..8], &[0, 1], "{rel}: not a CRC32 check");
        let original = fs::read(src.join(rel)).unwrap();
        assert_eq!(crate::compress::decompress(&packed).unwrap(), original);
        // xz itself, where installed, reads the stream back to the same bytes.
        match Command::new("xz")
            .args(["-d", "-c"])
            .arg(out.join(format!("{rel}.xz")))
            .env_clear()
            .output()
        {
            Ok(o) => {
                assert!(
                    o.status.success(),
                    "xz -d: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                assert_eq!(o.stdout, original, "xz -d of {rel}");
            }
            Err(_) => eprintln!("xz not installed: its check is skipped"),
        }
    }
}

#[test]
fn the_text_indexes_follow_depmods_formats() {
    let (_t, _src, out, _) = built(&[]);
    let dep = fs::read_to_string(out.join("modules.dep")).unwrap();
    assert_eq!(
        dep,
        "kernel/crypto/crc32c_generic.ko.xz:\n\
         kernel/drivers/block/loop.ko.xz:\n\
         kernel/drivers/platform/x86/needs-snd.ko.xz: kernel/sound/pci/hda/snd-hda-intel.ko.xz kernel/sound/core/snd.ko.xz\n\
         kernel/fs/ext4/ext4.ko.xz: kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz\n\
         kernel/fs/jbd2/jbd2.ko.xz: kernel/lib/crc16.ko.xz\n\
         kernel/fs/mbcache.ko.xz:\n\
         kernel/lib/crc16.ko.xz:\n\
         kernel/sound/core/snd.ko.xz:\n\
         kernel/sound/pci/hda/snd-hda-intel.ko.xz: kernel/sound/core/snd.ko.xz\n"
    );
    let alias = fs::read_to_string(out.join("modules.alias")).unwrap();
    assert!(
        alias.contains("\nalias fs-ext4 ext4\nalias ext3 ext4\n"),
        "{alias}"
    );
    assert!(alias.contains("\nalias block-major-7-* loop\n"), "{alias}");
    let softdep = fs::read_to_string(out.join("modules.softdep")).unwrap();
    assert!(
        softdep.ends_with("\nsoftdep ext4 pre: crc32c\n"),
        "{softdep}"
    );
    assert_eq!(
        fs::read(out.join("modules.builtin.modinfo")).unwrap(),
        b"vfat.license=GPL\0"
    );
    assert_eq!(
        fs::read_to_string(out.join("modules.order"))
            .unwrap()
            .lines()
            .count(),
        7
    );
    // The tree is a modules directory the initrd builder reads: dependencies from modules.dep,
    // the soft dependency through modules.softdep and modules.alias.
    let dir = ModulesDir::open(&out).unwrap();
    assert!(dir.has_modules_dep());
    let c = dir.closure(&["ext4", "vfat"]).unwrap();
    let names: Vec<&str> = c.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["crc32c_generic", "crc16", "jbd2", "mbcache", "ext4"]
    );
    assert_eq!(c.builtin, ["vfat"]);
}

#[test]
fn kmods_binary_indexes_answer_modprobes_lookups() {
    let (_t, _src, out, _) = built(&["sound"]);
    let dep = fs::read(out.join("modules.dep.bin")).unwrap();
    assert_eq!(
        kmod_index::lookup(&dep, "ext4").unwrap(),
        ["kernel/fs/ext4/ext4.ko.xz: kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz"]
    );
    assert_eq!(
        kmod_index::lookup(&dep, "loop").unwrap(),
        ["kernel/drivers/block/loop.ko.xz:"]
    );
    assert_eq!(kmod_index::lookup(&dep, "snd"), None, "left out");
    let alias = fs::read(out.join("modules.alias.bin")).unwrap();
    // Normalised as kmod matches: dashes are underscores.
    assert_eq!(kmod_index::lookup(&alias, "fs_ext4").unwrap(), ["ext4"]);
    assert_eq!(
        kmod_index::lookup(&alias, "block_major_7_*").unwrap(),
        ["loop"]
    );
    let builtin = fs::read(out.join("modules.builtin.bin")).unwrap();
    assert_eq!(kmod_index::lookup(&builtin, "vfat").unwrap(), [""]);
}

#[test]
fn a_filter_leaves_out_its_directories_and_what_needs_them() {
    let (_t, _src, out, summary) = built(&["sound"]);
    assert_eq!((summary.kept, summary.left_out), (6, 3));
    for rel in [
        "kernel/sound/core/snd.ko.xz",
        "kernel/drivers/platform/x86/needs-snd.ko.xz",
    ] {
        assert!(!out.join(rel).exists(), "{rel}");
    }
    assert!(!out.join("kernel/sound").exists());
    let dep = fs::read_to_string(out.join("modules.dep")).unwrap();
    assert!(!dep.contains("snd"), "{dep}");
    assert!(!fs::read_to_string(out.join("modules.order"))
        .unwrap()
        .contains("sound"));
    assert_eq!(
        fs::read_to_string(out.join(LEFT_OUT)).unwrap(),
        "needs_snd sound snd_hda_intel\nsnd sound\nsnd_hda_intel sound\n"
    );
    let why = read_left_out(&out).unwrap();
    assert_eq!(
        why["needs_snd"],
        LeftOut {
            directory: "sound".into(),
            through: Some("snd_hda_intel".into())
        }
    );
    // Asking the tree for a left-out module names the module, the directory and the option.
    let dir = ModulesDir::open(&out).unwrap();
    let e = dir
        .closure(&["ext4", "snd-hda-intel", "needs_snd"])
        .unwrap_err();
    assert!(matches!(e, ModuleError::LeftOut { .. }), "{e}");
    let text = e.to_string();
    for part in [
        "snd-hda-intel (in kernel/sound/)",
        "needs_snd (needs snd_hda_intel, in kernel/sound/)",
        "boot.kernelModuleFilter",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    // Unknown names are still reported as unknown.
    let e = dir.closure(&["nonesuch"]).unwrap_err();
    assert!(matches!(e, ModuleError::Unknown { .. }), "{e}");
}

#[test]
fn the_output_is_the_same_every_time() {
    let (_t1, _, out1, _) = built(&["sound"]);
    let (_t2, _, out2, _) = built(&["sound"]);
    let list = |root: &Path| {
        let mut files = Vec::new();
        scan_all(root, root, &mut files);
        files.sort();
        files
            .into_iter()
            .map(|p| (p.clone(), fs::read(root.join(&p)).unwrap()))
            .collect::<Vec<_>>()
    };
    let a = list(&out1);
    assert!(a.len() > 10);
    assert_eq!(a, list(&out2));
}

fn scan_all(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scan_all(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn bad_filters_and_broken_trees_are_refused() {
    let (t, src) = synthetic();
    let out = t.path().join("out");
    for bad in ["", "/sound", "sound/../drivers", "a//b", ".", "a b", "x\ny"] {
        let e = build_modules_tree(&src, &out, &[bad.to_owned()], 1).unwrap_err();
        assert!(matches!(e, KernelError::BadFilter(_)), "{bad:?}: {e}");
    }
    let e = build_modules_tree(&src, &out, &["drivers/gpu".to_owned()], 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "module filter entry \"drivers/gpu\" names no directory of the kernel's modules \
         (kernel/drivers/gpu)"
    );
    put(&src, "kernel/x/bad.ko", &fake_module(&["depends=nonesuch"]));
    let e = build_modules_tree(&src, &out, &[], 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad (kernel/x/bad.ko) depends on \"nonesuch\""),
        "{e}"
    );
    put(&src, "kernel/x/bad.ko", b"not an ELF file");
    let e = build_modules_tree(&src, &out, &[], 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kernel/x/bad.ko") && e.contains("not an ELF file"),
        "{e}"
    );
    put(&src, "kernel/x/bad.ko", &fake_module(&["depends=bad2"]));
    put(&src, "kernel/x/bad2.ko", &fake_module(&["depends=bad"]));
    let e = build_modules_tree(&src, &out, &[], 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cycle: bad -> bad2 -> bad"), "{e}");
}

/// Debian's kernel, when `target/bench-data/kernel/unpacked` holds one (`dpkg-deb -x` of
/// `linux-image-<version>-amd64`): sizes with and without the QEMU guest profile's filter.
/// Minutes of compression, so only on request:
/// `cargo test -p strata-builder --lib kernel::tests::real -- --ignored --nocapture`.
#[test]
#[ignore = "compresses Debian's whole kernel (minutes)"]
fn real_debian_kernel_sizes() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-data/kernel/unpacked/lib/modules");
    let base = std::env::var_os("STRATA_BENCH_KERNEL_MODULES")
        .map(PathBuf::from)
        .unwrap_or(base);
    let Some(src) = fs::read_dir(&base)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path())
    else {
        eprintln!("no kernel modules tree under {}: skipped", base.display());
        return;
    };
    // The list of modules/profiles/qemu-guest.nix.
    let profile = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/profiles/qemu-guest.nix"),
    )
    .unwrap();
    let list = profile
        .split("boot.kernelModuleFilter = [")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap();
    let filter: Vec<String> = list
        .split_whitespace()
        .map(|s| s.trim_matches('"').to_owned())
        .collect();
    assert!(filter.contains(&"sound".to_owned()), "{filter:?}");
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (what, f) in [("no filter", &[][..]), ("qemu-guest filter", &filter[..])] {
        let t = tempfile::tempdir().unwrap();
        // STRATA_BENCH_KERNEL_KEEP=<dir> keeps the trees (for kmod's own tools to read).
        let keep = std::env::var_os("STRATA_BENCH_KERNEL_KEEP").map(PathBuf::from);
        let version = src.file_name().unwrap();
        let out = match &keep {
            Some(k) => k
                .join(what.replace(' ', "-"))
                .join("lib/modules")
                .join(version),
            None => t.path().join("lib/modules").join(version),
        };
        let start = std::time::Instant::now();
        let s = build_modules_tree(&src, &out, f, jobs).unwrap();
        eprintln!(
            "{what}: {} kept, {} left out; {} bytes of modules -> {} bytes ({:.2}x) in {:.1} s on {jobs} threads",
            s.kept,
            s.left_out,
            s.bytes_in,
            s.bytes_out,
            s.bytes_in as f64 / s.bytes_out.max(1) as f64,
            start.elapsed().as_secs_f64()
        );
        let dir = ModulesDir::open(&out).unwrap();
        let c = dir
            .closure(&[
                "virtio_blk",
                "ext4",
                "virtio_pci",
                "sd_mod",
                "dummy",
                "loop",
            ])
            .unwrap();
        eprintln!(
            "closure: {:?}",
            c.modules.iter().map(|m| &m.name).collect::<Vec<_>>()
        );
        // What stage 1 would spend if the initrd carried its modules compressed.
        let start = std::time::Instant::now();
        let (mut packed, mut plain) = (0, 0);
        for m in &c.modules {
            let data = fs::read(out.join(&m.path)).unwrap();
            packed += data.len();
            plain += crate::compress::decompress(&data).unwrap().len();
        }
        eprintln!(
            "the closure's {} modules: {packed} bytes as xz, {plain} decompressed in {:.0} ms",
            c.modules.len(),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
}

#[test]
fn the_initrd_stages_the_compressed_modules_decompressed() {
    let (_t, src, out, _) = built(&[]);
    let dir = ModulesDir::open(&out).unwrap();
    let c = dir.closure(&["ext4"]).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let staged = dir.stage_with(&c, dest.path(), true).unwrap();
    for rel in [
        "kernel/fs/ext4/ext4.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/crypto/crc32c_generic.ko",
    ] {
        assert_eq!(
            fs::read(staged.join(rel)).unwrap(),
            fs::read(src.join(rel)).unwrap(),
            "{rel}"
        );
        assert!(!staged.join(format!("{rel}.xz")).exists());
    }
    let dep = fs::read_to_string(staged.join("modules.dep")).unwrap();
    assert!(!dep.contains(".xz"), "{dep}");
    assert!(
        dep.contains(
            "kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko\n"
        ),
        "{dep}"
    );
    // Read back, the staged tree gives the same modules in the same order.
    let again = ModulesDir::open(&staged).unwrap();
    let names = |c: &crate::initrd::modules::ModuleClosure| -> Vec<String> {
        c.modules.iter().map(|m| m.name.clone()).collect()
    };
    // (The staged tree has no modules.softdep: the soft dependency is in its list already.)
    let mut expected = names(&c);
    expected.retain(|n| n != "crc32c_generic");
    let mut got = names(&again.closure(&["ext4"]).unwrap());
    got.retain(|n| n != "crc32c_generic");
    assert_eq!(got, expected);
}
