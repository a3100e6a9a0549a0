//! Substitution inside builds: a small graph of busybox derivations (a build-time tool, a
//! runtime library, an application that needs both) realised from lighttpd on 127.0.0.1,
//! counting its requests: what the caches are asked, what is fetched, what falls back to
//! being built, and the summary line. Then `strata shell` and `strata image` substituting
//! what the [`system`](super::system) tests' shared store published.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use strata_store::derivation::{Derivation, Output};
use strata_store::{Hash, LocalStore, StoreDir, StorePath};

use super::cache::{copy_to, key, Lighttpd};
use super::compat::{mkdir, os, strata_info};
use super::{run, strata, strata_store};

/// Derivations run by busybox sh, with input derivations.
struct Graph {
    store: LocalStore,
    busybox: StorePath,
    made: BTreeMap<String, Derivation>,
}

/// The three derivations: `app`'s build runs `tool` and its output refers to `lib`'s.
struct Chain {
    tool: (String, String),
    lib: (String, String),
    app: (String, String),
}

impl Graph {
    fn new(root: &Path, work: &Path) -> Graph {
        let mut store = LocalStore::open(root, StoreDir::default()).unwrap();
        let tree = work.join("busybox");
        if !tree.join("bin/busybox").exists() {
            fs::create_dir_all(tree.join("bin")).unwrap();
            fs::copy("/bin/busybox", tree.join("bin/busybox"))
                .expect("needs Debian's busybox-static");
        }
        let busybox = store.add_path(&tree, Some("busybox")).unwrap().path;
        Graph {
            store,
            busybox,
            made: BTreeMap::new(),
        }
    }

    fn modulo(&self, drv: &str) -> Hash {
        self.made[drv]
            .hash_modulo(false, |i| Ok::<_, ()>(self.modulo(i)))
            .unwrap()
    }

    /// A derivation running `script`, with the `out` outputs of `inputs` (`.drv` paths);
    /// returns the `.drv` and its output, printed.
    fn drv(&mut self, name: &str, script: &str, inputs: &[&str]) -> (String, String) {
        let bb = format!("{}/bin/busybox", self.store.print(&self.busybox));
        let mut d = Derivation {
            system: "x86_64-linux".into(),
            builder: bb.clone(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            ..Default::default()
        };
        d.input_srcs.insert(self.store.print(&self.busybox));
        for i in inputs {
            d.input_drvs
                .insert((*i).to_owned(), BTreeSet::from(["out".to_owned()]));
        }
        d.env.insert("name".into(), name.into());
        d.env.insert("builder".into(), bb);
        d.env.insert("system".into(), "x86_64-linux".into());
        d.env.insert("out".into(), String::new());
        d.outputs.insert("out".into(), Output::default());
        let h = d
            .hash_modulo(true, |i| Ok::<_, ()>(self.modulo(i)))
            .unwrap();
        let sd = self.store.store_dir().clone();
        let out = sd.display(&sd.make_output_path("out", &h, name).unwrap());
        d.env.insert("out".into(), out.clone());
        d.outputs.get_mut("out").unwrap().path = out.clone();
        let refs: BTreeSet<StorePath> = d
            .references()
            .iter()
            .map(|r| sd.parse(r).unwrap())
            .collect();
        let path = self
            .store
            .add_text(
                &format!("{name}.drv"),
                d.to_aterm(false, None).as_bytes(),
                &refs,
            )
            .unwrap()
            .path;
        let path = self.store.print(&path);
        self.made.insert(path.clone(), d);
        (path, out)
    }

    fn chain(&mut self) -> Chain {
        let tool = self.drv("tool", "echo tool > $out", &[]);
        let lib = self.drv("lib", "echo lib > $out", &[]);
        let app_script = format!(
            "read t < {}; echo \"made by $t, uses {}\" > $out",
            tool.1, lib.1
        );
        let app = self.drv("app", &app_script, &[&tool.0, &lib.0]);
        Chain { tool, lib, app }
    }
}

fn realise(root: &Path, args: &[&str]) -> super::Output {
    let mut c = strata();
    c.arg("--store-root").arg(root).arg("realise").args(args);
    run(&mut c, None)
}

fn built(o: &super::Output) -> Vec<String> {
    let mut v: Vec<String> = o
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("building "))
        .map(|d| {
            let name = d.rsplit_once('-').map_or(d, |(_, n)| n);
            name.trim_end_matches(".drv").to_owned()
        })
        .collect();
    v.sort();
    v
}

fn hash_of(p: &str) -> &str {
    p.trim_start_matches("/nix/store/")
        .split('-')
        .next()
        .unwrap()
}

/// The narinfos asked for (by hash part, with the status) and the NARs fetched.
fn asked(requests: &[String]) -> (BTreeMap<String, Vec<String>>, usize) {
    let mut narinfos: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in requests {
        if let Some((h, status)) = r
            .strip_prefix("GET /")
            .and_then(|r| r.split_once(".narinfo "))
        {
            narinfos
                .entry(h.to_owned())
                .or_default()
                .push(status.to_owned());
        }
    }
    let nars = requests
        .iter()
        .filter(|r| r.starts_with("GET /nar/"))
        .count();
    (narinfos, nars)
}

/// A store with the chain built and published to a cache (what `publish` names, with its
/// closure); returns the cache directory and the public key.
fn published(
    tmp: &Path,
    work: &Path,
    publish: impl Fn(&Chain) -> Vec<String>,
) -> (PathBuf, String) {
    let (sk, public) = key(tmp, "chain-1");
    let a = tmp.join("a");
    let mut g = Graph::new(&a, work);
    let chain = g.chain();
    drop(g);
    let o = realise(&a, &[&chain.app.0]).ok();
    assert_eq!(built(&o), ["app", "lib", "tool"], "{}", o.stderr);
    let cache = tmp.join("cache");
    let url = format!("file://{}", cache.display());
    copy_to(
        &a,
        &url,
        &["--key-file", sk.to_str().unwrap()],
        &publish(&chain),
    )
    .ok();
    (cache, public)
}

#[test]
fn a_substituted_output_spares_its_build_time_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    mkdir(&work);
    let (cache, public) = published(tmp.path(), &work, |c| vec![c.app.1.clone()]);
    let server = Lighttpd::serve(&cache);
    let url = server.url();

    let b = tmp.path().join("b");
    let chain = Graph::new(&b, &work).chain();
    let o = realise(
        &b,
        &[
            "--substituters",
            &url,
            "--trusted-public-keys",
            &public,
            &chain.app.0,
        ],
    )
    .ok();
    assert_eq!(o.line(), chain.app.1);
    assert!(built(&o).is_empty(), "{}", o.stderr);
    let (narinfos, nars) = asked(&server.stop());
    // app asked and found; lib asked as its reference; tool, which only app's build needed,
    // never asked, never fetched.
    let want: BTreeMap<String, Vec<String>> = [&chain.app.1, &chain.lib.1]
        .iter()
        .map(|p| (hash_of(p).to_owned(), vec!["200".to_owned()]))
        .collect();
    assert_eq!(narinfos, want);
    assert_eq!(nars, 2);
    let b_store = LocalStore::open(&b, StoreDir::default()).unwrap();
    assert!(!b_store
        .is_valid(&b_store.parse_path(&chain.tool.1).unwrap())
        .unwrap());
    drop(b_store);

    // The summary: two paths, from the server, with the bytes the cache holds.
    let nar_bytes: u64 = [&chain.app.1, &chain.lib.1]
        .iter()
        .map(|p| strata_info(&b, p)["narSize"].as_u64().unwrap())
        .sum();
    let file_bytes: u64 = [&chain.app.1, &chain.lib.1]
        .iter()
        .map(|p| {
            let t = fs::read_to_string(cache.join(format!("{}.narinfo", hash_of(p)))).unwrap();
            t.lines()
                .find_map(|l| l.strip_prefix("FileSize: "))
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    let summary = format!(
        "substituted 2 paths from {url}: {:.2} MiB downloaded ({file_bytes} bytes), {:.2} MiB unpacked ({nar_bytes} bytes)",
        file_bytes as f64 / 1048576.0,
        nar_bytes as f64 / 1048576.0
    );
    assert!(
        o.stderr.lines().any(|l| l == summary),
        "no line '{summary}' in:\n{}",
        o.stderr
    );
}

#[test]
fn what_the_cache_lacks_is_built_and_each_path_is_asked_once() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    mkdir(&work);
    // Only lib is published: app and tool are built, lib is fetched.
    let (cache, public) = published(tmp.path(), &work, |c| vec![c.lib.1.clone()]);
    let server = Lighttpd::serve(&cache);
    let c = tmp.path().join("c");
    let chain = Graph::new(&c, &work).chain();
    let o = realise(
        &c,
        &[
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &public,
            &chain.app.0,
        ],
    )
    .ok();
    assert_eq!(built(&o), ["app", "tool"], "{}", o.stderr);
    let (narinfos, nars) = asked(&server.stop());
    // The negative answers are asked once each (app's, then tool's with lib's at the next
    // level, in one round).
    let want: BTreeMap<String, Vec<String>> = [
        (&chain.app.1, "404"),
        (&chain.tool.1, "404"),
        (&chain.lib.1, "200"),
    ]
    .iter()
    .map(|(p, s)| (hash_of(p).to_owned(), vec![(*s).to_owned()]))
    .collect();
    assert_eq!(narinfos, want);
    assert_eq!(nars, 1);
    assert!(
        o.stderr.contains("substituted 1 path from "),
        "{}",
        o.stderr
    );
}

#[test]
fn a_refused_nar_falls_back_to_building_what_needs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    mkdir(&work);
    let (cache, public) = published(tmp.path(), &work, |c| vec![c.app.1.clone()]);
    // app's NAR replaced by lib's, its file size and hash dropped: only the signed NAR hash
    // can tell, and it does.
    let chain = Graph::new(&tmp.path().join("d"), &work).chain();
    let narinfo = |p: &str| cache.join(format!("{}.narinfo", hash_of(p)));
    let nar_of = |p: &str| {
        let t = fs::read_to_string(narinfo(p)).unwrap();
        cache.join(t.lines().find_map(|l| l.strip_prefix("URL: ")).unwrap())
    };
    fs::copy(nar_of(&chain.lib.1), nar_of(&chain.app.1)).unwrap();
    let t = fs::read_to_string(narinfo(&chain.app.1)).unwrap();
    let kept: String = t
        .lines()
        .filter(|l| !l.starts_with("FileHash") && !l.starts_with("FileSize"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(narinfo(&chain.app.1), kept).unwrap();

    let server = Lighttpd::serve(&cache);
    let d = tmp.path().join("d");
    let o = realise(
        &d,
        &[
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &public,
            &chain.app.0,
        ],
    )
    .ok();
    assert_eq!(o.line(), chain.app.1);
    assert!(
        o.stderr
            .contains(&format!("warning: not substituting {}", chain.app.1))
            && o.stderr.contains("its NAR has hash"),
        "{}",
        o.stderr
    );
    // lib came from the cache; app was built, and tool for it (asked for once, 404).
    assert_eq!(built(&o), ["app", "tool"], "{}", o.stderr);
    assert!(strata_info(&d, &chain.app.1)["signatures"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
    assert!(strata_info(&d, &chain.lib.1)["signatures"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    let (narinfos, _) = asked(&server.stop());
    assert!(narinfos.values().all(|s| s.len() == 1), "{narinfos:?}");
    assert_eq!(narinfos[hash_of(&chain.tool.1)], ["404"]);
    run(&mut strata_store(&d, [os("verify")]), None).ok();
}

#[test]
fn a_cache_that_never_answers_is_given_up_once() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    mkdir(&work);
    let (_, public) = key(tmp.path(), "silent-1");
    // Accepts connections and says nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    let e = tmp.path().join("e");
    let chain = Graph::new(&e, &work).chain();
    let url = format!("http://127.0.0.1:{port}");
    let o = realise(
        &e,
        &[
            "--substituters",
            &url,
            "--trusted-public-keys",
            &public,
            "--substituter-timeout",
            "1",
            &chain.app.0,
        ],
    )
    .ok();
    assert_eq!(built(&o), ["app", "lib", "tool"], "{}", o.stderr);
    let skipped: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("skipping binary cache {url}")))
        .collect();
    assert_eq!(skipped.len(), 1, "{}", o.stderr);
    // One connection (for nix-cache-info); the three derivations' outputs were never asked.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// `strata shell` and `strata image`, from what the shared store published

#[test]
fn the_shell_substitutes_its_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let (sk, public) = key(tmp.path(), "shells-1");
    let cache = tmp.path().join("cache");
    {
        let s = super::system::shared();
        // The shell's tree, made (and its packages fetched) in the shared store.
        let mut c = strata();
        c.current_dir(tmp.path())
            .arg("--store-root")
            .arg(s.root())
            .args(["shell", "-p", "jq", "--run", "echo $STRATA_SHELL"])
            .env_remove("STRATA_DEBIAN_MIRROR");
        let tree = run(&mut c, None).ok().line();
        assert!(tree.starts_with("/nix/store/"), "{tree}");
        let url = format!("file://{}", cache.display());
        copy_to(
            &s.root(),
            &url,
            &["--key-file", sk.to_str().unwrap()],
            std::slice::from_ref(&tree),
        )
        .ok();
    }
    let server = Lighttpd::serve(&cache);
    let fresh = tmp.path().join("fresh");
    let mut c = strata();
    c.current_dir(tmp.path())
        .arg("--store-root")
        .arg(&fresh)
        .args(["shell", "-p", "jq", "--run", "jq --version"])
        .args([
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &public,
        ])
        .env_remove("STRATA_DEBIAN_MIRROR");
    let o = run(&mut c, None).ok();
    assert!(o.line().starts_with("jq-1."), "{}", o.line());
    assert!(
        !o.stderr.lines().any(|l| l.starts_with("building ")),
        "built instead of substituted:\n{}",
        o.stderr
    );
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("substituted ") && l.contains(&server.url())),
        "{}",
        o.stderr
    );
    // No .deb was fetched: only the unpacked packages the tree refers to came.
    let store = LocalStore::open(&fresh, StoreDir::default()).unwrap();
    let debs: Vec<String> = store
        .valid_paths()
        .unwrap()
        .iter()
        .map(|p| store.print(p))
        .filter(|p| p.ends_with(".deb"))
        .collect();
    assert!(debs.is_empty(), "{debs:?}");
}

#[test]
fn an_image_substitutes_its_system() {
    let tmp = tempfile::tempdir().unwrap();
    let (sk, public) = key(tmp.path(), "images-1");
    let cache = tmp.path().join("cache");
    let example = super::system::example();
    let toplevel = {
        let s = super::system::shared();
        let toplevel =
            super::system::build(&s, &["-f", example.to_str().unwrap(), "--no-out-link"])
                .ok()
                .line();
        let url = format!("file://{}", cache.display());
        copy_to(
            &s.root(),
            &url,
            &["--key-file", sk.to_str().unwrap()],
            std::slice::from_ref(&toplevel),
        )
        .ok();
        toplevel
    };
    let server = Lighttpd::serve(&cache);
    let fresh = tmp.path().join("fresh");
    let out = tmp.path().join("system.tar");
    let mut c = strata();
    c.arg("--store-root")
        .arg(&fresh)
        .arg("image")
        .args(["-f", example.to_str().unwrap(), "--format", "tar", "-o"])
        .arg(&out)
        .args([
            "--substituters",
            &server.url(),
            "--trusted-public-keys",
            &public,
        ])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("STRATA_DEBIAN_MIRROR");
    let o = run(&mut c, None).ok();
    assert!(
        !o.stderr.lines().any(|l| l.starts_with("building ")),
        "built instead of substituted:\n{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains(&format!("substituting {toplevel} from {}", server.url())),
        "{}",
        o.stderr
    );
    let summary: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with("substituted "))
        .collect();
    assert_eq!(summary.len(), 1, "{}", o.stderr);
    assert!(out.metadata().unwrap().len() > 0);
    // The image holds the substituted system.
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&out)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let name = toplevel.trim_start_matches('/');
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./").starts_with(name)),
        "{toplevel} not in the image"
    );
}

// ---------------------------------------------------------------------------------------------
// https

/// `openssl` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the https tests need the openssl command");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A certificate authority `NAME.pem` (key `NAME.key`) in `dir`, and a certificate it signed
/// for 127.0.0.1: `NAME-server.pem` and `NAME-server.key`.
fn make_ca(dir: &Path, name: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    let subject = format!("/CN=strata test {name}");
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        &key,
        "-out",
        &pem,
        "-days",
        "2",
        "-subj",
        &subject,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
    let (skey, csr, spem) = (
        format!("{name}-server.key"),
        format!("{name}-server.csr"),
        format!("{name}-server.pem"),
    );
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", &skey, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    openssl(dir, &args);
    let ext = format!("{name}.ext");
    fs::write(
        dir.join(&ext),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &pem,
            "-CAkey",
            &key,
            "-CAcreateserial",
            "-out",
            &spem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

#[test]
fn substitutes_over_https_and_refuses_an_untrusted_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    mkdir(&work);
    let (cache, public) = published(tmp.path(), &work, |c| vec![c.app.1.clone()]);
    let pki = tmp.path().join("pki");
    mkdir(&pki);
    make_ca(&pki, "trusted");
    make_ca(&pki, "other");
    let server = Lighttpd::serve_tls(
        &cache,
        &pki.join("trusted-server.pem"),
        &pki.join("trusted-server.key"),
    );
    let url = server.url();
    assert!(url.starts_with("https://"));
    let realise_with = |root: &Path, ca: &Path| {
        let chain = Graph::new(root, &work).chain();
        let mut c = strata();
        c.arg("--store-root")
            .arg(root)
            .arg("realise")
            .args(["--substituters", &url, "--trusted-public-keys", &public])
            .arg(&chain.app.0)
            .env("SSL_CERT_FILE", ca)
            .env_remove("NIX_SSL_CERT_FILE");
        (run(&mut c, None).ok(), chain)
    };

    // The test authority, named by SSL_CERT_FILE: substituted, nothing built.
    let (o, chain) = realise_with(&tmp.path().join("b"), &pki.join("trusted.pem"));
    assert_eq!(o.line(), chain.app.1);
    assert!(built(&o).is_empty(), "{}", o.stderr);
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with(&format!("substituted 2 paths from {url}: "))),
        "{}",
        o.stderr
    );

    // Another authority: the server's certificate is refused, the cache skipped with the
    // reason, and everything built here.
    let (o, chain) = realise_with(&tmp.path().join("c"), &pki.join("other.pem"));
    assert_eq!(o.line(), chain.app.1);
    assert_eq!(built(&o), ["app", "lib", "tool"], "{}", o.stderr);
    let skipped: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with(&format!("warning: skipping binary cache {url}")))
        .collect();
    assert_eq!(skipped.len(), 1, "{}", o.stderr);
    assert!(
        skipped[0].contains("invalid peer certificate") && skipped[0].contains("SSL_CERT_FILE"),
        "the reason names the certificate and where trust comes from: {}",
        skipped[0]
    );
    let (narinfos, nars) = asked(&server.stop());
    assert_eq!(nars, 2, "only the trusted run fetched");
    assert_eq!(narinfos.len(), 2);
}
