//! The evaluator against Nix's, timed in one run and printed side by side.
//!
//! ```text
//! cargo bench -p strata-cli --bench eval_vs_nix
//! ```
//!
//! Each program below is evaluated by `strata eval --strict FILE` and by
//! `nix-instantiate --eval --strict FILE` (Debian's `nix-bin`, Nix 2.8); both must print the
//! same value. Each is run `STRATA_BENCH_REPS` times (3 by default) per tool, alternating which
//! goes first; the table shows the best wall-clock time and the peak resident memory (the
//! largest of the runs, from `wait4`'s resource usage) of each, and the ratios (below 1: strata
//! is faster or smaller).
//!
//! 1. `fib`: naive recursive Fibonacci of 30 (deep recursion, 1.6 million calls).
//! 2. `sort`: a million pseudo-random integers sorted with `builtins.sort builtins.lessThan`,
//!    and 200,000 sorted with a Nix comparator function.
//!    `sort-{asc,desc,rand}-{fn,lt}`: 300,000 integers in ascending, descending and
//!    pseudo-random order, sorted with the comparator `a: b: a < b` (`fn`) and with
//!    `builtins.lessThan` (`lt`).
//! 3. `attrs`: a 100,000-attribute set built with `listToAttrs`, mapped, merged with `//`
//!    and queried.
//! 4. `strings`: 100,000 strings built by interpolation, joined, split by `replaceStrings`
//!    and measured.
//! 5. `fixpoint`: a module-system-like fixpoint: 3,000 options whose values are defined by
//!    functions of the final configuration, merged from 30 "modules" and resolved through
//!    `config` itself.
//! 6. `modules`: strata's real module system (`modules/lib`) on `examples/configuration.nix`
//!    plus 200 generated module files declaring and defining 2,000 options (with `mkIf`,
//!    `mkDefault`, submodules and references through `config`); the builder's input and every
//!    generated option are forced. Both evaluators run the same Nix code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

const PROGRAMS: &[(&str, &str)] = &[
    (
        "fib",
        "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in fib 30",
    ),
    (
        "sort",
        r#"let
  rand = i: (i * 1103515245 + 12345) - ((i * 1103515245 + 12345) / 2147483648) * 2147483648;
  big = builtins.genList rand 1000000;
  small = builtins.genList rand 200000;
  a = builtins.sort builtins.lessThan big;
  b = builtins.sort (x: y: x < y) small;
in [ (builtins.head a) (builtins.elemAt a 500000) (builtins.head b) (builtins.length b) ]"#,
    ),
    (
        "sort-asc-fn",
        "let l = builtins.genList (i: i) 300000; s = builtins.sort (a: b: a < b) l; in [ (builtins.head s) (builtins.elemAt s 150000) (builtins.length s) ]",
    ),
    (
        "sort-asc-lt",
        "let l = builtins.genList (i: i) 300000; s = builtins.sort builtins.lessThan l; in [ (builtins.head s) (builtins.elemAt s 150000) (builtins.length s) ]",
    ),
    (
        "sort-desc-fn",
        "let l = builtins.genList (i: 300000 - i) 300000; s = builtins.sort (a: b: a < b) l; in [ (builtins.head s) (builtins.elemAt s 150000) (builtins.length s) ]",
    ),
    (
        "sort-desc-lt",
        "let l = builtins.genList (i: 300000 - i) 300000; s = builtins.sort builtins.lessThan l; in [ (builtins.head s) (builtins.elemAt s 150000) (builtins.length s) ]",
    ),
    (
        "sort-rand-fn",
        "let l = builtins.genList (i: (i * 1103515245 + 12345) - ((i * 1103515245 + 12345) / 2147483648) * 2147483648) 300000; s = builtins.sort (a: b: a < b) l; in [ (builtins.head s) (builtins.elemAt s 150000) (builtins.length s) ]",
    ),
    (
        "sort-rand-lt",
        "let l = builtins.genList (i: (i * 1103515245 + 12345) - ((i * 1103515245 + 12345) / 2147483648) * 2147483648) 300000; s = builtins.sort builtins.lessThan l; in [ (builtins.head s) (builtins.elemAt s 150000) (builtins.length s) ]",
    ),
    (
        "attrs",
        r#"let
  n = 100000;
  a = builtins.listToAttrs (builtins.genList (i: { name = "key${toString i}"; value = i; }) n);
  b = builtins.mapAttrs (k: v: v * 2) a;
  c = builtins.listToAttrs (builtins.genList (i: { name = "other${toString i}"; value = i; }) n);
  m = a // b // c;
  names = builtins.attrNames m;
in [ (builtins.length names) m.key99999 m.other5 (builtins.foldl' (s: k: s + m.${k}) 0 (builtins.genList (i: "key${toString i}") 1000)) ]"#,
    ),
    (
        "strings",
        r#"let
  n = 100000;
  parts = builtins.genList (i: "item-${toString i}-${toString (i * 7)}") n;
  joined = builtins.concatStringsSep "," parts;
  replaced = builtins.replaceStrings [ "item" "," ] [ "x" ";" ] joined;
  built = builtins.foldl' (acc: p: if builtins.stringLength acc > 100000 then p else acc + p) "" parts;
in [ (builtins.stringLength joined) (builtins.stringLength replaced) (builtins.substring 0 20 replaced) (builtins.stringLength built) ]"#,
    ),
    (
        "fixpoint",
        r#"let
  nOptions = 3000;
  nModules = 30;
  names = builtins.genList (i: "opt${toString i}") nOptions;
  # Each module defines every tenth option, as a function of the final configuration.
  module = m: builtins.listToAttrs (builtins.filter (x: x != null) (builtins.genList (i:
    if builtins.bitAnd i 15 == builtins.bitAnd m 15 then {
      name = "opt${toString i}";
      value = config: if i < 2 then [ m ] else [ (builtins.length (config."opt${toString (i - 1)}")) m ];
    } else null) nOptions));
  modules = builtins.genList module nModules;
  merged = builtins.zipAttrsWith (name: defs: defs) modules;
  config = builtins.mapAttrs (name: defs: builtins.concatMap (d: d config) defs) merged;
  total = builtins.foldl' (s: n: s + builtins.length (config.${n} or [ ])) 0 names;
in total"#,
    ),
];

struct Run {
    wall: Duration,
    max_rss_kb: i64,
    stdout: Vec<u8>,
}

/// Runs a command and measures it with `wait4`, which reports the child's own peak memory.
fn measure(cmd: &mut Command) -> Run {
    let err_file = tempfile::tempfile().expect("stderr file");
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(err_file.try_clone().expect("stderr file"))
        .spawn()
        .expect("spawn");
    let mut stdout = Vec::new();
    {
        use std::io::Read as _;
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_end(&mut stdout)
            .expect("read");
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain zeroed C struct, filled in by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid we hold; `status` and `usage` are valid
    // for writes. std's Child is not waited on afterwards.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let wall = start.elapsed();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        use std::io::{Read as _, Seek as _};
        let mut e = err_file;
        let mut msg = String::new();
        let _ = e.rewind();
        let _ = e.read_to_string(&mut msg);
        panic!("{cmd:?} failed:\n{msg}");
    }
    std::mem::forget(child);
    Run {
        wall,
        max_rss_kb: usage.ru_maxrss,
        stdout,
    }
}

fn generate_modules(dir: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository");
    let mdir = dir.join("modules");
    std::fs::create_dir_all(&mdir).expect("module dir");
    let mut imports = String::new();
    for m in 0..200 {
        let mut src = String::from("{ config, lib, ... }:\nlet t = lib.types; in {\n");
        for o in 0..10 {
            let (ty, val) = match o % 5 {
                0 => ("t.str", format!("\"m{m}-o{o}\"")),
                1 => ("t.int", format!("{}", m * 10 + o)),
                2 => ("t.listOf t.str", format!("[ \"a{m}\" \"b{o}\" ]")),
                3 => ("t.attrsOf (t.submodule { options.port = lib.mkOption { type = t.port; default = 80; }; options.host = lib.mkOption { type = t.str; default = \"localhost\"; }; })", format!("{{ site{o}.port = {}; }}", 1000 + m)),
                _ => ("t.bool", "true".to_owned()),
            };
            src.push_str(&format!(
                "  options.bench.m{m}.o{o} = lib.mkOption {{ type = {ty}; description = \"option {o} of module {m}\"; }};\n"
            ));
            let def = if o == 1 && m > 0 {
                format!("config.bench.m{}.o1 + 1", m - 1)
            } else if o == 2 {
                format!("lib.mkMerge [ {val} (lib.mkIf config.bench.m{m}.o4 [ \"extra\" ]) ]")
            } else if o == 4 {
                format!("lib.mkDefault {val}")
            } else {
                val
            };
            src.push_str(&format!("  config.bench.m{m}.o{o} = {def};\n"));
        }
        src.push_str("}\n");
        let f = mdir.join(format!("m{m}.nix"));
        std::fs::write(&f, src).expect("write module");
        imports.push_str(&format!("    {}\n", f.display()));
    }
    let top = dir.join("bench-configuration.nix");
    std::fs::write(
        &top,
        format!(
            "{{ imports = [\n    {}\n{imports}  ]; }}\n",
            root.join("examples/configuration.nix").display()
        ),
    )
    .expect("write configuration");
    format!(
        "let e = import {}/modules/eval-config.nix {{ configuration = {}; modulesDir = {}/modules; extraModules = [ ]; }};\n\
         in [ e.manifest e.failedAssertions (builtins.hashString \"sha256\" (builtins.toJSON e.config.bench)) ]",
        root.display(),
        top.display(),
        root.display()
    )
}

fn main() {
    if Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        println!("eval_vs_nix: nix-instantiate is not available; install Nix (Debian: nix-bin). Skipped.");
        return;
    }
    let reps = common::reps();
    let dir = tempfile::tempdir().expect("tempdir");
    if std::env::var_os("STRATA_BENCH_KEEP").is_some() {
        println!("programs kept in {}", dir.path().display());
    }
    println!(
        "{:<14} {:>12} {:>12} {:>7}   {:>12} {:>12} {:>7}",
        "program", "strata", "nix 2.8", "ratio", "strata RSS", "nix RSS", "ratio"
    );
    let generated = generate_modules(dir.path());
    let all: Vec<(&str, String)> = PROGRAMS
        .iter()
        .map(|(n, s)| (*n, (*s).to_owned()))
        .chain(std::iter::once(("modules", generated)))
        .collect();
    for (name, src) in &all {
        let file = dir.path().join(format!("{name}.nix"));
        std::fs::write(&file, src).expect("write program");
        let strata = |f: &Path| {
            let mut c = Command::new(STRATA);
            c.args(["eval", "--strict"]).arg(f);
            c
        };
        let nix = |f: &Path| {
            let mut c = common::nix_command("nix-instantiate");
            c.args(["--eval", "--strict"]).arg(f);
            c
        };
        let mut s_best = Duration::MAX;
        let mut n_best = Duration::MAX;
        let (mut s_rss, mut n_rss) = (0, 0);
        for i in 0..reps {
            let (s, n) = if i % 2 == 0 {
                let s = measure(&mut strata(&file));
                (s, measure(&mut nix(&file)))
            } else {
                let n = measure(&mut nix(&file));
                (measure(&mut strata(&file)), n)
            };
            assert_eq!(
                String::from_utf8_lossy(&s.stdout),
                String::from_utf8_lossy(&n.stdout),
                "{name}: strata and Nix printed different values"
            );
            s_best = s_best.min(s.wall);
            n_best = n_best.min(n.wall);
            s_rss = s_rss.max(s.max_rss_kb);
            n_rss = n_rss.max(n.max_rss_kb);
        }
        let _ = &file;
        println!(
            "{:<14} {:>10.3} s {:>10.3} s {:>7.2}   {:>9} KB {:>9} KB {:>7.2}",
            name,
            s_best.as_secs_f64(),
            n_best.as_secs_f64(),
            s_best.as_secs_f64() / n_best.as_secs_f64(),
            s_rss,
            n_rss,
            s_rss as f64 / n_rss.max(1) as f64
        );
    }
    if std::env::var_os("STRATA_BENCH_KEEP").is_some() {
        let _ = dir.keep();
    }
}
