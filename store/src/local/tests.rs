use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = LocalStore::open(dir.path().join("root"), StoreDir::default()).expect("open");
    (dir, s)
}

#[test]
fn add_text_and_query() {
    let (_d, mut s) = store();
    let a = s
        .add_text("a.txt", b"hello", &BTreeSet::new())
        .expect("add");
    let body = format!("see {}", s.print(&a.path));
    let refs: BTreeSet<_> = [a.path.clone()].into_iter().collect();
    let b = s.add_text("b.txt", body.as_bytes(), &refs).expect("add");
    assert_eq!(b.references, refs);
    assert_eq!(
        s.closure(std::slice::from_ref(&b.path))
            .expect("closure")
            .len(),
        2
    );
    assert_eq!(
        s.referrers(&a.path).expect("referrers"),
        [b.path.clone()].into_iter().collect()
    );
    let md = fs::symlink_metadata(s.real_path(&a.path)).expect("stat");
    assert_eq!(md.mode() & 0o7777, 0o444);
    assert_eq!(md.mtime(), 1);
    assert!(s.verify(None).expect("verify").problems.is_empty());
}

#[test]
fn missing_reference_is_refused_and_nothing_registered() {
    let (_d, mut s) = store();
    let ghost = StorePath::from_base_name("00000000000000000000000000000000-ghost").expect("path");
    let refs: BTreeSet<_> = [ghost].into_iter().collect();
    let e = s.add_text("x", b"x", &refs).expect_err("must fail");
    assert!(matches!(e, StoreError::MissingReference { .. }), "{e}");
    assert!(s.valid_paths().expect("list").is_empty());
    let leftovers: Vec<_> = fs::read_dir(s.real_store_dir()).expect("ls").collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn verify_reports_corruption() {
    let (d, mut s) = store();
    let src = d.path().join("tree");
    fs::create_dir(&src).expect("mkdir");
    fs::write(src.join("f"), b"original").expect("write");
    let info = s.add_path(&src, None).expect("add");
    let f = s.real_path(&info.path).join("f");
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(&f, b"tampered").expect("write");
    let report = s.verify(None).expect("verify");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("modified"));
}

#[test]
fn gc_keeps_rooted_closure_only() {
    let (_d, mut s) = store();
    let a = s.add_text("a", b"a", &BTreeSet::new()).expect("add").path;
    let b = s
        .add_text("b", b"b", &[a.clone()].into_iter().collect())
        .expect("add")
        .path;
    let c = s.add_text("c", b"c", &BTreeSet::new()).expect("add").path;
    let root = s.state_dir().join("gcroots/r");
    std::os::unix::fs::symlink(s.print(&b), &root).expect("root");
    let res = s
        .gc(&GcOptions {
            dry_run: true,
            ..Default::default()
        })
        .expect("gc");
    assert_eq!(res.deleted, vec![s.print(&c)]);
    assert!(s.is_valid(&c).expect("valid"));
    let res = s.gc(&GcOptions::default()).expect("gc");
    assert_eq!(res.deleted, vec![s.print(&c)]);
    assert!(!s.is_valid(&c).expect("valid"));
    assert!(!s.real_path(&c).exists());
    assert!(s.is_valid(&a).expect("valid") && s.is_valid(&b).expect("valid"));
    let e = s
        .gc(&GcOptions {
            only: Some(vec![a.clone()]),
            ..Default::default()
        })
        .expect_err("alive");
    assert!(e.to_string().contains("alive"), "{e}");
}

#[test]
fn topo_order_puts_references_first() {
    let p = |c: char| {
        StorePath::from_base_name(&format!("{}-{c}", c.to_string().repeat(32))).expect("p")
    };
    let (a, b, c) = (p('a'), p('b'), p('c'));
    let mut g = BTreeMap::new();
    g.insert(a.clone(), [b.clone(), a.clone()].into_iter().collect());
    g.insert(b.clone(), [c.clone()].into_iter().collect());
    g.insert(c.clone(), BTreeSet::new());
    assert_eq!(topo_order(&g), vec![c, b, a]);
}

#[test]
fn optimise_links_identical_files_and_keeps_hashes() {
    let (d, mut s) = store();
    let mk = |name: &str| {
        let t = d.path().join(name);
        fs::create_dir_all(t.join("sub")).expect("mkdir");
        fs::write(t.join("sub/same"), b"shared contents").expect("write");
        fs::write(t.join("own"), name.as_bytes()).expect("write");
        t
    };
    let a = s.add_path(&mk("one"), None).expect("add").path;
    let b = s.add_path(&mk("two"), None).expect("add").path;
    let stats = s.optimise().expect("optimise");
    assert_eq!(stats.files_linked, 1, "{stats:?}");
    let ia = fs::metadata(s.real_path(&a).join("sub/same"))
        .expect("stat")
        .ino();
    let ib = fs::metadata(s.real_path(&b).join("sub/same"))
        .expect("stat")
        .ino();
    assert_eq!(ia, ib);
    let dir_md = fs::symlink_metadata(s.real_path(&b).join("sub")).expect("stat");
    assert_eq!((dir_md.mode() & 0o7777, dir_md.mtime()), (0o555, 1));
    assert!(s.verify(None).expect("verify").problems.is_empty());
    // Running it again finds nothing more to do.
    assert_eq!(s.optimise().expect("optimise").files_linked, 0);
    // GC of one path keeps the other's shared file intact.
    s.gc(&GcOptions {
        only: Some(vec![a]),
        ..Default::default()
    })
    .expect("gc");
    assert_eq!(
        fs::read(s.real_path(&b).join("sub/same")).expect("read"),
        b"shared contents"
    );
}

/// Paths that Nix 2.8 printed for `nix-store --add-fixed [--recursive] ALGO fixed.txt` where
/// fixed.txt holds "hello world\n".
#[test]
fn fixed_output_paths_match_nix() {
    let cases = [
        (
            HashAlgo::Sha256,
            false,
            "fwvwssklc32wnkykmxbz03zw9x5l10jv-fixed.txt",
        ),
        (
            HashAlgo::Sha256,
            true,
            "adqpfcpz4vq80jk0m1rks39kjhh0h800-fixed.txt",
        ),
        (
            HashAlgo::Sha1,
            false,
            "3cw1cg8gpcarv92kvmy93wd0sz9w1y2p-fixed.txt",
        ),
        (
            HashAlgo::Sha1,
            true,
            "4x50zih6zryawsbx0q6jhsz5p2mxg0c3-fixed.txt",
        ),
        (
            HashAlgo::Md5,
            false,
            "7dw69dbp8bv985rqfjgy41m1qj4560j3-fixed.txt",
        ),
        (
            HashAlgo::Md5,
            true,
            "3jfcq5ifabnl23v21lhcx31n7nbccdjm-fixed.txt",
        ),
        (
            HashAlgo::Sha512,
            false,
            "zhdvn1wvwn3w0xz5r7qsh5s3add8v7fs-fixed.txt",
        ),
        (
            HashAlgo::Sha512,
            true,
            "qn56wr0m2pfgkf7d2qx8ly84j3qkg2iz-fixed.txt",
        ),
    ];
    let (d, mut s) = store();
    let f = d.path().join("fixed.txt");
    fs::write(&f, b"hello world\n").expect("write");
    for (algo, recursive, want) in cases {
        let info = s.add_fixed(&f, None, algo, recursive).expect("add");
        assert_eq!(info.path.base_name(), want, "{algo} recursive={recursive}");
    }
    assert!(s.verify(None).expect("verify").problems.is_empty());
    let e = s
        .add_fixed(d.path(), Some("dir"), HashAlgo::Sha256, false)
        .expect_err("flat dir");
    assert!(e.to_string().contains("regular file"), "{e}");
}

#[test]
fn derivation_outputs_are_recorded_with_the_drv() {
    let (_d, mut s) = store();
    let mut drv = crate::derivation::Derivation {
        system: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        ..Default::default()
    };
    let out = "/nix/store/00000000000000000000000000000000-x";
    let dev = "/nix/store/11111111111111111111111111111111-x-dev";
    drv.outputs.insert(
        "out".into(),
        crate::derivation::Output {
            path: out.into(),
            ..Default::default()
        },
    );
    drv.outputs.insert(
        "dev".into(),
        crate::derivation::Output {
            path: dev.into(),
            ..Default::default()
        },
    );
    let info = s
        .add_text(
            "x.drv",
            drv.to_aterm(false, None).as_bytes(),
            &BTreeSet::new(),
        )
        .expect("add");
    let outs = s.derivation_outputs(&info.path).expect("query");
    assert_eq!(outs.len(), 2);
    assert_eq!(s.print(&outs["out"]), out);
    assert_eq!(s.print(&outs["dev"]), dev);
    // Collected together with the derivation.
    s.gc(&GcOptions::default()).expect("gc");
    assert!(!s.is_valid(&info.path).expect("valid"));
}

#[test]
fn a_closure_is_copied_with_its_metadata_and_a_fixed_time() {
    let (d, mut s) = store();
    let src = d.path().join("tree");
    fs::create_dir_all(src.join("sub")).expect("mkdir");
    fs::write(src.join("sub/file"), b"data").expect("write");
    std::os::unix::fs::symlink("sub/file", src.join("link")).expect("symlink");
    let tree = s.add_path(&src, Some("tree")).expect("add");
    let refs: BTreeSet<_> = [tree.path.clone()].into_iter().collect();
    let top = s
        .add_text(
            "top",
            format!("uses {}", s.print(&tree.path)).as_bytes(),
            &refs,
        )
        .expect("add");
    let mut t = LocalStore::open(d.path().join("image"), StoreDir::default()).expect("open");
    t.set_registration_time(Some(42));
    assert_eq!(
        t.copy_closure_from(&s, std::slice::from_ref(&top.path))
            .expect("copy"),
        2
    );
    for p in [&tree.path, &top.path] {
        let (a, b) = (
            s.require_info(p).expect("info"),
            t.require_info(p).expect("info"),
        );
        assert_eq!(
            (&a.nar_hash, a.nar_size, &a.references, &a.ca),
            (&b.nar_hash, b.nar_size, &b.references, &b.ca)
        );
        assert_eq!(b.registration_time, 42);
    }
    assert!(t.verify(None).expect("verify").problems.is_empty());
    assert_eq!(
        fs::read_link(t.real_path(&tree.path).join("link")).expect("link"),
        Path::new("sub/file")
    );
    // Again: nothing to do.
    assert_eq!(
        t.copy_closure_from(&s, std::slice::from_ref(&top.path))
            .expect("copy"),
        0
    );
    let leftovers: Vec<_> = fs::read_dir(t.real_store_dir())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn staging_trees_of_dead_processes_go_when_the_store_is_opened() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let store = LocalStore::open(&root, StoreDir::default()).unwrap();
    let dir = store.real_store_dir().to_owned();
    // A process ID above the kernel's largest (2^22) never runs.
    let dead = dir.join(".tmp-built-4194305-0-linux");
    let live = dir.join(format!(".tmp-add-{}-7-0", std::process::id()));
    let other = dir.join(".not-a-staging-tree");
    for p in [&dead, &live, &other] {
        fs::create_dir_all(p.join("sub")).unwrap();
        fs::write(p.join("sub/f"), "x").unwrap();
    }
    // Read-only directories inside, as a killed unpack leaves them.
    fs::set_permissions(dead.join("sub"), fs::Permissions::from_mode(0o555)).unwrap();

    // While any process holds the GC lock (an add or a build under way), nothing goes.
    let hold = store.gc_hold().unwrap();
    drop(LocalStore::open(&root, StoreDir::default()).unwrap());
    assert!(dead.exists());
    drop(hold);
    drop(store);

    drop(LocalStore::open(&root, StoreDir::default()).unwrap());
    assert!(!dead.exists(), "the dead process's tree is gone");
    assert!(live.exists(), "a running process's tree stays");
    assert!(other.exists(), "only staging trees are touched");
    assert_eq!(temporary_owner(".tmp-add-12-3-4"), Some(12));
    assert_eq!(temporary_owner(".tmp-link-77"), Some(77));
    assert_eq!(temporary_owner(".tmp-x"), None);
    assert_eq!(temporary_owner("abc-12"), None);
}
