//! What the benchmarks that build Debian userspace share: a lock's digest read out of a store,
//! the `.deb`s a store holds mapped back to the digest's records, a local `file://` mirror
//! made of them, and a copy of the lock with its digest beside it (so a build in a new store
//! needs no network for the digest).
//!
//! Must not: touch the network, or name the archive's host anywhere (the archive is only ever
//! what the host's apt sources say, through strata).

use std::fs;
use std::path::{Path, PathBuf};

use strata_builder::debian::archive::{deb_store_name, digest_store_path};
use strata_builder::debian::digest::{split, DigestRecord};
use strata_builder::debian::lock::LockFile;
use strata_store::{Hash, HashAlgo, LocalStore, StoreDir};

/// The lock at `lock`, read.
#[allow(dead_code)]
pub fn read_lock(lock: &Path) -> LockFile {
    let text = fs::read_to_string(lock).unwrap_or_else(|e| panic!("{}: {e}", lock.display()));
    LockFile::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", lock.display()))
}

/// The text of `lock`'s digest in the store at `root` (which must hold it).
#[allow(dead_code)]
pub fn digest_in_store(root: &Path, lock: &LockFile) -> String {
    let store = LocalStore::open(root, StoreDir::default()).expect("open the store");
    let path = digest_store_path(&store, lock).expect("the digest's store path");
    let file = store.real_path(&path);
    fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("the digest {}: {e} (not in the store?)", file.display()))
}

/// Every record of a digest's text, by name.
#[allow(dead_code)]
pub fn records(digest: &str) -> std::collections::BTreeMap<String, DigestRecord> {
    let lines = split(digest).expect("a well-formed digest");
    lines
        .records
        .iter()
        .map(|(name, line)| {
            let r: DigestRecord = serde_json::from_str(line).expect("a digest record");
            ((*name).to_owned(), r)
        })
        .collect()
}

/// Where the `.deb` of `record` is (or would be) in the store at `root`: the fixed-output
/// path named [`deb_store_name`] of its file name, with its sha256.
#[allow(dead_code)]
pub fn deb_in_store(root: &Path, record: &DigestRecord) -> PathBuf {
    let digest = strata_store::hash::from_hex(&record.sha256).expect("a sha256 in hex");
    let hash = Hash::from_digest(HashAlgo::Sha256, &digest).expect("a sha256");
    let dir = StoreDir::default();
    let path = dir
        .make_fixed_output_path(&deb_store_name(&record.filename), false, &hash)
        .expect("a store path");
    root.join(dir.display(&path).trim_start_matches('/'))
}

/// Puts the `.deb` of every record the store at `root` holds into `mirror` at its
/// archive-relative `filename` (a hard link, else a copy); returns the records put there.
#[allow(dead_code)]
pub fn copy_debs<'a>(
    root: &Path,
    records: impl IntoIterator<Item = &'a DigestRecord>,
    mirror: &Path,
) -> Vec<&'a DigestRecord> {
    let mut copied = Vec::new();
    for r in records {
        let src = deb_in_store(root, r);
        if !src.is_file() {
            continue;
        }
        let dst = mirror.join(&r.filename);
        fs::create_dir_all(dst.parent().expect("a pool path has a directory"))
            .expect("create the pool directory");
        if dst.exists() {
            fs::remove_file(&dst).expect("replace a pool file");
        }
        if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst)
                .unwrap_or_else(|e| panic!("copy {} to the mirror: {e}", src.display()));
        }
        copied.push(r);
    }
    copied
}

/// A copy of `lock` in `dir` (as `strata.lock`) with `digest` beside it as `debian-digest`,
/// which a build takes instead of making the digest from the archive's indexes; returns the
/// copy's path.
#[allow(dead_code)]
pub fn lock_with_digest(lock: &Path, digest: &str, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).expect("create the lock's directory");
    let copy = dir.join("strata.lock");
    fs::copy(lock, &copy).expect("copy the lock");
    fs::write(dir.join(strata_builder::system::DIGEST_BESIDE_LOCK), digest)
        .expect("write the digest beside the lock");
    copy
}

/// `file://<dir>`.
#[allow(dead_code)]
pub fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}
