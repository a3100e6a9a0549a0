//! The loader's cache, `ld.so.cache`, in the format glibc 2.32 and later read and write
//! (`glibc-ld.so.cache1.1`), made from the tree the way Debian 12's `ldconfig -X` makes it
//! (section 2.4; the oracle test in the builder's integration tests compares both with
//! `ldconfig -p`).
//!
//! Facts this follows (glibc 2.36 as Debian 12 builds it, checked against its `ldconfig`):
//!
//! - the directories scanned are those of `etc/ld.so.conf` (with its `include` globs, sorted)
//!   in order, then the system directories `/lib/x86_64-linux-gnu`,
//!   `/usr/lib/x86_64-linux-gnu`, `/lib`, `/usr/lib`; a directory that is the same as an
//!   earlier one (here: resolves to the same place in the tree) is skipped;
//! - in a directory, files and symlinks whose names start with `lib` or `ld-` and contain
//!   `.so` are read; a symlink to something that is not a regular file is skipped; the key
//!   is the file's `DT_SONAME` (its name when it has none), except for a symlink whose own
//!   name is that soname, or ends in `.so` and starts the soname (a development link such as
//!   `libz.so`): such a link is cached under its own name;
//! - the cached path is `<directory as configured>/<key>`; keys sort in descending
//!   [`libcmp`] order (runs of digits compare as numbers, and a digit sorts after any other
//!   character), equal keys in the order their directories were scanned;
//! - x86-64 libraries are flagged `0x0303` (libc6, x86-64), `hwcap` 0.
//!
//! Unlike `ldconfig` strata leaves out an entry whose `<directory>/<key>` does not exist
//! (`ldconfig` would create that link), and reads 64-bit x86-64 files only.
//!
//! Must not: create links in the tree or read anything outside it.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::elf::read_dynamic;
use super::paths::resolve;
use super::UsrError;

/// The system directories ldconfig adds after its configuration (Debian's `slibdir` and
/// `libdir`, then `/lib` and `/usr/lib`).
pub const SYSTEM_DIRS: [&str; 4] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib",
    "/usr/lib",
];
/// `FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`.
pub const FLAGS_X86_64: i32 = 0x0303;
/// The file's magic and version.
pub const MAGIC: &[u8; 20] = b"glibc-ld.so.cache1.1";
/// `cache_extension_magic`.
pub const EXTENSION_MAGIC: u32 = 0xeaa4_2174;
/// What the generator extension says made the file.
pub const GENERATOR: &str = "strata";
/// `include` nesting deeper than this is an error (a loop).
const MAX_INCLUDE_DEPTH: usize = 16;

/// glibc's library-name order: runs of digits compare as numbers, a digit sorts after any
/// other byte, other bytes compare as C `char`s (signed on x86-64).
pub fn libcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    loop {
        let (Some(&x), y) = (a.get(i), b.get(j).copied()) else {
            // `a` ended: compare its terminating NUL with what `b` has there.
            return 0i8.cmp(&(b.get(j).copied().unwrap_or(0) as i8));
        };
        let y = y.unwrap_or(0);
        match (x.is_ascii_digit(), y.is_ascii_digit()) {
            (true, true) => {
                let start_i = i;
                while a.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let start_j = j;
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                let ord = compare_numbers(&a[start_i..i], &b[start_j..j]);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) => {
                if x != y {
                    return (x as i8).cmp(&(y as i8));
                }
                i += 1;
                j += 1;
            }
        }
    }
}

/// Two runs of decimal digits compared as numbers (of any length).
fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |d: &[u8]| -> Vec<u8> {
        let first = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
        d[first..].to_vec()
    };
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

/// One cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name the loader looks up (a soname).
    pub key: Vec<u8>,
    /// `<directory as configured>/<key>`.
    pub path: Vec<u8>,
    pub flags: i32,
}

/// The scanned cache: the directories (as configured, with their place in the tree) and the
/// sorted entries.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    pub dirs: Vec<(String, PathBuf)>,
    pub entries: Vec<Entry>,
}

/// Whether a file name matches a glob pattern (`*`, `?`, `[...]` with `!`/`^` and ranges).
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let here = pattern.get(p).copied();
        let step = match here {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => class_match(pattern, p, name[n]),
            Some(c) if c == name[n] => Some(p + 1),
            _ => None,
        };
        match step {
            Some(next) => {
                p = next;
                n += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the bracket expression starting at `pattern[open]`; returns the index
/// after it on a match.
fn class_match(pattern: &[u8], open: usize, c: u8) -> Option<usize> {
    let mut i = open + 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let x = *pattern.get(i)?;
        if x == b']' && !first {
            break;
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            let hi = *pattern.get(i + 2)?;
            matched |= (x..=hi).contains(&c);
            i += 3;
        } else {
            matched |= x == c;
            i += 1;
        }
    }
    (matched != negate).then_some(i + 1)
}

/// The files an absolute glob names in the tree, sorted. Wildcards may appear in any
/// component.
fn expand_glob(root: &Path, pattern: &str) -> Vec<String> {
    let mut found: Vec<String> = vec![String::new()];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        let wild = component.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for base in &found {
            if !wild {
                next.push(format!("{base}/{component}"));
                continue;
            }
            let Some(real) = resolve(root, Path::new(base)) else {
                continue;
            };
            let Ok(rd) = fs::read_dir(root.join(real)) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') || component.starts_with('.'))
                .filter(|n| glob_match(component.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| format!("{base}/{n}")));
        }
        found = next;
    }
    found
        .into_iter()
        .filter(|f| resolve(root, Path::new(f)).is_some())
        .collect()
}

/// Parses one `ld.so.conf` text (named `file` in errors): directories in order, `include`
/// lines expanded (relative patterns against `dir_of_file`), `hwcap` lines ignored.
fn parse_conf(
    root: &Path,
    text: &str,
    file: &str,
    dir_of_file: &str,
    depth: usize,
    dirs: &mut Vec<String>,
) -> Result<(), UsrError> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(UsrError::LdSoConf {
            file: file.to_owned(),
            problem: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} (a loop?)"),
        });
    }
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match words.next() {
            Some("include") => {
                for pattern in words {
                    let pattern = if pattern.starts_with('/') {
                        pattern.to_owned()
                    } else {
                        format!("{dir_of_file}/{pattern}")
                    };
                    for included in expand_glob(root, &pattern) {
                        let Some(real) = resolve(root, Path::new(&included)) else {
                            continue;
                        };
                        let text = fs::read_to_string(root.join(&real))
                            .map_err(|e| UsrError::read(&root.join(&real), e))?;
                        let parent = included
                            .rsplit_once('/')
                            .map_or(String::new(), |(d, _)| d.to_owned());
                        parse_conf(root, &text, &included, &parent, depth + 1, dirs)?;
                    }
                }
            }
            Some("hwcap") => {}
            _ => {
                let dir = line.trim_end_matches('/');
                if !dir.starts_with('/') {
                    return Err(UsrError::LdSoConf {
                        file: file.to_owned(),
                        problem: format!("{line:?} is not an absolute directory"),
                    });
                }
                dirs.push(dir.to_owned());
            }
        }
    }
    Ok(())
}

/// The directories the tree's `etc/ld.so.conf` names (none if it has none), then those of
/// `extra` (the configuration's `extraLdSoConf`).
pub fn read_conf(root: &Path, extra: &str) -> Result<Vec<String>, UsrError> {
    let mut dirs = Vec::new();
    if let Some(real) = resolve(root, Path::new("etc/ld.so.conf")) {
        let path = root.join(real);
        if path.is_file() {
            let text = fs::read_to_string(&path).map_err(|e| UsrError::read(&path, e))?;
            parse_conf(root, &text, "/etc/ld.so.conf", "/etc", 0, &mut dirs)?;
        }
    }
    parse_conf(root, extra, "extraLdSoConf", "/etc", 0, &mut dirs)?;
    Ok(dirs)
}

/// Whether ldconfig looks at a directory entry of this name.
fn is_library_name(name: &[u8]) -> bool {
    (name.starts_with(b"lib") || name.starts_with(b"ld-"))
        && name.windows(3).any(|w| w == b".so")
        && !name.windows(10).any(|w| w == b".#prelink#")
}

/// Scans the configured directories `conf`, then the system ones, in the tree at `root`.
pub fn scan(root: &Path, conf: &[String], log: &mut dyn Write) -> Result<Cache, UsrError> {
    let mut cache = Cache::default();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut skipped_other = 0usize;
    let mut missing_links: Vec<String> = Vec::new();
    for dir in conf.iter().map(String::as_str).chain(SYSTEM_DIRS) {
        let Some(real) = resolve(root, Path::new(dir)) else {
            continue;
        };
        if !root.join(&real).is_dir() || !seen.insert(real.clone()) {
            continue;
        }
        cache.dirs.push((dir.to_owned(), real.clone()));
        let mut names: Vec<Vec<u8>> = Vec::new();
        let full = root.join(&real);
        for entry in fs::read_dir(&full).map_err(|e| UsrError::read(&full, e))? {
            let entry = entry.map_err(|e| UsrError::read(&full, e))?;
            names.push(entry.file_name().into_encoded_bytes());
        }
        names.sort();
        if names.iter().any(|n| n == b"glibc-hwcaps") {
            let _ = writeln!(
                log,
                "ld.so.cache: {dir}/glibc-hwcaps is not cached (not supported)"
            );
        }
        // key -> (is a link, file name)
        let mut found: Vec<(Vec<u8>, bool, Vec<u8>)> = Vec::new();
        for name in names {
            if !is_library_name(&name) {
                continue;
            }
            let name_str = String::from_utf8_lossy(&name).into_owned();
            let rel = real.join(&name_str);
            let Ok(md) = fs::symlink_metadata(root.join(&rel)) else {
                continue;
            };
            let is_link = md.file_type().is_symlink();
            let target = if is_link {
                match resolve(root, &rel) {
                    Some(t) if root.join(&t).is_file() => t,
                    _ => continue,
                }
            } else if md.is_file() {
                rel.clone()
            } else {
                continue;
            };
            let Ok(file) = File::open(root.join(&target)) else {
                continue;
            };
            let info = match read_dynamic(&file) {
                Ok(info) if info.is_x86_64() => info,
                Ok(_) => {
                    skipped_other += 1;
                    continue;
                }
                Err(_) => continue,
            };
            let soname = info.soname.unwrap_or_else(|| name.clone());
            let keeps_own_name = is_link
                && (name == soname || (name.ends_with(b".so") && soname.starts_with(&name)));
            let key = if keeps_own_name { name.clone() } else { soname };
            match found.iter_mut().find(|(k, _, _)| *k == key) {
                Some(existing) => {
                    let better = (!keeps_own_name && existing.1)
                        || (keeps_own_name == existing.1
                            && libcmp(&existing.2, &name) == Ordering::Less);
                    if better {
                        existing.1 = keeps_own_name;
                        existing.2 = name;
                    }
                }
                None => found.push((key, keeps_own_name, name)),
            }
        }
        for (key, _, _) in found {
            let key_str = String::from_utf8_lossy(&key).into_owned();
            let present =
                resolve(root, &real.join(&key_str)).is_some_and(|t| root.join(t).is_file());
            if !present {
                missing_links.push(format!("{dir}/{key_str}"));
                continue;
            }
            let mut path = dir.as_bytes().to_vec();
            path.push(b'/');
            path.extend_from_slice(&key);
            cache.entries.push(Entry {
                key,
                path,
                flags: FLAGS_X86_64,
            });
        }
    }
    if skipped_other > 0 {
        let _ = writeln!(
            log,
            "ld.so.cache: {skipped_other} libraries for other architectures are not cached"
        );
    }
    for m in missing_links {
        let _ = writeln!(
            log,
            "ld.so.cache: {m} is not cached: no file or link of that name (no package ships \
             the soname link)"
        );
    }
    // Stable: equal keys keep the order their directories were scanned in.
    cache.entries.sort_by(|a, b| libcmp(&b.key, &a.key));
    Ok(cache)
}

fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The cache file for `entries` (already sorted): header, entries, strings (each key shares
/// the tail of its path), then the generator extension.
pub fn write(entries: &[Entry]) -> Vec<u8> {
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let strings_start = HEADER + ENTRY * entries.len();
    let mut strings = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        let value = strings_start + strings.len();
        let key = value + e.path.len() - e.key.len();
        strings.extend_from_slice(&e.path);
        strings.push(0);
        offsets.push((key, value));
    }
    let strings_end = strings_start + strings.len();
    let extension = strings_end.next_multiple_of(4);
    let mut out = Vec::with_capacity(extension + 64);
    out.extend_from_slice(MAGIC);
    push_u32(&mut out, entries.len() as u32);
    push_u32(&mut out, strings.len() as u32);
    out.push(2); // cache_file_new_flags_endian_little
    out.extend_from_slice(&[0; 3]);
    push_u32(&mut out, extension as u32);
    out.extend_from_slice(&[0; 12]);
    for (e, (key, value)) in entries.iter().zip(&offsets) {
        out.extend_from_slice(&e.flags.to_le_bytes());
        push_u32(&mut out, *key as u32);
        push_u32(&mut out, *value as u32);
        push_u32(&mut out, 0); // osversion (unused)
        out.extend_from_slice(&0u64.to_le_bytes()); // hwcap
    }
    out.extend_from_slice(&strings);
    out.resize(extension, 0);
    // The extension directory: one section, the generator.
    push_u32(&mut out, EXTENSION_MAGIC);
    push_u32(&mut out, 1);
    let data = extension + 8 + 16;
    push_u32(&mut out, 0); // tag: generator
    push_u32(&mut out, 0); // flags
    push_u32(&mut out, data as u32);
    push_u32(&mut out, GENERATOR.len() as u32);
    out.extend_from_slice(GENERATOR.as_bytes());
    out
}

/// Whether `head` starts like a cache file strata writes (for tools that read it).
pub fn is_cache(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Reads the `(key, path)` entries of a cache file in this format. Offsets are
/// bounds-checked; a malformed file gives `None`.
pub fn parse(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    };
    if !is_cache(bytes) {
        return None;
    }
    let n = usize::try_from(u32_at(20)?).ok()?;
    let string = |off: u32| -> Option<Vec<u8>> {
        let rest = bytes.get(usize::try_from(off).ok()?..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(rest[..end].to_vec())
    };
    (0..n)
        .map(|i| {
            let base = 48 + 24 * i;
            Some((string(u32_at(base + 4)?)?, string(u32_at(base + 8)?)?))
        })
        .collect()
}

#[cfg(test)]
mod tests;
