//! Many store handles on one root at once: threads and a child process, each with its own
//! [`LocalStore`], add overlapping text paths, trees and export streams while another handle
//! collects garbage in a loop.
//!
//! Every worker follows the protocol a client needs to keep what it adds: it creates the GC
//! root of a path *before* adding it (the path is known in advance: text and source paths are
//! content-addressed, and a stream names its paths). A GC that starts after the root exists
//! keeps the path; one that runs while the add is staging is excluded by the GC lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use strata_store::local::GcOptions;
use strata_store::{LocalStore, StorePath};

use crate::common::{
    assert_verify_clean, base_names, child, closure, env_path, expected_source_path,
    expected_text_path, force_symlink, open, store_entries, write_tree, Rng,
};

/// Threads doing adds; one more worker runs as a child process.
const THREADS: usize = 3;
const WORKERS: usize = THREADS + 1;
const TEXTS: usize = 24;
const TREES: usize = 6;
const STREAMS: usize = 3;
const JUNK: usize = 8;

#[derive(Debug, Clone, Copy)]
enum Op {
    Text(usize),
    Tree(usize),
    Stream(usize),
    Junk(usize),
}

/// Text `j` refers to texts `j-1` and `j/2`.
fn text_refs(j: usize) -> BTreeSet<usize> {
    if j == 0 {
        BTreeSet::new()
    } else {
        [j - 1, j / 2].into_iter().collect()
    }
}

fn text_body(j: usize, refs: &BTreeSet<StorePath>) -> Vec<u8> {
    let mut body = format!("text {j}\n");
    for r in refs {
        body.push_str(&format!("/nix/store/{}\n", r.base_name()));
    }
    body.into_bytes()
}

fn tree_seed(i: usize) -> u64 {
    1000 + i as u64
}

fn tree_src(work: &Path, w: usize, i: usize) -> PathBuf {
    work.join(format!("src-w{w}/tree-{i}"))
}

fn stream_file(work: &Path, s: usize) -> PathBuf {
    work.join(format!("stream-{s}.bin"))
}

/// The paths of stream `s` in stream order, each as `base ref-base...`; the last is the top,
/// whose closure is the whole stream.
fn stream_manifest(work: &Path, s: usize) -> Vec<(StorePath, BTreeSet<StorePath>)> {
    let text = fs::read_to_string(work.join(format!("stream-{s}.paths"))).expect("manifest");
    text.lines()
        .map(|l| {
            let mut it = l
                .split(' ')
                .map(|b| StorePath::from_base_name(b).expect("base name"));
            let p = it.next().expect("path");
            (p, it.collect())
        })
        .collect()
}

/// What worker `w` does, in a worker-specific order: overlapping subsets of everything.
fn plan(w: usize, seed: u64) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    ops.extend((0..TEXTS).filter(|j| j % WORKERS != w).map(Op::Text));
    ops.extend(
        (0..TREES)
            .filter(|i| (i + w) % 2 == 0 || *i == 0)
            .map(Op::Tree),
    );
    ops.extend(
        (0..STREAMS)
            .filter(|s| (s + w) % 2 == 1 || *s == 0)
            .map(Op::Stream),
    );
    ops.extend((0..JUNK).map(Op::Junk));
    Rng::new(seed ^ ((w as u64 + 1) * 7919)).shuffle(&mut ops);
    ops
}

struct Worker<'a> {
    w: usize,
    store: LocalStore,
    work: &'a Path,
    texts: BTreeMap<usize, StorePath>,
    /// Every path the store handed back, with the NAR hash it reported.
    got: Vec<(StorePath, String)>,
    /// The roots this worker made: link name → the item's index for unrooting.
    roots: Vec<(PathBuf, usize)>,
}

impl Worker<'_> {
    fn root_first(&mut self, name: String, p: &StorePath, item: usize) {
        let link = self.store.state_dir().join("gcroots").join(name);
        force_symlink(self.store.print(p), &link);
        self.roots.push((link, item));
    }

    fn text(&mut self, j: usize) -> Result<StorePath, String> {
        if let Some(p) = self.texts.get(&j) {
            return Ok(p.clone());
        }
        let mut refs = BTreeSet::new();
        for r in text_refs(j) {
            refs.insert(self.text(r)?);
        }
        let name = format!("text-{j}");
        let body = text_body(j, &refs);
        let expected = expected_text_path(&name, &body, &refs);
        self.root_first(format!("w{}-text-{j}", self.w), &expected, j);
        let info = self
            .store
            .add_text(&name, &body, &refs)
            .map_err(|e| format!("worker {}: add_text {name}: {e}", self.w))?;
        assert_eq!(info.path, expected);
        self.got.push((info.path.clone(), info.nar_hash.to_sri()));
        self.texts.insert(j, info.path.clone());
        Ok(info.path)
    }

    fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        for op in ops {
            match *op {
                Op::Text(j) => {
                    self.text(j)?;
                }
                Op::Tree(i) => {
                    let src = tree_src(self.work, self.w, i);
                    let name = format!("tree-{i}");
                    let (expected, hash) = expected_source_path(&src, &name);
                    self.root_first(format!("w{}-tree-{i}", self.w), &expected, i);
                    let info = self
                        .store
                        .add_path(&src, Some(&name))
                        .map_err(|e| format!("worker {}: add_path {name}: {e}", self.w))?;
                    assert_eq!((&info.path, &info.nar_hash), (&expected, &hash));
                    self.got.push((info.path, info.nar_hash.to_sri()));
                }
                Op::Stream(s) => {
                    let manifest = stream_manifest(self.work, s);
                    let (top, _) = manifest.last().expect("non-empty stream");
                    self.root_first(format!("w{}-stream-{s}", self.w), &top.clone(), s);
                    let file = fs::File::open(stream_file(self.work, s)).expect("open stream");
                    let imported = self
                        .store
                        .import(file)
                        .map_err(|e| format!("worker {}: import stream {s}: {e}", self.w))?;
                    let want: Vec<StorePath> = manifest.iter().map(|(p, _)| p.clone()).collect();
                    assert_eq!(imported, want);
                    for p in imported {
                        let info = self
                            .store
                            .require_info(&p)
                            .map_err(|e| format!("worker {}: after import: {e}", self.w))?;
                        self.got.push((p, info.nar_hash.to_sri()));
                    }
                }
                Op::Junk(k) => {
                    // Garbage: never rooted, and referring to a rooted path.
                    let r = self.text(k % TEXTS)?;
                    let refs: BTreeSet<StorePath> = [r].into_iter().collect();
                    let info = self
                        .store
                        .add_text(&format!("junk-{}-{k}", self.w), b"junk", &refs)
                        .map_err(|e| format!("worker {}: junk: {e}", self.w))?;
                    self.got.push((info.path, info.nar_hash.to_sri()));
                }
            }
        }
        // Drop some roots again, so that their paths become garbage unless another worker
        // still roots them.
        for (link, item) in &self.roots {
            if (item + self.w) % 3 == 0 {
                let _ = fs::remove_file(link);
            }
        }
        Ok(())
    }
}

fn run_worker(
    root: &Path,
    work: &Path,
    w: usize,
    seed: u64,
) -> Result<Vec<(StorePath, String)>, String> {
    let store = LocalStore::open(root, strata_store::StoreDir::default())
        .map_err(|e| format!("worker {w}: open: {e}"))?;
    let mut worker = Worker {
        w,
        store,
        work,
        texts: BTreeMap::new(),
        got: Vec::new(),
        roots: Vec::new(),
    };
    worker.run(&plan(w, seed))?;
    Ok(worker.got)
}

/// The child-process worker: prints `GOT <base name> <nar hash>` for every path it got.
pub fn child_worker() {
    let root = env_path("STRATA_TEST_ROOT");
    let work = env_path("STRATA_TEST_WORK");
    let w: usize = std::env::var("STRATA_TEST_WORKER")
        .expect("worker")
        .parse()
        .expect("number");
    let seed: u64 = std::env::var("STRATA_TEST_WORKER_SEED")
        .expect("seed")
        .parse()
        .expect("number");
    match run_worker(&root, &work, w, seed) {
        Ok(got) => {
            for (p, h) in got {
                println!("GOT {} {h}", p.base_name());
            }
        }
        Err(e) => panic!("{e}"),
    }
}

/// Writes the per-worker source trees and the export streams the workers import; returns the
/// reference graph of everything that can be rooted.
fn prepare(work: &Path) -> BTreeMap<StorePath, BTreeSet<StorePath>> {
    let mut graph = BTreeMap::new();
    for w in 0..WORKERS {
        for i in 0..TREES {
            write_tree(&tree_src(work, w, i), tree_seed(i), 30, &[]);
        }
    }
    for i in 0..TREES {
        let (p, _) = expected_source_path(&tree_src(work, 0, i), &format!("tree-{i}"));
        graph.insert(p, BTreeSet::new());
    }
    let mut texts: Vec<StorePath> = Vec::new();
    for j in 0..TEXTS {
        let refs: BTreeSet<StorePath> = text_refs(j).iter().map(|&r| texts[r].clone()).collect();
        let p = expected_text_path(&format!("text-{j}"), &text_body(j, &refs), &refs);
        graph.insert(p.clone(), refs);
        texts.push(p);
    }
    // Each stream: its own tree, a copy of worker tree `s` (so imports and adds race for the
    // same path), and two texts on top.
    let mut scratch = open(&work.join("scratch"));
    for s in 0..STREAMS {
        let own_src = work.join(format!("stream-src-{s}"));
        write_tree(&own_src, 5000 + s as u64, 40, &[100_000]);
        let own = scratch
            .add_path(&own_src, Some("stream-tree"))
            .expect("add");
        let shared_src = work.join(format!("shared-src-{s}"));
        write_tree(&shared_src, tree_seed(s), 30, &[]);
        let shared = scratch
            .add_path(&shared_src, Some(&format!("tree-{s}")))
            .expect("add");
        let mid_refs: BTreeSet<StorePath> = [own.path.clone()].into_iter().collect();
        let mid = scratch
            .add_text(&format!("stream-{s}-mid"), b"mid", &mid_refs)
            .expect("add");
        let top_refs: BTreeSet<StorePath> = [mid.path.clone(), shared.path.clone()]
            .into_iter()
            .collect();
        let top = scratch
            .add_text(&format!("stream-{s}-top"), b"top", &top_refs)
            .expect("add");
        let set = scratch
            .closure(std::slice::from_ref(&top.path))
            .expect("closure");
        let order = scratch.topo_sort(&set).expect("sort");
        let mut out = fs::File::create(stream_file(work, s)).expect("create");
        scratch.export(&order, &mut out).expect("export");
        let mut manifest = String::new();
        for p in &order {
            let refs = scratch.require_info(p).expect("info").references;
            manifest.push_str(p.base_name());
            for r in &refs {
                manifest.push(' ');
                manifest.push_str(r.base_name());
            }
            manifest.push('\n');
            graph.insert(p.clone(), refs);
        }
        fs::write(work.join(format!("stream-{s}.paths")), manifest).expect("write");
    }
    graph
}

/// The store paths the links directly in `gcroots/` point at.
fn rooted(store: &LocalStore) -> BTreeSet<StorePath> {
    fs::read_dir(store.state_dir().join("gcroots"))
        .expect("ls gcroots")
        .filter_map(|e| {
            let t = fs::read_link(e.expect("entry").path()).ok()?;
            store.parse_path(t.to_str()?).ok()
        })
        .collect()
}

#[test]
fn concurrent_adds_imports_and_gc_keep_the_store_consistent() {
    let seed = crate::common::seed("concurrent_adds_imports_and_gc");
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().to_owned();
    let root = work.join("root");
    let graph = prepare(&work);
    let pre = {
        let mut store = open(&root);
        let pre = store
            .add_text("pre", b"rooted before the workers start", &BTreeSet::new())
            .expect("add")
            .path;
        force_symlink(store.print(&pre), &store.state_dir().join("gcroots/pre"));
        pre
    };

    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let collector = {
        let (root, done, start) = (root.clone(), done.clone(), start.clone());
        std::thread::spawn(move || -> Result<(usize, usize), String> {
            let mut store = open(&root);
            start.wait();
            let (mut runs, mut deleted) = (0, 0);
            loop {
                let finished = done.load(Ordering::SeqCst);
                let res = store
                    .gc(&GcOptions {
                        dry_run: runs % 3 == 2,
                        ..GcOptions::default()
                    })
                    .map_err(|e| format!("gc: {e}"))?;
                runs += 1;
                deleted += res.deleted.len();
                if finished {
                    return Ok((runs, deleted));
                }
            }
        })
    };
    let mut proc = child("worker")
        .env("STRATA_TEST_ROOT", &root)
        .env("STRATA_TEST_WORK", &work)
        .env("STRATA_TEST_WORKER", THREADS.to_string())
        .env("STRATA_TEST_WORKER_SEED", seed.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child worker");
    let threads: Vec<_> = (0..THREADS)
        .map(|w| {
            let (root, work, start) = (root.clone(), work.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                run_worker(&root, &work, w, seed)
            })
        })
        .collect();
    let mut got: Vec<(StorePath, String)> = Vec::new();
    let mut errors = Vec::new();
    for t in threads {
        match t.join().expect("worker thread panicked") {
            Ok(g) => got.extend(g),
            Err(e) => errors.push(e),
        }
    }
    let out = std::mem::take(&mut proc.stdout);
    let status = proc.wait().expect("wait for the child worker");
    let text = std::io::read_to_string(out.expect("stdout")).expect("read");
    if !status.success() {
        errors.push(format!("child worker failed: {status}"));
    }
    for l in text.lines().filter_map(|l| l.strip_prefix("GOT ")) {
        let (base, hash) = l.split_once(' ').expect("GOT line");
        got.push((
            StorePath::from_base_name(base).expect("path"),
            hash.to_owned(),
        ));
    }
    done.store(true, Ordering::SeqCst);
    let gc = collector.join().expect("collector panicked");
    assert!(errors.is_empty(), "workers failed: {errors:#?}");
    let (runs, deleted) = gc.expect("the concurrent GC failed");
    eprintln!("{runs} GC runs deleted {deleted} paths alongside the workers");

    let mut store = open(&root);
    assert_verify_clean(&store);
    let roots = rooted(&store);
    assert!(roots.contains(&pre));
    let live = closure(&graph, roots.iter().cloned().chain([pre.clone()]));
    let valid = store.valid_paths().expect("list");
    let missing: Vec<String> = live.difference(&valid).map(|p| store.print(p)).collect();
    assert!(missing.is_empty(), "rooted paths were lost: {missing:#?}");
    for (p, hash) in &got {
        if live.contains(p) {
            let info = store.require_info(p).expect("a rooted path is valid");
            assert_eq!(&info.nar_hash.to_sri(), hash, "{}", store.print(p));
        }
    }
    // Everything the workers added that nothing roots any more is garbage now.
    let res = store.gc(&GcOptions::default()).expect("final gc");
    assert_eq!(
        store.valid_paths().expect("list"),
        live,
        "after {:?}",
        res.deleted
    );
    assert_eq!(store_entries(&store), base_names(&live));
    assert_verify_clean(&store);
}

#[test]
fn many_handles_open_a_fresh_root_at_once() {
    for round in 0..20 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (root, start) = (root.clone(), start.clone());
                std::thread::spawn(move || -> Result<StorePath, String> {
                    start.wait();
                    let mut s = LocalStore::open(&root, strata_store::StoreDir::default())
                        .map_err(|e| format!("round {round} thread {t}: open: {e}"))?;
                    let p = s
                        .add_text("shared", b"same for all", &BTreeSet::new())
                        .map_err(|e| format!("round {round} thread {t}: add: {e}"))?;
                    Ok(p.path)
                })
            })
            .collect();
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread panicked"))
            .collect();
        let paths: BTreeSet<StorePath> = results
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(paths.len(), 1);
        let store = open(&root);
        assert_eq!(store.valid_paths().expect("list"), paths);
        assert_verify_clean(&store);
    }
}

/// A path an add reports must still be valid when the caller roots it after checking, so an
/// add must not answer from under a running collection, even when the path is valid already:
/// the collection may have found it dead before the caller's root existed. The test holds the
/// exclusive GC lock, as `gc` does for its whole run, and checks that adds of paths that are
/// valid already do not return until it is released.
#[test]
fn adds_of_valid_paths_wait_for_a_running_gc() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let src = tmp.path().join("tree");
    write_tree(&src, 3, 5, &[]);
    let mut store = open(&root);
    let text = store
        .add_text("t", b"t", &BTreeSet::new())
        .expect("add")
        .path;
    let tree = store.add_path(&src, None).expect("add").path;
    let stream = tmp.path().join("stream.bin");
    store
        .export(
            std::slice::from_ref(&tree),
            &mut fs::File::create(&stream).expect("create"),
        )
        .expect("export");

    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(store.state_dir().join("gc.lock"))
        .expect("open gc.lock");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let returned = Arc::new(AtomicBool::new(false));
    let adder = {
        let (root, src, returned) = (root.clone(), src.clone(), returned.clone());
        std::thread::spawn(move || {
            let mut s = open(&root);
            let a = s.add_text("t", b"t", &BTreeSet::new()).map(|i| i.path);
            returned.store(true, Ordering::SeqCst);
            let b = s.add_path(&src, None).map(|i| i.path);
            returned.store(true, Ordering::SeqCst);
            let c = s.import(fs::File::open(&stream).expect("open"));
            returned.store(true, Ordering::SeqCst);
            (a, b, c)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !returned.load(Ordering::SeqCst),
        "an add reported a path while a GC held the lock"
    );
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::Unlock).expect("unlock");
    let (a, b, c) = adder.join().expect("adder panicked");
    assert_eq!(a.expect("add_text"), text);
    assert_eq!(b.expect("add_path"), tree);
    assert_eq!(c.expect("import"), vec![tree]);
}

/// Roots come and go while a GC scans them (`rm result`, profile switches); one that vanishes
/// between the directory listing and reading the link must not fail the collection. Many
/// stable roots make each scan long enough for the churning ones to vanish during it.
#[test]
fn gc_tolerates_roots_vanishing_during_the_scan() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let mut store = open(&root);
    let p = store
        .add_text("rooted", b"rooted", &BTreeSet::new())
        .expect("add")
        .path;
    let target = store.print(&p);
    let gcroots = store.state_dir().join("gcroots");
    for i in 0..2000 {
        force_symlink(&target, &gcroots.join(format!("stable-{i}")));
    }
    let links: Vec<PathBuf> = (0..50)
        .map(|i| gcroots.join(format!("churn-{i}")))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let churn = {
        let (links, target, done) = (links.clone(), target.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                for l in &links {
                    let _ = std::os::unix::fs::symlink(&target, l);
                }
                for l in &links {
                    let _ = fs::remove_file(l);
                }
            }
        })
    };
    let mut failures = Vec::new();
    for _ in 0..40 {
        match store.gc(&GcOptions::default()) {
            Ok(res) => assert!(res.deleted.is_empty(), "{:?}", res.deleted),
            Err(e) => failures.push(e.to_string()),
        }
    }
    done.store(true, Ordering::SeqCst);
    churn.join().expect("churn thread");
    assert!(
        failures.is_empty(),
        "{} of 40 GC runs failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    assert!(store.is_valid(&p).expect("valid"));
}
