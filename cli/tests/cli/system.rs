//! `strata build` of `examples/configuration.nix` with `examples/strata.lock`: the packages
//! come from the Debian archive the host's apt sources name (as a user's build gets them), so
//! these tests need that archive. They share one store (the first build fetches the kernel
//! once) and run one at a time.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use strata_builder::bootspec::validate_bootspec;
use strata_builder::compress::decompress;
use strata_builder::initrd::cpio::read_newc;
use strata_builder::toplevel::{ActivationManifest, PasswordSource};
use strata_store::local::delete_tree;

use crate::{run, Output};

pub(crate) struct Shared {
    dir: PathBuf,
}

impl Shared {
    pub(crate) fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn store(&self) -> PathBuf {
        self.root().join("nix/store")
    }

    /// The physical path of a logical store path (or a path below one).
    pub(crate) fn real(&self, logical: &str) -> PathBuf {
        self.root().join(logical.trim_start_matches('/'))
    }
}

/// The shared store, locked for the caller.
///
/// It lives in `CARGO_TARGET_TMPDIR/cli-shared-stores/pid-<pid>`: a static is never dropped,
/// so a temporary directory would be left behind by every run (over 600 MiB each). Each run
/// removes the stores of runs whose process is gone.
pub(crate) fn shared() -> MutexGuard<'static, Shared> {
    static SHARED: OnceLock<Mutex<Shared>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-shared-stores");
            fs::create_dir_all(&base).unwrap();
            for e in fs::read_dir(&base).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let gone = name
                    .strip_prefix("pid-")
                    .is_none_or(|pid| !Path::new("/proc").join(pid).exists());
                if gone {
                    let _ = delete_tree(&e.path());
                }
            }
            let dir = base.join(format!("pid-{}", std::process::id()));
            let _ = delete_tree(&dir);
            fs::create_dir_all(&dir).unwrap();
            Mutex::new(Shared { dir })
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

pub(crate) fn example() -> PathBuf {
    repo().join("examples/configuration.nix")
}

/// `strata --store-root ROOT build ARGS...`
pub(crate) fn build(s: &Shared, args: &[&str]) -> Output {
    let mut c = crate::strata();
    c.arg("--store-root").arg(s.root()).arg("build").args(args);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    run(&mut c, None)
}

/// The `.drv` paths a build's progress lines say were built.
fn built_drvs(o: &Output) -> Vec<String> {
    o.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("built "))
        .map(str::to_owned)
        .collect()
}

/// Whether an ELF file asks for a program interpreter (a dynamic loader).
fn has_interpreter(file: &Path) -> bool {
    let b = fs::read(file).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{} is not ELF", file.display());
    assert_eq!(b[4], 2, "not ELF64");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == 3 // PT_INTERP
    })
}

pub(crate) fn link_target(p: &Path) -> String {
    fs::read_link(p)
        .unwrap_or_else(|e| panic!("{} is not a link: {e}", p.display()))
        .to_string_lossy()
        .into_owned()
}

/// Every file under `dir` whose contents include `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let data = fs::read(e.path()).unwrap();
                if data.windows(needle.len()).any(|w| w == needle) {
                    hits.push(e.path());
                }
            }
        }
    }
    hits
}

#[test]
fn example_toplevel_has_every_part() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let result = work.path().join("result");
    let o = build(
        &s,
        &[
            "-f",
            example().to_str().unwrap(),
            "-o",
            result.to_str().unwrap(),
        ],
    )
    .ok();
    let top = o.line();
    assert!(
        top.starts_with("/nix/store/") && top.ends_with("-strata-system-saguaro"),
        "{top}"
    );
    assert_eq!(link_target(&result), top, "result links to the toplevel");
    let t = s.real(&top);

    // The kernel, its modules and version.
    let kernel = link_target(&t.join("kernel"));
    let version = fs::read_to_string(t.join("kernel-version")).unwrap();
    let version = version.trim_end();
    assert!(version.ends_with("-amd64"), "{version}");
    assert!(
        kernel.ends_with(&format!("/boot/vmlinuz-{version}")),
        "{kernel}"
    );
    let image = fs::read(s.real(&kernel)).unwrap();
    assert_eq!(&image[0x202..0x206], b"HdrS", "a bzImage");
    // GRUB's modules for both firmwares come with the system.
    let loaders: BTreeSet<String> = fs::read_dir(t.join("boot-loader"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        loaders.iter().any(|n| n.starts_with("grub-pc-bin-"))
            && loaders.iter().any(|n| n.starts_with("grub-efi-amd64-bin-")),
        "{loaders:?}"
    );
    assert!(s
        .real(&link_target(
            &t.join("boot-loader").join(loaders.iter().next().unwrap())
        ))
        .join("usr/lib/grub")
        .is_dir());
    // The modules are strata's recompressed tree, not the package (which leaves the closure).
    let modules_link = link_target(&t.join("kernel-modules"));
    assert!(modules_link.ends_with("-kernel"), "{modules_link}");
    assert!(kernel.starts_with(&modules_link), "{kernel}");
    let modules_dir = s.real(&modules_link).join("lib/modules").join(version);
    assert!(modules_dir.join("kernel/fs/ext4/ext4.ko.xz").is_file());
    assert!(!modules_dir.join("kernel/fs/ext4/ext4.ko").exists());
    for index in ["modules.dep", "modules.dep.bin", "modules.alias.bin"] {
        assert!(modules_dir.join(index).is_file(), "{index}");
    }

    // The initrd: strata's init, the modules to mount the root, the stage-1 configuration.
    let initrd_link = link_target(&t.join("initrd"));
    let raw = fs::read(s.real(&initrd_link)).unwrap();
    assert_eq!(&raw[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed");
    let entries = read_newc(&decompress(&raw).unwrap()).unwrap();
    let by_name = |n: &str| entries.iter().find(|e| e.name == n);
    let init_entry = by_name("init").expect("init in the initrd");
    assert!(init_entry.is_file() && init_entry.mode & 0o111 != 0);
    let init_link = link_target(&t.join("init"));
    assert!(init_link.ends_with("/bin/strata-init"), "{init_link}");
    assert_eq!(
        init_entry.data,
        fs::read(s.real(&init_link)).unwrap(),
        "the initrd's init is the system's strata-init"
    );
    let conf = String::from_utf8(by_name("etc/strata-initrd.conf").unwrap().data.clone()).unwrap();
    assert!(
        conf.contains("\nroot=/dev/disk/by-label/strata\n"),
        "{conf}"
    );
    assert!(conf.contains("\nrootfstype=ext4\n"), "{conf}");
    assert!(conf.contains(&format!("\nkernel={version}\n")), "{conf}");
    let load_order: Vec<&str> = conf
        .lines()
        .filter_map(|l| l.strip_prefix("module="))
        .collect();
    let ko: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.is_file() && e.name.ends_with(".ko"))
        .map(|e| {
            let base = e.name.rsplit('/').next().unwrap();
            base.trim_end_matches(".ko").replace('-', "_")
        })
        .collect();
    // What the root needs: the disk (virtio_blk, sd_mod and their buses) and ext4 with the
    // modules ext4 depends on.
    for m in [
        "virtio_blk",
        "virtio_pci",
        "virtio_scsi",
        "sd_mod",
        "ahci",
        "ext4",
        "jbd2",
        "mbcache",
        "crc16",
    ] {
        assert!(ko.contains(m), "{m} missing from the initrd: {ko:?}");
    }
    // Exactly the closure: every module file is in the load order and the other way round,
    // and nothing unrelated (a network driver, another file system) came along.
    assert_eq!(
        ko,
        load_order
            .iter()
            .map(|m| m.to_string())
            .collect::<BTreeSet<_>>()
    );
    for m in ["e1000", "xfs", "btrfs", "nfs"] {
        assert!(!ko.contains(m), "{m} should not be in the initrd");
    }
    let pos = |m: &str| load_order.iter().position(|x| *x == m).unwrap();
    assert!(pos("jbd2") < pos("ext4") && pos("mbcache") < pos("ext4"));
    assert!(pos("virtio_pci") < pos("virtio_blk") || pos("virtio") < pos("virtio_blk"));
    assert!(by_name(&format!("lib/modules/{version}/modules.dep")).is_some());
    assert!(by_name("dev/console").is_some());
    // The emergency shell.
    assert!(by_name("bin/busybox").is_some_and(|e| e.is_file() && e.mode & 0o111 != 0));
    let sh = by_name("bin/sh").unwrap();
    assert!(sh.is_symlink() && sh.data == b"busybox");

    // sw: Debian's usr-merged userspace, with its loader cache and the packages it lists.
    let sw = s.real(&link_target(&t.join("sw")));
    assert_eq!(fs::read_link(sw.join("bin")).unwrap(), Path::new("usr/bin"));
    assert_eq!(
        fs::read_link(sw.join("usr/bin/sh")).unwrap(),
        Path::new("dash")
    );
    assert!(sw.join("usr/bin/sudo").is_file() && sw.join("usr/sbin/agetty").is_file());
    assert!(sw.join("usr/lib/strata/ld.so.cache").is_file());
    let listed = fs::read_to_string(sw.join("usr/lib/strata/packages")).unwrap();
    assert!(
        listed.lines().any(|l| l.contains("-coreutils-")),
        "{listed}"
    );

    // etc: the configured files, the host name, the zone database.
    let etc = s.real(&link_target(&t.join("etc"))).join("etc");
    let motd = s.real(&link_target(&etc.join("motd")));
    assert_eq!(
        fs::read_to_string(motd).unwrap(),
        "Welcome to saguaro, a strata machine.\n"
    );
    assert_eq!(
        fs::read_to_string(s.real(&link_target(&etc.join("hostname")))).unwrap(),
        "saguaro\n"
    );
    let zoneinfo = s.real(&link_target(&etc.join("zoneinfo")));
    assert!(zoneinfo.join("America/Phoenix").is_file());
    assert_eq!(
        link_target(&etc.join("localtime")),
        "/etc/zoneinfo/America/Phoenix"
    );

    // The activation manifest.
    let manifest = fs::read_to_string(s.real(&link_target(&t.join("activation.json")))).unwrap();
    let m = ActivationManifest::from_json(&manifest).unwrap();
    assert_eq!(m.host_name, "saguaro");
    assert_eq!(m.time_zone.as_deref(), Some("America/Phoenix"));
    let alice = m.users.iter().find(|u| u.name == "alice").unwrap();
    assert_eq!(alice.extra_groups, ["wheel"]);
    assert!(matches!(
        &alice.initial_password,
        Some(PasswordSource::Hash { hash, .. }) if hash.starts_with("$6$")
    ));
    assert!(m.services.contains_key("hello"));

    // boot.json.
    let boot = fs::read_to_string(t.join("boot.json")).unwrap();
    validate_bootspec(&boot).unwrap();
    let v: serde_json::Value = serde_json::from_str(&boot).unwrap();
    let spec = &v["org.nixos.bootspec.v1"];
    assert_eq!(spec["toplevel"], top.as_str());
    assert_eq!(spec["init"], format!("{top}/init"));
    assert_eq!(spec["kernel"], kernel.as_str());
    assert_eq!(spec["initrd"], initrd_link.as_str());
    assert_eq!(
        spec["kernelParams"],
        serde_json::json!(["console=tty0", "console=ttyS0,115200"])
    );
    assert_eq!(spec["label"], "strata-24.11");
    assert_eq!(
        fs::read_to_string(t.join("kernel-params")).unwrap(),
        "console=tty0 console=ttyS0,115200\n"
    );

    // strata itself: static programs, the module library and the lock.
    let strata = s.real(&link_target(&t.join("strata")));
    for prog in ["bin/strata", "bin/strata-init"] {
        assert!(
            !has_interpreter(&strata.join(prog)),
            "{prog} must be static"
        );
    }
    assert_eq!(
        fs::read(strata.join("bin/strata")).unwrap(),
        fs::read(env!("CARGO_BIN_EXE_strata")).unwrap()
    );
    assert!(strata
        .join("share/strata/modules/eval-config.nix")
        .is_file());
    assert!(!strata.join("share/strata/modules/tests").exists());
    assert_eq!(
        fs::read_to_string(strata.join("share/strata/strata.lock")).unwrap(),
        fs::read_to_string(repo().join("examples/strata.lock")).unwrap()
    );
    let out = run(
        Command::new(strata.join("bin/strata")).arg("--version"),
        None,
    )
    .ok();
    assert!(out.line().starts_with("strata "), "{}", out.line());

    // NixOS's entry point: bin/switch-to-configuration, executable, run by this strata.
    let script = t.join("bin/switch-to-configuration");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&script).unwrap().permissions());
    assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    assert_eq!(
        fs::read_to_string(&script).unwrap().lines().next().unwrap(),
        format!(
            "#!{}/bin/strata switch-to-configuration",
            link_target(&t.join("strata"))
        )
    );

    assert!(
        fs::read(strata.join("share/strata/debian-digest"))
            .unwrap()
            .len()
            > 1_000_000,
        "the digest travels beside the lock"
    );

    // No clear-text password in anything strata wrote into the store: Debian's own files are
    // left out, as they may hold the word (the digest lists a package called `changeme`;
    // vim's tutor and translations use it): everything under a tree's `usr/` and the digest.
    let leaks: Vec<PathBuf> = files_containing(&s.store(), b"changeme")
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            !s.ends_with("-debian-digest-bookworm-amd64")
                && !s.ends_with("/share/strata/debian-digest")
                && !s.contains("/usr/")
        })
        .collect();
    assert!(leaks.is_empty(), "the password is in {leaks:?}");
}

#[test]
fn rebuilds_are_noops_and_one_option_rebuilds_only_what_depends_on_it() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let f = example();
    let first = build(&s, &["-f", f.to_str().unwrap(), "--no-out-link"]).ok();
    let again = build(&s, &["-f", f.to_str().unwrap(), "--no-out-link"]).ok();
    assert_eq!(
        first.line(),
        again.line(),
        "same configuration, same toplevel"
    );
    assert!(built_drvs(&again).is_empty(), "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to build"),
        "{}",
        again.stderr
    );

    // The same configuration with no lock beside it builds from strata's own lock (the
    // example's, in the source tree), says so, and gives the same system.
    let lockless = work.path().join("lockless");
    fs::create_dir_all(&lockless).unwrap();
    fs::copy(&f, lockless.join("configuration.nix")).unwrap();
    let o = build(
        &s,
        &[
            "-f",
            lockless.join("configuration.nix").to_str().unwrap(),
            "--no-out-link",
        ],
    )
    .ok();
    assert!(
        o.stderr.contains("no strata.lock beside")
            && o.stderr.contains("using strata's own, ")
            && o.stderr.contains("examples/strata.lock"),
        "{}",
        o.stderr
    );
    assert_eq!(o.line(), first.line(), "{}", o.stderr);

    // Another host name: only the toplevel is built again (etc and the manifest are
    // content-addressed parts strata writes itself); kernel and initrd stay.
    let changed = work.path().join("configuration.nix");
    fs::write(
        &changed,
        format!(
            "{{ lib, ... }}: {{ imports = [ {} ]; networking.hostName = lib.mkForce \"ocotillo\"; }}\n",
            f.display()
        ),
    )
    .unwrap();
    let lock = repo().join("examples/strata.lock");
    let o = build(
        &s,
        &[
            "-f",
            changed.to_str().unwrap(),
            "--lock",
            lock.to_str().unwrap(),
            "--no-out-link",
        ],
    )
    .ok();
    let top = o.line();
    assert!(top.ends_with("-strata-system-ocotillo"), "{top}");
    let built = built_drvs(&o);
    assert_eq!(built.len(), 1, "{}", o.stderr);
    assert!(
        built[0].ends_with("-strata-system-ocotillo.drv"),
        "{built:?}"
    );
    let t = s.real(&top);
    let old = s.real(&first.line());
    assert_eq!(
        link_target(&t.join("initrd")),
        link_target(&old.join("initrd"))
    );
    assert_eq!(
        link_target(&t.join("kernel")),
        link_target(&old.join("kernel"))
    );
    assert_ne!(link_target(&t.join("etc")), link_target(&old.join("etc")));
}

#[test]
fn bad_input_is_refused_with_a_clear_error_and_no_toplevel() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let lock = repo().join("examples/strata.lock");
    let toplevels = |s: &Shared| -> BTreeSet<String> {
        fs::read_dir(s.store())
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains("-strata-system-") && !n.ends_with(".drv"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cases: &[(&str, &str)] = &[
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; time.timeZone = "Mars/Olympus_Mons"; }"#,
            r#"time.timeZone: "Mars/Olympus_Mons" is not a time zone of the tz database"#,
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; boot.kernel = "linux-image-nonesuch"; }"#,
            "boot.kernel: the Debian suite strata.lock pins has no package `linux-image-nonesuch'",
        ),
        (
            r#"{ pkgs, ... }: { fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; environment.systemPackages = [ pkgs.vimm ]; }"#,
            "attribute 'vimm' missing",
        ),
        (
            r#"{ pkgs, ... }: { fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; environment.systemPackages = [ pkgs.vimm ]; }"#,
            "Did you mean one of vim, ",
        ),
        (
            r#"{ pkgs, ... }: { fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; environment.systemPackages = [ (pkgs.writeShellScriptBin "ls" "echo mine") ]; }"#,
            "collision at /usr/bin/ls: ",
        ),
        (
            r#"{ pkgs, ... }: { fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; environment.systemPackages = [ (pkgs.writeShellScriptBin "ls" "echo mine") ]; }"#,
            "environment.debian.collisions.\"/usr/bin/ls\"",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; security.sudo.extraConfig = "Defaults nonsense_option_x"; }"#,
            "rejected by visudo",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; security.wrappers.frob = { source = "/usr/bin/frobnicate"; owner = "root"; group = "root"; setuid = true; }; }"#,
            "security.wrappers.frob.source: /usr/bin/frobnicate does not exist in the system's packages",
        ),
        (
            r#"{ pkgs, ... }: { fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; environment.systemPackages = [ pkgs.firmware-misc-nonfree ]; }"#,
            "firmware-misc-nonfree is in Debian's non-free-firmware component; set nixpkgs.config.allowUnfree = true",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; console.keyMap = "de-latin9"; }"#,
            "console.keyMap: Debian's console-data has no keymap `de-latin9'; close names: de de-latin1 ",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; hardware.cpu.amd.updateMicrocode = true; }"#,
            "hardware.cpu.amd.updateMicrocode: amd64-microcode is in Debian's non-free-firmware component; set nixpkgs.config.allowUnfree = true",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; networking.hostName = 42; }"#,
            "networking.hostName",
        ),
        (
            "{ fileSystems.\"/\".device = \"/dev/vda\";\n  users = ; }",
            "configuration.nix:2",
        ),
        (
            "{ boot.loader.systemd-boot.enable = true; }",
            "No root file system is configured",
        ),
        // Modules the module filter leaves out, asked for by stage 2 or the initrd: the
        // error names the module and the directory.
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; boot.kernelModuleFilter = [ "sound" ]; boot.kernelModules = [ "loop" "snd-hda-intel" ]; }"#,
            "left out of the system by boot.kernelModuleFilter: snd-hda-intel (in kernel/sound/)",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; boot.kernelModuleFilter = [ "sound" ]; boot.initrd.kernelModules = [ "snd" ]; }"#,
            "left out of the system by boot.kernelModuleFilter: snd (in kernel/sound/)",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; boot.kernelModuleFilter = [ "sound/nonesuch" ]; }"#,
            "module filter entry \"sound/nonesuch\" names no directory of the kernel's modules",
        ),
        (
            r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; boot.kernelModules = [ "nonesuch" ]; }"#,
            "unknown kernel module(s), neither a module file nor built in: nonesuch",
        ),
    ];
    for (text, want) in cases {
        let before = toplevels(&s);
        let conf = work.path().join("configuration.nix");
        fs::write(&conf, text).unwrap();
        let result = work.path().join("result");
        let o = build(
            &s,
            &[
                "-f",
                conf.to_str().unwrap(),
                "--lock",
                lock.to_str().unwrap(),
                "-o",
                result.to_str().unwrap(),
            ],
        );
        assert_eq!(o.code, Some(1), "{text}: {}", o.stderr);
        assert!(
            o.stderr.contains(want),
            "{text}: wanted {want:?} in:\n{}",
            o.stderr
        );
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        assert!(fs::symlink_metadata(&result).is_err(), "no result link");
        assert_eq!(toplevels(&s), before, "{text}: no new toplevel");
    }

    // No lock file beside the configuration: strata's own is used, and says so (this
    // configuration is refused all the same).
    let conf = work.path().join("configuration.nix");
    let o = build(&s, &["-f", conf.to_str().unwrap(), "--no-out-link"]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("no strata.lock beside") && o.stderr.contains("using strata's own"),
        "{}",
        o.stderr
    );
    // A lock named that does not exist.
    let nonesuch = work.path().join("nonesuch.lock");
    let o = build(
        &s,
        &[
            "-f",
            conf.to_str().unwrap(),
            "--lock",
            nonesuch.to_str().unwrap(),
            "--no-out-link",
        ],
    );
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("nonesuch.lock") && o.stderr.contains("strata lock update"),
        "{}",
        o.stderr
    );
    // No configuration at all.
    let missing = work.path().join("nonesuch.nix");
    let o = build(
        &s,
        &[
            "-f",
            missing.to_str().unwrap(),
            "--lock",
            lock.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("nonesuch.nix"), "{}", o.stderr);
}

#[test]
fn the_result_link_keeps_the_system_through_garbage_collection() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let result = work.path().join("result");
    let f = example();
    let top = build(
        &s,
        &["-f", f.to_str().unwrap(), "-o", result.to_str().unwrap()],
    )
    .ok()
    .line();
    let mut gc = crate::strata_store(&s.root(), ["gc"]);
    run(&mut gc, None).ok();
    let mut verify = crate::strata_store(&s.root(), ["verify"]);
    run(&mut verify, None).ok();
    let mut closure = crate::strata_store(&s.root(), ["closure", &top]);
    let paths = run(&mut closure, None).ok().lines();
    assert!(paths.iter().any(|p| p.ends_with("-kernel")), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("linux-image-")),
        "the kernel package is no part of the closure: {paths:?}"
    );
    for p in &paths {
        assert!(s.real(p).exists(), "{p} was collected");
    }
    // Rebuilding after the collection fetches nothing: every output is still valid.
    let o = build(
        &s,
        &["-f", f.to_str().unwrap(), "-o", result.to_str().unwrap()],
    )
    .ok();
    assert_eq!(o.line(), top);
    assert!(built_drvs(&o).is_empty(), "{}", o.stderr);
}

/// The offset just after the first newc archive in `raw` (its padded trailer).
fn after_first_archive(raw: &[u8]) -> usize {
    let name = b"TRAILER!!!\0";
    let at = raw
        .windows(name.len())
        .position(|w| w == name)
        .expect("a trailer");
    (at + name.len()).next_multiple_of(4)
}

#[test]
fn console_keymap_and_cpu_microcode_reach_the_generation() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("configuration.nix");
    fs::write(
        &conf,
        r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true;
  console.keyMap = "de-latin1"; nixpkgs.config.allowUnfree = true;
  hardware.cpu.intel.updateMicrocode = true; hardware.cpu.amd.updateMicrocode = true; }"#,
    )
    .unwrap();
    let lock = repo().join("examples/strata.lock");
    let result = work.path().join("result");
    let top = build(
        &s,
        &[
            "-f",
            conf.to_str().unwrap(),
            "--lock",
            lock.to_str().unwrap(),
            "-o",
            result.to_str().unwrap(),
        ],
    )
    .ok()
    .line();
    let t = s.real(&top);

    // The keymap: Debian's de-latin1 compiled by loadkeys -b, named by the manifest, in the
    // closure.
    let manifest = ActivationManifest::from_json(
        &fs::read_to_string(s.real(&link_target(&t.join("activation.json")))).unwrap(),
    )
    .unwrap();
    let keymap = manifest.console_key_map.expect("a console keymap");
    assert!(keymap.ends_with("-console-keymap"), "{keymap}");
    let data = fs::read(s.real(&keymap)).unwrap();
    let map = strata_init::console::Keymap::parse(&data).unwrap();
    assert_eq!(map.tables(), [0, 1, 2, 4, 5, 6, 8, 9, 10, 12]);
    // The key labelled Y on a US keyboard types z.
    assert_eq!(map.get(0, 21), Some(0x0b7a));
    let mut closure = crate::strata_store(&s.root(), ["closure", &top]);
    let paths = run(&mut closure, None).ok().lines();
    assert!(paths.contains(&keymap), "{paths:?}");

    // The initrd: the uncompressed microcode archive, then the zstd-compressed initrd.
    let raw = fs::read(s.real(&link_target(&t.join("initrd")))).unwrap();
    assert!(raw.starts_with(b"070701"));
    let end = after_first_archive(&raw);
    let early = read_newc(&raw[..end]).unwrap();
    let names: Vec<&str> = early.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kernel",
            "kernel/x86",
            "kernel/x86/microcode",
            "kernel/x86/microcode/GenuineIntel.bin",
            "kernel/x86/microcode/AuthenticAMD.bin",
            "TRAILER!!!"
        ]
    );
    // Intel's updates start with header version 1, AMD's containers with "DMA\0".
    assert!(early[3].data.len() > 1 << 20 && early[3].data.starts_with(&[1, 0, 0, 0]));
    assert!(early[4].data.starts_with(b"DMA\0"));
    assert_eq!(
        &raw[end..end + 4],
        &[0x28, 0xb5, 0x2f, 0xfd],
        "zstd follows"
    );
    let rest = read_newc(&decompress(&raw[end..]).unwrap()).unwrap();
    assert!(rest.iter().any(|e| e.name == "init"));

    // Without the options, the initrd is the compressed archive alone.
    let plain = work.path().join("plain.nix");
    fs::write(
        &plain,
        r#"{ fileSystems."/".device = "/dev/vda"; boot.loader.systemd-boot.enable = true; }"#,
    )
    .unwrap();
    let top = build(
        &s,
        &[
            "-f",
            plain.to_str().unwrap(),
            "--lock",
            lock.to_str().unwrap(),
            "--no-out-link",
        ],
    )
    .ok()
    .line();
    let t = s.real(&top);
    let raw = fs::read(s.real(&link_target(&t.join("initrd")))).unwrap();
    assert_eq!(&raw[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    let manifest = ActivationManifest::from_json(
        &fs::read_to_string(s.real(&link_target(&t.join("activation.json")))).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest.console_key_map, None);
}
