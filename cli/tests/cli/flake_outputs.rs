//! What strata makes of a flake's outputs: its machines evaluated purely (no file of the host
//! outside the flake, its inputs, the store and strata's module set; no environment) unless
//! `--impure`, for `strata flake check|show` and every command taking `--flake`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::flake::{common_module, etc_text, Repos};
use crate::system::shared;
use crate::Output;

/// `strata ARGS` in `cwd` over the store `root`, with `HOME` set to `home`.
fn strata_home(root: &Path, cwd: &Path, home: &Path, args: &[&str]) -> Output {
    let mut c = crate::strata();
    c.current_dir(cwd)
        .env("HOME", home)
        .arg("--store-root")
        .arg(root)
        .args(args);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    crate::run(&mut c, None)
}

/// A flake (a git repository) with a machine that reads the host's `/etc/passwd`, one that
/// reads a file beside the flake (outside its tree), and one that asserts it sees no `HOME`.
fn impure_machines(r: &Repos) -> PathBuf {
    let outside = r.path("outside.txt");
    fs::write(&outside, "beside the flake\n").unwrap();
    let flake = format!(
        r#"{{
  outputs = {{ self }}: {{
    strataConfigurations.passwd = [ ./common.nix {{
      networking.hostName = "passwd";
      environment.etc."host-passwd".text = builtins.readFile /etc/passwd;
    }} ];
    strataConfigurations.beside = [ ./common.nix {{
      networking.hostName = "beside";
      environment.etc."beside".text = builtins.readFile {outside};
    }} ];
    strataConfigurations.env = [ ./common.nix {{
      networking.hostName = "env";
      assertions = [
        {{ assertion = builtins.getEnv "HOME" == ""; message = "HOME is seen: ${{builtins.getEnv "HOME"}}"; }}
        {{ assertion = !(builtins ? currentSystem || builtins ? currentTime); message = "the system and the time are known"; }}
      ];
    }} ];
  }};
}}
"#,
        outside = outside.display()
    );
    r.repo(
        "impure",
        &[("flake.nix", &flake), ("common.nix", &common_module())],
    )
}

#[test]
fn flakes_are_evaluated_purely_unless_impure() {
    let s = shared();
    let r = Repos::new();
    let repo = impure_machines(&r);
    let url = format!("git+file://{}", repo.display());
    let home = r.home.path();
    let run = |args: &[&str]| strata_home(&s.root(), r.dir.path(), home, args);

    // check: each machine in turn; pure, the host's files are refused and HOME is "".
    let o = run(&["flake", "check", &url]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    let text = o.text();
    assert!(text.contains("strataConfigurations.env: ok"), "{text}");
    for (name, file) in [
        ("passwd", "/etc/passwd".to_owned()),
        ("beside", r.path("outside.txt").display().to_string()),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("strataConfigurations.{name}: error")))
            .unwrap_or_else(|| panic!("no error for {name} in\n{text}"));
        assert!(
            line.contains(&format!("access to '{file}'"))
                && line.contains("pure evaluation")
                && line.contains("use --impure"),
            "{text}"
        );
    }
    // --impure: the files are read, and HOME is the caller's.
    let o = run(&["flake", "check", "--impure", &url]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    let text = o.text();
    assert!(
        text.contains("strataConfigurations.passwd: ok")
            && text.contains("strataConfigurations.beside: ok"),
        "{text}"
    );
    assert!(
        text.contains(&format!("HOME is seen: {}", home.display()))
            && text.contains("the system and the time are known"),
        "{text}"
    );

    // show evaluates the outputs purely too.
    let o = run(&["flake", "show", &url]).ok();
    assert!(
        o.text().contains("passwd: strata configuration"),
        "{}",
        o.text()
    );

    // A build refuses before building anything; --impure builds, with the file read.
    let o = run(&[
        "build",
        "--flake",
        &format!("{url}#beside"),
        "--no-out-link",
    ]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("outside.txt' is refused in pure evaluation")
            && o.stderr.contains("use --impure"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let o = run(&[
        "build",
        "--flake",
        &format!("{url}#beside"),
        "--impure",
        "--no-out-link",
    ])
    .ok();
    let top = o.line();
    assert!(top.contains("-strata-system-beside"), "{top}");
    assert_eq!(etc_text(&s, &top, "beside"), "beside the flake\n");
    // --impure is a flake's: without --flake it is refused by the command line.
    let o = run(&["build", "--impure", "--no-out-link"]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
}

/// `strata shell ARGS` in `cwd` over the shared store, with `HOME` set to `home`.
fn shell_in(s: &crate::system::Shared, cwd: &Path, home: &Path, args: &[&str]) -> Output {
    let mut c = crate::strata();
    c.current_dir(cwd)
        .env("HOME", home)
        .arg("--store-root")
        .arg(s.root())
        .arg("shell")
        .args(args);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    crate::run(&mut c, None)
}

#[test]
fn shell_reads_a_flake_s_dev_shells() {
    let s = shared();
    let r = Repos::new();
    let repo = r.repo(
        "project",
        &[
            (
                "flake.nix",
                r#"{
  outputs = { self }: {
    devShells.x86_64-linux.default = { pkgs }: pkgs.mkShell {
      packages = [ pkgs.jq ];
      FROM = "the default shell";
      HOME_SEEN = builtins.getEnv "HOME";
    };
    devShells.x86_64-linux.other = ./other.nix;
  };
}
"#,
            ),
            (
                "other.nix",
                "{ pkgs ? import <nixpkgs> { } }: pkgs.mkShell { FROM = \"other.nix\"; }\n",
            ),
        ],
    );
    // In the flake's directory, `strata shell` is `nix develop`: the default shell.
    let o = shell_in(
        &s,
        &repo,
        r.home.path(),
        &["--run", "echo \"$FROM/$HOME_SEEN\"; jq --version"],
    )
    .ok();
    let lines = o.lines();
    assert_eq!(lines[0], "the default shell/", "{}", o.stderr);
    assert!(lines[1].starts_with("jq-"), "{lines:?}");
    // --flake REF#NAME, from elsewhere; a shell file as a path.
    let url = format!("git+file://{}", repo.display());
    let o = shell_in(
        &s,
        r.dir.path(),
        r.home.path(),
        &["--flake", &format!("{url}#other"), "--run", "echo $FROM"],
    )
    .ok();
    assert_eq!(o.line(), "other.nix");
    // --impure: the environment is seen.
    let o = shell_in(
        &s,
        r.dir.path(),
        r.home.path(),
        &["--flake", &url, "--impure", "--run", "echo $HOME_SEEN"],
    )
    .ok();
    assert_eq!(o.line(), r.home.path().display().to_string());
    // An unknown shell: the flake's are listed.
    let o = shell_in(
        &s,
        r.dir.path(),
        r.home.path(),
        &["--flake", &format!("{url}#nope")],
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("no devShells.x86_64-linux.nope (its shells: default, other)"),
        "{}",
        o.stderr
    );
}

/// The text of `share/strata/strata.lock` in the toplevel `top`: the lock it was built with.
fn built_with(s: &crate::system::Shared, top: &str) -> String {
    let strata = s.real(top).join("strata");
    let real = s.real(&fs::read_link(&strata).unwrap().to_string_lossy());
    fs::read_to_string(real.join("share/strata/strata.lock")).unwrap()
}

#[test]
fn the_input_named_strata_supplies_the_package_set() {
    let s = shared();
    let r = Repos::new();
    // A suite pin of its own, in a repository: first the very pin strata's own lock is.
    let own = fs::read_to_string(crate::system::repo().join("examples/strata.lock")).unwrap();
    let pin = r.repo("pin", &[("strata.lock", &own)]);
    let flake = |input: Option<&Path>| {
        let input = input
            .map(|p| {
                format!(
                    "inputs.strata = {{ url = \"git+file://{}\"; flake = false; }};\n  ",
                    p.display()
                )
            })
            .unwrap_or_default();
        format!(
            "{{\n  {input}outputs = {{ self, ... }}: {{\n    \
             strataConfigurations.pinned = [ ./common.nix {{ networking.hostName = \"pinned\"; }} ];\n  \
             }};\n}}\n"
        )
    };
    let repo = r.repo(
        "machines",
        &[
            ("flake.nix", &flake(Some(&pin))),
            ("common.nix", &common_module()),
        ],
    );
    let url = format!("git+file://{}#pinned", repo.display());
    let run = |args: &[&str]| strata_home(&s.root(), r.dir.path(), r.home.path(), args);
    let build = || run(&["build", "--flake", &url, "--no-out-link"]);
    let o = build().ok();
    let pinned_top = o.line();
    assert!(
        o.stderr
            .contains("the packages are those of the flake's input 'strata'"),
        "{}",
        o.stderr
    );
    assert_eq!(built_with(&s, &pinned_top), own);

    // The pin moves (one index less: a pin of its own, of the digest the store has), and the
    // flake follows it once its input is updated: another toplevel, which carries that pin.
    let fewer: String = own
        .lines()
        .filter(|l| !l.contains("non-free-firmware"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(fewer, own);
    r.commit("pin", &[("strata.lock", &fewer)], "fewer indexes");
    assert_eq!(build().ok().line(), pinned_top, "locked: nothing moves");
    run(&[
        "flake",
        "update",
        "--flake",
        &repo.display().to_string(),
        "strata",
    ])
    .ok();
    let moved = build().ok().line();
    assert_ne!(moved, pinned_top);
    assert_eq!(built_with(&s, &moved), fewer);

    // Without the input: strata's own lock, and the machine of the first pin again.
    r.commit("machines", &[("flake.nix", &flake(None))], "no pin");
    let o = build().ok();
    assert!(
        o.stderr.contains("has no package-set input"),
        "{}",
        o.stderr
    );
    assert_eq!(o.line(), pinned_top);

    // An input named strata without a lock is not taken for a pin.
    let empty = r.repo("empty", &[("README", "no lock here\n")]);
    r.commit(
        "machines",
        &[("flake.nix", &flake(Some(&empty)))],
        "empty pin",
    );
    let o = build();
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("input 'strata'") && o.stderr.contains("holds no strata.lock"),
        "{}",
        o.stderr
    );
}
