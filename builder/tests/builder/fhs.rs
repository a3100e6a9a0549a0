//! The sandbox's FHS mode (`__strataFhs`): a tree of this host's dynamic programs and their
//! libraries, mounted at `/usr`, runs inside the sandbox; without the attribute it does not,
//! and a tree that is not an input is refused; `/etc/sudoers` is checked by a `visudo` of such
//! a tree and `/etc/ssh/sshd_config` by its `sshd -t`, and a rejected line fails the build
//! naming it.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_builder::build::{realise, BuildError, BuildOptions};
use strata_store::derivation::Derivation;
use strata_store::StorePath;

use crate::common::{harness, DrvSpec, Harness};

/// The host's dynamic loader, which every program of the tree names as its interpreter.
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

/// The libraries `ldd` lists for `program` (resolved paths; the loader and the vDSO left out).
fn libraries(program: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd")
        .arg(program)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .output()
        .expect("run ldd");
    assert!(out.status.success(), "ldd {}", program.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("=> ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// A usr-merged tree of the host's `env`, `ls` and `true`, their libraries (below
/// `usr/lib/x86_64-linux-gnu`) and the loader (`usr/lib64`), with a loader cache when asked.
fn host_tree(dir: &Path, cache: bool) -> PathBuf {
    let tree = dir.join(if cache { "tree-cache" } else { "tree" });
    let libdir = tree.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
    std::fs::create_dir_all(&libdir).unwrap();
    std::fs::create_dir_all(tree.join("usr/lib64")).unwrap();
    for prog in ["env", "ls", "true"] {
        let host = Path::new("/usr/bin").join(prog);
        std::fs::copy(&host, tree.join("usr/bin").join(prog)).unwrap();
        for lib in libraries(&host) {
            std::fs::copy(&lib, libdir.join(lib.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(LOADER, tree.join("usr/lib64/ld-linux-x86-64.so.2")).unwrap();
    if cache {
        // Not a cache the loader can read (it ignores one with a wrong magic and searches
        // its default directories): the test only looks at where the link points.
        std::fs::create_dir_all(tree.join("usr/lib/strata")).unwrap();
        std::fs::write(tree.join("usr/lib/strata/ld.so.cache"), "marker\n").unwrap();
    }
    tree
}

/// Writes a derivation running `script` with busybox sh, with `inputs` as input sources
/// and `fhs` as its `__strataFhs`.
fn fhs_drv(
    h: &mut Harness,
    name: &str,
    script: &str,
    inputs: &[&StorePath],
    fhs: Option<&StorePath>,
) -> (StorePath, Derivation) {
    let env = fhs
        .map(|t| ("__strataFhs".to_owned(), h.store.print(t)))
        .into_iter()
        .collect();
    h.write_drv(DrvSpec {
        name,
        script,
        outputs: &["out"],
        input_srcs: inputs,
        env,
        ..Default::default()
    })
}

const SCRIPT: &str =
    "PATH=/usr/bin /usr/bin/env true && /usr/bin/ls /usr > $out && /bin/ls / >> $out && \
                      readlink /bin >> $out && readlink /lib64 >> $out && \
                      { readlink /etc/ld.so.cache || echo no-cache; } >> $out";

#[test]
fn fhs_mode_runs_debian_style_dynamic_programs() {
    let mut h = harness();
    let tree = host_tree(h.dir.path(), false);
    let tree = h.store.add_path(&tree, Some("fhs-tree")).unwrap().path;
    let (p, d) = fhs_drv(&mut h, "fhs", SCRIPT, &[&tree], Some(&tree));
    let outs = realise(&mut h.store, &p, &d, &BuildOptions::default())
        .unwrap_or_else(|e| panic!("the FHS build failed: {e}"));
    let text = std::fs::read_to_string(h.store.real_path(&outs["out"])).unwrap();
    assert_eq!(
        text,
        "bin\nlib\nlib64\n\
         bin\nbuild\ndev\netc\nlib\nlib64\nnix\nproc\nsbin\ntmp\nusr\n\
         usr/bin\nusr/lib64\nno-cache\n"
    );
}

#[test]
fn fhs_mode_links_the_trees_loader_cache() {
    let mut h = harness();
    let tree = host_tree(h.dir.path(), true);
    let tree = h.store.add_path(&tree, Some("fhs-tree")).unwrap().path;
    let (p, d) = fhs_drv(&mut h, "fhs-cache", SCRIPT, &[&tree], Some(&tree));
    let outs = realise(&mut h.store, &p, &d, &BuildOptions::default())
        .unwrap_or_else(|e| panic!("the FHS build failed: {e}"));
    let text = std::fs::read_to_string(h.store.real_path(&outs["out"])).unwrap();
    assert!(
        text.ends_with("usr/bin\nusr/lib64\n/usr/lib/strata/ld.so.cache\n"),
        "{text}"
    );
}

#[test]
fn without_fhs_mode_the_same_build_fails() {
    let mut h = harness();
    let tree = host_tree(h.dir.path(), false);
    let tree = h.store.add_path(&tree, Some("fhs-tree")).unwrap().path;
    let (p, d) = fhs_drv(&mut h, "no-fhs", SCRIPT, &[&tree], None);
    let err = realise(&mut h.store, &p, &d, &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, BuildError::Failed { .. }), "{err}");
}

#[test]
fn an_fhs_tree_that_is_not_an_input_is_refused() {
    let mut h = harness();
    let tree = host_tree(h.dir.path(), false);
    let tree = h.store.add_path(&tree, Some("fhs-tree")).unwrap().path;
    let (p, d) = fhs_drv(&mut h, "not-input", SCRIPT, &[], Some(&tree));
    let err = realise(&mut h.store, &p, &d, &BuildOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("__strataFhs of 'not-input'")
            && err.contains(&format!(
                "'{}' is not an input of the derivation",
                h.store.print(&tree)
            )),
        "{err}"
    );
    let out = h.store.store_dir().parse(&d.outputs["out"].path).unwrap();
    assert!(!h.store.is_valid(&out).unwrap());
}

/// Writes an executable busybox script at `tree/<rel>`.
fn stand_in(h: &Harness, tree: &Path, rel: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let file = tree.join(rel);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, format!("#!{} sh\n{body}", h.busybox)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Evaluates `body`, a Nix expression that may use `modules` (strata's module directory) and
/// `pkgs` (the trivial builders, with `tree`, a store path, as every `pkgs.debianTools` tree),
/// as a system build evaluates it; its value as JSON.
pub(crate) fn eval_json(h: &Harness, tree: &StorePath, body: &str) -> serde_json::Value {
    use strata_builder::eval_io::StoreIo;
    use strata_lang::{source::Span, EvalConfig, Evaluator};
    use strata_store::{LocalStore, StoreDir};

    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules");
    let store = LocalStore::open(&h.root, StoreDir::default()).unwrap();
    let mut ev = Evaluator::new(EvalConfig::default(), std::rc::Rc::new(StoreIo::new(store)));
    ev.set_trace_sink(Box::new(|_| {}));
    ev.reset_stack_base();
    let expr = format!(
        "let modules = {m}; \
           pkgs = import {m}/pkgs/trivial.nix {{ busybox = builtins.storePath \"{bb}\"; }} \
             // {{ debianTools = names: builtins.storePath \"{tree}\"; }}; \
         in {body}",
        m = modules.display(),
        bb = h.busybox_path,
        tree = h.store.print(tree),
    );
    let span = Span {
        file: 0,
        start: 0,
        end: 0,
    };
    let v = ev
        .eval_string(&expr)
        .and_then(|v| ev.deep_force(&v, span))
        .unwrap_or_else(|e| panic!("{}", e.render(&ev.sources)));
    let mut out = Vec::new();
    strata_lang::print::to_json(&mut ev, &v, span, &mut out, &mut Default::default()).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// The derivation that makes `/etc/<target>` for `configuration`, evaluated with the trivial
/// builders and `tree` (a store path) as every `pkgs.debianTools` tree, as a system build
/// evaluates it.
fn etc_drv(h: &Harness, tree: &StorePath, target: &str, configuration: &str) -> StorePath {
    let j = eval_json(
        h,
        tree,
        &format!(
            "(import (modules + \"/eval-config.nix\") {{ configuration = {configuration}; \
               modulesDir = modules; inherit pkgs; }}).config.environment.etc.\"{target}\".source.drvPath"
        ),
    );
    h.store.store_dir().parse(j.as_str().unwrap()).unwrap()
}

/// Builds `drv` with the scheduler; its output's text, or the error.
fn build_text(h: &Harness, drv: &StorePath) -> Result<String, String> {
    use strata_builder::scheduler::{realise_all, SchedulerOptions};
    realise_all(
        &h.root,
        h.store.store_dir(),
        std::slice::from_ref(drv),
        &SchedulerOptions::default(),
    )
    .map(|b| std::fs::read_to_string(h.store.real_path(&b[drv]["out"])).unwrap())
    .map_err(|e| e.to_string())
}

/// The check of `/etc/sudoers` (`modules/security/sudo.nix`) as a system build runs it: the
/// module's derivation, with `pkgs.debianTools [ "sudo" ]` as its FHS tree. The tree here
/// holds a stand-in `visudo` (a busybox script answering as Debian's does: `FILE:LINE:COL:
/// syntax error` on a rule it rejects), so the test needs no sudo package.
#[test]
fn sudoers_are_checked_in_fhs_mode_and_a_rejected_line_is_named() {
    let mut h = harness();
    let tree = h.dir.path().join("sudo-tools");
    stand_in(
        &h,
        &tree,
        "usr/sbin/visudo",
        "[ \"$1 $2\" = '-c -f' ] || exit 2\n\
         n=$(grep -n 'FOO:' \"$3\" | head -n 1 | cut -d: -f1)\n\
         if [ -n \"$n\" ]; then echo \"$3:$n:21: syntax error\" >&2; exit 1; fi\n\
         echo \"$3: parsed OK\"\n",
    );
    let tree = h.store.add_path(&tree, Some("debian-tools")).unwrap().path;

    let good = etc_drv(
        &h,
        &tree,
        "sudoers",
        "{ security.sudo.wheelNeedsPassword = false; }",
    );
    let text = build_text(&h, &good).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.ends_with(
            "root\tALL=(ALL:ALL)\tSETENV: ALL\n%wheel\tALL=(ALL:ALL)\tNOPASSWD:SETENV: ALL\n"
        ),
        "{text}"
    );

    let bad = etc_drv(
        &h,
        &tree,
        "sudoers",
        "{ security.sudo.extraConfig = \"%wheel ALL=(ALL:ALL) FOO: ALL\"; }",
    );
    let e = build_text(&h, &bad).unwrap_err();
    assert!(
        e.contains(
            "security.sudo: /etc/sudoers line 10 (\"%wheel ALL=(ALL:ALL) FOO: ALL\") rejected \
             by visudo: syntax error"
        ),
        "{e}"
    );
}

/// The check of `/etc/ssh/sshd_config` (`modules/services/openssh.nix`): `sshd -t` in FHS
/// mode over `pkgs.debianTools [ "openssh-server" ]`, against a host key the derivation makes
/// with `ssh-keygen` (the machine's keys do not exist in the sandbox). The tree holds
/// stand-ins answering as Debian's 9.2p1 programs do (their messages copied from the real
/// ones): `ssh-keygen` writes the key file `-f` names, and `sshd` refuses to run without it,
/// says `Unable to load host key` for each HostKey of the file (as the real one does when
/// they are missing), and rejects an unknown keyword and a bad PermitRootLogin value with
/// its two message forms, `FILE: line N: ...` and `FILE line N: ...`.
#[test]
fn sshd_config_is_checked_by_sshd_and_a_rejected_line_is_named() {
    let mut h = harness();
    let tree = h.dir.path().join("openssh-tools");
    stand_in(
        &h,
        &tree,
        "usr/bin/ssh-keygen",
        "while [ $# -gt 0 ]; do [ \"$1\" = -f ] && f=$2; shift; done\n\
         [ -n \"$f\" ] || exit 2\n\
         echo 'stand-in private key' > \"$f\" && chmod 0600 \"$f\" && echo pub > \"$f.pub\"\n",
    );
    stand_in(
        &h,
        &tree,
        "usr/sbin/sshd",
        "[ \"$1 $2 $4\" = '-t -f -h' ] || { echo \"usage: $*\" >&2; exit 2; }\n\
         f=$3\n\
         [ -s \"$5\" ] || { echo 'sshd: no hostkeys available -- exiting.' >&2; exit 1; }\n\
         grep '^HostKey ' \"$f\" | while read -r k p; do echo \"Unable to load host key: $p\" >&2; done\n\
         n=$(grep -n '^Bogus ' \"$f\" | head -n 1 | cut -d: -f1)\n\
         if [ -n \"$n\" ]; then\n\
           echo \"$f: line $n: Bad configuration option: Bogus\" >&2\n\
           echo \"$f: terminating, 1 bad configuration options\" >&2; exit 255\n\
         fi\n\
         n=$(grep -n '^PermitRootLogin maybe' \"$f\" | head -n 1 | cut -d: -f1)\n\
         if [ -n \"$n\" ]; then echo \"$f line $n: unsupported option \\\"maybe\\\".\" >&2; exit 255; fi\n",
    );
    let tree = h.store.add_path(&tree, Some("debian-tools")).unwrap().path;
    let config = |extra: &str| {
        format!(
            "{{ services.openssh = {{ enable = true; settings.PasswordAuthentication = false; \
             extraConfig = \"{extra}\"; }}; }}"
        )
    };

    let good = etc_drv(
        &h,
        &tree,
        "ssh/sshd_config",
        &config("Match User bob\\n  X11Forwarding yes\\n"),
    );
    let text = build_text(&h, &good).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("\nPasswordAuthentication no\n"), "{text}");
    assert!(
        text.ends_with(
            "HostKey /etc/ssh/ssh_host_ed25519_key\n\nMatch User bob\n  X11Forwarding yes\n"
        ),
        "{text}"
    );

    // The 14 settings, a blank line, 8 lines of listening, sftp, keys and host keys, and a
    // blank line come first: extraConfig starts at line 24.
    let bad = etc_drv(&h, &tree, "ssh/sshd_config", &config("Bogus yes\\n"));
    let e = build_text(&h, &bad).unwrap_err();
    assert!(
        e.contains(
            "services.openssh: /etc/ssh/sshd_config line 24 (\"Bogus yes\") rejected by sshd: \
             Bad configuration option: Bogus"
        ),
        "{e}"
    );
    // The missing host keys are the check's doing, not the file's: left out of the report.
    assert!(!e.contains("Unable to load host key"), "{e}");

    let bad = etc_drv(
        &h,
        &tree,
        "ssh/sshd_config",
        &config("PermitRootLogin maybe\\n"),
    );
    let e = build_text(&h, &bad).unwrap_err();
    assert!(
        e.contains(
            "services.openssh: /etc/ssh/sshd_config line 24 (\"PermitRootLogin maybe\") rejected \
             by sshd: unsupported option \"maybe\"."
        ),
        "{e}"
    );
}
