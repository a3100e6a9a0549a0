//! `strata realise` and `strata log` on derivations written with the library, busybox as
//! the builder.

use std::collections::BTreeSet;
use std::path::Path;

use strata_store::derivation::{Derivation, Output};
use strata_store::{LocalStore, StoreDir, StorePath};

use super::{run, strata};

const BUSYBOX: &str = "/bin/busybox";

/// Writes a derivation with one output running `script` with busybox sh; returns the `.drv`
/// and the output path, printed.
pub(crate) fn write_drv(
    store: &mut LocalStore,
    busybox: &StorePath,
    name: &str,
    script: &str,
) -> (String, String) {
    let bb = format!("{}/bin/busybox", store.print(busybox));
    let mut d = Derivation {
        system: "x86_64-linux".into(),
        builder: bb.clone(),
        args: vec!["sh".into(), "-c".into(), script.into()],
        ..Default::default()
    };
    d.input_srcs.insert(store.print(busybox));
    d.env.insert("name".into(), name.into());
    d.env.insert("builder".into(), bb);
    d.env.insert("system".into(), "x86_64-linux".into());
    d.env.insert("out".into(), String::new());
    d.outputs.insert("out".into(), Output::default());
    let h = d
        .hash_modulo(true, |_| Err::<strata_store::Hash, ()>(()))
        .unwrap();
    let sd = store.store_dir().clone();
    let out = sd.display(&sd.make_output_path("out", &h, name).unwrap());
    d.env.insert("out".into(), out.clone());
    d.outputs.get_mut("out").unwrap().path = out.clone();
    let refs: BTreeSet<StorePath> = d
        .references()
        .iter()
        .map(|r| sd.parse(r).unwrap())
        .collect();
    let info = store
        .add_text(
            &format!("{name}.drv"),
            d.to_aterm(false, None).as_bytes(),
            &refs,
        )
        .unwrap();
    (store.print(&info.path), out)
}

#[test]
fn realise_then_log() {
    assert!(
        Path::new(BUSYBOX).exists(),
        "this test needs {BUSYBOX}: install Debian's busybox-static"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut store = LocalStore::open(&root, StoreDir::new("/nix/store").unwrap()).unwrap();
    let tree = dir.path().join("busybox");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, tree.join("bin/busybox")).unwrap();
    let busybox = store.add_path(&tree, Some("busybox")).unwrap().path;
    let (drv, out) = write_drv(
        &mut store,
        &busybox,
        "hello",
        "echo building hello; echo hello > $out",
    );
    let (bad, _) = write_drv(&mut store, &busybox, "broken", "echo going wrong; exit 2");
    let busybox_s = store.print(&busybox);
    drop(store);

    let realise = |args: &[&str]| {
        let mut c = strata();
        c.arg("--store-root").arg(&root).arg("realise").args(args);
        run(&mut c, None)
    };
    let link = dir.path().join("result");
    let link_s = link.to_str().unwrap();
    let o = realise(&[&drv, "-j", "2", "--add-root", link_s]).ok();
    assert_eq!(o.line(), link_s);
    assert!(
        o.stderr.contains(&format!("building {drv}")),
        "{}",
        o.stderr
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_str(),
        Some(out.as_str())
    );
    let real = root.join(out.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(real).unwrap(), "hello\n");

    // Again: nothing runs, the output is printed.
    let o = realise(&[&drv]).ok();
    assert_eq!(o.line(), out);
    assert!(o.stderr.contains("skipped (valid)"), "{}", o.stderr);
    assert!(!o.stderr.contains("building"), "{}", o.stderr);

    for p in [&drv, &out] {
        let mut c = strata();
        c.arg("--store-root").arg(&root).arg("log").arg(p);
        assert_eq!(run(&mut c, None).ok().text(), "building hello\n");
    }

    // A failure: non-zero exit, the log tail in the error, and the log is kept.
    let o = realise(&[&bad, "--keep-going"]);
    assert!(!o.success());
    assert!(o.stderr.contains("exit code 2"), "{}", o.stderr);
    assert!(o.stderr.contains("going wrong"), "{}", o.stderr);
    let mut c = strata();
    c.arg("--store-root").arg(&root).arg("log").arg(&bad);
    assert_eq!(run(&mut c, None).ok().text(), "going wrong\n");

    // A path no derivation built has no log.
    let mut c = strata();
    c.arg("--store-root").arg(&root).arg("log").arg(&busybox_s);
    let o = run(&mut c, None);
    assert!(!o.success());
    assert!(o.stderr.contains("no deriver"), "{}", o.stderr);
}
