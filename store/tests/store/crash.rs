//! Processes killed with SIGKILL at random moments while adding a tree, importing an export
//! stream or collecting garbage. Whatever the moment, a fresh handle on the store must find
//! every path either valid and intact or not valid at all, and the store must accept the same
//! work again.
//!
//! The child is this test binary re-executed (see `child_entry`); the kill moments are spread
//! over the time one uninterrupted run of the child takes, half of them near its end. The seed is printed so a run can be
//! repeated with `STRATA_TEST_SEED`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_store::local::GcOptions;
use strata_store::{LocalStore, StorePath};

use crate::common::{
    assert_verify_clean, base_names, child, env_path, expected_source_path, force_symlink, open,
    store_entries, write_tree, Rng,
};

const KILLS: usize = 6;

pub fn child_add() {
    let mut store = open(&env_path("STRATA_TEST_ROOT"));
    let info = store
        .add_path(&env_path("STRATA_TEST_SRC"), Some("big"))
        .expect("add");
    println!("ADDED {}", store.print(&info.path));
}

pub fn child_import() {
    let mut store = open(&env_path("STRATA_TEST_ROOT"));
    let file = fs::File::open(env_path("STRATA_TEST_STREAM")).expect("open stream");
    store.import(file).expect("import");
}

pub fn child_gc() {
    let mut store = open(&env_path("STRATA_TEST_ROOT"));
    store.gc(&GcOptions::default()).expect("gc");
}

/// When to kill the `k`th child: half the moments anywhere in an uninterrupted run, half
/// around its end, where the tree is moved into place and registered.
fn kill_moment(rng: &mut Rng, k: usize, full: Duration) -> Duration {
    if k % 2 == 0 {
        full.mul_f64(rng.unit())
    } else {
        full.mul_f64(0.8 + 0.4 * rng.unit())
    }
}

/// Runs `cmd` to the end; returns how long it took, to spread the kill moments over.
fn run_to_end(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// Starts `cmd` and SIGKILLs it after `delay` (if it is still running by then). Returns whether
/// it was still running, i.e. really killed.
fn run_and_kill(cmd: &mut Command, delay: Duration) -> bool {
    let mut c = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    std::thread::sleep(delay);
    let running = c.try_wait().expect("poll the child").is_none();
    let _ = c.kill();
    let status = c.wait().expect("wait for the child");
    assert!(
        running || status.success(),
        "child failed by itself: {status}"
    );
    running
}

/// A store holding one rooted path that must survive everything.
fn store_with_keeper(root: &Path) -> StorePath {
    let mut store = open(root);
    let keep = store
        .add_text("keep", b"added before any crash", &BTreeSet::new())
        .expect("add")
        .path;
    force_symlink(store.print(&keep), &store.state_dir().join("gcroots/keep"));
    keep
}

fn check_keeper(store: &LocalStore, keep: &StorePath) {
    assert!(
        store.is_valid(keep).expect("valid"),
        "the earlier path was lost"
    );
    let r = store
        .verify(Some(std::slice::from_ref(keep)))
        .expect("verify");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

/// Deletes `paths` again (they must be valid), so the next child has the same work to do.
fn delete_again(store: &mut LocalStore, paths: &[StorePath]) {
    store
        .gc(&GcOptions {
            only: Some(paths.to_vec()),
            ..GcOptions::default()
        })
        .expect("delete");
    for p in paths {
        assert!(!store.is_valid(p).expect("valid"));
    }
}

#[test]
fn killed_add_leaves_the_path_valid_and_intact_or_absent() {
    let seed = crate::common::seed("killed_add");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("big");
    write_tree(&src, seed, 800, &[4 << 20, 4 << 20]);
    let (big, hash) = expected_source_path(&src, "big");
    let root = tmp.path().join("root");
    let keep = store_with_keeper(&root);
    let cmd = || {
        let mut c = child("add");
        c.env("STRATA_TEST_ROOT", &root)
            .env("STRATA_TEST_SRC", &src);
        c
    };

    let full = run_to_end(&mut cmd());
    eprintln!("uninterrupted child: {full:?}");
    let mut store = open(&root);
    assert_eq!(store.require_info(&big).expect("added").nar_hash, hash);
    delete_again(&mut store, std::slice::from_ref(&big));
    drop(store);

    let (mut valid, mut absent) = (0, 0);
    for k in 0..KILLS {
        run_and_kill(&mut cmd(), kill_moment(&mut rng, k, full));
        let mut store = open(&root);
        check_keeper(&store, &keep);
        assert_verify_clean(&store);
        match store.path_info(&big).expect("info") {
            Some(info) => {
                valid += 1;
                assert_eq!(info.nar_hash, hash, "valid with the wrong hash");
                delete_again(&mut store, std::slice::from_ref(&big));
            }
            None => absent += 1,
        }
    }
    eprintln!("killed_add: {valid} times valid, {absent} times absent after the kill");

    // The same add succeeds after all that, and a full GC clears every leftover.
    let mut store = open(&root);
    let info = store.add_path(&src, Some("big")).expect("add again");
    assert_eq!((&info.path, &info.nar_hash), (&big, &hash));
    force_symlink(store.print(&big), &store.state_dir().join("gcroots/big"));
    store.gc(&GcOptions::default()).expect("gc");
    assert_eq!(store_entries(&store), base_names([&keep, &big]));
    assert_verify_clean(&store);
}

#[test]
fn killed_import_registers_all_of_the_stream_or_nothing() {
    let seed = crate::common::seed("killed_import");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("big");
    write_tree(&src, seed, 800, &[4 << 20, 4 << 20]);
    // The stream: the tree and a text referring to it, made in another store.
    let stream = tmp.path().join("stream.bin");
    let expected = {
        let mut scratch = open(&tmp.path().join("scratch"));
        let tree = scratch.add_path(&src, Some("big")).expect("add").path;
        let refs: BTreeSet<StorePath> = [tree.clone()].into_iter().collect();
        let text = scratch
            .add_text("uses-big", b"uses big", &refs)
            .expect("add")
            .path;
        let order = scratch
            .topo_sort(&[tree.clone(), text.clone()].into_iter().collect())
            .expect("sort");
        let mut f = fs::File::create(&stream).expect("create");
        scratch.export(&order, &mut f).expect("export");
        order
            .iter()
            .map(|p| scratch.require_info(p).expect("info"))
            .collect::<Vec<_>>()
    };
    let paths: Vec<StorePath> = expected.iter().map(|i| i.path.clone()).collect();
    let root = tmp.path().join("root");
    let keep = store_with_keeper(&root);
    let cmd = || {
        let mut c = child("import");
        c.env("STRATA_TEST_ROOT", &root)
            .env("STRATA_TEST_STREAM", &stream);
        c
    };
    let check = |store: &LocalStore| -> bool {
        let valid: Vec<bool> = paths
            .iter()
            .map(|p| store.is_valid(p).expect("valid"))
            .collect();
        assert!(
            valid.iter().all(|v| *v) || valid.iter().all(|v| !*v),
            "an import was registered in part: {valid:?}"
        );
        if valid[0] {
            for want in &expected {
                let got = store.require_info(&want.path).expect("info");
                assert_eq!(got.nar_hash, want.nar_hash);
                assert_eq!(got.nar_size, want.nar_size);
                assert_eq!(got.references, want.references);
            }
        }
        valid[0]
    };

    let full = run_to_end(&mut cmd());
    eprintln!("uninterrupted child: {full:?}");
    let mut store = open(&root);
    assert!(
        check(&store),
        "the uninterrupted import did not register the stream"
    );
    delete_again(&mut store, &paths);
    drop(store);

    let (mut valid, mut absent) = (0, 0);
    for k in 0..KILLS {
        run_and_kill(&mut cmd(), kill_moment(&mut rng, k, full));
        let mut store = open(&root);
        check_keeper(&store, &keep);
        assert_verify_clean(&store);
        if check(&store) {
            valid += 1;
            delete_again(&mut store, &paths);
        } else {
            absent += 1;
        }
    }
    eprintln!("killed_import: {valid} times valid, {absent} times absent after the kill");

    let mut store = open(&root);
    let imported = store
        .import(fs::File::open(&stream).expect("open"))
        .expect("import again");
    assert_eq!(imported, paths);
    assert!(check(&store));
    let top = paths.last().expect("top");
    force_symlink(store.print(top), &store.state_dir().join("gcroots/top"));
    store.gc(&GcOptions::default()).expect("gc");
    let mut want: Vec<&StorePath> = paths.iter().collect();
    want.push(&keep);
    assert_eq!(store_entries(&store), base_names(want));
    assert_verify_clean(&store);
}

#[test]
fn killed_gc_never_leaves_a_valid_path_damaged() {
    let seed = crate::common::seed("killed_gc");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    // Garbage to collect: many trees, brought in by one import each round.
    let stream = tmp.path().join("garbage.bin");
    let garbage: BTreeSet<StorePath> = {
        let mut scratch = open(&tmp.path().join("scratch"));
        let mut paths = BTreeSet::new();
        for i in 0..100u64 {
            let src = tmp.path().join(format!("src/g{i}"));
            write_tree(&src, seed ^ (i << 32), 12, &[]);
            paths.insert(scratch.add_path(&src, Some("garbage")).expect("add").path);
        }
        let order = scratch.topo_sort(&paths).expect("sort");
        let mut f = fs::File::create(&stream).expect("create");
        scratch.export(&order, &mut f).expect("export");
        paths
    };
    let root = tmp.path().join("root");
    let keep = store_with_keeper(&root);
    let live_src = tmp.path().join("live");
    write_tree(&live_src, seed, 200, &[]);
    let live = {
        let mut store = open(&root);
        let p = store.add_path(&live_src, None).expect("add").path;
        force_symlink(store.print(&p), &store.state_dir().join("gcroots/live"));
        p
    };
    let import_garbage = || {
        let mut store = open(&root);
        store
            .import(fs::File::open(&stream).expect("open"))
            .expect("import garbage");
    };
    let cmd = || {
        let mut c = child("gc");
        c.env("STRATA_TEST_ROOT", &root);
        c
    };

    import_garbage();
    let full = run_to_end(&mut cmd());
    eprintln!("uninterrupted child: {full:?}");
    {
        let store = open(&root);
        let want: BTreeSet<StorePath> = [keep.clone(), live.clone()].into_iter().collect();
        assert_eq!(store.valid_paths().expect("list"), want);
    }
    for k in 0..KILLS / 2 {
        import_garbage();
        run_and_kill(&mut cmd(), kill_moment(&mut rng, k, full));
        let store = open(&root);
        check_keeper(&store, &keep);
        assert!(store.is_valid(&live).expect("valid"));
        // Every path still valid is intact; some garbage may be, the rest unregistered.
        assert_verify_clean(&store);
        for p in store.valid_paths().expect("list") {
            assert!(p == keep || p == live || garbage.contains(&p));
        }
    }
    let mut store = open(&root);
    store.gc(&GcOptions::default()).expect("gc");
    assert_eq!(store_entries(&store), base_names([&keep, &live]));
    assert_verify_clean(&store);
}
