//! The module system and the option set (`modules/`), on the test programs and
//! configurations in `modules/tests`.
//!
//! - `eval-okay-*.nix` evaluate modules with strata's library and must print their `.exp`
//!   (written by hand from NixOS's module semantics; Nix 2.8 running the same library prints
//!   the same, which `lib_agrees_with_nix` checks when Nix is installed);
//! - `eval-fail-*.nix` must fail with an error containing their `.err`;
//! - `config-fail-*.nix` are machine configurations whose evaluation must fail with a message
//!   containing their `.err`; `example.json` is the builder's input for
//!   `examples/configuration.nix`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::on_eval_thread;
use strata_builder::config;
use strata_lang::source::Span;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

fn programs(prefix: &str) -> Vec<PathBuf> {
    let dir = root().join("modules/tests");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("modules/tests")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with(prefix) && n.ends_with(".nix")
        })
        .collect();
    v.sort();
    v
}

fn eval_file(file: PathBuf) -> Result<String, String> {
    on_eval_thread(move |ev| {
        let span = Span {
            file: 0,
            start: 0,
            end: 0,
        };
        let v = ev.eval_file(&file).map_err(|e| e.render(&ev.sources))?;
        let out = strata_lang::print::print_value(ev, &v, true, span)
            .map_err(|e| e.render(&ev.sources))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
}

#[test]
fn module_system_merges_as_nixos_does() {
    let okay = programs("eval-okay-");
    assert!(okay.len() >= 10, "test programs missing");
    let mut failures = Vec::new();
    for p in okay {
        let exp = std::fs::read_to_string(p.with_extension("exp")).expect("expected output");
        match eval_file(p.clone()) {
            Ok(got) if got == exp.trim_end() => {}
            Ok(got) => failures.push(format!(
                "{}: printed\n  {got}\nexpected\n  {}",
                p.display(),
                exp.trim_end()
            )),
            Err(e) => failures.push(format!("{}: failed:\n{e}", p.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn module_errors_name_the_option_the_files_and_the_values() {
    let fail = programs("eval-fail-");
    assert!(fail.len() >= 8, "test programs missing");
    let mut failures = Vec::new();
    for p in fail {
        let want = std::fs::read_to_string(p.with_extension("err")).expect("expected error");
        match eval_file(p.clone()) {
            Ok(v) => failures.push(format!("{}: printed {v} but must fail", p.display())),
            Err(e) if e.contains(want.trim_end()) => {}
            Err(e) => failures.push(format!(
                "{}: error\n{e}\ndoes not contain\n{}",
                p.display(),
                want.trim_end()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn example_configuration_evaluates_to_the_expected_builder_input() {
    let root = root();
    let modules = root.join("modules");
    let example = root.join("examples/configuration.nix");
    let got = on_eval_thread(move |ev| {
        config::evaluate(ev, &modules, &example).map_err(|e| e.to_string())
    });
    let evaluated = got.unwrap_or_else(|e| panic!("examples/configuration.nix failed: {e}"));
    // The example gives alice a first password in clear text, which strata warns about.
    assert_eq!(evaluated.warnings.len(), 1, "{:?}", evaluated.warnings);
    assert!(
        evaluated.warnings[0]
            .starts_with("users.users.alice.initialPassword holds a password in clear text"),
        "{:?}",
        evaluated.warnings
    );
    let c = &evaluated.config;
    assert_eq!(c.host_name, "saguaro");
    assert_eq!(c.time_zone.as_deref(), Some("America/Phoenix"));
    assert!(c.boot.loader.grub.enable && !c.boot.loader.systemd_boot.enable);
    let alice = &c.users.users["alice"];
    assert!(alice.is_normal_user && alice.extra_groups.contains(&"wheel".to_owned()));
    assert_eq!(alice.home, "/home/alice");
    assert!(c.services.contains_key("hello"));
    let json = serde_json::to_value(c).expect("serialise");
    // STRATA_BLESS=1 rewrites the golden file (review its diff before committing).
    if std::env::var_os("STRATA_BLESS").is_some() {
        let mut text = serde_json::to_string_pretty(c).expect("serialise");
        text.push('\n');
        std::fs::write(root.join("modules/tests/example.json"), text).expect("write example.json");
    }
    let exp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("modules/tests/example.json")).expect("example.json"),
    )
    .expect("example.json is JSON");
    assert_eq!(
        json, exp,
        "the builder input of examples/configuration.nix changed"
    );
}

#[test]
fn broken_configurations_are_refused_with_their_reason() {
    let root = root();
    let configs = programs("config-fail-");
    assert!(configs.len() >= 4, "test configurations missing");
    let mut failures = Vec::new();
    for p in configs {
        let want = std::fs::read_to_string(p.with_extension("err")).expect("expected error");
        assert!(
            !want.trim().is_empty(),
            "{}: the .err file is empty",
            p.display()
        );
        let modules = root.join("modules");
        let file = p.clone();
        let got = on_eval_thread(move |ev| {
            config::evaluate(ev, &modules, &file)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        match got {
            Ok(()) => failures.push(format!("{}: evaluated, but must be refused", p.display())),
            Err(e) if e.contains(want.trim_end()) => {}
            Err(e) => failures.push(format!(
                "{}: error\n{e}\ndoes not contain\n{}",
                p.display(),
                want.trim_end()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The library is plain Nix: Nix 2.8 evaluating the same programs prints the same values.
#[test]
fn lib_agrees_with_nix() {
    if Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        if std::env::var_os("STRATA_SKIP_NIX_TESTS").is_some() {
            eprintln!("skipped: nix-instantiate is not installed");
            return;
        }
        panic!(
            "nix-instantiate is missing: install Debian's nix-bin (or set STRATA_SKIP_NIX_TESTS=1)"
        );
    }
    let scratch = tempfile::tempdir().expect("scratch");
    write_nix_conf(scratch.path());
    for p in programs("eval-okay-") {
        let out = Command::new("nix-instantiate")
            .args(["--eval", "--strict"])
            .arg(&p)
            .env("NIX_CONF_DIR", scratch.path())
            .env("HOME", scratch.path())
            .output()
            .expect("run nix-instantiate");
        let exp = std::fs::read_to_string(p.with_extension("exp")).expect("expected output");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            exp.trim_end(),
            "{}",
            p.display()
        );
    }
}

#[test]
fn login_shells_get_the_system_path_and_the_declared_variables() {
    let root = root();
    let modules = root.join("modules");
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("configuration.nix");
    let text = std::fs::read_to_string(root.join("examples/configuration.nix"))
        .expect("example")
        .replace(
            "  system.stateVersion",
            "  environment.variables = { GREETING = \"it's $HOME `here`\"; SEARCH = [ \"/a\" \"/b c\" ]; };\n  system.stateVersion",
        );
    std::fs::write(&conf, text).expect("write");
    let got =
        on_eval_thread(move |ev| config::evaluate(ev, &modules, &conf).map_err(|e| e.to_string()));
    let c = got.unwrap_or_else(|e| panic!("{e}")).config;
    let profile = c.environment.etc["profile"]
        .text
        .clone()
        .expect("/etc/profile has text");
    let file = dir.path().join("profile");
    std::fs::write(&file, &profile).expect("write");
    // The shell reads back exactly what was declared: no expansion, lists joined.
    let o = Command::new("sh")
        .arg("-c")
        .arg(". \"$1\" && printf '%s|%s|%s' \"$GREETING\" \"$SEARCH\" \"$PATH\"")
        .arg("sh")
        .arg(&file)
        .output()
        .expect("sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "it's $HOME `here`|/a:/b c|/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:\
         /usr/bin:/sbin:/bin:\
         /run/current-system/strata/bin"
    );
}

/// Nix's configuration for the oracle runs, so the host's state (a missing `nixbld` group, a
/// configured substituter) cannot change what Nix prints.
fn write_nix_conf(dir: &Path) {
    std::fs::write(
        dir.join("nix.conf"),
        "build-users-group =\nsubstituters =\n",
    )
    .expect("write nix.conf");
}
