//! `strata generations list|delete` on a machine root made by hand: three generations with a
//! kernel, an initrd, a bootspec and a manifest each, and systemd-boot's menu.

use std::fs;
use std::os::unix::fs::symlink;

use crate::{run, strata};

#[test]
fn generations_are_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let profiles = root.join("nix/var/nix/profiles");
    fs::create_dir_all(&profiles).unwrap();
    for n in 1..=3 {
        let top = format!("/nix/store/{n:032}-strata-system-saguaro");
        let real = root.join(top.trim_start_matches('/'));
        fs::create_dir_all(&real).unwrap();
        let spec = serde_json::json!({
            "org.nixos.bootspec.v1": {
                "system": "x86_64-linux",
                "init": format!("{top}/init"),
                "initrd": format!("{top}/initrd"),
                "kernel": format!("{top}/kernel"),
                "kernelParams": [],
                "label": format!("strata-24.11-g{n}"),
                "toplevel": top,
            },
            "org.nixos.specialisation.v1": {},
        });
        fs::write(real.join("boot.json"), spec.to_string()).unwrap();
        fs::write(real.join("kernel"), "a kernel").unwrap();
        fs::write(real.join("initrd"), format!("initrd {n}")).unwrap();
        let manifest = strata_activate::manifest::ActivationManifest {
            version: 1,
            host_name: "saguaro".into(),
            time_zone: None,
            state_version: "24.11".into(),
            mutable_users: true,
            users: Vec::new(),
            groups: Vec::new(),
            etc: Vec::new(),
            services: Default::default(),
            boot_loader: Default::default(),
            file_systems: Vec::new(),
            wrappers: Vec::new(),
            swap_devices: Vec::new(),
            console_key_map: None,
            ssh_ports: Vec::new(),
        };
        fs::write(real.join("activation.json"), manifest.to_json()).unwrap();
        fs::write(real.join("kernel-version"), "6.1.0-50-amd64\n").unwrap();
        symlink(&top, profiles.join(format!("system-{n}-link"))).unwrap();
    }
    symlink("system-3-link", profiles.join("system")).unwrap();
    let r = root.to_str().unwrap();

    let out = run(
        strata().args(["generations", "list", "--root", r, "--json"]),
        None,
    )
    .ok();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["number"], 3);
    assert_eq!(rows[2]["current"], true);
    assert_eq!(rows[0]["current"], false);
    assert_eq!(rows[1]["label"], "strata-24.11-g2");
    assert_eq!(rows[1]["kernelVersion"], "6.1.0-50-amd64");
    let text = run(strata().args(["generations", "list", "--root", r]), None)
        .ok()
        .text();
    assert!(
        text.lines().nth(2).unwrap().ends_with("(current)"),
        "{text}"
    );

    // The current one cannot go; others can.
    let o = run(
        strata().args(["generations", "delete", "--root", r, "3"]),
        None,
    );
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("generation 3 is the current one"),
        "{}",
        o.stderr
    );
    run(
        strata().args(["generations", "delete", "--root", r, "1"]),
        None,
    )
    .ok();
    assert!(fs::symlink_metadata(profiles.join("system-1-link")).is_err());
    // The menu follows: generation 1's entry and initrd are gone.
    let mut entries: Vec<String> = fs::read_dir(root.join("boot/loader/entries"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        ["strata-generation-2.conf", "strata-generation-3.conf"]
    );
    // Everything else is younger than a day.
    let o = run(
        strata().args(["generations", "delete", "--root", r, "--older-than", "1d"]),
        None,
    )
    .ok();
    assert_eq!(o.text(), "");
    let o = run(strata().args(["generations", "delete", "--root", r]), None);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("--older-than"), "{}", o.stderr);
}
