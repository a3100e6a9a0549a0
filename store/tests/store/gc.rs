//! Garbage collection: a property test against an independently computed closure of the live
//! roots, and targeted tests of `only`, `max_freed` and leftovers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::Index;
use strata_store::local::GcOptions;
use strata_store::{LocalStore, StoreError, StorePath};

use crate::common::{
    assert_verify_clean, base_names, closure, exists, force_symlink, open, store_entries,
    write_tree,
};

/// How a generated root keeps its path alive, or fails to.
#[derive(Debug, Clone, Copy)]
enum RootKind {
    /// `gcroots/root-K` → the path.
    Direct,
    /// `gcroots/per-user/test/root-K` → a name inside the path.
    NestedInside,
    /// `profiles/system-N-link` → the path (and `profiles/system` → the newest generation).
    Profile,
    /// An indirect root: a link in a directory outside the store, registered in gcroots/auto.
    Indirect,
    /// An indirect root whose link the user then deleted: stale, keeps nothing alive.
    StaleDeleted,
    /// An indirect root whose link the user replaced by a regular file: keeps nothing alive.
    StaleReplaced,
}

fn root_kind() -> impl Strategy<Value = RootKind> {
    prop_oneof![
        Just(RootKind::Direct),
        Just(RootKind::NestedInside),
        Just(RootKind::Profile),
        Just(RootKind::Indirect),
        Just(RootKind::StaleDeleted),
        Just(RootKind::StaleReplaced),
    ]
}

/// One generated store path: indices (into the paths before it) of its references, and whether
/// it is a directory tree (only when it has no references) rather than a text file.
#[derive(Debug, Clone)]
struct Node {
    refs: Vec<Index>,
    tree: bool,
}

fn node() -> impl Strategy<Value = Node> {
    (
        prop::collection::vec(any::<Index>(), 0..4),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(refs, tree)| Node { refs, tree })
}

fn printed(store: &LocalStore, paths: &BTreeSet<StorePath>) -> BTreeSet<String> {
    paths.iter().map(|p| store.print(p)).collect()
}

fn check_gc_case(nodes: &[Node], roots: &[(RootKind, Index)]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let home = tmp.path().join("home");
    fs::create_dir(&home).expect("mkdir");
    let mut store = open(&root);

    // The graph, built by the test: paths[i] refers to paths[refs_of[i]].
    let mut paths: Vec<StorePath> = Vec::new();
    let mut graph: BTreeMap<StorePath, BTreeSet<StorePath>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        let refs: BTreeSet<StorePath> = if i == 0 {
            BTreeSet::new()
        } else {
            n.refs.iter().map(|x| paths[x.index(i)].clone()).collect()
        };
        let info = if n.tree && refs.is_empty() {
            let src = tmp.path().join(format!("src/t{i}"));
            write_tree(&src, i as u64, 5, &[]);
            store.add_path(&src, Some(&format!("tree-{i}")))
        } else {
            let mut body = format!("node {i}\n");
            for r in &refs {
                body.push_str(&store.print(r));
                body.push('\n');
            }
            store.add_text(&format!("node-{i}"), body.as_bytes(), &refs)
        }
        .expect("add");
        assert_eq!(info.references, refs);
        graph.insert(info.path.clone(), refs);
        paths.push(info.path);
    }

    // The roots, and what the test expects of them.
    let gcroots = store.state_dir().join("gcroots");
    let profiles = store.state_dir().join("profiles");
    let mut live_roots: Vec<StorePath> = Vec::new();
    let mut expected_root_links = 0usize;
    let mut expected_auto = 0usize;
    let mut generation = 0;
    for (k, (kind, idx)) in roots.iter().enumerate() {
        let p = paths[idx.index(paths.len())].clone();
        let target = store.print(&p);
        let link = home.join(format!("result-{k}"));
        match kind {
            RootKind::Direct => {
                force_symlink(&target, &gcroots.join(format!("root-{k}")));
            }
            RootKind::NestedInside => {
                let dir = gcroots.join("per-user/test");
                fs::create_dir_all(&dir).expect("mkdir");
                force_symlink(
                    format!("{target}/bin/inside"),
                    &dir.join(format!("root-{k}")),
                );
            }
            RootKind::Profile => {
                generation += 1;
                let gen_link = format!("system-{generation}-link");
                force_symlink(&target, &profiles.join(&gen_link));
                force_symlink(&gen_link, &profiles.join("system"));
            }
            RootKind::Indirect => {
                store.add_indirect_root(&link, &p).expect("indirect root");
                expected_auto += 1;
            }
            RootKind::StaleDeleted => {
                store.add_indirect_root(&link, &p).expect("indirect root");
                fs::remove_file(&link).expect("rm");
            }
            RootKind::StaleReplaced => {
                store.add_indirect_root(&link, &p).expect("indirect root");
                fs::remove_file(&link).expect("rm");
                fs::write(&link, b"no longer a link").expect("write");
                expected_auto += 1;
            }
        }
        if !matches!(kind, RootKind::StaleDeleted | RootKind::StaleReplaced) {
            live_roots.push(p);
            expected_root_links += 1;
        }
    }
    let all: BTreeSet<StorePath> = paths.iter().cloned().collect();
    let live = closure(&graph, live_roots);
    let dead: BTreeSet<StorePath> = all.difference(&live).cloned().collect();

    // A dry run reports exactly the dead paths and changes nothing.
    assert_eq!(store.valid_paths().expect("list"), all);
    let dry = store
        .gc(&GcOptions {
            dry_run: true,
            ..GcOptions::default()
        })
        .expect("dry-run gc");
    let dry_set: BTreeSet<String> = dry.deleted.iter().cloned().collect();
    assert_eq!(
        dry_set.len(),
        dry.deleted.len(),
        "duplicates in {:?}",
        dry.deleted
    );
    assert_eq!(
        dry_set,
        printed(&store, &dead),
        "dry run reports the wrong paths"
    );
    assert_eq!(dry.live, live.len());
    assert_eq!(
        store.valid_paths().expect("list"),
        all,
        "a dry run deleted something"
    );
    assert!(all.iter().all(|p| exists(&store.real_path(p))));

    // The real run deletes exactly what the dry run announced.
    let res = store.gc(&GcOptions::default()).expect("gc");
    let res_set: BTreeSet<String> = res.deleted.iter().cloned().collect();
    assert_eq!(res_set, dry_set, "the real run differs from the dry run");
    assert_eq!(res.deleted.len(), dry.deleted.len());
    assert_eq!(res.bytes_freed, dry.bytes_freed);
    assert_eq!(res.live, live.len());
    assert_eq!(res.roots, expected_root_links);
    assert_eq!(store.valid_paths().expect("list"), live);
    for p in &dead {
        assert!(
            !exists(&store.real_path(p)),
            "{} was not deleted",
            store.print(p)
        );
    }
    assert_eq!(store_entries(&store), base_names(&live));
    let report = store.verify(None).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.checked, live.len());

    // Stale indirect roots were cleaned up; the others kept.
    let auto = fs::read_dir(gcroots.join("auto")).expect("ls auto").count();
    assert_eq!(auto, expected_auto);

    // What the GC decided is committed: another handle sees it, and a second run has nothing
    // left to do.
    drop(store);
    let mut store = open(&root);
    assert_eq!(store.valid_paths().expect("list"), live);
    let again = store.gc(&GcOptions::default()).expect("gc");
    assert!(again.deleted.is_empty(), "{:?}", again.deleted);
    assert_eq!(store.valid_paths().expect("list"), live);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// After GC the valid paths are exactly the closure of the live roots; everything else is
    /// gone from disk, everything kept is intact, and a dry run announces exactly that.
    #[test]
    fn gc_keeps_exactly_the_closure_of_live_roots(
        nodes in prop::collection::vec(node(), 1..40),
        roots in prop::collection::vec((root_kind(), any::<Index>()), 0..8),
    ) {
        check_gc_case(&nodes, &roots);
    }
}

fn text(store: &mut LocalStore, name: &str, refs: &[&StorePath]) -> StorePath {
    let refs: BTreeSet<StorePath> = refs.iter().map(|p| (*p).clone()).collect();
    // Large enough to occupy disk blocks on any file system (no inline data).
    let mut body = format!("{name}\n").into_bytes();
    body.resize(64 * 1024, b'.');
    store.add_text(name, &body, &refs).expect("add text").path
}

fn root(store: &LocalStore, name: &str, p: &StorePath) {
    force_symlink(
        store.print(p),
        &store.state_dir().join("gcroots").join(name),
    );
}

#[test]
fn gc_only_deletes_exactly_the_named_dead_paths() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = open(&tmp.path().join("root"));
    let a = text(&mut store, "a", &[]);
    let b = text(&mut store, "b", &[&a]);
    let c = text(&mut store, "c", &[&b]);
    let x = text(&mut store, "x", &[]);
    let d = text(&mut store, "d", &[&x]);
    let unrelated = text(&mut store, "unrelated", &[]);
    root(&store, "d", &d);
    // A leftover that only a full GC may remove.
    let leftover = store.real_store_dir().join(".tmp-add-1-2-3");
    fs::create_dir(&leftover).expect("mkdir");
    let all = store.valid_paths().expect("list");

    let only = |paths: &[&StorePath]| GcOptions {
        only: Some(paths.iter().map(|p| (*p).clone()).collect()),
        ..GcOptions::default()
    };
    // Refused, and nothing deleted: a referrer is left, the path is alive, or not valid.
    let e = store.gc(&only(&[&a])).expect_err("b still refers to a");
    assert!(matches!(e, StoreError::CannotDelete { .. }), "{e}");
    let e = store.gc(&only(&[&x])).expect_err("x is alive");
    assert!(matches!(e, StoreError::CannotDelete { .. }), "{e}");
    let e = store.gc(&only(&[&c, &d])).expect_err("d is a root");
    assert!(matches!(e, StoreError::CannotDelete { .. }), "{e}");
    let ghost = StorePath::from_base_name("00000000000000000000000000000000-ghost").expect("path");
    let e = store.gc(&only(&[&ghost])).expect_err("not valid");
    assert!(matches!(e, StoreError::NotValid(_)), "{e}");
    assert_eq!(store.valid_paths().expect("list"), all);

    // A dry run of a legal deletion reports it and deletes nothing.
    let dry = store
        .gc(&GcOptions {
            dry_run: true,
            ..only(&[&c])
        })
        .expect("dry run");
    assert_eq!(dry.deleted, vec![store.print(&c)]);
    assert_eq!(store.valid_paths().expect("list"), all);

    // The top of a dead chain goes alone; its references stay valid and intact.
    let res = store.gc(&only(&[&c])).expect("delete c");
    assert_eq!(res.deleted, vec![store.print(&c)]);
    assert!(!exists(&store.real_path(&c)));
    assert!(store.is_valid(&b).expect("valid") && store.is_valid(&a).expect("valid"));
    // Then the rest of the chain, together.
    let res = store.gc(&only(&[&a, &b])).expect("delete a and b");
    let got: BTreeSet<String> = res.deleted.into_iter().collect();
    assert_eq!(
        got,
        [store.print(&a), store.print(&b)].into_iter().collect()
    );

    let expect: BTreeSet<StorePath> = [x, d, unrelated].into_iter().collect();
    assert_eq!(store.valid_paths().expect("list"), expect);
    assert!(
        exists(&leftover),
        "deleting named paths must not sweep the store"
    );
    assert_verify_clean(&store);
}

/// Bytes a tree occupies, by the test's own count.
fn usage(p: &Path) -> u64 {
    let md = fs::symlink_metadata(p).expect("stat");
    let mut n = md.blocks() * 512;
    if md.is_dir() {
        for e in fs::read_dir(p).expect("ls") {
            n += usage(&e.expect("entry").path());
        }
    }
    n
}

#[test]
fn gc_max_freed_stops_early_and_never_strands_a_reference() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = open(&tmp.path().join("root"));
    let live_base = text(&mut store, "live-base", &[]);
    let live = text(&mut store, "live", &[&live_base]);
    root(&store, "live", &live);
    // A dead DAG: chains hanging off shared bottoms, and trees.
    let mut dead = Vec::new();
    let bottom = text(&mut store, "bottom", &[]);
    dead.push(bottom.clone());
    let mut prev = bottom.clone();
    for i in 0..8 {
        let t = text(&mut store, &format!("chain-{i}"), &[&prev, &bottom]);
        dead.push(t.clone());
        prev = t;
    }
    for i in 0..4 {
        let src = tmp.path().join(format!("src/tree{i}"));
        write_tree(&src, 100 + i, 10, &[40_000]);
        let t = store.add_path(&src, Some("tree")).expect("add").path;
        dead.push(t.clone());
        dead.push(text(
            &mut store,
            &format!("uses-tree-{i}"),
            &[&t, &live_base],
        ));
    }
    let sizes: BTreeMap<String, u64> = dead
        .iter()
        .map(|p| (store.print(p), usage(&store.real_path(p))))
        .collect();
    let total: u64 = sizes.values().sum();
    let limit = total / 3;

    let mut rounds = 0;
    while !store
        .valid_paths()
        .expect("list")
        .iter()
        .all(|p| *p == live || *p == live_base)
    {
        rounds += 1;
        assert!(rounds <= dead.len(), "max_freed GC makes no progress");
        let before = store.valid_paths().expect("list");
        let res = store
            .gc(&GcOptions {
                max_freed: Some(limit),
                ..GcOptions::default()
            })
            .expect("gc");
        assert!(!res.deleted.is_empty());
        let freed: Vec<u64> = res.deleted.iter().map(|p| sizes[p]).collect();
        let sum: u64 = freed.iter().sum();
        let remaining_dead = before.len() - 2;
        if res.deleted.len() < remaining_dead {
            // Stopped early: it reached the limit, and not before its last deletion.
            assert!(sum >= limit, "stopped at {sum} bytes, limit {limit}");
            assert!(sum - freed[freed.len() - 1] < limit, "went past the limit");
        }
        assert_eq!(res.bytes_freed, sum);
        // Whatever is left is consistent: every reference of a valid path is valid and intact.
        for p in store.valid_paths().expect("list") {
            for r in store.require_info(&p).expect("info").references {
                assert!(
                    store.is_valid(&r).expect("valid"),
                    "a reference was stranded"
                );
            }
        }
        assert_verify_clean(&store);
        for p in &res.deleted {
            assert!(!exists(
                &store.real_store_dir().join(&p["/nix/store/".len()..])
            ));
        }
    }
    assert!(
        rounds >= 3,
        "a third of the garbage per round needs at least three rounds"
    );
    assert!(store.is_valid(&live).expect("valid"));
}

#[test]
fn full_gc_removes_unregistered_leftovers_and_only_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = open(&tmp.path().join("root"));
    let src = tmp.path().join("src");
    write_tree(&src, 7, 20, &[]);
    let kept = store.add_path(&src, None).expect("add").path;
    root(&store, "kept", &kept);
    let dead = text(&mut store, "dead", &[]);
    let real = store.real_store_dir().to_owned();

    // Leftovers as killed processes leave them: staging trees and a moved-in but never
    // registered path, read-only like store paths, a file and a symlink out of the store.
    let staging = real.join(".tmp-add-4242-0-123");
    write_tree(&staging, 1, 10, &[]);
    let fake = real.join(format!("{}-ghost", "1".repeat(32)));
    write_tree(&fake, 2, 10, &[]);
    for d in [&staging, &fake] {
        strata_store::local::canonicalise(d).expect("make read-only");
    }
    fs::write(real.join(".tmp-text-4242-1-5"), b"half a text").expect("write");
    let same_name = real.join(format!("{}-{}", "2".repeat(32), kept.name()));
    fs::create_dir(&same_name).expect("mkdir");
    // A symlink leftover must be removed without following it out of the store.
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    fs::write(outside.join("precious"), b"keep").expect("write");
    std::os::unix::fs::symlink(&outside, real.join(format!("{}-evil", "3".repeat(32))))
        .expect("symlink");
    // An `optimise` links directory is not a leftover.
    let links = real.join(".links");
    fs::create_dir(&links).expect("mkdir");

    let res = store.gc(&GcOptions::default()).expect("gc");
    assert_eq!(res.deleted, vec![store.print(&dead)]);
    assert_eq!(store_entries(&store), base_names([&kept]));
    assert!(exists(&links));
    assert_eq!(fs::read(outside.join("precious")).expect("read"), b"keep");
    assert_eq!(
        store.valid_paths().expect("list"),
        [kept].into_iter().collect()
    );
    assert_verify_clean(&store);
}

#[test]
fn gc_after_optimise_keeps_shared_files_and_prunes_unshared_links() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = open(&tmp.path().join("root"));
    let s1 = tmp.path().join("one");
    let s2 = tmp.path().join("two");
    write_tree(&s1, 9, 12, &[]);
    write_tree(&s2, 9, 12, &[]);
    fs::write(s2.join("extra"), b"only in two").expect("write");
    let one = store.add_path(&s1, None).expect("add").path;
    let two = store.add_path(&s2, None).expect("add").path;
    root(&store, "one", &one);
    let stats = store.optimise().expect("optimise");
    assert!(stats.files_linked > 0);
    let links = store.real_store_dir().join(".links");
    let shared = fs::read_dir(&links).expect("ls").count();

    let res = store.gc(&GcOptions::default()).expect("gc");
    assert_eq!(res.deleted, vec![store.print(&two)]);
    assert_eq!(
        store.valid_paths().expect("list"),
        [one.clone()].into_iter().collect()
    );
    assert_verify_clean(&store);
    // Every file of `one` is still linked from .links; the link of `two`'s extra file is gone.
    let after = fs::read_dir(&links).expect("ls").count();
    assert!(
        after < shared && after > 0,
        "{shared} links before, {after} after"
    );

    fs::remove_file(store.state_dir().join("gcroots/one")).expect("unroot");
    store.gc(&GcOptions::default()).expect("gc");
    assert!(store.valid_paths().expect("list").is_empty());
    assert_eq!(fs::read_dir(&links).expect("ls").count(), 0);
    assert!(store_entries(&store).is_empty());
}
