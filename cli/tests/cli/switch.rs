//! `strata switch|boot|test|dry-activate|rollback|collect-garbage` on a machine tree
//! (`--root DIR`) whose store is the shared one of [`crate::system`], with the example
//! configuration and variants of it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::system::{example, repo, shared, Shared};
use crate::{run, Output};

/// A machine tree whose `nix/store` is the shared store.
fn machine(s: &Shared) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("nix")).unwrap();
    symlink(s.root().join("nix/store"), d.path().join("nix/store")).unwrap();
    d
}

/// The example with `edit` applied, written beside a copy of its lock.
fn config(dir: &Path, name: &str, edit: &dyn Fn(String) -> String) -> PathBuf {
    let text = edit(fs::read_to_string(example()).unwrap());
    let d = dir.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::copy(repo().join("examples/strata.lock"), d.join("strata.lock")).unwrap();
    fs::write(d.join("configuration.nix"), text).unwrap();
    d.join("configuration.nix")
}

/// `strata --store-root SHARED <verb> --root MACHINE ARGS...`
fn verb(s: &Shared, m: &Path, verb: &str, args: &[&str]) -> Output {
    let mut c = crate::strata();
    c.arg("--store-root")
        .arg(s.root())
        .arg(verb)
        .arg("--root")
        .arg(m)
        .args(args);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    run(&mut c, None)
}

fn current_system(m: &Path) -> String {
    crate::system::link_target(&m.join("run/current-system"))
}

fn generations(m: &Path) -> serde_json::Value {
    let mut c = crate::strata();
    c.args(["generations", "list", "--json", "--root"]).arg(m);
    serde_json::from_slice(&run(&mut c, None).ok().stdout).unwrap()
}

#[test]
fn switch_dry_activate_test_rollback_on_a_machine_tree() {
    let s = shared();
    let m = machine(&s);
    let m = m.path();
    let work = tempfile::tempdir().unwrap();
    let c1 = config(work.path(), "one", &|t| t);
    let c2 = config(work.path(), "two", &|t| {
        t.replace("\"saguaro\"", "\"mesquite\"").replace(
            "  users.users.alice = {",
            "  users.users.bob = { isNormalUser = true; };\n  users.users.alice = {",
        )
    });
    let c3 = config(work.path(), "three", &|t| {
        t.replace("\"saguaro\"", "\"paloverde\"")
    });
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();

    // The first switch: activated, generation 1, GRUB's menu written.
    let o = verb(&s, m, "switch", &["-f", &path(&c1)]).ok();
    assert!(o.text().contains("generation 1 is current"), "{}", o.text());
    assert!(current_system(m).ends_with("-strata-system-saguaro"));
    let passwd = fs::read_to_string(m.join("etc/passwd")).unwrap();
    assert!(passwd.contains("alice:x:1000:"), "{passwd}");
    let grub = fs::read_to_string(m.join("boot/grub/grub.cfg")).unwrap();
    assert!(grub.contains("-strata-system-saguaro/init"), "{grub}");

    // dry-activate: the plan, and nothing changed.
    let before = fs::read_to_string(m.join("etc/passwd")).unwrap();
    let o = verb(&s, m, "dry-activate", &["-f", &path(&c2), "--json"]).ok();
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["hostName"], serde_json::json!(["saguaro", "mesquite"]));
    assert!(
        plan["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "created user bob (1001)"),
        "{plan}"
    );
    assert_eq!(fs::read_to_string(m.join("etc/passwd")).unwrap(), before);
    assert!(current_system(m).ends_with("-strata-system-saguaro"));

    // A second switch: generation 2, both in the menu.
    let o = verb(&s, m, "switch", &["-f", &path(&c2)]).ok();
    assert!(o.text().contains("generation 2 is current"), "{}", o.text());
    assert!(current_system(m).ends_with("-strata-system-mesquite"));
    assert!(fs::read_to_string(m.join("etc/passwd"))
        .unwrap()
        .contains("bob:x:1001:"));
    let grub = fs::read_to_string(m.join("boot/grub/grub.cfg")).unwrap();
    assert!(
        grub.contains("-strata-system-saguaro/init")
            && grub.contains("-strata-system-mesquite/init"),
        "{grub}"
    );

    // test: active, but the profile stays at 2.
    verb(&s, m, "test", &["-f", &path(&c3)]).ok();
    assert!(current_system(m).ends_with("-strata-system-paloverde"));
    let g = generations(m);
    assert_eq!(g.as_array().unwrap().len(), 2);
    assert_eq!(g[1]["current"], true);

    // An activation that fails: exit 3, nothing committed.
    let mut c = crate::strata();
    c.arg("--store-root")
        .arg(s.root())
        .args(["switch", "--root"])
        .arg(m)
        .arg("-f")
        .arg(&c1)
        .env("STRATA_TEST_FAIL_AT", "1");
    let o = run(&mut c, None);
    assert_eq!(o.code, Some(3), "{}", o.stderr);
    assert!(o.stderr.contains("left as they were"), "{}", o.stderr);
    assert_eq!(generations(m).as_array().unwrap().len(), 2);

    // rollback: generation 1 again, saguaro's users and menu default.
    let o = verb(&s, m, "rollback", &[]).ok();
    assert!(o.text().contains("generation 1 is current"), "{}", o.text());
    assert!(current_system(m).ends_with("-strata-system-saguaro"));
    let g = generations(m);
    assert_eq!(g[0]["current"], true);
    let grub = fs::read_to_string(m.join("boot/grub/grub.cfg")).unwrap();
    let default_entry = grub
        .lines()
        .skip_while(|l| !l.starts_with("menuentry"))
        .find(|l| l.contains("init="))
        .unwrap_or_default()
        .to_owned();
    assert!(
        default_entry.contains("-strata-system-saguaro/init"),
        "{grub}"
    );

    // collect-garbage -d, as a dry run on this tree: generation 2 would go.
    let o = verb(&s, m, "collect-garbage", &["-d", "--dry-run"]).ok();
    assert!(
        o.text().contains("would delete generation 2"),
        "{}",
        o.text()
    );
    assert_eq!(generations(m).as_array().unwrap().len(), 2);

    // Bad input changes nothing.
    let o = verb(
        &s,
        m,
        "switch",
        &["-f", &path(&c1), "--confirm-within", "soon"],
    );
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("--confirm-within soon"), "{}", o.stderr);
    let o = verb(
        &s,
        m,
        "boot",
        &["-f", &path(&c1), "--confirm-within", "60s"],
    );
    assert_eq!(o.code, Some(1));
}

#[test]
fn a_machine_strata_did_not_set_up_is_refused() {
    if Path::new("/etc/strata/machine").exists() {
        eprintln!("skipped: this host is a strata machine");
        return;
    }
    for args in [&["switch"][..], &["rollback"], &["collect-garbage", "-d"]] {
        let o = run(crate::strata().args(args), None);
        assert_eq!(o.code, Some(1), "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("not set up by strata"),
            "{args:?}: {}",
            o.stderr
        );
    }
}
