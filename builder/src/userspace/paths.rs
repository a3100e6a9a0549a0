//! Paths in the usr-merged tree: [`merged`] is the mapping `m` from a path a package ships to
//! its place in the tree (`bin/x` -> `usr/bin/x`, likewise `sbin`, `lib`, `lib64`, `lib32`,
//! `libx32`; `usr/` and `etc/` unchanged; anything else skipped), [`rewrite_link`] re-targets
//! a package's symlink for its merged place, and [`resolve`] follows a path through the
//! tree's own symlinks, absolute ones taken relative to the tree's root, as they will be on
//! the machine.
//!
//! All paths here are relative to the tree's root, without a leading `/`, and lexical: `..`
//! is resolved by dropping a component (never above the root).
//!
//! Must not: touch the file system except in [`resolve`], which only reads links.

use std::ffi::OsStr;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The top-level directories whose contents move below `usr/`.
pub const MERGED_DIRS: [&str; 6] = ["bin", "sbin", "lib", "lib64", "lib32", "libx32"];

/// Where a package's path goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The tree's root itself.
    Root,
    /// This place in the tree.
    Tree(PathBuf),
    /// Not part of the tree (`var/`, `boot/`, `opt/`, ...): the top-level directory's name.
    Skipped(String),
}

/// The components of a relative path, lexically normalised (`.` dropped, `..` pops, never
/// above the root).
pub fn normalise(p: &Path) -> Vec<&OsStr> {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn join(components: &[&OsStr]) -> PathBuf {
    components.iter().collect()
}

/// `m(p)`: the place in the merged tree of the path `p` a package ships (relative to the
/// package's root).
pub fn merged(p: &Path) -> Place {
    let components = normalise(p);
    let Some((first, rest)) = components.split_first() else {
        return Place::Root;
    };
    let first_str = first.to_string_lossy();
    if MERGED_DIRS.contains(&first_str.as_ref()) {
        let mut out = PathBuf::from("usr");
        out.push(first);
        out.extend(rest);
        Place::Tree(out)
    } else if first_str == "usr" || first_str == "etc" {
        Place::Tree(join(&components))
    } else {
        Place::Skipped(first_str.into_owned())
    }
}

/// The merged form of an absolute location (relative to the root): places outside the tree
/// (`var/...`) stay where they are, since links may point there.
fn merged_or_same(p: &Path) -> PathBuf {
    match merged(p) {
        Place::Root => PathBuf::new(),
        Place::Tree(t) => t,
        Place::Skipped(_) => join(&normalise(p)),
    }
}

/// The relative path from directory `from` to `to` (both relative to the root).
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from = normalise(from);
    let to = normalise(to);
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    out.extend(&to[common..]);
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The target a symlink that a package ships at `p` (relative to the package's root) with
/// target `target` gets at its merged place `m(p)`, or `None` when the rewritten link would
/// point at its own place (a `/bin/x -> /usr/bin/x` compatibility link), which is dropped.
///
/// The target is resolved against `p`'s original directory, mapped with `m`, and written
/// relative to `m(p)` if it was relative, absolute otherwise; a target that needs no change
/// keeps its original text.
pub fn rewrite_link(p: &Path, target: &Path) -> Option<PathBuf> {
    let place = merged_or_same(p);
    let place_dir = place.parent().unwrap_or(Path::new(""));
    if target.is_absolute() {
        let mapped = merged_or_same(target);
        if mapped == place {
            return None;
        }
        if mapped == join(&normalise(target)) {
            return Some(target.to_owned());
        }
        return Some(Path::new("/").join(mapped));
    }
    let original_dir = p.parent().unwrap_or(Path::new(""));
    let absolute = join(&normalise(&original_dir.join(target)));
    let mapped = merged_or_same(&absolute);
    if mapped == place {
        return None;
    }
    if mapped == absolute && join(&normalise(original_dir)) == place_dir {
        return Some(target.to_owned());
    }
    Some(relative(place_dir, &mapped))
}

/// The most symlinks [`resolve`] follows (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Follows `p` (relative to `root`, or absolute meaning relative to `root`) through the tree's
/// symlinks, absolute targets taken relative to `root`; returns the real path it ends at,
/// relative to `root`, if every component exists. The last component is followed too.
pub fn resolve(root: &Path, p: &Path) -> Option<PathBuf> {
    let mut pending: Vec<PathBuf> = normalise(p)
        .iter()
        .rev()
        .map(|c| PathBuf::from(*c))
        .collect();
    let mut done = PathBuf::new();
    let mut links = 0;
    while let Some(next) = pending.pop() {
        if next.as_os_str() == ".." {
            done.pop();
            continue;
        }
        let candidate = done.join(&next);
        let md = fs::symlink_metadata(root.join(&candidate)).ok()?;
        if md.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = fs::read_link(root.join(&candidate)).ok()?;
            if target.is_absolute() {
                done = PathBuf::new();
            }
            for c in target.components().rev() {
                match c {
                    Component::Normal(n) => pending.push(PathBuf::from(n)),
                    Component::ParentDir => pending.push(PathBuf::from("..")),
                    _ => {}
                }
            }
        } else {
            done = candidate;
        }
    }
    Some(done)
}

/// `p` as the machine shows it: `/` and the relative path.
pub fn shown(p: &Path) -> String {
    format!("/{}", p.display())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tree(p: &str) -> Place {
        Place::Tree(PathBuf::from(p))
    }

    #[test]
    fn merged_maps_the_top_level_directories() {
        assert_eq!(merged(Path::new("bin/sh")), tree("usr/bin/sh"));
        assert_eq!(merged(Path::new("sbin/init")), tree("usr/sbin/init"));
        assert_eq!(
            merged(Path::new("lib/x86_64-linux-gnu/libc.so.6")),
            tree("usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(
            merged(Path::new("lib64/ld-linux-x86-64.so.2")),
            tree("usr/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(merged(Path::new("lib32/x")), tree("usr/lib32/x"));
        assert_eq!(merged(Path::new("libx32/x")), tree("usr/libx32/x"));
        assert_eq!(merged(Path::new("bin")), tree("usr/bin"));
        assert_eq!(merged(Path::new("./usr/bin/ls")), tree("usr/bin/ls"));
        assert_eq!(merged(Path::new("etc/vim/vimrc")), tree("etc/vim/vimrc"));
        assert_eq!(merged(Path::new("usr")), tree("usr"));
        assert_eq!(
            merged(Path::new("var/lib/dpkg")),
            Place::Skipped("var".into())
        );
        assert_eq!(
            merged(Path::new("boot/vmlinuz")),
            Place::Skipped("boot".into())
        );
        assert_eq!(merged(Path::new("opt")), Place::Skipped("opt".into()));
        assert_eq!(merged(Path::new("")), Place::Root);
        // Only the first component counts.
        assert_eq!(merged(Path::new("usr/lib/bin/x")), tree("usr/lib/bin/x"));
        assert_eq!(
            merged(Path::new("binary/x")),
            Place::Skipped("binary".into())
        );
    }

    fn rewrite(p: &str, target: &str) -> Option<String> {
        rewrite_link(Path::new(p), Path::new(target)).map(|t| t.display().to_string())
    }

    #[test]
    fn links_are_rewritten_for_their_merged_place() {
        // Relative, inside a merged directory: unchanged.
        assert_eq!(
            rewrite("lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2.13").as_deref(),
            Some("libz.so.1.2.13")
        );
        // Relative, leaving usr/ for a merged directory: re-computed.
        assert_eq!(
            rewrite(
                "usr/lib/x86_64-linux-gnu/libfoo.so",
                "../../../lib/x86_64-linux-gnu/libfoo.so.1"
            )
            .as_deref(),
            Some("libfoo.so.1")
        );
        // Relative from a merged directory into usr/.
        assert_eq!(rewrite("bin/vi", "../usr/bin/vim").as_deref(), Some("vim"));
        // Relative, untouched place and target.
        assert_eq!(
            rewrite("usr/bin/python3", "python3.11").as_deref(),
            Some("python3.11")
        );
        assert_eq!(
            rewrite("usr/share/doc/a", "../../share/doc/b").as_deref(),
            Some("../../share/doc/b")
        );
        // Absolute into a merged directory: mapped.
        assert_eq!(
            rewrite(
                "lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
            )
            .as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        // Absolute elsewhere: as written.
        assert_eq!(
            rewrite("usr/share/abs", "/etc/alternatives/x").as_deref(),
            Some("/etc/alternatives/x")
        );
        assert_eq!(
            rewrite("usr/lib/x/state", "/var/lib/x").as_deref(),
            Some("/var/lib/x")
        );
        // A relative link into var/ keeps pointing there.
        assert_eq!(
            rewrite("bin/state", "../var/lib/x").as_deref(),
            Some("../../var/lib/x")
        );
    }

    #[test]
    fn self_links_are_dropped() {
        assert_eq!(rewrite("usr/bin/sh", "/bin/sh"), None);
        assert_eq!(rewrite("bin/sh", "/usr/bin/sh"), None);
        assert_eq!(rewrite("usr/bin/x", "../../bin/x"), None);
        assert_eq!(rewrite("bin", "usr/bin"), None);
        assert_eq!(rewrite("lib64", "/usr/lib64"), None);
        // A link to a sibling is not a self-link.
        assert_eq!(rewrite("bin/sh", "dash").as_deref(), Some("dash"));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("usr/bin"), Path::new("usr/bin/x")),
            Path::new("x")
        );
        assert_eq!(
            relative(
                Path::new("usr/share/man/man1"),
                Path::new("usr/share/man/man1/vim.1.gz")
            ),
            Path::new("vim.1.gz")
        );
        assert_eq!(
            relative(Path::new("usr/bin"), Path::new("usr/lib/x/y")),
            Path::new("../lib/x/y")
        );
        assert_eq!(
            relative(Path::new("usr/bin"), Path::new("usr/bin")),
            Path::new(".")
        );
        assert_eq!(
            relative(Path::new(""), Path::new("usr/bin")),
            Path::new("usr/bin")
        );
    }

    #[test]
    fn resolve_follows_links_inside_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
        fs::create_dir_all(root.join("usr/lib64")).unwrap();
        fs::write(root.join("usr/lib/x86_64-linux-gnu/ld.so"), "x").unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/lib/x86_64-linux-gnu/ld.so", root.join("usr/lib64/ld.so"))
            .unwrap();
        std::os::unix::fs::symlink("loop", root.join("usr/loop")).unwrap();
        assert_eq!(
            resolve(root, Path::new("/usr/lib64/ld.so")).unwrap(),
            Path::new("usr/lib/x86_64-linux-gnu/ld.so")
        );
        assert_eq!(
            resolve(
                root,
                Path::new("lib/x86_64-linux-gnu/../x86_64-linux-gnu/ld.so")
            ),
            Some(PathBuf::from("usr/lib/x86_64-linux-gnu/ld.so"))
        );
        assert_eq!(resolve(root, Path::new("usr/lib64/missing")), None);
        assert_eq!(resolve(root, Path::new("usr/loop")), None);
    }
}
