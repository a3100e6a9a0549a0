//! Two or more packages at one place of the tree (section 2.2 step 5): which one wins, or the
//! error that says how to choose.
//!
//! Entries that are equal (regular files with equal contents, links with equal rewritten
//! targets) are one *variant* and never collide. Between different variants, in order: a
//! variant whose packages `Replace` every package of the others wins (dpkg's rule); else the
//! configuration's choice (`environment.debian.collisions."<path>" = "<package>"`) wins; else
//! it is an error naming every package with its version and the option to set.
//!
//! Must not: touch the file system (the join compares contents before it asks).

use std::collections::BTreeMap;

use serde::Serialize;

use super::package::Package;

/// How a collision was settled, for `usr/lib/strata/collisions.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settled {
    /// The package whose entry the tree holds.
    pub chosen: String,
    /// `"replaces"` or `"choice"`.
    pub by: &'static str,
    /// Every package that ships the place, sorted.
    pub packages: Vec<String>,
}

/// One variant: the packages (indices into the package list, ascending) that ship the same
/// entry at the place.
pub type Variant = Vec<usize>;

/// `"a" (or "b" or "c")`.
fn quoted_choices(names: &[&str]) -> String {
    let mut out = format!("\"{}\"", names.first().copied().unwrap_or_default());
    if names.len() > 1 {
        let rest: Vec<String> = names[1..].iter().map(|n| format!("\"{n}\"")).collect();
        out.push_str(&format!(" (or {})", rest.join(" or ")));
    }
    out
}

/// `package a (1) and package b (2) both ship it` / `packages a (1), b (2) and c (3) all ship it`.
fn who_ships(labels: &[String]) -> String {
    match labels {
        [a, b] => format!("package {a} and package {b} both ship it"),
        [init @ .., last] => format!("packages {} and {last} all ship it", init.join(", ")),
        [] => String::new(),
    }
}

/// A collision nothing settles. `at` is the path as the machine shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsettled {
    #[error(
        "collision at {at}: package {package} ships it more than once with different contents \
         (under /bin and /usr/bin, or /lib and /usr/lib)"
    )]
    OnePackage { at: String, package: String },
    #[error(
        "collision at {at}: environment.debian.collisions.\"{at}\" = \"{choice}\" names a \
         package that does not ship it; {who}"
    )]
    WrongChoice {
        at: String,
        choice: String,
        who: String,
    },
    #[error("collision at {at}: {who}; set environment.debian.collisions.\"{at}\" = {choices}")]
    Open {
        at: String,
        who: String,
        choices: String,
    },
    #[error(
        "collision at {at}: package {file} ships a file where package {dir} ships a \
         directory; a file cannot replace a directory"
    )]
    FileOverDirectory {
        at: String,
        file: String,
        dir: String,
    },
}

/// The winning variant at `shown` (the path as the machine shows it, `/usr/bin/foo`) among
/// `variants` (at least two), with how it won; or why nothing settles it.
pub fn settle(
    shown: &str,
    variants: &[Variant],
    packages: &[Package],
    choices: &BTreeMap<String, String>,
) -> Result<(usize, Settled), Unsettled> {
    let mut all: Vec<usize> = variants.iter().flatten().copied().collect();
    all.sort_unstable();
    all.dedup();
    let name = |i: usize| packages.get(i).map_or("?", |p| p.name.as_str());
    let label = |i: usize| packages.get(i).map_or_else(String::new, Package::label);
    let names: Vec<String> = all.iter().map(|&i| name(i).to_owned()).collect();
    if let [only] = all[..] {
        return Err(Unsettled::OnePackage {
            at: shown.to_owned(),
            package: label(only),
        });
    }
    let settled = |winner: usize, by: &'static str| {
        let chosen = variants
            .get(winner)
            .and_then(|v| v.first())
            .map_or_else(String::new, |&i| name(i).to_owned());
        (
            winner,
            Settled {
                chosen,
                by,
                packages: names.clone(),
            },
        )
    };
    // Replaces: a variant whose packages replace every package of every other variant.
    let replacing: Vec<usize> = (0..variants.len())
        .filter(|&v| {
            variants.iter().enumerate().all(|(w, other)| {
                w == v
                    || other.iter().all(|&o| {
                        variants[v]
                            .iter()
                            .any(|&p| match (packages.get(p), packages.get(o)) {
                                (Some(p), Some(o)) => p.replaces(o),
                                _ => false,
                            })
                    })
            })
        })
        .collect();
    if let [winner] = replacing[..] {
        return Ok(settled(winner, "replaces"));
    }
    if let Some(choice) = choices.get(shown) {
        return match variants
            .iter()
            .position(|v| v.iter().any(|&p| name(p) == choice))
        {
            Some(winner) => {
                let mut s = settled(winner, "choice");
                s.1.chosen = choice.clone();
                Ok(s)
            }
            None => Err(Unsettled::WrongChoice {
                at: shown.to_owned(),
                choice: choice.clone(),
                who: who_ships(&all.iter().map(|&i| label(i)).collect::<Vec<_>>()),
            }),
        };
    }
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    Err(Unsettled::Open {
        at: shown.to_owned(),
        who: who_ships(&all.iter().map(|&i| label(i)).collect::<Vec<_>>()),
        choices: quoted_choices(&name_refs),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::fs;

    fn packages(controls: &[&str]) -> (tempfile::TempDir, Vec<Package>) {
        let dir = tempfile::tempdir().unwrap();
        let inputs: Vec<(String, std::path::PathBuf)> = controls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let root = dir.path().join(i.to_string());
                fs::create_dir_all(root.join("DEBIAN")).unwrap();
                fs::write(root.join("DEBIAN/control"), c).unwrap();
                (format!("/nix/store/{i:0>32}-p"), root)
            })
            .collect();
        let all = super::super::package::read_all(&inputs).unwrap();
        (dir, all)
    }

    const A: &str = "Package: a\nVersion: 1.0-1\nArchitecture: amd64\n";
    const B: &str = "Package: b\nVersion: 2.0-3\nArchitecture: amd64\n";
    const C: &str = "Package: c\nVersion: 3\nArchitecture: all\nReplaces: a, b (<< 2.0-4)\n";

    #[test]
    fn unsettled_collision_names_both_packages_and_the_option() {
        let (_d, all) = packages(&[A, B]);
        let err = settle("/usr/bin/foo", &[vec![0], vec![1]], &all, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "collision at /usr/bin/foo: package a (1.0-1) and package b (2.0-3) both ship it; \
             set environment.debian.collisions.\"/usr/bin/foo\" = \"a\" (or \"b\")"
        );
    }

    #[test]
    fn three_packages_are_all_named() {
        let (_d, all) = packages(&[A, B, "Package: d\nVersion: 4\nArchitecture: all\n"]);
        let err = settle("/x", &[vec![0, 2], vec![1]], &all, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "collision at /x: packages a (1.0-1), b (2.0-3) and d (4) all ship it; \
             set environment.debian.collisions.\"/x\" = \"a\" (or \"b\" or \"d\")"
        );
    }

    #[test]
    fn replaces_wins_before_a_choice() {
        let (_d, all) = packages(&[A, B, C]);
        let choices = BTreeMap::from([("/x".to_owned(), "a".to_owned())]);
        let (winner, s) = settle("/x", &[vec![0, 1], vec![2]], &all, &choices).unwrap();
        assert_eq!(winner, 1);
        assert_eq!(s.chosen, "c");
        assert_eq!(s.by, "replaces");
        assert_eq!(s.packages, ["a", "b", "c"]);
    }

    #[test]
    fn versioned_replaces_must_hold() {
        let (_d, all) = packages(&[
            "Package: a\nVersion: 1\nArchitecture: all\nReplaces: b (<< 2.0)\n",
            B,
        ]);
        assert!(settle("/x", &[vec![0], vec![1]], &all, &BTreeMap::new()).is_err());
    }

    #[test]
    fn a_choice_settles_and_a_wrong_choice_is_named() {
        let (_d, all) = packages(&[A, B]);
        let choices = BTreeMap::from([("/usr/bin/foo".to_owned(), "b".to_owned())]);
        let (winner, s) = settle("/usr/bin/foo", &[vec![0], vec![1]], &all, &choices).unwrap();
        assert_eq!((winner, s.by, s.chosen.as_str()), (1, "choice", "b"));
        let wrong = BTreeMap::from([("/usr/bin/foo".to_owned(), "zz".to_owned())]);
        let err = settle("/usr/bin/foo", &[vec![0], vec![1]], &all, &wrong)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("= \"zz\" names a package that does not ship it"),
            "{err}"
        );
        assert!(
            err.contains("package a (1.0-1) and package b (2.0-3)"),
            "{err}"
        );
    }

    #[test]
    fn one_package_twice_is_its_own_error() {
        let (_d, all) = packages(&[A]);
        let err = settle("/usr/bin/x", &[vec![0], vec![0]], &all, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("package a (1.0-1) ships it more than once"),
            "{err}"
        );
    }
}
