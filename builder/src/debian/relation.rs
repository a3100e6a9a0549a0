//! Relationship fields: [`parse_relations`] reads a field such as
//! `a (>= 1.0) | b, c:any, d [amd64]` (`Depends`, `Pre-Depends`), [`parse_provides`] reads
//! `Provides`. Architecture restrictions (`[...]`) are kept in the parsed [`Alternative`] and
//! applied by [`Relation::for_arch`]; an [`Index`](super::index::Index) applies them for its
//! architecture when it is built, so alternatives restricted to other architectures disappear.
//!
//! Must not: choose packages (that is [`super::resolve`]).

use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;

use super::version::{Version, VersionError};

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

pub(crate) fn is_arch_name(s: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
