//! One input of the tree: an unpacked Debian package (its `DEBIAN/control` read for the name,
//! version, `Replaces`, `Conflicts` and `Provides`) or any other store path, which takes part
//! under its store path name. And the check of `Conflicts` between the inputs.
//!
//! Must not: read anything of a package but `DEBIAN/control` and `DEBIAN/postinst`.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::debian::deb822::ControlFields;
use crate::debian::relation::{parse_provides, parse_relations, Alternative, Provide, Relation};
use crate::debian::unpack::DEBIAN_DIR;
use crate::debian::version::Version;

use super::UsrError;

/// The largest `DEBIAN/control` or `DEBIAN/postinst` read.
const MAX_CONTROL: u64 = 4 << 20;

/// One input package.
#[derive(Debug, Clone)]
pub struct Package {
    /// `Package:` of its control file, or the store path's name.
    pub name: String,
    /// `Version:` as written, if it is a Debian package.
    pub version: Option<String>,
    parsed_version: Option<Version>,
    /// The store path as the derivation names it.
    pub logical: String,
    /// Where its files are.
    pub root: PathBuf,
    pub replaces: Vec<Relation>,
    pub conflicts: Vec<Relation>,
    pub provides: Vec<Provide>,
}

/// The name part of a store path (`/nix/store/<hash>-<name>` -> `<name>`).
fn store_name(logical: &str) -> String {
    let base = logical.rsplit('/').next().unwrap_or(logical);
    base.split_once('-').map_or(base, |(_, n)| n).to_owned()
}

/// Reads a small text file of the package, if it exists.
pub fn read_small(path: &Path) -> Result<Option<String>, UsrError> {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(UsrError::read(path, source)),
    };
    if !md.is_file() {
        return Err(UsrError::BadPackage {
            path: path.to_owned(),
            problem: "is not a regular file".into(),
        });
    }
    if md.len() > MAX_CONTROL {
        return Err(UsrError::BadPackage {
            path: path.to_owned(),
            problem: format!("is {} bytes long", md.len()),
        });
    }
    let bytes = fs::read(path).map_err(|e| UsrError::read(path, e))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| UsrError::BadPackage {
            path: path.to_owned(),
            problem: "is not UTF-8".into(),
        })
}

impl Package {
    /// Reads the package at `root` (named `logical` in the derivation).
    pub fn read(logical: &str, root: &Path) -> Result<Package, UsrError> {
        if !fs::metadata(root)
            .map_err(|e| UsrError::read(root, e))?
            .is_dir()
        {
            return Err(UsrError::BadPackage {
                path: root.to_owned(),
                problem: format!(
                    "{logical} is not a directory; the tree joins unpacked packages and other \
                     directories"
                ),
            });
        }
        let control_path = root.join(DEBIAN_DIR).join("control");
        let Some(text) = read_small(&control_path)? else {
            return Ok(Package {
                name: store_name(logical),
                version: None,
                parsed_version: None,
                logical: logical.to_owned(),
                root: root.to_owned(),
                replaces: Vec::new(),
                conflicts: Vec::new(),
                provides: Vec::new(),
            });
        };
        let bad = |problem: String| UsrError::BadPackage {
            path: control_path.clone(),
            problem,
        };
        let control = ControlFields::parse(&text).map_err(|e| bad(e.to_string()))?;
        let field = |name: &str| control.get(name).unwrap_or_default();
        let relations = |name: &str| {
            parse_relations(field(name)).map_err(|e| bad(format!("its {name} field: {e}")))
        };
        let version = field("Version").to_owned();
        let parsed_version = Version::parse(&version).map_err(|e| bad(e.to_string()))?;
        Ok(Package {
            name: field("Package").to_owned(),
            version: Some(version),
            parsed_version: Some(parsed_version),
            logical: logical.to_owned(),
            root: root.to_owned(),
            replaces: relations("Replaces")?,
            conflicts: relations("Conflicts")?,
            provides: parse_provides(field("Provides"))
                .map_err(|e| bad(format!("its Provides field: {e}")))?,
        })
    }

    /// `package a (1.0-1)`, or `package <store name>` for a path that is not a Debian package.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{} ({v})", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether `alt` names this package (by name, its version satisfying the constraint) or
    /// one of its provides (an unversioned relation: any provide; a versioned one: a
    /// versioned provide that satisfies it).
    pub fn matches(&self, alt: &Alternative) -> bool {
        if alt.name == self.name {
            return match (&alt.constraint, &self.parsed_version) {
                (None, _) => true,
                (Some(c), Some(v)) => c.matches(v),
                (Some(_), None) => false,
            };
        }
        self.provides.iter().any(|p| {
            p.name == alt.name
                && match (&alt.constraint, &p.version) {
                    (None, _) => true,
                    (Some(c), Some(v)) => c.matches(v),
                    (Some(_), None) => false,
                }
        })
    }

    /// Whether this package's `Replaces` names `other` (by name, not by a provide: dpkg's
    /// rule for taking over files).
    pub fn replaces(&self, other: &Package) -> bool {
        self.replaces.iter().any(|r| {
            r.alternatives.iter().any(|a| {
                a.name == other.name
                    && match (&a.constraint, &other.parsed_version) {
                        (None, _) => true,
                        (Some(c), Some(v)) => c.matches(v),
                        (Some(_), None) => false,
                    }
            })
        })
    }
}

/// Reads every input, sorted by package name (then store path); two inputs with one package
/// name are an error.
pub fn read_all(inputs: &[(String, PathBuf)]) -> Result<Vec<Package>, UsrError> {
    let mut packages = inputs
        .iter()
        .map(|(logical, root)| Package::read(logical, root))
        .collect::<Result<Vec<_>, _>>()?;
    packages.sort_by(|a, b| (&a.name, &a.logical).cmp(&(&b.name, &b.logical)));
    for pair in packages.windows(2) {
        if let [a, b] = pair {
            if a.name == b.name {
                return Err(UsrError::SameName {
                    name: a.name.clone(),
                    first: a.logical.clone(),
                    second: b.logical.clone(),
                });
            }
        }
    }
    Ok(packages)
}

/// Every `Conflicts` relation of one input that another input satisfies, unless `allowed`
/// holds the pair (in either order). Each line names both packages and the relation; sorted.
pub fn conflicts(packages: &[Package], allowed: &[(String, String)]) -> Vec<String> {
    let allowed: BTreeSet<(&str, &str)> = allowed
        .iter()
        .flat_map(|(a, b)| [(a.as_str(), b.as_str()), (b.as_str(), a.as_str())])
        .collect();
    let mut out = BTreeSet::new();
    for p in packages {
        for relation in &p.conflicts {
            for alt in &relation.alternatives {
                for q in packages {
                    if q.name == p.name || !q.matches(alt) {
                        continue;
                    }
                    if allowed.contains(&(p.name.as_str(), q.name.as_str())) {
                        continue;
                    }
                    out.insert(format!(
                        "package {} conflicts with package {} (Conflicts: {alt}); remove one, \
                         or list the pair in environment.debian.allowConflicts \
                         ([ \"{}\" \"{}\" ])",
                        p.label(),
                        q.label(),
                        p.name,
                        q.name
                    ));
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn package(dir: &Path, control: &str) -> (String, PathBuf) {
        let name = control
            .lines()
            .find_map(|l| l.strip_prefix("Package: "))
            .unwrap();
        let root = dir.join(name);
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        fs::write(root.join("DEBIAN/control"), control).unwrap();
        (
            format!("/nix/store/00000000000000000000000000000000-{name}-1"),
            root,
        )
    }

    #[test]
    fn reads_control_and_store_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = package(
            dir.path(),
            "Package: a\nVersion: 1.0-1\nArchitecture: amd64\nReplaces: b (<< 2)\n",
        );
        let plain = dir.path().join("plain");
        fs::create_dir_all(&plain).unwrap();
        let plain = (
            "/nix/store/11111111111111111111111111111111-hello-env".to_owned(),
            plain,
        );
        let b = package(dir.path(), "Package: b\nVersion: 1.5\nArchitecture: all\n");
        let all = read_all(&[plain, b, a]).unwrap();
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "hello-env"]);
        assert_eq!(all[0].label(), "a (1.0-1)");
        assert_eq!(all[2].label(), "hello-env");
        assert!(all[0].replaces(&all[1]));
        assert!(!all[1].replaces(&all[0]));
    }

    #[test]
    fn two_inputs_with_one_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = package(dir.path(), "Package: a\nVersion: 1\nArchitecture: all\n");
        let mut again = a.clone();
        again.0 = again.0.replace("0000", "2222");
        let err = read_all(&[a, again]).unwrap_err().to_string();
        assert!(err.contains("package a is given twice"), "{err}");
        // A store path that is a file is no package.
        let file = dir.path().join("hello.txt");
        fs::write(&file, "hello").unwrap();
        let err = read_all(&[("/nix/store/x-hello.txt".into(), file)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nix/store/x-hello.txt is not a directory"),
            "{err}"
        );
    }

    #[test]
    fn conflicts_name_both_packages_and_the_relation() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = [
            package(
                dir.path(),
                "Package: mta-a\nVersion: 1\nArchitecture: all\n\
                 Provides: mail-transport-agent\nConflicts: mail-transport-agent, old (<< 2)\n",
            ),
            package(
                dir.path(),
                "Package: mta-b\nVersion: 3\nArchitecture: all\nProvides: mail-transport-agent\n",
            ),
            package(
                dir.path(),
                "Package: old\nVersion: 2.1\nArchitecture: all\n",
            ),
        ];
        let all = read_all(&inputs).unwrap();
        let found = conflicts(&all, &[]);
        assert_eq!(
            found,
            [
                "package mta-a (1) conflicts with package mta-b (3) (Conflicts: \
              mail-transport-agent); remove one, or list the pair in \
              environment.debian.allowConflicts ([ \"mta-a\" \"mta-b\" ])"
            ]
        );
        assert!(conflicts(&all, &[("mta-b".into(), "mta-a".into())]).is_empty());
    }
}
