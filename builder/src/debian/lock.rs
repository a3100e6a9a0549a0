//! The lock file `strata.lock`: a short line-oriented text file meant to be read in diffs,
//! one `key value` pair a line. It pins a suite's `Packages` indexes and the digest strata made
//! of them ([`super::digest`]), which records every package's version, `.deb` and chosen
//! dependencies: `pkgs` is the whole suite, and two builds a year apart give the same system.
//! It never holds a URL: the archive's base URL comes from configuration at run time
//! ([`super::mirror`]), and the lock stores only paths relative to it.
//!
//! ```text
//! # strata.lock: Debian packages pinned by strata. Generated; do not edit by hand.
//! format strata-lock 2
//! suite bookworm
//! architecture amd64
//! index dists/bookworm/main/binary-amd64/Packages 3b0c...64 hex digits...
//! index dists/bookworm/non-free-firmware/binary-amd64/Packages 91aa...64 hex digits...
//! digest strata-digest-1 7e42...64 hex digits...
//! ```
//!
//! The rules, all checked by [`LockFile::parse`], which reports the line of any violation:
//!
//! - `#` comment lines may appear only at the top of the file, before `format`.
//! - `format strata-lock 2`, `suite <suite>`, `architecture <arch>`, then one or more
//!   `index <archive-relative path> <sha256>` lines: the `Packages` files the digest was made
//!   from (`dists/<suite>/<component>/binary-<arch>/Packages`, the first one `main`'s) and the
//!   sha256 of each one's uncompressed text; then `digest <format> <sha256>`: the digest's
//!   format and the sha256 of its bytes.
//! - sha256 values are 64 lowercase hex digits; the file ends with a newline, and no line has
//!   leading or trailing whitespace.
//! - Format 1 (one stanza per pinned package) is recognised and refused with what to do.
//!
//! Must not: touch the network or resolve (it records what [`super::digest`] made).

use thiserror::Error;

use super::deb822::truncate;
use super::digest::{component_of, DIGEST_FORMAT};
use super::index::{check_archive_path, ValueError};
use super::relation::is_arch_name;

/// The lock file's format line.
const LOCK_FORMAT: &str = "strata-lock 2";

/// A `Packages` index a lock was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedIndex {
    /// Archive-relative path, e.g. `dists/<suite>/main/binary-amd64/Packages`.
    pub path: String,
    /// sha256 of the index's uncompressed text, lowercase hex.
    pub sha256: String,
}

/// The contents of `strata.lock`. See the module documentation for the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFile {
    pub suite: String,
    pub architecture: String,
    /// `main`'s first.
    pub indexes: Vec<LockedIndex>,
    /// sha256 of the digest made from the indexes, lowercase hex.
    pub digest: String,
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
        let _ = writeln!(s, "digest {DIGEST_FORMAT} {}", self.digest);
        s
    }

    /// Reads a lock file, checking every rule of the format.
    pub fn parse(text: &str) -> Result<LockFile, LockError> {
        LockReader::new(text).read()
    }

    /// The lock's `main` index (the first).
    pub fn main_index(&self) -> Option<&LockedIndex> {
        self.indexes.first()
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
        let format = self.field("format", false)?;
        if format == "strata-lock 1" {
            return Err(lock_err(
                n,
                "this lock is in format 1 (one stanza per pinned package), which this strata \
                 no longer reads: run `strata lock update` to pin the whole suite in format 2",
            ));
        }
        if format != LOCK_FORMAT {
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
        let mut indexes: Vec<LockedIndex> = Vec::new();
        while self.peek().is_some_and(|l| l.starts_with("index")) {
            let n = self.lineno();
            let v = self.field("index", false)?;
            let (path, sha) = v
                .split_once(' ')
                .ok_or_else(|| lock_err(n, "expected `index <path> <sha256>`"))?;
            check_archive_path(path).map_err(|m| lock_err(n, m.to_string()))?;
            let wanted_prefix = format!("dists/{suite}/");
            let component = component_of(path).filter(|_| {
                path.starts_with(&wanted_prefix)
                    && path.ends_with(&format!("/binary-{architecture}/Packages"))
            });
            let Some(component) = component else {
                return Err(lock_err(
                    n,
                    format!(
                        "index `{path}` is not dists/{suite}/<component>/binary-{architecture}/Packages"
                    ),
                ));
            };
            if indexes.is_empty() && component != "main" {
                return Err(lock_err(
                    n,
                    "the first index must be the `main` component's",
                ));
            }
            if indexes.iter().any(|i| i.path == path) {
                return Err(lock_err(n, format!("index `{path}` is repeated")));
            }
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
        let n = self.lineno();
        let v = self.field("digest", false)?;
        let (format, sha) = v
            .split_once(' ')
            .ok_or_else(|| lock_err(n, "expected `digest <format> <sha256>`"))?;
        if format != DIGEST_FORMAT {
            return Err(lock_err(
                n,
                format!(
                    "digest format `{}` is not `{DIGEST_FORMAT}` (run `strata lock update`)",
                    truncate(format)
                ),
            ));
        }
        check_lock_sha256(sha).map_err(|m| lock_err(n, m.to_string()))?;
        if let Some(line) = self.peek() {
            return Err(lock_err(
                self.lineno(),
                format!("unexpected `{}` after the digest", truncate(line)),
            ));
        }
        Ok(LockFile {
            suite: suite.to_string(),
            architecture: architecture.to_string(),
            indexes,
            digest: sha.to_string(),
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

    fn sample_lock() -> LockFile {
        LockFile {
            suite: "bookworm".into(),
            architecture: "amd64".into(),
            indexes: vec![
                LockedIndex {
                    path: "dists/bookworm/main/binary-amd64/Packages".into(),
                    sha256: sha256_hex(b"main"),
                },
                LockedIndex {
                    path: "dists/bookworm/non-free-firmware/binary-amd64/Packages".into(),
                    sha256: sha256_hex(b"firmware"),
                },
            ],
            digest: sha256_hex(b"digest"),
        }
    }

    #[test]
    fn lock_round_trip() {
        let lock = sample_lock();
        let text = lock.to_text();
        assert_eq!(LockFile::parse(&text), Ok(lock.clone()));
        assert!(!text.contains("://"));
        assert_eq!(
            text,
            format!(
                "# strata.lock: Debian packages pinned by strata. Generated; do not edit by hand.\n\
                 format strata-lock 2\nsuite bookworm\narchitecture amd64\n\
                 index dists/bookworm/main/binary-amd64/Packages {}\n\
                 index dists/bookworm/non-free-firmware/binary-amd64/Packages {}\n\
                 digest strata-digest-1 {}\n",
                sha256_hex(b"main"),
                sha256_hex(b"firmware"),
                sha256_hex(b"digest")
            )
        );
        assert_eq!(
            lock.main_index().map(|i| i.sha256.clone()),
            Some(sha256_hex(b"main"))
        );
    }

    #[test]
    fn lock_rejects_malformed() {
        let text = sample_lock().to_text();
        let digest = sha256_hex(b"digest");
        let cases: Vec<(String, usize, &str)> = vec![
            (
                text.replace("format strata-lock 2", "format strata-lock 3"),
                2,
                "unsupported format",
            ),
            (
                text.replace("format strata-lock 2", "format strata-lock 1"),
                2,
                "run `strata lock update`",
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
                text.replace("index dists", "X dists"),
                5,
                "expected at least one `index`",
            ),
            (
                text.replacen("Packages ", "Packages", 1),
                5,
                "expected `index <path> <sha256>`",
            ),
            (
                text.replacen("dists/bookworm/main", "dists/trixie/main", 1),
                5,
                "is not dists/bookworm/<component>/binary-amd64/Packages",
            ),
            (
                text.replacen("binary-amd64/Packages", "binary-i386/Packages", 1),
                5,
                "is not dists/bookworm",
            ),
            (
                text.replacen("/main/", "/contrib/", 1),
                5,
                "must be the `main` component's",
            ),
            (text.replace("non-free-firmware", "main"), 6, "is repeated"),
            (
                text.replace(&digest, &digest.to_uppercase()),
                7,
                "lowercase hex",
            ),
            (
                text.replace("digest strata-digest-1", "digest strata-digest-0"),
                7,
                "digest format `strata-digest-0`",
            ),
            (
                text.replace(&format!("digest strata-digest-1 {digest}\n"), ""),
                7,
                "unexpected end of file, expected `digest`",
            ),
            (
                format!("{text}package x\n"),
                8,
                "unexpected `package x` after the digest",
            ),
            (
                text.replace("suite bookworm", "suite bookworm "),
                3,
                "trailing whitespace",
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
