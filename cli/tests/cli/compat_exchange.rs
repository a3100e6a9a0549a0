//! Agreement with Nix 2.8 on text paths, export streams in both directions, refusals and
//! fixed-output adds (the trees are in `compat.rs`, whose Nix runner this uses).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{assert_bytes_eq, run, strata, strata_store, Output, Rng};

use super::compat::*;

// ---------------------------------------------------------------------------------------------
// Text paths

/// `s` as a Nix string literal.
fn nix_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strata_add_text(root: &Path, dir: &Path, name: &str, contents: &str, refs: &[&str]) -> String {
    let file = dir.join(format!("text-{}", name.len()));
    fs::write(&file, contents).unwrap();
    let mut c = strata_store(root, ["add-text", name]);
    c.arg(&file);
    for r in refs {
        c.args(["--reference", r]);
    }
    let p = run(&mut c, None).ok().line();
    // Standard input gives the same path.
    let mut c = strata_store(root, ["add-text", name]);
    for r in refs {
        c.args(["--reference", r]);
    }
    assert_eq!(run(&mut c, Some(contents.as_bytes())).ok().line(), p);
    p
}

#[test]
fn text_paths_match_builtins_to_file() {
    let Some(nix) = Nix::get("text_paths_match_builtins_to_file") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let cases = [
        ("hello.txt", "hello\n"),
        ("empty", ""),
        ("no-newline", "no newline at the end"),
        (
            "script.sh",
            "#!/bin/sh\necho \"$HOME\" '${x}' \\ back\\slash\n\ttab\r\ncr\n",
        ),
        ("unicode", "héllo 日本 Ünïcödé\n"),
        (
            "looks-like-a-path",
            "/nix/store/00000000000000000000000000000000-x\n",
        ),
    ];
    for (name, contents) in cases {
        let theirs = nix.eval_store_path(
            &r2,
            &format!(
                "builtins.toFile {} {}",
                nix_string(name),
                nix_string(contents)
            ),
        );
        let ours = strata_add_text(&r1, tmp.path(), name, contents, &[]);
        assert_eq!(ours, theirs, "text {name:?}");
        let si = strata_info(&r1, &ours);
        let ni = nix.path_info(&r2, &theirs);
        assert_eq!(comparable(&si), comparable(&ni), "text {name:?}");
        assert_eq!(si["ca"], ni["ca"], "text {name:?}: content address");
        assert_eq!(
            fs::read(r1.join(&ours[1..])).unwrap(),
            contents.as_bytes(),
            "text {name:?}: contents on disk"
        );
    }
    strata_verify_clean(&r1, cases.len());
    nix.verify(&r1);
}

/// A text that refers to other store paths, as `builtins.toFile` with a string context does.
#[test]
fn text_paths_with_references() {
    let Some(nix) = Nix::get("text_paths_with_references") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src);
    let tree = tree_mixed(&src);

    // A source path and a text, in both stores.
    let tree_ours = run(strata_store(&r1, ["add"]).arg(&tree), None).ok().line();
    let tree_theirs = run(
        &mut nix.nix_store_at(&r2, &[os("--add"), tree.as_os_str()]),
        None,
    )
    .ok()
    .line();
    assert_eq!(tree_ours, tree_theirs);
    let foo_nix = r#"builtins.toFile "foo" "hello\n""#;
    let foo = nix.eval_store_path(&r2, foo_nix);
    assert_eq!(strata_add_text(&r1, tmp.path(), "foo", "hello\n", &[]), foo);

    // One reference.
    let bar = nix.eval_store_path(
        &r2,
        &format!(r#"let foo = {foo_nix}; in builtins.toFile "bar" "refers to ${{foo}}\n""#),
    );
    let bar_contents = format!("refers to {foo}\n");
    assert_eq!(
        strata_add_text(&r1, tmp.path(), "bar", &bar_contents, &[&foo]),
        bar,
        "toFile with one reference"
    );

    // Two references, one of them a source tree, and a reference only by name.
    let expr = format!(
        r#"let foo = {foo_nix}; t = builtins.storePath "{tree_theirs}";
           bar = builtins.toFile "bar" "refers to ${{foo}}\n";
           in builtins.toFile "baz-with-refs" "${{bar}} and ${{t}}/hello\n""#
    );
    let baz = nix.eval_store_path(&r2, &expr);
    let baz_contents = format!("{bar} and {tree_theirs}/hello\n");
    assert_eq!(
        strata_add_text(
            &r1,
            tmp.path(),
            "baz-with-refs",
            &baz_contents,
            &[&bar, &tree_ours]
        ),
        baz,
        "toFile with two references"
    );
    // The reference order on the command line does not matter.
    assert_eq!(
        strata_add_text(
            &r1,
            tmp.path(),
            "baz-with-refs",
            &baz_contents,
            &[&tree_ours, &bar]
        ),
        baz
    );

    for p in [&foo, &bar, &baz] {
        assert_eq!(
            comparable(&strata_info(&r1, p)),
            comparable(&nix.path_info(&r2, p)),
            "path-info of {p}"
        );
        assert_eq!(
            strata_info(&r1, p)["ca"],
            nix.path_info(&r2, p)["ca"],
            "ca of {p}"
        );
        // Nix reads strata's reference table.
        assert_eq!(
            nix.references(&r1, p),
            nix.references(&r2, p),
            "references of {p}"
        );
    }
    let closure: BTreeSet<String> = run(&mut strata_store(&r1, ["closure", &baz]), None)
        .ok()
        .lines()
        .into_iter()
        .collect();
    let nix_closure: BTreeSet<String> =
        run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&baz)]), None)
            .ok()
            .lines()
            .into_iter()
            .collect();
    assert_eq!(closure, nix_closure);
    strata_verify_clean(&r1, 4);
    nix.verify(&r1);
}

// ---------------------------------------------------------------------------------------------
// Export and import

/// Paths a stream import printed, or `nix-store -qR` listed.
fn set(out: &Output) -> BTreeSet<String> {
    out.lines().into_iter().collect()
}

#[test]
fn export_from_strata_imports_into_nix() {
    let Some(nix) = Nix::get("export_from_strata_imports_into_nix") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src);
    let tree = run(strata_store(&r1, ["add"]).arg(tree_mixed(&src)), None)
        .ok()
        .line();
    let single = src.join("single-link");
    symlink("mixed/hello", &single).unwrap();
    let link = run(strata_store(&r1, ["add"]).arg(&single), None)
        .ok()
        .line();
    let foo = strata_add_text(&r1, tmp.path(), "foo", "hello\n", &[]);
    let bar = strata_add_text(&r1, tmp.path(), "bar", &format!("{foo}\n"), &[&foo]);
    let top = strata_add_text(
        &r1,
        tmp.path(),
        "top",
        &format!("{bar} {tree} {link}\n"),
        &[&bar, &tree, &link],
    );
    // An unrelated path that must not be exported.
    let other = strata_add_text(&r1, tmp.path(), "other", "unrelated\n", &[]);

    let stream = run(&mut strata_store(&r1, ["export", &top]), None)
        .ok()
        .stdout;
    // -o FILE writes the same bytes.
    let file = tmp.path().join("closure.export");
    run(strata_store(&r1, ["export", &top, "-o"]).arg(&file), None).ok();
    assert_bytes_eq("export -o vs stdout", &fs::read(&file).unwrap(), &stream);

    let imported = run(&mut nix.nix_store_at(&r2, &[os("--import")]), Some(&stream)).ok();
    let expected: BTreeSet<String> = [&tree, &link, &foo, &bar, &top]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(set(&imported), expected, "paths nix-store --import printed");
    assert!(
        !r2.join(&other[1..]).exists(),
        "an unrelated path was exported"
    );
    for p in &expected {
        assert_eq!(
            nix.references(&r2, p),
            nix.references(&r1, p),
            "nix-store -q --references {p}"
        );
        assert_eq!(
            comparable(&nix.path_info(&r2, p)),
            comparable(&strata_info(&r1, p)),
            "path-info of {p} after import into Nix"
        );
    }
    let closure = set(&run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&top)]), None).ok());
    assert_eq!(closure, expected);
    nix.verify(&r2);
    nix.verify(&r1);
    strata_verify_clean(&r1, 6);
}

#[test]
fn export_from_nix_imports_into_strata() {
    let Some(nix) = Nix::get("export_from_nix_imports_into_strata") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let r2 = tmp.path().join("nix-root");
    let r1 = tmp.path().join("strata-root");
    let src = tmp.path().join("src");
    mkdir(&src);
    let names = tree_names(&src);
    let mixed = tree_mixed(&src);
    let t1 = run(
        &mut nix.nix_store_at(&r2, &[os("--add"), names.as_os_str()]),
        None,
    )
    .ok()
    .line();
    let t2 = run(
        &mut nix.nix_store_at(&r2, &[os("--add"), mixed.as_os_str()]),
        None,
    )
    .ok()
    .line();
    let top = nix.eval_store_path(
        &r2,
        &format!(
            r#"let a = builtins.storePath "{t1}"; b = builtins.storePath "{t2}";
               foo = builtins.toFile "foo" "${{a}}\n";
               in builtins.toFile "top" "${{foo}} ${{b}}\n""#
        ),
    );
    let closure: Vec<String> = run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&top)]), None)
        .ok()
        .lines();
    assert_eq!(closure.len(), 4, "closure of {top}: {closure:?}");
    let mut export = nix.nix_store_at(&r2, &[os("--export")]);
    export.args(&closure);
    let stream = run(&mut export, None).ok().stdout;

    let imported = run(&mut strata_store(&r1, ["import"]), Some(&stream)).ok();
    let expected: BTreeSet<String> = closure.iter().cloned().collect();
    assert_eq!(
        set(&imported),
        expected,
        "paths strata store import printed"
    );
    for p in &closure {
        assert_eq!(
            comparable(&strata_info(&r1, p)),
            comparable(&nix.path_info(&r2, p)),
            "path-info of {p} after import into strata"
        );
        // Nix reads the references strata registered.
        assert_eq!(
            nix.references(&r1, p),
            nix.references(&r2, p),
            "references of {p}"
        );
        let base = p.strip_prefix("/nix/store/").unwrap();
        let ours = run(
            strata()
                .args(["store", "dump"])
                .arg(r1.join("nix/store").join(base)),
            None,
        )
        .ok()
        .stdout;
        // `nix-store --dump` takes a file system path, not a store path.
        let theirs = run(
            &mut nix.nix_store(&[os("--dump"), r2.join("nix/store").join(base).as_os_str()]),
            None,
        )
        .ok()
        .stdout;
        assert_bytes_eq(&format!("NAR of {p}"), &ours, &theirs);
        assert_eq!(
            physical_listing(&r1.join("nix/store").join(base)),
            physical_listing(&r2.join("nix/store").join(base)),
            "metadata of the imported copy of {p}"
        );
        assert_eq!(
            comparable(&nix.path_info(&r1, p)),
            comparable(&nix.path_info(&r2, p)),
            "nix path-info of {p} on strata's store"
        );
    }
    strata_verify_clean(&r1, 4);
    assert_eq!(valid_count(&r1), 4, "stray files in the strata store");
    nix.verify(&r1);

    // Importing the same stream again is a no-op that still succeeds.
    let again = run(&mut strata_store(&r1, ["import"]), Some(&stream)).ok();
    assert_eq!(set(&again), expected);
    strata_verify_clean(&r1, 4);

    // A stream read from a file works as well, into a fresh store.
    let file = tmp.path().join("nix.export");
    fs::write(&file, &stream).unwrap();
    let r3 = tmp.path().join("strata-root-2");
    let from_file = run(strata_store(&r3, ["import"]).arg(&file), None).ok();
    assert_eq!(set(&from_file), expected);
    strata_verify_clean(&r3, 4);
    nix.verify(&r3);

    // And strata exports the imported closure so that Nix takes it back.
    let r4 = tmp.path().join("nix-root-2");
    let back = run(&mut strata_store(&r1, ["export", &top]), None)
        .ok()
        .stdout;
    let reimported = run(&mut nix.nix_store_at(&r4, &[os("--import")]), Some(&back)).ok();
    assert_eq!(set(&reimported), expected);
    nix.verify(&r4);
}

/// Everything in a store directory, including hidden staging leftovers.
fn store_entries(root: &Path) -> Vec<PathBuf> {
    match fs::read_dir(root.join("nix/store")) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Trees Nix refuses to add are refused by strata too, without leftovers; `--name` renames a
/// path as `nix store add-path --name` does.
#[test]
fn add_refusals_and_names_match_nix() {
    let Some(nix) = Nix::get("add_refusals_and_names_match_nix") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src.join("with-fifo/sub"));
    write_file(&src.join("with-fifo/a"), b"a\n", 0o644);
    write_file(&src.join("with-fifo/sub/z"), b"z\n", 0o644);
    let fifo = src.join("with-fifo/sub/pipe");
    run(Command::new("mkfifo").arg(&fifo), None).ok();
    let spaced = src.join("has space");
    mkdir(&spaced);
    write_file(&spaced.join("f"), b"f\n", 0o644);
    let unicode = src.join("héllo");
    write_file(&unicode, b"h\n", 0o644);

    for (tree, msg) in [
        (&src.join("with-fifo"), "named pipe"),
        (&spaced, "forbidden character ' '"),
        (&unicode, "forbidden character"),
    ] {
        let theirs = run(
            &mut nix.nix_store_at(&r2, &[os("--add"), tree.as_os_str()]),
            None,
        );
        assert!(
            !theirs.success(),
            "nix-store --add {} succeeded",
            tree.display()
        );
        let ours = run(strata_store(&r1, ["add"]).arg(tree), None);
        assert_eq!(
            ours.code,
            Some(1),
            "strata store add {}: {}",
            tree.display(),
            ours.stderr
        );
        assert!(!ours.stderr.contains("panicked"), "{}", ours.stderr);
        assert!(ours.stderr.contains(msg), "{}", ours.stderr);
        let left = store_entries(&r1);
        assert!(left.is_empty(), "a refused add left {left:?} behind");
    }

    let ours = run(
        strata_store(&r1, ["add", "--name", "renamed"]).arg(&spaced),
        None,
    )
    .ok()
    .line();
    let theirs = run(
        &mut nix.nix(&[
            os("store"),
            os("add-path"),
            os("--store"),
            r2.as_os_str(),
            os("--name"),
            os("renamed"),
            spaced.as_os_str(),
        ]),
        None,
    )
    .ok()
    .line();
    assert_eq!(ours, theirs, "add --name vs nix store add-path --name");
    strata_verify_clean(&r1, 1);
    nix.verify(&r1);
}

/// A derivation's closure (a .drv, the source it names) exported by Nix imports into strata
/// with the same metadata, and Nix can query it in strata's store.
#[test]
fn import_of_a_nix_derivation_closure() {
    let Some(nix) = Nix::get("import_of_a_nix_derivation_closure") else {
        return;
    };
    let (_tmp, r1, r2) = roots();
    let mut inst = nix.cmd("nix-instantiate");
    inst.arg("--store").arg(&r2).args([
        "-E",
        r#"derivation {
             name = "hello-drv"; system = builtins.currentSystem; builder = "/bin/sh";
             args = [ "-c" "echo hi > $out" ];
             src = builtins.toFile "src.txt" "source\n";
           }"#,
    ]);
    let drv = run(&mut inst, None).ok().line();
    assert!(
        drv.ends_with("-hello-drv.drv"),
        "nix-instantiate printed {drv:?}"
    );
    let closure = run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&drv)]), None)
        .ok()
        .lines();
    assert_eq!(closure.len(), 2, "closure of {drv}: {closure:?}");
    let mut export = nix.nix_store_at(&r2, &[os("--export")]);
    export.args(&closure);
    let stream = run(&mut export, None).ok().stdout;
    let imported = run(&mut strata_store(&r1, ["import"]), Some(&stream)).ok();
    assert_eq!(set(&imported), closure.iter().cloned().collect());
    // `nix path-info` would answer for a .drv's outputs; `nix-store -q` answers for the .drv.
    for p in &closure {
        for q in ["--hash", "--size", "--references", "--deriver"] {
            assert_eq!(
                run(&mut nix.nix_store_at(&r1, &[os("-q"), os(q), os(p)]), None)
                    .ok()
                    .lines(),
                run(&mut nix.nix_store_at(&r2, &[os("-q"), os(q), os(p)]), None)
                    .ok()
                    .lines(),
                "nix-store -q {q} {p}"
            );
        }
    }
    // Nix finds the derivation's outputs in strata's store.
    assert_eq!(
        run(
            &mut nix.nix_store_at(&r1, &[os("-q"), os("--outputs"), os(&drv)]),
            None
        )
        .ok()
        .lines(),
        run(
            &mut nix.nix_store_at(&r2, &[os("-q"), os("--outputs"), os(&drv)]),
            None
        )
        .ok()
        .lines(),
    );
    strata_verify_clean(&r1, 2);
    nix.verify(&r1);
}

/// `strata store add-fixed` against `nix-store --add-fixed`, flat and recursive, in every
/// algorithm.
#[test]
fn add_fixed_matches_nix() {
    let Some(nix) = Nix::get("add_fixed_matches_nix") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src);
    let tree = tree_mixed(&src);
    let file = src.join("fixed.bin");
    write_file(&file, &Rng::new(7).bytes(100_003), 0o755);
    let mut n = 0;
    for algo in ["sha256", "sha1", "md5", "sha512"] {
        for (path, recursive) in [(&file, false), (&file, true), (&tree, true)] {
            let flag: &[&str] = if recursive { &["--recursive"] } else { &[] };
            let mut ours = strata_store(&r1, ["add-fixed"]);
            ours.args(flag).arg(algo).arg(path);
            let ours = run(&mut ours, None).ok().line();
            let mut theirs = nix.nix_store_at(&r2, &[os("--add-fixed")]);
            theirs.args(flag).arg(algo).arg(path);
            let theirs = run(&mut theirs, None).ok().line();
            let what = format!("add-fixed {flag:?} {algo} {}", path.display());
            assert_eq!(ours, theirs, "{what}");
            let si = strata_info(&r1, &ours);
            let ni = nix.path_info(&r2, &theirs);
            assert_eq!(comparable(&si), comparable(&ni), "{what}");
            assert_eq!(si["ca"], ni["ca"], "{what}: content address");
            n += 1;
        }
    }
    // sha256 of the file's contents added recursively is the same path as `add`.
    let added = run(strata_store(&r1, ["add"]).arg(&tree), None).ok().line();
    let fixed = run(
        strata_store(&r1, ["add-fixed", "--recursive", "sha256"]).arg(&tree),
        None,
    )
    .ok()
    .line();
    assert_eq!(added, fixed);
    // A directory has no flat hash.
    let flat_dir = run(strata_store(&r1, ["add-fixed", "sha256"]).arg(&tree), None);
    assert_eq!(flat_dir.code, Some(1), "{}", flat_dir.stderr);
    assert!(!flat_dir.stderr.contains("panicked"), "{}", flat_dir.stderr);
    let theirs = run(
        &mut nix.nix_store_at(&r2, &[os("--add-fixed"), os("sha256"), tree.as_os_str()]),
        None,
    );
    assert!(
        !theirs.success(),
        "nix-store --add-fixed of a directory succeeded"
    );
    let staged: Vec<PathBuf> = store_entries(&r1)
        .into_iter()
        .filter(|p| p.file_name().unwrap().as_bytes().starts_with(b"."))
        .collect();
    assert!(staged.is_empty(), "a refused add left {staged:?} behind");
    strata_verify_clean(&r1, n);
    nix.verify(&r1);
}
