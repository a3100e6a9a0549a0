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
use crate::flake::git;
use crate::{run, strata, Output};

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
    let mut c = nix.cmd("nix");
    nix_lock_in(&mut c, w, root, dir, args);
}

/// [`nix_lock`], trusting the CA `ca` (Nix's curl, and the git it runs).
fn nix_lock_trusting(nix: &Nix, w: &Work, root: &Path, dir: &Path, ca: Option<&Path>) {
    let mut c = nix.cmd("nix");
    if let Some(ca) = ca {
        c.env("NIX_SSL_CERT_FILE", ca).env("GIT_SSL_CAINFO", ca);
    }
    nix_lock_in(&mut c, w, root, dir, &[]);
}

fn nix_lock_in(c: &mut Command, w: &Work, root: &Path, dir: &Path, args: &[&str]) {
    let registry = w.home.path().join("registry.json");
    fs::write(&registry, "{\"flakes\":[],\"version\":2}").unwrap();
    run(
        c.current_dir(dir)
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
        "unknown-type",
        "hg+https://127.0.0.1:1/r",
        &["hg+https", "not supported"],
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

/// lighttpd serving `dir` over TLS on a free port of 127.0.0.1 until dropped, with a
/// certificate for 127.0.0.1 from a CA of the test's own (`ca`, to trust).
struct TlsServer {
    child: std::process::Child,
    port: u16,
    ca: PathBuf,
    _conf: TempDir,
}

impl TlsServer {
    fn serve(dir: &Path) -> TlsServer {
        let conf = tempfile::tempdir().unwrap();
        let c = |name: &str| conf.path().join(name);
        let openssl = |args: &[&str]| {
            run(
                Command::new("openssl").current_dir(conf.path()).args(args),
                None,
            )
            .ok();
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
                &["-subj", "/CN=strata test CA"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
                &["-subj", "/CN=127.0.0.1"],
            ]
            .concat(),
        );
        fs::write(
            c("ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
        assert!(
            Path::new("/usr/lib/lighttpd/mod_openssl.so").exists(),
            "the forge test serves https with lighttpd's TLS module: run scripts/setup --tests \
             (lighttpd-mod-openssl)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        fs::write(
            c("lighttpd.conf"),
            format!(
                "server.modules += ( \"mod_openssl\" )\nserver.document-root = \"{}\"\n\
                 server.bind = \"127.0.0.1\"\nserver.port = {port}\nserver.errorlog = \"{}\"\n\
                 ssl.engine = \"enable\"\nssl.pemfile = \"{}\"\nssl.privkey = \"{}\"\n",
                dir.display(),
                c("error.log").display(),
                c("server.pem").display(),
                c("server.key").display(),
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/lighttpd")
            .arg("-D")
            .arg("-f")
            .arg(c("lighttpd.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("cannot start lighttpd");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "lighttpd did not listen on 127.0.0.1:{port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TlsServer {
            child,
            port,
            ca: c("ca.pem"),
            _conf: conf,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `strata ARGS` trusting `ca` (as Nix: `NIX_SSL_CERT_FILE`).
fn strata_trusting(ca: &Path, root: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut c = strata();
    c.current_dir(cwd)
        .env("NIX_SSL_CERT_FILE", ca)
        .env_remove("SSL_CERT_FILE")
        .arg("--store-root")
        .arg(root)
        .args(args);
    run(&mut c, None)
}

#[test]
fn github_inputs_resolve_refs_and_fetch_commit_tarballs_over_tls() {
    let Some(nix) = Nix::get("github_inputs_resolve_refs_and_fetch_commit_tarballs_over_tls")
    else {
        return;
    };
    let w = Work::new();
    let repo = w.repo(
        "r",
        &[
            (
                "sub/flake.nix",
                "{ inputs.c.url = \"path:/nonexistent\";\n  outputs = { self, c }: { }; }\n",
            ),
            ("f", "from the forge\n"),
            ("bin/run", "#!/bin/sh\n"),
        ],
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(repo.join("bin/run"), fs::Permissions::from_mode(0o755)).unwrap();
        git(w.home.path(), &repo, &["commit", "-q", "-a", "-m", "mode"]);
    }
    let rev = git(w.home.path(), &repo, &["rev-parse", "HEAD"]);
    // The forge: what its API answers for a ref, and the commit's tarball as a forge makes it
    // (one directory OWNER-REPO-SHORTREV, the commit in a pax header, times the commit's).
    let www = w.path("forge");
    let api = www.join("api/v3/repos/o/r");
    fs::create_dir_all(api.join("commits")).unwrap();
    fs::create_dir_all(api.join("tarball")).unwrap();
    for r in ["HEAD", "main"] {
        fs::write(
            api.join("commits").join(r),
            format!("{{\"sha\": \"{rev}\"}}"),
        )
        .unwrap();
    }
    fs::write(api.join("commits/bad"), "{\"message\": \"Not Found\"}").unwrap();
    let tar = run(
        Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .arg("-C")
            .arg(&repo)
            .args(["archive", "--format=tar.gz"])
            .arg(format!("--prefix=o-r-{}/", &rev[..7]))
            .arg(&rev),
        None,
    )
    .ok();
    fs::write(api.join("tarball").join(&rev), &tar.stdout).unwrap();
    // GitLab's: commits by ref (lighttpd takes the `%2F' of OWNER%2FREPO for a `/', and
    // leaves out the query), the archive of a commit.
    let lab = www.join("api/v4/projects/o/r/repository");
    fs::create_dir_all(&lab).unwrap();
    fs::write(lab.join("commits"), format!("[{{\"id\": \"{rev}\"}}]")).unwrap();
    fs::write(lab.join("archive.tar.gz"), &tar.stdout).unwrap();
    // And the repository itself, for git over https (git's dumb protocol).
    serve_git(&w, &repo, &www, "r");
    let server = TlsServer::serve(&www);
    let host = server.host();
    let top = w.tree(
        "top",
        &[(
            "flake.nix",
            &format!(
                r#"{{
  inputs.a.url = "github:o/r/main?host={host}&dir=sub";
  inputs.a.inputs.c.follows = "b";
  inputs.b = {{ type = "github"; owner = "o"; repo = "r"; host = "{host}"; flake = false; }};
  inputs.p.url = "github:o/r/{rev}?host={host}";
  inputs.p.flake = false;
  inputs.l = {{ type = "gitlab"; owner = "o"; repo = "r"; host = "{host}"; flake = false; }};
  inputs.g = {{ url = "git+https://{host}/r.git?ref=main"; flake = false; }};
  outputs = {{ self, ... }}: {{ }};
}}
"#
            ),
        )],
    );
    let ours = tempfile::tempdir().unwrap();
    let o = strata_trusting(&server.ca, ours.path(), &top, &["flake", "lock"]).ok();
    assert!(o.stderr.contains("wrote"), "{}", o.stderr);
    let lock = lock_of(&top);
    let nodes = &lock["nodes"];
    // The locked form Nix writes for a forge: the commit instead of the ref, the tree's hash,
    // the commit's time.
    let locked = serde_json::json!({
        "dir": "sub",
        "host": host,
        "lastModified": 1_700_000_000,
        "narHash": nodes["b"]["locked"]["narHash"],
        "owner": "o",
        "repo": "r",
        "rev": rev,
        "type": "github",
    });
    assert_eq!(nodes["a"]["locked"], locked, "{lock:#}");
    assert_eq!(
        nodes["a"]["original"],
        serde_json::json!({ "dir": "sub", "host": host, "owner": "o", "ref": "main", "repo": "r", "type": "github" })
    );
    assert_eq!(nodes["a"]["inputs"]["c"], serde_json::json!(["b"]));
    assert_eq!(nodes["b"]["locked"]["rev"], rev);
    assert_eq!(nodes["p"]["original"]["rev"], rev);
    // GitLab and git over https as Nix 2.8 locks them (Nix 2.8 asks a GitHub host other
    // than the forge's own at `api.HOST', which no stand-in on 127.0.0.1 can be: GitHub is
    // compared above with the form Nix writes, and below by the tree's hash).
    let plain = w.tree(
        "plain",
        &[(
            "flake.nix",
            &format!(
                "{{ inputs.l = {{ type = \"gitlab\"; owner = \"o\"; repo = \"r\"; host = \"{host}\"; flake = false; }};\n  \
                 inputs.g = {{ url = \"git+https://{host}/r.git?ref=main\"; flake = false; }};\n  \
                 outputs = {{ self, ... }}: {{ }}; }}\n"
            ),
        )],
    );
    let nix_plain = w.copy(&plain, "plain-nix");
    strata_trusting(&server.ca, ours.path(), &plain, &["flake", "lock"]).ok();
    let nix_store = tempfile::tempdir().unwrap();
    nix_lock_trusting(&nix, &w, nix_store.path(), &nix_plain, Some(&server.ca));
    same_nodes(&lock_of(&plain), &lock_of(&nix_plain));
    assert_eq!(nodes["l"], lock_of(&plain)["nodes"]["l"]);
    assert_eq!(nodes["g"]["locked"]["rev"], rev);

    // The tree is the commit's, as Nix 2.8 hashes it: `builtins.fetchGit` of the commit, and
    // `builtins.fetchTarball` of the forge's tarball, pinned to strata's hash.
    let nar = nodes["b"]["locked"]["narHash"].as_str().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let fetched = run(
        nix.cmd("nix-instantiate")
            .env("NIX_SSL_CERT_FILE", &server.ca)
            .arg("--store")
            .arg(theirs.path())
            .args(["--eval", "--strict", "--json", "-E"])
            .arg(format!(
                "[ (builtins.fetchGit {{ url = \"file://{}\"; rev = \"{rev}\"; }}).narHash \
                 (builtins.fetchTarball {{ url = \"https://{host}/api/v3/repos/o/r/tarball/{rev}\"; \
                 sha256 = \"{nar}\"; }}) ]",
                repo.display()
            )),
        None,
    )
    .ok();
    let v: Value = serde_json::from_slice(&fetched.stdout).unwrap();
    assert_eq!(v[0], nar, "{v}");
    assert!(v[1].as_str().unwrap().ends_with("-source"), "{v}");

    // Bad: a ref the forge does not know, a server that is not trusted.
    let bad = w.tree(
        "bad",
        &[(
            "flake.nix",
            &format!(
                "{{ inputs.x = {{ url = \"github:o/r/nothere?host={host}\"; flake = false; }};\n  \
                 outputs = {{ self, x }}: {{ }}; }}\n"
            ),
        )],
    );
    let o = strata_trusting(&server.ca, ours.path(), &bad, &["flake", "lock"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("input 'x'") && o.stderr.contains("404") && o.stderr.contains("nothere"),
        "{}",
        o.stderr
    );
    let hollow = w.tree(
        "hollow",
        &[(
            "flake.nix",
            &format!(
                "{{ inputs.x = {{ url = \"github:o/r/bad?host={host}\"; flake = false; }};\n  \
                 outputs = {{ self, x }}: {{ }}; }}\n"
            ),
        )],
    );
    let o = strata_trusting(&server.ca, ours.path(), &hollow, &["flake", "lock"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("input 'x'") && o.stderr.contains("names no commit"),
        "{}",
        o.stderr
    );
    let fresh = tempfile::tempdir().unwrap();
    let mut c = strata();
    c.current_dir(&top)
        .env_remove("NIX_SSL_CERT_FILE")
        .env_remove("SSL_CERT_FILE")
        .arg("--store-root")
        .arg(fresh.path())
        .args(["flake", "metadata"]);
    let o = run(&mut c, None);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("input 'a'") && o.stderr.contains("certificate"),
        "{}",
        o.stderr
    );

    // Locked, the server gone: the trees come from the store, nothing is fetched.
    drop(server);
    let o = strata_in(ours.path(), &top, &["flake", "metadata", "--json"]).ok();
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["locks"], lock);
}
