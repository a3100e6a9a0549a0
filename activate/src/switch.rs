//! The verbs NixOS users know (`switch`, `boot`, `test`, `dry-activate`, `rollback`) and
//! `confirm`, over a machine root.
//!
//! Order matters, and differs from NixOS on purpose: the generation is activated first
//! ([`crate::activate`]), the services are moved to it through strata-init's control socket,
//! and only then are the profile and the boot menu committed. A failed activation leaves the
//! profile and the boot default where they were, so the next boot is the known-good
//! generation. The boot menu is rewritten from the whole profile ([`update_boot_loader`]),
//! with the settings of the generation that becomes current; if that fails, the profile is
//! put back, so the two never disagree.
//!
//! With a confirmation window ([`SwitchOptions::confirm_within`]) a switch activates but
//! commits nothing: it records what it replaced in [`PENDING`]. `strata confirm` commits it;
//! otherwise [`revert_unconfirmed`] (run by a watchdog at the deadline) activates the
//! previous generation again. A reboot meanwhile boots the previous generation, since the
//! boot default was never changed, and strata-init drops the stale record at boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use strata_bootloader_cfg as blc;

use crate::manifest::{ActivationManifest, BootLoader};
use crate::services::{service_plan, ServicePlan};
use crate::{activate, io_err, profile, read_manifest, resolve, ActivateError, Options};

/// A switch waiting for `strata confirm`, below the root.
pub const PENDING: &str = "var/lib/strata/pending-confirm.json";
/// The link to the generation that is active now, below the root.
pub const CURRENT_SYSTEM: &str = "run/current-system";

/// What a verb does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Activate now and make it the boot default.
    Switch,
    /// Make it the boot default; do not activate.
    Boot,
    /// Activate now; leave the profile and the boot default alone.
    Test,
}

/// How to run a verb.
#[derive(Debug, Clone, Default)]
pub struct SwitchOptions {
    /// Set the running kernel's host name (on a live machine, not in a directory tree).
    pub set_hostname: bool,
    /// strata-init's control socket, when an init runs the machine's services.
    pub control_socket: Option<PathBuf>,
    /// Revert unless confirmed within this time (`switch` only).
    pub confirm_within: Option<Duration>,
    /// Stop the activation at this step (fault-injection tests).
    pub fail_at: Option<usize>,
    /// The system calls for swap and kernel modules, on a live machine.
    pub kernel: Option<crate::KernelCalls>,
}

impl SwitchOptions {
    /// The options for a verb on the machine at `root`: a live machine (`/`) also gets its
    /// kernel's host name set and its services moved through strata-init's control socket,
    /// when there is one.
    pub fn for_root(root: &Path, confirm_within: Option<Duration>) -> SwitchOptions {
        let live = root == Path::new("/");
        let socket = Path::new(crate::control::CONTROL_SOCKET);
        SwitchOptions {
            set_hostname: live,
            control_socket: (live && socket.exists()).then(|| socket.to_owned()),
            confirm_within,
            fail_at: None,
            kernel: None,
        }
    }
}

/// A live machine (root `/`) must have been set up by strata (`/etc/strata/machine`): a verb
/// takes over its `/etc` and its user database. A machine tree given by its root is taken as
/// it is.
pub fn require_strata_machine(root: &Path) -> Result<(), SwitchError> {
    if root == Path::new("/") && !Path::new("/etc/strata/machine").exists() {
        return Err(SwitchError::Refused(
            "this machine was not set up by strata (/etc/strata/machine is missing), so strata \
             will not take over its /etc and users; give --root DIR to work on a machine tree"
                .into(),
        ));
    }
    Ok(())
}

/// What a verb did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The generation the profile now points at, when the verb committed one.
    pub generation: Option<u32>,
    /// What activation changed.
    pub activation: Vec<String>,
    /// What strata-init did to the services (one line each).
    pub services: Vec<String>,
    /// Boot files written and removed.
    pub boot_written: Vec<String>,
    pub boot_removed: Vec<String>,
    /// When the switch reverts itself unless confirmed (seconds since the epoch).
    pub confirm_by: Option<u64>,
}

/// Why a verb stopped; each kind has its own exit code ([`SwitchError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// Nothing was committed: the profile and the boot default are as they were.
    #[error("activation failed, so the profile and the boot default were left as they were: {0}")]
    Activation(#[from] ActivateError),
    /// The machine is in the new generation (and committed), but services did not follow.
    #[error("the generation is active, but its services did not all follow: {0}")]
    Services(ServicesError),
    /// The boot menu could not be written; the profile was put back.
    #[error("the boot menu could not be updated, so the boot default was left as it was: {0}")]
    BootLoader(BootLoaderError),
    #[error("{0}")]
    Refused(String),
}

/// Why strata-init's services did not follow a switch.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    /// strata-init's answer lines that start with "failed".
    #[error("{}", .0.join("; "))]
    Failed(Vec<String>),
}

/// Why the boot menu could not be planned or written.
#[derive(Debug, thiserror::Error)]
pub enum BootLoaderError {
    #[error(transparent)]
    Profile(#[from] ActivateError),
    #[error("the system profile has no current generation")]
    NoCurrentGeneration,
    #[error(
        "generation {generation}: cannot read {}: {source}; the boot loader was left as it was",
        path.display()
    )]
    ReadBootspec {
        generation: u32,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Loader(#[from] blc::Error),
}

impl SwitchError {
    /// 3: activation failed; 4: services failed; 5: the boot loader failed; 1: refused.
    pub fn exit_code(&self) -> u8 {
        match self {
            SwitchError::Activation(_) => 3,
            SwitchError::Services(_) => 4,
            SwitchError::BootLoader(_) => 5,
            SwitchError::Refused(_) => 1,
        }
    }
}

/// A switch that waits for confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The generation that was activated.
    pub target: String,
    /// What was active before (reactivated unless confirmed).
    pub previous: String,
    /// Seconds since the epoch.
    pub deadline: u64,
}

/// The pending switch, if any.
pub fn pending(root: &Path) -> Result<Option<Pending>, ActivateError> {
    let p = root.join(PENDING);
    match fs::read_to_string(&p) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| ActivateError::Invalid(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&p)(e)),
    }
}

/// The generation active now: `run/current-system`, else the profile's current one.
pub fn active(root: &Path) -> Option<String> {
    if let Ok(t) = fs::read_link(root.join(CURRENT_SYSTEM)) {
        return Some(t.to_string_lossy().into_owned());
    }
    let cur = profile::current(root)?;
    profile::list(root)
        .ok()?
        .into_iter()
        .find(|g| g.number == cur)
        .map(|g| g.toplevel)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Activates `toplevel`, points `run/current-system` at it and moves the services.
fn activate_now(
    root: &Path,
    toplevel: &str,
    opts: &SwitchOptions,
    out: &mut Outcome,
) -> Result<(), SwitchError> {
    let report = activate(
        root,
        toplevel,
        &Options {
            set_hostname: opts.set_hostname,
            fail_at: opts.fail_at,
            kernel: opts.kernel,
        },
    )?;
    out.activation = report.changes;
    let run = root.join("run");
    fs::create_dir_all(&run).map_err(|e| SwitchError::Activation(io_err(&run)(e)))?;
    profile::relink(&root.join(CURRENT_SYSTEM), toplevel)?;
    Ok(())
}

/// Asks strata-init to move the services to `toplevel`.
fn apply_services(toplevel: &str, opts: &SwitchOptions) -> Result<Vec<String>, ServicesError> {
    let Some(socket) = &opts.control_socket else {
        return Ok(Vec::new());
    };
    let answer = crate::control::request(
        socket,
        &format!("apply {toplevel}"),
        Duration::from_secs(120),
    )?;
    let mut lines: Vec<String> = answer.lines().map(str::to_owned).collect();
    // The services it started, restarted or reloaded are under way: wait until they are
    // done (a switch made from elsewhere is confirmed only once its services run).
    if let Some(line) = wait_settled(socket, SETTLE_LIMIT) {
        lines.push(line);
    }
    let failed: Vec<&String> = lines.iter().filter(|l| l.starts_with("failed")).collect();
    if failed.is_empty() {
        Ok(lines)
    } else {
        Err(ServicesError::Failed(failed.into_iter().cloned().collect()))
    }
}

/// How long a switch waits for its services to be started and reloaded.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// Asks strata-init at `socket` whether the services are settled until it says so, at most
/// `limit`; `Some` line to report when it stopped waiting for another reason (a strata-init
/// that does not know the question, one that stopped answering, the limit).
fn wait_settled(socket: &Path, limit: Duration) -> Option<String> {
    let start = std::time::Instant::now();
    loop {
        match crate::control::request(socket, "settled", Duration::from_secs(10)) {
            Ok(a) if a.trim() == "yes" => return None,
            Ok(_) => {}
            // An init from before the question: nothing to wait with.
            Err(crate::control::ControlError::Refused { .. }) => return None,
            Err(e) => return Some(format!("not waiting for the services to settle: {e}")),
        }
        if start.elapsed() >= limit {
            return Some(format!(
                "services still starting after {} s; not waiting longer",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Makes `toplevel` the profile's current generation and rewrites the boot menu; puts the
/// profile back if the menu cannot be written.
fn commit(root: &Path, toplevel: &str, out: &mut Outcome) -> Result<(), SwitchError> {
    let before = profile::current(root);
    let n = profile::add(root, toplevel)?;
    profile::set_current(root, n)?;
    match update_boot_loader(root) {
        Ok(r) => {
            out.generation = Some(n);
            out.boot_written = r.written;
            out.boot_removed = r.removed;
            Ok(())
        }
        Err(e) => {
            match before {
                Some(b) => profile::set_current(root, b)?,
                None => {
                    let link = root.join(profile::PROFILES).join(profile::SYSTEM);
                    let _ = fs::remove_file(link);
                }
            }
            if before != Some(n) {
                let _ = profile::delete(root, &[n]);
            }
            Err(SwitchError::BootLoader(e))
        }
    }
}

/// Runs `action` for the generation `toplevel` on the machine whose root is `root`.
pub fn switch(
    root: &Path,
    toplevel: &str,
    action: Action,
    opts: &SwitchOptions,
) -> Result<Outcome, SwitchError> {
    if let Some(p) = pending(root)? {
        return Err(SwitchError::Refused(format!(
            "the switch to {} waits for `strata confirm' (it reverts itself at {}); confirm it \
             or let it revert first",
            p.target, p.deadline
        )));
    }
    // Read first: a generation without a readable manifest is refused before anything moves.
    read_manifest(root, toplevel)?;
    let mut out = Outcome::default();
    match action {
        Action::Boot => commit(root, toplevel, &mut out)?,
        Action::Test | Action::Switch => {
            let previous = active(root);
            activate_now(root, toplevel, opts, &mut out)?;
            let services = apply_services(toplevel, opts);
            if action == Action::Switch {
                match (opts.confirm_within, previous) {
                    (Some(within), Some(previous)) => {
                        let p = Pending {
                            target: toplevel.to_owned(),
                            previous,
                            deadline: now() + within.as_secs(),
                        };
                        crate::write_atomic(
                            &root.join(PENDING),
                            serde_json::to_string(&p).unwrap_or_default().as_bytes(),
                            0o600,
                            None,
                        )?;
                        out.confirm_by = Some(p.deadline);
                    }
                    _ => commit(root, toplevel, &mut out)?,
                }
            }
            out.services = services.map_err(SwitchError::Services)?;
        }
    }
    Ok(out)
}

/// `strata rollback`: switches to the generation before the current one.
pub fn rollback(root: &Path, opts: &SwitchOptions) -> Result<Outcome, SwitchError> {
    let prev = profile::previous(root)?;
    if let Some(p) = pending(root)? {
        return Err(SwitchError::Refused(format!(
            "the switch to {} waits for confirmation; it reverts itself at {}, or run `strata \
             confirm` first",
            p.target, p.deadline
        )));
    }
    let mut out = Outcome::default();
    activate_now(root, &prev.toplevel, opts, &mut out)?;
    let services = apply_services(&prev.toplevel, opts);
    profile::set_current(root, prev.number)?;
    match update_boot_loader(root) {
        Ok(r) => {
            out.boot_written = r.written;
            out.boot_removed = r.removed;
        }
        Err(e) => return Err(SwitchError::BootLoader(e)),
    }
    out.generation = Some(prev.number);
    out.services = services.map_err(SwitchError::Services)?;
    Ok(out)
}

/// `strata confirm`: commits the pending switch.
pub fn confirm(root: &Path) -> Result<Outcome, SwitchError> {
    let Some(p) = pending(root)? else {
        return Err(SwitchError::Refused(
            "there is no switch waiting for confirmation".into(),
        ));
    };
    let mut out = Outcome::default();
    commit(root, &p.target, &mut out)?;
    let path = root.join(PENDING);
    fs::remove_file(&path).map_err(|e| SwitchError::Activation(io_err(&path)(e)))?;
    Ok(out)
}

/// Reverts the pending switch to `target` if it is still unconfirmed: activates the previous
/// generation again. `Ok(None)` when there was nothing to revert (confirmed, or another
/// switch's record).
pub fn revert_unconfirmed(
    root: &Path,
    target: &str,
    opts: &SwitchOptions,
) -> Result<Option<Outcome>, SwitchError> {
    let Some(p) = pending(root)? else {
        return Ok(None);
    };
    if p.target != target {
        return Ok(None);
    }
    let mut out = Outcome::default();
    activate_now(root, &p.previous, opts, &mut out)?;
    let services = apply_services(&p.previous, opts);
    let path = root.join(PENDING);
    fs::remove_file(&path).map_err(|e| SwitchError::Activation(io_err(&path)(e)))?;
    out.services = services.map_err(SwitchError::Services)?;
    Ok(Some(out))
}

/// What a switch to `toplevel` would do, without doing any of it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryPlan {
    pub from: Option<String>,
    pub to: String,
    pub host_name: Option<(String, String)>,
    pub time_zone: Option<(Option<String>, Option<String>)>,
    /// The user database's changes.
    pub users: Vec<String>,
    /// `/etc` entries added, changed, removed.
    pub etc_added: Vec<String>,
    pub etc_changed: Vec<String>,
    pub etc_removed: Vec<String>,
    pub services_stop: Vec<String>,
    pub services_restart: Vec<String>,
    pub services_reload: Vec<String>,
    pub services_start: Vec<String>,
    /// Changed but `restartIfChanged = false`: left running.
    pub services_skipped: Vec<String>,
}

/// `strata dry-activate`: compares the active generation's manifest with `toplevel`'s.
/// `running` says which services run now (all the active generation's boot services when
/// there is no init to ask).
pub fn dry_activate(
    root: &Path,
    toplevel: &str,
    running: Option<&[String]>,
) -> Result<DryPlan, ActivateError> {
    let new = read_manifest(root, toplevel)?;
    let from = active(root);
    let old = match &from {
        Some(t) => Some(read_manifest(root, t)?),
        None => None,
    };
    let mut plan = DryPlan {
        from: from.clone(),
        to: toplevel.to_owned(),
        ..Default::default()
    };
    crate::etc::check(&root.join("etc"), &new.etc)?;
    plan.users = crate::plan_users_at(root, &new)?.changes;
    let empty = ActivationManifest {
        etc: Vec::new(),
        services: Default::default(),
        ..new.clone()
    };
    let old_m = old.as_ref().unwrap_or(&empty);
    if old.is_some() && old_m.host_name != new.host_name {
        plan.host_name = Some((old_m.host_name.clone(), new.host_name.clone()));
    }
    if old.is_some() && old_m.time_zone != new.time_zone {
        plan.time_zone = Some((old_m.time_zone.clone(), new.time_zone.clone()));
    }
    for e in &new.etc {
        match old_m.etc.iter().find(|o| o.target == e.target) {
            None => plan.etc_added.push(e.target.clone()),
            Some(o) if o != e => plan.etc_changed.push(e.target.clone()),
            Some(_) => {}
        }
    }
    for o in &old_m.etc {
        if !new.etc.iter().any(|e| e.target == o.target) {
            plan.etc_removed.push(o.target.clone());
        }
    }
    // Without an init to ask: what the old generation starts at boot (with what its targets
    // pull in) is taken as running.
    let default_running: Vec<String> = crate::services::boot_set(&old_m.services)
        .into_iter()
        .collect();
    let running = running.unwrap_or(&default_running);
    let ServicePlan {
        stop,
        restart,
        reload,
        start,
        skipped,
    } = service_plan(&old_m.services, &new.services, &|n| {
        running.iter().any(|r| r == n)
    });
    plan.services_stop = stop;
    plan.services_restart = restart;
    plan.services_reload = reload;
    plan.services_start = start;
    plan.services_skipped = skipped;
    Ok(plan)
}

/// The boot loader settings of the profile's current generation.
fn loader_of(root: &Path) -> Result<(u32, BootLoader), BootLoaderError> {
    let gens = profile::list(root)?;
    let cur = gens
        .iter()
        .find(|g| g.current)
        .ok_or(BootLoaderError::NoCurrentGeneration)?;
    let m = read_manifest(root, &cur.toplevel)?;
    Ok((cur.number, m.boot_loader))
}

/// Rewrites the boot menu from every generation of the profile, with the current
/// generation's settings, in its boot directory below `root`.
pub fn update_boot_loader(root: &Path) -> Result<blc::InstallReport, BootLoaderError> {
    let (current, loader) = loader_of(root)?;
    let dir = root.join(loader.boot_dir.trim_start_matches('/'));
    let (plan, _) = boot_plan(root, current, &loader)?;
    Ok(blc::install(&plan, &dir, &|p| resolve(root, p))?)
}

/// The boot loader's plan for every generation of the profile below `root` (the machine
/// root), the default being `current`; also the generations listed.
pub fn boot_plan(
    root: &Path,
    current: u32,
    loader: &BootLoader,
) -> Result<(blc::Plan, Vec<blc::Generation>), BootLoaderError> {
    let mut gens = Vec::new();
    for g in profile::list(root)? {
        let path = resolve(root, &format!("{}/boot.json", g.toplevel));
        let json = fs::read_to_string(&path).map_err(|source| BootLoaderError::ReadBootspec {
            generation: g.number,
            path: path.clone(),
            source,
        })?;
        let date = profile::format_date(g.created);
        let mut hash = |p: &str| blc::hash_file(&resolve(root, p));
        gens.push(blc::Generation::from_bootspec(
            g.number,
            &date[..10],
            &json,
            &mut hash,
        )?);
    }
    let settings = blc::Settings {
        timeout: loader.timeout,
        limit: loader.configuration_limit,
        default: current,
        console_mode: loader.console_mode.clone(),
        serial: loader.serial,
        search: None,
    };
    let plan = if loader.kind == "grub" {
        blc::grub(&gens, &settings)
    } else {
        blc::systemd_boot(&gens, &settings)
    }?;
    Ok((plan, gens))
}

/// Deletes generations (never the current one) and rewrites the boot menu without them.
pub fn delete_generations(root: &Path, numbers: &[u32]) -> Result<(), SwitchError> {
    profile::delete(root, numbers)?;
    if profile::current(root).is_some() {
        update_boot_loader(root).map_err(SwitchError::BootLoader)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
