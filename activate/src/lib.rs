//! strata-activate: makes a machine match a generation (users, /etc, timezone, hostname),
//! one code path for boot (strata-init runs it before any service) and for switches.
//!
//! Must not: be a second implementation of what boot does: boot and switch share its code path.
//!
//! [`manifest`] is the format every generation's `activation.json` has (the builder writes it).
//! [`activate`] takes an exclusive lock, then applies, in order: the user database
//! ([`users`]), home directories, `/etc` ([`etc`]: the static tree and the managed entries;
//! the time zone is the `localtime` entry), and the live host name. Every file is replaced
//! through a temporary file, `fsync` and `rename`. Not yet: the journal that finishes or undoes
//! an interrupted activation, and the service plan (both with the switch issue).

pub mod etc;
pub mod manifest;
pub mod profile;
pub mod users;

use std::fs;
use std::io::{self, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use manifest::{ActivationManifest, ManifestError};

/// Where activation keeps its state, below the root.
pub const STATE_DIR: &str = "var/lib/strata";

/// Why an activation stopped.
#[derive(Debug)]
pub enum ActivateError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    Manifest(ManifestError),
    /// Files strata does not manage stand where the generation puts entries.
    Unmanaged(Vec<String>),
    Invalid(String),
}

impl std::fmt::Display for ActivateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActivateError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ActivateError::Manifest(e) => write!(f, "{e}"),
            ActivateError::Unmanaged(paths) => write!(
                f,
                "refusing to replace {} which strata does not manage; move {} away, or drop \
                 the entry from environment.etc",
                paths.join(", "),
                if paths.len() == 1 { "it" } else { "them" }
            ),
            ActivateError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ActivateError {}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ActivateError + '_ {
    move |source| ActivateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Replaces `path` with `data` (mode `mode`, owner `owner`) through a temporary file beside
/// it, `fsync` and `rename`, then syncs the directory: a reader sees the old file or the new
/// one, and a crash leaves one of them.
pub fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), ActivateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.strata-tmp"));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    let res = (|| {
        f.write_all(data)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(ActivateError::Io {
            path: tmp,
            source: e,
        });
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// How to activate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Set the running kernel's host name (not in tests, which use a temporary root).
    pub set_hostname: bool,
}

/// What an activation did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub changes: Vec<String>,
}

/// Where the logical path `logical` (on the machine whose root is `root`) is seen from here,
/// following links whose targets are absolute logical paths.
pub fn resolve(root: &Path, logical: &str) -> PathBuf {
    let mut p = root.join(logical.trim_start_matches('/'));
    for _ in 0..40 {
        match fs::read_link(&p) {
            Ok(t) if t.is_absolute() => {
                p = root.join(t.strip_prefix("/").unwrap_or(&t));
            }
            Ok(t) => {
                p = p.parent().unwrap_or(root).join(t);
            }
            Err(_) => break,
        }
    }
    p
}

/// An exclusive lock held while activating.
struct Lock(#[allow(dead_code)] fs::File);

fn lock(root: &Path) -> Result<Lock, ActivateError> {
    let dir = root.join(STATE_DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join("activate.lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } < 0 {
        return Err(ActivateError::Io {
            path,
            source: io::Error::last_os_error(),
        });
    }
    Ok(Lock(f))
}

/// Makes the machine whose root is `root` match the generation `toplevel` (a logical store
/// path); see the crate documentation.
pub fn activate(root: &Path, toplevel: &str, opts: &Options) -> Result<Report, ActivateError> {
    let _lock = lock(root)?;
    let top = resolve(root, toplevel);
    let manifest_path = resolve(root, &format!("{toplevel}/activation.json"));
    let json = fs::read_to_string(&manifest_path).map_err(io_err(&manifest_path))?;
    let m = ActivationManifest::from_json(&json).map_err(ActivateError::Manifest)?;
    let etc_link = top.join("etc");
    let etc_store = fs::read_link(&etc_link)
        .map_err(io_err(&etc_link))?
        .to_string_lossy()
        .into_owned();
    let tree = format!("{etc_store}/etc");
    let real_tree = resolve(root, &tree);
    let etc_dir = root.join("etc");
    // Refuse before anything changes.
    etc::check(&etc_dir, &m.etc)?;

    let mut report = Report::default();
    let read = |p: &str| fs::read_to_string(root.join(p)).unwrap_or_default();
    let cur = users::Current {
        passwd: read("etc/passwd"),
        group: read("etc/group"),
        shadow: read("etc/shadow"),
    };
    let ids_path = root.join(STATE_DIR).join("ids.json");
    let ids: users::IdMap = match fs::read_to_string(&ids_path) {
        Ok(t) => serde_json::from_str(&t)
            .map_err(|e| ActivateError::Invalid(format!("{}: {e}", ids_path.display())))?,
        Err(_) => users::IdMap::default(),
    };
    let read_secret = |p: &str| fs::read_to_string(root.join(p.trim_start_matches('/'))).ok();
    let plan = users::plan_users(&m, &cur, &ids, &read_secret).map_err(ActivateError::Invalid)?;
    fs::create_dir_all(&etc_dir).map_err(io_err(&etc_dir))?;
    write_atomic(
        &ids_path,
        serde_json::to_string_pretty(&plan.ids)
            .unwrap_or_default()
            .as_bytes(),
        0o644,
        None,
    )?;
    // Groups before the users that name them; the secrets never world-readable.
    write_atomic(&etc_dir.join("group"), plan.group.as_bytes(), 0o644, None)?;
    write_atomic(
        &etc_dir.join("gshadow"),
        plan.gshadow.as_bytes(),
        0o600,
        None,
    )?;
    write_atomic(&etc_dir.join("passwd"), plan.passwd.as_bytes(), 0o644, None)?;
    write_atomic(&etc_dir.join("shadow"), plan.shadow.as_bytes(), 0o600, None)?;
    report.changes.extend(plan.changes.iter().cloned());
    for (home, uid, gid) in &plan.homes {
        let h = root.join(home.trim_start_matches('/'));
        if !h.exists() {
            fs::create_dir_all(&h).map_err(io_err(&h))?;
            std::os::unix::fs::chown(&h, Some(*uid), Some(*gid)).map_err(io_err(&h))?;
            fs::set_permissions(&h, fs::Permissions::from_mode(0o700)).map_err(io_err(&h))?;
            report.changes.push(format!("created {home}"));
        }
    }
    let uids = users::parse_passwd(&plan.passwd)
        .into_iter()
        .map(|e| (e.name, e.uid))
        .collect();
    let gids = users::parse_group(&plan.group)
        .into_iter()
        .map(|g| (g.name, g.gid))
        .collect();
    report.changes.extend(etc::apply(
        &etc_dir, &tree, &m.etc, &uids, &gids, &real_tree,
    )?);
    if opts.set_hostname && !m.host_name.is_empty() {
        // SAFETY: the name's bytes and length.
        let r = unsafe { libc::sethostname(m.host_name.as_ptr().cast(), m.host_name.len()) };
        if r < 0 {
            return Err(ActivateError::Io {
                path: PathBuf::from("/proc/sys/kernel/hostname"),
                source: io::Error::last_os_error(),
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
