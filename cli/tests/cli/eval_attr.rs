//! `strata eval -A PATH` and `--arg`/`--argstr`, side by side with `nix-instantiate --eval`
//! (Nix 2.8): every case must print what Nix prints, or fail with Nix's first error line.

use std::path::Path;
use std::process::Command;

use super::compat::Nix;
use super::{run, strata};

/// A file whose function takes arguments, with nested sets, lists, functions and a throw.
const FILE: &str = r#"{ x ? 1, y, ... }: {
  a = { b = x + y; l = [ 10 { c = y; } ]; "d.e" = 5; };
  f = { z }: z;
  g = { z ? 4 }: { h = z; };
  n = 3;
  bad = throw "bad";
  functor = { __functor = self: { z ? 7 }: z; };
}
"#;

/// Each case: the arguments after `--eval` (the file is `f.nix` in the working directory).
const CASES: &[&[&str]] = &[
    &["f.nix", "--arg", "y", "2", "-A", "a.b"],
    &["f.nix", "--arg", "y", "2", "-A", "a.l.1.c"],
    &["f.nix", "--arg", "y", "2", "--attr", "a.l.0"],
    &["f.nix", "--arg", "y", "2", "-A", "a.\"d.e\""],
    &["f.nix", "--arg", "y", "2", "-A", "a.x"],
    &["f.nix", "--arg", "y", "2", "-A", "n.x"],
    &["f.nix", "--arg", "y", "2", "-A", "a.l.5"],
    &["f.nix", "--arg", "y", "2", "-A", "a.l.x"],
    &["f.nix", "--arg", "y", "2", "-A", "a.l.-1"],
    &["f.nix", "--arg", "y", "2", "-A", "a..b"],
    &["f.nix", "--arg", "y", "2", "-A", "a.\"d"],
    &["f.nix", "--arg", "y", "2", "-A", "f"],
    &["f.nix", "--arg", "y", "2", "-A", "g.h"],
    &["f.nix", "--arg", "y", "2", "-A", "bad"],
    &["f.nix", "--arg", "y", "2", "-A", "a.b.c"],
    &["f.nix", "--arg", "y", "2", "-A", "functor"],
    &["f.nix", "--arg", "y", "2", "-A", "n", "-A", "a.b"],
    &["f.nix", "--arg", "y", "2", "--strict", "-A", "a"],
    &[
        "f.nix", "--arg", "y", "2", "--json", "--strict", "-A", "a", "-A", "n",
    ],
    &["f.nix", "--argstr", "y", "text", "-A", "a.l.1.c"],
    // An `--arg` is evaluated only when used.
    &["f.nix", "--arg", "y", "throw \"lazy\"", "-A", "n"],
    &[
        "f.nix",
        "--arg",
        "y",
        "2",
        "--arg",
        "unused",
        "throw \"x\"",
        "-A",
        "n",
    ],
    // Without arguments, the value found is not called; the ones on the way are.
    &["f.nix", "-A", "n"],
    &["-E", "{ z ? 4 }: z"],
    &["-E", "{ z ? 4 }: z", "--arg", "q", "1"],
    &["-E", "{ g = { z ? 4 }: z; }", "-A", "g"],
    &["-E", "{ z ? 4 }: { h = z; }", "-A", "h"],
    &["-E", "{ z }: z"],
    &["-E", "[ 1 [ 2 3 ] ]", "-A", "1.0"],
];

fn first_error(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_owned()
}

#[test]
fn attr_paths_and_arguments_as_nix_instantiate() {
    let Some(nix) = Nix::get("attr_paths_and_arguments_as_nix_instantiate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.nix"), FILE).unwrap();
    let mut failures = Vec::new();
    for case in CASES {
        let mut n = nix.cmd("nix-instantiate");
        n.current_dir(dir.path()).arg("--eval").args(*case);
        let theirs = run(&mut n, None);
        let mut s = strata();
        s.current_dir(dir.path()).arg("eval").args(*case);
        let ours = run(&mut s, None);
        if theirs.success() != ours.success() {
            failures.push(format!(
                "{case:?}: Nix {} ({}{}), strata {} ({}{})",
                if theirs.success() {
                    "succeeded"
                } else {
                    "failed"
                },
                String::from_utf8_lossy(&theirs.stdout),
                first_error(&theirs.stderr),
                if ours.success() {
                    "succeeded"
                } else {
                    "failed"
                },
                String::from_utf8_lossy(&ours.stdout),
                first_error(&ours.stderr),
            ));
        } else if theirs.stdout != ours.stdout {
            failures.push(format!(
                "{case:?}: Nix printed {:?}, strata {:?}",
                String::from_utf8_lossy(&theirs.stdout),
                String::from_utf8_lossy(&ours.stdout)
            ));
        } else if first_error(&theirs.stderr) != first_error(&ours.stderr) {
            failures.push(format!(
                "{case:?}: Nix said {:?}, strata {:?}",
                first_error(&theirs.stderr),
                first_error(&ours.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn strata_eval(dir: &Path, args: &[&str]) -> Command {
    let mut s = strata();
    s.current_dir(dir).arg("eval").args(args);
    s
}

#[test]
fn a_missing_attribute_suggests_the_near_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.nix"), FILE).unwrap();
    let out = run(
        &mut strata_eval(dir.path(), &["f.nix", "--arg", "y", "2", "-A", "a.bb"]),
        None,
    );
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("error: attribute 'bb' in selection path 'a.bb' not found"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Did you mean b?"), "{}", out.stderr);
}

#[test]
fn a_value_printed_before_a_failing_path_stays_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.nix"), FILE).unwrap();
    let out = run(
        &mut strata_eval(
            dir.path(),
            &["f.nix", "--arg", "y", "2", "-A", "n", "-A", "nope"],
        ),
        None,
    );
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, b"3\n");
    assert!(
        out.stderr
            .contains("attribute 'nope' in selection path 'nope' not found"),
        "{}",
        out.stderr
    );
}
