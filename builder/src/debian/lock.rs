//! The lock file `strata.lock`: a line-oriented text file meant to be read in diffs: one
//! `key value` pair a line, one blank-line-separated stanza per package, packages sorted by
//! name. It never holds a URL: the archive's base URL comes from configuration at run time
//! ([`super::mirror`]), and the lock stores only paths relative to it.
//!
//! ```text
//! # strata.lock: Debian packages pinned by strata. Generated; do not edit by hand.
//! format strata-lock 1
//! suite bookworm
//! architecture amd64
//! index dists/bookworm/main/binary-amd64/Packages 3b0c...64 hex digits...
//!
//! package base-files
//! version 12.4+deb12u5
//! architecture amd64
//! filename pool/main/b/base-files/base-files_12.4+deb12u5_amd64.deb
//! size 70616
//! sha256 5a3b...64 hex digits...
//! depends mawk
//!
//! package mawk
//! version 1.3.4.20200120-3.1
//! architecture amd64
//! filename pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
//! size 119104
//! sha256 0f4c...64 hex digits...
//! depends
//! ```
//!
//! The rules, all checked by [`LockFile::parse`], which reports the line of any violation:
//!
//! - `#` comment lines may appear only at the top of the file, before `format`.
//! - The header is `format strata-lock 1`, `suite <suite>`, `architecture <arch>`, then one or
//!   more `index <archive-relative path> <sha256>` lines: the `Packages` files the lock was
//!   resolved from and the sha256 of each one's uncompressed text.
//! - Every package stanza is preceded by exactly one blank line and has exactly the seven keys
//!   shown, in that order. `version` is a valid Debian version; `architecture` is the header's
//!   or `all`; `filename` is the archive-relative path of the `.deb` (no leading `/`, no `..`,
//!   no URL); `size` is in bytes, canonical decimal; `sha256` is 64 lowercase hex digits;
//!   `depends` lists the names of the packages chosen for this package's `Pre-Depends` and
//!   `Depends`, sorted, separated by single spaces, each one a package of the lock (an empty
//!   list is the bare word `depends`).
//! - Packages are sorted by name (byte order), names are unique, the file ends with a newline,
//!   and no line has leading or trailing whitespace.
//!
//! Must not: touch the network or resolve (it records what [`super::resolve`] chose).

use thiserror::Error;

use super::deb822::truncate;
use super::index::{check_archive_path, parse_size, ValueError};
use super::relation::{is_arch_name, is_valid_package_name};
use super::resolve::Resolution;
use super::version::Version;

/// The lock file's format line.
const LOCK_FORMAT: &str = "strata-lock 1";

/// A `Packages` index a lock was resolved from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedIndex {
    /// Archive-relative path, e.g. `dists/<suite>/main/binary-amd64/Packages`.
    pub path: String,
    /// sha256 of the index's uncompressed text, lowercase hex.
    pub sha256: String,
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// Names of the packages chosen for its relations, sorted.
    pub depends: Vec<String>,
}

/// The contents of `strata.lock`. See the module documentation for the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFile {
    pub suite: String,
    pub architecture: String,
    pub indexes: Vec<LockedIndex>,
    /// Sorted by name.
    pub packages: Vec<LockedPackage>,
}

/// A malformed lock file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("strata.lock line {line}: {message}")]
pub struct LockError {
    pub line: usize,
    pub message: String,
}

/// The sha256 of `data` in lowercase hex, e.g. of an index for [`LockedIndex::sha256`].
pub fn sha256_hex(data: &[u8]) -> String {
    strata_store::Hash::of(strata_store::HashAlgo::Sha256, data).to_base16()
}

impl LockFile {
    /// The lock for a resolution.
    pub fn from_resolution(
        suite: &str,
        architecture: &str,
        indexes: Vec<LockedIndex>,
        resolution: &Resolution<'_>,
    ) -> LockFile {
        let mut packages: Vec<LockedPackage> = resolution
            .packages
            .iter()
            .map(|r| LockedPackage {
                name: r.package.name.clone(),
                version: r.package.version.to_string(),
                architecture: r.package.architecture.clone(),
                filename: r.package.filename.clone(),
                size: r.package.size,
                sha256: r.package.sha256.clone(),
                depends: r.depends.iter().map(|d| d.to_string()).collect(),
            })
            .collect();
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        LockFile {
            suite: suite.to_string(),
            architecture: architecture.to_string(),
            indexes,
            packages,
        }
    }

    /// The lock file's text.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        s.push_str(
            "# strata.lock: Debian packages pinned by strata. Generated; do not edit by hand.\n",
        );
        let _ = writeln!(s, "format {LOCK_FORMAT}");
        let _ = writeln!(s, "suite {}", self.suite);
        let _ = writeln!(s, "architecture {}", self.architecture);
        for i in &self.indexes {
            let _ = writeln!(s, "index {} {}", i.path, i.sha256);
        }
        for p in &self.packages {
            let _ = writeln!(s);
            let _ = writeln!(s, "package {}", p.name);
            let _ = writeln!(s, "version {}", p.version);
            let _ = writeln!(s, "architecture {}", p.architecture);
            let _ = writeln!(s, "filename {}", p.filename);
            let _ = writeln!(s, "size {}", p.size);
            let _ = writeln!(s, "sha256 {}", p.sha256);
            if p.depends.is_empty() {
                s.push_str("depends\n");
            } else {
                let _ = writeln!(s, "depends {}", p.depends.join(" "));
            }
        }
        s
    }

    /// Reads a lock file, checking every rule of the format.
    pub fn parse(text: &str) -> Result<LockFile, LockError> {
        LockReader::new(text).read()
    }
}

struct LockReader<'a> {
    lines: Vec<&'a str>,
    pos: usize,
}

fn lock_err(line: usize, message: impl Into<String>) -> LockError {
    LockError {
        line,
        message: message.into(),
    }
}

impl<'a> LockReader<'a> {
    fn new(text: &'a str) -> LockReader<'a> {
        let mut lines: Vec<&str> = text.split('\n').collect();
        // `split` gives a last empty piece after the final newline.
        if lines.last() == Some(&"") {
            lines.pop();
        }
        LockReader { lines, pos: 0 }
    }

    /// 1-based number of the line `pos` points at.
    fn lineno(&self) -> usize {
        self.pos + 1
    }

    fn peek(&self) -> Option<&'a str> {
        self.lines.get(self.pos).copied()
    }

    /// The next line, which must be `key value` (or the bare `key` when `empty_ok`).
    fn field(&mut self, key: &str, empty_ok: bool) -> Result<&'a str, LockError> {
        let n = self.lineno();
        let line = self
            .peek()
            .ok_or_else(|| lock_err(n, format!("unexpected end of file, expected `{key}`")))?;
        self.pos += 1;
        let (k, v) = match line.split_once(' ') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if k != key {
            return Err(lock_err(
                n,
                format!("expected `{key}`, found `{}`", truncate(line)),
            ));
        }
        match v {
            None if empty_ok => Ok(""),
            None => Err(lock_err(n, format!("`{key}` needs a value"))),
            Some(v)
                if v.is_empty() || v.starts_with(' ') || v.ends_with(' ') || v.contains('\t') =>
            {
                Err(lock_err(n, format!("stray whitespace in `{key}`")))
            }
            Some(v) => Ok(v),
        }
    }

    fn read(mut self) -> Result<LockFile, LockError> {
        if let Some(i) = self
            .lines
            .iter()
            .position(|l| l.ends_with(' ') || l.ends_with('\t') || l.ends_with('\r'))
        {
            return Err(lock_err(i + 1, "trailing whitespace"));
        }
        while self.peek().is_some_and(|l| l.starts_with('#')) {
            self.pos += 1;
        }
        let n = self.lineno();
        if self.field("format", false)? != LOCK_FORMAT {
            return Err(lock_err(
                n,
                format!("unsupported format (expected `{LOCK_FORMAT}`)"),
            ));
        }
        let n = self.lineno();
        let suite = self.field("suite", false)?;
        if !suite
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
        {
            return Err(lock_err(n, format!("invalid suite `{suite}`")));
        }
        let n = self.lineno();
        let architecture = self.field("architecture", false)?;
        if !is_arch_name(architecture) || architecture == "all" {
            return Err(lock_err(
                n,
                format!("invalid architecture `{architecture}`"),
            ));
        }
        let mut indexes = Vec::new();
        while self.peek().is_some_and(|l| l.starts_with("index")) {
            let n = self.lineno();
            let v = self.field("index", false)?;
            let (path, sha) = v
                .split_once(' ')
                .ok_or_else(|| lock_err(n, "expected `index <path> <sha256>`"))?;
            check_archive_path(path).map_err(|m| lock_err(n, m.to_string()))?;
            check_lock_sha256(sha).map_err(|m| lock_err(n, m.to_string()))?;
            indexes.push(LockedIndex {
                path: path.to_string(),
                sha256: sha.to_string(),
            });
        }
        if indexes.is_empty() {
            return Err(lock_err(
                self.lineno(),
                "expected at least one `index` line",
            ));
        }
        let mut packages: Vec<LockedPackage> = Vec::new();
        let mut depends_lines = Vec::new();
        while let Some(line) = self.peek() {
            if !line.is_empty() {
                return Err(lock_err(
                    self.lineno(),
                    format!(
                        "expected a blank line before the next package, found `{}`",
                        truncate(line)
                    ),
                ));
            }
            self.pos += 1;
            let n = self.lineno();
            if self.peek().is_none() {
                return Err(lock_err(n - 1, "blank line at the end of the file"));
            }
            let name = self.field("package", false)?;
            if !is_valid_package_name(name) {
                return Err(lock_err(n, format!("invalid package name `{name}`")));
            }
            if let Some(prev) = packages.last() {
                if prev.name.as_str() >= name {
                    return Err(lock_err(
                        n,
                        format!(
                            "package `{name}` is out of order or repeated (after `{}`)",
                            prev.name
                        ),
                    ));
                }
            }
            let n = self.lineno();
            let version = self.field("version", false)?;
            Version::parse(version).map_err(|e| lock_err(n, e.to_string()))?;
            let n = self.lineno();
            let arch = self.field("architecture", false)?;
            if arch != architecture && arch != "all" {
                return Err(lock_err(
                    n,
                    format!("architecture `{arch}` is neither `{architecture}` nor `all`"),
                ));
            }
            let n = self.lineno();
            let filename = self.field("filename", false)?;
            check_archive_path(filename).map_err(|m| lock_err(n, m.to_string()))?;
            let n = self.lineno();
            let size = self.field("size", false)?;
            let size_n = parse_size(size).map_err(|m| lock_err(n, m.to_string()))?;
            if size_n.to_string() != size {
                return Err(lock_err(
                    n,
                    format!("size `{size}` is not in canonical form"),
                ));
            }
            let n = self.lineno();
            let sha = self.field("sha256", false)?;
            check_lock_sha256(sha).map_err(|m| lock_err(n, m.to_string()))?;
            let n = self.lineno();
            let deps = self.field("depends", true)?;
            let depends: Vec<String> = if deps.is_empty() {
                Vec::new()
            } else {
                deps.split(' ').map(str::to_string).collect()
            };
            for (k, d) in depends.iter().enumerate() {
                if !is_valid_package_name(d) {
                    return Err(lock_err(
                        n,
                        format!("invalid package name `{d}` in depends"),
                    ));
                }
                if k > 0 && depends[k - 1] >= *d {
                    return Err(lock_err(
                        n,
                        format!("depends not sorted or repeated at `{d}`"),
                    ));
                }
                if d == name {
                    return Err(lock_err(n, format!("`{name}` depends on itself")));
                }
            }
            depends_lines.push(n);
            packages.push(LockedPackage {
                name: name.to_string(),
                version: version.to_string(),
                architecture: arch.to_string(),
                filename: filename.to_string(),
                size: size_n,
                sha256: sha.to_string(),
                depends,
            });
        }
        for (p, &n) in packages.iter().zip(&depends_lines) {
            for d in &p.depends {
                if packages
                    .binary_search_by(|q| q.name.as_str().cmp(d))
                    .is_err()
                {
                    return Err(lock_err(n, format!("`{d}` is not a package of this lock")));
                }
            }
        }
        Ok(LockFile {
            suite: suite.to_string(),
            architecture: architecture.to_string(),
            indexes,
            packages,
        })
    }
}

fn check_lock_sha256(s: &str) -> Result<(), ValueError> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ValueError::NotLowercaseSha256(truncate(s).into_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::index::tests::{index, synthetic};

    fn sample_lock() -> LockFile {
        let idx = index();
        let r = idx.resolve(&["app", "base-files"]).unwrap();
        LockFile::from_resolution(
            "bookworm",
            "amd64",
            vec![LockedIndex {
                path: "dists/bookworm/main/binary-amd64/Packages".into(),
                sha256: sha256_hex(synthetic().as_bytes()),
            }],
            &r,
        )
    }

    #[test]
    fn lock_round_trip() {
        let lock = sample_lock();
        let text = lock.to_text();
        assert_eq!(LockFile::parse(&text), Ok(lock.clone()));
        assert!(!text.contains("://"));
        assert!(text.starts_with(
            "# strata.lock: Debian packages pinned by strata. Generated; do not edit by hand.\n\
             format strata-lock 1\nsuite bookworm\narchitecture amd64\n\
             index dists/bookworm/main/binary-amd64/Packages "
        ));
        assert!(text.contains(&format!(
            "\n\npackage app\nversion 1.0-1\narchitecture amd64\n\
             filename pool/main/a/app/app_14_amd64.deb\nsize 1014\nsha256 {:064x}\n\
             depends mawk python3 tzdata virtual-versioned\n\npackage base-files\n",
            14
        )));
        assert!(text.contains("\npackage gcc-12-base\n"));
        assert!(text.contains("\ndepends\n\n"));
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
        // Writing is deterministic.
        assert_eq!(sample_lock().to_text(), text);
        // A lock without packages is valid too.
        let empty = LockFile {
            packages: Vec::new(),
            ..lock
        };
        assert_eq!(LockFile::parse(&empty.to_text()), Ok(empty));
    }

    #[test]
    fn lock_rejects_malformed() {
        let text = sample_lock().to_text();
        let lines: Vec<&str> = text.lines().collect();
        let find = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix)).unwrap() + 1;
        let sha = format!("{:064x}", 14);
        let cases: Vec<(String, usize, &str)> = vec![
            (
                text.replace("format strata-lock 1", "format strata-lock 2"),
                2,
                "unsupported format",
            ),
            (text.replace("suite bookworm\n", ""), 3, "expected `suite`"),
            (
                text.replace("suite bookworm", "suite book worm"),
                3,
                "invalid suite",
            ),
            (
                text.replace("architecture amd64\nindex", "architecture all\nindex"),
                4,
                "invalid architecture",
            ),
            (
                text.replacen("index dists", "X dists", 1),
                5,
                "expected at least one `index`",
            ),
            (
                text.replacen("Packages ", "Packages", 1),
                5,
                "expected `index <path> <sha256>`",
            ),
            (
                text.replace("package app\n", "package zzz\n"),
                find("package base-files"),
                "out of order",
            ),
            (
                text.replace("package base-files\n", "package app\n"),
                find("package base-files"),
                "out of order or repeated",
            ),
            (
                text.replace(&sha, &sha.to_uppercase()),
                find("sha256 000000000000000000000000000000000000000000000000000000000000000e"),
                "lowercase hex",
            ),
            (
                text.replace("size 1014", "size 01014"),
                find("size 1014"),
                "canonical",
            ),
            (
                text.replace("size 1014", "size -1"),
                find("size 1014"),
                "not a size",
            ),
            (
                text.replace("version 1.0-1\n", "version 1.0-\n"),
                find("version 1.0-1"),
                "empty Debian revision",
            ),
            (
                text.replace("filename pool/main/a/", "filename /pool/main/a/"),
                find("filename pool/main/a/"),
                "archive-relative",
            ),
            (
                text.replace(
                    "filename pool/main/a/",
                    "filename http://archive.invalid/debian/pool/main/a/",
                ),
                find("filename pool/main/a/"),
                "archive-relative",
            ),
            (
                text.replace(
                    "depends mawk python3 tzdata virtual-versioned",
                    "depends python3 mawk",
                ),
                find("depends mawk python3"),
                "not sorted",
            ),
            (
                text.replace(
                    "depends mawk python3 tzdata virtual-versioned",
                    "depends mawk nothere",
                ),
                find("depends mawk python3"),
                "`nothere` is not a package of this lock",
            ),
            (
                text.replace(
                    "depends mawk python3 tzdata virtual-versioned",
                    "depends app",
                ),
                find("depends mawk python3"),
                "depends on itself",
            ),
            (
                text.replace(
                    "depends mawk python3 tzdata virtual-versioned",
                    "depends  mawk",
                ),
                find("depends mawk python3"),
                "stray whitespace",
            ),
            (
                text.replace("size 1014\n", "size 1014 \n"),
                find("size 1014"),
                "trailing whitespace",
            ),
            (
                text.replace("\npackage base-files", "package base-files"),
                find("package base-files") - 1,
                "expected a blank line",
            ),
            (
                format!("{text}\n"),
                lines.len() + 1,
                "blank line at the end",
            ),
            (
                text.replace("size 1014\n", ""),
                find("size 1014"),
                "expected `size`, found `sha256",
            ),
            (
                format!("{text}\npackage zzzz\nversion 1\n"),
                lines.len() + 4,
                "unexpected end of file, expected `architecture`",
            ),
            (
                text.replacen(
                    "architecture amd64\nfilename",
                    "architecture i386\nfilename",
                    1,
                ),
                find("package app") + 2,
                "neither `amd64` nor `all`",
            ),
            (
                text.replace("package app\n", "package App\n"),
                find("package app"),
                "invalid package name",
            ),
            (
                format!("# ok\n{text}").replace("suite bookworm", "# no\nsuite bookworm"),
                4,
                "expected `suite`",
            ),
        ];
        for (bad, line, msg) in cases {
            let e = LockFile::parse(&bad).unwrap_err();
            assert_eq!(e.line, line, "{e} (wanted {msg:?})");
            assert!(e.message.contains(msg), "{e:?} should contain {msg:?}");
            assert!(e
                .to_string()
                .starts_with(&format!("strata.lock line {line}: ")));
        }
    }
}
