//! Users and groups: `/etc/passwd`, `/etc/group`, `/etc/shadow` and `/etc/gshadow` from the
//! manifest and what the machine has, with IDs that never change or get reused.
//!
//! IDs are allocated NixOS's way: normal users from 1000 up, system users and groups from 999
//! down (to 400), each the first free number, where free means used by no entry of the files
//! and by no name strata ever allocated for (the ID map in `/var/lib/strata/ids.json`
//! remembers every name's number forever, so a user that leaves and comes back gets the same
//! one). Fixed IDs: `root` 0, `wheel` 1, `users` 100, `nobody`/`nogroup` 65534.
//!
//! Passwords: a new user gets the manifest's `password` or else its `initialPassword`, else a
//! locked account (`!`). An existing user keeps the hash the machine has when
//! `mutableUsers` is set (a password changed with `passwd` survives), and otherwise gets the
//! manifest's `password` when it has one. `hashedPasswordFile` is read at activation, so the
//! hash never enters the store. A user strata made that left the configuration is locked
//! (`!` before its hash), not deleted; its files stay its own.
//!
//! With `mutableUsers`, entries strata does not manage (made with `useradd`) are kept; without,
//! only the configuration's users and the fixed ones remain.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::manifest::{ActivationManifest, PasswordSource};

/// Why the user database cannot be planned: a forged manifest, a password hash file, or IDs
/// run out.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("the manifest's user {name:?} is not a valid user or group name")]
    UserName { name: String },
    #[error(
        "the manifest's user {user:?} has the primary group {group:?} is not a valid user or \
         group name"
    )]
    PrimaryGroupName { user: String, group: String },
    #[error(
        "the manifest's user {user:?} has the group {group:?} is not a valid user or group name"
    )]
    ExtraGroupName { user: String, group: String },
    #[error("the manifest's group {name:?} is not a valid user or group name")]
    GroupName { name: String },
    #[error(
        "the manifest's group {group:?} has the member {member:?} is not a valid user or group \
         name"
    )]
    MemberName { group: String, member: String },
    /// A home directory or a shell that is not a clean absolute path; `field` says which.
    #[error(
        "the manifest's user {user:?} has the {field} {path:?}, which is not an absolute path \
         without `..', colons or newlines"
    )]
    Path {
        user: String,
        field: &'static str,
        path: String,
    },
    #[error(
        "the manifest's user {user:?} has the description {description:?}, which holds a colon \
         or a newline"
    )]
    Description { user: String, description: String },
    #[error("cannot read the password hash file {path}")]
    HashFileUnreadable { path: String },
    #[error("{path} does not hold one password hash")]
    HashFileContents { path: String },
    #[error("no free group ID for {group}")]
    NoFreeGid { group: String },
    #[error("no free user ID for {user}")]
    NoFreeUid { user: String },
    #[error("users.users.{user}.group: no group {group}")]
    NoGroup { user: String, group: String },
}

/// The shell of `root` and of users whose `shell` is empty.
pub const DEFAULT_SHELL: &str = "/run/current-system/sw/bin/sh";
/// The shell of locked system accounts.
pub const NOLOGIN: &str = "/run/current-system/sw/sbin/nologin";

const NORMAL_FIRST: u32 = 1000;
const SYSTEM_LAST: u32 = 999;
const SYSTEM_FIRST: u32 = 400;

/// The numbers strata has given names, kept forever.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub users: BTreeMap<String, u32>,
    pub groups: BTreeMap<String, u32>,
    /// Users strata locked because they left the configuration (unlocked when they return).
    #[serde(default)]
    pub locked: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// `/etc/shadow`: the hash and the other fields as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    pub name: String,
    pub hash: String,
    /// Fields 3 to 9, joined with `:`.
    pub rest: String,
}

/// The four files as they are on the machine (empty when missing).
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub passwd: String,
    pub group: String,
    pub shadow: String,
}

/// What the user database becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersPlan {
    pub passwd: String,
    pub group: String,
    pub shadow: String,
    pub gshadow: String,
    pub ids: IdMap,
    /// Home directories to create: (path, uid, gid).
    pub homes: Vec<(String, u32, u32)>,
    /// What changed, for the report: "created alice (1000)", "locked bob"...
    pub changes: Vec<String>,
}

fn fields(line: &str) -> Vec<&str> {
    line.split(':').collect()
}

pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f = fields(l);
            (f.len() == 7).then(|| PasswdEntry {
                name: f[0].into(),
                uid: f[2].parse().unwrap_or(u32::MAX),
                gid: f[3].parse().unwrap_or(u32::MAX),
                gecos: f[4].into(),
                home: f[5].into(),
                shell: f[6].into(),
            })
        })
        .collect()
}

pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f = fields(l);
            (f.len() == 4).then(|| GroupEntry {
                name: f[0].into(),
                gid: f[2].parse().unwrap_or(u32::MAX),
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

pub fn parse_shadow(text: &str) -> Vec<ShadowEntry> {
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let (hash, rest) = rest.split_once(':').unwrap_or((rest, ""));
            Some(ShadowEntry {
                name: name.into(),
                hash: hash.into(),
                rest: rest.into(),
            })
        })
        .collect()
}

/// A GECOS field cannot hold `:` or a line break.
fn clean(s: &str) -> String {
    s.replace([':', '\n', '\r'], " ")
}

/// Reads a password source; `Err` names the file that could not be read.
fn hash_of(
    src: &PasswordSource,
    read_file: &dyn Fn(&str) -> Option<String>,
) -> Result<String, UsersError> {
    match src {
        PasswordSource::Hash { hash, .. } => Ok(hash.clone()),
        PasswordSource::HashFile { path } => {
            let text = read_file(path)
                .ok_or_else(|| UsersError::HashFileUnreadable { path: path.clone() })?;
            let h = text.lines().next().unwrap_or("").trim().to_owned();
            if h.is_empty() || h.contains(':') {
                return Err(UsersError::HashFileContents { path: path.clone() });
            }
            Ok(h)
        }
    }
}

/// The first free ID not in `used`: counting up from 1000 for normal users, down from 999 to
/// 400 for system users and groups.
fn allocate(used: &BTreeSet<u32>, normal: bool) -> Option<u32> {
    if normal {
        (NORMAL_FIRST..60000).find(|n| !used.contains(n))
    } else {
        (SYSTEM_FIRST..=SYSTEM_LAST)
            .rev()
            .find(|n| !used.contains(n))
    }
}

/// Whether `name` is a user or group name the option set accepts (at most 32 characters,
/// `[a-z_][a-z0-9_-]*[$]?`).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    let body = b.strip_suffix(b"$").unwrap_or(b);
    name.len() <= 32
        && body
            .first()
            .is_some_and(|c| c.is_ascii_lowercase() || *c == b'_')
        && body
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// Whether `path` is absolute, has no `.` or `..` component, and fits in a passwd field.
fn valid_passwd_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains([':', '\n', '\0'])
        && !path.split('/').any(|c| c == "." || c == "..")
}

/// Refuses a manifest whose users or groups would break a line of passwd, shadow or group, or
/// put a home directory anywhere but where it says. The option set refuses these already;
/// this holds whatever built the manifest.
pub fn check_manifest(m: &ActivationManifest) -> Result<(), UsersError> {
    let check = |n: &str, err: &dyn Fn() -> UsersError| {
        if valid_name(n) {
            Ok(())
        } else {
            Err(err())
        }
    };
    for u in &m.users {
        let user = || u.name.clone();
        check(&u.name, &|| UsersError::UserName { name: user() })?;
        if !u.group.is_empty() {
            check(&u.group, &|| UsersError::PrimaryGroupName {
                user: user(),
                group: u.group.clone(),
            })?;
        }
        for g in &u.extra_groups {
            check(g, &|| UsersError::ExtraGroupName {
                user: user(),
                group: g.clone(),
            })?;
        }
        for (field, path) in [("home directory", &u.home), ("shell", &u.shell)] {
            if !path.is_empty() && !valid_passwd_path(path) {
                return Err(UsersError::Path {
                    user: user(),
                    field,
                    path: path.clone(),
                });
            }
        }
        if u.description.contains([':', '\n', '\r', '\0']) {
            return Err(UsersError::Description {
                user: user(),
                description: u.description.clone(),
            });
        }
    }
    for g in &m.groups {
        check(&g.name, &|| UsersError::GroupName {
            name: g.name.clone(),
        })?;
        for member in &g.members {
            check(member, &|| UsersError::MemberName {
                group: g.name.clone(),
                member: member.clone(),
            })?;
        }
    }
    Ok(())
}

/// Plans the user database; `read_file` reads `hashedPasswordFile`s.
pub fn plan_users(
    m: &ActivationManifest,
    cur: &Current,
    ids: &IdMap,
    read_file: &dyn Fn(&str) -> Option<String>,
) -> Result<UsersPlan, UsersError> {
    check_manifest(m)?;
    let mut ids = ids.clone();
    let mut changes = Vec::new();
    let old_passwd = parse_passwd(&cur.passwd);
    let old_group = parse_group(&cur.group);
    let old_shadow: BTreeMap<String, ShadowEntry> = parse_shadow(&cur.shadow)
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    let old_users: BTreeMap<&str, &PasswdEntry> =
        old_passwd.iter().map(|e| (e.name.as_str(), e)).collect();
    let old_groups: BTreeMap<&str, &GroupEntry> =
        old_group.iter().map(|e| (e.name.as_str(), e)).collect();

    // Groups: fixed ones, the manifest's, every user's primary group.
    let fixed_groups: [(&str, u32); 4] = [
        ("root", 0),
        ("wheel", 1),
        ("users", 100),
        ("nogroup", 65534),
    ];
    let mut wanted_groups: BTreeMap<String, (Option<u32>, Vec<String>)> = BTreeMap::new();
    for (n, g) in &fixed_groups {
        wanted_groups.insert((*n).into(), (Some(*g), Vec::new()));
    }
    for g in &m.groups {
        let e = wanted_groups
            .entry(g.name.clone())
            .or_insert((None, Vec::new()));
        if g.gid.is_some() {
            e.0 = g.gid;
        }
        e.1 = g.members.clone();
    }
    for u in &m.users {
        if !u.group.is_empty() {
            wanted_groups
                .entry(u.group.clone())
                .or_insert((None, Vec::new()));
        }
    }
    let mut used_gids: BTreeSet<u32> = old_group.iter().map(|g| g.gid).collect();
    used_gids.extend(ids.groups.values());
    used_gids.extend(wanted_groups.values().filter_map(|g| g.0));
    let mut groups: BTreeMap<String, GroupEntry> = BTreeMap::new();
    for (name, (gid, members)) in &wanted_groups {
        let gid = match gid
            .or_else(|| ids.groups.get(name).copied())
            .or_else(|| old_groups.get(name.as_str()).map(|g| g.gid))
        {
            Some(g) => g,
            None => {
                let g = allocate(&used_gids, false).ok_or_else(|| UsersError::NoFreeGid {
                    group: name.clone(),
                })?;
                used_gids.insert(g);
                changes.push(format!("created group {name} ({g})"));
                g
            }
        };
        if !fixed_groups.iter().any(|(n, _)| n == name) {
            ids.groups.insert(name.clone(), gid);
        }
        groups.insert(
            name.clone(),
            GroupEntry {
                name: name.clone(),
                gid,
                members: members.clone(),
            },
        );
    }
    if m.mutable_users {
        for g in &old_group {
            groups.entry(g.name.clone()).or_insert_with(|| g.clone());
        }
    }
    for (name, gid) in &ids.groups {
        // A group strata made that left the configuration keeps its number, empty.
        if !groups.contains_key(name) && old_groups.contains_key(name.as_str()) {
            groups.insert(
                name.clone(),
                GroupEntry {
                    name: name.clone(),
                    gid: *gid,
                    members: Vec::new(),
                },
            );
        }
    }

    // Users.
    let mut used_uids: BTreeSet<u32> = old_passwd.iter().map(|u| u.uid).collect();
    used_uids.extend(ids.users.values());
    used_uids.extend(m.users.iter().filter_map(|u| u.uid));
    used_uids.extend([0, 65534]);
    let mut passwd: BTreeMap<String, PasswdEntry> = BTreeMap::new();
    let mut shadow: BTreeMap<String, ShadowEntry> = BTreeMap::new();
    let mut homes = Vec::new();
    let mut fixed_users = vec![
        PasswdEntry {
            name: "root".into(),
            uid: 0,
            gid: 0,
            gecos: "System administrator".into(),
            home: "/root".into(),
            shell: DEFAULT_SHELL.into(),
        },
        PasswdEntry {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            gecos: "Unprivileged account".into(),
            home: "/var/empty".into(),
            shell: NOLOGIN.into(),
        },
    ];
    for u in m.users.iter() {
        if let Some(f) = fixed_users.iter_mut().find(|f| f.name == u.name) {
            // root and nobody may be configured (shell, description, password).
            if !u.shell.is_empty() {
                f.shell = u.shell.clone();
            }
        }
    }
    for f in fixed_users {
        let hash = old_shadow
            .get(&f.name)
            .map_or("!".to_owned(), |s| s.hash.clone());
        shadow.insert(
            f.name.clone(),
            ShadowEntry {
                name: f.name.clone(),
                hash,
                rest: old_shadow
                    .get(&f.name)
                    .map_or("1::::::".to_owned(), |s| s.rest.clone()),
            },
        );
        passwd.insert(f.name.clone(), f);
    }
    for u in &m.users {
        let existing = old_users.get(u.name.as_str());
        let fixed = u.name == "root" || u.name == "nobody";
        let uid = if fixed {
            passwd[&u.name].uid
        } else {
            match u
                .uid
                .or_else(|| ids.users.get(&u.name).copied())
                .or_else(|| existing.map(|e| e.uid))
            {
                Some(n) => n,
                None => {
                    let n = allocate(&used_uids, !u.is_system_user).ok_or_else(|| {
                        UsersError::NoFreeUid {
                            user: u.name.clone(),
                        }
                    })?;
                    used_uids.insert(n);
                    n
                }
            }
        };
        if !fixed {
            ids.users.insert(u.name.clone(), uid);
        }
        let gid = groups
            .get(if u.group.is_empty() {
                "nogroup"
            } else {
                &u.group
            })
            .map(|g| g.gid)
            .ok_or_else(|| UsersError::NoGroup {
                user: u.name.clone(),
                group: u.group.clone(),
            })?;
        let entry = PasswdEntry {
            name: u.name.clone(),
            uid,
            gid,
            gecos: clean(&u.description),
            home: if u.home.is_empty() {
                "/var/empty".into()
            } else {
                u.home.clone()
            },
            shell: if u.shell.is_empty() {
                DEFAULT_SHELL.into()
            } else {
                u.shell.clone()
            },
        };
        let old = old_shadow.get(&u.name);
        let created = existing.is_none();
        let hash = if created {
            match u.password.as_ref().or(u.initial_password.as_ref()) {
                Some(src) => hash_of(src, read_file)?,
                None => "!".into(),
            }
        } else {
            let mut old_hash = old.map_or("!".to_owned(), |s| s.hash.clone());
            // A returning user: undo the lock strata put on it when it left.
            if ids.locked.remove(&u.name) {
                if let Some(h) = old_hash.strip_prefix('!').filter(|h| !h.is_empty()) {
                    old_hash = h.to_owned();
                }
                changes.push(format!("unlocked user {}", u.name));
            }
            match &u.password {
                // Without mutableUsers the configuration's password always wins; with it, a
                // password set on the machine stays (but a user without one gets it).
                Some(src) if !m.mutable_users || old_hash == "!" => hash_of(src, read_file)?,
                _ => old_hash,
            }
        };
        if created {
            changes.push(format!("created user {} ({uid})", u.name));
        }
        if u.create_home && !u.home.is_empty() {
            homes.push((u.home.clone(), uid, gid));
        }
        shadow.insert(
            u.name.clone(),
            ShadowEntry {
                name: u.name.clone(),
                hash,
                rest: old.map_or("1::::::".to_owned(), |s| s.rest.clone()),
            },
        );
        passwd.insert(u.name.clone(), entry);
    }
    // Users strata made that left: locked, kept.
    let wanted: BTreeSet<&str> = m.users.iter().map(|u| u.name.as_str()).collect();
    let mut locked_now = Vec::new();
    for (name, _) in ids.users.iter() {
        if wanted.contains(name.as_str()) {
            continue;
        }
        if let Some(e) = old_users.get(name.as_str()) {
            passwd.insert(name.clone(), (*e).clone());
            let old = old_shadow.get(name);
            let hash = old.map_or("!".to_owned(), |s| s.hash.clone());
            let locked = if ids.locked.contains(name) {
                hash
            } else {
                changes.push(format!("locked user {name}"));
                locked_now.push(name.clone());
                format!("!{hash}")
            };
            shadow.insert(
                name.clone(),
                ShadowEntry {
                    name: name.clone(),
                    hash: locked,
                    rest: old.map_or("1::::::".to_owned(), |s| s.rest.clone()),
                },
            );
        }
    }
    ids.locked.extend(locked_now);
    if m.mutable_users {
        for e in &old_passwd {
            if !passwd.contains_key(&e.name) {
                passwd.insert(e.name.clone(), e.clone());
                if let Some(s) = old_shadow.get(&e.name) {
                    shadow.insert(e.name.clone(), s.clone());
                }
            }
        }
    }

    let mut by_uid: Vec<&PasswdEntry> = passwd.values().collect();
    by_uid.sort_by_key(|e| (e.uid, e.name.clone()));
    let mut by_gid: Vec<&GroupEntry> = groups.values().collect();
    by_gid.sort_by_key(|g| (g.gid, g.name.clone()));
    let mut out = UsersPlan {
        passwd: String::new(),
        group: String::new(),
        shadow: String::new(),
        gshadow: String::new(),
        ids,
        homes,
        changes,
    };
    for e in &by_uid {
        out.passwd.push_str(&format!(
            "{}:x:{}:{}:{}:{}:{}\n",
            e.name, e.uid, e.gid, e.gecos, e.home, e.shell
        ));
        if let Some(s) = shadow.get(&e.name) {
            out.shadow
                .push_str(&format!("{}:{}:{}\n", s.name, s.hash, s.rest));
        }
    }
    for g in &by_gid {
        let members = g.members.join(",");
        out.group
            .push_str(&format!("{}:x:{}:{members}\n", g.name, g.gid));
        out.gshadow.push_str(&format!("{}:!::{members}\n", g.name));
    }
    Ok(out)
}
