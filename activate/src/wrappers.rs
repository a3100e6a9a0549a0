//! setuid, setgid and capability wrappers: `/run/wrappers/bin`, made by activation from the
//! manifest's `wrappers`.
//!
//! A wrapper is a **copy** of the program it wraps (Debian's setuid programs are written to run
//! setuid, so no wrapper program stands in between), with its owner, its mode (setuid and
//! setgid bits included) and, for capabilities, a `security.capability` extended attribute.
//! [`apply`] builds the whole set in a fresh directory `/run/wrappers/wrappers.XXXXXXXXXX`, then
//! replaces the link `/run/wrappers/bin` by renaming a new link onto it and deletes the old
//! directory: a reader sees the old set or the new one, and a failure (a source that cannot be
//! read, an owner that does not exist) removes the new directory and leaves the old set in
//! place, with an error naming the wrapper. On the live machine (root `/`) `/run/wrappers` is
//! a tmpfs of its own (`nodev`, mode 0755, *not* `nosuid`), mounted here unless stage 2 did.
//!
//! Each copy is made with mode 0 (`O_EXCL`), then `fchown`, then the capability attribute
//! (a change of owner clears it), then `fchmod` last (so the setuid bit is never on a file of
//! the wrong owner), then `fsync`.
//!
//! The builder computes each wrapper's mode and capability masks with [`file_mode`] and
//! [`parse_capabilities`] (NixOS's `permissions` and `capabilities` strings), so the manifest
//! holds numbers and activation only applies them; [`vfs_cap_data`] is the attribute's bytes.
//!
//! Must not: run the programs it copies, or change anything outside `/run/wrappers`.

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::manifest::{Capabilities, ManifestWrapper};
use crate::{io_err, ActivateError};

/// Where the wrappers live, below the root.
pub const WRAPPERS_DIR: &str = "run/wrappers";

/// The highest capability number Debian 12's kernel knows (`CAP_CHECKPOINT_RESTORE`).
pub const CAP_LAST_CAP: u32 = 40;

/// Capability names as `capabilities(7)` lists them, by number, without the `cap_` prefix.
const CAP_NAMES: [&str; CAP_LAST_CAP as usize + 1] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A `permissions` or `capabilities` string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapperValueError {
    #[error("`{0}' is not a file mode chmod understands (e.g. u+rx,g+x,o+x or 0755)")]
    Mode(String),
    #[error("`{text}' is not a capability text: {problem}")]
    Capabilities { text: String, problem: String },
}

/// The mode a wrapper gets: NixOS starts from mode 0, applies `u+s`/`g+s` for `setuid` and
/// `setgid`, then `permissions` as `chmod` would (symbolic clauses or an octal number; a
/// clause without `u`, `g`, `o` or `a` leaves the bits of the umask 022 alone).
pub fn file_mode(permissions: &str, setuid: bool, setgid: bool) -> Result<u32, WrapperValueError> {
    let mut mode = 0;
    if setuid {
        mode |= 0o4000;
    }
    if setgid {
        mode |= 0o2000;
    }
    chmod(permissions, mode).ok_or_else(|| WrapperValueError::Mode(permissions.to_owned()))
}

/// `mode` after `chmod text` on a regular file; `None` for text chmod would refuse.
fn chmod(text: &str, mode: u32) -> Option<u32> {
    const UMASK: u32 = 0o022;
    let (op, digits) = match text.as_bytes().first() {
        Some(&c @ (b'+' | b'-' | b'=')) => (Some(c), &text[1..]),
        _ => (None, text),
    };
    if !digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        let n = u32::from_str_radix(digits, 8).ok()?;
        return Some(match op {
            None | Some(b'=') => n,
            Some(b'+') => mode | n,
            _ => mode & !n,
        });
    }
    let mut mode = mode;
    for clause in text.split(',') {
        let b = clause.as_bytes();
        let mut i = 0;
        let mut who = 0;
        while let Some(&c) = b.get(i) {
            who |= match c {
                b'u' => 0o4700,
                b'g' => 0o2070,
                b'o' => 0o1007,
                b'a' => 0o7777,
                _ => break,
            };
            i += 1;
        }
        let affected = if who == 0 { 0o7777 & !UMASK } else { who };
        // An operation must follow.
        b.get(i)?;
        while let Some(&op) = b.get(i) {
            if !matches!(op, b'+' | b'-' | b'=') {
                return None;
            }
            i += 1;
            let mut bits = 0;
            match b.get(i) {
                Some(&c @ (b'u' | b'g' | b'o')) => {
                    let shift = match c {
                        b'u' => 6,
                        b'g' => 3,
                        _ => 0,
                    };
                    let rwx = (mode >> shift) & 0o7;
                    bits = rwx << 6 | rwx << 3 | rwx;
                    i += 1;
                }
                _ => {
                    while let Some(&c) = b.get(i) {
                        bits |= match c {
                            b'r' => 0o444,
                            b'w' => 0o222,
                            b'x' => 0o111,
                            b'X' if mode & 0o111 != 0 => 0o111,
                            b'X' => 0,
                            b's' => 0o6000,
                            b't' => 0o1000,
                            _ => break,
                        };
                        i += 1;
                    }
                }
            }
            let bits = bits & affected;
            mode = match op {
                b'+' => mode | bits,
                b'-' => mode & !bits,
                _ => (mode & !affected) | bits,
            };
        }
    }
    Some(mode)
}

/// Parses a capability text as `cap_from_text(3)` reads it: clauses separated by white space,
/// each a comma-separated list of names (`cap_net_raw`, or `all`; empty means all, with `=`)
/// followed by operations `=`, `+`, `-` on the flags `e`, `i`, `p`. The kernel stores one
/// effective bit for the whole file, so the effective set must be empty or equal to the
/// permitted and inheritable sets together.
pub fn parse_capabilities(text: &str) -> Result<Capabilities, WrapperValueError> {
    let bad = |problem: String| WrapperValueError::Capabilities {
        text: text.to_owned(),
        problem,
    };
    let all: u64 = (1u64 << (CAP_LAST_CAP + 1)) - 1;
    let (mut p, mut i, mut e) = (0u64, 0u64, 0u64);
    for clause in text.split_whitespace() {
        let split = clause.find(['=', '+', '-']).ok_or_else(|| {
            bad(format!(
                "the clause `{clause}' has no operation (=, + or -)"
            ))
        })?;
        let (names, mut ops) = clause.split_at(split);
        let mut set = 0u64;
        if names.is_empty() {
            if !ops.starts_with('=') {
                return Err(bad(format!("the clause `{clause}' names no capability")));
            }
            set = all;
        }
        for name in names.split(',').filter(|_| !names.is_empty()) {
            let lower = name.to_ascii_lowercase();
            if lower == "all" {
                set |= all;
                continue;
            }
            let n = lower
                .strip_prefix("cap_")
                .and_then(|short| CAP_NAMES.iter().position(|c| *c == short))
                .ok_or_else(|| bad(format!("`{name}' is not a capability name")))?;
            set |= 1 << n;
        }
        while let Some(op) = ops.chars().next() {
            ops = &ops[1..];
            let flags_end = ops.find(['=', '+', '-']).unwrap_or(ops.len());
            let (flags, rest) = ops.split_at(flags_end);
            ops = rest;
            if op == '=' {
                p &= !set;
                i &= !set;
                e &= !set;
            }
            for f in flags.chars() {
                let target = match f {
                    'p' => &mut p,
                    'i' => &mut i,
                    'e' => &mut e,
                    _ => {
                        return Err(bad(format!(
                            "`{f}' in `{clause}' is not a flag (e, i or p)"
                        )))
                    }
                };
                if op == '-' {
                    *target &= !set;
                } else {
                    *target |= set;
                }
            }
        }
    }
    if e != 0 && e != (p | i) {
        return Err(bad(
            "a file has one effective bit: make the effective set empty or equal to the \
             permitted and inheritable ones (e.g. cap_net_raw+ep)"
                .to_owned(),
        ));
    }
    Ok(Capabilities {
        permitted: p,
        inheritable: i,
        effective: e != 0,
    })
}

/// The `security.capability` attribute for `caps`: `struct vfs_cap_data` revision 2 of
/// `<linux/capability.h>`, 20 bytes, little-endian: `magic_etc` (`VFS_CAP_REVISION_2`,
/// 0x02000000, or'ed with `VFS_CAP_FLAGS_EFFECTIVE`, 1), then `{permitted, inheritable}` for
/// capabilities 0-31, then for 32-63.
pub fn vfs_cap_data(caps: &Capabilities) -> [u8; 20] {
    let magic: u32 = 0x0200_0000 | u32::from(caps.effective);
    let mut out = [0u8; 20];
    let words = [
        magic,
        caps.permitted as u32,
        caps.inheritable as u32,
        (caps.permitted >> 32) as u32,
        (caps.inheritable >> 32) as u32,
    ];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// `logical` (an absolute path on the machine whose root is `root`) as seen from here, every
/// link on the way followed inside `root` (absolute targets are taken below `root`); `None`
/// for a loop of links.
pub fn resolve_under(root: &Path, logical: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = logical
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_owned)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here: PathBuf = done.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        let next = here.join(&c);
        match fs::read_link(&next) {
            Ok(target) => {
                links += 1;
                if links > 40 {
                    return None;
                }
                let t = target.to_str()?;
                if t.starts_with('/') {
                    done.clear();
                }
                for part in t.split('/').filter(|p| !p.is_empty()).rev() {
                    pending.push(part.to_owned());
                }
            }
            Err(_) => done.push(c),
        }
    }
    Some(done.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// Whether `path` is a mount point (its device differs from its parent's).
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), fs::metadata(path.join(".."))) {
        (Ok(a), Ok(b)) => a.dev() != b.dev() || a.ino() == b.ino(),
        _ => false,
    }
}

/// A name for a fresh directory `wrappers.XXXXXXXXXX` (ten letters or digits).
fn fresh_name(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x =
        nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut s = String::from("wrappers.");
    for _ in 0..10 {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        s.push(char::from(ALPHABET[(v >> 58) as usize % ALPHABET.len()]));
    }
    s
}

fn wrapper_err(w: &ManifestWrapper, detail: impl std::fmt::Display) -> ActivateError {
    ActivateError::Wrapper {
        program: w.program.clone(),
        detail: detail.to_string(),
    }
}

/// Whether an error is a lack of privilege, which a test run by an ordinary user meets.
fn unprivileged(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let code = e.raw_os_error();
    rustix::process::geteuid().as_raw() != 0
        && (code == Some(Errno::PERM.raw_os_error()) || code == Some(Errno::NOTSUP.raw_os_error()))
}

/// Makes one wrapper in `dir`.
fn install(
    root: &Path,
    dir: &Path,
    w: &ManifestWrapper,
    uid: u32,
    gid: u32,
) -> Result<(), ActivateError> {
    // Links inside the machine's tree are followed as the machine sees them; a machine tree
    // whose store is a link to a store elsewhere on this host (`--root DIR` beside a shared
    // store) has the source at the same place as the host sees it.
    let source = match resolve_under(root, &w.source) {
        Some(p) if p.exists() => p,
        inside => {
            let host = root.join(w.source.trim_start_matches('/'));
            match inside {
                _ if host.exists() => host,
                Some(p) => p,
                None => return Err(wrapper_err(w, format!("cannot resolve {}", w.source))),
            }
        }
    };
    let mut from = fs::File::open(&source)
        .map_err(|e| wrapper_err(w, format!("cannot open {}: {e}", w.source)))?;
    let dst = dir.join(&w.program);
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&dst)
        .map_err(|e| wrapper_err(w, format!("cannot create {}: {e}", dst.display())))?;
    io::copy(&mut from, &mut to)
        .map_err(|e| wrapper_err(w, format!("cannot copy {}: {e}", w.source)))?;
    let owner = (
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    );
    if let Err(e) = rustix::fs::fchown(&to, owner.0, owner.1) {
        let e = io::Error::from(e);
        if !unprivileged(&e) {
            return Err(wrapper_err(w, format!("cannot change its owner: {e}")));
        }
    }
    if let Some(caps) = &w.capabilities {
        let value = vfs_cap_data(caps);
        if let Err(e) = rustix::fs::fsetxattr(
            &to,
            "security.capability",
            &value,
            rustix::fs::XattrFlags::empty(),
        ) {
            let e = io::Error::from(e);
            if !unprivileged(&e) {
                return Err(wrapper_err(w, format!("cannot set its capabilities: {e}")));
            }
        }
    }
    rustix::fs::fchmod(&to, rustix::fs::Mode::from_raw_mode(w.mode))
        .map_err(|e| wrapper_err(w, format!("cannot set its mode: {}", io::Error::from(e))))?;
    to.sync_all()
        .map_err(|e| wrapper_err(w, format!("cannot sync {}: {e}", dst.display())))
}

/// Makes sure `/run/wrappers` is a mount of its own on the live machine (see the module
/// documentation); returns a warning when it is mounted `nosuid`.
fn ensure_tmpfs(dir: &Path) -> Result<Option<String>, ActivateError> {
    use rustix::mount::{mount, MountFlags};
    if !is_mount_point(dir) {
        // A mount made in a private namespace (a command that made the store writable for
        // itself) would vanish with it, and the wrappers with it: stage 2 mounts it at boot.
        let own = fs::read_link("/proc/self/ns/mnt").ok();
        if own.is_some() && own != fs::read_link("/proc/1/ns/mnt").ok() {
            return Ok(Some(format!(
                "{} is not a mount of its own (strata-init mounts it at boot): its setuid \
                 wrappers work after the next boot",
                dir.display()
            )));
        }
        mount("tmpfs", dir, "tmpfs", MountFlags::NODEV, c"mode=755")
            .map_err(|e| io_err(dir)(e.into()))?;
    }
    let nosuid = strata_store::fs::mount_flags(dir)
        .is_ok_and(|f| f.contains(rustix::fs::StatVfsMountFlags::NOSUID));
    Ok(nosuid.then(|| {
        format!(
            "{} is mounted nosuid: its setuid wrappers do not raise privileges",
            dir.display()
        )
    }))
}

/// Makes `/run/wrappers/bin` (below `root`) hold exactly `wrappers`; see the module
/// documentation. Users and groups must already be in `root`'s `/etc/passwd` and
/// `/etc/group`. Returns what changed.
pub fn apply(root: &Path, wrappers: &[ManifestWrapper]) -> Result<Vec<String>, ActivateError> {
    let dir = root.join(WRAPPERS_DIR);
    let bin = dir.join("bin");
    let old = fs::read_link(&bin).ok();
    if wrappers.is_empty() && old.is_none() {
        return Ok(Vec::new());
    }
    // Every owner and group is known before anything is made.
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let group = fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    let users = crate::users::parse_passwd(&passwd);
    let groups = crate::users::parse_group(&group);
    let mut ids = Vec::new();
    for w in wrappers {
        if w.program.is_empty()
            || w.program.contains(['/', '\0'])
            || [".", ".."].contains(&w.program.as_str())
        {
            return Err(wrapper_err(w, "the program's name is not a file name"));
        }
        let uid = users.iter().find(|u| u.name == w.owner).map(|u| u.uid);
        let gid = groups.iter().find(|g| g.name == w.group).map(|g| g.gid);
        match (uid, gid) {
            (Some(u), Some(g)) => ids.push((u, g)),
            (None, _) => return Err(wrapper_err(w, format!("no user `{}'", w.owner))),
            (_, None) => return Err(wrapper_err(w, format!("no group `{}'", w.group))),
        }
    }
    let mut changes = Vec::new();
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    if root == Path::new("/") {
        changes.extend(ensure_tmpfs(&dir)?);
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(io_err(&dir))?;
    let mut new = None;
    for n in 0..100 {
        let name = fresh_name(n);
        let d = dir.join(&name);
        match fs::create_dir(&d) {
            Ok(()) => {
                new = Some((name, d));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&d)(e)),
        }
    }
    let Some((name, new_dir)) = new else {
        return Err(ActivateError::Invalid(format!(
            "cannot find a free name for a directory in {}",
            dir.display()
        )));
    };
    let made = (|| {
        fs::set_permissions(&new_dir, fs::Permissions::from_mode(0o755))
            .map_err(io_err(&new_dir))?;
        for (w, (uid, gid)) in wrappers.iter().zip(&ids) {
            install(root, &new_dir, w, *uid, *gid)?;
        }
        fs::File::open(&new_dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&new_dir))?;
        let tmp = dir.join("bin-tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&name, &tmp).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &bin).map_err(io_err(&bin))?;
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))
    })();
    if let Err(e) = made {
        let _ = strata_store::fs::delete_tree(&new_dir);
        return Err(e);
    }
    // The previous set, and any a crash left behind.
    let mut before: Vec<String> = Vec::new();
    if let Some(o) = &old {
        if let Ok(rd) = fs::read_dir(dir.join(o)) {
            before = rd
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
        }
    }
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("wrappers.") && n != name {
                let _ = strata_store::fs::delete_tree(&e.path());
            }
        }
    }
    before.sort();
    let mut now: Vec<String> = wrappers.iter().map(|w| w.program.clone()).collect();
    now.sort();
    if before != now {
        changes.push(if now.is_empty() {
            "removed the wrappers of /run/wrappers/bin".to_owned()
        } else {
            format!("wrappers in /run/wrappers/bin: {}", now.join(", "))
        });
    }
    Ok(changes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn capability_attribute_bytes() {
        let caps = parse_capabilities("cap_net_raw+ep").unwrap();
        assert_eq!(
            caps,
            Capabilities {
                permitted: 1 << 13,
                inheritable: 0,
                effective: true
            }
        );
        let mut want = vec![0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00];
        want.extend([0u8; 12]);
        assert_eq!(vfs_cap_data(&caps).to_vec(), want);
        // Without `e`, the flag is clear; capabilities above 31 go to the second words.
        let caps = parse_capabilities("cap_net_raw,CAP_BPF+p cap_chown+i").unwrap();
        assert_eq!(caps.permitted, (1 << 13) | (1 << 39));
        assert_eq!(caps.inheritable, 1);
        assert!(!caps.effective);
        let b = vfs_cap_data(&caps);
        assert_eq!(&b[..4], &[0, 0, 0, 2]);
        assert_eq!(&b[12..16], &(1u32 << 7).to_le_bytes());
    }

    #[test]
    fn capability_texts() {
        let all = (1u64 << 41) - 1;
        assert_eq!(parse_capabilities("=ep").unwrap().permitted, all);
        assert_eq!(
            parse_capabilities("all=p cap_kill-p").unwrap().permitted,
            all & !(1 << 5)
        );
        let c = parse_capabilities("cap_setuid,cap_setgid=pe cap_setgid=").unwrap();
        assert_eq!(c.permitted, 1 << 7);
        assert!(
            parse_capabilities("").unwrap()
                == Capabilities {
                    permitted: 0,
                    inheritable: 0,
                    effective: false
                }
        );
        for (bad, says) in [
            ("cap_net_rw+ep", "`cap_net_rw' is not a capability name"),
            ("cap_net_raw", "has no operation"),
            ("+ep", "names no capability"),
            ("cap_net_raw+eq", "`q' in `cap_net_raw+eq' is not a flag"),
            ("cap_net_raw+p cap_kill+ep", "one effective bit"),
        ] {
            let e = parse_capabilities(bad).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn modes_as_nixos_computes_them() {
        assert_eq!(file_mode("u+rx,g+x,o+x", true, false).unwrap(), 0o4511);
        assert_eq!(file_mode("u+rx,g+x,o+x", false, false).unwrap(), 0o511);
        assert_eq!(file_mode("u+rx,g+x", false, true).unwrap(), 0o2510);
        assert_eq!(file_mode("a+rx", false, false).unwrap(), 0o555);
        assert_eq!(file_mode("+rwx", false, false).unwrap(), 0o755);
        assert_eq!(file_mode("u=rwx,go=u-w", false, false).unwrap(), 0o755);
        // A number sets the mode, setuid included (as chmod does on a file).
        assert_eq!(file_mode("0755", true, false).unwrap(), 0o755);
        assert_eq!(file_mode("4755", false, false).unwrap(), 0o4755);
        assert_eq!(file_mode("+0444", true, false).unwrap(), 0o4444);
        assert_eq!(file_mode("u+rx,o-s", true, false).unwrap(), 0o4500);
        for bad in ["", "u", "u+rx,", "rwx", "0999", "u+q", "12345"] {
            assert!(file_mode(bad, false, false).is_err(), "{bad}");
        }
    }

    fn wrapper(program: &str, source: &str, mode: u32, caps: Option<&str>) -> ManifestWrapper {
        let (owner, group) = whoami();
        ManifestWrapper {
            program: program.into(),
            source: source.into(),
            owner,
            group,
            mode,
            capabilities: caps.map(|c| parse_capabilities(c).unwrap()),
        }
    }

    fn whoami() -> (String, String) {
        ("me".into(), "us".into())
    }

    /// A root with a user database naming the current user `me` and group `us`, and a
    /// program store with two programs reached through links.
    fn machine() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(
            r.join("etc/passwd"),
            format!("me:x:{uid}:{gid}::/:/bin/sh\n"),
        )
        .unwrap();
        fs::write(r.join("etc/group"), format!("us:x:{gid}:\n")).unwrap();
        let pkg = r.join("nix/store/aaa-pkg/usr/bin");
        fs::create_dir_all(&pkg).unwrap();
        fs::write(pkg.join("sudo"), b"\x7fELF sudo").unwrap();
        fs::write(pkg.join("ping"), b"\x7fELF ping").unwrap();
        let sw = r.join("nix/store/bbb-sw");
        fs::create_dir_all(sw.join("usr")).unwrap();
        std::os::unix::fs::symlink("/nix/store/aaa-pkg/usr/bin", sw.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", sw.join("bin")).unwrap();
        t
    }

    fn listing(root: &Path) -> Vec<(String, u32, Vec<u8>)> {
        let bin = root.join(WRAPPERS_DIR).join("bin");
        let mut v: Vec<_> = fs::read_dir(&bin)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let md = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    md.mode() & 0o7777,
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    fn wrapper_dirs(root: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(root.join(WRAPPERS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn apply_makes_copies_swaps_the_link_and_keeps_the_old_set_on_failure() {
        let t = machine();
        let r = t.path();
        // Nothing asked and nothing there: nothing made.
        assert!(apply(r, &[]).unwrap().is_empty());
        assert!(!r.join(WRAPPERS_DIR).exists());

        let set = [
            wrapper("sudo", "/nix/store/bbb-sw/bin/sudo", 0o4511, None),
            wrapper(
                "ping",
                "/nix/store/bbb-sw/usr/bin/ping",
                0o511,
                Some("cap_net_raw+p"),
            ),
        ];
        let changes = apply(r, &set).unwrap();
        assert_eq!(changes, ["wrappers in /run/wrappers/bin: ping, sudo"]);
        assert_eq!(
            listing(r),
            [
                ("ping".to_owned(), 0o511, b"\x7fELF ping".to_vec()),
                ("sudo".to_owned(), 0o4511, b"\x7fELF sudo".to_vec()),
            ]
        );
        let first = fs::read_link(r.join("run/wrappers/bin")).unwrap();
        assert!(
            first.to_string_lossy().starts_with("wrappers."),
            "{first:?}"
        );
        assert_eq!(first.to_string_lossy().len(), "wrappers.".len() + 10);
        let md = fs::metadata(r.join(WRAPPERS_DIR)).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o755);

        // Again, the same set: a new directory, the old one gone, nothing reported.
        assert!(apply(r, &set).unwrap().is_empty());
        let second = fs::read_link(r.join("run/wrappers/bin")).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            wrapper_dirs(r),
            ["bin".to_owned(), second.to_string_lossy().into_owned()]
        );

        // A source that does not exist: the error names the wrapper, the old set stays.
        let broken = [
            wrapper("sudo", "/nix/store/bbb-sw/bin/sudo", 0o4511, None),
            wrapper("gone", "/nix/store/bbb-sw/bin/gone", 0o511, None),
        ];
        let e = apply(r, &broken).unwrap_err().to_string();
        assert!(
            e.contains("gone") && e.contains("/nix/store/bbb-sw/bin/gone"),
            "{e}"
        );
        assert_eq!(fs::read_link(r.join("run/wrappers/bin")).unwrap(), second);
        assert_eq!(listing(r).len(), 2);
        assert_eq!(
            wrapper_dirs(r),
            ["bin".to_owned(), second.to_string_lossy().into_owned()]
        );

        // An owner the machine does not have: refused before anything is made.
        let mut w = wrapper("sudo", "/nix/store/bbb-sw/bin/sudo", 0o4511, None);
        w.owner = "nobody-here".into();
        let e = apply(r, &[w]).unwrap_err().to_string();
        assert!(
            e.contains("sudo") && e.contains("no user `nobody-here'"),
            "{e}"
        );
        assert_eq!(wrapper_dirs(r).len(), 2);

        // A name that would leave the directory: refused.
        let w = wrapper("../evil", "/nix/store/bbb-sw/bin/sudo", 0o4511, None);
        let e = apply(r, &[w]).unwrap_err().to_string();
        assert!(e.contains("not a file name"), "{e}");
        assert!(!r.join("run/evil").exists());

        // An empty set empties the directory.
        assert_eq!(
            apply(r, &[]).unwrap(),
            ["removed the wrappers of /run/wrappers/bin"]
        );
        assert!(listing(r).is_empty());
        assert_eq!(wrapper_dirs(r).len(), 2);
    }

    #[test]
    fn activation_makes_the_wrappers_after_the_users() {
        use crate::tests::{generation, manifest, user};
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let prog = r.join("nix/store/ccc-pkg/usr/bin");
        fs::create_dir_all(&prog).unwrap();
        fs::write(prog.join("tool"), b"#!/bin/sh\n").unwrap();
        let mut m = manifest(vec![user("daemon", true, None)], Vec::new());
        let mut w = wrapper("tool", "/nix/store/ccc-pkg/usr/bin/tool", 0o2511, None);
        (w.owner, w.group) = ("daemon".into(), "daemon".into());
        m.wrappers = vec![w.clone()];
        let first = generation(r, "one", &m, &[]);
        let report = crate::activate(r, &first, &crate::Options::default()).unwrap();
        assert!(
            report
                .changes
                .contains(&"wrappers in /run/wrappers/bin: tool".to_owned()),
            "{:?}",
            report.changes
        );
        assert_eq!(
            listing(r),
            [("tool".to_owned(), 0o2511, b"#!/bin/sh\n".to_vec())]
        );
        let before = fs::read_link(r.join("run/wrappers/bin")).unwrap();

        // A generation whose wrapper's program is gone: the activation fails naming it, and
        // the wrappers of the first stay.
        w.source = "/nix/store/ccc-pkg/usr/bin/gone".into();
        m.wrappers = vec![w];
        let second = generation(r, "two", &m, &[]);
        let e = crate::activate(r, &second, &crate::Options::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("security.wrappers.tool: cannot open"), "{e}");
        assert_eq!(fs::read_link(r.join("run/wrappers/bin")).unwrap(), before);
        assert_eq!(listing(r).len(), 1);
    }

    #[test]
    fn links_are_followed_inside_the_root() {
        let t = machine();
        let r = t.path();
        assert_eq!(
            resolve_under(r, "/nix/store/bbb-sw/bin/sudo").unwrap(),
            r.join("nix/store/aaa-pkg/usr/bin/sudo")
        );
        assert_eq!(
            resolve_under(r, "/nix/store/bbb-sw/usr/../bin/./ping").unwrap(),
            r.join("nix/store/aaa-pkg/usr/bin/ping")
        );
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert!(resolve_under(r, "/loop/x").is_none());
    }
}
