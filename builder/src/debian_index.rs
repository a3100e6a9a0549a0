//! The offline core of strata's pinned Debian package set: reading an archive's `Packages`
//! index, comparing Debian versions, parsing dependency relations, resolving a closure of
//! packages, and writing and reading the lock file `strata.lock` that pins every package by the
//! sha256 the archive's own index gives it. Nothing here touches the network.
//!
//! # Packages index
//!
//! [`parse_packages`] reads a `Packages` file (deb822: stanzas of `Field: value` lines, a
//! continuation line starts with a space or tab, stanzas are separated by blank lines) in one
//! pass over its lines, with no regular expressions and no allocation for the fields it does not
//! keep. Field names are case-insensitive. It keeps `Package`, `Version`, `Architecture`,
//! `Filename`, `Size`, `SHA256`, `Depends`, `Pre-Depends`, `Provides`, `Multi-Arch`,
//! `Essential` and `Priority`; the first six are required. Any malformed line or value is an
//! [`IndexError`] that names its line.
//!
//! # Versions and relations
//!
//! [`Version`] orders versions exactly as Debian Policy §5.6.12 says (epoch, then upstream
//! version, then Debian revision; in each, non-digit parts compare with `~` before everything
//! and letters before other characters, digit parts compare numerically).
//! [`parse_relations`] reads a relationship field such as `a (>= 1.0) | b, c:any, d [amd64]`.
//! Architecture restrictions (`[...]`) are kept in the parsed [`Alternative`] and applied by
//! [`Relation::for_arch`]; an [`Index`] applies them for its architecture when it is built, so
//! alternatives restricted to other architectures disappear.
//!
//! # Resolution
//!
//! [`Index::resolve`] computes the closure of `Pre-Depends` and `Depends` of the requested
//! packages over one architecture (the index keeps that architecture's and `all` packages).
//! Each relation is satisfied, in this order, by
//!
//! 1. an already chosen package that satisfies any of its alternatives (a real package of that
//!    name with a satisfying version, or a chosen provider whose `Provides` matches: any
//!    provide for an unversioned relation, a versioned provide whose version satisfies the
//!    constraint otherwise), else
//! 2. the first alternative, in the order written, that the index can satisfy: the highest
//!    version of the real package that satisfies the constraint (if no other version of that
//!    name is already chosen), else a matching provider, preferring the higher `Priority`
//!    (`required` first), then the package name, then the higher version.
//!
//! Only one version of a name is ever chosen, and there is no backtracking: a relation that
//! none of its alternatives can satisfy is an error ([`ResolveError::Unsatisfiable`]) naming
//! the chain of packages that led to it and why each alternative failed. Requests are sorted
//! before resolution, so the result depends only on the set of names requested. The result is
//! sorted by package name. The resolver does not add `Essential: yes` packages by itself (no
//! package declares a dependency on them); [`Index::essential`] lists them for the caller.
//!
//! # The lock file
//!
//! `strata.lock` is a line-oriented text file meant to be read in diffs: one `key value` pair a
//! line, one blank-line-separated stanza per package, packages sorted by name. It never holds a
//! URL: the archive's base URL comes from configuration at run time ([`find_debian_archive`]
//! finds it in the host's apt sources), and the lock stores only paths relative to it.
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
//! # Apt sources
//!
//! [`find_debian_archive`] reads `etc/apt/sources.list` and `etc/apt/sources.list.d/*.list`
//! (one-line format) and `*.sources` (deb822 format) under a root directory and returns the
//! first `deb` entry with the `main` component, which gives the archive's base URI and suite.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use thiserror::Error;

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Relations
// ---------------------------------------------------------------------------------------------

/// A version relation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// `<<`
    Earlier,
    /// `<=`
    EarlierOrEqual,
    /// `=`
    Equal,
    /// `>=`
    LaterOrEqual,
    /// `>>`
    Later,
}

impl VersionOp {
    /// The operator as written in a control file.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Earlier => "<<",
            VersionOp::EarlierOrEqual => "<=",
            VersionOp::Equal => "=",
            VersionOp::LaterOrEqual => ">=",
            VersionOp::Later => ">>",
        }
    }
}

/// A version constraint such as `(>= 1.0)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub op: VersionOp,
    pub version: Version,
}

impl Constraint {
    /// Whether `v` satisfies the constraint.
    pub fn matches(&self, v: &Version) -> bool {
        let ord = v.cmp(&self.version);
        match self.op {
            VersionOp::Earlier => ord == Ordering::Less,
            VersionOp::EarlierOrEqual => ord != Ordering::Greater,
            VersionOp::Equal => ord == Ordering::Equal,
            VersionOp::LaterOrEqual => ord != Ordering::Less,
            VersionOp::Later => ord == Ordering::Greater,
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {})", self.op.as_str(), self.version)
    }
}

/// A multiarch qualifier on a relation's package name (`name:any`, `name:native`, `name:arch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchQualifier {
    Any,
    Native,
    Arch(String),
}

/// An architecture restriction list (`[amd64 arm64]` or `[!i386]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchRestriction {
    /// `true` for a `[!a !b]` list: the alternative applies on every architecture but these.
    pub negated: bool,
    pub arches: Vec<String>,
}

impl ArchRestriction {
    /// Whether the alternative applies on `arch` (a plain Debian Linux architecture name such
    /// as `amd64`). `all`, `any`, `linux-any`, `any-<arch>` and `linux-<arch>` match it.
    pub fn applies_to(&self, arch: &str) -> bool {
        let matched = self.arches.iter().any(|t| arch_wildcard_matches(t, arch));
        matched != self.negated
    }
}

fn arch_wildcard_matches(token: &str, arch: &str) -> bool {
    token == arch
        || matches!(token, "all" | "any" | "linux-any")
        || token.strip_prefix("any-") == Some(arch)
        || token.strip_prefix("linux-") == Some(arch)
}

/// One alternative of a relation: `name[:qualifier] [(op version)] [[arch ...]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    pub name: String,
    pub arch_qualifier: Option<ArchQualifier>,
    pub constraint: Option<Constraint>,
    pub restriction: Option<ArchRestriction>,
}

impl fmt::Display for Alternative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.arch_qualifier {
            Some(ArchQualifier::Any) => f.write_str(":any")?,
            Some(ArchQualifier::Native) => f.write_str(":native")?,
            Some(ArchQualifier::Arch(a)) => write!(f, ":{a}")?,
            None => {}
        }
        if let Some(c) = &self.constraint {
            write!(f, " {c}")?;
        }
        if let Some(r) = &self.restriction {
            f.write_str(" [")?;
            for (i, a) in r.arches.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                if r.negated {
                    f.write_str("!")?;
                }
                f.write_str(a)?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// One comma-separated relation: alternatives separated by `|`, the first satisfiable wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub alternatives: Vec<Alternative>,
}

impl Relation {
    /// The relation as it applies on `arch`: alternatives restricted to other architectures
    /// dropped (and the restriction lists removed); `None` if no alternative is left, i.e. the
    /// relation does not apply on `arch` at all.
    pub fn for_arch(&self, arch: &str) -> Option<Relation> {
        let alternatives: Vec<Alternative> = self
            .alternatives
            .iter()
            .filter(|a| a.restriction.as_ref().is_none_or(|r| r.applies_to(arch)))
            .map(|a| Alternative {
                restriction: None,
                ..a.clone()
            })
            .collect();
        (!alternatives.is_empty()).then_some(Relation { alternatives })
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// Why a relationship field is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RelationError {
    #[error("empty relation (stray `,` or `|`)")]
    Empty,
    #[error("invalid package name `{0}`")]
    BadName(String),
    #[error("invalid architecture qualifier `{0}`")]
    BadQualifier(String),
    #[error("invalid version operator `{0}` (expected <<, <=, =, >= or >>)")]
    BadOperator(String),
    #[error("invalid version in relation: {0}")]
    BadVersion(#[from] VersionError),
    #[error("missing `{0}`")]
    Unterminated(char),
    #[error("invalid architecture list `[{0}]`")]
    BadArchList(String),
    #[error("build profile restrictions (`<...>`) are not allowed in binary package relations")]
    BuildProfiles,
    #[error("unexpected text `{0}`")]
    Trailing(String),
    #[error("`Provides` allows no alternatives: `{0}`")]
    AlternativesInProvides(String),
    #[error("`Provides` allows only `=` versions: `{0}`")]
    OperatorInProvides(String),
    #[error("`Provides` allows no architecture restrictions or qualifiers: `{0}`")]
    ArchInProvides(String),
}

/// Whether `name` is a valid Debian package name (Policy §5.6.1: lowercase letters, digits,
/// `+`, `-`, `.`; at least two characters; starting with a letter or digit).
pub fn is_valid_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.')
        })
}

fn is_arch_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Parses a relationship field (`Depends`, `Pre-Depends`, ...). An empty field has no
/// relations.
pub fn parse_relations(field: &str) -> Result<Vec<Relation>, RelationError> {
    if field.trim().is_empty() {
        return Ok(Vec::new());
    }
    field
        .split(',')
        .map(|rel| {
            let alternatives = rel
                .split('|')
                .map(parse_alternative)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Relation { alternatives })
        })
        .collect()
}

fn parse_alternative(text: &str) -> Result<Alternative, RelationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(RelationError::Empty);
    }
    let name_end = s
        .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<' | ':'))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    // Policy wants two characters at least; a shorter name is merely one no package has.
    if !(is_valid_package_name(name) || (name.len() == 1 && is_valid_package_name(&name.repeat(2))))
    {
        return Err(RelationError::BadName(name.to_string()));
    }
    let mut rest = &s[name_end..];
    let mut arch_qualifier = None;
    if let Some(q) = rest.strip_prefix(':') {
        let end = q
            .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<'))
            .unwrap_or(q.len());
        let qual = &q[..end];
        arch_qualifier = Some(match qual {
            "any" => ArchQualifier::Any,
            "native" => ArchQualifier::Native,
            a if is_arch_name(a) => ArchQualifier::Arch(a.to_string()),
            a => return Err(RelationError::BadQualifier(a.to_string())),
        });
        rest = &q[end..];
    }
    rest = rest.trim_start();
    let mut constraint = None;
    if let Some(inner) = rest.strip_prefix('(') {
        let close = inner.find(')').ok_or(RelationError::Unterminated(')'))?;
        let body = inner[..close].trim();
        let op_len = body
            .find(|c: char| !matches!(c, '<' | '=' | '>'))
            .unwrap_or(body.len());
        let op = match &body[..op_len] {
            "<<" => VersionOp::Earlier,
            "<=" => VersionOp::EarlierOrEqual,
            "=" => VersionOp::Equal,
            ">=" => VersionOp::LaterOrEqual,
            ">>" => VersionOp::Later,
            other => return Err(RelationError::BadOperator(other.to_string())),
        };
        let version = Version::parse(body[op_len..].trim())?;
        constraint = Some(Constraint { op, version });
        rest = inner[close + 1..].trim_start();
    }
    let mut restriction = None;
    if let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']').ok_or(RelationError::Unterminated(']'))?;
        let list = &inner[..close];
        let mut negs = Vec::new();
        let mut arches = Vec::new();
        for tok in list.split_whitespace() {
            let (neg, a) = match tok.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, tok),
            };
            if !is_arch_name(a) {
                return Err(RelationError::BadArchList(list.to_string()));
            }
            negs.push(neg);
            arches.push(a.to_string());
        }
        // A list is either all positive or all negated (Policy §7.1).
        if arches.is_empty() || negs.iter().any(|&n| n != negs[0]) {
            return Err(RelationError::BadArchList(list.to_string()));
        }
        restriction = Some(ArchRestriction {
            negated: negs[0],
            arches,
        });
        rest = inner[close + 1..].trim_start();
    }
    if rest.starts_with('<') {
        return Err(RelationError::BuildProfiles);
    }
    if !rest.is_empty() {
        return Err(RelationError::Trailing(rest.to_string()));
    }
    Ok(Alternative {
        name: name.to_string(),
        arch_qualifier,
        constraint,
        restriction,
    })
}

/// One entry of a `Provides` field: a virtual package name, with a version when the provide is
/// versioned (`foo (= 1.0)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provide {
    pub name: String,
    pub version: Option<Version>,
}

/// Parses a `Provides` field: a comma-separated list of names with optional `(= version)`.
pub fn parse_provides(field: &str) -> Result<Vec<Provide>, RelationError> {
    parse_relations(field)?
        .into_iter()
        .map(|rel| {
            let mut alts = rel.alternatives;
            if alts.len() != 1 {
                let rel = Relation { alternatives: alts };
                return Err(RelationError::AlternativesInProvides(rel.to_string()));
            }
            let alt = alts.remove(0);
            if alt.arch_qualifier.is_some() || alt.restriction.is_some() {
                return Err(RelationError::ArchInProvides(alt.to_string()));
            }
            let version = match alt.constraint {
                None => None,
                Some(Constraint {
                    op: VersionOp::Equal,
                    version,
                }) => Some(version),
                Some(_) => return Err(RelationError::OperatorInProvides(alt.to_string())),
            };
            Ok(Provide {
                name: alt.name,
                version,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Packages index
// ---------------------------------------------------------------------------------------------

/// A package's `Multi-Arch` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiArch {
    No,
    Same,
    Foreign,
    Allowed,
}

/// One stanza of a `Packages` index, with the fields strata uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    /// The `.deb`'s path relative to the archive's base URL.
    pub filename: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    pub depends: Vec<Relation>,
    pub pre_depends: Vec<Relation>,
    pub provides: Vec<Provide>,
    pub multi_arch: Option<MultiArch>,
    pub essential: bool,
    pub priority: Option<String>,
    /// The line of the index on which the stanza starts.
    pub line: usize,
}

impl Package {
    /// A rank for choosing among providers: `required` first, unknown or absent last.
    fn priority_rank(&self) -> u8 {
        match self.priority.as_deref() {
            Some("required") => 0,
            Some("important") => 1,
            Some("standard") => 2,
            Some("optional") => 3,
            Some("extra") => 4,
            _ => 5,
        }
    }
}

/// A malformed `Packages` index. Every variant names the line (1-based) of the problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IndexError {
    #[error("line {line}: invalid UTF-8")]
    InvalidUtf8 { line: usize },
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("line {line}: field `{field}` appears twice in one stanza (first on line {first})")]
    DuplicateField {
        line: usize,
        field: String,
        first: usize,
    },
    #[error("line {line}: field `{field}` is a single-line field and cannot be continued")]
    UnexpectedContinuation { line: usize, field: &'static str },
    #[error("line {line}: the stanza starting here{} has no `{field}` field",
        package.as_ref().map(|p| format!(" (package {p})")).unwrap_or_default())]
    MissingField {
        line: usize,
        field: &'static str,
        package: Option<String>,
    },
    #[error("line {line}: invalid `{field}` field: {message}")]
    InvalidField {
        line: usize,
        field: &'static str,
        message: String,
    },
}

/// The fields the parser keeps, in the order of [`KNOWN_FIELDS`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Package,
    Version,
    Architecture,
    Filename,
    Size,
    Sha256,
    Depends,
    PreDepends,
    Provides,
    MultiArch,
    Essential,
    Priority,
}

const KNOWN_FIELDS: [(&str, Field); 12] = [
    ("Package", Field::Package),
    ("Version", Field::Version),
    ("Architecture", Field::Architecture),
    ("Filename", Field::Filename),
    ("Size", Field::Size),
    ("SHA256", Field::Sha256),
    ("Depends", Field::Depends),
    ("Pre-Depends", Field::PreDepends),
    ("Provides", Field::Provides),
    ("Multi-Arch", Field::MultiArch),
    ("Essential", Field::Essential),
    ("Priority", Field::Priority),
];

impl Field {
    fn name(self) -> &'static str {
        KNOWN_FIELDS[self as usize].0
    }
    fn folded(self) -> bool {
        matches!(self, Field::Depends | Field::PreDepends | Field::Provides)
    }
}

fn lookup_field(name: &str) -> Option<Field> {
    KNOWN_FIELDS
        .iter()
        .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
        .map(|&(_, f)| f)
}

/// A line of a deb822 file, classified.
enum Deb822Line<'a> {
    Blank,
    Comment,
    Field { name: &'a str, value: &'a str },
    Continuation(&'a str),
}

/// Classifies one line (without its newline); `Err` is a message for the line.
fn classify_line(line: &str, comments: bool) -> Result<Deb822Line<'_>, String> {
    let first = match line.as_bytes().first() {
        None => return Ok(Deb822Line::Blank),
        Some(&b) => b,
    };
    if first == b' ' || first == b'\t' {
        let rest = line.trim();
        if rest.is_empty() {
            return Ok(Deb822Line::Blank);
        }
        return Ok(Deb822Line::Continuation(rest));
    }
    if first == b'#' {
        if comments {
            return Ok(Deb822Line::Comment);
        }
        return Err("comment lines are not allowed here".to_string());
    }
    let Some(colon) = line.find(':') else {
        return Err(format!(
            "expected `Field: value`, found `{}`",
            truncate(line)
        ));
    };
    let name = &line[..colon];
    if name.is_empty() || first == b'-' || !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(format!("invalid field name `{}`", truncate(name)));
    }
    Ok(Deb822Line::Field {
        name,
        value: line[colon + 1..].trim(),
    })
}

fn truncate(s: &str) -> Cow<'_, str> {
    const MAX: usize = 60;
    if s.len() <= MAX {
        return Cow::Borrowed(s);
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &s[..end]))
}

/// The fields of the stanza being read: each kept field's value and line.
#[derive(Default)]
struct Stanza<'a> {
    start: usize,
    values: [Option<(Cow<'a, str>, usize)>; 12],
    /// Every field name seen in this stanza, with its line, to reject duplicates.
    seen: Vec<(&'a str, usize)>,
    /// The kept field that the next continuation line continues (`None` for ignored fields).
    current: Option<Field>,
    any: bool,
}

impl<'a> Stanza<'a> {
    fn take(&mut self, f: Field) -> Option<(Cow<'a, str>, usize)> {
        self.values[f as usize].take()
    }

    fn finish(&mut self) -> Result<Package, IndexError> {
        let start = self.start;
        let required = |s: &mut Self, f: Field, pkg: Option<&str>| {
            s.take(f).ok_or_else(|| IndexError::MissingField {
                line: start,
                field: f.name(),
                package: pkg.map(str::to_string),
            })
        };
        let (name, name_line) = required(self, Field::Package, None)?;
        if !is_valid_package_name(&name) {
            return Err(invalid(
                name_line,
                Field::Package,
                format!("`{name}` is not a valid package name"),
            ));
        }
        let pkg = Some(&*name);
        let (version, vl) = required(self, Field::Version, pkg)?;
        let version = Version::parse(&version).map_err(|e| invalid(vl, Field::Version, e))?;
        let (architecture, al) = required(self, Field::Architecture, pkg)?;
        if !is_arch_name(&architecture) {
            return Err(invalid(
                al,
                Field::Architecture,
                format!("`{architecture}` is not an architecture name"),
            ));
        }
        let (filename, fl) = required(self, Field::Filename, pkg)?;
        check_archive_path(&filename).map_err(|m| invalid(fl, Field::Filename, m))?;
        let (size, sl) = required(self, Field::Size, pkg)?;
        let size = parse_size(&size).map_err(|m| invalid(sl, Field::Size, m))?;
        let (sha256, hl) = required(self, Field::Sha256, pkg)?;
        let sha256 = parse_sha256(&sha256).map_err(|m| invalid(hl, Field::Sha256, m))?;
        let relations = |s: &mut Self, f: Field| -> Result<Vec<Relation>, IndexError> {
            match s.take(f) {
                Some((v, l)) => parse_relations(&v).map_err(|e| invalid(l, f, e)),
                None => Ok(Vec::new()),
            }
        };
        let depends = relations(self, Field::Depends)?;
        let pre_depends = relations(self, Field::PreDepends)?;
        let provides = match self.take(Field::Provides) {
            Some((v, l)) => parse_provides(&v).map_err(|e| invalid(l, Field::Provides, e))?,
            None => Vec::new(),
        };
        let multi_arch = match self.take(Field::MultiArch) {
            Some((v, l)) => Some(match &*v {
                "no" => MultiArch::No,
                "same" => MultiArch::Same,
                "foreign" => MultiArch::Foreign,
                "allowed" => MultiArch::Allowed,
                other => {
                    return Err(invalid(
                        l,
                        Field::MultiArch,
                        format!("`{other}` is not one of no, same, foreign, allowed"),
                    ))
                }
            }),
            None => None,
        };
        let essential = match self.take(Field::Essential) {
            Some((v, l)) => match &*v {
                "yes" => true,
                "no" => false,
                other => {
                    return Err(invalid(
                        l,
                        Field::Essential,
                        format!("`{other}` is neither yes nor no"),
                    ))
                }
            },
            None => false,
        };
        let priority = self.take(Field::Priority).map(|(v, _)| v.into_owned());
        Ok(Package {
            name: name.into_owned(),
            version,
            architecture: architecture.into_owned(),
            filename: filename.into_owned(),
            size,
            sha256,
            depends,
            pre_depends,
            provides,
            multi_arch,
            essential,
            priority,
            line: start,
        })
    }
}

fn invalid(line: usize, field: Field, message: impl fmt::Display) -> IndexError {
    IndexError::InvalidField {
        line,
        field: field.name(),
        message: message.to_string(),
    }
}

/// Checks an archive-relative path: non-empty, relative, no `..`, no whitespace, not a URL.
fn check_archive_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty path".to_string());
    }
    if p.starts_with('/') || p.contains("://") {
        return Err(format!("`{p}` is not an archive-relative path"));
    }
    if p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{p}` contains whitespace"));
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("`{p}` has an empty, `.` or `..` component"));
    }
    Ok(())
}

fn parse_size(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not a size in bytes"));
    }
    s.parse::<u64>().map_err(|_| format!("`{s}` is too large"))
}

fn parse_sha256(s: &str) -> Result<String, String> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{}` is not 64 hex digits", truncate(s)));
    }
    Ok(s.to_ascii_lowercase())
}

/// Parses a `Packages` index held as bytes (checking that it is UTF-8 and naming the line
/// where it is not).
pub fn parse_packages_bytes(data: &[u8]) -> Result<Vec<Package>, IndexError> {
    match std::str::from_utf8(data) {
        Ok(text) => parse_packages(text),
        Err(e) => {
            let before = &data[..e.valid_up_to()];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            Err(IndexError::InvalidUtf8 { line })
        }
    }
}

/// Parses a `Packages` index: every stanza, in order. See the module documentation.
pub fn parse_packages(text: &str) -> Result<Vec<Package>, IndexError> {
    let mut packages = Vec::new();
    let mut st = Stanza::default();
    for (i, line) in text.split('\n').enumerate() {
        let lineno = i + 1;
        let classified = classify_line(line, false).map_err(|message| IndexError::Syntax {
            line: lineno,
            message,
        })?;
        match classified {
            Deb822Line::Blank => {
                if st.any {
                    packages.push(st.finish()?);
                    st = Stanza::default();
                }
            }
            Deb822Line::Comment => {}
            Deb822Line::Continuation(text) => {
                if !st.any {
                    return Err(IndexError::Syntax {
                        line: lineno,
                        message: "continuation line outside a field".to_string(),
                    });
                }
                if let Some(f) = st.current {
                    if !f.folded() {
                        return Err(IndexError::UnexpectedContinuation {
                            line: lineno,
                            field: f.name(),
                        });
                    }
                    if let Some((v, _)) = &mut st.values[f as usize] {
                        let v = v.to_mut();
                        if !v.is_empty() {
                            v.push(' ');
                        }
                        v.push_str(text);
                    }
                }
            }
            Deb822Line::Field { name, value } => {
                if !st.any {
                    st.any = true;
                    st.start = lineno;
                }
                if let Some(&(_, first)) = st
                    .seen
                    .iter()
                    .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
                {
                    return Err(IndexError::DuplicateField {
                        line: lineno,
                        field: name.to_string(),
                        first,
                    });
                }
                st.seen.push((name, lineno));
                st.current = lookup_field(name);
                if let Some(f) = st.current {
                    st.values[f as usize] = Some((Cow::Borrowed(value), lineno));
                }
            }
        }
    }
    if st.any {
        packages.push(st.finish()?);
    }
    Ok(packages)
}

// ---------------------------------------------------------------------------------------------
// Index and resolver
// ---------------------------------------------------------------------------------------------

/// The packages of one architecture (and `all`), looked up by name and by what they provide.
#[derive(Debug, Clone)]
pub struct Index {
    arch: String,
    packages: Vec<Package>,
    /// Real packages by name, highest version first.
    by_name: HashMap<String, Vec<usize>>,
    /// Providers by virtual name: (package, provided version), sorted by package name, then
    /// highest version first.
    providers: HashMap<String, Vec<(usize, Option<Version>)>>,
}

impl Index {
    /// Builds the index for `arch` from parsed stanzas (possibly of several `Packages` files):
    /// keeps packages of `arch` and `all`, drops repeated (name, version, architecture) stanzas
    /// after the first, and applies architecture restrictions in relations.
    pub fn new(arch: &str, packages: impl IntoIterator<Item = Package>) -> Index {
        let mut kept: Vec<Package> = Vec::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for mut p in packages {
            if p.architecture != arch && p.architecture != "all" {
                continue;
            }
            let same = by_name.get(&p.name).is_some_and(|v| {
                v.iter().any(|&i| {
                    kept[i].version.as_str() == p.version.as_str()
                        && kept[i].architecture == p.architecture
                })
            });
            if same {
                continue;
            }
            p.depends = p.depends.iter().filter_map(|r| r.for_arch(arch)).collect();
            p.pre_depends = p
                .pre_depends
                .iter()
                .filter_map(|r| r.for_arch(arch))
                .collect();
            by_name.entry(p.name.clone()).or_default().push(kept.len());
            kept.push(p);
        }
        for v in by_name.values_mut() {
            v.sort_by(|&a, &b| kept[b].version.cmp(&kept[a].version).then(a.cmp(&b)));
        }
        let mut providers: HashMap<String, Vec<(usize, Option<Version>)>> = HashMap::new();
        for (i, p) in kept.iter().enumerate() {
            for pr in &p.provides {
                providers
                    .entry(pr.name.clone())
                    .or_default()
                    .push((i, pr.version.clone()));
            }
        }
        for v in providers.values_mut() {
            v.sort_by(|(a, _), (b, _)| {
                kept[*a]
                    .name
                    .cmp(&kept[*b].name)
                    .then_with(|| kept[*b].version.cmp(&kept[*a].version))
                    .then(a.cmp(b))
            });
        }
        Index {
            arch: arch.to_string(),
            packages: kept,
            by_name,
            providers,
        }
    }

    /// The architecture this index is for.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Every package kept, in input order.
    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// The real packages called `name`, highest version first.
    pub fn versions(&self, name: &str) -> Vec<&Package> {
        self.by_name
            .get(name)
            .map(|v| v.iter().map(|&i| &self.packages[i]).collect())
            .unwrap_or_default()
    }

    /// The packages providing `name`, with the version they provide it at.
    pub fn providers(&self, name: &str) -> Vec<(&Package, Option<&Version>)> {
        self.providers
            .get(name)
            .map(|v| {
                v.iter()
                    .map(|(i, ver)| (&self.packages[*i], ver.as_ref()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The names of the packages marked `Essential: yes` (in their highest version), sorted.
    pub fn essential(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .by_name
            .iter()
            .filter(|(_, v)| self.packages[v[0]].essential)
            .map(|(n, _)| n.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Computes the closure of `Pre-Depends` and `Depends` of the requested packages (real or
    /// virtual names). See the module documentation for how alternatives are chosen.
    pub fn resolve<S: AsRef<str>>(&self, requested: &[S]) -> Result<Resolution<'_>, ResolveError> {
        let mut names: Vec<&str> = requested.iter().map(AsRef::as_ref).collect();
        names.sort_unstable();
        names.dedup();
        let mut r = Resolver {
            index: self,
            chosen: HashMap::new(),
            parent: HashMap::new(),
            edges: HashMap::new(),
            queue: VecDeque::new(),
        };
        for name in names {
            if !self.by_name.contains_key(name) && !self.providers.contains_key(name) {
                return Err(ResolveError::UnknownPackage(name.to_string()));
            }
            let rel = Relation {
                alternatives: vec![Alternative {
                    name: name.to_string(),
                    arch_qualifier: None,
                    constraint: None,
                    restriction: None,
                }],
            };
            match r.choose(&rel) {
                Ok(i) => r.add(i, None),
                Err(reasons) => {
                    return Err(ResolveError::Unsatisfiable {
                        chain: Vec::new(),
                        package: "the request".to_string(),
                        field: "Depends",
                        relation: rel.to_string(),
                        reasons,
                    })
                }
            }
        }
        while let Some(i) = r.queue.pop_front() {
            let p = &self.packages[i];
            let fields = [("Pre-Depends", &p.pre_depends), ("Depends", &p.depends)];
            for (field, rels) in fields {
                for rel in rels {
                    match r.choose(rel) {
                        Ok(j) => {
                            if j != i {
                                r.edges.entry(i).or_default().insert(j);
                            }
                            r.add(j, Some(i));
                        }
                        Err(reasons) => {
                            return Err(ResolveError::Unsatisfiable {
                                chain: r.chain(i),
                                package: format!("{} {}", p.name, p.version),
                                field,
                                relation: rel.to_string(),
                                reasons,
                            })
                        }
                    }
                }
            }
        }
        let mut chosen: Vec<usize> = r.chosen.values().copied().collect();
        chosen.sort_by(|&a, &b| self.packages[a].name.cmp(&self.packages[b].name));
        let packages = chosen
            .into_iter()
            .map(|i| {
                let mut depends: Vec<&str> = r
                    .edges
                    .get(&i)
                    .map(|s| s.iter().map(|&j| self.packages[j].name.as_str()).collect())
                    .unwrap_or_default();
                depends.sort_unstable();
                depends.dedup();
                ResolvedPackage {
                    package: &self.packages[i],
                    depends,
                }
            })
            .collect();
        Ok(Resolution { packages })
    }
}

/// The state of one resolution.
struct Resolver<'a> {
    index: &'a Index,
    /// Chosen package by name.
    chosen: HashMap<&'a str, usize>,
    /// The package that first pulled each chosen package in (`None` for requests).
    parent: HashMap<usize, Option<usize>>,
    edges: HashMap<usize, BTreeSet<usize>>,
    queue: VecDeque<usize>,
}

impl<'a> Resolver<'a> {
    fn add(&mut self, i: usize, parent: Option<usize>) {
        let name = self.index.packages[i].name.as_str();
        if self.chosen.contains_key(name) {
            return;
        }
        self.chosen.insert(name, i);
        self.parent.insert(i, parent);
        self.queue.push_back(i);
    }

    /// `name version` of every package from a request down to `i`.
    fn chain(&self, mut i: usize) -> Vec<String> {
        let mut chain = Vec::new();
        loop {
            let p = &self.index.packages[i];
            chain.push(format!("{} {}", p.name, p.version));
            match self.parent.get(&i) {
                Some(Some(up)) => i = *up,
                _ => break,
            }
        }
        chain.reverse();
        chain
    }

    fn is_chosen(&self, i: usize) -> bool {
        self.chosen.get(self.index.packages[i].name.as_str()) == Some(&i)
    }

    fn provide_matches(alt: &Alternative, provided: Option<&Version>) -> bool {
        match (&alt.constraint, provided) {
            (None, _) => true,
            (Some(c), Some(v)) => c.matches(v),
            (Some(_), None) => false,
        }
    }

    /// Whether the qualifier lets packages of this index satisfy the alternative: `:any`,
    /// `:native` and no qualifier do (one architecture only); `:arch` only for this one.
    fn qualifier_ok(&self, alt: &Alternative) -> bool {
        match &alt.arch_qualifier {
            Some(ArchQualifier::Arch(a)) => *a == self.index.arch || a == "all",
            _ => true,
        }
    }

    /// The package chosen for `rel`, or why each alternative cannot be satisfied.
    fn choose(&self, rel: &Relation) -> Result<usize, Vec<String>> {
        let idx = self.index;
        // 1. Already satisfied by a chosen package.
        for alt in rel.alternatives.iter().filter(|a| self.qualifier_ok(a)) {
            if let Some(&i) = self.chosen.get(alt.name.as_str()) {
                if alt
                    .constraint
                    .as_ref()
                    .is_none_or(|c| c.matches(&idx.packages[i].version))
                {
                    return Ok(i);
                }
            }
            if let Some(provs) = idx.providers.get(&alt.name) {
                for (i, v) in provs {
                    if self.is_chosen(*i) && Self::provide_matches(alt, v.as_ref()) {
                        return Ok(*i);
                    }
                }
            }
        }
        // 2. The first alternative the index can satisfy.
        let mut reasons = Vec::new();
        for alt in &rel.alternatives {
            if !self.qualifier_ok(alt) {
                reasons.push(format!(
                    "{alt} asks for another architecture than {}",
                    idx.arch
                ));
                continue;
            }
            match self.candidate(alt) {
                Ok(i) => return Ok(i),
                Err(reason) => reasons.push(reason),
            }
        }
        Err(reasons)
    }

    fn candidate(&self, alt: &Alternative) -> Result<usize, String> {
        let idx = self.index;
        let chosen_real = self.chosen.get(alt.name.as_str()).copied();
        let reals = idx.by_name.get(&alt.name);
        if chosen_real.is_none() {
            if let Some(v) = reals {
                if let Some(&i) = v.iter().find(|&&i| {
                    alt.constraint
                        .as_ref()
                        .is_none_or(|c| c.matches(&idx.packages[i].version))
                }) {
                    return Ok(i);
                }
            }
        }
        let provs = idx.providers.get(&alt.name);
        let best = provs.and_then(|provs| {
            provs
                .iter()
                .filter(|(i, v)| {
                    Self::provide_matches(alt, v.as_ref())
                        && !self.chosen.contains_key(idx.packages[*i].name.as_str())
                })
                .min_by_key(|(i, _)| idx.packages[*i].priority_rank())
                .map(|(i, _)| *i)
        });
        if let Some(i) = best {
            return Ok(i);
        }
        // Explain.
        let mut why = Vec::new();
        match (chosen_real, reals) {
            (Some(i), _) => {
                let p = &idx.packages[i];
                why.push(format!("{} {} is already chosen", p.name, p.version));
            }
            (None, Some(v)) => {
                let versions: Vec<String> = v
                    .iter()
                    .map(|&i| idx.packages[i].version.to_string())
                    .collect();
                why.push(format!(
                    "the index has {} {}",
                    alt.name,
                    versions.join(", ")
                ));
            }
            (None, None) => {}
        }
        if let Some(provs) = provs {
            let names: Vec<String> = provs
                .iter()
                .map(|(i, v)| match v {
                    Some(v) => format!("{} (= {v})", idx.packages[*i].name),
                    None => idx.packages[*i].name.clone(),
                })
                .collect();
            why.push(format!(
                "{} is provided by {} but none of them can be used",
                alt.name,
                names.join(", ")
            ));
        }
        if why.is_empty() {
            why.push(format!("the index has no package {}", alt.name));
        }
        Err(format!("for {alt}: {}", why.join(", ")))
    }
}

/// A resolved closure, sorted by package name.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    pub packages: Vec<ResolvedPackage<'a>>,
}

/// One package of a [`Resolution`] and the names of the packages chosen for its relations.
#[derive(Debug, Clone)]
pub struct ResolvedPackage<'a> {
    pub package: &'a Package,
    /// Sorted, without the package itself.
    pub depends: Vec<&'a str>,
}

/// Why a set of packages cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResolveError {
    #[error("the index has no package called {0} and nothing provides it")]
    UnknownPackage(String),
    #[error("{}{package} has {field} {relation}, which cannot be satisfied: {}",
        chain_text(chain), reasons.join("; "))]
    Unsatisfiable {
        /// `name version` of each package from a requested one down to `package`.
        chain: Vec<String>,
        package: String,
        field: &'static str,
        relation: String,
        reasons: Vec<String>,
    },
}

fn chain_text(chain: &[String]) -> String {
    if chain.len() < 2 {
        return String::new();
    }
    format!("via {}: ", chain.join(" -> "))
}

// ---------------------------------------------------------------------------------------------
// Lock file
// ---------------------------------------------------------------------------------------------

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
            check_archive_path(path).map_err(|m| lock_err(n, m))?;
            check_lock_sha256(sha).map_err(|m| lock_err(n, m))?;
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
            check_archive_path(filename).map_err(|m| lock_err(n, m))?;
            let n = self.lineno();
            let size = self.field("size", false)?;
            let size_n = parse_size(size).map_err(|m| lock_err(n, m))?;
            if size_n.to_string() != size {
                return Err(lock_err(
                    n,
                    format!("size `{size}` is not in canonical form"),
                ));
            }
            let n = self.lineno();
            let sha = self.field("sha256", false)?;
            check_lock_sha256(sha).map_err(|m| lock_err(n, m))?;
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

fn check_lock_sha256(s: &str) -> Result<(), String> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("`{}` is not 64 lowercase hex digits", truncate(s)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Apt sources
// ---------------------------------------------------------------------------------------------

/// Whether an apt source entry is for binary (`deb`) or source (`deb-src`) packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AptKind {
    Deb,
    DebSrc,
}

/// One apt source entry: one type, one URI, one suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptEntry {
    pub kind: AptKind,
    /// The archive's base URI, without a trailing `/`.
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Options (`[arch=amd64 signed-by=...]` or the deb822 fields other than the five read
    /// here), as written; keys lowercased.
    pub options: Vec<(String, String)>,
}

/// The Debian archive strata fetches from: base URI and suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suite: String,
}

/// A malformed line in an apt sources file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct SourcesSyntaxError {
    pub line: usize,
    pub message: String,
}

/// Reading the host's apt sources failed.
#[derive(Debug, Error)]
pub enum SourcesError {
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Syntax {
        path: PathBuf,
        #[source]
        source: SourcesSyntaxError,
    },
}

fn syntax(line: usize, message: impl Into<String>) -> SourcesSyntaxError {
    SourcesSyntaxError {
        line,
        message: message.into(),
    }
}

fn parse_kind(s: &str) -> Option<AptKind> {
    match s {
        "deb" => Some(AptKind::Deb),
        "deb-src" => Some(AptKind::DebSrc),
        _ => None,
    }
}

/// Checks a suite and its components: a suite ending in `/` is an exact path and takes no
/// components; any other suite needs at least one.
fn check_suite(line: usize, suite: &str, components: &[String]) -> Result<(), SourcesSyntaxError> {
    if suite.ends_with('/') {
        if !components.is_empty() {
            return Err(syntax(
                line,
                format!("suite `{suite}` is an exact path and takes no components"),
            ));
        }
    } else if components.is_empty() {
        return Err(syntax(
            line,
            format!("suite `{suite}` needs at least one component"),
        ));
    }
    Ok(())
}

/// Parses a `sources.list` file in the one-line format:
/// `deb [ option=value ... ] uri suite [component ...]`, `#` starting a comment.
pub fn parse_sources_list(text: &str) -> Result<Vec<AptEntry>, SourcesSyntaxError> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (kind_word, mut rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| syntax(n, format!("incomplete entry `{}`", truncate(line))))?;
        let kind = parse_kind(kind_word).ok_or_else(|| {
            syntax(
                n,
                format!("unknown type `{kind_word}` (expected deb or deb-src)"),
            )
        })?;
        rest = rest.trim_start();
        let mut options = Vec::new();
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| syntax(n, "options list `[` without `]`"))?;
            for opt in inner[..close].split_whitespace() {
                let (k, v) = opt
                    .split_once('=')
                    .ok_or_else(|| syntax(n, format!("option `{opt}` is not `key=value`")))?;
                options.push((k.to_ascii_lowercase(), v.to_string()));
            }
            rest = inner[close + 1..].trim_start();
        }
        let mut words = rest.split_whitespace();
        let uri = words.next().ok_or_else(|| syntax(n, "missing URI"))?;
        let suite = words.next().ok_or_else(|| syntax(n, "missing suite"))?;
        let components: Vec<String> = words.map(str::to_string).collect();
        check_suite(n, suite, &components)?;
        entries.push(AptEntry {
            kind,
            uri: uri.trim_end_matches('/').to_string(),
            suite: suite.to_string(),
            components,
            options,
        });
    }
    Ok(entries)
}

/// Parses a `.sources` file (deb822 format: `Types`, `URIs`, `Suites`, `Components`,
/// `Enabled`, and options as other fields). One entry per type, URI and suite, in that order;
/// stanzas with `Enabled: no` are skipped.
pub fn parse_deb822_sources(text: &str) -> Result<Vec<AptEntry>, SourcesSyntaxError> {
    struct Field<'a> {
        name: &'a str,
        line: usize,
        value: String,
    }
    fn flush(
        fields: &mut Vec<Field<'_>>,
        start: usize,
        out: &mut Vec<AptEntry>,
    ) -> Result<(), SourcesSyntaxError> {
        if fields.is_empty() {
            return Ok(());
        }
        let get = |name: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name));
        let list = |name: &str| -> Result<(Vec<&str>, usize), SourcesSyntaxError> {
            let f =
                get(name).ok_or_else(|| syntax(start, format!("stanza has no `{name}` field")))?;
            let v: Vec<&str> = f.value.split_whitespace().collect();
            if v.is_empty() {
                return Err(syntax(f.line, format!("`{name}` is empty")));
            }
            Ok((v, f.line))
        };
        let enabled = match get("Enabled") {
            None => true,
            Some(f) => match f.value.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                v => {
                    return Err(syntax(
                        f.line,
                        format!("`Enabled: {v}` is neither yes nor no"),
                    ))
                }
            },
        };
        if enabled {
            let (types, tl) = list("Types")?;
            let (uris, _) = list("URIs")?;
            let (suites, sl) = list("Suites")?;
            let components: Vec<String> = get("Components")
                .map(|f| f.value.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            let options: Vec<(String, String)> = fields
                .iter()
                .filter(|f| {
                    !["types", "uris", "suites", "components", "enabled"]
                        .iter()
                        .any(|k| f.name.eq_ignore_ascii_case(k))
                })
                .map(|f| (f.name.to_ascii_lowercase(), f.value.clone()))
                .collect();
            for t in &types {
                let kind = parse_kind(t).ok_or_else(|| {
                    syntax(tl, format!("unknown type `{t}` (expected deb or deb-src)"))
                })?;
                for uri in &uris {
                    for suite in &suites {
                        check_suite(sl, suite, &components)?;
                        out.push(AptEntry {
                            kind,
                            uri: uri.trim_end_matches('/').to_string(),
                            suite: suite.to_string(),
                            components: components.clone(),
                            options: options.clone(),
                        });
                    }
                }
            }
        }
        fields.clear();
        Ok(())
    }

    let mut out = Vec::new();
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        match classify_line(line, true).map_err(|m| syntax(n, m))? {
            Deb822Line::Blank => flush(&mut fields, start, &mut out)?,
            Deb822Line::Comment => {}
            Deb822Line::Continuation(v) => {
                let f = fields
                    .last_mut()
                    .ok_or_else(|| syntax(n, "continuation line outside a field"))?;
                f.value.push('\n');
                f.value.push_str(v);
            }
            Deb822Line::Field { name, value } => {
                if fields.is_empty() {
                    start = n;
                }
                if let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
                    return Err(syntax(
                        n,
                        format!(
                            "field `{name}` appears twice in one stanza (first on line {})",
                            f.line
                        ),
                    ));
                }
                fields.push(Field {
                    name,
                    line: n,
                    value: value.to_string(),
                });
            }
        }
    }
    flush(&mut fields, start, &mut out)?;
    Ok(out)
}

/// The first `deb` entry with the `main` component among `entries` that applies to `arch` (an
/// `arch=` option, if present, must list it).
pub fn first_main_archive(entries: &[AptEntry], arch: &str) -> Option<AptSource> {
    entries
        .iter()
        .find(|e| {
            e.kind == AptKind::Deb
                && e.components.iter().any(|c| c == "main")
                && e.options.iter().all(|(k, v)| {
                    (k != "arch" && k != "architectures")
                        || v.split([',', ' ', '\n']).any(|a| a == arch)
                })
        })
        .map(|e| AptSource {
            uri: e.uri.clone(),
            suite: e.suite.clone(),
        })
}

/// Finds the Debian archive (base URI and suite) in the apt sources under `root` (`/` for the
/// host): `etc/apt/sources.list`, then the `*.list` and `*.sources` files of
/// `etc/apt/sources.list.d` in name order, as apt reads them. Missing files are skipped;
/// `Ok(None)` when no `deb` entry has the `main` component for `arch`.
pub fn find_debian_archive(root: &Path, arch: &str) -> Result<Option<AptSource>, SourcesError> {
    let apt = root.join("etc/apt");
    let mut files: Vec<(PathBuf, bool)> = vec![(apt.join("sources.list"), false)];
    let dir = apt.join("sources.list.d");
    match std::fs::read_dir(&dir) {
        Ok(rd) => {
            let mut parts = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|source| SourcesError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".list") {
                    parts.push((path, false));
                } else if name.ends_with(".sources") {
                    parts.push((path, true));
                }
            }
            parts.sort();
            files.extend(parts);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(SourcesError::Io { path: dir, source }),
    }
    for (path, deb822) in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(SourcesError::Io { path, source }),
        };
        let parsed = if deb822 {
            parse_deb822_sources(&text)
        } else {
            parse_sources_list(&text)
        };
        let entries = parsed.map_err(|source| SourcesError::Syntax {
            path: path.clone(),
            source,
        })?;
        if let Some(found) = first_main_archive(&entries, arch) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---------------------------------------------------------------- versions

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

    // ---------------------------------------------------------------- relations

    #[test]
    fn relations_parse() {
        let rels = parse_relations("a (>= 1.0) | b, c:any, d [amd64]").unwrap();
        assert_eq!(rels.len(), 3);
        assert_eq!(rels[0].alternatives.len(), 2);
        let a = &rels[0].alternatives[0];
        assert_eq!(a.name, "a");
        let c = a.constraint.as_ref().unwrap();
        assert_eq!((c.op, c.version.as_str()), (VersionOp::LaterOrEqual, "1.0"));
        assert_eq!(rels[0].alternatives[1].name, "b");
        assert!(rels[0].alternatives[1].constraint.is_none());
        assert_eq!(
            rels[1].alternatives[0].arch_qualifier,
            Some(ArchQualifier::Any)
        );
        assert_eq!(
            rels[2].alternatives[0].restriction,
            Some(ArchRestriction {
                negated: false,
                arches: vec!["amd64".into()]
            })
        );
        let shown: Vec<String> = rels.iter().map(|r| r.to_string()).collect();
        assert_eq!(shown, ["a (>= 1.0) | b", "c:any", "d [amd64]"]);

        for (text, op) in [
            ("x (<< 1)", VersionOp::Earlier),
            ("x (<= 1)", VersionOp::EarlierOrEqual),
            ("x (= 1)", VersionOp::Equal),
            ("x(>=1)", VersionOp::LaterOrEqual),
            ("x ( >> 1 )", VersionOp::Later),
        ] {
            let r = parse_relations(text).unwrap();
            assert_eq!(
                r[0].alternatives[0].constraint.as_ref().unwrap().op,
                op,
                "{text}"
            );
        }
        let q = parse_relations("x:native, y:amd64 (>= 2:1.0-1)").unwrap();
        assert_eq!(
            q[0].alternatives[0].arch_qualifier,
            Some(ArchQualifier::Native)
        );
        assert_eq!(
            q[1].alternatives[0].arch_qualifier,
            Some(ArchQualifier::Arch("amd64".into()))
        );
        assert_eq!(q[1].to_string(), "y:amd64 (>= 2:1.0-1)");
        assert!(parse_relations("").unwrap().is_empty());
        assert!(parse_relations("  ").unwrap().is_empty());
    }

    #[test]
    fn relations_arch_restrictions() {
        let rels = parse_relations(
            "a [amd64], b [i386], c [!i386], d [!amd64], e [linux-any], f [any-amd64] | g, \
             h [i386] | i, j [i386 arm64] | k [!amd64]",
        )
        .unwrap();
        let kept: Vec<String> = rels
            .iter()
            .filter_map(|r| r.for_arch("amd64"))
            .map(|r| r.to_string())
            .collect();
        assert_eq!(kept, ["a", "c", "e", "f | g", "i"]);
    }

    #[test]
    fn relations_errors() {
        let cases: &[(&str, RelationError)] = &[
            ("a, , b", RelationError::Empty),
            ("a |", RelationError::Empty),
            ("A", RelationError::BadName("A".into())),
            ("a (> 1)", RelationError::BadOperator(">".into())),
            ("a (< 1)", RelationError::BadOperator("<".into())),
            ("a (== 1)", RelationError::BadOperator("==".into())),
            ("a (>= 1", RelationError::Unterminated(')')),
            ("a [amd64", RelationError::Unterminated(']')),
            (
                "a [amd64 !i386]",
                RelationError::BadArchList("amd64 !i386".into()),
            ),
            ("a []", RelationError::BadArchList("".into())),
            ("a <!nocheck>", RelationError::BuildProfiles),
            ("a b", RelationError::Trailing("b".into())),
            ("a:", RelationError::BadQualifier("".into())),
            ("a:Any", RelationError::BadQualifier("Any".into())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_relations(text).as_ref().err(), Some(want), "{text}");
        }
        assert!(matches!(
            parse_relations("a (>= )"),
            Err(RelationError::BadVersion(VersionError::Empty))
        ));
    }

    #[test]
    fn provides_parse() {
        let p = parse_provides("awk, foo (= 1.0-1)").unwrap();
        assert_eq!(
            p[0],
            Provide {
                name: "awk".into(),
                version: None
            }
        );
        assert_eq!(p[1].name, "foo");
        assert_eq!(p[1].version.as_ref().map(Version::as_str), Some("1.0-1"));
        assert!(matches!(
            parse_provides("a | b"),
            Err(RelationError::AlternativesInProvides(_))
        ));
        assert!(matches!(
            parse_provides("a (>= 1)"),
            Err(RelationError::OperatorInProvides(_))
        ));
        assert!(matches!(
            parse_provides("a:any"),
            Err(RelationError::ArchInProvides(_))
        ));
    }

    // ---------------------------------------------------------------- Packages

    /// A synthetic index: alternatives, virtual packages (versioned and not), constraints, a
    /// cycle (libc6 <-> libgcc-s1), an i386 package, an unsatisfiable dependency.
    fn synthetic() -> String {
        let mut n = 0u32;
        let mut stanza = |fields: &str| {
            n += 1;
            let name = fields
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("Package: "))
                .unwrap();
            format!(
                "{fields}\nFilename: pool/main/{}/{name}/{name}_{n}_amd64.deb\nSize: {}\nSHA256: {:064x}\nDescription: the {name} package\n multi-line description\n .\n of {name}\n\n",
                &name[..1],
                1000 + n,
                n
            )
        };
        let mut s = String::new();
        for fields in [
            "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nMulti-Arch: same\nPriority: optional\nDepends: libgcc-s1",
            "Package: libgcc-s1\nVersion: 12.2.0-14\nArchitecture: amd64\nDepends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)",
            "Package: gcc-12-base\nVersion: 12.2.0-14\nArchitecture: amd64",
            "Package: mawk\nVersion: 1.3.4.20200120-3.1\nArchitecture: amd64\nPre-Depends: libc6 (>= 2.29)\nProvides: awk\nPriority: required",
            "Package: gawk\nVersion: 1:5.2.1-2\nArchitecture: amd64\nProvides: awk\nPriority: optional\nPre-Depends: libc6 (>= 2.34)",
            "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\nEssential: yes\nPriority: required\nPre-Depends: awk",
            "Package: debconf\nVersion: 1.5.82\nArchitecture: all\nPre-Depends: perl-base (>= 5.20.1-3~)\nProvides: debconf-2.0",
            "Package: perl-base\nVersion: 5.36.0-7\nArchitecture: amd64\nEssential: yes\nProvides: perlapi-5.36.0\nPre-Depends: libc6 (>= 2.35)",
            "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\nDepends: debconf (>= 0.5) | debconf-2.0",
            "Package: cdebconf\nVersion: 0.270\nArchitecture: amd64\nProvides: debconf-2.0\nDepends: libc6",
            "Package: python3\nVersion: 3.11.2-1+b1\nArchitecture: amd64\nMulti-Arch: allowed",
            "Package: python3\nVersion: 3.9.2-3\nArchitecture: amd64\nMulti-Arch: allowed",
            "Package: virtual-versioned\nVersion: 1.0\nArchitecture: all\nProvides: foo-virtual (= 2.5)",
            "Package: app\nVersion: 1.0-1\nArchitecture: amd64\nDepends: tzdata, python3:any (>= 3.11),\n foo-virtual (>= 2) | libc6,\n mawk [amd64], gawk [i386], nonexistent [!amd64]",
            "Package: needs-foo3\nVersion: 1.0\nArchitecture: all\nDepends: foo-virtual (>= 3) | cdebconf",
            "Package: needs-old-python\nVersion: 1.0\nArchitecture: all\nDepends: python3 (<< 3.10)",
            "Package: broken\nVersion: 1.0\nArchitecture: amd64\nDepends: libc6 (>= 3.0) | missing-pkg",
            "Package: needs-broken\nVersion: 1.0\nArchitecture: all\nDepends: libc6, broken",
            "Package: needs-awk-2\nVersion: 1.0\nArchitecture: all\nDepends: awk (>= 2)",
            "Package: i386-only\nVersion: 1.0\nArchitecture: i386",
            "Package: self-provider\nVersion: 1.0\nArchitecture: all\nProvides: selfish\nDepends: selfish, mawk",
        ] {
            s.push_str(&stanza(fields));
        }
        s
    }

    fn index() -> Index {
        Index::new("amd64", parse_packages(&synthetic()).unwrap())
    }

    fn names(r: &Resolution<'_>) -> Vec<String> {
        r.packages.iter().map(|p| p.package.name.clone()).collect()
    }

    fn deps<'a>(r: &'a Resolution<'_>, name: &str) -> Vec<&'a str> {
        r.packages
            .iter()
            .find(|p| p.package.name == name)
            .map(|p| p.depends.clone())
            .unwrap()
    }

    #[test]
    fn packages_parse_fields() {
        let pkgs = parse_packages(&synthetic()).unwrap();
        assert_eq!(pkgs.len(), 21);
        let libc = &pkgs[0];
        assert_eq!(libc.name, "libc6");
        assert_eq!(libc.version.as_str(), "2.36-9");
        assert_eq!(libc.architecture, "amd64");
        assert_eq!(libc.filename, "pool/main/l/libc6/libc6_1_amd64.deb");
        assert_eq!(libc.size, 1001);
        assert_eq!(libc.sha256, format!("{:064x}", 1));
        assert_eq!(libc.multi_arch, Some(MultiArch::Same));
        assert_eq!(libc.priority.as_deref(), Some("optional"));
        assert_eq!(libc.line, 1);
        assert!(!libc.essential);
        let base = pkgs.iter().find(|p| p.name == "base-files").unwrap();
        assert!(base.essential);
        assert_eq!(base.pre_depends[0].to_string(), "awk");
        let app = pkgs.iter().find(|p| p.name == "app").unwrap();
        // Folded over continuation lines; arch restrictions kept until an Index applies them.
        assert_eq!(app.depends.len(), 6);
        let idx = index();
        assert_eq!(idx.packages().len(), 20, "the i386 package is dropped");
        let app = idx.versions("app")[0];
        let shown: Vec<String> = app.depends.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            shown,
            [
                "tzdata",
                "python3:any (>= 3.11)",
                "foo-virtual (>= 2) | libc6",
                "mawk"
            ]
        );
        let py: Vec<&str> = idx
            .versions("python3")
            .iter()
            .map(|p| p.version.as_str())
            .collect();
        assert_eq!(py, ["3.11.2-1+b1", "3.9.2-3"]);
        assert_eq!(idx.essential(), ["base-files", "perl-base"]);
        let awk: Vec<&str> = idx
            .providers("awk")
            .iter()
            .map(|(p, _)| p.name.as_str())
            .collect();
        assert_eq!(awk, ["gawk", "mawk"]);
    }

    #[test]
    fn packages_parse_leniencies() {
        // Case-insensitive names, whitespace-only separator lines, CR-free final stanza
        // without a newline, unknown fields with continuations.
        let text = format!(
            "package: a1\nVERSION: 1\narchitecture: all\nfilename: pool/a1.deb\nsize: 1\nsha256: {h}\nX-Custom: x\n y\n\t z\n \t \nPackage: b1\nVersion: 2\nArchitecture: all\nFilename: pool/b1.deb\nSize: 2\nSHA256: {H}",
            h = "ab".repeat(32),
            H = "AB".repeat(32)
        );
        let pkgs = parse_packages(&text).unwrap();
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[1].line, 11);
        assert_eq!(pkgs[1].sha256, "ab".repeat(32));
        assert!(parse_packages("").unwrap().is_empty());
        assert!(parse_packages("\n\n").unwrap().is_empty());
    }

    #[test]
    fn packages_parse_errors() {
        let h = "0".repeat(64);
        let good = format!(
            "Package: a1\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/a.deb\nSize: 10\nSHA256: {h}\n"
        );
        let line_of = |text: &str| -> (usize, String) {
            let e = parse_packages(text).unwrap_err();
            let line = match &e {
                IndexError::InvalidUtf8 { line }
                | IndexError::Syntax { line, .. }
                | IndexError::DuplicateField { line, .. }
                | IndexError::UnexpectedContinuation { line, .. }
                | IndexError::MissingField { line, .. }
                | IndexError::InvalidField { line, .. } => *line,
            };
            (line, e.to_string())
        };
        let cases: Vec<(String, usize, &str)> = vec![
            (
                format!("{good}\nno colon here\n"),
                8,
                "expected `Field: value`",
            ),
            (
                format!(" leading continuation\n{good}"),
                1,
                "continuation line outside",
            ),
            (format!("{good}Version: 2\n"), 7, "appears twice"),
            (format!("{good}version: 2\n"), 7, "first on line 2"),
            (
                good.replace("SHA256", "MD5sum"),
                1,
                "(package a1) has no `SHA256` field",
            ),
            (
                format!("Size: 1\n\n{good}").replace("Package: a1\n", ""),
                1,
                "no `Package`",
            ),
            (good.replace("1.0", "1.0-"), 2, "invalid `Version` field"),
            (
                good.replace("Size: 10", "Size: 1O"),
                5,
                "invalid `Size` field",
            ),
            (
                good.replace("Size: 10", "Size: 99999999999999999999999"),
                5,
                "too large",
            ),
            (good.replace(&h, "xyz"), 6, "invalid `SHA256` field"),
            (
                good.replace("pool/a.deb", "/pool/a.deb"),
                4,
                "archive-relative",
            ),
            (good.replace("pool/a.deb", "pool/../a.deb"), 4, "`..`"),
            (
                good.replace("pool/a.deb", "http://x.invalid/a.deb"),
                4,
                "archive-relative",
            ),
            (
                good.replace("Package: a1", "Package: A"),
                1,
                "not a valid package name",
            ),
            (
                good.replace("amd64", "AMD64"),
                3,
                "not an architecture name",
            ),
            (
                format!("{good}Depends: b (>> 1\n"),
                7,
                "invalid `Depends` field: missing `)`",
            ),
            (
                format!("{good}Provides: b | c\n"),
                7,
                "invalid `Provides` field",
            ),
            (
                format!("{good}Pre-Depends: b,\n  ,c\n"),
                7,
                "invalid `Pre-Depends`",
            ),
            (
                format!("{good}Multi-Arch: sometimes\n"),
                7,
                "invalid `Multi-Arch` field",
            ),
            (
                format!("{good}Essential: maybe\n"),
                7,
                "invalid `Essential` field",
            ),
            (
                good.replace("Version: 1.0", "Version: 1.0\n 2.0"),
                3,
                "single-line field",
            ),
            (format!("{good}: empty name\n"), 7, "invalid field name"),
            (
                format!("{good}# a comment\n"),
                7,
                "comment lines are not allowed",
            ),
        ];
        for (text, line, msg) in cases {
            let (got_line, got) = line_of(&text);
            assert_eq!(got_line, line, "{got}");
            assert!(got.contains(msg), "{got:?} should contain {msg:?}");
            assert!(got.starts_with(&format!("line {line}: ")), "{got}");
        }
        let mut bytes = good.clone().into_bytes();
        bytes.extend_from_slice(b"\nPackage: \xff\n");
        assert_eq!(
            parse_packages_bytes(&bytes),
            Err(IndexError::InvalidUtf8 { line: 8 })
        );
        assert_eq!(parse_packages_bytes(good.as_bytes()).unwrap().len(), 1);
    }

    // ---------------------------------------------------------------- resolver

    #[test]
    fn resolve_closure_with_alternatives_and_cycle() {
        let idx = index();
        let r = idx.resolve(&["tzdata"]).unwrap();
        assert_eq!(
            names(&r),
            [
                "debconf",
                "gcc-12-base",
                "libc6",
                "libgcc-s1",
                "perl-base",
                "tzdata"
            ]
        );
        assert_eq!(deps(&r, "tzdata"), ["debconf"]);
        assert_eq!(deps(&r, "debconf"), ["perl-base"]);
        // The cycle.
        assert_eq!(deps(&r, "libc6"), ["libgcc-s1"]);
        assert_eq!(deps(&r, "libgcc-s1"), ["gcc-12-base", "libc6"]);
        assert!(deps(&r, "gcc-12-base").is_empty());
    }

    #[test]
    fn resolve_prefers_chosen_packages() {
        let idx = index();
        // cdebconf is requested, so it satisfies `debconf (>= 0.5) | debconf-2.0`.
        let r = idx.resolve(&["tzdata", "cdebconf"]).unwrap();
        assert_eq!(deps(&r, "tzdata"), ["cdebconf"]);
        assert!(!names(&r).contains(&"debconf".to_string()));
        // Virtual `awk`: mawk (Priority: required) over gawk, unless gawk is already chosen.
        let r = idx.resolve(&["base-files"]).unwrap();
        assert_eq!(deps(&r, "base-files"), ["mawk"]);
        let r = idx.resolve(&["gawk", "base-files"]).unwrap();
        assert_eq!(deps(&r, "base-files"), ["gawk"]);
        assert!(!names(&r).contains(&"mawk".to_string()));
    }

    #[test]
    fn resolve_versions_and_virtuals() {
        let idx = index();
        let r = idx.resolve(&["app"]).unwrap();
        assert_eq!(
            deps(&r, "app"),
            ["mawk", "python3", "tzdata", "virtual-versioned"]
        );
        let py = r
            .packages
            .iter()
            .find(|p| p.package.name == "python3")
            .unwrap();
        assert_eq!(py.package.version.as_str(), "3.11.2-1+b1");
        // A constraint the highest version fails picks an older one.
        let r = idx.resolve(&["needs-old-python"]).unwrap();
        let py = r
            .packages
            .iter()
            .find(|p| p.package.name == "python3")
            .unwrap();
        assert_eq!(py.package.version.as_str(), "3.9.2-3");
        // foo-virtual is provided at 2.5 only, so (>= 3) falls through to cdebconf.
        let r = idx.resolve(&["needs-foo3"]).unwrap();
        assert_eq!(deps(&r, "needs-foo3"), ["cdebconf"]);
        // Requesting a virtual name resolves to its provider.
        let r = idx.resolve(&["foo-virtual"]).unwrap();
        assert_eq!(names(&r), ["virtual-versioned"]);
        // A package that satisfies its own relation through Provides has no self edge.
        let r = idx.resolve(&["self-provider"]).unwrap();
        assert_eq!(deps(&r, "self-provider"), ["mawk"]);
    }

    #[test]
    fn resolve_is_deterministic() {
        let idx = index();
        let a = idx.resolve(&["app", "tzdata", "base-files"]).unwrap();
        let b = idx
            .resolve(&["base-files", "app", "tzdata", "app"])
            .unwrap();
        let show = |r: &Resolution<'_>| -> Vec<String> {
            r.packages
                .iter()
                .map(|p| format!("{} {} {:?}", p.package.name, p.package.version, p.depends))
                .collect()
        };
        assert_eq!(show(&a), show(&b));
        let mut sorted = names(&a);
        sorted.sort();
        assert_eq!(names(&a), sorted);
    }

    #[test]
    fn resolve_reports_unsatisfiable_chain() {
        let idx = index();
        let e = idx.resolve(&["needs-broken"]).unwrap_err();
        let ResolveError::Unsatisfiable {
            chain,
            package,
            field,
            relation,
            reasons,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(chain, &["needs-broken 1.0", "broken 1.0"]);
        assert_eq!(package, "broken 1.0");
        assert_eq!(*field, "Depends");
        assert_eq!(relation, "libc6 (>= 3.0) | missing-pkg");
        assert_eq!(
            reasons,
            &[
                "for libc6 (>= 3.0): libc6 2.36-9 is already chosen",
                "for missing-pkg: the index has no package missing-pkg",
            ]
        );
        assert_eq!(
            e.to_string(),
            "via needs-broken 1.0 -> broken 1.0: broken 1.0 has Depends libc6 (>= 3.0) | \
             missing-pkg, which cannot be satisfied: for libc6 (>= 3.0): libc6 2.36-9 is \
             already chosen; for missing-pkg: the index has no package missing-pkg"
        );
        // Alone, broken sees the index's libc6 rather than a chosen one.
        let e = idx.resolve(&["broken"]).unwrap_err().to_string();
        assert!(
            e.contains("for libc6 (>= 3.0): the index has libc6 2.36-9"),
            "{e}"
        );
        // Unversioned provides cannot satisfy a versioned relation.
        let e = idx.resolve(&["needs-awk-2"]).unwrap_err().to_string();
        assert!(
            e.contains("awk is provided by gawk, mawk but none of them can be used"),
            "{e}"
        );
        assert_eq!(
            idx.resolve(&["no-such-package"]).unwrap_err(),
            ResolveError::UnknownPackage("no-such-package".into())
        );
        assert_eq!(
            idx.resolve(&["i386-only"]).unwrap_err(),
            ResolveError::UnknownPackage("i386-only".into())
        );
    }

    // ---------------------------------------------------------------- lock file

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

    // ---------------------------------------------------------------- apt sources

    #[test]
    fn sources_list_one_line() {
        let text = "\
# a comment
deb-src http://archive.invalid/debian bookworm main

deb [ arch=i386 ] http://archive.invalid/i386-only bookworm main
deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg] http://archive.invalid/debian/ bookworm contrib main # trailing comment
deb http://archive.invalid/flat ./
";
        let entries = parse_sources_list(text).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].kind, AptKind::DebSrc);
        assert_eq!(entries[2].uri, "http://archive.invalid/debian");
        assert_eq!(entries[2].components, ["contrib", "main"]);
        assert_eq!(
            entries[2].options,
            [
                ("arch".to_string(), "amd64,arm64".to_string()),
                (
                    "signed-by".to_string(),
                    "/usr/share/keyrings/x.gpg".to_string()
                )
            ]
        );
        assert_eq!(entries[3].suite, "./");
        assert!(entries[3].components.is_empty());
        assert_eq!(
            first_main_archive(&entries, "amd64"),
            Some(AptSource {
                uri: "http://archive.invalid/debian".into(),
                suite: "bookworm".into()
            })
        );
        assert_eq!(
            first_main_archive(&entries, "i386").map(|s| s.uri),
            Some("http://archive.invalid/i386-only".into())
        );
        for (bad, line, msg) in [
            ("\ndeb http://archive.invalid/debian\n", 2, "missing suite"),
            ("deb\n", 1, "incomplete entry"),
            (
                "rpm http://archive.invalid/x a b\n",
                1,
                "unknown type `rpm`",
            ),
            (
                "deb [arch=amd64 http://archive.invalid/x a b\n",
                1,
                "without `]`",
            ),
            (
                "deb [trusted] http://archive.invalid/x a b\n",
                1,
                "not `key=value`",
            ),
            (
                "deb http://archive.invalid/x bookworm\n",
                1,
                "needs at least one component",
            ),
            (
                "deb http://archive.invalid/x ./ main\n",
                1,
                "takes no components",
            ),
        ] {
            let e = parse_sources_list(bad).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(msg), "{e}");
        }
    }

    #[test]
    fn sources_deb822() {
        let text = "\
# disabled first
Types: deb
URIs: http://archive.invalid/disabled
Suites: bookworm
Components: main
Enabled: no

Types: deb-src deb
# a comment inside the stanza
URIs: http://archive.invalid/debian http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 bWFkZSB1cA==
 -----END PGP PUBLIC KEY BLOCK-----
";
        let entries = parse_deb822_sources(text).unwrap();
        let shown: Vec<String> = entries
            .iter()
            .map(|e| format!("{:?} {} {}", e.kind, e.uri, e.suite))
            .collect();
        assert_eq!(
            shown,
            [
                "DebSrc http://archive.invalid/debian bookworm",
                "DebSrc http://archive.invalid/debian bookworm-updates",
                "DebSrc http://mirror.invalid/debian bookworm",
                "DebSrc http://mirror.invalid/debian bookworm-updates",
                "Deb http://archive.invalid/debian bookworm",
                "Deb http://archive.invalid/debian bookworm-updates",
                "Deb http://mirror.invalid/debian bookworm",
                "Deb http://mirror.invalid/debian bookworm-updates",
            ]
        );
        assert_eq!(entries[0].components, ["main", "contrib"]);
        assert_eq!(entries[0].options[0].0, "signed-by");
        assert!(entries[0].options[0].1.contains("BEGIN PGP"));
        assert_eq!(
            first_main_archive(&entries, "amd64"),
            Some(AptSource {
                uri: "http://archive.invalid/debian".into(),
                suite: "bookworm".into()
            })
        );
        for (bad, line, msg) in [
            (
                "Types: deb\nSuites: a\nComponents: main\n",
                1,
                "no `URIs` field",
            ),
            (
                "Types: deb\nURIs: http://archive.invalid/x\nSuites:\nComponents: main\n",
                3,
                "`Suites` is empty",
            ),
            (
                "Types: deb\nURIs: http://archive.invalid/x\nSuites: a\n",
                3,
                "needs at least one component",
            ),
            (
                "Types: rpm\nURIs: http://archive.invalid/x\nSuites: a\nComponents: main\n",
                1,
                "unknown type",
            ),
            ("Types: deb\ntypes: deb\n", 2, "appears twice"),
            (" cont\n", 1, "continuation line outside"),
            ("\n\nno colon\n", 3, "expected `Field: value`"),
            ("Enabled: perhaps\n", 1, "neither yes nor no"),
        ] {
            let e = parse_deb822_sources(bad).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(msg), "{e}");
        }
    }

    #[test]
    fn find_archive_in_a_root() {
        let root = tempfile::tempdir().unwrap();
        let apt = root.path().join("etc/apt");
        assert_eq!(find_debian_archive(root.path(), "amd64").unwrap(), None);
        std::fs::create_dir_all(apt.join("sources.list.d")).unwrap();
        std::fs::write(apt.join("sources.list"), "# nothing here\n").unwrap();
        let d = apt.join("sources.list.d");
        std::fs::write(
            d.join("10-extra.list"),
            "deb http://archive.invalid/extra bookworm contrib\n",
        )
        .unwrap();
        std::fs::write(
            d.join("20-debian.sources"),
            "Types: deb\nURIs: http://archive.invalid/debian\nSuites: trixie\nComponents: main\n",
        )
        .unwrap();
        std::fs::write(
            d.join("30-other.list"),
            "deb http://archive.invalid/other sid main\n",
        )
        .unwrap();
        std::fs::write(
            d.join("05-off.list.disabled"),
            "deb http://archive.invalid/off sid main\n",
        )
        .unwrap();
        assert_eq!(
            find_debian_archive(root.path(), "amd64").unwrap(),
            Some(AptSource {
                uri: "http://archive.invalid/debian".into(),
                suite: "trixie".into()
            })
        );
        std::fs::write(d.join("15-broken.list"), "deb http://archive.invalid/x\n").unwrap();
        let e = find_debian_archive(root.path(), "amd64")
            .unwrap_err()
            .to_string();
        assert!(e.contains("15-broken.list: line 1: missing suite"), "{e}");
    }

    // ---------------------------------------------------------------- the host's apt lists

    /// Decodes an LZ4 frame stream (the LZ4 frame format specification), as apt stores its
    /// lists. Checksums are skipped, not verified.
    fn lz4_decode(mut data: &[u8]) -> Vec<u8> {
        fn take<'a>(d: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (a, b) = d.split_at(n);
            *d = b;
            a
        }
        fn u32le(d: &mut &[u8]) -> u32 {
            let b = take(d, 4);
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
        let mut out = Vec::new();
        while !data.is_empty() {
            let magic = u32le(&mut data);
            if (0x184D_2A50..=0x184D_2A5F).contains(&magic) {
                let n = u32le(&mut data) as usize;
                take(&mut data, n);
                continue;
            }
            assert_eq!(magic, 0x184D_2204, "not an LZ4 frame");
            let flg = take(&mut data, 2)[0];
            assert_eq!(flg >> 6, 1, "LZ4 frame version");
            let block_checksum = flg & 0x10 != 0;
            let content_checksum = flg & 0x04 != 0;
            if flg & 0x08 != 0 {
                take(&mut data, 8);
            }
            if flg & 0x01 != 0 {
                take(&mut data, 4);
            }
            take(&mut data, 1); // header checksum
            loop {
                let size = u32le(&mut data);
                if size == 0 {
                    break;
                }
                let block = take(&mut data, (size & 0x7FFF_FFFF) as usize);
                if size & 0x8000_0000 != 0 {
                    out.extend_from_slice(block);
                } else {
                    lz4_block(block, &mut out);
                }
                if block_checksum {
                    take(&mut data, 4);
                }
            }
            if content_checksum {
                take(&mut data, 4);
            }
        }
        out
    }

    fn lz4_block(b: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        let length = |i: &mut usize, mut n: usize| {
            if n == 15 {
                loop {
                    let x = b[*i];
                    *i += 1;
                    n += usize::from(x);
                    if x != 255 {
                        break;
                    }
                }
            }
            n
        };
        loop {
            let token = b[i];
            i += 1;
            let lit = length(&mut i, usize::from(token >> 4));
            out.extend_from_slice(&b[i..i + lit]);
            i += lit;
            if i == b.len() {
                break;
            }
            let offset = usize::from(b[i]) | usize::from(b[i + 1]) << 8;
            i += 2;
            let len = length(&mut i, usize::from(token & 15)) + 4;
            let start = out.len() - offset;
            for k in 0..len {
                out.push(out[start + k]);
            }
        }
    }

    #[test]
    fn lz4_decoder_on_stored_blocks() {
        // One frame, no checksums, one uncompressed block, then one compressed block that
        // repeats the previous bytes.
        let mut f = vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];
        f.extend_from_slice(&(3u32 | 0x8000_0000).to_le_bytes());
        f.extend_from_slice(b"abc");
        // token: 1 literal, match length 15+1 → 20; offset 4
        f.extend_from_slice(&6u32.to_le_bytes());
        f.extend_from_slice(&[0x1F, b'd', 4, 0, 1, 0x00]);
        f.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(lz4_decode(&f), b"abcdabcdabcdabcdabcdabcd");
    }

    #[test]
    fn host_apt_lists_resolve() {
        let Ok(dir) = std::fs::read_dir("/var/lib/apt/lists") else {
            return;
        };
        let mut files: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                n.ends_with("_binary-amd64_Packages") || n.ends_with("_binary-amd64_Packages.lz4")
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return;
        }
        let mut all = Vec::new();
        let mut locked = Vec::new();
        for f in &files {
            let raw = std::fs::read(f).unwrap();
            let data = if f.extension().is_some_and(|e| e == "lz4") {
                lz4_decode(&raw)
            } else {
                raw
            };
            let t = std::time::Instant::now();
            let pkgs =
                parse_packages_bytes(&data).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            eprintln!(
                "{}: {} bytes, {} stanzas, parsed in {:?}",
                f.display(),
                data.len(),
                pkgs.len(),
                t.elapsed()
            );
            locked.push(LockedIndex {
                path: "dists/host/main/binary-amd64/Packages".into(),
                sha256: sha256_hex(&data),
            });
            all.extend(pkgs);
        }
        let idx = Index::new("amd64", all);
        let r = idx.resolve(&["busybox-static", "tzdata"]).unwrap();
        let got = names(&r);
        assert!(got.contains(&"busybox-static".into()) && got.contains(&"tzdata".into()));
        eprintln!("busybox-static + tzdata: {got:?}");
        let mut essential: Vec<&str> = idx.essential();
        essential.push("busybox-static");
        let r = idx.resolve(&essential).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("essential + busybox-static: {} packages", r.packages.len());
        let lock = LockFile::from_resolution("host", "amd64", locked, &r);
        assert_eq!(LockFile::parse(&lock.to_text()), Ok(lock));
        // The host's apt sources parse (whatever they say).
        if Path::new("/etc/apt").exists() {
            find_debian_archive(Path::new("/"), "amd64").unwrap();
        }
    }
}
