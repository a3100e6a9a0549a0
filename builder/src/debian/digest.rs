//! The digest: a suite's `Packages` indexes reduced to what evaluation and builds need, with
//! every dependency already chosen. `pkgs` is made from it ([`crate::pkgs`]), so a
//! configuration can name any package of the suite, and the lock pins its sha256
//! ([`super::lock`]), so the resolution it records cannot move without `strata lock update`.
//!
//! The file is text: a header line, then one JSON object a line, sorted by package name (byte
//! order). Every record line starts with `{"name":"`, so a reader finds the names without
//! parsing JSON:
//!
//! ```text
//! {"format":"strata-digest-1","suite":"bookworm","architecture":"amd64","indexes":[["dists/bookworm/main/binary-amd64/Packages","3b0c..."]]}
//! {"name":"hello","version":"2.10-3","architecture":"amd64","component":"main","filename":"pool/main/h/hello/hello_2.10-3_amd64.deb","size":52312,"sha256":"...","depends":["libc6"],"essential":false,"priority":"optional"}
//! {"name":"oops","version":"1.0-1",...,"broken":"oops 1.0-1 has Depends libfoo (>= 3), which cannot be satisfied: ..."}
//! ```
//!
//! How it is made ([`build`]):
//!
//! 1. Of every name, the highest version across all indexes is kept (packages of the
//!    architecture and `all`), with the component of the index it came from.
//! 2. For each relation of its `Pre-Depends` then `Depends`, a package is chosen independently
//!    of any request ([`Index::choose_context_free`]): so `pkgs.vim` is one value whatever
//!    else a system installs, and the closure of a set of packages is the union of their
//!    closures.
//! 3. A package with a relation nothing satisfies is kept, with `broken` saying why: only
//!    using it is an error.
//! 4. `depends` is the sorted, deduplicated list of chosen names, without the package itself.
//!
//! The output is a function of the indexes' bytes: sorted, with no hash-map order in it.
//!
//! Must not: touch the network or the store (that is [`super::archive`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::index::{parse_packages_bytes, Index, IndexError, Package};
use super::lock::LockedIndex;
use super::resolve::ResolveError;

/// The digest's format, named in its header line and in the lock.
pub const DIGEST_FORMAT: &str = "strata-digest-1";

/// The components a lock fetches: `main` always, the others when the archive has them.
pub const COMPONENTS: &[&str] = &["main", "contrib", "non-free", "non-free-firmware"];

/// The digest's header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestHeader {
    pub format: String,
    pub suite: String,
    pub architecture: String,
    /// (archive-relative path, sha256 of the uncompressed text) of each index.
    pub indexes: Vec<(String, String)>,
}

/// One package of the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRecord {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// `main`, `contrib`, `non-free` or `non-free-firmware`.
    pub component: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// The names chosen for its `Pre-Depends` and `Depends`, sorted.
    pub depends: Vec<String>,
    pub essential: bool,
    pub priority: Option<String>,
    /// Why one of its relations cannot be satisfied, if one cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<String>,
}

/// Why a digest could not be made or read.
#[derive(Debug, Error)]
pub enum DigestError {
    #[error("{path}: {source}")]
    Index {
        path: String,
        #[source]
        source: IndexError,
    },
    #[error("index path `{0}` does not name a component (dists/<suite>/<component>/binary-<arch>/Packages)")]
    Component(String),
    #[error("the indexes hold no package for {0}")]
    Empty(String),
    #[error("the digest's line {line}: {message}")]
    Malformed { line: usize, message: String },
}

/// The component an index path names: `dists/<suite>/<component>/binary-<arch>/Packages`.
pub fn component_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("dists/")?;
    let mut parts = rest.split('/');
    let _suite = parts.next()?;
    let component = parts.next()?;
    (!component.is_empty() && parts.next()?.starts_with("binary-")).then_some(component)
}

/// Makes the digest of `indexes` (each with its uncompressed bytes) for `architecture`; see
/// the module documentation.
pub fn build(
    suite: &str,
    architecture: &str,
    indexes: &[(LockedIndex, &[u8])],
) -> Result<Vec<u8>, DigestError> {
    // 1. The highest version of every name, with its component.
    let mut best: HashMap<String, (Package, usize)> = HashMap::new();
    let mut components = Vec::new();
    for (k, (locked, data)) in indexes.iter().enumerate() {
        let component = component_of(&locked.path)
            .ok_or_else(|| DigestError::Component(locked.path.clone()))?;
        components.push(component.to_owned());
        let packages = parse_packages_bytes(data).map_err(|source| DigestError::Index {
            path: locked.path.clone(),
            source,
        })?;
        for p in packages {
            if p.architecture != architecture && p.architecture != "all" {
                continue;
            }
            match best.get(&p.name) {
                Some((q, _)) if q.version >= p.version => {}
                _ => {
                    best.insert(p.name.clone(), (p, k));
                }
            }
        }
    }
    if best.is_empty() {
        return Err(DigestError::Empty(architecture.to_owned()));
    }
    let mut component_by_name: HashMap<String, usize> = HashMap::new();
    let mut kept = Vec::with_capacity(best.len());
    for (name, (p, k)) in best {
        component_by_name.insert(name, k);
        kept.push(p);
    }
    kept.sort_by(|a, b| a.name.cmp(&b.name));
    let index = Index::new(architecture, kept);

    // 2.-4. Each package's dependencies, chosen without context.
    let header = DigestHeader {
        format: DIGEST_FORMAT.to_owned(),
        suite: suite.to_owned(),
        architecture: architecture.to_owned(),
        indexes: indexes
            .iter()
            .map(|(l, _)| (l.path.clone(), l.sha256.clone()))
            .collect(),
    };
    let mut out = Vec::with_capacity(index.packages().len() * 300);
    push_json_line(&mut out, &header);
    for p in index.packages() {
        let mut depends: Vec<String> = Vec::new();
        let mut broken = None;
        let fields = [("Pre-Depends", &p.pre_depends), ("Depends", &p.depends)];
        'fields: for (field, rels) in fields {
            for rel in rels {
                match index.choose_context_free(rel) {
                    Ok(q) if q.name == p.name => {}
                    Ok(q) => depends.push(q.name.clone()),
                    Err(reasons) => {
                        broken = Some(
                            ResolveError::Unsatisfiable {
                                chain: Vec::new(),
                                package: format!("{} {}", p.name, p.version),
                                field,
                                relation: rel.to_string(),
                                reasons,
                            }
                            .to_string(),
                        );
                        break 'fields;
                    }
                }
            }
        }
        depends.sort_unstable();
        depends.dedup();
        let component = component_by_name
            .get(&p.name)
            .and_then(|&k| components.get(k))
            .cloned()
            .unwrap_or_default();
        let record = DigestRecord {
            name: p.name.clone(),
            version: p.version.to_string(),
            architecture: p.architecture.clone(),
            component,
            filename: p.filename.clone(),
            size: p.size,
            sha256: p.sha256.clone(),
            depends,
            essential: p.essential,
            priority: p.priority.clone(),
            broken,
        };
        push_json_line(&mut out, &record);
    }
    Ok(out)
}

fn push_json_line<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Strings, numbers, booleans and lists: serialising to memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
    out.push(b'\n');
}

/// A digest's lines, split without parsing the records: the header, then each record's name
/// and its whole line (a JSON object).
#[derive(Debug)]
pub struct DigestLines<'a> {
    pub header: DigestHeader,
    pub records: Vec<(&'a str, &'a str)>,
}

/// Splits a digest into its header and `(name, line)` pairs, checking that every line is a
/// record with a name, in strictly increasing order.
pub fn split(text: &str) -> Result<DigestLines<'_>, DigestError> {
    let bad = |line: usize, message: String| DigestError::Malformed { line, message };
    let mut lines = text.lines();
    let first = lines
        .next()
        .ok_or_else(|| bad(1, "the digest is empty".into()))?;
    let header: DigestHeader =
        serde_json::from_str(first).map_err(|e| bad(1, format!("bad header: {e}")))?;
    if header.format != DIGEST_FORMAT {
        return Err(bad(
            1,
            format!(
                "format `{}` is not `{DIGEST_FORMAT}`",
                header.format.escape_debug()
            ),
        ));
    }
    let mut records: Vec<(&str, &str)> = Vec::new();
    for (k, line) in lines.enumerate() {
        let n = k + 2;
        let rest = line
            .strip_prefix("{\"name\":\"")
            .ok_or_else(|| bad(n, "a record must start with {\"name\":\"".into()))?;
        let name = rest
            .split_once('"')
            .map(|(name, _)| name)
            .filter(|name| super::relation::is_valid_package_name(name))
            .ok_or_else(|| bad(n, "the record's name is not a package name".into()))?;
        if let Some((prev, _)) = records.last() {
            if *prev >= name {
                return Err(bad(n, format!("`{name}` is out of order after `{prev}`")));
            }
        }
        records.push((name, line));
    }
    Ok(DigestLines { header, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(name: &str, version: &str, extra: &str) -> String {
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("{extra}\n")
        };
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\n\
             Filename: pool/main/{c}/{name}/{name}_{version}_amd64.deb\nSize: 10\n\
             SHA256: {sha}\n{extra}\n",
            c = &name[..1],
            sha = "a".repeat(64)
        )
    }

    fn locked(component: &str) -> LockedIndex {
        LockedIndex {
            path: format!("dists/test/{component}/binary-amd64/Packages"),
            sha256: "0".repeat(64),
        }
    }

    fn records(digest: &[u8]) -> Vec<DigestRecord> {
        let text = std::str::from_utf8(digest).unwrap();
        let lines = split(text).unwrap();
        lines
            .records
            .iter()
            .map(|(_, l)| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn main_index() -> String {
        [
            stanza(
                "app",
                "1.0-1",
                "Depends: libfoo (>= 2), mail-transport-agent | exim4\nPriority: optional",
            ),
            stanza("libfoo", "2.1-1", "Pre-Depends: libc6\nPriority: optional"),
            stanza("libfoo", "1.0-1", ""),
            stanza("libc6", "2.36-9", "Priority: required"),
            stanza(
                "postfix",
                "3.7-1",
                "Provides: mail-transport-agent\nPriority: optional",
            ),
            stanza(
                "dma",
                "0.13-1",
                "Provides: mail-transport-agent\nPriority: extra",
            ),
            stanza("old", "1-1", "Depends: libfoo (>= 3)"),
            stanza(
                "base",
                "1-1",
                "Essential: yes\nPriority: required\nDepends: base",
            ),
        ]
        .concat()
    }

    #[test]
    fn every_package_with_its_context_free_dependencies() {
        let main = main_index();
        let d = build("test", "amd64", &[(locked("main"), main.as_bytes())]).unwrap();
        let r = records(&d);
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["app", "base", "dma", "libc6", "libfoo", "old", "postfix"]
        );
        let app = &r[0];
        // The virtual name goes to the provider with the better priority.
        assert_eq!(app.depends, ["libfoo", "postfix"]);
        assert_eq!(app.component, "main");
        assert!(app.broken.is_none());
        // The highest version is kept; a self-dependency is dropped.
        assert_eq!(r[4].version, "2.1-1");
        assert_eq!(r[4].depends, ["libc6"]);
        assert!(r[1].essential && r[1].depends.is_empty());
        let old = &r[5];
        let why = old.broken.as_deref().unwrap();
        assert!(why.contains("old 1-1 has Depends libfoo (>= 3)"), "{why}");
        assert!(why.contains("2.1-1"), "{why}");
    }

    #[test]
    fn components_and_the_higher_version_across_indexes() {
        let main = main_index();
        let nonfree = [
            stanza("firmware-x", "1-1", ""),
            stanza("libc6", "2.36-10", "Priority: required"),
        ]
        .concat();
        let d = build(
            "test",
            "amd64",
            &[
                (locked("main"), main.as_bytes()),
                (locked("non-free-firmware"), nonfree.as_bytes()),
            ],
        )
        .unwrap();
        let r = records(&d);
        let fw = r.iter().find(|r| r.name == "firmware-x").unwrap();
        assert_eq!(fw.component, "non-free-firmware");
        let libc = r.iter().find(|r| r.name == "libc6").unwrap();
        assert_eq!(
            (libc.version.as_str(), libc.component.as_str()),
            ("2.36-10", "non-free-firmware")
        );
    }

    #[test]
    fn the_same_bytes_whatever_the_order_of_stanzas() {
        let main = main_index();
        let mut stanzas: Vec<&str> = main.split_inclusive("\n\n").collect();
        stanzas.reverse();
        let shuffled = stanzas.concat();
        let a = build("test", "amd64", &[(locked("main"), main.as_bytes())]).unwrap();
        let b = build("test", "amd64", &[(locked("main"), shuffled.as_bytes())]).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert!(text.lines().skip(1).all(|l| l.starts_with("{\"name\":\"")));
        assert!(text.starts_with("{\"format\":\"strata-digest-1\",\"suite\":\"test\""));
    }

    #[test]
    fn split_checks_order_and_names() {
        let header = "{\"format\":\"strata-digest-1\",\"suite\":\"s\",\"architecture\":\"amd64\",\"indexes\":[]}";
        let ok = format!("{header}\n{{\"name\":\"aa\"}}\n{{\"name\":\"bb\"}}\n");
        assert_eq!(split(&ok).unwrap().records.len(), 2);
        let unordered = format!("{header}\n{{\"name\":\"bb\"}}\n{{\"name\":\"aa\"}}\n");
        let e = split(&unordered).unwrap_err().to_string();
        assert_eq!(e, "the digest's line 3: `aa` is out of order after `bb`");
        let bad_name = format!("{header}\n{{\"name\":\"A B\"}}\n");
        assert!(split(&bad_name).unwrap_err().to_string().contains("line 2"));
        let e =
            split("{\"format\":\"other\",\"suite\":\"s\",\"architecture\":\"a\",\"indexes\":[]}\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("`other` is not `strata-digest-1`"), "{e}");
    }

    #[test]
    fn component_of_paths() {
        assert_eq!(
            component_of("dists/bookworm/main/binary-amd64/Packages"),
            Some("main")
        );
        assert_eq!(
            component_of("dists/bookworm/non-free-firmware/binary-amd64/Packages"),
            Some("non-free-firmware")
        );
        assert_eq!(component_of("pool/main/x.deb"), None);
        assert_eq!(component_of("dists/bookworm/main/Packages"), None);
    }
}
