//! The Debian package set as derivations: a fake archive made with `dpkg-deb`, locked,
//! evaluated with `modules/pkgs/debian.nix` into `.drv` files in the store, and realised by the
//! scheduler with the builtin builders (`builtin:fetchurl`, `builtin:unpack-deb`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use strata_builder::build::BuildOptions;
use strata_builder::debian::archive::fake::{self, FakeDeb, FakePackage};
use strata_builder::debian::archive::{update_lock, Archive};
use strata_builder::debian::lock::{sha256_hex, LockFile};
use strata_builder::eval_io::StoreIo;
use strata_builder::fetch::file_url;
use strata_builder::pkgs::{drv_path, eval_debian_pkgs, out_path};
use strata_builder::scheduler::{realise_all, Progress, SchedulerError, SchedulerOptions};
use strata_lang::{EvalConfig, Evaluator};
use strata_store::{Hash, HashAlgo, LocalStore, StoreDir, StorePath};

const SUITE: &str = "fake";

const PKGS: &[FakePackage<'static>] = &[
    FakePackage {
        name: "hello",
        version: "2.10-3",
        arch: "amd64",
        depends: "libgreet (>= 1.0)",
        file: ("usr/bin/hello", "#!/bin/sh\necho hello\n"),
    },
    FakePackage {
        name: "libgreet",
        version: "1:1.2~rc1-1",
        arch: "amd64",
        depends: "",
        file: ("usr/share/greet/words", "hello, world\n"),
    },
];

struct Fixture {
    dir: tempfile::TempDir,
    debs: Vec<FakeDeb>,
}

impl Fixture {
    fn archive_dir(&self) -> PathBuf {
        self.dir.path().join("archive")
    }

    fn mirror(&self) -> String {
        file_url(&self.archive_dir())
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn deb_file(&self, name: &str) -> PathBuf {
        let d = self.debs.iter().find(|d| d.name == name).unwrap();
        self.archive_dir().join(&d.filename)
    }

    fn store(&self) -> LocalStore {
        LocalStore::open(self.root(), StoreDir::new("/nix/store").unwrap()).unwrap()
    }

    /// The lock and its digest's text.
    fn lock(&self) -> (LockFile, String) {
        let archive = Archive::configure(
            Some(&self.mirror()),
            Some(SUITE),
            "amd64",
            &self.archive_dir(),
        )
        .unwrap();
        let (lock, digest) = update_lock(&archive).unwrap();
        (lock, String::from_utf8(digest).unwrap())
    }
}

/// A fake archive with `dpkg-deb --build`-made packages and a gzipped `Packages` index.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (_, debs) = fake::build(&dir.path().join("archive"), SUITE, PKGS).unwrap();
    Fixture { dir, debs }
}

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules")
}

/// The package set's paths for `name`, evaluated in read-write mode (the `.drv` files are
/// written into the store): (unpack .drv, fetch .drv, unpacked output, .deb output).
struct Paths {
    drv: StorePath,
    deb_drv: StorePath,
    out: StorePath,
    deb_out: StorePath,
}

fn evaluate(f: &Fixture, (lock, digest): &(LockFile, String), name: &str) -> Paths {
    let io = StoreIo::new(f.store());
    let mut ev = Evaluator::new(EvalConfig::default(), Rc::new(io));
    let set = match eval_debian_pkgs(&mut ev, &modules(), lock, digest) {
        Ok(s) => s,
        Err(e) => panic!("{}", e.render(&ev.sources)),
    };
    let store = f.store();
    let mut get = |path: &[&str], drv: bool| {
        let p = if drv {
            drv_path(&mut ev, &set, path)
        } else {
            out_path(&mut ev, &set, path)
        };
        store.parse_path(&p.unwrap()).unwrap()
    };
    Paths {
        drv: get(&[name], true),
        deb_drv: get(&["debs", name], true),
        out: get(&[name], false),
        deb_out: get(&["debs", name], false),
    }
}

type Events = Arc<Mutex<Vec<String>>>;

/// Each target's outputs by name.
type Built = BTreeMap<StorePath, BTreeMap<String, StorePath>>;

fn realise(
    f: &Fixture,
    targets: &[StorePath],
    mirror: Option<String>,
) -> (Result<Built, SchedulerError>, Vec<String>) {
    let events: Events = Arc::default();
    let ev = Arc::clone(&events);
    let opts = SchedulerOptions {
        jobs: 2,
        build: BuildOptions {
            debian_mirror: mirror,
            ..Default::default()
        },
        progress: Some(Arc::new(move |p: &Progress<'_>| {
            let e = match p {
                Progress::Skipped { drv } => format!("skipped {}", drv.name()),
                Progress::Started { drv } => format!("started {}", drv.name()),
                Progress::Finished { drv, .. } => format!("finished {}", drv.name()),
                Progress::Failed { drv, .. } => format!("failed {}", drv.name()),
                Progress::DependencyFailed { drv, .. } => {
                    format!("dependency-failed {}", drv.name())
                }
            };
            ev.lock().unwrap().push(e);
        })),
        ..Default::default()
    };
    let store = f.store();
    let r = realise_all(&f.root(), store.store_dir(), targets, &opts);
    let events = events.lock().unwrap().clone();
    (r, events)
}

/// No leftovers of a build in the physical store directory.
fn no_leftovers(store: &LocalStore) {
    for e in fs::read_dir(store.real_store_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".tmp-built-"), "leftover {name}");
    }
}

#[test]
fn debian_package_builds_from_the_lock() {
    let f = fixture();
    let lock = f.lock();
    let lines = strata_builder::debian::digest::split(&lock.1).unwrap();
    let names: Vec<&str> = lines.records.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["hello", "libgreet"]);
    let hello = evaluate(&f, &lock, "hello");
    let greet = evaluate(&f, &lock, "libgreet");
    let store = f.store();
    assert!(store.is_valid(&hello.drv).unwrap(), "the .drv was written");
    assert!(!store.is_valid(&hello.out).unwrap());
    // The .drv names no host: the URL is a mirror:// one.
    let text = fs::read_to_string(store.real_path(&hello.deb_drv)).unwrap();
    assert!(text.contains("mirror://debian/pool/main/h/hello/hello_2.10-3_amd64.deb"));
    assert!(!text.contains(&f.mirror()));
    // Names hold no `~` or `:`.
    assert!(
        greet.out.name().ends_with("libgreet-1_1.2_rc1-1"),
        "{}",
        greet.out.name()
    );
    assert_eq!(greet.deb_out.name(), "libgreet_1.2_rc1-1_amd64.deb");

    let (r, events) = realise(
        &f,
        &[hello.drv.clone(), greet.drv.clone()],
        Some(f.mirror()),
    );
    let built = r.unwrap();
    assert_eq!(built[&hello.drv]["out"], hello.out);
    assert_eq!(
        events.iter().filter(|e| e.starts_with("finished")).count(),
        4,
        "{events:?}"
    );
    for (paths, pkg) in [(&hello, &PKGS[0]), (&greet, &PKGS[1])] {
        let (file, contents) = pkg.file;
        assert!(store.is_valid(&paths.out).unwrap());
        assert!(store.is_valid(&paths.deb_out).unwrap());
        let out = store.real_path(&paths.out);
        assert_eq!(fs::read_to_string(out.join(file)).unwrap(), contents);
        let info = store.path_info(&paths.out).unwrap().unwrap();
        assert_eq!(info.deriver.as_ref(), Some(&paths.drv));
        let deb_info = store.path_info(&paths.deb_out).unwrap().unwrap();
        assert!(deb_info.ca.as_deref().unwrap().starts_with("fixed:sha256:"));
        // The store verifies the unpacked tree against its recorded hash.
        let (nar_hash, _) = strata_store::nar::hash_path(&out, HashAlgo::Sha256).unwrap();
        assert_eq!(nar_hash, info.nar_hash);
    }
    // The .deb is the one the lock pins.
    let deb = fs::read(store.real_path(&hello.deb_out)).unwrap();
    assert_eq!(sha256_hex(&deb), f.debs[0].sha256);
    no_leftovers(&store);

    // Everything is valid: a second realise builds nothing (and needs no mirror).
    let (r, events) = realise(&f, std::slice::from_ref(&hello.drv), None);
    r.unwrap();
    assert_eq!(events, [format!("skipped {}", hello.drv.name())]);

    // Evaluating again gives the same derivations.
    let again = evaluate(&f, &lock, "hello");
    assert_eq!(again.drv, hello.drv);
    assert_eq!(again.deb_drv, hello.deb_drv);
}

#[test]
fn corrupted_deb_fails_with_both_hashes() {
    let f = fixture();
    let lock = f.lock();
    let hello = evaluate(&f, &lock, "hello");
    // The archive changes after locking.
    let corrupt = b"!<arch>\nnot the package the lock pins\n";
    fs::write(f.deb_file("hello"), corrupt).unwrap();
    let (r, events) = realise(&f, std::slice::from_ref(&hello.drv), Some(f.mirror()));
    let err = r.unwrap_err();
    let msg = err.to_string();
    let digest = strata_store::hash::from_hex(&f.debs[0].sha256).unwrap();
    let expected = Hash::from_digest(HashAlgo::Sha256, &digest).unwrap();
    let got = Hash::of(HashAlgo::Sha256, corrupt);
    assert!(msg.contains("hash mismatch"), "{msg}");
    assert!(msg.contains(&expected.to_sri()), "{msg}");
    assert!(msg.contains(&got.to_sri()), "{msg}");
    assert!(
        events.contains(&format!("failed {}", hello.deb_drv.name())),
        "{events:?}"
    );
    assert!(
        events.contains(&format!("dependency-failed {}", hello.drv.name())),
        "{events:?}"
    );
    let store = f.store();
    assert!(!store.is_valid(&hello.deb_out).unwrap());
    assert!(!store.is_valid(&hello.out).unwrap());
    assert!(!store.real_path(&hello.deb_out).exists());
    no_leftovers(&store);
}

#[test]
fn mirror_url_needs_a_mirror() {
    let f = fixture();
    let lock = f.lock();
    let greet = evaluate(&f, &lock, "libgreet");
    let (r, _) = realise(&f, std::slice::from_ref(&greet.deb_drv), None);
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("STRATA_DEBIAN_MIRROR"), "{msg}");
    assert!(!f.store().is_valid(&greet.deb_out).unwrap());
}
