//! The join (section 2.2 steps 1 to 5): every package's files at their merged places, as one
//! tree of real directories, hard links to the packages' regular files (a copy where a link
//! cannot be made: another file system, too many links) and re-targeted symlinks.
//!
//! [`plan`] walks each package in name order (skipping `DEBIAN/`; places outside `usr/` and
//! `etc/` are logged and skipped), collects every claim on every place, and decides each
//! place: a directory wins over a link (the link is logged and dropped); equal files or
//! equal links are one entry; different entries are settled by [`super::collisions`], and
//! every unsettled collision is reported at once, sorted. [`materialise`] then makes the
//! tree.
//!
//! Must not: write into a package (files are only linked), or follow a package's symlinks.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::debian::unpack::{DEBIAN_DIR, MODES_FILE};

use super::collisions::{settle, Settled, Unsettled, Variant};
use super::package::{read_small, Package};
use super::paths::{merged, rewrite_link, shown, Place};
use super::UsrError;

/// What a package ships at a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file: where it is, and its length.
    File {
        src: PathBuf,
        len: u64,
    },
    /// A symlink, its target already rewritten.
    Link {
        target: PathBuf,
    },
}

/// One package's claim on a place.
#[derive(Debug, Clone)]
struct Claim {
    pkg: usize,
    kind: Kind,
}

/// A decided place: what it holds and which package it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub pkg: usize,
}

/// The decided tree.
#[derive(Debug, Default)]
pub struct Plan {
    /// Every place (relative to the tree's root), parents before children.
    pub nodes: BTreeMap<PathBuf, Node>,
    /// The collisions that were settled, by the path the machine shows.
    pub settled: BTreeMap<String, Settled>,
    /// Lines for the build log.
    pub notes: Vec<String>,
    /// The directories packages ship under `/var`, which the tree leaves out and activation
    /// may create: path as the machine shows it -> the record.
    pub var_skeleton: BTreeMap<String, VarDir>,
}

/// A directory a package ships under `/var`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VarDir {
    /// The first package (by name) that ships it.
    pub package: String,
    /// `mode uid gid` from the package's `DEBIAN/strata-modes`, when unpacking dropped its
    /// setgid bit or owner (`/var/mail` is `2775 0 8`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}

/// The `mode uid gid` of each path in a package's `DEBIAN/strata-modes`.
fn dropped_modes(package: &Package) -> Result<BTreeMap<String, String>, UsrError> {
    let path = package.root.join(DEBIAN_DIR).join(MODES_FILE);
    let text = read_small(&path)?.unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, ' ');
            let (mode, uid, gid, p) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            Some((format!("/{p}"), format!("{mode} {uid} {gid}")))
        })
        .collect())
}

/// Records the directories below `var/` of a package (not its files).
fn walk_var(package: &Package, skeleton: &mut BTreeMap<String, VarDir>) -> Result<(), UsrError> {
    let dropped = dropped_modes(package)?;
    let mut stack = vec![PathBuf::from("var")];
    while let Some(rel) = stack.pop() {
        let dir = package.root.join(&rel);
        for entry in fs::read_dir(&dir).map_err(|e| UsrError::read(&dir, e))? {
            let entry = entry.map_err(|e| UsrError::read(&dir, e))?;
            let ft = entry
                .file_type()
                .map_err(|e| UsrError::read(&entry.path(), e))?;
            if ft.is_dir() {
                let sub = rel.join(entry.file_name());
                let at = shown(&sub);
                skeleton.entry(at.clone()).or_insert_with(|| VarDir {
                    package: package.name.clone(),
                    dropped: dropped.get(&at).cloned(),
                });
                stack.push(sub);
            }
        }
    }
    Ok(())
}

/// Collects the claims of package `pkg` on the places of the tree.
fn walk(
    pkg: usize,
    package: &Package,
    claims: &mut BTreeMap<PathBuf, Vec<Claim>>,
    notes: &mut Vec<String>,
    var_skeleton: &mut BTreeMap<String, VarDir>,
) -> Result<(), UsrError> {
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    let mut dropped_links = 0usize;
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = package.root.join(&rel);
        let mut entries: Vec<(PathBuf, fs::FileType)> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| UsrError::read(&dir, e))? {
            let entry = entry.map_err(|e| UsrError::read(&dir, e))?;
            let ft = entry
                .file_type()
                .map_err(|e| UsrError::read(&entry.path(), e))?;
            entries.push((rel.join(entry.file_name()), ft));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // Reverse, so the stack hands them out in name order.
        for (p, ft) in entries.into_iter().rev() {
            if rel.as_os_str().is_empty() && p.as_os_str() == DEBIAN_DIR {
                continue;
            }
            let place = match merged(&p) {
                Place::Tree(t) => t,
                Place::Root => continue,
                Place::Skipped(top) => {
                    if top == "var" && ft.is_dir() {
                        walk_var(package, var_skeleton)?;
                    }
                    skipped.insert(top);
                    continue;
                }
            };
            let real = package.root.join(&p);
            let kind = if ft.is_dir() {
                stack.push(p.clone());
                Kind::Dir
            } else if ft.is_file() {
                let len = fs::symlink_metadata(&real)
                    .map_err(|e| UsrError::read(&real, e))?
                    .len();
                Kind::File { src: real, len }
            } else if ft.is_symlink() {
                let target = fs::read_link(&real).map_err(|e| UsrError::read(&real, e))?;
                match rewrite_link(&p, &target) {
                    Some(target) => Kind::Link { target },
                    None => {
                        dropped_links += 1;
                        continue;
                    }
                }
            } else {
                return Err(UsrError::BadPackage {
                    path: real,
                    problem: "is neither a directory, a regular file nor a symlink".into(),
                });
            };
            // Parents are directories: `bin/x` lands in `usr/bin`, whose `usr` no entry of
            // the package names.
            for ancestor in place.ancestors().skip(1) {
                if ancestor.as_os_str().is_empty() {
                    break;
                }
                let list = claims.entry(ancestor.to_owned()).or_default();
                if !list.iter().any(|c| c.pkg == pkg && c.kind == Kind::Dir) {
                    list.push(Claim {
                        pkg,
                        kind: Kind::Dir,
                    });
                }
            }
            let list = claims.entry(place).or_default();
            if !(kind == Kind::Dir && list.iter().any(|c| c.pkg == pkg && c.kind == Kind::Dir)) {
                list.push(Claim { pkg, kind });
            }
        }
    }
    if !skipped.is_empty() {
        let tops: Vec<String> = skipped.into_iter().map(|t| format!("/{t}")).collect();
        notes.push(format!(
            "{}: skipped {} (only /usr, /etc and the merged /bin, /sbin, /lib* go into the tree)",
            package.name,
            tops.join(", ")
        ));
    }
    if dropped_links > 0 {
        notes.push(format!(
            "{}: dropped {dropped_links} link(s) that point at their own merged place",
            package.name
        ));
    }
    Ok(())
}

/// Whether two regular files have equal contents.
fn same_contents(a: &Path, b: &Path) -> Result<bool, UsrError> {
    let mut fa = File::open(a).map_err(|e| UsrError::read(a, e))?;
    let mut fb = File::open(b).map_err(|e| UsrError::read(b, e))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| UsrError::read(a, e))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| UsrError::read(b, e))?;
        if na != nb || ba.get(..na) != bb.get(..nb) {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether two claims are the same entry (and so no collision).
fn same_entry(a: &Kind, b: &Kind) -> Result<bool, UsrError> {
    Ok(match (a, b) {
        (Kind::Link { target: x }, Kind::Link { target: y }) => x == y,
        (Kind::File { src: x, len: lx }, Kind::File { src: y, len: ly }) => {
            lx == ly && same_contents(x, y)?
        }
        _ => false,
    })
}

/// Decides every place of the tree of `packages` (sorted by name); `choices` maps paths as
/// the machine shows them to the package that wins a collision there.
pub fn plan(packages: &[Package], choices: &BTreeMap<String, String>) -> Result<Plan, UsrError> {
    let mut claims: BTreeMap<PathBuf, Vec<Claim>> = BTreeMap::new();
    let mut out = Plan::default();
    for (i, package) in packages.iter().enumerate() {
        walk(
            i,
            package,
            &mut claims,
            &mut out.notes,
            &mut out.var_skeleton,
        )?;
    }
    let mut errors = Vec::new();
    for (place, list) in claims {
        let at = shown(&place);
        let (dirs, others): (Vec<&Claim>, Vec<&Claim>) =
            list.iter().partition(|c| c.kind == Kind::Dir);
        if let Some(first_dir) = dirs.first() {
            for other in &others {
                let who = packages
                    .get(other.pkg)
                    .map_or_else(String::new, Package::label);
                let dir_owner = packages
                    .get(first_dir.pkg)
                    .map_or_else(String::new, Package::label);
                match &other.kind {
                    Kind::Link { target } => out.notes.push(format!(
                        "{at}: the link to {} of package {who} is dropped: package {dir_owner} \
                         ships a directory there",
                        target.display()
                    )),
                    _ => {
                        // A file against a directory: only the directory can win.
                        let dir_pkgs: Vec<usize> = dirs.iter().map(|c| c.pkg).collect();
                        let variants: Vec<Variant> = vec![dir_pkgs, vec![other.pkg]];
                        match settle(&at, &variants, packages, choices) {
                            Ok((0, s)) => {
                                out.settled.insert(at.clone(), s);
                            }
                            Ok(_) => errors.push(
                                Unsettled::FileOverDirectory {
                                    at: at.clone(),
                                    file: who,
                                    dir: dir_owner,
                                }
                                .to_string(),
                            ),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
            }
            out.nodes.insert(
                place,
                Node {
                    kind: Kind::Dir,
                    pkg: first_dir.pkg,
                },
            );
            continue;
        }
        // Group equal entries into variants.
        let mut variants: Vec<(Kind, Variant)> = Vec::new();
        for claim in others {
            let mut found = None;
            for (i, (kind, _)) in variants.iter().enumerate() {
                if same_entry(kind, &claim.kind)? {
                    found = Some(i);
                    break;
                }
            }
            match found.and_then(|i| variants.get_mut(i)) {
                Some((_, pkgs)) => pkgs.push(claim.pkg),
                None => variants.push((claim.kind.clone(), vec![claim.pkg])),
            }
        }
        let winner = if variants.len() == 1 {
            Some(0)
        } else {
            let just: Vec<Variant> = variants.iter().map(|(_, v)| v.clone()).collect();
            match settle(&at, &just, packages, choices) {
                Ok((w, s)) => {
                    out.settled.insert(at.clone(), s);
                    Some(w)
                }
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            }
        };
        if let Some((kind, pkgs)) = winner.and_then(|w| variants.get(w)) {
            out.nodes.insert(
                place,
                Node {
                    kind: kind.clone(),
                    pkg: pkgs.first().copied().unwrap_or_default(),
                },
            );
        }
    }
    for path in choices.keys() {
        if !out.settled.contains_key(path) {
            out.notes.push(format!(
                "environment.debian.collisions.\"{path}\" is not needed: no collision there"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(UsrError::Collisions(errors));
    }
    Ok(out)
}

/// How many entries [`materialise`] made of each kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    pub dirs: usize,
    pub linked: usize,
    pub copied: usize,
    pub symlinks: usize,
}

/// Hard-links `src` at `dest`, or copies it where a link cannot be made.
fn link_or_copy(src: &Path, dest: &Path) -> Result<bool, UsrError> {
    match fs::hard_link(src, dest) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EXDEV) | Some(libc::EMLINK) | Some(libc::EPERM)
            ) =>
        {
            fs::copy(src, dest).map_err(|e| UsrError::write(dest, e))?;
            Ok(false)
        }
        Err(e) => Err(UsrError::write(dest, e)),
    }
}

/// Makes the tree of `plan` at `out` (which must not exist).
pub fn materialise(plan: &Plan, out: &Path) -> Result<Made, UsrError> {
    let mut made = Made::default();
    fs::create_dir(out).map_err(|e| UsrError::write(out, e))?;
    fs::set_permissions(out, fs::Permissions::from_mode(0o755))
        .map_err(|e| UsrError::write(out, e))?;
    for (place, node) in &plan.nodes {
        let dest = out.join(place);
        match &node.kind {
            Kind::Dir => {
                fs::create_dir(&dest).map_err(|e| UsrError::write(&dest, e))?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
                    .map_err(|e| UsrError::write(&dest, e))?;
                made.dirs += 1;
            }
            Kind::File { src, .. } => {
                if link_or_copy(src, &dest)? {
                    made.linked += 1;
                } else {
                    made.copied += 1;
                }
            }
            Kind::Link { target } => {
                std::os::unix::fs::symlink(target, &dest).map_err(|e| UsrError::write(&dest, e))?;
                made.symlinks += 1;
            }
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests;
