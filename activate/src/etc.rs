//! `/etc`: the generation's static tree behind one link, the managed entries pointing through
//! it, copies written with their modes and owners, stale entries removed, and files strata
//! does not manage never overwritten.
//!
//! `/etc/static` is a link to the generation's tree (`<etc path>/etc`), replaced with one
//! `rename`, so every managed link (`/etc/<target>` → `/etc/static/<target>`) moves to the new
//! generation at the same instant. Entries copied (mode other than `symlink`) are written
//! through a temporary file and a rename. `/etc/.strata-managed` lists the managed targets
//! (one a line, `c ` before copies), so the next activation knows what it may replace or
//! remove; anything else found where an entry goes is refused with an error naming it, before
//! anything changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::manifest::ManifestEtcEntry;
use crate::{io_err, write_atomic, ActivateError};

/// The list of managed targets, below `/etc`.
pub const MANAGED: &str = ".strata-managed";

/// Reads `/etc/.strata-managed`: target → whether it is a copy.
pub fn read_managed(etc: &Path) -> BTreeMap<String, bool> {
    fs::read_to_string(etc.join(MANAGED))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.strip_prefix("c ") {
            Some(t) => (t.to_owned(), true),
            None => (l.trim_start_matches("l ").to_owned(), false),
        })
        .collect()
}

fn managed_text(entries: &[ManifestEtcEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        s.push_str(if e.mode == "symlink" { "l " } else { "c " });
        s.push_str(&e.target);
        s.push('\n');
    }
    s
}

/// Whether `path` is a link into `/etc/static`.
fn links_to_static(path: &Path) -> bool {
    fs::read_link(path).is_ok_and(|t| t.starts_with("/etc/static/"))
}

/// An owner given as a name or `+N`, through the new user database.
fn resolve_id(
    spec: &str,
    names: &BTreeMap<String, u32>,
    what: &str,
    target: &str,
) -> Result<u32, ActivateError> {
    if let Some(n) = spec.strip_prefix('+') {
        return n.parse().map_err(|_| {
            ActivateError::Invalid(format!(
                "environment.etc.\"{target}\".{what}: `{spec}' is not +N"
            ))
        });
    }
    names.get(spec).copied().ok_or_else(|| {
        ActivateError::Invalid(format!(
            "environment.etc.\"{target}\".{what}: there is no {what} `{spec}'"
        ))
    })
}

/// Refuses a target that would leave `/etc` or name it: it must be relative, with no empty,
/// `.` or `..` component and no newline (the option set refuses these already; this holds
/// whatever built the manifest).
fn check_target(target: &str) -> Result<(), ActivateError> {
    let bad = target.starts_with('/')
        || target.contains(['\n', '\0'])
        || target
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(ActivateError::Invalid(format!(
            "environment.etc: the manifest's target {target:?} is not a relative path below /etc"
        )));
    }
    Ok(())
}

/// Checks, before anything changes, that every entry can be placed: where it goes there is
/// nothing, or something strata manages.
pub fn check(etc: &Path, entries: &[ManifestEtcEntry]) -> Result<(), ActivateError> {
    for e in entries {
        check_target(&e.target)?;
    }
    let managed = read_managed(etc);
    let mut refused = Vec::new();
    for e in entries {
        let p = etc.join(&e.target);
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        if managed.contains_key(&e.target) || links_to_static(&p) {
            continue;
        }
        if md.is_dir() && e.mode == "symlink" {
            refused.push(format!("/etc/{} (a directory)", e.target));
        } else {
            refused.push(format!("/etc/{}", e.target));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(ActivateError::Unmanaged(refused))
    }
}

/// Makes `etc` (the machine's `/etc`) hold `entries` from the tree `tree` (`<etc path>/etc`,
/// as the machine sees it). `users`/`groups` resolve owners of copies.
pub fn apply(
    etc: &Path,
    tree: &str,
    entries: &[ManifestEtcEntry],
    users: &BTreeMap<String, u32>,
    groups: &BTreeMap<String, u32>,
    real_tree: &Path,
    step: &mut dyn FnMut() -> Result<(), ActivateError>,
) -> Result<Vec<String>, ActivateError> {
    check(etc, entries)?;
    fs::create_dir_all(etc).map_err(io_err(etc))?;
    let mut changes = Vec::new();
    let old = read_managed(etc);
    // While entries change, both generations' are managed: an interrupted run can be
    // finished without taking the new ones for the user's.
    let mut both: Vec<ManifestEtcEntry> = entries.to_vec();
    for (target, copy) in &old {
        if !entries.iter().any(|e| &e.target == target) {
            both.push(ManifestEtcEntry {
                target: target.clone(),
                mode: if *copy {
                    "0644".into()
                } else {
                    "symlink".into()
                },
                user: "+0".into(),
                group: "+0".into(),
                source: String::new(),
            });
        }
    }
    write_atomic(
        &etc.join(MANAGED),
        managed_text(&both).as_bytes(),
        0o644,
        None,
    )?;
    step()?;
    // The static tree, switched in one rename.
    let tmp = etc.join(".static.new");
    let _ = fs::remove_file(&tmp);
    symlink(tree, &tmp).map_err(io_err(&tmp))?;
    fs::rename(&tmp, etc.join("static")).map_err(io_err(&etc.join("static")))?;
    step()?;

    let wanted: BTreeSet<&str> = entries.iter().map(|e| e.target.as_str()).collect();
    for e in entries {
        let dst = etc.join(&e.target);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        if e.mode == "symlink" {
            let want = PathBuf::from(format!("/etc/static/{}", e.target));
            if fs::read_link(&dst).is_ok_and(|t| t == want) {
                continue;
            }
            let tmp = tmp_beside(&dst);
            symlink(&want, &tmp).map_err(io_err(&tmp))?;
            replace(&tmp, &dst)?;
            changes.push(format!("linked /etc/{}", e.target));
            step()?;
        } else {
            let src = real_tree.join(&e.target);
            let data = fs::read(&src).map_err(io_err(&src))?;
            let mode = u32::from_str_radix(&e.mode, 8).map_err(|_| {
                ActivateError::Invalid(format!(
                    "environment.etc.\"{}\".mode `{}' is not octal",
                    e.target, e.mode
                ))
            })?;
            let uid = resolve_id(&e.user, users, "user", &e.target)?;
            let gid = resolve_id(&e.group, groups, "group", &e.target)?;
            let same = fs::read(&dst).is_ok_and(|d| d == data)
                && fs::symlink_metadata(&dst).is_ok_and(|m| {
                    use std::os::unix::fs::MetadataExt;
                    m.mode() & 0o7777 == mode && m.uid() == uid && m.gid() == gid
                });
            if same {
                continue;
            }
            write_atomic(&dst, &data, mode, Some((uid, gid)))?;
            changes.push(format!("wrote /etc/{} ({:04o})", e.target, mode));
            step()?;
        }
    }
    // Entries that left the configuration: removed if still what strata made.
    for (target, copy) in &old {
        if wanted.contains(target.as_str()) {
            continue;
        }
        let p = etc.join(target);
        let ours = if *copy {
            fs::symlink_metadata(&p).is_ok_and(|m| m.is_file())
        } else {
            links_to_static(&p)
        };
        if ours {
            fs::remove_file(&p).map_err(io_err(&p))?;
            changes.push(format!("removed /etc/{target}"));
            step()?;
        }
    }
    write_atomic(
        &etc.join(MANAGED),
        managed_text(entries).as_bytes(),
        0o644,
        None,
    )?;
    Ok(changes)
}

fn tmp_beside(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.strata-new"))
}

/// Renames `tmp` over `dst` (a directory in the way is an error, not replaced).
fn replace(tmp: &Path, dst: &Path) -> Result<(), ActivateError> {
    fs::rename(tmp, dst).map_err(|e| {
        let _ = fs::remove_file(tmp);
        ActivateError::Io {
            path: dst.to_owned(),
            source: e,
        }
    })
}

/// Makes `dir` with `mode` if it is missing.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}
