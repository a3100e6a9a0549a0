//! Dependency resolution: [`Index::resolve`] computes the closure of `Pre-Depends` and
//! `Depends` of the requested packages over one architecture (the index keeps that
//! architecture's and `all` packages). Each relation is satisfied, in this order, by
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
//! Must not: read files or the network.

use std::collections::{BTreeSet, HashMap, VecDeque};

use thiserror::Error;

use super::index::{Index, Package};
use super::relation::{Alternative, ArchQualifier, Relation};
use super::version::Version;

impl Index {
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

impl Index {
    /// The package chosen for `rel` independently of any other choice: the first alternative,
    /// in the order written, that the index can satisfy (rule 2 of the module documentation
    /// without rule 1). This is how the digest ([`super::digest`]) fixes each package's
    /// dependencies once, so that a package's closure does not depend on what else a system
    /// installs. On failure, why each alternative cannot be satisfied.
    pub fn choose_context_free(&self, rel: &Relation) -> Result<&Package, Vec<Unsatisfied>> {
        let r = Resolver {
            index: self,
            chosen: HashMap::new(),
            parent: HashMap::new(),
            edges: HashMap::new(),
            queue: VecDeque::new(),
        };
        r.choose(rel).map(|i| &self.packages[i])
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
    fn choose(&self, rel: &Relation) -> Result<usize, Vec<Unsatisfied>> {
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
                reasons.push(Unsatisfied::OtherArchitecture {
                    alternative: alt.clone(),
                    arch: idx.arch.clone(),
                });
                continue;
            }
            match self.candidate(alt) {
                Ok(i) => return Ok(i),
                Err(reason) => reasons.push(*reason),
            }
        }
        Err(reasons)
    }

    /// The package chosen for one alternative, or why there is none (boxed: it is the rare
    /// path and an alternative is large).
    fn candidate(&self, alt: &Alternative) -> Result<usize, Box<Unsatisfied>> {
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
        let found = match (chosen_real, reals) {
            (Some(i), _) => {
                let p = &idx.packages[i];
                Found::Chosen {
                    name: p.name.clone(),
                    version: p.version.clone(),
                }
            }
            (None, Some(v)) => {
                Found::Versions(v.iter().map(|&i| idx.packages[i].version.clone()).collect())
            }
            (None, None) => Found::Nothing,
        };
        let providers = provs.map(|provs| {
            provs
                .iter()
                .map(|(i, v)| (idx.packages[*i].name.clone(), v.clone()))
                .collect()
        });
        Err(Box::new(Unsatisfied::NoCandidate {
            alternative: alt.clone(),
            found,
            providers,
        }))
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
    #[error(
        "{}{package} has {field} {relation}, which cannot be satisfied: {}",
        chain_text(chain),
        reasons_text(reasons)
    )]
    Unsatisfiable {
        /// `name version` of each package from a requested one down to `package`.
        chain: Vec<String>,
        package: String,
        field: &'static str,
        relation: String,
        reasons: Vec<Unsatisfied>,
    },
}

/// Why one alternative of a relation cannot be satisfied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unsatisfied {
    #[error("{alternative} asks for another architecture than {arch}")]
    OtherArchitecture {
        alternative: Alternative,
        arch: String,
    },
    /// Neither a real package nor a provider can be chosen.
    #[error("for {alternative}: {}", no_candidate_text(alternative, found, providers.as_deref()))]
    NoCandidate {
        alternative: Alternative,
        /// What the index has of the real package of that name.
        found: Found,
        /// The packages that provide the name, with the version they provide, if any do.
        providers: Option<Vec<(String, Option<Version>)>>,
    },
}

/// The real package an unsatisfiable alternative names, as the resolver found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Another version of it is already chosen.
    Chosen { name: String, version: Version },
    /// The index's versions of it, none of which satisfies the constraint.
    Versions(Vec<Version>),
    /// The index has no real package of that name.
    Nothing,
}

/// The reasons are compared with the text they show (the tests and the messages speak text).
impl PartialEq<&str> for Unsatisfied {
    fn eq(&self, other: &&str) -> bool {
        let text = self.to_string();
        text == *other
    }
}

fn no_candidate_text(
    alt: &Alternative,
    found: &Found,
    providers: Option<&[(String, Option<Version>)]>,
) -> String {
    let mut why = Vec::new();
    match found {
        Found::Chosen { name, version } => why.push(format!("{name} {version} is already chosen")),
        Found::Versions(v) => {
            let versions: Vec<String> = v.iter().map(Version::to_string).collect();
            why.push(format!(
                "the index has {} {}",
                alt.name,
                versions.join(", ")
            ));
        }
        Found::Nothing => {}
    }
    if let Some(provs) = providers {
        let names: Vec<String> = provs
            .iter()
            .map(|(name, v)| match v {
                Some(v) => format!("{name} (= {v})"),
                None => name.clone(),
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
    why.join(", ")
}

fn reasons_text(reasons: &[Unsatisfied]) -> String {
    let texts: Vec<String> = reasons.iter().map(Unsatisfied::to_string).collect();
    texts.join("; ")
}

fn chain_text(chain: &[String]) -> String {
    if chain.len() < 2 {
        return String::new();
    }
    format!("via {}: ", chain.join(" -> "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::index::tests::index;

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
}
