//! `strata shell`: Debian packages of `examples/strata.lock` in a shell on this host, without
//! root. The packages come from the archive the host's apt sources name, into the store the
//! [`system`](crate::system) tests share (so the first test fetches what the others reuse).

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::system::{repo, shared, Shared};
use crate::{run, Output};

/// `strata --store-root <shared> shell ARGS...` in the directory `dir`.
fn shell(s: &Shared, dir: &Path, args: &[&str]) -> Output {
    let mut c = crate::strata();
    c.current_dir(dir)
        .arg("--store-root")
        .arg(s.root())
        .arg("shell")
        .args(args);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    run(&mut c, None)
}

/// What `command -v NAME` finds on this host, outside any shell.
fn host_has(name: &str) -> Option<String> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The store path (physical) of the unpacked package `name` in the shared store.
fn package_dir(s: &Shared, name: &str) -> PathBuf {
    let store = s.root().join("nix/store");
    let prefix = format!("-{name}-");
    fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.get(32..).is_some_and(|rest| {
                rest.starts_with(&prefix)
                    && rest[prefix.len()..].starts_with(|c: char| c.is_ascii_digit())
                    && !n.ends_with(".drv")
                    && !n.ends_with(".deb")
            }) && p.is_dir()
        })
        .unwrap_or_else(|| panic!("no unpacked {name} in {}", store.display()))
}

/// The upstream part of a store name's Debian version: `<hash>-jq-1.6-2.1+deb12u1` -> `1.6`.
fn upstream_version(dir: &Path, name: &str) -> String {
    let n = dir.file_name().unwrap().to_string_lossy().into_owned();
    let version = &n[33 + name.len() + 1..];
    let version = version.split_once('_').map_or(version, |(_, v)| v);
    version
        .rsplit_once('-')
        .map_or(version, |(u, _)| u)
        .to_owned()
}

#[test]
fn jq_comes_from_the_suite_and_leaves_the_host_as_it_was() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let before = host_has("jq");
    let o = shell(
        &s,
        work.path(),
        &[
            "-p",
            "jq",
            "--run",
            "jq --version; stat -c %i /usr/bin/jq; command -v jq",
        ],
    )
    .ok();
    let lines = o.lines();
    let jq = package_dir(&s, "jq");
    assert_eq!(
        lines[0],
        format!("jq-{}", upstream_version(&jq, "jq")),
        "Debian's jq, of the version the lock pins"
    );
    // The very file of the unpacked package (the tree hard-links it), whatever the host has.
    let inode = fs::metadata(jq.join("usr/bin/jq")).unwrap().ino();
    assert_eq!(lines[1], inode.to_string(), "{lines:?}");
    assert_eq!(lines[2], "/usr/bin/jq");
    // Nothing was installed on the host.
    assert_eq!(host_has("jq"), before);
    if before.is_none() {
        eprintln!("this host has no jq, and still has none after the shell");
    }
}

#[test]
fn python3_with_numpy() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let o = shell(
        &s,
        work.path(),
        &[
            "-p",
            "python3",
            "python3-numpy",
            "--run",
            "python3 -c 'import numpy; print(numpy.__version__)'",
        ],
    )
    .ok();
    let numpy = package_dir(&s, "python3-numpy");
    let upstream = upstream_version(&numpy, "python3-numpy");
    assert_eq!(o.line(), upstream.split('+').next().unwrap(), "{o:?}");
    // A Debian name with a dot is a name, not an attribute path.
    let o = shell(
        &s,
        work.path(),
        &["-p", "python3.11", "--run", "python3.11 -c 'print(6 * 7)'"],
    )
    .ok();
    assert_eq!(o.line(), "42");
}

/// A project's shell.nix: packages, a variable, an argument, inputsFrom and hooks.
const PROJECT: &str = r#"{ pkgs ? import <nixpkgs> { }, greeting ? "hello" }:
let base = pkgs.mkShell { packages = [ pkgs.hello ]; shellHook = "echo base hook"; };
in pkgs.mkShell {
  packages = [ pkgs.jq ];
  inputsFrom = [ base ];
  env.PROJECT_NAME = "demo";
  GREETING = greeting;
  shellHook = ''
    echo "project hook in $PWD"
    export FROM_HOOK=yes
  '';
}
"#;

/// The shell.nix checks, run by `strata` as `cmd` makes it (as the caller or another user).
fn project_checks(mut cmd: Command, dir: &Path) {
    fs::write(dir.join("shell.nix"), PROJECT).unwrap();
    cmd.current_dir(dir).args([
        "shell",
        "--argstr",
        "greeting",
        "hi there",
        "--run",
        "echo $PROJECT_NAME/$GREETING/$FROM_HOOK/$IN_NIX_SHELL; hello; jq -n '1+1'; touch made-in-shell",
    ]);
    let o = run(&mut cmd, None).ok();
    assert_eq!(
        o.lines(),
        [
            "base hook".to_owned(),
            format!("project hook in {}", dir.display()),
            "demo/hi there/yes/impure".to_owned(),
            "Hello, world!".to_owned(),
            "2".to_owned(),
        ],
        "{}",
        o.stderr
    );
    let made = fs::metadata(dir.join("made-in-shell")).unwrap();
    let me = fs::metadata(dir).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (me.uid(), me.gid()),
        "a file made in the shell is its user's"
    );
}

#[test]
fn a_shell_nix_with_packages_a_variable_and_a_hook() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let mut c = crate::strata();
    c.arg("--store-root")
        .arg(s.root())
        .env_remove("STRATA_DEBIAN_MIRROR");
    project_checks(c, work.path());
}

/// A user this test makes (`useradd`) and removes again.
struct ThrowawayUser {
    name: &'static str,
    uid: u32,
    gid: u32,
}

impl ThrowawayUser {
    fn create(name: &'static str) -> ThrowawayUser {
        let _ = Command::new("userdel").arg(name).output();
        let o = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/bin/sh",
                name,
            ])
            .output()
            .expect("useradd (passwd) is needed to test an unprivileged user");
        assert!(
            o.status.success(),
            "useradd: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, name]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        ThrowawayUser {
            name,
            uid: id("-u"),
            gid: id("-g"),
        }
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(self.name).output();
    }
}

/// Copies `src` (a tree of directories and files) to `dst`.
fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
}

#[test]
fn the_same_as_an_unprivileged_user() {
    // Who runs the tests: /proc/self belongs to the process's effective user.
    let me = fs::metadata("/proc/self").unwrap().uid();
    if me != 0 {
        eprintln!(
            "skipped: the test makes a throwaway user with useradd, which needs root; the other \
             shell tests already run as an unprivileged user (uid {me})"
        );
        return;
    }
    let s = shared();
    // The digest of the lock, from the shared store (a shell makes it there if need be).
    let warm = tempfile::tempdir().unwrap();
    shell(&s, warm.path(), &["-p", "hello", "--run", "true"]).ok();
    let digest = fs::read_dir(s.root().join("nix/store"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy()
                .ends_with("-debian-digest-bookworm-amd64")
        })
        .expect("the lock's digest in the shared store");
    drop(s);

    let user = ThrowawayUser::create("strata-shell-test");
    // strata as it is installed (bin/, share/strata/ with the module set, the lock and its
    // digest), where the user can read it whatever the checkout's permissions.
    let base = tempfile::Builder::new()
        .prefix("shell-user-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let prefix = base.path().join("strata");
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_strata"), prefix.join("bin/strata")).unwrap();
    let share = prefix.join("share/strata");
    copy_tree(&repo().join("modules"), &share.join("modules"));
    fs::copy(
        repo().join("examples/strata.lock"),
        share.join("strata.lock"),
    )
    .unwrap();
    fs::copy(&digest, share.join("debian-digest")).unwrap();
    let home = base.path().join("home");
    let project = home.join("project");
    fs::create_dir_all(&project).unwrap();
    for d in [base.path(), &home, &project] {
        std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid)).unwrap();
    }
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).unwrap();

    let mut c = Command::new(prefix.join("bin/strata"));
    c.uid(user.uid)
        .gid(user.gid)
        .env_clear()
        .env("HOME", &home)
        .env("USER", user.name)
        .env("PATH", "/usr/bin:/bin")
        .env("SHELL", "/bin/sh")
        .arg("--store-root")
        .arg(home.join("store"));
    project_checks(c, &project);
    let store = home.join("store/nix/store");
    assert_eq!(
        fs::metadata(&store).unwrap().uid(),
        user.uid,
        "the user's own store"
    );
}

#[test]
fn pure_drops_what_it_does_not_keep() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let show = "echo \"[$STRATA_TEST_SECRET] $IN_NIX_SHELL $PATH\"";
    let with = |extra: &[&str]| {
        let mut c = crate::strata();
        c.current_dir(work.path())
            .env("STRATA_TEST_SECRET", "kept")
            .env_remove("STRATA_DEBIAN_MIRROR")
            .arg("--store-root")
            .arg(s.root())
            .args(["shell", "-p", "jq"])
            .args(extra)
            .args(["--run", show]);
        run(&mut c, None).ok().line()
    };
    let impure = with(&[]);
    assert!(
        impure.starts_with("[kept] impure /usr/bin:/usr/sbin:"),
        "{impure}"
    );
    assert_eq!(with(&["--pure"]), "[] pure /usr/bin:/usr/sbin");
    assert_eq!(
        with(&["--pure", "--keep", "STRATA_TEST_SECRET"]),
        "[kept] pure /usr/bin:/usr/sbin"
    );
}

#[test]
fn the_closure_is_a_gc_root_while_the_shell_runs() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    let started = work.path().join("started");
    let stop = work.path().join("stop");
    let mut c = crate::strata();
    c.current_dir(work.path())
        .env_remove("STRATA_DEBIAN_MIRROR")
        .arg("--store-root")
        .arg(s.root())
        .args(["shell", "-p", "jq", "--run"])
        .arg(format!(
            "echo $STRATA_SHELL > {}; while [ ! -e {} ]; do sleep 0.05; done",
            started.display(),
            stop.display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while !started.exists() || fs::read_to_string(&started).unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell did not start"
        );
        assert!(child.try_wait().unwrap().is_none(), "the shell ended early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let tree = fs::read_to_string(&started).unwrap().trim().to_owned();
    let dry_run = || {
        let o = run(
            &mut crate::strata_store(&s.root(), ["gc", "--dry-run", "--json"]),
            None,
        )
        .ok();
        o.text()
    };
    let would = dry_run();
    assert!(
        !would.contains(&tree),
        "{tree} must not be collected while the shell runs"
    );
    let roots = run(
        &mut crate::strata_store(&s.root(), ["gc", "--print-roots"]),
        None,
    )
    .ok()
    .text();
    assert!(roots.contains(&tree), "{roots}");
    fs::write(&stop, "").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        dry_run().contains(&tree),
        "after the shell, nothing keeps {tree}"
    );
    let roots = run(
        &mut crate::strata_store(&s.root(), ["gc", "--print-roots"]),
        None,
    )
    .ok()
    .text();
    assert!(!roots.contains(&tree), "{roots}");
}

#[test]
fn bad_input_is_named() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    // An unknown package: the closest names.
    let o = shell(&s, work.path(), &["-p", "jqq", "--run", "true"]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr
            .contains("there is no package 'jqq' in Debian bookworm amd64")
            && o.stderr.contains("Did you mean")
            && o.stderr.contains(" jq"),
        "{}",
        o.stderr
    );
    // A syntax error: file and line.
    let file = work.path().join("shell.nix");
    fs::write(
        &file,
        "{ pkgs ? import <nixpkgs> { } }:\npkgs.mkShell {\n  packages = [ pkgs.jq ]\n}\n",
    )
    .unwrap();
    let o = shell(&s, work.path(), &["--run", "true"]);
    assert_eq!(o.code, Some(1));
    let file = file.canonicalize().unwrap();
    assert!(
        o.stderr.contains(&format!("{}:4:1", file.display())),
        "{}",
        o.stderr
    );
    // Not a shell.
    fs::write(&file, "{ pkgs ? import <nixpkgs> { } }: pkgs.hello\n").unwrap();
    let o = shell(&s, work.path(), &["--run", "true"]);
    assert!(o.stderr.contains("mkShell"), "{}", o.stderr);
    // A failing command: its status is strata's.
    let o = shell(
        &s,
        work.path(),
        &["-p", "jq", "--run", "jq -n 'error(\"no\")'; exit 42"],
    );
    assert_eq!(o.code, Some(42), "{}", o.stderr);
    let o = shell(&s, work.path(), &["-p", "jq", "--run", "kill -TERM $$"]);
    assert_eq!(
        o.code,
        Some(128 + 15),
        "killed by a signal: 128 + its number"
    );
}

#[test]
fn without_user_namespaces_the_error_says_how_to_enable_them() {
    let s = shared();
    let work = tempfile::tempdir().unwrap();
    // Warm first, so what follows fails only at the namespace.
    shell(&s, work.path(), &["-p", "jq", "--run", "true"]).ok();
    // Inside a user namespace of its own, a process may forbid further ones: the limit is per
    // namespace. util-linux's unshare makes it.
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {} --store-root {} shell -p jq --run true",
        env!("CARGO_BIN_EXE_strata"),
        s.root().display()
    );
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: util-linux's unshare cannot make a user namespace here");
        return;
    }
    let mut c = Command::new("unshare");
    c.current_dir(work.path())
        .env_remove("STRATA_DEBIAN_MIRROR")
        .args(["--user", "--map-root-user", "sh", "-c", &script]);
    let o = run(&mut c, None);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("needs unprivileged user namespaces")
            && o.stderr.contains("user.max_user_namespaces = 0")
            && o.stderr.contains("sysctl -w user.max_user_namespaces="),
        "{}",
        o.stderr
    );
}
