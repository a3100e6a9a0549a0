//! Activation in a temporary root: generations made by hand in `<root>/nix/store`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use crate::manifest::{
    ActivationManifest, ManifestEtcEntry, ManifestGroup, ManifestUser, PasswordSource,
};
use crate::users::{parse_group, parse_passwd, parse_shadow};
use crate::{activate, ActivateError, Options};

pub(crate) fn user(name: &str, system: bool, initial: Option<&str>) -> ManifestUser {
    ManifestUser {
        name: name.into(),
        uid: None,
        group: if system { name.into() } else { "users".into() },
        extra_groups: Vec::new(),
        description: format!("{name}'s account"),
        home: if system {
            "/var/empty".into()
        } else {
            format!("/home/{name}")
        },
        create_home: !system,
        shell: String::new(),
        is_normal_user: !system,
        is_system_user: system,
        password: None,
        initial_password: initial.map(|h| PasswordSource::Hash {
            hash: h.into(),
            option: "initialHashedPassword".into(),
        }),
        authorized_keys: Vec::new(),
    }
}

pub(crate) fn manifest(users: Vec<ManifestUser>, etc: Vec<ManifestEtcEntry>) -> ActivationManifest {
    let mut groups: Vec<ManifestGroup> = vec![ManifestGroup {
        name: "wheel".into(),
        gid: None,
        members: users
            .iter()
            .filter(|u| u.extra_groups.iter().any(|g| g == "wheel"))
            .map(|u| u.name.clone())
            .collect(),
    }];
    for u in users.iter().filter(|u| u.is_system_user) {
        groups.push(ManifestGroup {
            name: u.name.clone(),
            gid: None,
            members: Vec::new(),
        });
    }
    ActivationManifest {
        version: 1,
        host_name: "saguaro".into(),
        time_zone: None,
        state_version: "24.11".into(),
        mutable_users: true,
        users,
        groups,
        etc,
        services: BTreeMap::new(),
        boot_loader: Default::default(),
        file_systems: Vec::new(),
        wrappers: Vec::new(),
        swap_devices: Vec::new(),
        console_key_map: None,
        ssh_ports: Vec::new(),
    }
}

pub(crate) fn link_entry(target: &str) -> ManifestEtcEntry {
    ManifestEtcEntry {
        target: target.into(),
        mode: "symlink".into(),
        user: "+0".into(),
        group: "+0".into(),
        source: format!("/nix/store/src-{target}"),
    }
}

/// Writes a generation `name` into `root`'s store: its etc tree holds `files` (target,
/// contents) and the manifest `m`. Returns the toplevel's logical path.
pub(crate) fn generation(
    root: &Path,
    name: &str,
    m: &ActivationManifest,
    files: &[(&str, &str)],
) -> String {
    let store = root.join("nix/store");
    let top = format!("/nix/store/{name}-strata-system");
    let etc = format!("/nix/store/{name}-etc");
    let tree = root.join(etc.trim_start_matches('/')).join("etc");
    fs::create_dir_all(&tree).unwrap();
    for (target, text) in files {
        let p = tree.join(target);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    let t = store.join(format!("{name}-strata-system"));
    fs::create_dir_all(&t).unwrap();
    symlink(&etc, t.join("etc")).unwrap();
    fs::write(t.join("activation.json"), m.to_json()).unwrap();
    top
}

fn opts() -> Options {
    Options::default()
}

pub(crate) fn read(root: &Path, p: &str) -> String {
    fs::read_to_string(root.join(p)).unwrap_or_default()
}

/// passwd, group and shadow agree: every user has a shadow line and an existing group.
pub(crate) fn consistent(root: &Path) {
    let passwd = parse_passwd(&read(root, "etc/passwd"));
    let groups = parse_group(&read(root, "etc/group"));
    let shadow = parse_shadow(&read(root, "etc/shadow"));
    for u in &passwd {
        assert!(
            shadow.iter().any(|s| s.name == u.name),
            "{} has no shadow line",
            u.name
        );
        assert!(
            groups.iter().any(|g| g.gid == u.gid),
            "{}'s group {} is missing",
            u.name,
            u.gid
        );
    }
    assert_eq!(
        fs::metadata(root.join("etc/shadow")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(root.join("etc/gshadow")).unwrap().mode() & 0o777,
        0o600
    );
}

pub(crate) fn uid(root: &Path, name: &str) -> Option<u32> {
    parse_passwd(&read(root, "etc/passwd"))
        .into_iter()
        .find(|u| u.name == name)
        .map(|u| u.uid)
}

fn hash(root: &Path, name: &str) -> Option<String> {
    parse_shadow(&read(root, "etc/shadow"))
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.hash)
}

#[test]
fn users_across_three_generations_keep_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let g1 = manifest(
        vec![
            user("alice", false, Some("$6$a$alice")),
            user("bob", false, Some("$6$b$bob")),
            user("daemon1", true, None),
        ],
        Vec::new(),
    );
    let t1 = generation(root, "g1", &g1, &[]);
    let r = activate(root, &t1, &opts()).unwrap();
    assert!(
        r.changes.iter().any(|c| c == "created user alice (1000)"),
        "{:?}",
        r.changes
    );
    assert_eq!(uid(root, "alice"), Some(1000));
    assert_eq!(uid(root, "bob"), Some(1001));
    assert_eq!(uid(root, "daemon1"), Some(999));
    assert_eq!(uid(root, "root"), Some(0));
    assert_eq!(hash(root, "bob").as_deref(), Some("$6$b$bob"));
    assert_eq!(hash(root, "daemon1").as_deref(), Some("!"));
    let home = fs::metadata(root.join("home/alice")).unwrap();
    assert_eq!((home.uid(), home.mode() & 0o777), (1000, 0o700));
    consistent(root);

    // bob leaves, carol arrives: bob is locked, not deleted, and his number is not reused.
    let g2 = manifest(
        vec![
            user("alice", false, Some("$6$a$alice")),
            user("carol", false, None),
            user("daemon1", true, None),
        ],
        Vec::new(),
    );
    let t2 = generation(root, "g2", &g2, &[]);
    let r = activate(root, &t2, &opts()).unwrap();
    assert!(
        r.changes.iter().any(|c| c == "locked user bob"),
        "{:?}",
        r.changes
    );
    assert_eq!(uid(root, "bob"), Some(1001));
    assert_eq!(hash(root, "bob").as_deref(), Some("!$6$b$bob"));
    assert_eq!(uid(root, "carol"), Some(1002));
    assert_eq!(
        hash(root, "carol").as_deref(),
        Some("!"),
        "no password: locked"
    );
    consistent(root);

    // bob returns: the same number, unlocked, his password as it was.
    let t3 = generation(root, "g3", &g1, &[]);
    let r = activate(root, &t3, &opts()).unwrap();
    assert!(
        r.changes.iter().any(|c| c == "unlocked user bob"),
        "{:?}",
        r.changes
    );
    assert_eq!(uid(root, "bob"), Some(1001));
    assert_eq!(hash(root, "bob").as_deref(), Some("$6$b$bob"));
    // carol left too: locked, still 1002.
    assert_eq!(uid(root, "carol"), Some(1002));
    consistent(root);

    // Activating the same generation again changes nothing.
    let before = (
        read(root, "etc/passwd"),
        read(root, "etc/shadow"),
        read(root, "etc/group"),
    );
    let r = activate(root, &t3, &opts()).unwrap();
    assert!(r.changes.is_empty(), "{:?}", r.changes);
    assert_eq!(
        before,
        (
            read(root, "etc/passwd"),
            read(root, "etc/shadow"),
            read(root, "etc/group")
        )
    );
}

#[test]
fn passwords_follow_mutable_users() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut alice = user("alice", false, Some("$6$initial"));
    alice.password = Some(PasswordSource::Hash {
        hash: "$6$configured".into(),
        option: "hashedPassword".into(),
    });
    let mut m = manifest(vec![alice], Vec::new());
    let t1 = generation(root, "g1", &m, &[]);
    activate(root, &t1, &opts()).unwrap();
    assert_eq!(
        hash(root, "alice").as_deref(),
        Some("$6$configured"),
        "password beats initial"
    );

    // Changed on the machine (passwd): kept while users are mutable...
    let shadow = read(root, "etc/shadow").replace("$6$configured", "$6$changed");
    fs::write(root.join("etc/shadow"), shadow).unwrap();
    activate(root, &t1, &opts()).unwrap();
    assert_eq!(hash(root, "alice").as_deref(), Some("$6$changed"));

    // ...and replaced by the configuration's when they are not.
    m.mutable_users = false;
    let t2 = generation(root, "g2", &m, &[]);
    activate(root, &t2, &opts()).unwrap();
    assert_eq!(hash(root, "alice").as_deref(), Some("$6$configured"));

    // A hash file is read at activation.
    fs::create_dir_all(root.join("run/secrets")).unwrap();
    fs::write(root.join("run/secrets/alice"), "$6$fromfile\n").unwrap();
    m.users[0].password = Some(PasswordSource::HashFile {
        path: "/run/secrets/alice".into(),
    });
    let t3 = generation(root, "g3", &m, &[]);
    activate(root, &t3, &opts()).unwrap();
    assert_eq!(hash(root, "alice").as_deref(), Some("$6$fromfile"));
    m.users[0].password = Some(PasswordSource::HashFile {
        path: "/run/secrets/nonesuch".into(),
    });
    let t4 = generation(root, "g4", &m, &[]);
    let e = activate(root, &t4, &opts()).unwrap_err().to_string();
    assert!(e.contains("/run/secrets/nonesuch"), "{e}");
    assert_eq!(
        hash(root, "alice").as_deref(),
        Some("$6$fromfile"),
        "nothing changed"
    );
}

#[test]
fn etc_entries_are_linked_copied_removed_and_unmanaged_files_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/motd"), "the admin's own motd\n").unwrap();
    fs::write(root.join("etc/fstab"), "unmanaged\n").unwrap();
    let sudoers = ManifestEtcEntry {
        target: "sudoers".into(),
        mode: "0440".into(),
        user: "root".into(),
        group: "wheel".into(),
        source: "/nix/store/src-sudoers".into(),
    };
    let entries = vec![link_entry("motd"), link_entry("ssh/sshd_config"), sudoers];
    let m1 = manifest(vec![user("alice", false, None)], entries);
    let files = [
        ("motd", "welcome\n"),
        ("ssh/sshd_config", "Port 22\n"),
        ("sudoers", "%wheel ALL=(ALL) ALL\n"),
    ];
    let t1 = generation(root, "g1", &m1, &files);

    // A file strata does not manage stands where an entry goes: refused, nothing changed.
    let e = activate(root, &t1, &opts()).unwrap_err();
    assert!(
        matches!(&e, ActivateError::Unmanaged(p) if p == &["/etc/motd".to_owned()]),
        "{e}"
    );
    assert!(
        e.to_string().contains("refusing to replace /etc/motd"),
        "{e}"
    );
    assert_eq!(read(root, "etc/motd"), "the admin's own motd\n");
    assert!(!root.join("etc/passwd").exists(), "nothing was written");

    fs::remove_file(root.join("etc/motd")).unwrap();
    activate(root, &t1, &opts()).unwrap();
    assert_eq!(
        fs::read_link(root.join("etc/static"))
            .unwrap()
            .to_string_lossy(),
        "/nix/store/g1-etc/etc"
    );
    assert_eq!(
        fs::read_link(root.join("etc/motd"))
            .unwrap()
            .to_string_lossy(),
        "/etc/static/motd"
    );
    assert_eq!(
        fs::read_link(root.join("etc/ssh/sshd_config"))
            .unwrap()
            .to_string_lossy(),
        "/etc/static/ssh/sshd_config"
    );
    let s = fs::symlink_metadata(root.join("etc/sudoers")).unwrap();
    assert!(s.is_file());
    assert_eq!((s.mode() & 0o7777, s.uid(), s.gid()), (0o440, 0, 1));
    assert_eq!(read(root, "etc/sudoers"), "%wheel ALL=(ALL) ALL\n");

    // The next generation drops motd and sudoers: removed; fstab was never ours: kept.
    let m2 = manifest(
        vec![user("alice", false, None)],
        vec![link_entry("ssh/sshd_config")],
    );
    let t2 = generation(root, "g2", &m2, &[("ssh/sshd_config", "Port 2222\n")]);
    let r = activate(root, &t2, &opts()).unwrap();
    assert!(
        r.changes.contains(&"removed /etc/motd".to_owned()),
        "{:?}",
        r.changes
    );
    assert!(
        r.changes.contains(&"removed /etc/sudoers".to_owned()),
        "{:?}",
        r.changes
    );
    assert!(fs::symlink_metadata(root.join("etc/motd")).is_err());
    assert!(fs::symlink_metadata(root.join("etc/sudoers")).is_err());
    assert_eq!(read(root, "etc/fstab"), "unmanaged\n");
    assert_eq!(
        fs::read_link(root.join("etc/static"))
            .unwrap()
            .to_string_lossy(),
        "/nix/store/g2-etc/etc"
    );
    assert_eq!(
        fs::read_to_string(root.join("nix/store/g2-etc/etc/ssh/sshd_config")).unwrap(),
        "Port 2222\n"
    );
}

/// Everything activation writes, as text: the user database, the ID map, and `/etc`'s
/// links and files (with modes), so two roots can be compared.
fn snapshot(root: &Path) -> String {
    let mut out = String::new();
    for f in [
        "etc/passwd",
        "etc/group",
        "etc/shadow",
        "etc/gshadow",
        "var/lib/strata/ids.json",
    ] {
        out.push_str(&format!("== {f}\n{}", read(root, f)));
    }
    let mut stack = vec![root.join("etc")];
    let mut entries = Vec::new();
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
            } else if md.file_type().is_symlink() {
                entries.push(format!("{rel} -> {}", fs::read_link(&p).unwrap().display()));
            } else if !rel.ends_with("passwd") && !rel.contains("shadow") && !rel.ends_with("group")
            {
                entries.push(format!(
                    "{rel} {:o}: {}",
                    md.mode() & 0o7777,
                    read(root, &rel)
                ));
            }
        }
    }
    entries.sort();
    out.push_str(&entries.join("\n"));
    out
}

/// Two generations that differ in users, groups, links and copies.
fn two_generations(root: &Path) -> (String, String) {
    let copy = |target: &str| ManifestEtcEntry {
        target: target.into(),
        mode: "0640".into(),
        user: "root".into(),
        group: "wheel".into(),
        source: format!("/nix/store/src-{target}"),
    };
    let mut alice = user("alice", false, Some("$6$alice"));
    alice.extra_groups = vec!["wheel".into()];
    let g1 = manifest(
        vec![
            alice.clone(),
            user("bob", false, Some("$6$bob")),
            user("svc", true, None),
        ],
        vec![link_entry("motd"), link_entry("hosts"), copy("sudoers")],
    );
    let g2 = manifest(
        vec![
            alice,
            user("carol", false, Some("$6$carol")),
            user("svc", true, None),
        ],
        vec![link_entry("motd"), link_entry("issue"), copy("secret.conf")],
    );
    let t1 = generation(
        root,
        "g1",
        &g1,
        &[
            ("motd", "one\n"),
            ("hosts", "127.0.0.1 one\n"),
            ("sudoers", "%wheel ALL\n"),
        ],
    );
    let t2 = generation(
        root,
        "g2",
        &g2,
        &[
            ("motd", "two\n"),
            ("issue", "two\n"),
            ("secret.conf", "key=2\n"),
        ],
    );
    (t1, t2)
}

#[test]
fn an_activation_killed_at_any_step_is_finished_by_the_next_run() {
    // The states a clean run reaches: g1 then g2, and g1, g2, g1 again.
    let reference = |path: &[usize]| {
        let dir = tempfile::tempdir().unwrap();
        let (t1, t2) = two_generations(dir.path());
        for &g in path {
            activate(dir.path(), if g == 1 { &t1 } else { &t2 }, &opts()).unwrap();
        }
        snapshot(dir.path())
    };
    let new_state = reference(&[1, 2]);
    let back_to_old = reference(&[1, 2, 1]);
    assert_ne!(new_state, back_to_old);

    let mut step = 0;
    loop {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (t1, t2) = two_generations(root);
        activate(root, &t1, &opts()).unwrap();
        let killed = Options {
            fail_at: Some(step),
            ..Options::default()
        };
        match activate(root, &t2, &killed) {
            Ok(_) => break, // every step has been tried
            Err(ActivateError::Injected(n)) => assert_eq!(n, step),
            Err(e) => panic!("step {step}: {e}"),
        }
        // Whatever happened, passwd, group and shadow agree.
        consistent(root);
        // Booting either generation next leaves the machine wholly in it.
        let again = tempfile::tempdir().unwrap();
        copy_tree(root, again.path());
        activate(root, &t2, &opts()).unwrap();
        assert_eq!(snapshot(root), new_state, "killed at step {step}, then g2");
        activate(again.path(), &t1, &opts()).unwrap();
        let old_path_state = snapshot(again.path());
        // Before the journal the old generation was still whole; after it, g2 is finished
        // first and g1 activated over it.
        let clean_old = reference(&[1, 1]);
        assert!(
            old_path_state == back_to_old || old_path_state == clean_old,
            "killed at step {step}, then g1:\n{old_path_state}"
        );
        assert!(!root.join(crate::JOURNAL).exists());
        step += 1;
    }
    assert!(step > 10, "only {step} steps were tried");
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}
