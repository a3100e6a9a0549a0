//! The toplevel's parts (`strata_builder::toplevel`) for `examples/configuration.nix`: the etc
//! tree and the activation manifest in a temporary store, and `boot.json`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::on_eval_thread;
use strata_builder::bootspec::{bootspec_json, validate_bootspec};
use strata_builder::config::{self, SystemConfig};
use strata_builder::crypt::sha512_crypt;
use strata_builder::toplevel::{build_etc, make_manifest, ActivationManifest, PasswordSource};
use strata_store::{LocalStore, StoreDir};

fn example() -> SystemConfig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    on_eval_thread(move |ev| {
        let example = root.join("examples/configuration.nix");
        config::evaluate(ev, &root.join("modules"), &example)
            .map(|e| e.config)
            .map_err(|e| e.to_string())
    })
    .unwrap()
}

/// Every regular file and symlink target below `dir`.
fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let md = fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn example_etc_tree_manifest_and_bootspec() {
    let config = example();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut store = LocalStore::open(&root, StoreDir::default()).unwrap();

    let tree = build_etc(&mut store, &config).unwrap();
    let etc = store.real_path(&tree.path).join("etc");

    // hostname and motd are links to store texts with the expected contents.
    let read_link_target = |name: &str| {
        let target = fs::read_link(etc.join(name)).unwrap();
        let p = store.parse_path(target.to_str().unwrap()).unwrap();
        assert!(store.is_valid(&p).unwrap());
        fs::read_to_string(store.real_path(&p)).unwrap()
    };
    assert_eq!(read_link_target("hostname"), "saguaro\n");
    assert_eq!(
        read_link_target("motd"),
        "Welcome to saguaro, a strata machine.\n"
    );
    assert_eq!(
        fs::read_link(etc.join("localtime")).unwrap(),
        Path::new("/etc/zoneinfo/America/Phoenix")
    );
    for absent in ["passwd", "group", "shadow"] {
        assert!(fs::symlink_metadata(etc.join(absent)).is_err(), "{absent}");
    }
    let info = store.require_info(&tree.path).unwrap();
    assert_eq!(
        info.references.len(),
        21,
        "hostname, motd, profile, environment, nsswitch.conf, hosts, resolv.conf, shells, \
         default/locale and pam.d's twelve files (sudoers is a copy)"
    );

    // The manifest, in the store as the toplevel will hold it.
    let manifest = make_manifest(&config, &tree.entries).unwrap();
    let json = manifest.to_json();
    store
        .add_text("activation.json", json.as_bytes(), &info.references)
        .unwrap();
    let back = ActivationManifest::from_json(&json).unwrap();
    assert_eq!(back, manifest);
    assert_eq!(back.to_json(), json);

    let alice = manifest.users.iter().find(|u| u.name == "alice").unwrap();
    assert_eq!(alice.extra_groups, ["wheel"]);
    assert_eq!(alice.uid, None);
    assert!(alice.create_home);
    let Some(PasswordSource::Hash { hash, option }) = &alice.initial_password else {
        panic!("alice has no initial password: {alice:?}");
    };
    assert_eq!(option, "initialPassword");
    assert!(hash.starts_with("$6$"));
    assert_eq!(&sha512_crypt(b"changeme", hash), hash, "the hash checks");
    let motd = manifest.etc.iter().find(|e| e.target == "motd").unwrap();
    assert_eq!(motd.mode, "symlink");
    assert!(motd.source.ends_with("-etc-motd"));
    let lt = manifest
        .etc
        .iter()
        .find(|e| e.target == "localtime")
        .unwrap();
    assert_eq!(lt.source, "/etc/zoneinfo/America/Phoenix");

    // The clear-text password is nowhere under the store's root.
    let mut files = Vec::new();
    all_files(&root, &mut files);
    assert!(files.len() > 4);
    for f in &files {
        let md = fs::symlink_metadata(f).unwrap();
        let bytes = if md.file_type().is_symlink() {
            fs::read_link(f)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            fs::read(f).unwrap()
        };
        assert!(
            !bytes.windows(8).any(|w| w == b"changeme"),
            "{} holds the clear-text password",
            f.display()
        );
    }

    // Deterministic: building again, in this store or a fresh one, gives the same path.
    assert_eq!(build_etc(&mut store, &config).unwrap(), tree);
    let dir2 = tempfile::tempdir().unwrap();
    let mut store2 = LocalStore::open(dir2.path().join("root"), StoreDir::default()).unwrap();
    let tree2 = build_etc(&mut store2, &config).unwrap();
    assert_eq!(tree2.path, tree.path);
    assert_eq!(
        make_manifest(&config, &tree2.entries).unwrap().to_json(),
        json
    );

    // boot.json.
    let top = "/nix/store/00000000000000000000000000000000-strata-system-saguaro";
    let boot = bootspec_json(
        top,
        "/nix/store/11111111111111111111111111111111-linux/bzImage",
        Some("/nix/store/22222222222222222222222222222222-initrd/initrd"),
        &format!("{top}/init"),
        &config.boot.kernel_params,
        &config.label,
        "x86_64-linux",
    );
    validate_bootspec(&boot).unwrap();
    let v: serde_json::Value = serde_json::from_str(&boot).unwrap();
    let spec = &v["org.nixos.bootspec.v1"];
    assert_eq!(spec["label"], "strata-24.11");
    assert_eq!(
        spec["kernelParams"],
        serde_json::json!(["console=tty0", "console=ttyS0,115200"])
    );
    assert!(!boot.contains("init="), "the boot loader adds init=");
}
