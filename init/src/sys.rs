//! The system calls the boot stages make, behind [`Sys`], so that their logic is tested without
//! root ([`Recorder`](crate::testing::Recorder) in the tests) and runs for real as PID 1
//! ([`RealSys`]).
//!
//! [`RealSys`] keeps PID 1's rules: every file descriptor it opens is close-on-exec, it never
//! starts a thread, resolves no names (no NSS), and its only wait is `poll` on the kernel's
//! uevent socket with a deadline.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

/// Mount flags (`MS_*`), as the kernel defines them.
pub mod ms {
    pub const RDONLY: u64 = 1;
    pub const NOSUID: u64 = 2;
    pub const NODEV: u64 = 4;
    pub const NOEXEC: u64 = 8;
    pub const SYNCHRONOUS: u64 = 16;
    pub const REMOUNT: u64 = 32;
    pub const DIRSYNC: u64 = 128;
    pub const NOATIME: u64 = 1024;
    pub const NODIRATIME: u64 = 2048;
    pub const BIND: u64 = 4096;
    pub const MOVE: u64 = 8192;
    pub const REC: u64 = 16384;
    pub const RELATIME: u64 = 1 << 21;
    pub const STRICTATIME: u64 = 1 << 24;
    pub const LAZYTIME: u64 = 1 << 25;
}

/// What the boot stages ask of the kernel.
pub trait Sys {
    /// `mount(2)`.
    fn mount(
        &mut self,
        source: &str,
        target: &str,
        fstype: &str,
        flags: u64,
        data: &str,
    ) -> io::Result<()>;
    /// `mkdir -p`, mode 0755.
    fn mkdir_p(&mut self, path: &str) -> io::Result<()>;
    fn read_file(&mut self, path: &str) -> io::Result<Vec<u8>>;
    /// Up to `len` bytes at `offset` (fewer at the end of the file or device).
    fn read_at(&mut self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// The names in a directory, sorted.
    fn read_dir(&mut self, path: &str) -> io::Result<Vec<String>>;
    fn read_link(&mut self, path: &str) -> io::Result<String>;
    fn exists(&mut self, path: &str) -> bool;
    /// Whether `path` is a block device.
    fn is_block_device(&mut self, path: &str) -> bool;
    /// `finit_module(2)` of the module file `path` with `params`.
    fn load_module(&mut self, path: &str, params: &str) -> io::Result<()>;
    /// `init_module(2)` of a module image in memory (a decompressed `.ko.xz`) with `params`.
    fn init_module(&mut self, image: &[u8], params: &str) -> io::Result<()>;
    /// Starts listening to the kernel's uevents (before the first scan, so that no device
    /// added after it is missed).
    fn watch_uevents(&mut self) -> io::Result<()>;
    /// Waits until a uevent arrives or `timeout` passes; true if one arrived.
    fn wait_uevent(&mut self, timeout: Duration) -> io::Result<bool>;
    /// Time since boot (`CLOCK_MONOTONIC`).
    fn now(&mut self) -> Duration;
    /// Writes a line for the person at the console.
    fn console(&mut self, line: &str);
    /// Deletes everything on the initramfs (the file system of `/`) but `keep`, without
    /// crossing into other file systems.
    fn clear_initramfs(&mut self, keep: &str) -> io::Result<()>;
    /// Makes `new_root` the root: `chdir`, `mount --move . /`, `chroot .`, `chdir /`.
    fn switch_root(&mut self, new_root: &str) -> io::Result<()>;
    /// `execve(2)`; returns only on failure.
    fn exec(&mut self, path: &str, argv: &[String], env: &[String]) -> io::Error;
    /// Attaches the file `path` read-only to a free loop device and returns its path.
    fn attach_loop(&mut self, path: &str) -> io::Result<String>;
    /// Sets keyboard map entries (`table`, `index`, `value`) with `ioctl(KDSKBENT)` on the
    /// console `tty`, in order; returns how many the kernel refused (an error only when the
    /// console cannot be opened).
    fn set_key_entries(&mut self, tty: &str, entries: &[(u8, u8, u16)]) -> io::Result<usize>;
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

/// `swapon(2)` of `path` with `flags` (`SWAP_FLAG_PREFER | priority`, or 0).
pub fn swapon(path: &str, flags: i32) -> io::Result<()> {
    let p = cstr(path)?;
    // SAFETY: a NUL-terminated path that outlives the call.
    check(unsafe { libc::swapon(p.as_ptr(), flags) })
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The real kernel.
#[derive(Debug, Default)]
pub struct RealSys {
    uevents: Option<OwnedFd>,
}

impl RealSys {
    pub fn new() -> RealSys {
        RealSys::default()
    }
}

impl Sys for RealSys {
    fn mount(
        &mut self,
        source: &str,
        target: &str,
        fstype: &str,
        flags: u64,
        data: &str,
    ) -> io::Result<()> {
        let (s, t, f, d) = (cstr(source)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        check(unsafe {
            libc::mount(
                s.as_ptr(),
                t.as_ptr(),
                if fstype.is_empty() {
                    std::ptr::null()
                } else {
                    f.as_ptr()
                },
                flags as libc::c_ulong,
                if data.is_empty() {
                    std::ptr::null()
                } else {
                    d.as_ptr().cast()
                },
            )
        })
    }

    fn mkdir_p(&mut self, path: &str) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn read_file(&mut self, path: &str) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn read_at(&mut self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut f = fs::File::open(path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn read_dir(&mut self, path: &str) -> io::Result<Vec<String>> {
        let mut v: Vec<String> = fs::read_dir(path)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    }

    fn read_link(&mut self, path: &str) -> io::Result<String> {
        Ok(fs::read_link(path)?.to_string_lossy().into_owned())
    }

    fn exists(&mut self, path: &str) -> bool {
        Path::new(path).exists()
    }

    fn is_block_device(&mut self, path: &str) -> bool {
        fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
    }

    fn load_module(&mut self, path: &str, params: &str) -> io::Result<()> {
        // std opens files with O_CLOEXEC.
        let f = fs::File::open(path)?;
        let p = cstr(params)?;
        // SAFETY: a valid fd and a NUL-terminated parameter string.
        let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), p.as_ptr(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn init_module(&mut self, image: &[u8], params: &str) -> io::Result<()> {
        let p = cstr(params)?;
        // SAFETY: the image is readable for its length and the parameter string is
        // NUL-terminated; the kernel copies both before returning.
        let r = unsafe {
            libc::syscall(
                libc::SYS_init_module,
                image.as_ptr(),
                image.len() as libc::c_ulong,
                p.as_ptr(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn watch_uevents(&mut self) -> io::Result<()> {
        if self.uevents.is_some() {
            return Ok(());
        }
        // SAFETY: plain socket creation; the fd is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_KOBJECT_UEVENT,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; the fields are set below.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = 1; // the kernel's multicast group
                            // SAFETY: `addr` is a sockaddr_nl of the size given.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        self.uevents = Some(fd);
        Ok(())
    }

    fn wait_uevent(&mut self, timeout: Duration) -> io::Result<bool> {
        let Some(fd) = &self.uevents else {
            return Err(io::Error::other("uevents are not watched"));
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        if n == 0 {
            return Ok(false);
        }
        // Drain what is queued; the contents do not matter, the caller scans again.
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: `buf` is writable for its length.
            let r = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if r <= 0 {
                break;
            }
        }
        Ok(true)
    }

    fn now(&mut self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    fn console(&mut self, line: &str) {
        eprintln!("{line}");
    }

    fn clear_initramfs(&mut self, keep: &str) -> io::Result<()> {
        let root_dev = fs::metadata("/")?.dev();
        fn clear(dir: &Path, dev: u64, keep: &Path) -> io::Result<()> {
            for e in fs::read_dir(dir)? {
                let p = e?.path();
                if p == keep {
                    continue;
                }
                let md = fs::symlink_metadata(&p)?;
                if md.dev() != dev {
                    continue; // a mount point of another file system
                }
                if md.is_dir() {
                    clear(&p, dev, keep)?;
                    let _ = fs::remove_dir(&p);
                } else {
                    let _ = fs::remove_file(&p);
                }
            }
            Ok(())
        }
        clear(Path::new("/"), root_dev, Path::new(keep))
    }

    fn switch_root(&mut self, new_root: &str) -> io::Result<()> {
        std::env::set_current_dir(new_root)?;
        self.mount(".", "/", "", ms::MOVE, "")?;
        let dot = cstr(".")?;
        // SAFETY: a NUL-terminated path.
        check(unsafe { libc::chroot(dot.as_ptr()) })?;
        std::env::set_current_dir("/")
    }

    fn attach_loop(&mut self, path: &str) -> io::Result<String> {
        const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
        const LOOP_SET_FD: libc::c_ulong = 0x4C00;
        let ctl = fs::File::open("/dev/loop-control")?;
        // SAFETY: an ioctl without arguments on our descriptor.
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let dev = format!("/dev/loop{n}");
        // Opened read-only, so the loop device is read-only. Not auto-clearing: that would
        // detach the device when this function closes it, before anything mounts it; a live
        // system's image stays attached until the machine stops anyway.
        let backing = fs::File::open(path)?;
        let lo = fs::File::open(&dev)?;
        // SAFETY: attaching our open file to the loop device.
        if unsafe { libc::ioctl(lo.as_raw_fd(), LOOP_SET_FD, backing.as_raw_fd()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(dev)
    }

    fn set_key_entries(&mut self, tty: &str, entries: &[(u8, u8, u16)]) -> io::Result<usize> {
        /// `KDSKBENT` of `<linux/kd.h>`.
        const KDSKBENT: libc::c_ulong = 0x4B47;
        /// `struct kbentry` of `<linux/kd.h>`.
        #[repr(C)]
        struct KbEntry {
            kb_table: u8,
            kb_index: u8,
            kb_value: u16,
        }
        // Not the controlling terminal: PID 1 must not acquire one. std opens with O_CLOEXEC.
        let console = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(tty)?;
        let mut refused = 0;
        for &(kb_table, kb_index, kb_value) in entries {
            let entry = KbEntry {
                kb_table,
                kb_index,
                kb_value,
            };
            // SAFETY: KDSKBENT reads one `struct kbentry`, which `entry` is, for the call's
            // duration, on our open console.
            if unsafe { libc::ioctl(console.as_raw_fd(), KDSKBENT, &raw const entry) } < 0 {
                refused += 1;
            }
        }
        Ok(refused)
    }

    fn exec(&mut self, path: &str, argv: &[String], env: &[String]) -> io::Error {
        let to_c =
            |v: &[String]| -> io::Result<Vec<CString>> { v.iter().map(|s| cstr(s)).collect() };
        let (p, a, e) = match (cstr(path), to_c(argv), to_c(env)) {
            (Ok(p), Ok(a), Ok(e)) => (p, a, e),
            (Err(x), _, _) | (_, Err(x), _) | (_, _, Err(x)) => return x,
        };
        let mut ap: Vec<*const libc::c_char> = a.iter().map(|s| s.as_ptr()).collect();
        ap.push(std::ptr::null());
        let mut ep: Vec<*const libc::c_char> = e.iter().map(|s| s.as_ptr()).collect();
        ep.push(std::ptr::null());
        // SAFETY: NUL-terminated strings in NULL-terminated arrays, alive across the call.
        unsafe { libc::execve(p.as_ptr(), ap.as_ptr(), ep.as_ptr()) };
        io::Error::last_os_error()
    }
}
