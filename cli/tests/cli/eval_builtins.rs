//! The builtins strata has beyond Nix 2.8's (Nix 2.8 cannot check them): each one's
//! behaviour as Nix's reference manual documents it.

use std::os::unix::fs::symlink;

use super::{run, strata};

fn eval(dir: &std::path::Path, expr: &str) -> super::Output {
    let mut c = strata();
    c.current_dir(dir).args(["eval", "--strict", "-E", expr]);
    run(&mut c, None)
}

#[test]
fn read_file_type_names_the_entry_itself() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("file"), "x").unwrap();
    std::fs::create_dir(d.join("dir")).unwrap();
    symlink("file", d.join("link")).unwrap();
    symlink("nowhere", d.join("dangling")).unwrap();
    let out = eval(
        d,
        "map builtins.readFileType [ ./file ./dir ./link ./dangling /. ]",
    )
    .ok();
    assert_eq!(
        out.line(),
        r#"[ "regular" "directory" "symlink" "symlink" "directory" ]"#
    );
    // It agrees with readDir of the parent, as the manual says.
    let out = eval(
        d,
        "builtins.all (n: builtins.readFileType (./. + \"/${n}\") == (builtins.readDir ./.).${n}) \
         (builtins.attrNames (builtins.readDir ./.))",
    )
    .ok();
    assert_eq!(out.line(), "true");
    let out = eval(d, "builtins.readFileType ./missing");
    assert!(!out.success());
    assert!(
        out.stderr.contains(&format!(
            "error: getting status of '{}/missing': No such file or directory",
            d.canonicalize().unwrap().display()
        )) || out.stderr.contains(&format!(
            "error: getting status of '{}/missing': No such file or directory",
            d.display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn trace_verbose_and_break_return_their_value() {
    let dir = tempfile::tempdir().unwrap();
    // Without the `trace-verbose` setting the message is never forced, nor printed.
    let out = eval(dir.path(), "builtins.traceVerbose (throw \"no\") 5").ok();
    assert_eq!(out.line(), "5");
    assert!(!out.stderr.contains("trace"), "{}", out.stderr);
    let out = eval(dir.path(), "builtins.break { a = 1; }").ok();
    assert_eq!(out.line(), "{ a = 1; }");
}

#[test]
fn convert_hash_writes_a_hash_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    // The manual's examples (the empty string's SHA-256, a SHA-1 of `nix hash convert`'s
    // page) in every format; the nix32 form is what Nix 2.8's `nix-hash --to-base32` prints.
    let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let out = eval(
        dir.path(),
        &format!(
            "let c = builtins.convertHash; in [ \
             (c {{ hash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"; toHashFormat = \"base16\"; }}) \
             (c {{ hash = \"{hex}\"; hashAlgo = \"sha256\"; toHashFormat = \"nix32\"; }}) \
             (c {{ hash = \"sha256:{hex}\"; toHashFormat = \"base32\"; }}) \
             (c {{ hash = \"{hex}\"; hashAlgo = \"sha256\"; toHashFormat = \"sri\"; }}) \
             (c {{ hash = \"800d59cfcd3c05e900cb4e214be48f6b886a08df\"; hashAlgo = \"sha1\"; toHashFormat = \"base64\"; }}) ]"
        ),
    )
    .ok();
    assert_eq!(
        out.line(),
        format!(
            "[ \"{hex}\" \"0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\" \
             \"0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\" \
             \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" \"gA1Zz808BekAy04hS+SPa4hqCN8=\" ]"
        )
    );
    // A bare hash needs its algorithm; an unknown format is named.
    let out = eval(
        dir.path(),
        &format!("builtins.convertHash {{ hash = \"{hex}\"; toHashFormat = \"sri\"; }}"),
    );
    assert!(!out.success());
    assert!(
        out.stderr.contains("does not name its algorithm"),
        "{}",
        out.stderr
    );
    let out = eval(
        dir.path(),
        "builtins.convertHash { hash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"; toHashFormat = \"hex\"; }",
    );
    assert!(!out.success());
    assert!(
        out.stderr.contains("unknown hash format 'hex'"),
        "{}",
        out.stderr
    );
}

#[test]
fn add_drv_output_dependencies_undoes_discarding_them() {
    let dir = tempfile::tempdir().unwrap();
    let drv = "(derivation { name = \"x\"; system = \"x\"; builder = \"/b\"; }).drvPath";
    let out = eval(
        dir.path(),
        &format!(
            "let p = builtins.unsafeDiscardOutputDependency {drv}; \
             c = s: builtins.attrValues (builtins.getContext s); in \
             [ (c p) (c (builtins.addDrvOutputDependencies p)) \
               (c (builtins.addDrvOutputDependencies {drv})) ]"
        ),
    )
    .ok();
    assert_eq!(
        out.line(),
        "[ [ { path = true; } ] [ { allOutputs = true; } ] [ { allOutputs = true; } ] ]"
    );
    let out = eval(dir.path(), "builtins.addDrvOutputDependencies \"plain\"");
    assert!(
        out.stderr
            .contains("context of string 'plain' must have exactly one element, but has 0"),
        "{}",
        out.stderr
    );
}

#[test]
fn nix_version_is_the_one_whose_builtins_strata_has() {
    let dir = tempfile::tempdir().unwrap();
    let out = eval(
        dir.path(),
        "[ builtins.nixVersion (builtins.all (n: builtins ? ${n}) \
         [ \"readFileType\" \"traceVerbose\" \"break\" \"addDrvOutputDependencies\" \"convertHash\" ]) ]",
    )
    .ok();
    assert_eq!(out.line(), "[ \"2.19.0\" true ]");
}
