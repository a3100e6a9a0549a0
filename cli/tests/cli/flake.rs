//! Flakes: trees fetched as Nix 2.8 fetches them (`builtins.path`, `builtins.fetchGit`,
//! `builtins.fetchTarball`),
//! `strata flake lock|update|metadata|show`, `strata build --flake` over the shared store of
//! [`crate::system`] (a flake with two machines, a shared-module input that is another git
//! repository, and a `flake = false` input with a data file), and bad flakes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::compat::Nix;
use crate::system::{example, shared};
use crate::{run, strata, Output};

/// `git ARGS` in `dir`, with an environment of the test's own (no host settings).
pub(crate) fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    let o = run(
        Command::new("git")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", "1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "1700000000 +0000")
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@127.0.0.1",
                "-c",
                "init.defaultBranch=main",
                "-C",
            ])
            .arg(dir)
            .args(args),
        None,
    )
    .ok();
    o.line()
}

/// Repositories made by the test, under one temporary directory.
pub(crate) struct Repos {
    pub(crate) dir: TempDir,
    pub(crate) home: TempDir,
}

impl Repos {
    pub(crate) fn new() -> Repos {
        Repos {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A repository `name` holding `files`, committed.
    pub(crate) fn repo(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.path(name);
        fs::create_dir_all(&d).unwrap();
        git(self.home.path(), &d, &["init", "-q"]);
        self.commit(name, files, "first");
        d
    }

    /// Writes `files` into repository `name` and commits them; returns the commit.
    pub(crate) fn commit(&self, name: &str, files: &[(&str, &str)], message: &str) -> String {
        let d = self.path(name);
        for (f, text) in files {
            let p = d.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        git(self.home.path(), &d, &["add", "."]);
        git(self.home.path(), &d, &["commit", "-q", "-m", message]);
        git(self.home.path(), &d, &["rev-parse", "HEAD"])
    }
}

/// `strata --store-root ROOT ARGS...` in `cwd`.
pub(crate) fn strata_in(root: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut c = strata();
    c.current_dir(cwd).arg("--store-root").arg(root).args(args);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    run(&mut c, None)
}

fn metadata(root: &Path, flake: &str) -> Value {
    let o = strata_in(
        root,
        Path::new("/"),
        &["flake", "metadata", "--json", flake],
    )
    .ok();
    serde_json::from_slice(&o.stdout).unwrap()
}

/// What Nix 2.8 evaluates `expr` to, as JSON, with the chroot store `root`.
fn nix_eval(nix: &Nix, root: &Path, expr: &str) -> Value {
    let o = run(
        nix.cmd("nix-instantiate")
            .arg("--store")
            .arg(root)
            .args(["--eval", "--strict", "--json", "-E", expr]),
        None,
    )
    .ok();
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn fetched_trees_are_nix_s_builtins_path_and_fetch_git() {
    let Some(nix) = Nix::get("fetched_trees_are_nix_s_builtins_path_and_fetch_git") else {
        return;
    };
    let r = Repos::new();
    let files: &[(&str, &str)] = &[
        ("flake.nix", "{ outputs = { self }: { }; }\n"),
        ("a/b.txt", "b\n"),
        ("run.sh", "#!/bin/sh\n"),
    ];
    let repo = r.repo("repo", files);
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(repo.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a/b.txt", repo.join("link")).unwrap();
    }
    let rev = r.commit("repo", &[], "mode and link");
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();

    // A clean repository: the commit's tree.
    let url = format!("git+file://{}", repo.display());
    let m = metadata(ours.path(), &url);
    let n = nix_eval(
        &nix,
        theirs.path(),
        &format!(
            "let r = builtins.fetchGit {{ url = \"file://{}\"; rev = \"{rev}\"; }}; in \
             [ r.outPath r.narHash r.lastModified r.revCount r.rev ]",
            repo.display()
        ),
    );
    assert_eq!(m["path"], n[0], "{m}\n{n}");
    assert_eq!(m["narHash"], n[1]);
    assert_eq!(m["lastModified"], n[2]);
    assert_eq!(m["lastModified"], 1_700_000_000);
    assert_eq!(m["revCount"], n[3]);
    assert_eq!(m["revision"], n[4]);

    // A dirty working tree: its tracked files, untracked ones left out, with a warning.
    fs::write(repo.join("a/b.txt"), "changed\n").unwrap();
    fs::write(repo.join("untracked"), "no\n").unwrap();
    let o = strata_in(
        ours.path(),
        Path::new("/"),
        &["flake", "metadata", "--json", &url],
    )
    .ok();
    assert!(o.stderr.contains("is dirty"), "{}", o.stderr);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = nix_eval(
        &nix,
        theirs.path(),
        &format!(
            "let r = builtins.fetchGit \"{}\"; in [ r.outPath r.narHash ]",
            repo.display()
        ),
    );
    assert_eq!(m["path"], n[0], "{m}\n{n}");
    assert_eq!(m["narHash"], n[1]);
    assert_eq!(m["dirtyRevision"], format!("{rev}-dirty"));
    assert_eq!(m["revision"], Value::Null);

    // A directory: the whole tree, as builtins.path names it `source`.
    let dir = r.path("plain");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("flake.nix"), "{ outputs = { self }: { }; }\n").unwrap();
    fs::write(dir.join("sub/x"), "x\n").unwrap();
    let m = metadata(ours.path(), &format!("path:{}", dir.display()));
    let n = nix_eval(
        &nix,
        theirs.path(),
        &format!(
            "builtins.path {{ path = {}; name = \"source\"; }}",
            dir.display()
        ),
    );
    assert_eq!(m["path"], n, "{m}\n{n}");
    let base32 = |args: &[&str]| {
        run(
            nix.cmd("nix-hash").args(["--type", "sha256"]).args(args),
            None,
        )
        .ok()
        .line()
    };
    assert_eq!(
        base32(&["--to-base32", m["narHash"].as_str().unwrap()]),
        base32(&["--base32", dir.to_str().unwrap()])
    );

    // A tarball holding that directory: the directory, as builtins.fetchTarball has it.
    let tarball = r.path("plain.tar.gz");
    run(
        Command::new("tar")
            .arg("-C")
            .arg(r.dir.path())
            .args(["--mtime=@1600000000", "-czf"])
            .arg(&tarball)
            .arg("plain"),
        None,
    )
    .ok();
    let m = metadata(
        ours.path(),
        &format!("tarball+file://{}", tarball.display()),
    );
    let n = nix_eval(
        &nix,
        theirs.path(),
        &format!("builtins.fetchTarball \"file://{}\"", tarball.display()),
    );
    assert_eq!(m["path"], n, "{m}\n{n}");
    assert_eq!(m["lastModified"], 1_600_000_000);
    let o = strata_in(
        ours.path(),
        Path::new("/"),
        &[
            "flake",
            "metadata",
            &format!("file://{}", tarball.display()),
        ],
    )
    .ok();
    assert!(
        o.text().contains(m["path"].as_str().unwrap()),
        "{}",
        o.text()
    );
}

/// The flake of the build test: two machines over a shared module and a data file.
/// The example configuration as a module for a flake's machines: no host name, and alice's
/// password hashed (a flake's source goes into the store, where no clear-text password may
/// be).
pub(crate) fn common_module() -> String {
    let common = fs::read_to_string(example())
        .unwrap()
        .replace("  networking.hostName = \"saguaro\";\n", "")
        .replace(
            "initialPassword = \"changeme\";",
            "initialHashedPassword = \"$6$flaketest$PGHtyIP9T2sX/0hFmuBNS3iq2H8VIKeuBrutlE9AStl6vtuWIWy3T9w9rUX2h61skknWQMBvV84NAqxaW6xEy0\";",
        );
    assert!(!common.contains("changeme"), "{common}");
    common
}

pub(crate) fn two_machines(r: &Repos) -> PathBuf {
    let common = common_module();
    r.repo(
        "shared",
        &[
            (
                "flake.nix",
                "{\n  description = \"modules shared by the machines\";\n  \
                 outputs = { self }: { strataModules.common = ./common.nix; strataModules.version = ./version.nix; };\n}\n",
            ),
            ("common.nix", &common),
            (
                "version.nix",
                "{ ... }: { environment.etc.\"shared-version\".text = \"1\"; }\n",
            ),
        ],
    );
    r.repo("data", &[("motd.txt", "from the data input\n")]);
    let flake = format!(
        r#"{{
  description = "two machines";
  inputs.shared.url = "git+file://{shared}";
  inputs.data = {{ url = "git+file://{data}"; flake = false; }};
  outputs = {{ self, shared, data }}: {{
    strataConfigurations.web = {{
      imports = [ shared.strataModules.common shared.strataModules.version ./web.nix ];
      environment.etc."data-motd".text = builtins.readFile "${{data}}/motd.txt";
      environment.etc."flake-rev".text = self.rev or "dirty";
    }};
    strataConfigurations.db = [ shared.strataModules.common {{ networking.hostName = "db"; }} ];
  }};
}}
"#,
        shared = r.path("shared").display(),
        data = r.path("data").display(),
    );
    r.repo(
        "machines",
        &[
            ("flake.nix", &flake),
            ("web.nix", "{ ... }: { networking.hostName = \"web\"; }\n"),
        ],
    )
}

/// The text of `/etc/NAME` in the toplevel `toplevel` (a logical path; links followed
/// inside the store).
pub(crate) fn etc_text(s: &crate::system::Shared, toplevel: &str, name: &str) -> String {
    let mut p = s.real(toplevel).join("etc");
    p = s
        .real(&fs::read_link(&p).unwrap().to_string_lossy())
        .join("etc")
        .join(name);
    while let Ok(to) = fs::read_link(&p) {
        p = s.real(&to.to_string_lossy());
    }
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn build_from_a_flake_locks_its_inputs_and_moves_only_on_update() {
    let s = shared();
    let r = Repos::new();
    let machines = two_machines(&r);
    let url = format!("git+file://{}", machines.display());
    let out = r.path("result");
    let build = |s: &crate::system::Shared| {
        let o = strata_in(
            &s.root(),
            r.dir.path(),
            &[
                "build",
                "--flake",
                &format!("{url}#web"),
                "-o",
                out.to_str().unwrap(),
            ],
        )
        .ok();
        (o.line(), o.stderr)
    };
    let (first, stderr) = build(&s);
    assert!(first.contains("-strata-system-web"), "{first}");
    assert!(stderr.contains("wrote "), "{stderr}");
    assert!(stderr.contains("strata's own lock"), "{stderr}");
    let read = |name: &str| etc_text(&s, &first, name);
    assert_eq!(read("data-motd"), "from the data input\n");
    assert_eq!(read("shared-version"), "1");
    let rev = git(r.home.path(), &machines, &["rev-parse", "HEAD"]);
    assert_eq!(read("flake-rev"), rev);

    // flake.lock, in Nix's format, pins both inputs.
    let lock: Value =
        serde_json::from_str(&fs::read_to_string(machines.join("flake.lock")).unwrap()).unwrap();
    assert_eq!(lock["version"], 7);
    assert_eq!(lock["root"], "root");
    assert_eq!(lock["nodes"]["root"]["inputs"]["shared"], "shared");
    assert_eq!(lock["nodes"]["data"]["flake"], false);
    let shared_rev = git(r.home.path(), &r.path("shared"), &["rev-parse", "HEAD"]);
    assert_eq!(lock["nodes"]["shared"]["locked"]["rev"], shared_rev);
    assert_eq!(lock["nodes"]["shared"]["locked"]["type"], "git");
    assert!(lock["nodes"]["shared"]["locked"]["narHash"]
        .as_str()
        .unwrap()
        .starts_with("sha256-"));

    // A new commit in the input: nothing moves until it is updated.
    r.commit(
        "shared",
        &[(
            "version.nix",
            "{ ... }: { environment.etc.\"shared-version\".text = \"2\"; }\n",
        )],
        "two",
    );
    let (again, stderr) = build(&s);
    assert_eq!(again, first, "{stderr}");
    assert!(!stderr.contains("wrote "), "{stderr}");

    // --override-input takes the input from elsewhere for one build, and the lock stays.
    let lock_before = fs::read(machines.join("flake.lock")).unwrap();
    let shared_url = format!("git+file://{}", r.path("shared").display());
    let o = strata_in(
        &s.root(),
        r.dir.path(),
        &[
            "build",
            "--flake",
            &format!("{url}#web"),
            "--override-input",
            "shared",
            &shared_url,
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    let overridden = o.line();
    assert_ne!(overridden, first, "{}", o.stderr);
    assert_eq!(etc_text(&s, &overridden, "shared-version"), "2");
    assert!(!o.stderr.contains("wrote "), "{}", o.stderr);
    assert_eq!(fs::read(machines.join("flake.lock")).unwrap(), lock_before);
    // Without --flake there is no input to override.
    let o = strata_in(
        &s.root(),
        r.dir.path(),
        &["build", "--override-input", "shared", &shared_url],
    );
    assert!(
        !o.success() && o.stderr.contains("it needs --flake"),
        "{}",
        o.stderr
    );
    let o = strata_in(
        &s.root(),
        r.dir.path(),
        &["flake", "update", "--flake", &url, "shared"],
    )
    .ok();
    assert!(o.stderr.contains("wrote "), "{}", o.stderr);
    let (updated, _) = build(&s);
    assert_ne!(updated, first);
    assert_eq!(etc_text(&s, &updated, "shared-version"), "2");
    // The override built what the update locks.
    assert_eq!(updated, overridden);

    // The switch verbs take the same --flake: the machine tree runs the same generation.
    let tree = r.path("machine-tree");
    fs::create_dir_all(tree.join("nix")).unwrap();
    std::os::unix::fs::symlink(s.root().join("nix/store"), tree.join("nix/store")).unwrap();
    strata_in(
        &s.root(),
        r.dir.path(),
        &[
            "switch",
            "--root",
            tree.to_str().unwrap(),
            "--flake",
            &format!("{url}#web"),
        ],
    )
    .ok();
    assert_eq!(
        crate::system::link_target(&tree.join("run/current-system")),
        updated
    );

    // show and metadata describe it.
    let o = strata_in(&s.root(), r.dir.path(), &["flake", "show", &url]).ok();
    assert!(
        o.text().contains("db: strata configuration")
            && o.text().contains("web: strata configuration"),
        "{}",
        o.text()
    );
    let m = metadata(&s.root(), &url);
    assert_eq!(m["description"], "two machines");
    assert_eq!(m["revision"], rev);

    // check: every configuration's assertions, every output evaluated.
    let check =
        |s: &crate::system::Shared| strata_in(&s.root(), r.dir.path(), &["flake", "check", &url]);
    let o = check(&s).ok();
    assert!(
        o.text().contains("strataConfigurations.web: ok")
            && o.text().contains("strataConfigurations.db: ok"),
        "{}",
        o.text()
    );
    let flake = fs::read_to_string(machines.join("flake.nix")).unwrap();
    let broken = flake.replace(
        "    strataConfigurations.db =",
        "    strataConfigurations.broken = { };\n    strataConfigurations.db =",
    );
    assert_ne!(broken, flake);
    fs::write(machines.join("flake.nix"), &broken).unwrap();
    let o = check(&s);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("is dirty"), "{}", o.stderr);
    assert!(
        o.text().contains("strataConfigurations.web: ok")
            && o.text().contains("strataConfigurations.broken: error")
            && o.text().contains("fileSystems"),
        "{}",
        o.text()
    );
    let thrown = broken.replace(
        "    strataConfigurations.broken = { };",
        "    other = { x = throw \"an output that does not evaluate\"; };",
    );
    fs::write(machines.join("flake.nix"), &thrown).unwrap();
    let o = check(&s);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("an output that does not evaluate"),
        "{}",
        o.stderr
    );
}

#[test]
fn bad_flakes_are_clear_errors() {
    let r = Repos::new();
    let root = tempfile::tempdir().unwrap();
    let fails = |cwd: &Path, args: &[&str], wants: &[&str]| {
        let o = strata_in(root.path(), cwd, args);
        assert_eq!(o.code, Some(1), "{args:?}: {}", o.stderr);
        for w in wants {
            assert!(o.stderr.contains(w), "{args:?}: no {w:?} in\n{}", o.stderr);
        }
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    };

    // No outputs.
    let d = r.path("no-outputs");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("flake.nix"), "{ description = \"x\"; }\n").unwrap();
    fails(&d, &["flake", "lock"], &["flake.nix", "has no `outputs'"]);
    assert!(!d.join("flake.lock").exists());

    // An input that does not exist.
    let d = r.path("missing-input");
    fs::create_dir_all(&d).unwrap();
    let gone = r.path("gone");
    fs::write(
        d.join("flake.nix"),
        format!(
            "{{ inputs.lib.url = \"git+file://{}\"; outputs = {{ self, lib }}: {{ }}; }}\n",
            gone.display()
        ),
    )
    .unwrap();
    fails(
        &d,
        &["flake", "lock", "."],
        &["input 'lib'", "does not exist", &gone.display().to_string()],
    );

    // A lock whose narHash the fetched tree does not have.
    let dep = r.path("dep");
    fs::create_dir_all(&dep).unwrap();
    fs::write(dep.join("data.txt"), "one\n").unwrap();
    let d = r.path("locked");
    fs::create_dir_all(&d).unwrap();
    fs::write(
        d.join("flake.nix"),
        format!(
            "{{ inputs.dep = {{ url = \"path:{}\"; flake = false; }}; \
             outputs = {{ self, dep }}: {{ strataConfigurations.one = {{ }}; }}; }}\n",
            dep.display()
        ),
    )
    .unwrap();
    strata_in(root.path(), &d, &["flake", "lock"]).ok();
    let lock = fs::read_to_string(d.join("flake.lock")).unwrap();
    fs::write(dep.join("data.txt"), "two\n").unwrap();
    fails(
        &d,
        &["flake", "metadata"],
        &["input 'dep'", "NAR hash", "strata flake update dep"],
    );
    assert_eq!(fs::read_to_string(d.join("flake.lock")).unwrap(), lock);
    let o = strata_in(root.path(), &d, &["flake", "update", "dep"]).ok();
    assert!(o.stderr.contains("wrote"), "{}", o.stderr);
    fails(
        &d,
        &["flake", "update", "nothere"],
        &["no locked input 'nothere'"],
    );

    // An input with uncommitted changes is used, but not pinned: the lock is not written.
    let wip = r.repo("wip", &[("data.txt", "committed\n")]);
    fs::write(wip.join("data.txt"), "changed\n").unwrap();
    let d2 = r.path("uses-wip");
    fs::create_dir_all(&d2).unwrap();
    fs::write(
        d2.join("flake.nix"),
        format!(
            "{{ inputs.wip = {{ url = \"git+file://{}\"; flake = false; }}; \
             outputs = {{ self, wip }}: {{ text = builtins.readFile \"${{wip}}/data.txt\"; }}; }}\n",
            wip.display()
        ),
    )
    .unwrap();
    let o = strata_in(root.path(), &d2, &["flake", "lock"]).ok();
    assert!(
        o.stderr.contains("is dirty") && o.stderr.contains("is not written"),
        "{}",
        o.stderr
    );
    assert!(!d2.join("flake.lock").exists());

    // An unknown configuration: the existing ones are listed.
    fails(
        &d,
        &["build", "--flake", ".#two", "--no-out-link"],
        &["no strataConfigurations.two", "its configurations: one"],
    );
    // Without #NAME, the machine named like this host.
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    if host != "one" {
        fails(
            &d,
            &["build", "--flake", ".", "--no-out-link"],
            &[&format!("no strataConfigurations.{host} ")],
        );
    }
}
