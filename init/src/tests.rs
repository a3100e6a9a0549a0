//! Stage 1 against the recording [`Sys`].

use std::time::Duration;

use crate::cmdline::BootParams;
use crate::probe::PROBE_LEN;
use crate::stage1::{self, mount_options, resolve_in_root, Handoff, Stop};
use crate::sys::ms;
use crate::testing::{Node, Recorder};

const KERNEL: &str = "6.1.0-50-amd64";
const INIT: &str = "/nix/store/aaaa-strata-system-saguaro/init";

/// An ext4 superblock with this label and UUID bytes 0..16.
fn ext4(label: &str) -> Vec<u8> {
    let mut d = vec![0u8; PROBE_LEN];
    let sb = 1024;
    d[sb + 56..sb + 58].copy_from_slice(&0xEF53u16.to_le_bytes());
    d[sb + 96..sb + 100].copy_from_slice(&0x40u32.to_le_bytes()); // extents
    for (i, b) in d[sb + 104..sb + 120].iter_mut().enumerate() {
        *b = i as u8;
    }
    d[sb + 120..sb + 120 + label.len()].copy_from_slice(label.as_bytes());
    d
}

/// An initrd with three modules and a root file system holding the generation's init.
fn machine() -> Recorder {
    let mut r = Recorder::new();
    let dir = format!("/lib/modules/{KERNEL}");
    r.file(
        &format!("{dir}/modules.dep"),
        b"kernel/drivers/virtio/virtio.ko:\n\
          kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n\
          kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\n\
          kernel/fs/jbd2/jbd2.ko:\n",
    );
    for m in [
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/fs/ext4/ext4.ko",
    ] {
        r.file(&format!("{dir}/{m}"), b"\x7fELF");
    }
    // The root's contents as seen under /sysroot once mounted: the generation's init is a
    // link into its strata.
    r.link(
        "/sysroot/nix/store/aaaa-strata-system-saguaro/init",
        "/nix/store/bbbb-strata-0.1.0/bin/strata-init",
    );
    r.file(
        "/sysroot/nix/store/bbbb-strata-0.1.0/bin/strata-init",
        b"\x7fELF",
    );
    r
}

fn params(extra: &str) -> BootParams {
    let conf = format!(
        "root=/dev/disk/by-label/strata\nrootfstype=ext4\nrootflags=defaults\nkernel={KERNEL}\n\
         module=virtio\nmodule=virtio_blk\nmodule=jbd2\nmodule=ext4\n"
    );
    BootParams::read(Some(&conf), &format!("console=ttyS0 init={INIT} {extra}"))
}

#[test]
fn essential_mounts_in_order_and_busy_is_fine() {
    let mut r = Recorder::new();
    r.mount_errors.insert("/dev".into(), libc::EBUSY);
    stage1::mount_essentials(&mut r).unwrap();
    assert_eq!(
        r.calls,
        [
            format!(
                "mount proc /proc proc {} ",
                ms::NOSUID | ms::NODEV | ms::NOEXEC
            ),
            format!(
                "mount sysfs /sys sysfs {} ",
                ms::NOSUID | ms::NODEV | ms::NOEXEC
            ),
            format!("mount devtmpfs /dev devtmpfs {} mode=0755", ms::NOSUID),
            format!(
                "mount tmpfs /run tmpfs {} mode=0755",
                ms::NOSUID | ms::NODEV
            ),
        ]
    );
    let mut r = Recorder::new();
    r.mount_errors.insert("/sys".into(), libc::ENODEV);
    let e = stage1::mount_essentials(&mut r).unwrap_err().to_string();
    assert!(e.contains("cannot mount sysfs on /sys"), "{e}");
}

#[test]
fn boots_a_root_found_by_label_after_it_appears() {
    let mut r = machine();
    // The disk shows up as the second wait ends.
    r.hotplug.insert(
        2,
        vec![
            ("/sys/class/block/vda".into(), Node::Dir),
            ("/dev/vda".into(), Node::Block(ext4("strata"))),
        ],
    );
    let h = stage1::run(&mut r, &params("")).unwrap();
    assert_eq!(h, Handoff { init: INIT.into() });

    let dir = format!("/lib/modules/{KERNEL}");
    let loads = r.calls_starting("load ");
    assert_eq!(
        loads,
        [
            format!("load {dir}/kernel/drivers/virtio/virtio.ko "),
            format!("load {dir}/kernel/drivers/block/virtio_blk.ko "),
            format!("load {dir}/kernel/fs/jbd2/jbd2.ko "),
            format!("load {dir}/kernel/fs/ext4/ext4.ko "),
        ],
        "in the initrd's order"
    );
    let after_loads: Vec<&String> = r
        .calls
        .iter()
        .skip_while(|c| !c.starts_with("watch-uevents"))
        .collect();
    assert_eq!(
        after_loads[0], "watch-uevents",
        "watching before the first scan"
    );
    assert_eq!(r.waits, 2, "woken by the uevent, no polling");
    assert_eq!(
        r.calls_starting("mount "),
        [
            "mount /dev/vda /sysroot ext4 0 ".to_owned(),
            format!("mount /dev /sysroot/dev  {} ", ms::MOVE),
            format!("mount /proc /sysroot/proc  {} ", ms::MOVE),
            format!("mount /sys /sysroot/sys  {} ", ms::MOVE),
            format!("mount /run /sysroot/run  {} ", ms::MOVE),
        ]
    );
    let tail: Vec<&String> = r.calls.iter().rev().take(2).collect();
    assert_eq!(tail[1], "clear-initramfs keeping /sysroot");
    assert_eq!(tail[0], "switch-root /sysroot");
    assert!(r
        .console
        .iter()
        .any(|l| l.contains("waiting for the root device LABEL=strata")));
    assert!(r
        .console
        .iter()
        .any(|l| l.contains("loaded 4 kernel modules")));
}

#[test]
fn module_problems_are_reported_and_skipped() {
    let mut r = machine();
    r.block("/dev/vda", ext4("strata"));
    r.dir("/sys/class/block/vda");
    let dir = format!("/lib/modules/{KERNEL}");
    r.module_errors.insert(
        format!("{dir}/kernel/drivers/virtio/virtio.ko"),
        libc::EEXIST,
    );
    r.module_errors
        .insert(format!("{dir}/kernel/fs/jbd2/jbd2.ko"), libc::ENOEXEC);
    let p = params("").clone();
    let mut p2 = p.clone();
    p2.modules.push("nonesuch".into());
    stage1::run(&mut r, &p2).unwrap();
    assert!(r
        .console
        .iter()
        .any(|l| l.contains("cannot load module jbd2")));
    assert!(r
        .console
        .iter()
        .any(|l| l.contains("module nonesuch is not in the initrd")));
    assert!(r
        .console
        .iter()
        .any(|l| l.contains("loaded 2 kernel modules")));
}

#[test]
fn a_root_that_never_appears_ends_the_bounded_wait_with_a_clear_message() {
    let mut r = machine();
    r.dir("/sys/class/block/vda");
    r.block("/dev/vda", ext4("other"));
    let e = stage1::run(&mut r, &params("strata.root_timeout=12")).unwrap_err();
    let Stop::Fatal(m) = e else { panic!("{e:?}") };
    assert_eq!(
        m,
        "the root device LABEL=strata did not appear within 12 s; block devices present: \
         vda (ext4, label other)"
    );
    // Waits of at most 5 s, each ended by its timeout: 5 + 5 + 2 seconds.
    assert_eq!(
        r.calls_starting("wait "),
        ["wait 5000ms", "wait 5000ms", "wait 2000ms"]
    );
    assert_eq!(r.clock, Duration::from_secs(12));
    let msgs: Vec<&String> = r
        .console
        .iter()
        .filter(|l| l.contains("waiting for the root device"))
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].ends_with("(12 s left)"));
    assert!(r.calls_starting("mount ").is_empty(), "nothing mounted");
}

#[test]
fn roots_by_path_uuid_and_partuuid() {
    // By path.
    let mut r = machine();
    r.block("/dev/vdb", ext4("x"));
    let p = BootParams::read(None, &format!("root=/dev/vdb init={INIT} kernel={KERNEL}"));
    stage1::run(&mut r, &p).unwrap();
    assert_eq!(
        r.calls_starting("mount ")[0],
        "mount /dev/vdb /sysroot ext4 0 "
    );

    // By UUID (case does not matter).
    let mut r = machine();
    r.dir("/sys/class/block/vdc");
    r.block("/dev/vdc", ext4("x"));
    let p = BootParams::read(
        None,
        &format!("root=UUID=00010203-0405-0607-0809-0A0B0C0D0E0F init={INIT} rw"),
    );
    stage1::run(&mut r, &p).unwrap();
    assert_eq!(
        r.calls_starting("mount ")[0],
        "mount /dev/vdc /sysroot ext4 0 "
    );

    // By PARTUUID on a GPT disk: vda2 is partition 2 of vda.
    let mut r = machine();
    let mut disk = vec![0u8; 4096];
    disk[512..520].copy_from_slice(b"EFI PART");
    disk[512 + 72..512 + 80].copy_from_slice(&2u64.to_le_bytes());
    disk[512 + 80..512 + 84].copy_from_slice(&4u32.to_le_bytes());
    disk[512 + 84..512 + 88].copy_from_slice(&128u32.to_le_bytes());
    let entry = 1024 + 128;
    disk[entry] = 1;
    disk[entry + 16..entry + 32]
        .copy_from_slice(&[4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16]);
    r.block("/dev/vda", disk);
    r.block("/dev/vda2", ext4("root"));
    r.dir("/sys/class/block/vda");
    r.link(
        "/sys/class/block/vda2",
        "../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda2",
    );
    r.file("/sys/class/block/vda2/partition", b"2\n");
    let p = BootParams::read(
        None,
        &format!("root=PARTUUID=01020304-0506-0708-090A-0B0C0D0E0F10 init={INIT} ro rootflags=noatime,commit=30"),
    );
    stage1::run(&mut r, &p).unwrap();
    assert_eq!(
        r.calls_starting("mount ")[0],
        format!(
            "mount /dev/vda2 /sysroot ext4 {} commit=30",
            ms::RDONLY | ms::NOATIME
        )
    );
}

#[test]
fn missing_pieces_are_named() {
    // No root at all.
    let mut r = machine();
    let e = stage1::run(&mut r, &BootParams::read(None, &format!("init={INIT}"))).unwrap_err();
    assert!(
        matches!(&e, Stop::Fatal(m) if m.contains("no root device")),
        "{e:?}"
    );

    // No init=.
    let mut r = machine();
    r.block("/dev/vda", ext4("x"));
    let e = stage1::run(&mut r, &BootParams::read(None, "root=/dev/vda")).unwrap_err();
    assert!(
        matches!(&e, Stop::Fatal(m) if m.contains("no init=")),
        "{e:?}"
    );

    // init= naming a generation that is not on the disk: nothing is moved or switched.
    let mut r = machine();
    r.block("/dev/vda", ext4("x"));
    let e = stage1::run(
        &mut r,
        &BootParams::read(
            None,
            "root=/dev/vda init=/nix/store/zzzz-strata-system-x/init",
        ),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Stop::Fatal(m) if m.contains("init=/nix/store/zzzz-strata-system-x/init does not exist on the root device /dev/vda")),
        "{e:?}"
    );
    assert!(r.calls_starting("switch-root").is_empty());

    // An unknown file system and no rootfstype=.
    let mut r = machine();
    r.block("/dev/vda", vec![0u8; 8192]);
    let e = stage1::run(
        &mut r,
        &BootParams::read(None, &format!("root=/dev/vda init={INIT}")),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Stop::Fatal(m) if m.contains("give rootfstype=")),
        "{e:?}"
    );

    // A mount that fails names the device and the error.
    let mut r = machine();
    r.block("/dev/vda", ext4("x"));
    r.mount_errors.insert("/sysroot".into(), libc::EINVAL);
    let e = stage1::run(
        &mut r,
        &BootParams::read(None, &format!("root=/dev/vda init={INIT}")),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Stop::Fatal(m) if m.starts_with("cannot mount the root device /dev/vda (/dev/vda, ext4) on /sysroot")),
        "{e:?}"
    );
}

#[test]
fn rescue_stops_before_anything_happens() {
    let mut r = machine();
    assert_eq!(stage1::run(&mut r, &params("rescue")), Err(Stop::Rescue));
    assert!(r.calls.is_empty());
}

#[test]
fn mount_options_become_flags_and_data() {
    let o = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(mount_options(&o("defaults"), None), (0, String::new()));
    assert_eq!(
        mount_options(
            &o("ro,noatime,nosuid,x-systemd.foo,errors=remount-ro"),
            None
        ),
        (
            ms::RDONLY | ms::NOATIME | ms::NOSUID,
            "errors=remount-ro".into()
        )
    );
    assert_eq!(
        mount_options(&o("ro"), Some(false)).0,
        0,
        "rw on the command line wins"
    );
    assert_eq!(mount_options(&[], Some(true)).0, ms::RDONLY);
}

#[test]
fn links_resolve_inside_the_new_root() {
    let mut r = Recorder::new();
    r.link("/sysroot/a/init", "../b/init");
    r.link("/sysroot/b/init", "/c/real");
    r.file("/sysroot/c/real", b"x");
    r.link("/sysroot/loop", "/loop");
    assert_eq!(
        resolve_in_root(&mut r, "/sysroot", "/a/init").as_deref(),
        Some("/c/real")
    );
    assert_eq!(resolve_in_root(&mut r, "/sysroot", "/a/nonesuch"), None);
    assert_eq!(
        resolve_in_root(&mut r, "/sysroot", "/loop"),
        None,
        "a link loop ends"
    );
}

#[test]
fn module_paths_from_modules_dep() {
    let m = stage1::module_paths(
        "kernel/a/crc-t10dif.ko: kernel/b.ko\nkernel/x/ext4.ko.xz:\nbad line\n",
    );
    assert_eq!(m["crc_t10dif"], "kernel/a/crc-t10dif.ko");
    assert_eq!(m["ext4"], "kernel/x/ext4.ko.xz");
    assert_eq!(m.len(), 2);
}

/// An ISO 9660 primary volume descriptor labelled `label`.
fn iso(label: &str) -> Vec<u8> {
    let mut d = vec![0u8; PROBE_LEN];
    d[32769..32774].copy_from_slice(b"CD001");
    d[32808..32840].fill(b' ');
    d[32808..32808 + label.len()].copy_from_slice(label.as_bytes());
    d
}

#[test]
fn a_live_medium_becomes_a_writable_overlay_root_over_its_image() {
    let mut r = machine();
    r.dir("/sys/class/block/sr0");
    r.block("/dev/sr0", iso("STRATA_LIVE"));
    r.file("/run/strata-live/medium/strata/root.squashfs", b"hsqs");
    let p = BootParams::read(
        None,
        &format!("root=LABEL=STRATA_LIVE strata.live=/strata/root.squashfs init={INIT}"),
    );
    assert_eq!(
        stage1::run(&mut r, &p).unwrap(),
        Handoff { init: INIT.into() }
    );
    let mounts = r.calls_starting("mount ");
    assert_eq!(
        mounts[..4],
        [
            format!(
                "mount /dev/sr0 /run/strata-live/medium iso9660 {} ",
                ms::RDONLY
            ),
            format!(
                "mount /dev/loop0 /run/strata-live/image squashfs {} ",
                ms::RDONLY
            ),
            "mount tmpfs /run/strata-live/writes tmpfs 0 mode=0755".to_owned(),
            "mount overlay /sysroot overlay 0 lowerdir=/run/strata-live/image,\
             upperdir=/run/strata-live/writes/upper,workdir=/run/strata-live/writes/work"
                .to_owned(),
        ]
    );
    assert_eq!(
        r.calls_starting("attach-loop"),
        ["attach-loop /run/strata-live/medium/strata/root.squashfs"]
    );
    assert!(r.calls.last().unwrap().starts_with("switch-root"));

    // A medium without the image: said, nothing mounted over the root.
    let mut r = machine();
    r.dir("/sys/class/block/sr0");
    r.block("/dev/sr0", iso("STRATA_LIVE"));
    let e = stage1::run(&mut r, &p).unwrap_err();
    assert!(
        matches!(&e, Stop::Fatal(m) if m.contains("/dev/sr0 holds no /strata/root.squashfs")),
        "{e:?}"
    );
    assert!(r.calls_starting("mount overlay").is_empty());
}
