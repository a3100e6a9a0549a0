//! strata-activate: makes a machine match a generation (users, /etc, timezone, hostname),
//! one code path for boot (strata-init runs it before any service) and for switches.
//!
//! Must not: be a second implementation of what boot does: boot and switch share its code path.
//!
//! [`manifest`] is the format every generation's `activation.json` has (the builder writes it).
//! [`activate`] takes an exclusive lock, then applies, in order: the user database
//! ([`users`]), home directories, `/etc` ([`etc`]: the static tree and the managed entries;
//! the time zone is the `localtime` entry), the setuid and capability wrappers of
//! `/run/wrappers/bin` ([`wrappers`]), and the live host name. Every file is replaced
//! through a temporary file, `fsync` and `rename`. The user database is staged whole and a
//! journal (`var/lib/strata/activation.journal`) written before anything is replaced; a run
//! that finds a journal first finishes that activation (moves the staged files into place,
//! redoes homes and `/etc`, which converge), so a machine killed at any step ends up wholly in
//! one generation. Then the kernel's side, with the system calls the caller gives
//! ([`KernelCalls`], strata-init's): swap ([`swap`]) and `boot.kernelModules`
//! ([`kernel_modules`]); what fails there is reported, not fatal. [`switch`] holds the verbs; [`collect`] deletes old generations before the
//! store's collection; [`confirm`] is the watchdog of `--confirm-within`.

#![forbid(unsafe_code)]

pub mod collect;
pub mod confirm;
pub mod control;
pub mod etc;
pub mod fhs;
pub mod kernel_modules;
pub mod manifest;
pub mod profile;
pub mod services;
pub mod swap;
pub mod switch;
pub mod users;
pub mod wrappers;

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use manifest::{ActivationManifest, ManifestError};

/// Where activation keeps its state, below the root.
pub const STATE_DIR: &str = "var/lib/strata";

/// Why an activation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Manifest(ManifestError),
    /// Files strata does not manage stand where the generation puts entries.
    #[error(
        "refusing to replace {} which strata does not manage; move {} away, or drop the entry \
         from environment.etc",
        .0.join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    Unmanaged(Vec<String>),
    #[error("{0}")]
    Invalid(String),
    /// A wrapper of `/run/wrappers/bin` could not be made; the previous set is still there.
    #[error("security.wrappers.{program}: {detail}; the previous wrappers are kept")]
    Wrapper { program: String, detail: String },
    /// A test stopped the activation at this step, as a kill would.
    #[error("stopped at step {0} (a test's fault)")]
    Injected(usize),
}

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
    let opts = strata_store::fs::WriteOptions {
        mode: Some(mode),
        owner,
    };
    strata_store::fs::write_atomic_with(path, &mut &*data, opts).map_err(|e| ActivateError::Io {
        path: e.path,
        source: e.source,
    })
}

/// The system calls activation needs and this crate does not make (it has no `unsafe`):
/// strata-init gives them at boot, and the `strata` command on a live machine.
#[derive(Debug, Clone, Copy)]
pub struct KernelCalls {
    /// Loads the kernel module file at a path (`.ko`, or `.ko.xz` decompressed in memory).
    pub load_module: fn(&str) -> io::Result<()>,
    /// `swapon(2)` of a path with flags.
    pub swapon: fn(&str, i32) -> io::Result<()>,
}

/// How to activate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Set the running kernel's host name (not in tests, which use a temporary root).
    pub set_hostname: bool,
    /// Enable swap and load kernel modules with these (on a live machine only).
    pub kernel: Option<KernelCalls>,
    /// Stop at this step as if killed (fault-injection tests).
    pub fail_at: Option<usize>,
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
    if let Err(e) = rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive) {
        return Err(ActivateError::Io {
            path,
            source: e.into(),
        });
    }
    Ok(Lock(f))
}

/// The journal of an activation in progress, below the root.
pub const JOURNAL: &str = "var/lib/strata/activation.journal";

/// What an activation in progress has staged: written before anything is replaced, removed
/// once everything is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Journal {
    /// The generation being activated.
    target: String,
    /// (file, its staged new contents), paths relative to the root.
    staged: Vec<(String, String)>,
}

/// Counts the steps of an activation, and stops at [`Options::fail_at`] as if killed there.
pub(crate) struct Steps {
    n: usize,
    fail_at: Option<usize>,
}

impl Steps {
    pub(crate) fn step(&mut self) -> Result<(), ActivateError> {
        let n = self.n;
        self.n += 1;
        if self.fail_at == Some(n) {
            return Err(ActivateError::Injected(n));
        }
        Ok(())
    }
}

/// Writes `data` to `path` (mode, owner) and syncs it, without replacing anything.
fn stage(path: &Path, data: &[u8], mode: u32) -> Result<(), ActivateError> {
    let _ = fs::remove_file(path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Moves the staged files of `j` into place (those already moved are skipped).
fn roll_forward(root: &Path, j: &Journal, steps: &mut Steps) -> Result<(), ActivateError> {
    for (file, staged) in &j.staged {
        let from = root.join(staged);
        if from.exists() {
            let to = root.join(file);
            fs::rename(&from, &to).map_err(io_err(&to))?;
            if let Some(d) = to.parent().and_then(|d| fs::File::open(d).ok()) {
                let _ = d.sync_all();
            }
        }
        steps.step()?;
    }
    Ok(())
}

/// Makes the machine whose root is `root` match the generation `toplevel` (a logical store
/// path); see the crate documentation. An activation that was interrupted (its journal is
/// there) is finished first, so the machine is wholly in one generation before it moves to
/// the next.
pub fn activate(root: &Path, toplevel: &str, opts: &Options) -> Result<Report, ActivateError> {
    let _lock = lock(root)?;
    let mut steps = Steps {
        n: 0,
        fail_at: opts.fail_at,
    };
    let mut report = Report::default();
    let journal_path = root.join(JOURNAL);
    if let Ok(text) = fs::read_to_string(&journal_path) {
        let j: Journal = serde_json::from_str(&text)
            .map_err(|e| ActivateError::Invalid(format!("{}: {e}", journal_path.display())))?;
        roll_forward(root, &j, &mut steps)?;
        let m = read_manifest(root, &j.target)?;
        finish(root, &j.target, &m, opts, &mut steps, &mut report)?;
        fs::remove_file(&journal_path).map_err(io_err(&journal_path))?;
        report.changes.push(format!(
            "finished the interrupted activation of {}",
            j.target
        ));
    }

    let m = read_manifest(root, toplevel)?;
    let etc_dir = root.join("etc");
    // Refuse before anything changes.
    etc::check(&etc_dir, &m.etc)?;
    let plan = plan_users_at(root, &m)?;
    fs::create_dir_all(&etc_dir).map_err(io_err(&etc_dir))?;
    let ids_json = serde_json::to_string_pretty(&plan.ids).unwrap_or_default();
    // Stage the whole user database, then the journal, then replace: a crash before the
    // journal leaves the old files; after it, the next run moves the rest into place. Users
    // are never removed (only locked), so replacing groups first and passwd last means every
    // user passwd names already has its group and its shadow line at each instant.
    let files: [(String, &str, u32); 5] = [
        (format!("{STATE_DIR}/ids.json"), ids_json.as_str(), 0o644),
        ("etc/group".into(), &plan.group, 0o644),
        ("etc/gshadow".into(), &plan.gshadow, 0o600),
        ("etc/shadow".into(), &plan.shadow, 0o600),
        ("etc/passwd".into(), &plan.passwd, 0o644),
    ];
    let mut staged = Vec::new();
    for (file, data, mode) in &files {
        let tmp = format!("{file}.strata-new");
        stage(&root.join(&tmp), data.as_bytes(), *mode)?;
        staged.push((file.clone(), tmp));
    }
    steps.step()?;
    let j = Journal {
        target: toplevel.to_owned(),
        staged,
    };
    write_atomic(
        &journal_path,
        serde_json::to_string(&j).unwrap_or_default().as_bytes(),
        0o600,
        None,
    )?;
    steps.step()?;
    roll_forward(root, &j, &mut steps)?;
    report.changes.extend(plan.changes.iter().cloned());
    finish(root, toplevel, &m, opts, &mut steps, &mut report)?;
    fs::remove_file(&journal_path).map_err(io_err(&journal_path))?;
    // The generation active before: at a switch, `run/current-system` still names it (at
    // boot it names this one).
    let previous = fs::read_link(root.join(switch::CURRENT_SYSTEM))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let previous_swap = previous
        .as_deref()
        .filter(|p| *p != toplevel)
        .and_then(|p| read_manifest(root, p).ok())
        .map(|pm| pm.swap_devices)
        .unwrap_or_default();
    let calls = opts.kernel.as_ref();
    report.changes.extend(swap::activate_swap(
        root,
        &m.host_name,
        &m.swap_devices,
        &previous_swap,
        calls,
    ));
    report.changes.extend(kernel_modules::load_modules(
        root,
        toplevel,
        previous.as_deref(),
        calls,
    ));
    Ok(report)
}

/// The user database `m` asks for, from the one below `root` and the IDs it remembers.
pub(crate) fn plan_users_at(
    root: &Path,
    m: &ActivationManifest,
) -> Result<users::UsersPlan, ActivateError> {
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
    // A forged manifest is refused as invalid, like a forged /etc entry.
    users::plan_users(m, &cur, &ids, &read_secret)
        .map_err(|e| ActivateError::Invalid(e.to_string()))
}

/// The activation manifest of the generation `toplevel` on the machine whose root is `root`.
pub fn read_manifest(root: &Path, toplevel: &str) -> Result<ActivationManifest, ActivateError> {
    let manifest_path = resolve(root, &format!("{toplevel}/activation.json"));
    let json = fs::read_to_string(&manifest_path).map_err(io_err(&manifest_path))?;
    ActivationManifest::from_json(&json).map_err(ActivateError::Manifest)
}

/// What follows the user database: home directories, `/etc`, the host name. Each part can
/// run again and reach the same state, which is how an interrupted activation is finished.
fn finish(
    root: &Path,
    toplevel: &str,
    m: &ActivationManifest,
    opts: &Options,
    steps: &mut Steps,
    report: &mut Report,
) -> Result<(), ActivateError> {
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let group = fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    let users_now = users::parse_passwd(&passwd);
    for u in m
        .users
        .iter()
        .filter(|u| u.create_home && !u.home.is_empty())
    {
        let Some(e) = users_now.iter().find(|e| e.name == u.name) else {
            continue;
        };
        let h = root.join(u.home.trim_start_matches('/'));
        if !h.exists() {
            fs::create_dir_all(&h).map_err(io_err(&h))?;
            std::os::unix::fs::chown(&h, Some(e.uid), Some(e.gid)).map_err(io_err(&h))?;
            fs::set_permissions(&h, fs::Permissions::from_mode(0o700)).map_err(io_err(&h))?;
            report.changes.push(format!("created {}", u.home));
        }
    }
    steps.step()?;
    let uids = users_now.into_iter().map(|e| (e.name, e.uid)).collect();
    let gids = users::parse_group(&group)
        .into_iter()
        .map(|g| (g.name, g.gid))
        .collect();
    let top = resolve(root, toplevel);
    let etc_link = top.join("etc");
    let etc_store = fs::read_link(&etc_link)
        .map_err(io_err(&etc_link))?
        .to_string_lossy()
        .into_owned();
    let tree = format!("{etc_store}/etc");
    let real_tree = resolve(root, &tree);
    report.changes.extend(etc::apply(
        &root.join("etc"),
        &tree,
        &m.etc,
        &uids,
        &gids,
        &real_tree,
        &mut || steps.step(),
    )?);
    // The fixed links to the userspace (they follow /run/current-system, which the caller
    // moves).
    report.changes.extend(fhs::ensure(root, toplevel)?);
    // After the user database (owners) and before /run/current-system moves (the caller).
    report.changes.extend(wrappers::apply(root, &m.wrappers)?);
    if opts.set_hostname && !m.host_name.is_empty() {
        if let Err(e) = rustix::system::sethostname(m.host_name.as_bytes()) {
            return Err(ActivateError::Io {
                path: PathBuf::from("/proc/sys/kernel/hostname"),
                source: e.into(),
            });
        }
    }
    steps.step()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod forged_tests;
