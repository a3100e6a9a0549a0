//! Tests of the join on small package trees made in a temporary directory.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{symlink, MetadataExt};

use super::*;
use crate::userspace::package::read_all;

struct Fixture {
    dir: tempfile::TempDir,
    inputs: Vec<(String, PathBuf)>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            inputs: Vec::new(),
        }
    }

    /// A package `name` with `control` extra fields; returns its root.
    fn package(&mut self, name: &str, version: &str, extra: &str) -> PathBuf {
        let root = self.dir.path().join("pkgs").join(name);
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        fs::write(
            root.join("DEBIAN/control"),
            format!("Package: {name}\nVersion: {version}\nArchitecture: amd64\n{extra}"),
        )
        .unwrap();
        self.inputs.push((
            format!("/nix/store/{:0>32}-{name}-{version}", self.inputs.len()),
            root.clone(),
        ));
        root
    }

    fn packages(&self) -> Vec<Package> {
        read_all(&self.inputs).unwrap()
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
}

fn file(root: &Path, p: &str, contents: &str) {
    let path = root.join(p);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn link(root: &Path, p: &str, target: &str) {
    let path = root.join(p);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(target, path).unwrap();
}

fn read_link(out: &Path, p: &str) -> String {
    fs::read_link(out.join(p)).unwrap().display().to_string()
}

#[test]
fn packages_join_into_the_merged_tree() {
    let mut f = Fixture::new();
    let dash = f.package("dash", "0.5.12-2", "");
    file(&dash, "bin/dash", "dash");
    link(&dash, "bin/sh", "dash");
    link(&dash, "usr/bin/sh", "/bin/sh"); // a compatibility link: its own place once merged
    let libc = f.package("libc6", "2.36-9", "");
    file(&libc, "lib/x86_64-linux-gnu/libc.so.6", "libc");
    link(
        &libc,
        "lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    );
    file(&libc, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld");
    file(
        &libc,
        "etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        "/lib/x86_64-linux-gnu\n",
    );
    file(&libc, "var/lib/misc/keep", "state");
    fs::create_dir_all(libc.join("var/mail")).unwrap();
    fs::write(libc.join("DEBIAN/strata-modes"), "2775 0 8 var/mail\n").unwrap();
    let dev = f.package("libfoo-dev", "1", "");
    // A relative link that crosses packages and the merge.
    link(
        &dev,
        "usr/lib/x86_64-linux-gnu/libc.so",
        "../../../lib/x86_64-linux-gnu/libc.so.6",
    );
    let packages = f.packages();
    let plan = plan(&packages, &BTreeMap::new()).unwrap();
    let out = f.out();
    let made = materialise(&plan, &out).unwrap();
    assert_eq!(made.linked, 4);
    assert_eq!(made.symlinks, 3);

    assert_eq!(
        fs::read_to_string(out.join("usr/bin/dash")).unwrap(),
        "dash"
    );
    assert_eq!(read_link(&out, "usr/bin/sh"), "dash");
    assert_eq!(
        read_link(&out, "usr/lib64/ld-linux-x86-64.so.2"),
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    );
    assert_eq!(
        read_link(&out, "usr/lib/x86_64-linux-gnu/libc.so"),
        "libc.so.6"
    );
    // The cross-package link resolves in the tree (it would dangle in libfoo-dev's own path).
    assert_eq!(
        fs::read_to_string(out.join("usr/lib/x86_64-linux-gnu/libc.so")).unwrap(),
        "libc"
    );
    assert!(fs::metadata(dev.join("usr/lib/x86_64-linux-gnu/libc.so")).is_err());
    assert!(out.join("etc/ld.so.conf.d/x86_64-linux-gnu.conf").is_file());
    // Nothing but usr/ and etc/ at the top; no DEBIAN/.
    let mut top: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["etc", "usr"]);
    // Regular files are hard links to the package's.
    let a = fs::metadata(out.join("usr/bin/dash")).unwrap();
    let b = fs::metadata(dash.join("bin/dash")).unwrap();
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    assert!(
        plan.notes.iter().any(|n| n.contains("libc6: skipped /var")),
        "{:?}",
        plan.notes
    );
    let skeleton: Vec<(&str, &str, Option<&str>)> = plan
        .var_skeleton
        .iter()
        .map(|(p, d)| (p.as_str(), d.package.as_str(), d.dropped.as_deref()))
        .collect();
    assert_eq!(
        skeleton,
        [
            ("/var/lib", "libc6", None),
            ("/var/lib/misc", "libc6", None),
            ("/var/mail", "libc6", Some("2775 0 8")),
        ]
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("dash: dropped 1 link(s)")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn equal_files_and_equal_links_do_not_collide() {
    let mut f = Fixture::new();
    let a = f.package("a", "1", "");
    file(&a, "usr/share/common/x", "same");
    link(&a, "usr/bin/tool", "../lib/tool/run");
    let b = f.package("b", "2", "");
    file(&b, "usr/share/common/x", "same");
    // The same target written from the unmerged /bin.
    link(&b, "bin/tool", "/usr/lib/tool/run");
    let result = plan(&f.packages(), &BTreeMap::new());
    // The two links differ in text (relative and absolute) and so collide; equal files do not.
    let err = result.unwrap_err().to_string();
    assert!(err.contains("collision at /usr/bin/tool"), "{err}");
    assert!(!err.contains("/usr/share/common/x"), "{err}");

    let mut f = Fixture::new();
    let a = f.package("a", "1", "");
    file(&a, "usr/share/common/x", "same");
    link(&a, "usr/bin/tool", "../lib/tool/run");
    let b = f.package("b", "2", "");
    file(&b, "usr/share/common/x", "same");
    link(&b, "bin/tool", "../lib/tool/run");
    let plan = plan(&f.packages(), &BTreeMap::new()).unwrap();
    assert!(plan.settled.is_empty());
    assert_eq!(plan.nodes[Path::new("usr/share/common/x")].pkg, 0);
}

#[test]
fn every_collision_is_reported_sorted() {
    let mut f = Fixture::new();
    let a = f.package("a", "1.0-1", "");
    file(&a, "usr/bin/foo", "a");
    file(&a, "usr/bin/bar", "a");
    let b = f.package("b", "2.0-3", "");
    file(&b, "usr/bin/foo", "b");
    file(&b, "bin/bar", "b");
    let err = plan(&f.packages(), &BTreeMap::new())
        .unwrap_err()
        .to_string();
    let bar = err.find("collision at /usr/bin/bar: package a (1.0-1) and package b (2.0-3)");
    let foo = err.find(
        "collision at /usr/bin/foo: package a (1.0-1) and package b (2.0-3) both ship it; \
         set environment.debian.collisions.\"/usr/bin/foo\" = \"a\" (or \"b\")",
    );
    assert!(bar.is_some() && foo.is_some() && bar < foo, "{err}");
}

#[test]
fn replaces_and_choices_settle_collisions() {
    let mut f = Fixture::new();
    let a = f.package("a", "1", "");
    file(&a, "usr/bin/foo", "a");
    file(&a, "usr/bin/bar", "a");
    let b = f.package("b", "2", "Replaces: a (<< 2)\n");
    file(&b, "usr/bin/foo", "b");
    let c = f.package("c", "1", "");
    file(&c, "usr/bin/bar", "c");
    let choices = BTreeMap::from([("/usr/bin/bar".to_owned(), "c".to_owned())]);
    let plan = plan(&f.packages(), &choices).unwrap();
    let out = f.out();
    materialise(&plan, &out).unwrap();
    assert_eq!(fs::read_to_string(out.join("usr/bin/foo")).unwrap(), "b");
    assert_eq!(fs::read_to_string(out.join("usr/bin/bar")).unwrap(), "c");
    assert_eq!(plan.settled["/usr/bin/foo"].by, "replaces");
    assert_eq!(plan.settled["/usr/bin/bar"].by, "choice");
}

#[test]
fn a_directory_wins_over_a_link() {
    let mut f = Fixture::new();
    let a = f.package("a", "1", "");
    link(&a, "usr/share/doc/a", "b");
    let b = f.package("b", "1", "");
    file(&b, "usr/share/doc/a/copyright", "c");
    let plan = plan(&f.packages(), &BTreeMap::new()).unwrap();
    assert_eq!(plan.nodes[Path::new("usr/share/doc/a")].kind, Kind::Dir);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("/usr/share/doc/a: the link to b of package a (1)")),
        "{:?}",
        plan.notes
    );
    // A file where another package has a directory is an error.
    let mut f = Fixture::new();
    let a = f.package("a", "1", "");
    file(&a, "usr/lib/x", "file");
    let b = f.package("b", "1", "");
    file(&b, "usr/lib/x/y", "y");
    let err = plan_err(&f);
    assert!(err.contains("collision at /usr/lib/x"), "{err}");
}

fn plan_err(f: &Fixture) -> String {
    plan(&f.packages(), &BTreeMap::new())
        .unwrap_err()
        .to_string()
}
