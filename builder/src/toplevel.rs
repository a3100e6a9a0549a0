//! Parts of a generation's toplevel made from the evaluated configuration ([`SystemConfig`]):
//! the static `/etc` tree ([`build_etc`]), the activation manifest ([`ActivationManifest`])
//! and the bootspec document `boot.json` (made by [`crate::bootspec`]).
//!
//! # The etc tree
//!
//! [`build_etc`] adds one store path named `etc` holding a directory `etc/`, which the toplevel
//! links as its `etc` (NixOS's layout). For every enabled `environment.etc` entry:
//!
//! - a `text` entry first becomes a store text file named `etc-<basename of target>`
//!   (characters a store name cannot hold replaced by `_`); a `source` entry names a store path
//!   (or a path below one) that must be valid, or a file or directory of the host, which is
//!   added to the store under the same kind of name;
//! - mode `symlink`: `etc/<target>` is a symlink to that store path;
//! - an octal mode: `etc/<target>` is a copy of the (regular) file, and, as NixOS's
//!   `make-etc.sh` does, `etc/<target>.mode` holds the mode (normalised to four digits, e.g.
//!   `0440`), `etc/<target>.uid` the owner and `etc/<target>.gid` the group (a name or `+N`),
//!   each followed by a newline. Activation copies the file to `/etc` with them.
//!
//! strata always adds two entries (defining either target yourself is an error):
//! `hostname` (`networking.hostName` and a newline; none if the name is empty) and, only when
//! `time.timeZone` is set, `localtime`, a symlink to `/etc/zoneinfo/<zone>`: the zoneinfo
//! database itself arrives with the tzdata package, so the link dangles until then.
//! `passwd`, `group` and `shadow` are never in the static tree: activation writes them from
//! the manifest.
//!
//! The tree is registered with its references (the store paths its links and copies
//! mention, found by scanning it against the store's valid paths, as a build's outputs are),
//! at the content address Nix gives a source path with references (`fixed:r:sha256`), so
//! the same configuration gives the same `etc` path on every machine and the garbage collector
//! never deletes a file the tree points to. Text files are scanned the same way: a text
//! naming a valid store path references it.
//!
//! # The activation manifest
//!
//! [`ActivationManifest`] is what activation reads to make the machine match the
//! configuration; [`make_manifest`] makes it. Its JSON form (`activation.json` in the
//! toplevel) is the serde form of the structures of `strata_activate::manifest` (re-exported
//! here; activation and strata-init read them), field names in camelCase. Every list is sorted, so equal configurations
//! give byte-equal manifests. Version 1:
//!
//! | field | meaning |
//! |---|---|
//! | `version` | `1`; a reader refuses any other ([`ActivationManifest::from_json`]) |
//! | `hostName` | `networking.hostName` |
//! | `timeZone` | `time.timeZone`, or `null` (UTC); `/etc/localtime` points at `/etc/zoneinfo/<zone>` |
//! | `stateVersion` | `system.stateVersion` |
//! | `mutableUsers` | `users.mutableUsers`: when true, passwords and users changed on the machine survive activation |
//! | `users` | [`ManifestUser`]s, by name |
//! | `groups` | [`ManifestGroup`]s, by name |
//! | `etc` | [`ManifestEtcEntry`]s, by target: every entry of the etc tree, generated ones included |
//! | `services` | the enabled `systemd.services`, by unit name, exactly as [`config::Service`] |
//! | `bootLoader` | [`BootLoader`]: `kind` (`grub` or `systemd-boot`), `timeout`, `configurationLimit`, `consoleMode`, `efiSupport`, `devices` (GRUB's BIOS disks), `serial` (a `console=ttyS*` kernel parameter: the menu goes to the serial port too), `bootDir` (the mount point of `/boot` or `/boot/efi`, else `/boot`) |
//! | `fileSystems` | [`ManifestFileSystem`]s (`mountPoint`, `device`, `fsType`, `options`), sorted by mount point, `/` first (stage 1 mounts it; stage 2 the others) |
//! | `wrappers` | [`ManifestWrapper`]s (`program`, `source`, `owner`, `group`, `mode`, `capabilities`), sorted by program: the checked `security.wrappers` ([`crate::wrappers`]) |
//! | `swapDevices` | [`ManifestSwap`]s (`device`, `size` in MiB, `priority`, `label`), in the configuration's order |
//! | `consoleKeyMap` | the binary keymap of `console.keyMap` (a store file, `loadkeys -b`'s format), which stage 2 loads at boot; absent for the kernel's own layout (`us`) |
//! | `sshPorts` | `services.openssh.ports` when the SSH server is enabled (absent otherwise): `strata build-vm` forwards the first |
//!
//! A user ([`ManifestUser`]): `name`, `uid` (`null`: activation allocates one, from the
//! system range if `isSystemUser`, else the normal range, and keeps it), `group` (primary),
//! `extraGroups`, `description`, `home`, `createHome`, `shell`, `isNormalUser`, `isSystemUser`,
//! `authorizedKeys` (public keys), and two password sources, each `null` or a
//! [`PasswordSource`]:
//!
//! - `password`: set on every activation (unless `mutableUsers` keeps a password changed on
//!   the machine). From `hashedPasswordFile`, which wins, then `hashedPassword`, then
//!   `password`;
//! - `initialPassword`: set only when activation creates the user. From
//!   `initialHashedPassword`, then `initialPassword`.
//!
//! A [`PasswordSource`] is `{"kind": "hash", "hash": "$6$...", "option": "initialPassword"}`
//! (a crypt(3) hash, and the option it came from) or `{"kind": "hashFile", "path": "/run/..."}`
//! (a file activation reads the hash from, so the hash never enters the store).
//!
//! **No clear-text password enters the store.** `hashedPassword` and `initialHashedPassword`
//! are hashes already and are kept as they are (as NixOS does; they must not hold `:` or a
//! line break, which would corrupt `/etc/shadow`). A clear-text `password` or
//! `initialPassword` is hashed here with SHA-512 crypt (`$6$`, [`sha512_crypt`]) and only the
//! hash is written. Builds must be reproducible, so the salt cannot be random: it is derived
//! from the host name and the user name ([`deterministic_salt`]). Consequently the same
//! password of the same user on the same host always gives the same hash, so the hash shows
//! whether a password changed between generations, and anyone who can read the store (it is
//! world-readable) can mount a dictionary attack on it. Prefer `hashedPassword` (made with
//! `mkpasswd -m sha-512`, with a random salt) or `hashedPasswordFile`.
//!
//! A group ([`ManifestGroup`]): `name`, `gid` (`null`: allocated at activation), `members`
//! (the group's `members` plus every user naming it in `extraGroups`, sorted, without
//! duplicates).
//!
//! An etc entry ([`ManifestEtcEntry`]): `target` (below `/etc`), `mode` (`symlink` or four
//! octal digits), `user` and `group` (for copies), `source`: what `etc/<target>` in the tree
//! is made from: a store path (the text file for `text` entries), or, for `localtime`,
//! `/etc/zoneinfo/<zone>`.
//!
//!
//! The wrappers ([`ManifestWrapper`]) are checked and made by [`crate::wrappers`] once the
//! system's package tree is built; [`make_manifest`] leaves them empty.
//!
//! The SHA-512 crypt is [`crate::crypt`]; `boot.json` is [`crate::bootspec`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use strata_store::local::{canonicalise, BuiltOutput};
use strata_store::refs::{self, RefScanner};
use strata_store::{LocalStore, StoreError, StorePath};

use crate::config::{self, SystemConfig};
use crate::crypt::{deterministic_salt, sha512_crypt};

pub use strata_activate::manifest::{
    ActivationManifest, BootLoader, ManifestEtcEntry, ManifestFileSystem, ManifestGroup,
    ManifestSwap, ManifestUser, ManifestWrapper, PasswordSource, MANIFEST_VERSION,
};

/// Why a toplevel part could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ToplevelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The configuration cannot be turned into the part (a bad target, a missing source...).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Manifest(#[from] strata_activate::manifest::ManifestError),
}

/// An `environment.etc` entry's target or mode that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcValueError {
    #[error("the target is empty")]
    EmptyTarget,
    #[error("the target `{0}' is absolute")]
    AbsoluteTarget(String),
    #[error("the target contains a NUL byte")]
    NulInTarget,
    #[error("the target `{0}' has an empty, `.' or `..' component")]
    BadComponent(String),
    #[error("the mode must be `symlink' or an octal mode like 0644, not `{0}'")]
    BadMode(String),
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(io::Error) -> ToplevelError {
    let context = context.into();
    move |source| ToplevelError::Io { context, source }
}

// ---------------------------------------------------------------------------------------------
// The activation manifest

fn check_hash(user: &str, option: &str, hash: &str) -> Result<(), ToplevelError> {
    if hash.contains([':', '\n', '\r']) {
        return Err(ToplevelError::Invalid(format!(
            "users.users.{user}.{option} must not contain `:' or a line break"
        )));
    }
    Ok(())
}

fn password_sources(
    host: &str,
    u: &config::User,
) -> Result<(Option<PasswordSource>, Option<PasswordSource>), ToplevelError> {
    let hashed = |option: &str, hash: &str| -> Result<PasswordSource, ToplevelError> {
        check_hash(&u.name, option, hash)?;
        Ok(PasswordSource::Hash {
            hash: hash.to_owned(),
            option: option.to_owned(),
        })
    };
    let clear = |option: &str, pw: &str| PasswordSource::Hash {
        hash: sha512_crypt(pw.as_bytes(), &deterministic_salt(host, &u.name)),
        option: option.to_owned(),
    };
    let always = if let Some(path) = &u.hashed_password_file {
        if !path.starts_with('/') {
            return Err(ToplevelError::Invalid(format!(
                "users.users.{}.hashedPasswordFile must be an absolute path, not `{path}'",
                u.name
            )));
        }
        Some(PasswordSource::HashFile { path: path.clone() })
    } else if let Some(h) = &u.hashed_password {
        Some(hashed("hashedPassword", h)?)
    } else {
        u.password.as_deref().map(|p| clear("password", p))
    };
    let initial = if let Some(h) = &u.initial_hashed_password {
        Some(hashed("initialHashedPassword", h)?)
    } else {
        u.initial_password
            .as_deref()
            .map(|p| clear("initialPassword", p))
    };
    Ok((always, initial))
}

/// The manifest of `config`, whose etc tree has the entries `etc` (from [`build_etc`]).
pub fn make_manifest(
    config: &SystemConfig,
    etc: &[ManifestEtcEntry],
) -> Result<ActivationManifest, ToplevelError> {
    let mut users = Vec::new();
    for u in config.users.users.values() {
        let (password, initial_password) = password_sources(&config.host_name, u)?;
        users.push(ManifestUser {
            name: u.name.clone(),
            uid: u.uid,
            group: u.group.clone(),
            extra_groups: u.extra_groups.clone(),
            description: u.description.clone(),
            home: u.home.clone(),
            create_home: u.create_home,
            shell: u.shell.clone(),
            is_normal_user: u.is_normal_user,
            is_system_user: u.is_system_user,
            password,
            initial_password,
            authorized_keys: u.authorized_keys.clone(),
        });
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let mut groups = Vec::new();
    for g in config.users.groups.values() {
        let mut members: BTreeSet<String> = g.members.iter().cloned().collect();
        for u in config.users.users.values() {
            if u.extra_groups.contains(&g.name) {
                members.insert(u.name.clone());
            }
        }
        groups.push(ManifestGroup {
            name: g.name.clone(),
            gid: g.gid,
            members: members.into_iter().collect(),
        });
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let mut etc = etc.to_vec();
    etc.sort_by(|a, b| a.target.cmp(&b.target));
    // BTreeMap order: sorted by mount point, so a parent comes before what is mounted on it.
    let file_systems = config
        .file_systems
        .values()
        .filter_map(|f| {
            Some(ManifestFileSystem {
                mount_point: f.mount_point.clone(),
                device: f.device.clone()?,
                fs_type: f.fs_type.clone(),
                options: f.options.clone(),
            })
        })
        .collect();
    Ok(ActivationManifest {
        version: MANIFEST_VERSION,
        host_name: config.host_name.clone(),
        time_zone: config.time_zone.clone(),
        state_version: config.state_version.clone(),
        mutable_users: config.users.mutable_users,
        users,
        groups,
        etc,
        services: config.services.clone(),
        boot_loader: boot_loader(config),
        file_systems,
        wrappers: Vec::new(),
        swap_devices: config
            .swap_devices
            .iter()
            .map(|s| ManifestSwap {
                device: s.device.clone(),
                size: s.size,
                priority: s.priority,
                label: s.label.clone(),
            })
            .collect(),
        console_key_map: config.console_key_map.clone(),
        ssh_ports: config.ssh_ports.clone(),
    })
}

/// The boot loader settings of the configuration.
fn boot_loader(config: &SystemConfig) -> BootLoader {
    let l = &config.boot.loader;
    let serial = config
        .boot
        .kernel_params
        .iter()
        .any(|p| p.starts_with("console=ttyS"));
    let boot_dir = config
        .file_systems
        .values()
        .find(|f| f.mount_point == "/boot" || f.mount_point == "/boot/efi")
        .map_or_else(|| "/boot".to_owned(), |f| f.mount_point.clone());
    if l.grub.enable {
        let mut devices: Vec<String> = l.grub.devices.clone();
        if !l.grub.device.is_empty() && !devices.contains(&l.grub.device) {
            devices.insert(0, l.grub.device.clone());
        }
        BootLoader {
            kind: "grub".into(),
            timeout: l.timeout,
            configuration_limit: Some(l.grub.configuration_limit),
            console_mode: "keep".into(),
            efi_support: l.grub.efi_support,
            devices,
            serial,
            boot_dir,
        }
    } else {
        BootLoader {
            kind: "systemd-boot".into(),
            timeout: l.timeout,
            configuration_limit: l.systemd_boot.configuration_limit,
            console_mode: l.systemd_boot.console_mode.clone(),
            efi_support: true,
            devices: Vec::new(),
            serial,
            boot_dir,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The etc tree

/// The `etc` store path and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcTree {
    /// The store path; the tree is its `etc` directory.
    pub path: StorePath,
    /// Every entry, sorted by target.
    pub entries: Vec<ManifestEtcEntry>,
}

/// Checks an etc target: relative, no empty, `.` or `..` components.
pub fn check_etc_target(target: &str) -> Result<(), EtcValueError> {
    if target.is_empty() {
        return Err(EtcValueError::EmptyTarget);
    }
    if target.starts_with('/') {
        return Err(EtcValueError::AbsoluteTarget(target.to_owned()));
    }
    if target.contains('\0') {
        return Err(EtcValueError::NulInTarget);
    }
    if target
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(EtcValueError::BadComponent(target.to_owned()));
    }
    Ok(())
}

/// `symlink`, or an octal mode (with or without a leading 0) normalised to four digits.
pub fn normalise_mode(mode: &str) -> Result<String, EtcValueError> {
    if mode == "symlink" {
        return Ok(mode.to_owned());
    }
    let ok = (3..=5).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(mode, 8) {
        Ok(m) if ok && m <= 0o7777 => Ok(format!("{m:04o}")),
        _ => Err(EtcValueError::BadMode(mode.to_owned())),
    }
}

/// `etc-<basename>`, with characters a store path name cannot hold replaced by `_`.
pub fn etc_store_name(target: &str) -> String {
    let base = target.rsplit('/').next().unwrap_or(target);
    let mut name = String::from("etc-");
    name.extend(base.chars().map(|c| {
        if c.is_ascii_alphanumeric() || "+-._?=".contains(c) {
            c
        } else {
            '_'
        }
    }));
    name.truncate(211);
    name
}

/// Checks a time zone name: tz database names are relative paths of plain characters.
fn check_time_zone(zone: &str) -> Result<(), ToplevelError> {
    let ok = !zone.is_empty()
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
        && check_etc_target(zone).is_ok();
    if ok {
        Ok(())
    } else {
        Err(ToplevelError::Invalid(format!(
            "time.timeZone `{zone}' is not a time zone name"
        )))
    }
}

/// What one entry of the tree is made of.
enum Content {
    /// A symlink to this target.
    Link(String),
    /// A copy of this physical regular file, with mode, user and group sidecars.
    Copy(PathBuf),
}

/// Adds the texts and host sources of `config`'s etc entries to `store`, then the `etc` tree.
pub fn build_etc(store: &mut LocalStore, config: &SystemConfig) -> Result<EtcTree, ToplevelError> {
    // No collection may delete a text before the tree referring to it is valid.
    let _hold = store.gc_hold()?;
    let mut entries: BTreeMap<String, (ManifestEtcEntry, Content)> = BTreeMap::new();
    let mut insert = |entry: ManifestEtcEntry, content: Content, what: &str| {
        if let Some((old, _)) = entries.get(&entry.target) {
            return Err(ToplevelError::Invalid(format!(
                "{what}: the target `{}' is defined twice (also by the entry from `{}')",
                entry.target, old.source
            )));
        }
        entries.insert(entry.target.clone(), (entry, content));
        Ok(())
    };

    for (name, e) in &config.environment.etc {
        if !e.enable {
            continue;
        }
        let what = format!("environment.etc.\"{name}\"");
        let bad = |m: String| ToplevelError::Invalid(format!("{what}: {m}"));
        check_etc_target(&e.target).map_err(|m| bad(m.to_string()))?;
        if matches!(e.target.as_str(), "passwd" | "group" | "shadow") {
            return Err(bad(format!(
                "/etc/{} is written by activation from users.users and users.groups",
                e.target
            )));
        }
        let mode = normalise_mode(&e.mode).map_err(|m| bad(m.to_string()))?;
        let (logical, physical) = match (&e.text, &e.source) {
            (Some(text), None) => {
                let info = add_scanned_text(store, &etc_store_name(&e.target), text.as_bytes())?;
                (store.print(&info), store.real_path(&info))
            }
            (None, Some(source)) if e.outside_store && mode == "symlink" => {
                if let Some(problem) = runtime_link_problem(source) {
                    return Err(bad(problem));
                }
                let link = source.trim_end_matches('/').to_owned();
                let entry = ManifestEtcEntry {
                    target: e.target.clone(),
                    mode,
                    user: e.user.clone(),
                    group: e.group.clone(),
                    source: link.clone(),
                };
                insert(entry, Content::Link(link), &what)?;
                continue;
            }
            (None, Some(source)) => {
                resolve_source(store, &e.target, source).map_err(|err| match err {
                    ToplevelError::Invalid(m) => bad(m),
                    other => other,
                })?
            }
            _ => return Err(bad("exactly one of `text' and `source' must be set".into())),
        };
        let content = if mode == "symlink" {
            Content::Link(logical.clone())
        } else {
            Content::Copy(physical)
        };
        let entry = ManifestEtcEntry {
            target: e.target.clone(),
            mode,
            user: e.user.clone(),
            group: e.group.clone(),
            source: logical,
        };
        insert(entry, content, &what)?;
    }

    let generated = |target: &str, source: String| ManifestEtcEntry {
        target: target.to_owned(),
        mode: "symlink".into(),
        user: "+0".into(),
        group: "+0".into(),
        source,
    };
    if !config.host_name.is_empty() {
        let text = format!("{}\n", config.host_name);
        let info = store.add_text("etc-hostname", text.as_bytes(), &BTreeSet::new())?;
        let p = store.print(&info.path);
        insert(
            generated("hostname", p.clone()),
            Content::Link(p),
            "networking.hostName (strata's /etc/hostname)",
        )?;
    }
    if let Some(zone) = &config.time_zone {
        check_time_zone(zone)?;
        let link = format!("/etc/zoneinfo/{zone}");
        insert(
            generated("localtime", link.clone()),
            Content::Link(link),
            "time.timeZone (strata's /etc/localtime)",
        )?;
    }

    // The files the system's packages ship under /etc (their conffiles: /etc/login.defs,
    // /etc/security/limits.conf, ...), below everything the configuration defines.
    if let Some(sw) = &config.security.packages {
        for (target, logical) in package_etc_files(store, sw)? {
            let taken = entries.keys().any(|t| {
                *t == target
                    || (target.starts_with(t.as_str())
                        && target.as_bytes().get(t.len()) == Some(&b'/'))
                    || (t.starts_with(target.as_str())
                        && t.as_bytes().get(target.len()) == Some(&b'/'))
            });
            if taken || RESERVED_ETC.contains(&target.as_str()) {
                continue;
            }
            let entry = generated(&target, logical.clone());
            entries.insert(target, (entry, Content::Link(logical)));
        }
    }

    // A target below another one would need that one to be a directory of the tree.
    let targets: Vec<&String> = entries.keys().collect();
    for (i, t) in targets.iter().enumerate() {
        for u in &targets[i + 1..] {
            if u.starts_with(t.as_str()) && u.as_bytes().get(t.len()) == Some(&b'/') {
                return Err(ToplevelError::Invalid(format!(
                    "the etc target `{u}' is below the target `{t}'"
                )));
            }
        }
    }
    for (target, (entry, _)) in &entries {
        if entry.mode != "symlink" {
            for ext in ["mode", "uid", "gid"] {
                let side = format!("{target}.{ext}");
                if entries.contains_key(&side) {
                    return Err(ToplevelError::Invalid(format!(
                        "the etc target `{side}' collides with the {ext} file of `{target}'"
                    )));
                }
            }
        }
    }

    let stage = store.new_staging_dir("etc")?;
    let result =
        write_etc_tree(&stage, &entries).and_then(|()| register_tree(store, &stage, "etc"));
    if stage.exists() {
        let _ = strata_store::local::delete_tree(&stage);
    }
    let path = result?;
    Ok(EtcTree {
        path,
        entries: entries.into_values().map(|(e, _)| e).collect(),
    })
}

/// `/etc` files that activation writes or that strata makes: a package's copy never lands there.
const RESERVED_ETC: &[&str] = &[
    "passwd",
    "group",
    "shadow",
    "gshadow",
    "hostname",
    "localtime",
    "ld.so.cache",
];

/// Every file and link under `<sw>/etc` (the system's package tree), as (target relative to
/// /etc, logical store path), in name order.
fn package_etc_files(store: &LocalStore, sw: &str) -> Result<Vec<(String, String)>, ToplevelError> {
    let path = store
        .store_dir()
        .parse_containing(sw)
        .map_err(|e| ToplevelError::Invalid(format!("the system's packages `{sw}': {e}")))?;
    let rest = sw.strip_prefix(&store.print(&path)).unwrap_or("");
    let root = store
        .real_path(&path)
        .join(rest.trim_start_matches('/'))
        .join("etc");
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.is_empty() => break,
            Err(e) => return Err(io_ctx(format!("reading {}", dir.display()))(e)),
        };
        for e in rd {
            let e = e.map_err(io_ctx(format!("reading {}", dir.display())))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = e
                .file_type()
                .map_err(io_ctx(format!("reading {}", e.path().display())))?;
            if ft.is_dir() {
                stack.push(child);
            } else if check_etc_target(&child).is_ok() {
                out.push((child.clone(), format!("{sw}/etc/{child}")));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Adds a text, with the valid store paths it mentions as references.
fn add_scanned_text(
    store: &mut LocalStore,
    name: &str,
    text: &[u8],
) -> Result<StorePath, ToplevelError> {
    let valid = store.valid_paths()?;
    let mut scanner = RefScanner::new(&valid);
    scanner.write_all(text).map_err(io_ctx("scanning a text"))?;
    let refs = scanner.into_found();
    Ok(store.add_text(name, text, &refs)?.path)
}

/// A link to a file outside the store (made at run time, such as `/run/strata/resolv.conf`)
/// must be an absolute, normal path of one line: what is wrong with `source`, if anything.
fn runtime_link_problem(source: &str) -> Option<String> {
    let normal = source.starts_with('/')
        && !source.contains(['\n', '\0'])
        && source.split('/').skip(1).all(|c| c != "." && c != "..");
    (!normal).then(|| {
        format!("the source `{source}' is not an absolute path without `.' and `..' components")
    })
}

/// An entry's `source`: its logical path (under the store directory) and where it is on disk.
fn resolve_source(
    store: &mut LocalStore,
    target: &str,
    source: &str,
) -> Result<(String, PathBuf), ToplevelError> {
    let dir = store.store_dir().as_str().to_owned();
    if let Some(rest) = source.strip_prefix(&dir).and_then(|r| r.strip_prefix('/')) {
        let (base, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let path = StorePath::from_base_name(base).map_err(|e| {
            ToplevelError::Invalid(format!("the source `{source}' is not a store path: {e}"))
        })?;
        if !store.is_valid(&path)? {
            return Err(ToplevelError::Invalid(format!(
                "the source `{source}' is not valid in the store (build it first)"
            )));
        }
        if sub.split('/').any(|c| c == "..") {
            return Err(ToplevelError::Invalid(format!(
                "the source `{source}' leaves its store path"
            )));
        }
        let physical = if sub.is_empty() {
            store.real_path(&path)
        } else {
            store.real_path(&path).join(sub)
        };
        return Ok((source.trim_end_matches('/').to_owned(), physical));
    }
    let host = Path::new(source);
    if !host.is_absolute() {
        return Err(ToplevelError::Invalid(format!(
            "the source `{source}' is not an absolute path"
        )));
    }
    fs::symlink_metadata(host).map_err(io_ctx(format!("cannot read the source `{source}'")))?;
    let info = store.add_path(host, Some(&etc_store_name(target)))?;
    Ok((store.print(&info.path), store.real_path(&info.path)))
}

fn write_etc_tree(
    stage: &Path,
    entries: &BTreeMap<String, (ManifestEtcEntry, Content)>,
) -> Result<(), ToplevelError> {
    let etc = stage.join("etc");
    fs::create_dir_all(&etc).map_err(io_ctx(format!("cannot create {}", etc.display())))?;
    for (target, (entry, content)) in entries {
        let dest = etc.join(target);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(io_ctx(format!("cannot create {}", parent.display())))?;
        }
        match content {
            Content::Link(to) => symlink(to, &dest)
                .map_err(io_ctx(format!("cannot create the link {}", dest.display())))?,
            Content::Copy(from) => {
                let md = fs::symlink_metadata(from)
                    .map_err(io_ctx(format!("cannot read {}", from.display())))?;
                if !md.is_file() {
                    return Err(ToplevelError::Invalid(format!(
                        "/etc/{target}: a copied entry (mode {}) needs a regular file, and \
                         `{}' is not one",
                        entry.mode, entry.source
                    )));
                }
                fs::copy(from, &dest).map_err(io_ctx(format!(
                    "cannot copy {} to {}",
                    from.display(),
                    dest.display()
                )))?;
                for (ext, value) in [
                    ("mode", &entry.mode),
                    ("uid", &entry.user),
                    ("gid", &entry.group),
                ] {
                    let side = etc.join(format!("{target}.{ext}"));
                    fs::write(&side, format!("{value}\n"))
                        .map_err(io_ctx(format!("cannot write {}", side.display())))?;
                }
            }
        }
    }
    Ok(())
}

/// NAR hash and size of `tree`, and which valid store paths it mentions.
fn hash_and_scan(
    store: &LocalStore,
    tree: &Path,
) -> Result<(strata_store::Hash, u64, BTreeSet<StorePath>), ToplevelError> {
    let valid = store.valid_paths()?;
    Ok(refs::hash_and_scan(tree, &valid).map_err(StoreError::from)?)
}

/// Registers the tree `stage` (in the store's staging area) as the source path `name` with
/// the references it has; the staged tree is gone afterwards.
fn register_tree(
    store: &mut LocalStore,
    stage: &Path,
    name: &str,
) -> Result<StorePath, ToplevelError> {
    canonicalise(stage)?;
    let (nar_hash, nar_size, references) = hash_and_scan(store, stage)?;
    let path = store
        .store_dir()
        .make_source_path(name, &nar_hash, &references, false)
        .map_err(StoreError::from)?;
    store.register_built_outputs(vec![BuiltOutput {
        tree: stage.to_path_buf(),
        path: path.clone(),
        references,
        deriver: None,
        ca: Some(format!("fixed:r:{nar_hash}")),
        nar_hash,
        nar_size,
    }])?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_store::StoreDir;

    /// The example's builder input, without the files of the security modules (PAM, NSS,
    /// sudo), which these tests of the tree's mechanics do not look at.
    fn example() -> SystemConfig {
        let mut cfg: SystemConfig =
            serde_json::from_str(include_str!("../../modules/tests/example.json")).unwrap();
        cfg.environment
            .etc
            .retain(|t, _| !t.starts_with("pam.d/") && t != "nsswitch.conf" && t != "sudoers");
        cfg
    }

    #[test]
    fn manifest_of_the_example() {
        let cfg = example();
        let m = make_manifest(&cfg, &[]).unwrap();
        assert_eq!(m.version, 1);
        assert_eq!(m.host_name, "saguaro");
        assert_eq!(m.time_zone.as_deref(), Some("America/Phoenix"));
        assert!(m.mutable_users);
        let names: Vec<&str> = m.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "root"]);
        let alice = &m.users[0];
        assert_eq!(alice.uid, None);
        assert_eq!(alice.group, "users");
        assert_eq!(alice.extra_groups, ["wheel"]);
        assert_eq!(alice.home, "/home/alice");
        assert!(alice.create_home && alice.is_normal_user);
        assert_eq!(alice.password, None);
        let want = sha512_crypt(b"changeme", &deterministic_salt("saguaro", "alice"));
        assert_eq!(
            alice.initial_password,
            Some(PasswordSource::Hash {
                hash: want,
                option: "initialPassword".into()
            })
        );
        let wheel = m.groups.iter().find(|g| g.name == "wheel").unwrap();
        assert_eq!(wheel.members, ["alice"]);
        assert!(m.services.contains_key("hello"));

        let json = m.to_json();
        assert!(!json.contains("changeme"));
        assert_eq!(ActivationManifest::from_json(&json).unwrap(), m);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["users"][0]["initialPassword"]["kind"], "hash");
        assert_eq!(v["users"][0]["createHome"], true);
        assert_eq!(v["hostName"], "saguaro");
    }

    #[test]
    fn manifest_versions_are_checked() {
        let m = make_manifest(&example(), &[]).unwrap();
        let mut v = serde_json::to_value(&m).unwrap();
        v["version"] = 2.into();
        let e = ActivationManifest::from_json(&v.to_string()).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        v.as_object_mut().unwrap().remove("version");
        assert!(ActivationManifest::from_json(&v.to_string()).is_err());
    }

    #[test]
    fn password_precedence_and_checks() {
        let mut cfg = example();
        let alice = cfg.users.users.get_mut("alice").unwrap();
        alice.password = Some("hunter2".into());
        alice.hashed_password = Some("$6$x$y".into());
        alice.initial_hashed_password = Some("$6$a$b".into());
        let m = make_manifest(&cfg, &[]).unwrap();
        assert_eq!(
            m.users[0].password,
            Some(PasswordSource::Hash {
                hash: "$6$x$y".into(),
                option: "hashedPassword".into()
            })
        );
        assert_eq!(
            m.users[0].initial_password,
            Some(PasswordSource::Hash {
                hash: "$6$a$b".into(),
                option: "initialHashedPassword".into()
            })
        );
        assert!(!m.to_json().contains("hunter2"));

        let alice = cfg.users.users.get_mut("alice").unwrap();
        alice.hashed_password_file = Some("/run/secrets/alice".into());
        let m = make_manifest(&cfg, &[]).unwrap();
        assert_eq!(
            m.users[0].password,
            Some(PasswordSource::HashFile {
                path: "/run/secrets/alice".into()
            })
        );

        let alice = cfg.users.users.get_mut("alice").unwrap();
        alice.hashed_password_file = None;
        alice.hashed_password = None;
        let m = make_manifest(&cfg, &[]).unwrap();
        let Some(PasswordSource::Hash { hash, option }) = &m.users[0].password else {
            panic!("no hash");
        };
        assert_eq!(option, "password");
        assert!(hash.starts_with("$6$") && !hash.contains("hunter2"));

        let alice = cfg.users.users.get_mut("alice").unwrap();
        alice.hashed_password = Some("$6$x$y:0:".into());
        let e = make_manifest(&cfg, &[]).unwrap_err();
        assert!(e.to_string().contains("hashedPassword"), "{e}");

        let alice = cfg.users.users.get_mut("alice").unwrap();
        alice.hashed_password = None;
        alice.hashed_password_file = Some("secrets/alice".into());
        assert!(make_manifest(&cfg, &[]).is_err());
    }

    #[test]
    fn targets_modes_and_names() {
        assert!(check_etc_target("ssh/sshd_config").is_ok());
        for bad in ["", "/etc/x", "a//b", "a/../b", "./a", "a/"] {
            assert!(check_etc_target(bad).is_err(), "{bad}");
        }
        assert_eq!(normalise_mode("symlink").unwrap(), "symlink");
        assert_eq!(normalise_mode("644").unwrap(), "0644");
        assert_eq!(normalise_mode("0440").unwrap(), "0440");
        assert_eq!(normalise_mode("1777").unwrap(), "1777");
        assert_eq!(normalise_mode("01777").unwrap(), "1777");
        for bad in ["", "64", "0888", "rw", "+644", "77777", "copy"] {
            assert!(normalise_mode(bad).is_err(), "{bad}");
        }
        assert_eq!(etc_store_name("motd"), "etc-motd");
        assert_eq!(etc_store_name("ssh/ssh config"), "etc-ssh_config");
        assert_eq!(etc_store_name(".profile"), "etc-.profile");
        assert_eq!(etc_store_name(&"é".repeat(300)).len(), 211);
    }

    fn temp_store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("root"), StoreDir::default()).unwrap();
        (dir, store)
    }

    fn etc_entry(
        target: &str,
        text: Option<&str>,
        source: Option<&str>,
        mode: &str,
    ) -> config::EtcEntry {
        config::EtcEntry {
            enable: true,
            target: target.into(),
            text: text.map(str::to_owned),
            source: source.map(str::to_owned),
            outside_store: false,
            mode: mode.into(),
            user: "+0".into(),
            group: "+0".into(),
        }
    }

    #[test]
    fn etc_tree_links_copies_and_sidecars() {
        let (dir, mut store) = temp_store();
        let mut cfg = example();
        let src = store
            .add_text("issue", b"strata \\n\n", &BTreeSet::new())
            .unwrap()
            .path;
        let src = store.print(&src);
        let host_file = dir.path().join("banner");
        fs::write(&host_file, "hi\n").unwrap();
        let etc = &mut cfg.environment.etc;
        let mut sudoers = etc_entry("sudoers", Some("root ALL=(ALL) ALL\n"), None, "440");
        sudoers.group = "wheel".into();
        etc.insert("sudoers".into(), sudoers);
        etc.insert(
            "issue".into(),
            etc_entry("issue", None, Some(&src), "symlink"),
        );
        etc.insert(
            "banner".into(),
            etc_entry(
                "ssh/banner",
                None,
                Some(host_file.to_str().unwrap()),
                "symlink",
            ),
        );
        let mut resolv = etc_entry(
            "resolv.conf",
            None,
            Some("/run/strata/resolv.conf"),
            "symlink",
        );
        resolv.outside_store = true;
        etc.insert("resolv.conf".into(), resolv);
        let mut off = etc_entry("off", Some("x"), None, "symlink");
        off.enable = false;
        etc.insert("off".into(), off);

        let tree = build_etc(&mut store, &cfg).unwrap();
        let root = store.real_path(&tree.path).join("etc");
        let link = |t: &str| fs::read_link(root.join(t)).unwrap();
        let targets: Vec<&str> = tree.entries.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "default/locale",
                "environment",
                "hostname",
                "hosts",
                "issue",
                "localtime",
                "motd",
                "profile",
                "resolv.conf",
                "shells",
                "ssh/banner",
                "sudoers"
            ]
        );
        assert_eq!(link("issue").to_str().unwrap(), src);
        assert_eq!(
            link("localtime").to_str().unwrap(),
            "/etc/zoneinfo/America/Phoenix"
        );
        // A string outside the store is linked to as it is (a file made at run time).
        assert_eq!(
            link("resolv.conf").to_str().unwrap(),
            "/run/strata/resolv.conf"
        );
        let banner = link("ssh/banner");
        assert!(banner.to_str().unwrap().ends_with("-etc-banner"));
        assert!(!root.join("off").exists());
        assert_eq!(
            fs::read_to_string(root.join("sudoers")).unwrap(),
            "root ALL=(ALL) ALL\n"
        );
        assert_eq!(
            fs::read_to_string(root.join("sudoers.mode")).unwrap(),
            "0440\n"
        );
        assert_eq!(
            fs::read_to_string(root.join("sudoers.uid")).unwrap(),
            "+0\n"
        );
        assert_eq!(
            fs::read_to_string(root.join("sudoers.gid")).unwrap(),
            "wheel\n"
        );
        assert!(!root.join("motd.mode").exists());

        // The tree references what it links to, and nothing it does not.
        let info = store.require_info(&tree.path).unwrap();
        let issue = store.store_dir().parse(&src).unwrap();
        assert!(info.references.contains(&issue));
        // issue, motd, profile, environment, ssh/banner, hostname, hosts, shells and
        // default/locale (linked); sudoers is a copy; resolv.conf links outside the store.
        assert_eq!(info.references.len(), 9, "{:?}", info.references);
        // The copied text's store file is in the manifest even though the tree holds a copy.
        let sudo = tree.entries.iter().find(|e| e.target == "sudoers").unwrap();
        assert!(sudo.source.ends_with("-etc-sudoers"));
        assert_eq!(sudo.mode, "0440");
        let report = store.verify(None).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn etc_tree_rejects_conflicts() {
        let (_dir, mut store) = temp_store();
        let check = |store: &mut LocalStore, entries: Vec<(&str, config::EtcEntry)>, msg: &str| {
            let mut cfg = example();
            for (n, e) in entries {
                cfg.environment.etc.insert(n.into(), e);
            }
            let e = build_etc(store, &cfg).unwrap_err().to_string();
            assert!(e.contains(msg), "{e} (wanted {msg})");
        };
        check(
            &mut store,
            vec![("h", etc_entry("hostname", Some("x\n"), None, "symlink"))],
            "defined twice",
        );
        check(
            &mut store,
            vec![("m2", etc_entry("motd", Some("x\n"), None, "symlink"))],
            "defined twice",
        );
        check(
            &mut store,
            vec![("s", etc_entry("motd/x", Some("x\n"), None, "symlink"))],
            "is below the target",
        );
        check(
            &mut store,
            vec![
                ("a", etc_entry("a", Some("x\n"), None, "0644")),
                ("b", etc_entry("a.mode", Some("x\n"), None, "symlink")),
            ],
            "collides",
        );
        check(
            &mut store,
            vec![("p", etc_entry("passwd", Some("x\n"), None, "symlink"))],
            "written by activation",
        );
        check(
            &mut store,
            vec![("b", etc_entry("../b", Some("x\n"), None, "symlink"))],
            "`..'",
        );
        check(
            &mut store,
            vec![(
                "s",
                etc_entry(
                    "s",
                    None,
                    Some("/nix/store/00000000000000000000000000000000-x"),
                    "symlink",
                ),
            )],
            "not valid",
        );
        check(
            &mut store,
            vec![("s", etc_entry("s", None, Some("relative"), "symlink"))],
            "absolute",
        );
        for bad in ["/run/../etc/shadow", "run/x", "/run/a\nb"] {
            let mut e = etc_entry("r", None, Some(bad), "symlink");
            e.outside_store = true;
            check(&mut store, vec![("r", e)], "not an absolute path without");
        }
        let mut cfg = example();
        cfg.time_zone = Some("../../etc/shadow".into());
        assert!(build_etc(&mut store, &cfg).is_err());
    }

    #[test]
    fn etc_tree_without_time_zone_or_host_name() {
        let (_dir, mut store) = temp_store();
        let mut cfg = example();
        cfg.time_zone = None;
        cfg.host_name = String::new();
        let tree = build_etc(&mut store, &cfg).unwrap();
        let targets: Vec<&str> = tree.entries.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "default/locale",
                "environment",
                "hosts",
                "motd",
                "profile",
                "resolv.conf",
                "shells"
            ]
        );
        let root = store.real_path(&tree.path).join("etc");
        assert!(fs::symlink_metadata(root.join("localtime")).is_err());
    }
}
