//! `strata generations list|delete` on a machine root made by hand.

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
        fs::write(
            real.join("boot.json"),
            format!(r#"{{"org.nixos.bootspec.v1": {{"label": "strata-24.11-g{n}"}}}}"#),
        )
        .unwrap();
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
