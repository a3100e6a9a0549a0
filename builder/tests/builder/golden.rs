//! The evaluator's golden corpus (`lang/tests/eval`), evaluated with the builder's IO.
//!
//! Every `eval-okay-*.nix` must print exactly its `.exp` (the bytes Nix 2.8 printed with
//! `nix-instantiate --eval --strict`), and its `.exp.json` where there is one. Every
//! `eval-fail-*.nix` must fail, and the first line of the error must be Nix's, except where
//! `strata-messages.txt` gives strata's own wording (and why). `KNOWN-GAPS.txt` lists the
//! programs strata cannot evaluate yet; they must still fail, so the list cannot go stale.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use strata_builder::eval_io::{FsIo, StoreIo};
use strata_lang::io::EvalIo;
use strata_lang::source::Span;
use strata_lang::{EvalConfig, Evaluator};
use strata_store::{LocalStore, StoreDir};

const STACK: usize = 512 << 20;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lang/tests/eval")
        .canonicalize()
        .expect("corpus directory")
}

fn env_map(c: &Path, home: &Path) -> BTreeMap<String, String> {
    [
        ("HOME", home.display().to_string()),
        (
            "NIX_PATH",
            format!("fromenv={}/search/fromenv", c.display()),
        ),
        ("STRATA_TEST_VAR", "strata-test-value".to_owned()),
        ("TZ", "UTC".to_owned()),
        ("LC_ALL", "C.UTF-8".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn config(c: &Path) -> EvalConfig {
    let p = |s: &str| c.join(s).display().to_string();
    EvalConfig {
        search_path: vec![
            (String::new(), p("search")),
            ("named".into(), p("search/named-root")),
            ("sub/dir".into(), p("search/prefix-target")),
            ("fromenv".into(), p("search/fromenv")),
        ],
        max_stack: STACK - (32 << 20),
        ..EvalConfig::default()
    }
}

fn directives(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let first = text.lines().next().unwrap_or("");
    match first.strip_prefix("# corpus: ") {
        Some(rest) => rest.split_whitespace().map(str::to_owned).collect(),
        None => BTreeSet::new(),
    }
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if !from.is_empty() && hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

enum Outcome {
    Value {
        text: Vec<u8>,
        json: Option<Vec<u8>>,
    },
    Error(String),
}

fn evaluate(c: &Path, file: &Path, want_json: bool, scratch: &Path) -> Outcome {
    let d = directives(file);
    let home = scratch.join("home");
    let _ = std::fs::create_dir_all(&home);
    let env = env_map(c, &home);
    let io: Rc<dyn EvalIo> = if d.contains("read-write") {
        let root = scratch.join(format!(
            "store-{}",
            file.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        match LocalStore::open(&root, StoreDir::default()) {
            Ok(s) => Rc::new(StoreIo::new(s).with_env(env)),
            Err(e) => return Outcome::Error(format!("cannot open the test store: {e}")),
        }
    } else {
        Rc::new(FsIo::new(StoreDir::default()).with_env(env))
    };
    let mut ev = Evaluator::new(config(c), io);
    ev.set_trace_sink(Box::new(|_| {}));
    ev.reset_stack_base();
    let span = Span {
        file: 0,
        start: 0,
        end: 0,
    };
    let v = match ev.eval_file(file) {
        Ok(v) => v,
        Err(e) => return Outcome::Error(e.render(&ev.sources)),
    };
    let text = match strata_lang::print::print_value(&mut ev, &v, true, span) {
        Ok(t) => t,
        Err(e) => return Outcome::Error(e.render(&ev.sources)),
    };
    let json = if want_json {
        let mut out = Vec::new();
        let mut ctx = Default::default();
        match strata_lang::print::to_json(&mut ev, &v, span, &mut out, &mut ctx) {
            Ok(()) => Some(out),
            Err(e) => return Outcome::Error(e.render(&ev.sources)),
        }
    } else {
        None
    };
    Outcome::Value { text, json }
}

/// `name<TAB>text` lines, `#` comments.
fn table(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once('\t')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        })
        .collect()
}

fn first_error_line(s: &str) -> String {
    s.lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_owned()
}

fn run_corpus() -> Vec<String> {
    let c = corpus();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let known_gaps = table(&c.join("KNOWN-GAPS.txt"));
    let messages = table(&c.join("strata-messages.txt"));
    let mut names: Vec<String> = std::fs::read_dir(&c)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("eval-") && n.ends_with(".nix"))
        .collect();
    names.sort();
    assert!(
        names.len() > 500,
        "the corpus is missing: found {} programs",
        names.len()
    );
    let cbytes = c.display().to_string().into_bytes();
    let mut failures = Vec::new();
    let mut okay = 0;
    for name in names {
        let file = c.join(&name);
        let base = name.trim_end_matches(".nix");
        let gap = known_gaps.get(&name);
        if name.starts_with("eval-okay-") {
            let exp = std::fs::read(c.join(format!("{base}.exp"))).expect("expected output");
            let exp_json = std::fs::read(c.join(format!("{base}.exp.json"))).ok();
            let passed = match evaluate(&c, &file, exp_json.is_some(), scratch.path()) {
                Outcome::Value { text, json } => {
                    let mut got = replace_all(&text, &cbytes, b"$CORPUS");
                    got.push(b'\n');
                    let json_ok = match (&json, &exp_json) {
                        (Some(j), Some(e)) => replace_all(j, &cbytes, b"$CORPUS") == *e,
                        _ => true,
                    };
                    if (got != exp || !json_ok) && gap.is_none() {
                        failures.push(format!(
                            "{name}: printed\n  {}\nbut Nix printed\n  {}{}",
                            String::from_utf8_lossy(&got).trim_end(),
                            String::from_utf8_lossy(&exp).trim_end(),
                            if json_ok {
                                String::new()
                            } else {
                                format!(
                                    "\n  and the JSON differs: {:?}",
                                    json.map(|j| String::from_utf8_lossy(&j).into_owned())
                                )
                            }
                        ));
                    }
                    got == exp && json_ok
                }
                Outcome::Error(e) => {
                    if gap.is_none() {
                        failures.push(format!("{name}: failed, but Nix printed a value:\n{e}"));
                    }
                    false
                }
            };
            if passed {
                okay += 1;
                if gap.is_some() {
                    failures.push(format!("{name}: passes now; remove it from KNOWN-GAPS.txt"));
                }
            }
        } else {
            let nix_err =
                std::fs::read_to_string(c.join(format!("{base}.nix-err"))).expect("expected error");
            let want = messages
                .get(&name)
                .cloned()
                .unwrap_or_else(|| first_error_line(&nix_err));
            match evaluate(&c, &file, false, scratch.path()) {
                Outcome::Value { text, .. } => {
                    if gap.is_none() {
                        failures.push(format!(
                            "{name}: printed {} but must fail",
                            String::from_utf8_lossy(&text)
                        ));
                    }
                }
                Outcome::Error(e) => {
                    let e = e.replace(&c.display().to_string(), "$CORPUS");
                    let got = first_error_line(&e);
                    if e.contains("panicked") {
                        failures.push(format!("{name}: panicked:\n{e}"));
                    } else if got != want && gap.is_none() {
                        failures.push(format!("{name}: error\n  {got}\nbut expected\n  {want}"));
                    } else if got == want {
                        okay += 1;
                        if gap.is_some() {
                            failures
                                .push(format!("{name}: passes now; remove it from KNOWN-GAPS.txt"));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "golden corpus: {okay} programs as Nix 2.8, {} known gaps",
        known_gaps.len()
    );
    failures
}

#[test]
fn golden_corpus_evaluates_as_nix() {
    let handle = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(run_corpus)
        .expect("evaluation thread");
    let failures = handle.join().expect("the corpus run panicked");
    assert!(
        failures.is_empty(),
        "{} programs differ from Nix 2.8:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The committed expectations are what Nix 2.8 prints today: `regenerate.sh --check` runs
/// every corpus program through `nix-instantiate` and compares. Needs Nix (Debian's nix-bin).
#[test]
fn corpus_expectations_match_nix() {
    let c = corpus();
    let has_nix = std::process::Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_nix {
        if std::env::var_os("STRATA_SKIP_NIX_TESTS").is_some() {
            eprintln!("skipped: nix-instantiate is not installed");
            return;
        }
        panic!(
            "nix-instantiate is missing: install Debian's nix-bin (or set STRATA_SKIP_NIX_TESTS=1)"
        );
    }
    let out = std::process::Command::new("bash")
        .arg(c.join("regenerate.sh"))
        .arg("--check")
        .output()
        .expect("run regenerate.sh");
    assert!(
        out.status.success(),
        "the corpus expectations differ from what Nix prints:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `.drv` files that Nix writes parse and print back to the same bytes.
#[test]
fn derivations_written_by_nix_round_trip() {
    let has_nix = std::process::Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_nix {
        if std::env::var_os("STRATA_SKIP_NIX_TESTS").is_some() {
            return;
        }
        panic!(
            "nix-instantiate is missing: install Debian's nix-bin (or set STRATA_SKIP_NIX_TESTS=1)"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("nix.conf"),
        "build-users-group =\nsubstituters =\n",
    )
    .expect("write nix.conf");
    let root = dir.path().join("root");
    let expr = r#"
      let
        dep = derivation { name = "dep"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; args = [ "-c" "echo \"quoted\" and\ttab" ]; };
        fixed = derivation { name = "fixed"; system = "x86_64-linux"; builder = "/bin/sh"; outputHash = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; outputHashMode = "recursive"; };
      in derivation { name = "top"; system = "x86_64-linux"; builder = "/bin/sh"; a = dep.dev; b = "${fixed}"; c = builtins.toFile "t" "text\n"; }
    "#;
    let out = std::process::Command::new("nix-instantiate")
        .arg("--store")
        .arg(&root)
        .args(["-E", expr])
        .env("NIX_CONF_DIR", dir.path())
        .env("HOME", dir.path())
        .output()
        .expect("run nix-instantiate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drv_path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let store = root.join("nix/store");
    let mut checked = 0;
    for e in std::fs::read_dir(&store).expect("store") {
        let p = e.expect("entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("drv") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("read drv");
        let drv = strata_store::derivation::Derivation::parse(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(drv.to_aterm(false, None), text, "{}", p.display());
        checked += 1;
    }
    assert!(
        checked >= 3 && drv_path.ends_with("-top.drv"),
        "checked {checked} drv files"
    );
}
