//! Binary caches: `strata key generate`, `strata store sign`, `strata copy --to file://` and
//! `--from file://|http://`, served by lighttpd (Debian's, bound to 127.0.0.1), read and
//! written by Nix 2.8 in both directions, refusals through the command line, and builds that
//! substitute (or fall back to building when the cache is unreachable).

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_store::{LocalStore, StoreDir};

use super::compat::{mkdir, os, strata_info, tree_mixed, Nix};
use super::{run, strata, strata_store};

/// lighttpd serving `dir` on a free port of 127.0.0.1 until dropped, logging each request.
pub(crate) struct Lighttpd {
    child: Child,
    pub port: u16,
    conf: tempfile::TempDir,
    scheme: &'static str,
}

impl Lighttpd {
    pub(crate) fn serve(dir: &Path) -> Lighttpd {
        Lighttpd::serve_with(dir, "", "http")
    }

    /// [`Lighttpd::serve`] over https, with the certificate `cert` and its key `key` (PEM).
    pub(crate) fn serve_tls(dir: &Path, cert: &Path, key: &Path) -> Lighttpd {
        assert!(
            Path::new("/usr/lib/lighttpd/mod_openssl.so").exists(),
            "the https tests need Debian's lighttpd-mod-openssl: run scripts/setup --tests"
        );
        let conf = format!(
            "server.modules += (\"mod_openssl\")\nssl.engine = \"enable\"\n\
             ssl.pemfile = \"{}\"\nssl.privkey = \"{}\"\n",
            cert.display(),
            key.display()
        );
        Lighttpd::serve_with(dir, &conf, "https")
    }

    /// [`Lighttpd::serve`], with more lines for its configuration.
    fn serve_with(dir: &Path, extra_conf: &str, scheme: &'static str) -> Lighttpd {
        let program = Path::new("/usr/sbin/lighttpd");
        assert!(
            program.exists(),
            "the binary-cache tests serve caches with Debian's lighttpd: run scripts/setup --tests"
        );
        let conf_dir = tempfile::tempdir().unwrap();
        // A port the kernel just handed out and took back: free unless something races for it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = conf_dir.path().join("lighttpd.conf");
        fs::write(
            &conf,
            format!(
                "server.document-root = \"{}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
                 server.errorlog = \"{}\"\nserver.max-keep-alive-requests = 10000\n\
                 server.stat-cache-engine = \"disable\"\n\
                 server.modules += (\"mod_accesslog\")\naccesslog.filename = \"{}\"\n\
                 accesslog.format = \"%r %>s\"\n{extra_conf}\n",
                dir.display(),
                conf_dir.path().join("error.log").display(),
                conf_dir.path().join("access.log").display(),
            ),
        )
        .unwrap();
        let child = Command::new(program)
            .arg("-D")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start lighttpd");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "lighttpd did not listen on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Lighttpd {
            child,
            port,
            conf: conf_dir,
            scheme,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Stops the server (lighttpd writes its access log out as it stops) and returns the
    /// requests it served: `GET /PATH STATUS`.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap();
        let log = fs::read_to_string(self.conf.path().join("access.log")).unwrap_or_default();
        log.lines()
            .map(|l| l.replace(" HTTP/1.1 ", " ").replace(" HTTP/1.0 ", " "))
            .collect()
    }
}

impl Drop for Lighttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn key(dir: &Path, name: &str) -> (PathBuf, String) {
    let sk = dir.join(format!("{name}.sec"));
    let out = run(
        strata().args(["key", "generate", name, "-o"]).arg(&sk),
        None,
    )
    .ok();
    let public = out.line();
    assert!(public.starts_with(&format!("{name}:")), "{public}");
    let mut pub_file = sk.clone().into_os_string();
    pub_file.push(".pub");
    assert_eq!(fs::read_to_string(pub_file).unwrap(), public);
    (sk, public)
}

/// Three text paths, c -> b -> a, and a tree; returns them printed (c first).
fn populate(root: &Path, work: &Path) -> Vec<String> {
    let add_text = |name: &str, body: &str, refs: &[&str]| {
        let f = work.join(format!("{name}.in"));
        fs::write(&f, body).unwrap();
        let mut c = strata_store(root, ["add-text", name]);
        c.arg(&f);
        for r in refs {
            c.args(["--reference", r]);
        }
        run(&mut c, None).ok().line()
    };
    let a = add_text("a", &"some text ".repeat(1000), &[]);
    let b = add_text("b", &format!("see {a}"), &[&a]);
    let c = add_text("c", &format!("see {b} and {a}"), &[&a, &b]);
    let tree = tree_mixed(work);
    let t = run(&mut strata_store(root, [os("add"), tree.as_os_str()]), None)
        .ok()
        .line();
    vec![c, b, a, t]
}

pub(crate) fn copy_to(root: &Path, url: &str, extra: &[&str], paths: &[String]) -> super::Output {
    let mut c = strata();
    c.arg("--store-root")
        .arg(root)
        .args(["copy", "--to", url])
        .args(extra)
        .args(paths);
    run(&mut c, None)
}

fn copy_from(root: &Path, url: &str, keys: &str, paths: &[String]) -> super::Output {
    let mut c = strata();
    c.arg("--store-root")
        .arg(root)
        .args(["copy", "--from", url, "--trusted-public-keys", keys])
        .args(paths);
    run(&mut c, None)
}

fn valid_paths(root: &Path) -> Vec<String> {
    if !root.exists() {
        return Vec::new();
    }
    let store = LocalStore::open(root, StoreDir::default()).unwrap();
    let v = store.valid_paths().unwrap();
    v.iter().map(|p| store.print(p)).collect()
}

#[test]
fn keys_signatures_and_a_round_trip_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let (sk, public) = key(tmp.path(), "strata-test-1");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(&sk).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A key is never overwritten.
    let again = run(strata().args(["key", "generate", "x", "-o"]).arg(&sk), None);
    assert!(
        !again.success() && again.stderr.contains(&sk.display().to_string()),
        "{}",
        again.stderr
    );

    let src = tmp.path().join("src");
    let work = tmp.path().join("work");
    mkdir(&work);
    let paths = populate(&src, &work);
    // Signing records the signature in the store.
    run(
        &mut strata_store(
            &src,
            [os("sign"), os("--key-file"), sk.as_os_str(), os(&paths[2])],
        ),
        None,
    )
    .ok();
    let info = strata_info(&src, &paths[2]);
    let sigs = info["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(sigs[0].as_str().unwrap().starts_with("strata-test-1:"));

    let cache = tmp.path().join("cache");
    let url = format!("file://{}", cache.display());
    let out = copy_to(&src, &url, &["--key-file", sk.to_str().unwrap()], &paths).ok();
    assert!(
        out.stderr.contains("it lacked 4 of the closure's 4"),
        "{}",
        out.stderr
    );
    // Only what the cache lacks.
    let out = copy_to(&src, &url, &["--key-file", sk.to_str().unwrap()], &paths).ok();
    assert!(out.stderr.contains("wrote 0 paths"), "{}", out.stderr);
    let leftovers: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .chain(fs::read_dir(cache.join("nar")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let server = Lighttpd::serve(&cache);
    let dst = tmp.path().join("dst");
    let out = copy_from(&dst, &server.url(), &public, &paths[..1]).ok();
    assert!(out.stderr.contains("received 3 paths"), "{}", out.stderr);
    for p in &paths[..3] {
        let got = strata_info(&dst, p);
        let want = strata_info(&src, p);
        assert_eq!(got["narHash"], want["narHash"]);
        assert_eq!(got["references"], want["references"]);
        assert!(got["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("strata-test-1:")));
    }
    run(&mut strata_store(&dst, ["verify"]), None).ok();
}

#[test]
fn refusals_name_the_reason_and_leave_the_store_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let (sk, public) = key(tmp.path(), "good-1");
    let (_, other) = key(tmp.path(), "other-1");
    let src = tmp.path().join("src");
    let work = tmp.path().join("work");
    mkdir(&work);
    let paths = populate(&src, &work);
    let cache = tmp.path().join("cache");
    let url = format!("file://{}", cache.display());
    copy_to(
        &src,
        &url,
        &["--key-file", sk.to_str().unwrap(), "--compression", "xz"],
        &paths[..1],
    )
    .ok();
    let server = Lighttpd::serve(&cache);
    let dst = tmp.path().join("dst");
    let refused = |keys: &str, want: &str| {
        let out = copy_from(&dst, &server.url(), keys, &paths[..1]);
        assert!(!out.success(), "accepted: {}", out.stderr);
        assert!(
            out.stderr.contains(want),
            "expected {want:?} in:\n{}",
            out.stderr
        );
        assert!(valid_paths(&dst).is_empty(), "the store changed");
    };
    refused(
        &other,
        "no valid signature by a trusted key (signed by good-1; trusted: other-1)",
    );
    let narinfo = |p: &str| {
        let hash = p
            .trim_start_matches("/nix/store/")
            .split('-')
            .next()
            .unwrap()
            .to_owned();
        cache.join(format!("{hash}.narinfo"))
    };
    let edit = |file: &Path, f: &dyn Fn(&str) -> bool| {
        let t = fs::read_to_string(file).unwrap();
        let kept: String = t
            .lines()
            .filter(|l| f(l))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(file, kept).unwrap();
    };
    let original = fs::read_to_string(narinfo(&paths[2])).unwrap();
    // Unsigned.
    edit(&narinfo(&paths[2]), &|l| !l.starts_with("Sig:"));
    refused(&public, "is not signed");
    // A truncated compressed NAR (the unsigned file hash and size dropped, so only the
    // decompressor and the signed NAR hash stand guard).
    fs::write(narinfo(&paths[2]), &original).unwrap();
    let url_line = original
        .lines()
        .find_map(|l| l.strip_prefix("URL: "))
        .unwrap();
    let nar = cache.join(url_line);
    let data = fs::read(&nar).unwrap();
    fs::write(&nar, &data[..data.len() / 2]).unwrap();
    edit(&narinfo(&paths[2]), &|l| !l.starts_with("File"));
    refused(&public, &format!("refused '{}'", paths[2]));
    fs::write(&nar, &data).unwrap();
    fs::write(narinfo(&paths[2]), &original).unwrap();
    // A narinfo naming another path.
    fs::copy(narinfo(&paths[1]), narinfo(&paths[2])).unwrap();
    refused(
        &public,
        &format!("its narinfo names another path, '{}'", paths[1]),
    );
    fs::write(narinfo(&paths[2]), &original).unwrap();
    // A reference the cache does not have.
    fs::remove_file(narinfo(&paths[2])).unwrap();
    refused(
        &public,
        &format!("'{}' is not in any of the caches", paths[2]),
    );
    fs::write(narinfo(&paths[2]), &original).unwrap();
    // A NAR whose hash is not the signed one.
    let b_url = fs::read_to_string(narinfo(&paths[1])).unwrap();
    let b_nar = cache.join(b_url.lines().find_map(|l| l.strip_prefix("URL: ")).unwrap());
    fs::copy(&nar, &b_nar).unwrap();
    edit(&narinfo(&paths[1]), &|l| !l.starts_with("File"));
    refused(&public, "its NAR has hash");
    // Without trusted keys nothing is even tried.
    refused("", "without --trusted-public-keys");
}

fn busybox_store(root: &Path, work: &Path) -> (String, String) {
    let mut store = LocalStore::open(root, StoreDir::default()).unwrap();
    let tree = work.join("busybox");
    let _ = fs::create_dir_all(tree.join("bin"));
    if !tree.join("bin/busybox").exists() {
        fs::copy("/bin/busybox", tree.join("bin/busybox")).expect("needs Debian's busybox-static");
    }
    let busybox = store.add_path(&tree, Some("busybox")).unwrap().path;
    super::realise::write_drv(
        &mut store,
        &busybox,
        "cached-hello",
        "echo built here; echo hello > $out",
    )
}

fn realise(root: &Path, args: &[&str]) -> super::Output {
    let mut c = strata();
    c.arg("--store-root").arg(root).arg("realise").args(args);
    run(&mut c, None)
}

#[test]
fn realise_substitutes_and_an_unreachable_cache_falls_back_to_building() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    mkdir(&work);
    let (sk, public) = key(tmp.path(), "build-1");
    // Built once here, published.
    let a = tmp.path().join("a");
    let (drv, out) = busybox_store(&a, &work);
    let built = realise(&a, &[&drv]).ok();
    assert!(built.stderr.contains("building "), "{}", built.stderr);
    let cache = tmp.path().join("cache");
    let url = format!("file://{}", cache.display());
    copy_to(
        &a,
        &url,
        &["--key-file", sk.to_str().unwrap()],
        std::slice::from_ref(&out),
    )
    .ok();

    // A fresh store substitutes the output over HTTP and builds nothing.
    let server = Lighttpd::serve(&cache);
    let b = tmp.path().join("b");
    let (drv_b, out_b) = busybox_store(&b, &work);
    assert_eq!((&drv_b, &out_b), (&drv, &out));
    let got = realise(
        &b,
        &[
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &public,
            &drv,
        ],
    )
    .ok();
    assert_eq!(got.line(), out);
    assert!(!got.stderr.contains("building "), "{}", got.stderr);
    assert!(
        got.stderr
            .contains(&format!("substituting {out} from {}", server.url())),
        "{}",
        got.stderr
    );
    assert_eq!(
        strata_info(&b, &out)["narHash"],
        strata_info(&a, &out)["narHash"]
    );

    // An untrusted cache's output is not taken: the build runs.
    let c = tmp.path().join("c");
    busybox_store(&c, &work);
    let (_, other) = key(tmp.path(), "other-1");
    let got = realise(
        &c,
        &[
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &other,
            &drv,
        ],
    )
    .ok();
    assert!(got.stderr.contains("building "), "{}", got.stderr);
    assert!(
        got.stderr.contains("no valid signature by a trusted key"),
        "{}",
        got.stderr
    );

    // A cache nobody answers for: skipped, and the build goes on.
    let d = tmp.path().join("d");
    busybox_store(&d, &work);
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let got = realise(
        &d,
        &[
            "--substituters",
            &dead,
            "--trusted-public-keys",
            &public,
            &drv,
        ],
    )
    .ok();
    assert_eq!(got.line(), out);
    assert!(got.stderr.contains("building "), "{}", got.stderr);
    assert!(
        got.stderr
            .contains(&format!("skipping binary cache {dead}")),
        "{}",
        got.stderr
    );

    // --offline asks none.
    let e = tmp.path().join("e");
    busybox_store(&e, &work);
    let got = realise(
        &e,
        &[
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &public,
            "--offline",
            &drv,
        ],
    )
    .ok();
    assert!(
        got.stderr.contains("building ") && !got.stderr.contains("substituting"),
        "{}",
        got.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Nix 2.8 against strata's caches, and strata against Nix's

#[test]
fn nix_reads_a_strata_cache() {
    let Some(nix) = Nix::get("nix_reads_a_strata_cache") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (sk, public) = key(tmp.path(), "strata-made-1");
    let (_, other) = key(tmp.path(), "unrelated-1");
    let src = tmp.path().join("src");
    let work = tmp.path().join("work");
    mkdir(&work);
    let mut paths = populate(&src, &work);
    // Nix takes a content-addressed path without a signature (its hash proves it), so the
    // refusal is checked on an input-addressed one: a build's output.
    let (drv, built) = busybox_store(&src, &work);
    assert_eq!(realise(&src, &[&drv]).ok().line(), built);
    paths.push(built.clone());
    for compression in ["zstd", "xz", "none"] {
        let cache = tmp.path().join(format!("cache-{compression}"));
        let url = format!("file://{}", cache.display());
        copy_to(
            &src,
            &url,
            &[
                "--key-file",
                sk.to_str().unwrap(),
                "--compression",
                compression,
            ],
            &paths,
        )
        .ok();
        let server = Lighttpd::serve(&cache);
        for from in [url.clone(), server.url()] {
            let nix_copy = |keys: &str, dest: &Path, paths: &[String]| {
                let mut c = nix.nix(&[os("copy"), os("--from"), os(&from), os("--to")]);
                c.arg(dest)
                    .args(["--option", "trusted-public-keys", keys])
                    .args(["--option", "require-sigs", "true"])
                    .args(paths);
                run(&mut c, None)
            };
            // An unrelated key: Nix refuses, so the signatures are really checked.
            let refused_root = tmp.path().join(format!("nix-refused-{compression}"));
            let out = nix_copy(&other, &refused_root, std::slice::from_ref(&built));
            assert!(!out.success(), "Nix accepted paths signed by another key");
            assert!(
                out.stderr.contains("lacks a valid signature"),
                "{}",
                out.stderr
            );

            let dest = tmp.path().join(format!("nix-{compression}-{}", from.len()));
            nix_copy(&public, &dest, &paths).ok();
            for p in &paths {
                let info = nix.path_info(&dest, p);
                let want = strata_info(&src, p);
                assert_eq!(info["narHash"], want["narHash"], "{p}");
                assert_eq!(info["narSize"], want["narSize"], "{p}");
                let sigs = info["signatures"].as_array().cloned().unwrap_or_default();
                assert!(
                    sigs.iter()
                        .any(|s| s.as_str().unwrap().starts_with("strata-made-1:")),
                    "{p}: {info}"
                );
            }
            nix.verify(&dest);
        }
    }
}

#[test]
fn strata_reads_a_nix_cache() {
    let Some(nix) = Nix::get("strata_reads_a_nix_cache") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let sk = tmp.path().join("nix.sec");
    let pk = tmp.path().join("nix.pub");
    run(
        &mut nix.nix_store(&[
            os("--generate-binary-cache-key"),
            os("nix-made-1"),
            sk.as_os_str(),
            pk.as_os_str(),
        ]),
        None,
    )
    .ok();
    let public = fs::read_to_string(&pk).unwrap();
    let nix_root = tmp.path().join("nix-root");
    let a = nix.eval_store_path(&nix_root, "builtins.toFile \"a\" \"hello from nix\"");
    let b = nix.eval_store_path(
        &nix_root,
        "builtins.toFile \"b\" \"see ${builtins.toFile \"a\" \"hello from nix\"}\"",
    );
    let work = tmp.path().join("work");
    mkdir(&work);
    let tree = tree_mixed(&work);
    let t = run(
        &mut nix.nix_store_at(&nix_root, &[os("--add"), tree.as_os_str()]),
        None,
    )
    .ok()
    .line();
    for compression in ["xz", "zstd", "none"] {
        let cache = tmp.path().join(format!("cache-{compression}"));
        let to = format!(
            "file://{}?secret-key={}&compression={compression}",
            cache.display(),
            sk.display()
        );
        let mut c = nix.nix(&[
            os("copy"),
            os("--from"),
            nix_root.as_os_str(),
            os("--to"),
            os(&to),
        ]);
        c.args([&b, &t]);
        run(&mut c, None).ok();
        let dst = tmp.path().join(format!("strata-{compression}"));
        let url = format!("file://{}", cache.display());
        let wrong = key(tmp.path(), &format!("wrong-{compression}")).1;
        let out = copy_from(&dst, &url, &wrong, std::slice::from_ref(&b));
        assert!(
            !out.success() && out.stderr.contains("no valid signature"),
            "{}",
            out.stderr
        );
        assert!(valid_paths(&dst).is_empty());
        let out = copy_from(&dst, &url, public.trim(), &[b.clone(), t.clone()]).ok();
        assert!(out.stderr.contains("received 3 paths"), "{}", out.stderr);
        for p in [&a, &b, &t] {
            let got = strata_info(&dst, p);
            let want = nix.path_info(&nix_root, p);
            assert_eq!(got["narHash"], want["narHash"], "{p}");
            assert!(got["signatures"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.as_str().unwrap().starts_with("nix-made-1:")));
        }
        run(&mut strata_store(&dst, ["verify"]), None).ok();
    }
}

// ---------------------------------------------------------------------------------------------
// The example, built once and then only substituted

#[test]
fn the_example_builds_from_a_cache_with_nothing_built() {
    use super::system::{example, link_target, shared};
    let s = shared();
    let tmp = tempfile::tempdir().unwrap();
    let result = tmp.path().join("result");
    let example = example();
    let built = super::system::build(
        &s,
        &[
            "-f",
            example.to_str().unwrap(),
            "-o",
            result.to_str().unwrap(),
        ],
    )
    .ok();
    let toplevel = built.line();
    assert_eq!(link_target(&result), toplevel);

    // The builder publishes the system's closure, signed, and the lock's Debian digest (the
    // path `strata lock fetch` prints), so that the other machine needs no archive at all.
    let mut c = strata();
    c.arg("--store-root").arg(s.root()).args([
        "lock",
        "fetch",
        "-f",
        example.with_file_name("strata.lock").to_str().unwrap(),
    ]);
    let digest = run(&mut c, None).ok().line();
    assert!(digest.contains("-debian-digest-"), "{digest}");
    let (sk, public) = key(tmp.path(), "fleet-1");
    let cache = tmp.path().join("cache");
    let url = format!("file://{}", cache.display());
    copy_to(
        &s.root(),
        &url,
        &["--key-file", sk.to_str().unwrap()],
        &[toplevel.clone(), digest.clone()],
    )
    .ok();
    let server = Lighttpd::serve(&cache);
    let server_port = server.port;

    // Another machine's empty store builds the same configuration from the cache alone.
    let fresh = tmp.path().join("fresh");
    let result2 = tmp.path().join("result2");
    let mut c = strata();
    c.arg("--store-root")
        .arg(&fresh)
        .arg("build")
        .args([
            "-f",
            example.to_str().unwrap(),
            "-o",
            result2.to_str().unwrap(),
        ])
        .args([
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &public,
            // No archive: nothing listens there, so the digest and every .deb must come
            // from the cache.
            "--mirror",
            "http://127.0.0.1:1/debian",
        ]);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    let out = run(&mut c, None).ok();
    assert_eq!(out.line(), toplevel, "the same toplevel");
    assert!(
        out.stderr
            .contains(&format!("substituting {digest} from {}", server.url())),
        "{}",
        out.stderr
    );
    let built_lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("building "))
        .collect();
    assert!(
        built_lines.is_empty(),
        "built instead of substituted: {built_lines:?}\n{}",
        out.stderr
    );
    // Nothing was built, but the toplevel was not there: no "up to date".
    assert!(!out.stderr.contains("nothing to build"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("substituting {toplevel} from {}", server.url())),
        "{}",
        out.stderr
    );
    // Byte-identical: the same NAR hash as the local build, and every path of the closure
    // arrived with the cache's signature.
    assert_eq!(
        strata_info(&fresh, &toplevel)["narHash"],
        strata_info(&s.root(), &toplevel)["narHash"]
    );
    let closure = run(
        &mut strata_store(&fresh, [os("closure"), os(&toplevel)]),
        None,
    )
    .ok()
    .lines();
    assert!(closure.len() > 10, "{closure:?}");
    for p in &closure {
        let info = strata_info(&fresh, p);
        let signed = info["signatures"].as_array().is_some_and(|a| {
            a.iter()
                .any(|s| s.as_str().unwrap().starts_with("fleet-1:"))
        });
        let made_here = info["ultimate"].as_bool() == Some(true) || info["ca"].is_string();
        assert!(
            signed || made_here,
            "{p} neither substituted nor made by evaluation: {info}"
        );
    }
    run(
        &mut strata_store(&fresh, [os("verify"), os(&toplevel)]),
        None,
    )
    .ok();

    // What was asked of the cache: every narinfo at most once, and only the closure's and the
    // digest's. The toplevel being there, nothing only its build needed (the `.deb` files, for
    // one) was asked for, let alone fetched; each substituted path's NAR was fetched once.
    let requests = server.stop();
    let hash = |p: &str| {
        p.trim_start_matches("/nix/store/")
            .split('-')
            .next()
            .unwrap()
            .to_owned()
    };
    let in_closure: std::collections::BTreeSet<String> = closure
        .iter()
        .chain(std::iter::once(&digest))
        .map(|p| hash(p))
        .collect();
    let narinfos: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.strip_prefix("GET /")?.split_once(".narinfo "))
        .map(|(h, _)| h)
        .collect();
    let distinct: std::collections::BTreeSet<&str> = narinfos.iter().copied().collect();
    assert_eq!(distinct.len(), narinfos.len(), "asked twice: {requests:#?}");
    for h in &narinfos {
        assert!(in_closure.contains(*h), "asked for {h}, not in the closure");
    }
    let debs: Vec<String> = valid_paths(&s.root())
        .into_iter()
        .filter(|p| p.ends_with(".deb"))
        .collect();
    assert!(!debs.is_empty(), "the example's build fetched no .deb?");
    for d in &debs {
        assert!(!in_closure.contains(&hash(d)), "{d} in the closure");
        assert!(!valid_paths(&fresh).contains(d), "{d} was fetched");
    }
    let substituted: Vec<&String> = closure
        .iter()
        .chain(std::iter::once(&digest))
        .filter(|p| strata_info(&fresh, p)["ultimate"].as_bool() != Some(true))
        .collect();
    let nars = requests
        .iter()
        .filter(|r| r.starts_with("GET /nar/"))
        .count();
    assert_eq!(nars, substituted.len(), "{requests:#?}");

    // The summary line: how many paths, from where, and how many bytes, as the closure says.
    let nar_bytes: u64 = substituted
        .iter()
        .map(|p| strata_info(&fresh, p)["narSize"].as_u64().unwrap())
        .sum();
    let file_bytes: u64 = substituted
        .iter()
        .map(|p| {
            let text = fs::read_to_string(cache.join(format!("{}.narinfo", hash(p)))).unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("FileSize: "))
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    let summary: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("substituted "))
        .collect();
    assert_eq!(summary.len(), 1, "{}", out.stderr);
    let url = format!("http://127.0.0.1:{}", server_port);
    assert!(
        summary[0].starts_with(&format!(
            "substituted {} paths from {url}: ",
            substituted.len()
        )) && summary[0].contains(&format!(" downloaded ({file_bytes} bytes), "))
            && summary[0].ends_with(&format!(" unpacked ({nar_bytes} bytes)")),
        "{}",
        summary[0]
    );
}
