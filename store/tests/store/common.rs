//! Helpers shared by the store integration tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_store::hash::{Hash, HashAlgo};
use strata_store::nar;
use strata_store::{LocalStore, StoreDir, StorePath};

/// Set in a re-executed child to the work it should do.
pub const CHILD_ENV: &str = "STRATA_STORE_TEST_CHILD";

/// Opens (creating if needed) the store under `root` with the default store directory.
pub fn open(root: &Path) -> LocalStore {
    LocalStore::open(root, StoreDir::default())
        .unwrap_or_else(|e| panic!("cannot open the store under {}: {e}", root.display()))
}

/// Panics with every problem `verify` finds.
pub fn assert_verify_clean(store: &LocalStore) {
    let report = store.verify(None).expect("verify");
    assert!(
        report.problems.is_empty(),
        "verify found problems: {:#?}",
        report.problems
    );
}

/// The names in the store directory, except the `.links` directory of `optimise`.
pub fn store_entries(store: &LocalStore) -> BTreeSet<String> {
    fs::read_dir(store.real_store_dir())
        .expect("read the store dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter(|n| n != ".links")
        .collect()
}

pub fn base_names<'a>(paths: impl IntoIterator<Item = &'a StorePath>) -> BTreeSet<String> {
    paths
        .into_iter()
        .map(|p| p.base_name().to_owned())
        .collect()
}

pub fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// The closure of `roots` in `graph`, computed here rather than by the store.
pub fn closure(
    graph: &BTreeMap<StorePath, BTreeSet<StorePath>>,
    roots: impl IntoIterator<Item = StorePath>,
) -> BTreeSet<StorePath> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<StorePath> = roots.into_iter().collect();
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(graph.get(&p).into_iter().flatten().cloned());
        }
    }
    seen
}

/// The store path and NAR hash that adding the tree at `src` under `name` must give.
pub fn expected_source_path(src: &Path, name: &str) -> (StorePath, Hash) {
    let (hash, _) = nar::hash_path(src, HashAlgo::Sha256).expect("hash the source");
    let path = StoreDir::default()
        .make_source_path(name, &hash, &BTreeSet::new(), false)
        .expect("source path");
    (path, hash)
}

/// The store path that `add_text(name, body, refs)` must give.
pub fn expected_text_path(name: &str, body: &[u8], refs: &BTreeSet<StorePath>) -> StorePath {
    StoreDir::default()
        .make_text_path(name, &Hash::of(HashAlgo::Sha256, body), refs)
        .expect("text path")
}

/// A small deterministic pseudo-random generator (splitmix64), so that failures can be
/// reproduced from the printed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// The seed for randomised tests: `STRATA_TEST_SEED` if set, else one from the clock. Printed
/// so that a failing run can be repeated.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: STRATA_TEST_SEED={seed}");
    seed
}

/// A command that re-executes this test binary as a child doing `mode` (see `child_entry`).
pub fn child(mode: &str) -> Command {
    let exe = std::env::current_exe().expect("current exe");
    let mut c = Command::new(exe);
    c.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode);
    c
}

/// A required environment variable of a child, as a path.
pub fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("{name} is not set")))
}

/// Writes a tree of `files` files spread over subdirectories, with an executable, a symlink and
/// an empty file among them, plus `big` files of the given sizes. The contents depend on
/// `seed`, so different seeds give different NAR hashes.
pub fn write_tree(dir: &Path, seed: u64, files: usize, big: &[usize]) {
    fs::create_dir_all(dir).expect("mkdir");
    let mut rng = Rng::new(seed);
    // About twenty files a directory: creating directories is slow on some file systems.
    let dirs = (files / 20).max(1);
    for i in 0..files {
        let mut sub = dir.join(format!("d{:02}", i % dirs));
        if i % 5 == 4 {
            sub.push("nested");
        }
        fs::create_dir_all(&sub).expect("mkdir");
        let len = rng.below(6000) as usize;
        let mut data = format!("file {i} of tree {seed}\n").into_bytes();
        data.extend((0..len).map(|k| (k as u8).wrapping_mul(31) ^ (seed as u8)));
        let f = sub.join(format!("f{i}"));
        fs::write(&f, &data).expect("write");
        if i % 11 == 0 {
            fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    fs::write(dir.join("empty"), b"").expect("write");
    std::os::unix::fs::symlink("d00/f0", dir.join("link")).expect("symlink");
    for (k, &size) in big.iter().enumerate() {
        let mut data = vec![0u8; size];
        let mut r = Rng::new(seed ^ (k as u64 + 1));
        for chunk in data.chunks_mut(8) {
            let v = r.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        fs::write(dir.join(format!("big{k}")), &data).expect("write");
    }
}

/// Makes `link` a symlink to `target`, replacing whatever is there.
pub fn force_symlink(target: impl AsRef<Path>, link: &Path) {
    let _ = fs::remove_file(link);
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", link.display()));
}
