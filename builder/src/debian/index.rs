//! A `Packages` index: [`parse_packages`] reads one (through the one deb822 reader,
//! [`super::deb822`]) in one pass over its lines, with no regular expressions and no allocation
//! for the fields it does not keep. Field names are case-insensitive. It keeps `Package`,
//! `Version`, `Architecture`, `Filename`, `Size`, `SHA256`, `Depends`, `Pre-Depends`,
//! `Provides`, `Multi-Arch`, `Essential` and `Priority`; the first six are required. Any
//! malformed line or value is an [`IndexError`] that names its line. [`Index`] holds the
//! packages of one architecture (and `all`), looked up by name and by what they provide.
//!
//! Must not: touch the network (that is [`super::archive`]) or choose packages (that is
//! [`super::resolve`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use super::deb822::{classify_line, truncate, Line};
use super::relation::{
    is_arch_name, is_valid_package_name, parse_provides, parse_relations, Provide, Relation,
};
use super::version::Version;

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
    pub(super) fn priority_rank(&self) -> u8 {
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

/// A field value that is not what its field needs (values are quoted cut to 60 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("empty path")]
    EmptyPath,
    #[error("`{0}` is not an archive-relative path")]
    NotRelative(String),
    #[error("`{0}` contains whitespace")]
    Whitespace(String),
    #[error("`{0}` has an empty, `.` or `..` component")]
    BadComponent(String),
    #[error("`{0}` is not a size in bytes")]
    NotASize(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}` is not 64 hex digits")]
    NotSha256(String),
    #[error("`{0}` is not 64 lowercase hex digits")]
    NotLowercaseSha256(String),
}

/// Checks an archive-relative path: non-empty, relative, no `..`, no whitespace, not a URL.
pub(crate) fn check_archive_path(p: &str) -> Result<(), ValueError> {
    if p.is_empty() {
        return Err(ValueError::EmptyPath);
    }
    if p.starts_with('/') || p.contains("://") {
        return Err(ValueError::NotRelative(p.to_owned()));
    }
    if p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValueError::Whitespace(p.to_owned()));
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(ValueError::BadComponent(p.to_owned()));
    }
    Ok(())
}

pub(crate) fn parse_size(s: &str) -> Result<u64, ValueError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotASize(s.to_owned()));
    }
    s.parse::<u64>()
        .map_err(|_| ValueError::TooLarge(s.to_owned()))
}

fn parse_sha256(s: &str) -> Result<String, ValueError> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ValueError::NotSha256(truncate(s).into_owned()));
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
        let classified = classify_line(line, false).map_err(|e| IndexError::Syntax {
            line: lineno,
            message: e.to_string(),
        })?;
        match classified {
            Line::Blank => {
                if st.any {
                    packages.push(st.finish()?);
                    st = Stanza::default();
                }
            }
            Line::Comment => {}
            Line::Continuation(text) => {
                let text = text.trim_start();
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
            Line::Field { name, value } => {
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
    pub(super) arch: String,
    pub(super) packages: Vec<Package>,
    /// Real packages by name, highest version first.
    pub(super) by_name: HashMap<String, Vec<usize>>,
    /// Providers by virtual name: (package, provided version), sorted by package name, then
    /// highest version first.
    pub(super) providers: HashMap<String, Vec<(usize, Option<Version>)>>,
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
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic index: alternatives, virtual packages (versioned and not), constraints, a
    /// cycle (libc6 <-> libgcc-s1), an i386 package, an unsatisfiable dependency.
    pub(crate) fn synthetic() -> String {
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

    pub(crate) fn index() -> Index {
        Index::new("amd64", parse_packages(&synthetic()).unwrap())
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
}
