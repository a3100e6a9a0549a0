//! Debian version numbers and their order: [`Version`] orders versions exactly as Debian
//! Policy §5.6.12 says (epoch, then upstream version, then Debian revision; in each, non-digit
//! parts compare with `~` before everything and letters before other characters, digit parts
//! compare numerically).
//!
//! Must not: know about packages, relations or files; that is [`super::relation`] and
//! [`super::index`].

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A Debian version `[epoch:]upstream_version[-debian_revision]`, ordered per Debian Policy
/// §5.6.12. Equality is that ordering's: `1.0`, `0:1.0` and `1.0-0` are equal versions, and
/// [`Version::as_str`] still gives each one's text as written.
#[derive(Clone, Debug)]
pub struct Version {
    text: Box<str>,
    epoch: u64,
    upstream_start: usize,
    /// Byte offset of the revision (after the last `-`), if there is one.
    revision_start: Option<usize>,
}

/// Why a string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    #[error("empty version")]
    Empty,
    #[error("invalid epoch `{0}` (must be an unsigned integer)")]
    BadEpoch(String),
    #[error("empty upstream version in `{0}`")]
    EmptyUpstream(String),
    #[error("empty Debian revision in `{0}`")]
    EmptyRevision(String),
    #[error("invalid character {ch:?} in the {part} of `{version}`")]
    BadChar {
        ch: char,
        part: &'static str,
        version: String,
    },
}

impl Version {
    /// Parses a version, checking the characters Debian Policy §5.6.12 allows in each part.
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        let (epoch, upstream_start) = match s.find(':') {
            Some(i) => {
                let e = &s[..i];
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(VersionError::BadEpoch(e.to_string()));
                }
                let epoch = e
                    .parse::<u64>()
                    .map_err(|_| VersionError::BadEpoch(e.to_string()))?;
                (epoch, i + 1)
            }
            None => (0, 0),
        };
        let rest = &s[upstream_start..];
        let (upstream, revision_start) = match rest.rfind('-') {
            Some(j) => {
                if j + 1 == rest.len() {
                    return Err(VersionError::EmptyRevision(s.to_string()));
                }
                (&rest[..j], Some(upstream_start + j + 1))
            }
            None => (rest, None),
        };
        if upstream.is_empty() {
            return Err(VersionError::EmptyUpstream(s.to_string()));
        }
        let bad = |ch: char, part: &'static str| VersionError::BadChar {
            ch,
            part,
            version: s.to_string(),
        };
        for ch in upstream.chars() {
            if !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '+' | '-' | '~')) {
                return Err(bad(ch, "upstream version"));
            }
        }
        if let Some(r) = revision_start {
            for ch in s[r..].chars() {
                if !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '+' | '~')) {
                    return Err(bad(ch, "Debian revision"));
                }
            }
        }
        Ok(Version {
            text: s.into(),
            epoch,
            upstream_start,
            revision_start,
        })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch, 0 when absent.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        match self.revision_start {
            Some(r) => &self.text[self.upstream_start..r - 1],
            None => &self.text[self.upstream_start..],
        }
    }

    /// The Debian revision, empty when absent (which compares equal to `0`).
    pub fn revision(&self) -> &str {
        match self.revision_start {
            Some(r) => &self.text[r..],
            None => "",
        }
    }
}

/// The weight of one character in the non-digit part of a version: `~` below the end of the
/// string, the end (and a digit, which ends the part) at 0, letters next, everything else after.
fn char_order(c: Option<&u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(*c),
        Some(c) => i32::from(*c) + 256,
    }
}

/// Compares an upstream version or a revision per Policy §5.6.12: alternating non-digit parts
/// (compared with [`char_order`]) and digit parts (compared as numbers of any length).
fn compare_fragment(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (char_order(a.get(i)), char_order(b.get(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            // Equal weights here means the same non-digit byte on both sides.
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (ds, dt) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (na, nb) = (&a[ds..i], &b[dt..j]);
        let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_fragment(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| compare_fragment(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Version, VersionError> {
        Version::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn version_order_known_pairs() {
        use Ordering::{Equal as E, Greater as G, Less as L};
        let pairs: &[(&str, &str, Ordering)] = &[
            ("1.0~rc1", "1.0", L),
            ("1:0.1", "2.0", G),
            ("1.0-1", "1.0-1.1", L),
            ("2.30-1", "2.3-1", G),
            ("1.0", "1.0-0", E),
            ("1.0", "0:1.0", E),
            ("1.0", "1.00", E),
            ("0001", "1", E),
            ("1.0~", "1.0", L),
            ("1.0~~", "1.0~", L),
            ("1.0~~a", "1.0~", L),
            ("1.0~rc1~git", "1.0~rc1", L),
            ("1.0a", "1.0", G),
            ("1.0a", "1.0+", L),
            ("1.0+", "1.0", G),
            ("1.0.0", "1.0", G),
            ("1.0.1", "1.0", G),
            ("1.0-1", "1.0", G),
            ("1.2.3", "1.2.10", L),
            ("1.10", "1.9", G),
            ("10", "9", G),
            ("1e", "1.", L),
            ("a", "b", L),
            ("2.36-9", "2.36-9+deb12u1", L),
            ("2.36-9+deb12u1", "2.36-10", L),
            ("1:1.0", "1.9", G),
            ("0.9", "1:0.1", L),
            ("2:1.0", "10:0.1", L),
            ("1.0-1~bpo1", "1.0-1", L),
            ("1.0+dfsg-1", "1.0-1", G),
            ("7.6p2-4", "7.6-0", G),
            ("5.36.0-7", "5.20.1-3~", G),
            ("1.0-a", "1.0-1", G),
            ("1.0-1a", "1.0-1", G),
            ("1.0-1~", "1.0-1", L),
            ("1.0-2-3", "1.0-2-2", G),
            ("3.0~beta.1", "3.0~alpha.2", G),
            (
                "1.123456789012345678901234567890",
                "1.123456789012345678901234567889",
                G,
            ),
            ("99999999999999999999999", "1", G),
            ("1.3.4.20200120-3.1", "1.3.4.20200120-3", G),
            ("12.2.0-14", "12.2.0-14+deb12u1", L),
            ("4.19.0", "4.19", G),
            ("2023c-5", "2024a-0+deb12u1", L),
            ("1:2.38.1-5", "2.39-1", G),
        ];
        for &(a, b, want) in pairs {
            assert_eq!(v(a).cmp(&v(b)), want, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn version_parts_and_text() {
        let x = v("1:2.3-4-5");
        assert_eq!((x.epoch(), x.upstream(), x.revision()), (1, "2.3-4", "5"));
        assert_eq!(x.as_str(), "1:2.3-4-5");
        assert_eq!(x.to_string(), "1:2.3-4-5");
        let y = v("2.3");
        assert_eq!((y.epoch(), y.upstream(), y.revision()), (0, "2.3", ""));
        assert_eq!(
            "0:1.0".parse::<Version>().map(|v| v.to_string()),
            Ok("0:1.0".into())
        );
    }

    #[test]
    fn invalid_versions() {
        for bad in [
            "",
            "1.0-",
            ":1.0",
            "a:1.0",
            "1:",
            "-1",
            "1.0 beta",
            "1_0",
            "1.0-1_2",
            "1.0-1:2",
            "1:2:3",
            "99999999999999999999999:1",
            "1.0-1-",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(Version::parse(""), Err(VersionError::Empty));
        assert_eq!(
            Version::parse("1.0-"),
            Err(VersionError::EmptyRevision("1.0-".into()))
        );
    }
}
