//! Forged manifests: whatever built them, activation refuses users, groups and `/etc` targets
//! that would break a line of passwd, shadow or group or leave their directory, before
//! anything on the machine changes.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use crate::manifest::{ActivationManifest, ManifestUser};
use crate::tests::{generation, link_entry, manifest, user};
use crate::{activate, ActivateError, Options};

/// Every file, link and directory below `root` but the store, with modes and contents.
fn everything(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel == "nix" {
                continue;
            }
            let md = fs::symlink_metadata(&p).unwrap();
            let mode = md.mode();
            if md.is_dir() {
                stack.push(p.clone());
                out.push(format!("{rel}/ {mode:o}"));
            } else if md.file_type().is_symlink() {
                out.push(format!("{rel} -> {}", fs::read_link(&p).unwrap().display()));
            } else {
                out.push(format!("{rel} {mode:o}: {:?}", fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn with(f: impl Fn(&mut ManifestUser)) -> ActivationManifest {
    let mut alice = user("alice", false, Some("$6$a$alice"));
    f(&mut alice);
    manifest(vec![alice], Vec::new())
}

#[test]
fn forged_users_groups_and_etc_targets_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let good = manifest(
        vec![user("alice", false, Some("$6$a$alice"))],
        vec![link_entry("motd")],
    );
    let t = generation(root, "good", &good, &[("motd", "hello\n")]);
    activate(root, &t, &Options::default()).unwrap();
    let before = everything(root);

    let forged: Vec<(&str, ActivationManifest, &str)> = vec![
        ("colon", with(|u| u.name = "root:x".into()), "\"root:x\""),
        (
            "newline",
            with(|u| u.name = "a\nroot::0:0::/:/bin/sh".into()),
            "\"a\\nroot::0:0::/:/bin/sh\"",
        ),
        ("dotdot-name", with(|u| u.name = "../x".into()), "\"../x\""),
        ("empty-name", with(|u| u.name = String::new()), "\"\""),
        (
            "home-dotdot",
            with(|u| u.home = "/home/../etc".into()),
            "\"/home/../etc\"",
        ),
        (
            "home-relative",
            with(|u| u.home = "home/alice".into()),
            "\"home/alice\"",
        ),
        (
            "home-colon",
            with(|u| u.home = "/home/a:b".into()),
            "\"/home/a:b\"",
        ),
        (
            "shell-newline",
            with(|u| u.shell = "/bin/sh\nroot::0:0::/:/bin/sh".into()),
            "\"/bin/sh\\nroot::0:0::/:/bin/sh\"",
        ),
        (
            "description-newline",
            with(|u| u.description = "Alice\nroot::0:0::/:/bin/sh".into()),
            "\"Alice\\nroot::0:0::/:/bin/sh\"",
        ),
        (
            "group-colon",
            with(|u| u.group = "users:x".into()),
            "\"users:x\"",
        ),
        (
            "extra-group-newline",
            with(|u| u.extra_groups = vec!["wheel\nx".into()]),
            "\"wheel\\nx\"",
        ),
        (
            "group-member",
            {
                let mut m = with(|_| {});
                m.groups[0].members.push("a:b".into());
                m
            },
            "\"a:b\"",
        ),
        (
            "etc-dotdot",
            manifest(Vec::new(), vec![link_entry("../../evil")]),
            "\"../../evil\"",
        ),
        (
            "etc-absolute",
            manifest(Vec::new(), vec![link_entry("/abs")]),
            "\"/abs\"",
        ),
        (
            "etc-dot",
            manifest(Vec::new(), vec![link_entry(".")]),
            "\".\"",
        ),
    ];
    for (name, m, want) in forged {
        let t = generation(root, name, &m, &[]);
        let err = match activate(root, &t, &Options::default()) {
            Ok(_) => panic!("{name}: activated a forged manifest"),
            Err(e) => e,
        };
        assert!(matches!(err, ActivateError::Invalid(_)), "{name}: {err:?}");
        let text = err.to_string();
        assert!(text.contains(want), "{name}: {want} not in {text}");
        assert_eq!(everything(root), before, "{name}: the machine changed");
    }
}
