//! The generation's usr-merged tree (`builtin:strata-usr`, `modules/pkgs/usr-tree.nix`) over
//! packages of a fake archive made with `dpkg-deb`, unpacked by `builtin:unpack-deb`; and the
//! loader cache compared with Debian's own `ldconfig` on copies of this host's libraries.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use strata_builder::debian::archive::fake::{self, FakeDeb, FakePackageTree};
use strata_builder::eval_io::StoreIo;
use strata_builder::scheduler::{realise_all, SchedulerError, SchedulerOptions};
use strata_builder::userspace::ldcache;
use strata_lang::source::Span;
use strata_lang::{EvalConfig, Evaluator};
use strata_store::{LocalStore, StoreDir, StorePath};

const SPAN: Span = Span {
    file: 0,
    start: 0,
    end: 0,
};

const MAWK_POSTINST: &str = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n\
    \tupdate-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n\
    \t\t--slave /usr/bin/nawk nawk /usr/bin/mawk\nfi\n";
const VIM_POSTINST: &str =
    "#!/bin/sh\nupdate-alternatives --install /usr/bin/vi vi /usr/bin/vim.basic 30\n";
const TINY_POSTINST: &str =
    "#!/bin/sh\nupdate-alternatives --install /usr/bin/vi vi /usr/bin/vim.tiny 15\n";

fn packages() -> Vec<FakePackageTree<'static>> {
    vec![
        FakePackageTree {
            name: "dash",
            version: "0.5.12-2",
            arch: "amd64",
            files: &[("bin/dash", "#!fake dash\n")],
            // `/usr/bin/sh -> /bin/sh` points at its own place once merged: dropped.
            symlinks: &[("bin/sh", "dash"), ("usr/bin/sh", "/bin/sh")],
            ..Default::default()
        },
        FakePackageTree {
            name: "libc6",
            version: "2.36-9",
            arch: "amd64",
            files: &[
                ("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n"),
                (
                    "etc/ld.so.conf.d/x86_64-linux-gnu.conf",
                    "/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n",
                ),
                (
                    "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                    "not really ELF",
                ),
                ("var/lib/misc/state", "skipped"),
            ],
            symlinks: &[(
                "lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            )],
            ..Default::default()
        },
        FakePackageTree {
            name: "mawk",
            version: "1.3.4-1",
            arch: "amd64",
            files: &[("usr/bin/mawk", "#!fake mawk\n")],
            postinst: Some(MAWK_POSTINST),
            ..Default::default()
        },
        FakePackageTree {
            name: "vim",
            version: "2:9.0-1",
            arch: "amd64",
            files: &[("usr/bin/vim.basic", "#!fake vim\n")],
            postinst: Some(VIM_POSTINST),
            ..Default::default()
        },
        FakePackageTree {
            name: "vim-tiny",
            version: "2:9.0-1",
            arch: "amd64",
            files: &[("usr/bin/vim.tiny", "#!fake vim.tiny\n")],
            postinst: Some(TINY_POSTINST),
            ..Default::default()
        },
        FakePackageTree {
            name: "ca-certificates",
            version: "20230311",
            arch: "all",
            files: &[
                ("usr/share/ca-certificates/mozilla/B.crt", "-----B-----\n"),
                ("usr/share/ca-certificates/mozilla/A.crt", "-----A-----\n"),
            ],
            ..Default::default()
        },
        FakePackageTree {
            name: "greet-old",
            version: "1.0-1",
            arch: "all",
            files: &[("usr/share/greet/words", "hello\n")],
            ..Default::default()
        },
        FakePackageTree {
            name: "greet-new",
            version: "2.0-1",
            arch: "all",
            control: "Replaces: greet-old (<< 2)\n",
            files: &[("usr/share/greet/words", "hello, world\n")],
            ..Default::default()
        },
        FakePackageTree {
            name: "dup-a",
            version: "1.0-1",
            arch: "amd64",
            files: &[("usr/bin/dup", "a\n")],
            ..Default::default()
        },
        FakePackageTree {
            name: "dup-b",
            version: "2.0-3",
            arch: "amd64",
            files: &[("usr/bin/dup", "b\n")],
            ..Default::default()
        },
    ]
}

struct Env {
    dir: tempfile::TempDir,
    store: LocalStore,
    /// Package name -> the `.deb`'s store path.
    debs: BTreeMap<String, String>,
}

impl Env {
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A fresh store with a fresh fake archive's `.deb` files in it.
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let (_, built) = fake::build_trees(&archive, "fake", &packages()).unwrap();
        Env::with_debs(dir, &archive, &built)
    }

    /// A fresh store with the `.deb` files of `other`'s archive (dpkg-deb stamps the time
    /// into a package, so a second archive would hold other bytes).
    fn sharing_debs(other: &Env) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        fs::create_dir_all(&archive).unwrap();
        let built: Vec<FakeDeb> = other
            .debs
            .iter()
            .map(|(name, path)| {
                let file = format!("{name}.deb");
                fs::copy(
                    other
                        .store
                        .real_path(&other.store.store_dir().parse(path).unwrap()),
                    archive.join(&file),
                )
                .unwrap();
                FakeDeb {
                    name: name.clone(),
                    filename: file,
                    sha256: String::new(),
                    size: 0,
                }
            })
            .collect();
        Env::with_debs(dir, &archive, &built)
    }

    fn with_debs(dir: tempfile::TempDir, archive: &Path, built: &[FakeDeb]) -> Env {
        let mut store = LocalStore::open(dir.path().join("root"), StoreDir::default()).unwrap();
        let mut debs = BTreeMap::new();
        for deb in built {
            let info = store
                .add_path(
                    &archive.join(&deb.filename),
                    Some(&format!("{}.deb", deb.name)),
                )
                .unwrap();
            debs.insert(deb.name.clone(), store.print(&info.path));
        }
        Env { dir, store, debs }
    }

    /// Evaluates the tree of `names` with more arguments `args` (Nix attribute bindings)
    /// and returns its `.drv`.
    fn eval(&self, names: &[&str], args: &str) -> StorePath {
        let list: String = names.iter().map(|n| format!("p.\"{n}\" ")).collect();
        self.eval_body(&format!("usrTree {{ packages = [ {list} ]; {args} }}"))
    }

    /// Evaluates `body`, a derivation with the unpacked packages in scope as `p` and
    /// `usr-tree.nix` as `usrTree`, and returns its `.drv`.
    fn eval_body(&self, body: &str) -> StorePath {
        let store = LocalStore::open(self.root(), StoreDir::default()).unwrap();
        let mut ev = Evaluator::new(EvalConfig::default(), Rc::new(StoreIo::new(store)));
        ev.set_trace_sink(Box::new(|_| {}));
        ev.reset_stack_base();
        let debs: String = self
            .debs
            .iter()
            .map(|(n, p)| format!("\"{n}\" = builtins.storePath \"{p}\"; "))
            .collect();
        let expr = format!(
            "let
               debs = {{ {debs} }};
               p = builtins.mapAttrs (n: deb: derivation {{
                 name = n; system = \"builtin\"; builder = \"builtin:unpack-deb\";
                 inherit deb; unpackVersion = \"2\";
               }}) debs;
               usrTree = import {};
             in ({body}).drvPath",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../modules/pkgs/usr-tree.nix")
                .display()
        );
        let v = ev
            .eval_string(&expr)
            .and_then(|v| ev.deep_force(&v, SPAN))
            .unwrap_or_else(|e| panic!("{}", e.render(&ev.sources)));
        let s = ev.force_string(&v, SPAN).unwrap();
        self.store.store_dir().parse(&s.to_str_lossy()).unwrap()
    }

    fn build(&self, drv: &StorePath) -> Result<StorePath, SchedulerError> {
        let built = realise_all(
            &self.root(),
            self.store.store_dir(),
            std::slice::from_ref(drv),
            &SchedulerOptions::default(),
        )?;
        Ok(built[drv]["out"].clone())
    }
}

/// The names in `packages()` but the colliding pair.
const TREE: &[&str] = &[
    "vim-tiny",
    "dash",
    "libc6",
    "mawk",
    "vim",
    "ca-certificates",
    "greet-old",
    "greet-new",
    "dash",
];

fn link(out: &Path, p: &str) -> String {
    fs::read_link(out.join(p)).unwrap().display().to_string()
}

#[test]
fn tree_of_fake_packages_is_merged_and_reproducible() {
    let e = Env::new();
    let drv = e.eval(TREE, "");
    // The same set in another order is the same derivation.
    let mut reversed = TREE.to_vec();
    reversed.reverse();
    assert_eq!(e.eval(&reversed, ""), drv);
    let drv_text = fs::read_to_string(e.store.real_path(&drv)).unwrap();
    assert!(drv_text.contains("builtin:strata-usr"), "{drv_text}");

    let out_path = e.build(&drv).unwrap();
    assert!(e.store.print(&out_path).ends_with("-system-usr"));
    let out = e.store.real_path(&out_path);

    // The top: usr, etc and the compatibility links, nothing of /var or DEBIAN.
    let mut top: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["bin", "etc", "lib", "lib64", "sbin", "usr"]);
    assert_eq!(link(&out, "bin"), "usr/bin");
    assert_eq!(link(&out, "lib64"), "usr/lib64");
    // Merged places and rewritten links.
    assert_eq!(
        fs::read_to_string(out.join("usr/bin/dash")).unwrap(),
        "#!fake dash\n"
    );
    assert_eq!(link(&out, "usr/bin/sh"), "dash");
    assert_eq!(
        link(&out, "usr/lib64/ld-linux-x86-64.so.2"),
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    );
    assert!(out.join("etc/ld.so.conf.d/x86_64-linux-gnu.conf").is_file());
    assert!(!out.join("var").exists());
    assert!(!out.join("DEBIAN").exists());
    // Regular files are hard links to the unpacked packages' files.
    let tree_file = fs::metadata(out.join("usr/bin/mawk")).unwrap();
    assert!(tree_file.nlink() >= 2, "not a hard link");
    // Replaces settled the collision.
    assert_eq!(
        fs::read_to_string(out.join("usr/share/greet/words")).unwrap(),
        "hello, world\n"
    );
    // Alternatives: highest priority, direct relative links, slaves.
    assert_eq!(link(&out, "usr/bin/vi"), "vim.basic");
    assert_eq!(link(&out, "usr/bin/awk"), "mawk");
    assert_eq!(link(&out, "usr/bin/nawk"), "mawk");
    assert_eq!(link(&out, "etc/alternatives/vi"), "/usr/bin/vim.basic");
    let alternatives: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("usr/lib/strata/alternatives.json")).unwrap())
            .unwrap();
    assert_eq!(alternatives["vi"]["package"], "vim");
    assert_eq!(
        alternatives["vi"]["candidates"],
        serde_json::json!(["/usr/bin/vim.basic", "/usr/bin/vim.tiny"])
    );
    let collisions: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("usr/lib/strata/collisions.json")).unwrap())
            .unwrap();
    assert_eq!(collisions["/usr/share/greet/words"]["chosen"], "greet-new");
    assert_eq!(collisions["/usr/share/greet/words"]["by"], "replaces");
    let skeleton: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("usr/lib/strata/var-skeleton.json")).unwrap())
            .unwrap();
    assert_eq!(skeleton["/var/lib/misc"]["package"], "libc6");
    // The CA bundle and the loader cache.
    assert_eq!(
        fs::read_to_string(out.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
        "-----A-----\n-----B-----\n"
    );
    let cache = fs::read(out.join("usr/lib/strata/ld.so.cache")).unwrap();
    assert_eq!(ldcache::parse(&cache), Some(vec![]));
    // The tree refers to the packages it was made of (listed in it), and to nothing else.
    let info = e.store.path_info(&out_path).unwrap().unwrap();
    let listed = fs::read_to_string(out.join("usr/lib/strata/packages")).unwrap();
    assert_eq!(listed.lines().count(), info.references.len(), "{listed}");
    for r in &info.references {
        assert!(
            listed.contains(r.hash_part()),
            "{r:?} not listed in {listed}"
        );
    }

    // A fresh store builds the same path with the same NAR hash.
    let f = Env::sharing_debs(&e);
    assert_eq!(f.debs, e.debs);
    let drv2 = f.eval(TREE, "");
    assert_eq!(drv2, drv);
    let out2 = f.build(&drv2).unwrap();
    assert_eq!(out2, out_path);
    assert_eq!(
        f.store.path_info(&out2).unwrap().unwrap().nar_hash,
        info.nar_hash
    );
}

#[test]
fn collision_fails_the_build_and_a_choice_settles_it() {
    let e = Env::new();
    let drv = e.eval(&["dash", "dup-a", "dup-b"], "");
    let err = e.build(&drv).unwrap_err().to_string();
    assert!(
        err.contains(
            "collision at /usr/bin/dup: package dup-a (1.0-1) and package dup-b (2.0-3) both \
             ship it; set environment.debian.collisions.\"/usr/bin/dup\" = \"dup-a\" (or \
             \"dup-b\")"
        ),
        "{err}"
    );
    // No output and no leftovers.
    let drv_text = fs::read_to_string(e.store.real_path(&drv)).unwrap();
    let out_name = drv_text
        .split('"')
        .find(|s| s.ends_with("-system-usr") && s.starts_with("/nix/store/"))
        .unwrap()
        .to_owned();
    let out_path = e.store.store_dir().parse(&out_name).unwrap();
    assert!(!e.store.is_valid(&out_path).unwrap());
    assert!(!e.store.real_path(&out_path).exists());
    for entry in fs::read_dir(e.store.real_store_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".tmp-"), "leftover {name}");
    }

    let drv = e.eval(
        &["dash", "dup-a", "dup-b"],
        "collisions = { \"/usr/bin/dup\" = \"dup-b\"; }; alternatives = { };",
    );
    let out = e.store.real_path(&e.build(&drv).unwrap());
    assert_eq!(fs::read_to_string(out.join("usr/bin/dup")).unwrap(), "b\n");
}

#[test]
fn alternative_choice_and_its_errors() {
    let e = Env::new();
    let drv = e.eval(
        &["vim", "vim-tiny"],
        "alternatives = { vi = \"/usr/bin/vim.tiny\"; };",
    );
    let out = e.store.real_path(&e.build(&drv).unwrap());
    assert_eq!(link(&out, "usr/bin/vi"), "vim.tiny");

    let drv = e.eval(
        &["vim", "vim-tiny"],
        "alternatives = { vi = \"/usr/bin/nvi\"; };",
    );
    let err = e.build(&drv).unwrap_err().to_string();
    assert!(
        err.contains(
            "environment.debian.alternatives.vi = \"/usr/bin/nvi\" is not a candidate; the \
             candidates are: /usr/bin/vim.basic (vim), /usr/bin/vim.tiny (vim-tiny)"
        ),
        "{err}"
    );
}

#[test]
fn unpacked_packages_keep_their_control_files() {
    let e = Env::new();
    let drv = e.eval(&["mawk"], "");
    let text = fs::read_to_string(e.store.real_path(&drv)).unwrap();
    // The tree's only input derivation is mawk's unpacking; build it and look inside.
    let unpack_drv = text
        .split('"')
        .find(|s| s.ends_with("-mawk.drv"))
        .unwrap()
        .to_owned();
    let unpack_drv = e.store.store_dir().parse(&unpack_drv).unwrap();
    let unpacked = e.store.real_path(&e.build(&unpack_drv).unwrap());
    assert_eq!(
        fs::read_to_string(unpacked.join("DEBIAN/postinst")).unwrap(),
        MAWK_POSTINST
    );
    assert!(fs::read_to_string(unpacked.join("DEBIAN/control"))
        .unwrap()
        .starts_with("Package: mawk\n"));
    assert_eq!(fs::read(unpacked.join("DEBIAN/strata-modes")).unwrap(), b"");
}

#[test]
fn bad_attributes_are_named() {
    let e = Env::new();
    let drv = |attrs: &str| {
        e.eval_body(&format!(
            "derivation {{ name = \"bad\"; system = \"builtin\"; builder = \"builtin:strata-usr\"; \
             {attrs} }}"
        ))
    };
    for (attrs, expected) in [
        (
            "packages = \"${p.mawk}\"; alternatives = \"[1]\";",
            "attribute 'alternatives' is not a JSON object of strings",
        ),
        (
            "packages = \"${p.mawk}\"; allowConflicts = ''[[\"a\"]]'';",
            "attribute 'allowConflicts' is not a JSON list of pairs of package names",
        ),
        (
            "packages = \"${p.mawk}\"; strictLibraries = \"yes\";",
            "attribute 'strictLibraries' is 'yes', expected \"1\" or \"\"",
        ),
        (
            "packages = builtins.unsafeDiscardStringContext \"${p.mawk}\";",
            "is not among the derivation's inputs",
        ),
        (
            "collisions = \"{}\";",
            "the attribute 'packages' is missing",
        ),
    ] {
        let err = e.build(&drv(attrs)).unwrap_err().to_string();
        assert!(err.contains(expected), "{attrs}: {err}");
    }
}

// -- the loader cache against Debian's ldconfig ------------------------------------------

const LDCONFIG: &str = "/sbin/ldconfig";
const HOST_LIBS: &str = "/usr/lib/x86_64-linux-gnu";
/// Prefixes of the host libraries copied into the fixture (with their links).
const COPIED: &[&str] = &[
    "libc.so",
    "libm.so",
    "libz.so",
    "libtinfo.so",
    "libzstd.so",
    "ld-linux-x86-64.so",
];

/// A tree of copies of this host's libraries, laid out merged, with Debian's configuration.
fn host_library_tree(root: &Path) {
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    fs::create_dir_all(&lib).unwrap();
    fs::create_dir_all(root.join("usr/lib64")).unwrap();
    for (name, target) in [
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("bin", "usr/bin"),
    ] {
        symlink(target, root.join(name)).unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(HOST_LIBS)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| COPIED.iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    for name in &names {
        let src = Path::new(HOST_LIBS).join(name);
        let md = fs::symlink_metadata(&src).unwrap();
        if md.file_type().is_symlink() {
            symlink(fs::read_link(&src).unwrap(), lib.join(name)).unwrap();
        } else if md.is_file() {
            fs::copy(&src, lib.join(name)).unwrap();
        }
    }
    // A second copy of one library in another scanned directory: a key twice.
    if lib.join("libtinfo.so.6").exists() {
        fs::copy(
            lib.join("libtinfo.so.6"),
            root.join("usr/lib/libtinfo.so.6"),
        )
        .unwrap();
    }
    // Another name for a library: cached under its soname, not its own name.
    if lib.join("libz.so.1").exists() {
        symlink("libz.so.1", lib.join("libzz.so.9")).unwrap();
    }
    symlink(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        root.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
    fs::write(
        root.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/ld.so.conf.d/x86_64-linux-gnu.conf"),
        "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n\
         /usr/lib/x86_64-linux-gnu\n",
    )
    .unwrap();
    fs::write(root.join("etc/ld.so.conf.d/libc.conf"), "/usr/local/lib\n").unwrap();
}

/// `ldconfig -p -C <file>` without its first line (which names the file) and the generator.
fn printed(cache: &Path) -> Vec<String> {
    let out = Command::new(LDCONFIG)
        .arg("-p")
        .arg("-C")
        .arg(cache)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ldconfig -p -C {}: {}",
        cache.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("Cache generated by"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn loader_cache_matches_ldconfig() {
    if !Path::new(LDCONFIG).exists() || !Path::new(HOST_LIBS).join("libc.so.6").exists() {
        eprintln!("skipped: this host has no {LDCONFIG} or no {HOST_LIBS}/libc.so.6");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    host_library_tree(&root);

    let conf = ldcache::read_conf(&root, "").unwrap();
    let cache = ldcache::scan(&root, &conf, &mut Vec::new()).unwrap();
    let ours = dir.path().join("strata.cache");
    fs::write(&ours, ldcache::write(&cache.entries)).unwrap();

    let status = Command::new(LDCONFIG)
        .arg("-X")
        .arg("-r")
        .arg(&root)
        .args(["-C", "/etc/ld.so.cache"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .status()
        .unwrap();
    assert!(status.success(), "ldconfig -X -r failed");
    let theirs = root.join("etc/ld.so.cache");

    let (ours, theirs) = (printed(&ours), printed(&theirs));
    assert!(ours.len() >= 5, "{ours:#?}");
    assert!(
        ours.iter()
            .any(|l| l.contains("libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6")),
        "{ours:#?}"
    );
    assert_eq!(ours, theirs);
    // The cases the fixture plants are in the comparison.
    if root.join("usr/lib/libtinfo.so.6").exists() {
        let tinfo: Vec<&String> = ours
            .iter()
            .filter(|l| l.contains("libtinfo.so.6 "))
            .collect();
        assert_eq!(tinfo.len(), 2, "{ours:#?}");
        assert!(
            tinfo[0].ends_with("=> /lib/x86_64-linux-gnu/libtinfo.so.6"),
            "{ours:#?}"
        );
        assert!(tinfo[1].ends_with("=> /lib/libtinfo.so.6"), "{ours:#?}");
    }
    if root.join("usr/lib/x86_64-linux-gnu/libz.so").exists() {
        assert!(ours.iter().any(|l| l.contains("\tlibz.so (")), "{ours:#?}");
    }
    assert!(!ours.iter().any(|l| l.contains("libzz")), "{ours:#?}");
}
