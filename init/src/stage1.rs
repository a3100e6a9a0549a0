//! Stage 1: from the initrd to the real root.
//!
//! [`mount_essentials`] mounts `/proc`, `/sys`, `/dev` (devtmpfs) and `/run`; the caller then
//! reads the command line and the initrd's configuration into [`BootParams`], and [`run`]
//! loads the modules, waits for the root device (a bounded wait on the kernel's uevents that
//! says what it waits for), mounts it on `/sysroot`, moves the early mounts there, frees the
//! initramfs and switches the root. The caller executes the [`Handoff`]'s `init`: stage 2.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use crate::cmdline::{BootParams, RootSpec};
use crate::probe::{gpt_partuuid, part_table, probe, PartTable, PROBE_LEN};
use crate::sys::{ms, Sys};

/// Where the real root is mounted before the switch.
pub const SYSROOT: &str = "/sysroot";

/// The initrd's configuration file.
pub const INITRD_CONF: &str = "/etc/strata-initrd.conf";

/// How often a wait for the root device says it is still waiting.
const WAIT_MESSAGE_EVERY: Duration = Duration::from_secs(5);

/// What stage 2 is started as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The generation's `init` (a path on the real root).
    pub init: String,
}

/// Why stage 1 cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The command line asked for a shell.
    Rescue,
    /// Something is wrong; the message says what.
    Fatal(String),
}

/// Why a step of the boot failed; each names the device, file or mount point.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("cannot create {path}: {source}")]
    Create { path: String, source: io::Error },
    #[error("cannot mount {fstype} on {target}: {source}")]
    Mount {
        fstype: String,
        target: String,
        source: io::Error,
    },
    #[error("the initrd names modules but not the kernel version they are for (kernel=)")]
    NoKernelVersion,
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error(
        "the root device {spec} did not appear within {secs} s; block devices present: {present}"
    )]
    RootTimeout {
        spec: String,
        secs: u64,
        present: String,
    },
    #[error("cannot wait for the root device {spec}: {source}")]
    WaitRoot { spec: String, source: io::Error },
    /// A step of setting up a live system's root (`what` reads after "cannot").
    #[error("live system: cannot {what}: {source}")]
    Live { what: String, source: io::Error },
    #[error(
        "live system: {device} holds no {image} (strata.live= names the store image on the medium)"
    )]
    LiveNoImage { device: String, image: String },
}

impl From<BootError> for Stop {
    fn from(e: BootError) -> Stop {
        Stop::Fatal(e.to_string())
    }
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Fatal(s)
    }
}

/// The early file systems every stage needs: (source, target, type, flags, data).
pub const ESSENTIAL_MOUNTS: &[(&str, &str, &str, u64, &str)] = &[
    (
        "proc",
        "/proc",
        "proc",
        ms::NOSUID | ms::NODEV | ms::NOEXEC,
        "",
    ),
    (
        "sysfs",
        "/sys",
        "sysfs",
        ms::NOSUID | ms::NODEV | ms::NOEXEC,
        "",
    ),
    ("devtmpfs", "/dev", "devtmpfs", ms::NOSUID, "mode=0755"),
    (
        "tmpfs",
        "/run",
        "tmpfs",
        ms::NOSUID | ms::NODEV,
        "mode=0755",
    ),
];

/// Mounts [`ESSENTIAL_MOUNTS`]; one that is mounted already (`EBUSY`) is fine.
pub fn mount_essentials(sys: &mut dyn Sys) -> Result<(), BootError> {
    for &(src, target, fstype, flags, data) in ESSENTIAL_MOUNTS {
        sys.mkdir_p(target).map_err(|source| BootError::Create {
            path: target.to_owned(),
            source,
        })?;
        match sys.mount(src, target, fstype, flags, data) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(source) => {
                return Err(BootError::Mount {
                    fstype: fstype.to_owned(),
                    target: target.to_owned(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Module name → file path, from a `modules.dep` (`path: dep dep ...` lines).
pub fn module_paths(modules_dep: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in modules_dep.lines() {
        let Some((path, _)) = line.split_once(':') else {
            continue;
        };
        let base = path.rsplit('/').next().unwrap_or(path);
        let name = base.split(".ko").next().unwrap_or(base).replace('-', "_");
        m.entry(name).or_insert_with(|| path.trim().to_owned());
    }
    m
}

/// Loads `params.modules` in order from `/lib/modules/<kernel>/` ([`crate::modload::load`]:
/// the initrd carries them decompressed, a `.ko.xz` would be decompressed). A module that is loaded
/// already is fine; one that fails is reported and skipped (drivers for absent hardware may
/// refuse to load). Returns how many were loaded.
pub fn load_modules(sys: &mut dyn Sys, params: &BootParams) -> Result<usize, BootError> {
    if params.modules.is_empty() {
        return Ok(0);
    }
    let kernel = params.kernel.as_deref().ok_or(BootError::NoKernelVersion)?;
    let dir = format!("/lib/modules/{kernel}");
    let dep = sys
        .read_file(&format!("{dir}/modules.dep"))
        .map_err(|source| BootError::Read {
            path: format!("{dir}/modules.dep"),
            source,
        })?;
    let paths = module_paths(&String::from_utf8_lossy(&dep));
    let mut loaded = 0;
    for name in &params.modules {
        let Some(rel) = paths.get(&name.replace('-', "_")) else {
            sys.console(&format!(
                "strata: module {name} is not in the initrd; skipped"
            ));
            continue;
        };
        match crate::modload::load(sys, &format!("{dir}/{rel}"), "") {
            Ok(()) => loaded += 1,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => sys.console(&format!(
                "strata: module {name} found no device it drives here; skipped"
            )),
            Err(e) => sys.console(&format!("strata: cannot load module {name}: {e}")),
        }
    }
    Ok(loaded)
}

/// A block device found for a [`RootSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub device: String,
    /// The file system its superblock shows, if recognised.
    pub fstype: Option<&'static str>,
}

fn probe_device(sys: &mut dyn Sys, dev: &str) -> crate::probe::Probe {
    sys.read_at(dev, 0, PROBE_LEN)
        .map(|d| probe(&d))
        .unwrap_or_default()
}

fn partuuid(sys: &mut dyn Sys, name: &str) -> Option<String> {
    let sysfs = format!("/sys/class/block/{name}");
    let number: u32 = String::from_utf8_lossy(&sys.read_file(&format!("{sysfs}/partition")).ok()?)
        .trim()
        .parse()
        .ok()?;
    // `/sys/class/block/vda1` links to `.../block/vda/vda1`: the parent is the disk.
    let link = sys.read_link(&sysfs).ok()?;
    let mut parts = link.rsplit('/');
    parts.next();
    let disk = format!("/dev/{}", parts.next()?);
    let head = sys.read_at(&disk, 0, 1024).ok()?;
    match part_table(&head, number) {
        PartTable::Gpt { offset, len, .. } => gpt_partuuid(&sys.read_at(&disk, offset, len).ok()?),
        PartTable::Mbr(id) => Some(id),
        PartTable::None => None,
    }
}

/// Looks for the root device once.
pub fn find_root(sys: &mut dyn Sys, spec: &RootSpec) -> Option<Found> {
    if let RootSpec::Path(p) = spec {
        if !sys.is_block_device(p) {
            return None;
        }
        let fstype = probe_device(sys, p).fstype;
        return Some(Found {
            device: p.clone(),
            fstype,
        });
    }
    for name in sys.read_dir("/sys/class/block").unwrap_or_default() {
        let dev = format!("/dev/{name}");
        if !sys.is_block_device(&dev) {
            continue;
        }
        let p = probe_device(sys, &dev);
        let hit = match spec {
            RootSpec::Label(l) => p.label.as_deref() == Some(l.as_str()),
            RootSpec::Uuid(u) => p.uuid.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)),
            RootSpec::PartUuid(u) => {
                partuuid(sys, &name).is_some_and(|x| x.eq_ignore_ascii_case(u))
            }
            RootSpec::Path(_) => false,
        };
        if hit {
            return Some(Found {
                device: dev,
                fstype: p.fstype,
            });
        }
    }
    None
}

/// Waits for the root device until `params.root_timeout` has passed, woken by uevents, and
/// says every few seconds what it waits for.
pub fn wait_for_root(
    sys: &mut dyn Sys,
    spec: &RootSpec,
    timeout: Duration,
) -> Result<Found, BootError> {
    if let Err(e) = sys.watch_uevents() {
        sys.console(&format!("strata: cannot watch for new devices ({e})"));
    }
    let start = sys.now();
    let mut next_message = Duration::ZERO;
    loop {
        if let Some(f) = find_root(sys, spec) {
            return Ok(f);
        }
        let waited = sys.now().saturating_sub(start);
        if waited >= timeout {
            let mut present = Vec::new();
            for name in sys.read_dir("/sys/class/block").unwrap_or_default() {
                let p = probe_device(sys, &format!("/dev/{name}"));
                let mut d = name.clone();
                if let Some(t) = p.fstype {
                    d.push_str(&format!(" ({t}"));
                    if let Some(l) = &p.label {
                        d.push_str(&format!(", label {l}"));
                    }
                    d.push(')');
                }
                present.push(d);
            }
            return Err(BootError::RootTimeout {
                spec: spec.to_string(),
                secs: timeout.as_secs(),
                present: if present.is_empty() {
                    "none".to_owned()
                } else {
                    present.join(", ")
                },
            });
        }
        if waited >= next_message {
            sys.console(&format!(
                "strata: waiting for the root device {spec} ({} s left)",
                (timeout - waited).as_secs()
            ));
            next_message = waited + WAIT_MESSAGE_EVERY;
        }
        let step = (timeout - waited).min(next_message - waited);
        if let Err(e) = sys.wait_uevent(step) {
            return Err(BootError::WaitRoot {
                spec: spec.to_string(),
                source: e,
            });
        }
    }
}

/// Mount options as `mount(8)` reads them: flags, and the rest as the data string.
pub fn mount_options(options: &[String], read_only: Option<bool>) -> (u64, String) {
    let mut flags = 0u64;
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        match o.as_str() {
            "defaults" | "auto" | "noauto" | "nofail" | "_netdev" | "user" | "nouser" => {}
            "ro" => flags |= ms::RDONLY,
            "rw" => flags &= !ms::RDONLY,
            "nosuid" => flags |= ms::NOSUID,
            "nodev" => flags |= ms::NODEV,
            "noexec" => flags |= ms::NOEXEC,
            "sync" => flags |= ms::SYNCHRONOUS,
            "dirsync" => flags |= ms::DIRSYNC,
            "noatime" => flags |= ms::NOATIME,
            "nodiratime" => flags |= ms::NODIRATIME,
            "relatime" => flags |= ms::RELATIME,
            "strictatime" => flags |= ms::STRICTATIME,
            "lazytime" => flags |= ms::LAZYTIME,
            "suid" | "dev" | "exec" | "async" | "atime" | "diratime" => {}
            other if other.starts_with("x-") => {}
            other => data.push(other),
        }
    }
    match read_only {
        Some(true) => flags |= ms::RDONLY,
        Some(false) => flags &= !ms::RDONLY,
        None => {}
    }
    (flags, data.join(","))
}

/// Follows `path` (absolute, as seen from `root`) through symlinks inside `root`; the final
/// path (without `root`) if it exists.
pub fn resolve_in_root(sys: &mut dyn Sys, root: &str, path: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        parts.push(c);
        let here = format!("{root}/{}", parts.join("/"));
        if let Ok(target) = sys.read_link(&here) {
            hops += 1;
            if hops > 40 {
                return None;
            }
            parts.pop();
            if target.starts_with('/') {
                parts.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_owned));
        } else if !sys.exists(&here) {
            return None;
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Where a live system's medium is mounted (it stays visible there after the switch, as do
/// the two layers below).
pub const LIVE_MEDIUM: &str = "/run/strata-live/medium";
/// Where a live system's root image is mounted: the overlay's lower layer.
pub const LIVE_IMAGE: &str = "/run/strata-live/image";
/// The tmpfs holding the overlay's upper layer and work directory.
pub const LIVE_WRITES: &str = "/run/strata-live/writes";

/// A live system (`strata.live=<image>`): the root device is a medium (an ISO) holding a
/// squashfs image of the machine's root tree (its store and database, the profile,
/// `/etc/strata`) at `<image>`. The image, attached to a loop device, is the lower layer of an
/// overlay mounted as the root, whose upper layer is a tmpfs: the whole live system is
/// writable, the writes live in memory, and the medium is only read.
pub fn mount_live(
    sys: &mut dyn Sys,
    medium: &Found,
    fstype: &str,
    image: &str,
) -> Result<(), BootError> {
    let step = |what: &str, source: std::io::Error| BootError::Live {
        what: what.to_owned(),
        source,
    };
    sys.mkdir_p(LIVE_MEDIUM)
        .map_err(|e| step("create the medium's mount point", e))?;
    sys.mount(&medium.device, LIVE_MEDIUM, fstype, ms::RDONLY, "")
        .map_err(|e| step(&format!("mount {} ({fstype})", medium.device), e))?;
    let file = format!("{LIVE_MEDIUM}/{}", image.trim_start_matches('/'));
    if !sys.exists(&file) {
        return Err(BootError::LiveNoImage {
            device: medium.device.clone(),
            image: image.to_owned(),
        });
    }
    let loop_dev = sys
        .attach_loop(&file)
        .map_err(|e| step(&format!("attach {file} to a loop device"), e))?;
    for d in [LIVE_IMAGE, LIVE_WRITES] {
        sys.mkdir_p(d)
            .map_err(|e| step(&format!("create {d}"), e))?;
    }
    sys.mount(&loop_dev, LIVE_IMAGE, "squashfs", ms::RDONLY, "")
        .map_err(|e| step(&format!("mount the root image {file}"), e))?;
    sys.mount("tmpfs", LIVE_WRITES, "tmpfs", 0, "mode=0755")
        .map_err(|e| step("mount the tmpfs for the root's writes", e))?;
    for d in ["upper", "work"] {
        sys.mkdir_p(&format!("{LIVE_WRITES}/{d}"))
            .map_err(|e| step(&format!("create {LIVE_WRITES}/{d}"), e))?;
    }
    let layers =
        format!("lowerdir={LIVE_IMAGE},upperdir={LIVE_WRITES}/upper,workdir={LIVE_WRITES}/work");
    sys.mount("overlay", SYSROOT, "overlay", 0, &layers)
        .map_err(|e| step("mount the overlay root", e))?;
    sys.console(&format!(
        "strata: live system from {} ({image} on {loop_dev}), writable in memory",
        medium.device
    ));
    Ok(())
}

/// Everything after the early mounts; see the module documentation.
pub fn run(sys: &mut dyn Sys, params: &BootParams) -> Result<Handoff, Stop> {
    for w in &params.warnings {
        sys.console(&format!("strata: {w}"));
    }
    if params.rescue {
        return Err(Stop::Rescue);
    }
    let loaded = load_modules(sys, params)?;
    if loaded > 0 {
        sys.console(&format!("strata: loaded {loaded} kernel modules"));
    }
    let spec = params.root.clone().ok_or_else(|| {
        "no root device: neither the kernel command line nor the initrd names one (root=)"
            .to_owned()
    })?;
    let found = wait_for_root(sys, &spec, params.root_timeout)?;
    let fstype = params
        .root_fstype
        .clone()
        .or(found.fstype.map(str::to_owned))
        .ok_or_else(|| {
            format!(
                "cannot tell the file system on {} (the root device {spec}); give rootfstype=",
                found.device
            )
        })?;
    let (flags, data) = mount_options(&params.root_flags, params.read_only);
    sys.mkdir_p(SYSROOT)
        .map_err(|e| format!("cannot create {SYSROOT}: {e}"))?;
    match params.strata.get("live") {
        Some(image) => mount_live(sys, &found, &fstype, image)?,
        None => {
            sys.mount(&found.device, SYSROOT, &fstype, flags, &data)
                .map_err(|e| {
                    format!(
                        "cannot mount the root device {spec} ({}, {fstype}) on {SYSROOT}: {e}",
                        found.device
                    )
                })?;
            sys.console(&format!(
                "strata: mounted {} ({fstype}) as the root",
                found.device
            ));
        }
    }

    let init = params.init.clone().ok_or_else(|| {
        "no init= on the kernel command line: the boot entry must name the generation to \
         start (init=/nix/store/...-strata-system-.../init)"
            .to_owned()
    })?;
    if resolve_in_root(sys, SYSROOT, &init).is_none() {
        return Err(Stop::Fatal(format!(
            "init={init} does not exist on the root device {spec} ({}): is that generation's \
             closure on this disk?",
            found.device
        )));
    }
    for m in ["/dev", "/proc", "/sys", "/run"] {
        let target = format!("{SYSROOT}{m}");
        sys.mkdir_p(&target)
            .map_err(|e| format!("cannot create {target}: {e}"))?;
        sys.mount(m, &target, "", ms::MOVE, "")
            .map_err(|e| format!("cannot move {m} to {target}: {e}"))?;
    }
    if let Err(e) = sys.clear_initramfs(SYSROOT) {
        sys.console(&format!("strata: cannot free the initramfs: {e}"));
    }
    sys.switch_root(SYSROOT)
        .map_err(|e| format!("cannot switch to the root file system: {e}"))?;
    Ok(Handoff { init })
}
