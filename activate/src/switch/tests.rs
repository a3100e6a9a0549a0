//! The verbs in a temporary root: generations made by hand, with boot files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::manifest::ManifestEtcEntry;
use crate::tests::{consistent, generation, link_entry, manifest, read, uid, user};

/// A generation with a kernel, an initrd, a bootspec and `loader` as its boot loader.
fn bootable(root: &Path, name: &str, users: &[&str], loader: &BootLoader) -> String {
    let etc: Vec<ManifestEtcEntry> = vec![link_entry(&format!("{name}.conf"))];
    let mut m = manifest(
        users
            .iter()
            .map(|u| user(u, false, Some("$6$x$y")))
            .collect(),
        etc,
    );
    m.host_name = format!("host-{name}");
    m.boot_loader = loader.clone();
    let top = generation(root, name, &m, &[(&format!("{name}.conf"), name)]);
    let real = root.join(top.trim_start_matches('/'));
    // Generations share a kernel; each has its own initrd.
    fs::write(real.join("kernel"), "the kernel").unwrap();
    fs::write(real.join("initrd"), format!("initrd of {name}")).unwrap();
    let spec = serde_json::json!({
        "org.nixos.bootspec.v1": {
            "system": "x86_64-linux",
            "init": format!("{top}/init"),
            "initrd": format!("{top}/initrd"),
            "kernel": format!("{top}/kernel"),
            "kernelParams": ["console=ttyS0,115200"],
            "label": format!("strata-{name}"),
            "toplevel": top,
        },
        "org.nixos.specialisation.v1": {},
    });
    fs::write(real.join("boot.json"), spec.to_string()).unwrap();
    top
}

/// Whether `/etc/<name>.conf` (a link into the store) is there.
fn present(root: &Path, name: &str) -> bool {
    fs::symlink_metadata(root.join(format!("etc/{name}.conf"))).is_ok()
}

fn sd() -> BootLoader {
    BootLoader::default()
}

fn entries(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("boot/loader/entries"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn current_system(root: &Path) -> String {
    fs::read_link(root.join(CURRENT_SYSTEM))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Every file below `dir` with its contents (links as their targets).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                todo.push(p.clone());
                out.push((p, Vec::new()));
            } else if m.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.push((p, t.to_string_lossy().as_bytes().to_vec()));
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn switch_test_boot_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let o = SwitchOptions::default();
    let g1 = bootable(root, "g1", &["alice"], &sd());
    let out = switch(root, &g1, Action::Switch, &o).unwrap();
    assert_eq!(out.generation, Some(1));
    assert_eq!(current_system(root), g1);
    assert_eq!(read(root, "etc/hostname"), "");
    assert_eq!(uid(root, "alice"), Some(1000));
    assert_eq!(entries(root), ["strata-generation-1.conf"]);
    let conf = read(root, "boot/loader/loader.conf");
    assert!(conf.contains("default strata-generation-1.conf"), "{conf}");

    // switch: activated, committed, both listed, the new one the default.
    let g2 = bootable(root, "g2", &["alice", "bob"], &sd());
    let out = switch(root, &g2, Action::Switch, &o).unwrap();
    assert_eq!(out.generation, Some(2));
    assert_eq!(uid(root, "bob"), Some(1001));
    assert!(present(root, "g2") && !present(root, "g1"));
    assert_eq!(
        entries(root),
        ["strata-generation-1.conf", "strata-generation-2.conf"]
    );
    let conf = read(root, "boot/loader/loader.conf");
    assert!(conf.contains("default strata-generation-2.conf"), "{conf}");
    // One kernel file for both; an initrd each.
    let files = fs::read_dir(root.join("boot/EFI/strata")).unwrap().count();
    assert_eq!(files, 3);
    consistent(root);

    // test: active now, but the profile and the menu stay.
    let g3 = bootable(root, "g3", &["alice", "bob", "carol"], &sd());
    let menu = snapshot(&root.join("boot"));
    let out = switch(root, &g3, Action::Test, &o).unwrap();
    assert_eq!(out.generation, None);
    assert_eq!(current_system(root), g3);
    assert_eq!(uid(root, "carol"), Some(1002));
    assert_eq!(profile::current(root), Some(2));
    assert_eq!(snapshot(&root.join("boot")), menu);

    // boot: the default moves to g3 without activating it.
    let g4 = bootable(root, "g4", &["alice"], &sd());
    let out = switch(root, &g4, Action::Boot, &o).unwrap();
    assert_eq!(out.generation, Some(3));
    assert_eq!(current_system(root), g3, "boot does not activate");
    assert!(!present(root, "g4"));
    let conf = read(root, "boot/loader/loader.conf");
    assert!(conf.contains("default strata-generation-3.conf"), "{conf}");

    // rollback: back to generation 2, activated, and the default again.
    let out = rollback(root, &o).unwrap();
    assert_eq!(out.generation, Some(2));
    assert_eq!(profile::current(root), Some(2));
    assert_eq!(current_system(root), g2);
    assert!(present(root, "g2") && !present(root, "g3"));
    let conf = read(root, "boot/loader/loader.conf");
    assert!(conf.contains("default strata-generation-2.conf"), "{conf}");
    consistent(root);

    // Deleting a generation takes its entry and its initrd off the ESP.
    delete_generations(root, &[1]).unwrap();
    assert_eq!(
        entries(root),
        ["strata-generation-2.conf", "strata-generation-3.conf"]
    );
    let files = fs::read_dir(root.join("boot/EFI/strata")).unwrap().count();
    assert_eq!(files, 3, "the kernel and the initrds of 2 and 3");
}

#[test]
fn a_failed_activation_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let g1 = bootable(root, "g1", &["alice"], &sd());
    switch(root, &g1, Action::Switch, &SwitchOptions::default()).unwrap();
    let g2 = bootable(root, "g2", &["alice", "bob"], &sd());
    let boot = snapshot(&root.join("boot"));
    let profiles = snapshot(&root.join(profile::PROFILES));
    let o = SwitchOptions {
        fail_at: Some(3),
        ..Default::default()
    };
    let e = switch(root, &g2, Action::Switch, &o).unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains("left as they were"), "{e}");
    assert_eq!(snapshot(&root.join("boot")), boot);
    assert_eq!(snapshot(&root.join(profile::PROFILES)), profiles);
    assert_eq!(current_system(root), g1);
    consistent(root);
}

#[test]
fn a_boot_menu_that_cannot_be_written_puts_the_profile_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let g1 = bootable(root, "g1", &["alice"], &sd());
    switch(root, &g1, Action::Boot, &SwitchOptions::default()).unwrap();
    let g2 = bootable(root, "g2", &["alice"], &sd());
    // g2's bootspec is malformed: the menu is refused as a whole.
    fs::write(
        root.join(g2.trim_start_matches('/')).join("boot.json"),
        "{\"org.nixos.bootspec.v1\": {\"label\": 3}}",
    )
    .unwrap();
    let boot = snapshot(&root.join("boot"));
    let e = switch(root, &g2, Action::Boot, &SwitchOptions::default()).unwrap_err();
    assert_eq!(e.exit_code(), 5, "{e}");
    assert!(e.to_string().contains("generation 2"), "{e}");
    assert_eq!(profile::current(root), Some(1));
    assert_eq!(
        profile::list(root)
            .unwrap()
            .iter()
            .map(|g| g.number)
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(snapshot(&root.join("boot")), boot);
}

#[test]
fn grub_menu_from_the_generation_that_becomes_current() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let grub = BootLoader {
        kind: "grub".into(),
        timeout: Some(3),
        configuration_limit: Some(10),
        serial: true,
        devices: vec!["/dev/vda".into()],
        ..BootLoader::default()
    };
    let g1 = bootable(root, "g1", &[], &grub);
    let g2 = bootable(root, "g2", &[], &grub);
    switch(root, &g1, Action::Switch, &SwitchOptions::default()).unwrap();
    switch(root, &g2, Action::Switch, &SwitchOptions::default()).unwrap();
    let cfg = read(root, "boot/grub/grub.cfg");
    assert!(
        cfg.contains("Generation 1") && cfg.contains("Generation 2"),
        "{cfg}"
    );
    assert!(cfg.contains("set timeout=3"), "{cfg}");
    assert!(cfg.contains(&format!("init={g2}/init")), "{cfg}");
}

#[test]
fn confirm_within_commits_only_when_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let g1 = bootable(root, "g1", &["alice"], &sd());
    switch(root, &g1, Action::Switch, &SwitchOptions::default()).unwrap();
    let g2 = bootable(root, "g2", &["alice", "bob"], &sd());
    let o = SwitchOptions {
        confirm_within: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let boot = snapshot(&root.join("boot"));
    let out = switch(root, &g2, Action::Switch, &o).unwrap();
    assert!(out.confirm_by.is_some());
    assert_eq!(out.generation, None);
    assert_eq!(current_system(root), g2, "active at once");
    assert_eq!(uid(root, "bob"), Some(1001));
    assert_eq!(profile::current(root), Some(1), "not committed");
    assert_eq!(snapshot(&root.join("boot")), boot, "boot default unchanged");
    // A second switch waits for the first to be settled.
    let e = switch(root, &g1, Action::Switch, &SwitchOptions::default()).unwrap_err();
    assert!(e.to_string().contains("strata confirm"), "{e}");
    // Another switch's watchdog does nothing.
    assert!(revert_unconfirmed(root, &g1, &SwitchOptions::default())
        .unwrap()
        .is_none());

    // Not confirmed: reverted to g1, whose users and /etc come back.
    let out = revert_unconfirmed(root, &g2, &SwitchOptions::default())
        .unwrap()
        .unwrap();
    assert!(
        out.activation.iter().any(|c| c == "locked user bob"),
        "{:?}",
        out.activation
    );
    assert_eq!(current_system(root), g1);
    assert!(present(root, "g1") && !present(root, "g2"));
    assert!(pending(root).unwrap().is_none());
    assert_eq!(profile::current(root), Some(1));
    assert!(confirm(root).is_err(), "nothing left to confirm");

    // Confirmed: committed, and the watchdog then leaves it alone.
    switch(root, &g2, Action::Switch, &o).unwrap();
    let out = confirm(root).unwrap();
    assert_eq!(out.generation, Some(2));
    assert_eq!(profile::current(root), Some(2));
    assert!(revert_unconfirmed(root, &g2, &SwitchOptions::default())
        .unwrap()
        .is_none());
    assert_eq!(current_system(root), g2);
    assert_eq!(
        entries(root),
        ["strata-generation-1.conf", "strata-generation-2.conf"]
    );
}

#[test]
fn dry_activate_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let g1 = bootable(root, "g1", &["alice"], &sd());
    switch(root, &g1, Action::Switch, &SwitchOptions::default()).unwrap();
    let g2 = bootable(root, "g2", &["alice", "bob"], &sd());
    let before = snapshot(root);
    let plan = dry_activate(root, &g2, None).unwrap();
    assert_eq!(snapshot(root), before);
    assert_eq!(plan.from.as_deref(), Some(g1.as_str()));
    assert_eq!(
        plan.host_name,
        Some(("host-g1".to_owned(), "host-g2".to_owned()))
    );
    assert_eq!(plan.etc_added, ["g2.conf"]);
    assert_eq!(plan.etc_removed, ["g1.conf"]);
    assert!(
        plan.users.iter().any(|c| c == "created user bob (1001)"),
        "{:?}",
        plan.users
    );
}

#[test]
fn a_switch_stopped_at_any_step_leaves_the_profile_on_the_old_generation_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let g1 = bootable(root, "g1", &["alice"], &sd());
    switch(root, &g1, Action::Switch, &SwitchOptions::default()).unwrap();
    let g2 = bootable(root, "g2", &["alice", "bob"], &sd());
    let boot = snapshot(&root.join("boot"));
    let mut step = 0;
    loop {
        let o = SwitchOptions {
            fail_at: Some(step),
            ..Default::default()
        };
        match switch(root, &g2, Action::Switch, &o) {
            Err(e) => {
                assert_eq!(e.exit_code(), 3, "step {step}: {e}");
                // The boot default is still g1, and the user database is whole.
                assert_eq!(profile::current(root), Some(1), "step {step}");
                assert_eq!(snapshot(&root.join("boot")), boot, "step {step}");
                consistent(root);
                // Booting now activates the default, g1: the interrupted activation is
                // finished first, then undone.
                crate::activate(root, &g1, &crate::Options::default()).unwrap();
                assert!(present(root, "g1") && !present(root, "g2"), "step {step}");
                let shadow = fs::read_to_string(root.join("etc/shadow")).unwrap();
                assert!(
                    !shadow.contains("bob:") || shadow.contains("bob:!"),
                    "step {step}: bob is locked if he was made: {shadow}"
                );
                step += 1;
            }
            Ok(out) => {
                assert_eq!(out.generation, Some(2));
                break;
            }
        }
        assert!(step < 100, "the switch never got through");
    }
    assert!(step > 5, "only {step} steps were tried");
    assert_eq!(current_system(root), g2);
    assert!(present(root, "g2") && !present(root, "g1"));
    consistent(root);
}
