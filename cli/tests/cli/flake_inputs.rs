//! Flake inputs: every form of reference (URLs with `?dir=`, `?ref=`, `?rev=`, `?narHash=`;
//! attribute sets; an input's inputs overridden with `follows` or another reference;
//! `--override-input`), and inputs fetched over HTTP from lighttpd on 127.0.0.1 (tarballs,
//! git's dumb protocol), each `flake.lock` compared node for node with the one Nix 2.8 writes
//! for the same flake; locked inputs used with the server gone; and bad inputs (404, nothing
//! listening, a hash that does not match) refused without a path added to the store.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::cache::Lighttpd;
use crate::compat::Nix;
use crate::{run, strata, Output};

/// `git ARGS` in `dir`, with an environment of the test's own (no host settings).
fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    run(
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
    .ok()
    .line()
}

/// A directory for a test's trees, and an empty home for its git and Nix.
struct Work {
    dir: TempDir,
    home: TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `files` under `name`, every file and directory dated 2022-04-15 (so `path:`
    /// inputs have one `lastModified` whichever file it is taken from).
    fn tree(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.path(name);
        for (f, text) in files {
            let p = d.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        run(
            Command::new("find").arg(&d).args([
                "-exec",
                "touch",
                "-h",
                "-d",
                "@1650000000",
                "{}",
                "+",
            ]),
            None,
        )
        .ok();
        d
    }

    /// A git repository `name` holding `files`, committed on `main`.
    fn repo(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.tree(name, files);
        git(self.home.path(), &d, &["init", "-q"]);
        git(self.home.path(), &d, &["add", "."]);
        git(self.home.path(), &d, &["commit", "-q", "-m", "first"]);
        d
    }

    /// A copy of the tree `from` as `to`.
    fn copy(&self, from: &Path, to: &str) -> PathBuf {
        let dest = self.path(to);
        run(Command::new("cp").arg("-a").arg(from).arg(&dest), None).ok();
        dest
    }
}

/// `strata --store-root ROOT ARGS...` in `cwd`.
fn strata_in(root: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut c = strata();
    c.current_dir(cwd).arg("--store-root").arg(root).args(args);
    run(&mut c, None)
}

/// `nix flake lock ARGS...` in `dir` with Nix 2.8, a chroot store at `root`, and an empty
/// flake registry (so Nix looks nothing up).
fn nix_lock(nix: &Nix, w: &Work, root: &Path, dir: &Path, args: &[&str]) {
    let registry = w.home.path().join("registry.json");
    fs::write(&registry, "{\"flakes\":[],\"version\":2}").unwrap();
    run(
        nix.cmd("nix")
            .current_dir(dir)
            .env(
                "NIX_CONFIG",
                format!(
                    "build-users-group =\nsubstituters =\nflake-registry = {}\n",
                    registry.display()
                ),
            )
            .arg("--store")
            .arg(root)
            .args([
                "--extra-experimental-features",
                "nix-command flakes",
                "flake",
                "lock",
            ])
            .args(args),
        None,
    )
    .ok();
}

fn lock_of(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("flake.lock")).unwrap()).unwrap()
}

/// The two locks' nodes are the same, node for node.
fn same_nodes(ours: &Value, theirs: &Value) {
    let (a, b) = (&ours["nodes"], &theirs["nodes"]);
    let names = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(a), names(b), "strata:\n{ours:#}\nNix:\n{theirs:#}");
    for n in names(a) {
        assert_eq!(
            a[&n], b[&n],
            "node {n}: strata:\n{:#}\nNix:\n{:#}",
            a[&n], b[&n]
        );
    }
    assert_eq!(ours["root"], theirs["root"]);
    assert_eq!(ours["version"], theirs["version"]);
}

/// The entries of a store (and what its temporary directory holds).
fn store_entries(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = ["nix/store", "nix/var/nix/tmp"]
        .iter()
        .flat_map(|d| fs::read_dir(root.join(d)).into_iter().flatten())
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn every_reference_form_locks_as_nix_2_8_locks_it() {
    let Some(nix) = Nix::get("every_reference_form_locks_as_nix_2_8_locks_it") else {
        return;
    };
    let w = Work::new();
    let c = w.tree("c", &[("f", "c\n")]);
    let c2 = w.tree("c2", &[("f", "c2\n")]);
    let c3 = w.tree("c3", &[("f", "c3\n")]);
    // A flake in a subdirectory of a repository, with a `follows` of its own.
    let lib = w.repo(
        "lib",
        &[
            (
                "sub/flake.nix",
                &format!(
                    "{{ inputs.c = {{ url = \"path:{}\"; flake = false; }};\n  \
                     inputs.d.follows = \"c\";\n  \
                     outputs = {{ self, c, d }}: {{ marker = builtins.readFile \"${{d}}/f\"; }}; }}\n",
                    c.display()
                ),
            ),
            ("README", "not the flake\n"),
        ],
    );
    let t = w.tree("t", &[("flake.nix", "{ outputs = { self }: { }; }\n")]);
    let tarball = w.path("t.tar.gz");
    run(
        Command::new("tar")
            .arg("-C")
            .arg(w.dir.path())
            .args(["--mtime=@1600000000", "-czf"])
            .arg(&tarball)
            .arg(t.file_name().unwrap()),
        None,
    )
    .ok();
    let rev = git(w.home.path(), &lib, &["rev-parse", "HEAD"]);
    let top = w.tree(
        "top",
        &[(
            "flake.nix",
            &format!(
                r#"{{
  inputs.a = {{ type = "git"; url = "file://{lib}"; dir = "sub"; ref = "main"; }};
  inputs.a.inputs.c.follows = "c2";
  inputs.c2 = {{ url = "path:{c2}"; flake = false; }};
  inputs.g.url = "git+file://{lib}?dir=sub";
  inputs.r.url = "git+file://{lib}?rev={rev}&dir=sub";
  inputs.p = {{ type = "path"; path = "{c}"; flake = false; }};
  inputs.t.url = "file://{tarball}";
  outputs = {{ self, ... }}: {{ }};
}}
"#,
                lib = lib.display(),
                c2 = c2.display(),
                c = c.display(),
                tarball = tarball.display(),
            ),
        )],
    );
    let nix_top = w.copy(&top, "top-nix");
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let o = strata_in(ours.path(), &top, &["flake", "lock"]).ok();
    assert!(o.stderr.contains("wrote"), "{}", o.stderr);
    nix_lock(&nix, &w, theirs.path(), &nix_top, &[]);
    let lock = lock_of(&top);
    same_nodes(&lock, &lock_of(&nix_top));
    // What the comparison covers: the nested override, the sub-flake's own follows (relative
    // to it), `dir' kept in a git URL, the branch a ref-less git input took.
    assert_eq!(lock["nodes"]["a"]["inputs"]["c"], serde_json::json!(["c2"]));
    assert_eq!(
        lock["nodes"]["g"]["inputs"]["d"],
        serde_json::json!(["g", "c"])
    );
    assert_eq!(
        lock["nodes"]["g"]["locked"]["url"],
        format!("file://{}?dir=sub", lib.display())
    );
    assert_eq!(lock["nodes"]["g"]["locked"]["ref"], "main");
    assert_eq!(lock["nodes"]["a"]["locked"]["dir"], "sub");

    // --override-input: written into the lock, as Nix writes it.
    let over = format!("path:{}", c3.display());
    strata_in(
        ours.path(),
        &top,
        &["flake", "lock", "--override-input", "c2", &over],
    )
    .ok();
    nix_lock(
        &nix,
        &w,
        theirs.path(),
        &nix_top,
        &["--override-input", "c2", &over],
    );
    let lock = lock_of(&top);
    same_nodes(&lock, &lock_of(&nix_top));
    assert_eq!(
        lock["nodes"]["c2"]["original"]["path"],
        c3.display().to_string()
    );
    // An override of an input that is not there is said.
    let o = strata_in(
        ours.path(),
        &top,
        &["flake", "metadata", "--override-input", "nothere", &over],
    )
    .ok();
    assert!(
        o.stderr.contains("--override-input nothere"),
        "{}",
        o.stderr
    );
}

/// A bare clone of `repo` under `www` as NAME.git, served by git's dumb protocol.
fn serve_git(w: &Work, repo: &Path, www: &Path, name: &str) {
    let dest = www.join(format!("{name}.git"));
    git(
        w.home.path(),
        w.dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.to_str().unwrap(),
            dest.to_str().unwrap(),
        ],
    );
    git(w.home.path(), &dest, &["update-server-info"]);
}

#[test]
fn inputs_over_http_lock_as_nix_2_8_locks_them_and_build_offline() {
    let Some(nix) = Nix::get("inputs_over_http_lock_as_nix_2_8_locks_them_and_build_offline")
    else {
        return;
    };
    let w = Work::new();
    let www = w.path("www");
    fs::create_dir_all(&www).unwrap();
    let repo = w.repo(
        "r",
        &[
            (
                "sub/flake.nix",
                "{ inputs.c.url = \"path:/nonexistent\";\n  \
                 outputs = { self, c }: { data = builtins.readFile \"${c}/f\"; }; }\n",
            ),
            ("f", "from git over http\n"),
        ],
    );
    serve_git(&w, &repo, &www, "r");
    w.tree(
        "t",
        &[
            ("flake.nix", "{ outputs = { self }: { n = 1; }; }\n"),
            ("bin/run", "#!/bin/sh\n"),
        ],
    );
    run(
        Command::new("tar")
            .arg("-C")
            .arg(w.dir.path())
            .args(["--mtime=@1600000000", "-czf"])
            .arg(www.join("t.tar.gz"))
            .arg("t"),
        None,
    )
    .ok();
    let server = Lighttpd::serve(&www);
    let url = server.url();
    let flake = format!(
        r#"{{
  inputs.t.url = "{url}/t.tar.gz";
  inputs.g.url = "git+{url}/r.git?dir=sub&ref=main";
  inputs.g.inputs.c.follows = "h";
  inputs.h = {{ type = "git"; url = "{url}/r.git"; ref = "main"; flake = false; }};
  outputs = {{ self, ... }}: {{ }};
}}
"#
    );
    let top = w.tree("top", &[("flake.nix", &flake)]);
    let nix_top = w.copy(&top, "top-nix");
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    strata_in(ours.path(), &top, &["flake", "lock"]).ok();
    nix_lock(&nix, &w, theirs.path(), &nix_top, &[]);
    let lock = lock_of(&top);
    same_nodes(&lock, &lock_of(&nix_top));
    assert!(lock["nodes"]["t"]["locked"]["narHash"]
        .as_str()
        .unwrap()
        .starts_with("sha256-"));
    assert_eq!(
        lock["nodes"]["h"]["locked"]["rev"],
        git(w.home.path(), &repo, &["rev-parse", "HEAD"])
    );

    // Without `ref', the branch the server's HEAD names (Nix 2.8 takes `master').
    let headless = w.tree(
        "headless",
        &[(
            "flake.nix",
            &format!(
                "{{ inputs.h = {{ url = \"git+{url}/r.git\"; flake = false; }};\n  \
                 outputs = {{ self, h }}: {{ }}; }}\n"
            ),
        )],
    );
    strata_in(ours.path(), &headless, &["flake", "lock"]).ok();
    assert_eq!(lock_of(&headless)["nodes"]["h"]["locked"]["ref"], "main");

    // Bad inputs: each names the input and the URL, and adds nothing to the store.
    let bad = |name: &str, input: &str, wants: &[&str]| {
        let d = w.tree(
            name,
            &[(
                "flake.nix",
                &format!(
                    "{{ inputs.x = {{ url = \"{input}\"; flake = false; }};\n  \
                     outputs = {{ self, x }}: {{ }}; }}\n"
                ),
            )],
        );
        let before = store_entries(ours.path());
        let o = strata_in(ours.path(), &d, &["flake", "lock"]);
        assert_eq!(o.code, Some(1), "{input}: {}", o.stderr);
        for want in wants.iter().chain(&["input 'x'"]) {
            assert!(
                o.stderr.contains(want),
                "{input}: no {want:?} in\n{}",
                o.stderr
            );
        }
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        assert!(!d.join("flake.lock").exists());
        let after = store_entries(ours.path());
        // (The flake's own tree is added to read its flake.nix; nothing else is.)
        let added: Vec<_> = after.iter().filter(|e| !before.contains(e)).collect();
        assert!(added.len() <= 1, "{input}: {added:?}");
    };
    bad(
        "missing",
        &format!("{url}/missing.tar.gz"),
        &["404", "missing.tar.gz"],
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    bad(
        "closed",
        &format!("http://127.0.0.1:{closed}/t.tar.gz"),
        &[&format!("127.0.0.1:{closed}")],
    );
    bad(
        "no-repo",
        &format!("git+{url}/nothere.git?ref=main"),
        &["nothere.git"],
    );
    let wrong = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let fresh = tempfile::tempdir().unwrap();
    let d = w.tree(
        "wrong-hash",
        &[(
            "flake.nix",
            &format!(
                "{{ inputs.x.url = \"{url}/t.tar.gz?narHash={}\";\n  \
                 outputs = {{ self, x }}: {{ }}; }}\n",
                wrong.replace('+', "%2B").replace('=', "%3D")
            ),
        )],
    );
    let o = strata_in(fresh.path(), &d, &["flake", "lock"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("input 'x'") && o.stderr.contains(wrong),
        "{}",
        o.stderr
    );
    let good = lock["nodes"]["t"]["locked"]["narHash"].as_str().unwrap();
    assert!(o.stderr.contains(good), "{}", o.stderr);
    // Only the flake's own tree reached the store.
    let stored: Vec<_> = store_entries(fresh.path())
        .into_iter()
        .filter(|e| e.contains("/nix/store/") && !e.ends_with(".lock"))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");

    // The server gone, the locked inputs come from the store.
    drop(server);
    let o = strata_in(ours.path(), &top, &["flake", "metadata", "--json"]).ok();
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["locks"], lock);
    // A tarball changed under its lock (in a store that does not have it): a clear error.
    let server = Lighttpd::serve(&www);
    let moved = fs::read_to_string(top.join("flake.lock"))
        .unwrap()
        .replace(&url, &server.url());
    fs::write(top.join("flake.lock"), moved).unwrap();
    fs::write(top.join("flake.nix"), flake.replace(&url, &server.url())).unwrap();
    w.tree(
        "t",
        &[("flake.nix", "{ outputs = { self }: { n = 2; }; }\n")],
    );
    run(
        Command::new("tar")
            .arg("-C")
            .arg(w.dir.path())
            .args(["-czf"])
            .arg(www.join("t.tar.gz"))
            .arg("t"),
        None,
    )
    .ok();
    let other = tempfile::tempdir().unwrap();
    let o = strata_in(other.path(), &top, &["flake", "metadata"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("input 't'")
            && o.stderr.contains(good)
            && o.stderr.contains("strata flake update t"),
        "{}",
        o.stderr
    );
}
