//! Tests of the alternatives: parsing real-shaped maintainer scripts, choosing, linking.

#![allow(clippy::unwrap_used)]

use super::*;

/// Shaped like the block dh_installalternatives writes (Debian 12's vim).
const VIM_LIKE: &str = r#"#!/bin/sh
set -e
# Automatically added by dh_installalternatives/13.11.4
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ]; then
        update-alternatives --install /usr/bin/editor editor /usr/bin/vim.basic 30 \
            --slave /usr/share/man/man1/editor.1.gz editor.1.gz /usr/share/man/man1/vim.1.gz \
            --slave /usr/share/man/da/man1/editor.1.gz editor.da.1.gz /usr/share/man/da/man1/vim.1.gz
fi
# End automatically added section
if [ "$1" = "configure" ]; then
        update-alternatives --install /usr/bin/vi vi /usr/bin/vim.basic 30
fi
"#;

/// Hand-written, like mawk's: options first, a `case`, continuation lines.
const MAWK_LIKE: &str = r#"#!/bin/sh
set -e
case "$1" in
    configure)
        update-alternatives --quiet --install /usr/bin/awk awk /usr/bin/mawk 5 \
            --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \
            --slave /usr/bin/nawk nawk /usr/bin/mawk
        ;;
esac
# update-alternatives --install /usr/bin/commented out /x 1
update-alternatives --install "/usr/bin/java" java "$basedir/bin/java" $priority
update-alternatives --remove rename /usr/bin/prename
'/usr/bin/update-alternatives' --install /bin/ed-like 'ed like' /bin/ed -100
"#;

#[test]
fn parses_a_dh_installalternatives_block() {
    let (installs, skipped) = parse_postinst(VIM_LIKE);
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(
        installs,
        [
            Install {
                link: "/usr/bin/editor".into(),
                name: "editor".into(),
                path: "/usr/bin/vim.basic".into(),
                priority: 30,
                slaves: vec![
                    Slave {
                        link: "/usr/share/man/man1/editor.1.gz".into(),
                        name: "editor.1.gz".into(),
                        path: "/usr/share/man/man1/vim.1.gz".into(),
                    },
                    Slave {
                        link: "/usr/share/man/da/man1/editor.1.gz".into(),
                        name: "editor.da.1.gz".into(),
                        path: "/usr/share/man/da/man1/vim.1.gz".into(),
                    },
                ],
            },
            Install {
                link: "/usr/bin/vi".into(),
                name: "vi".into(),
                path: "/usr/bin/vim.basic".into(),
                priority: 30,
                slaves: vec![],
            },
        ]
    );
}

#[test]
fn parses_hand_written_calls_and_skips_variables() {
    let (installs, skipped) = parse_postinst(MAWK_LIKE);
    let names: Vec<(&str, &str, i64, usize)> = installs
        .iter()
        .map(|i| (i.name.as_str(), i.path.as_str(), i.priority, i.slaves.len()))
        .collect();
    assert_eq!(
        names,
        [
            ("awk", "/usr/bin/mawk", 5, 2),
            ("ed like", "/bin/ed", -100, 0)
        ]
    );
    assert_eq!(installs[0].slaves[1].link, "/usr/bin/nawk");
    assert_eq!(
        skipped,
        [
            "update-alternatives --install /usr/bin/java java $basedir/bin/java $priority \
          (not literal)"
        ]
    );
}

#[test]
fn malformed_calls_are_skipped_with_the_reason() {
    let (installs, skipped) =
        parse_postinst("update-alternatives --install /usr/bin/x x /usr/bin/y high\n");
    assert!(installs.is_empty());
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].contains("priority \"high\" is not a number"),
        "{skipped:?}"
    );
    let (_, skipped) = parse_postinst("update-alternatives --install /usr/bin/x x\n");
    assert!(skipped[0].contains("--install needs"), "{skipped:?}");
    // Names become etc/alternatives/<name>: one component only.
    let (installs, skipped) = parse_postinst(
        "update-alternatives --install /usr/bin/x ../../../escape /usr/bin/y 1\n\
         update-alternatives --install /usr/bin/x x /usr/bin/y 1 --slave /usr/bin/z .. /usr/bin/w\n",
    );
    assert!(installs.is_empty());
    assert!(
        skipped[0].contains("name \"../../../escape\" is not a file name"),
        "{skipped:?}"
    );
    assert!(
        skipped[1].contains("name \"..\" is not a file name"),
        "{skipped:?}"
    );
}

fn candidate(package: &str, path: &str, priority: i64) -> Candidate {
    Candidate {
        package: package.into(),
        install: Install {
            link: "/usr/bin/editor".into(),
            name: "editor".into(),
            path: path.into(),
            priority,
            slaves: vec![],
        },
    }
}

fn tree_with(paths: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in paths {
        let full = dir.path().join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, "x").unwrap();
    }
    dir
}

#[test]
fn highest_priority_wins_ties_by_package_and_missing_paths_do_not_count() {
    let dir = tree_with(&[
        "usr/bin/vim.basic",
        "usr/bin/nano",
        "usr/bin/ed",
        "usr/bin/zz",
    ]);
    let candidates = BTreeMap::from([(
        "editor".to_owned(),
        vec![
            candidate("ed", "/bin/ed", -100),
            candidate("vim", "/usr/bin/vim.basic", 30),
            candidate("nano", "/bin/nano", 40),
            candidate("gone", "/usr/bin/gone", 90),
            candidate("zz", "/usr/bin/zz", 40),
        ],
    )]);
    let chosen = choose(&candidates, dir.path(), &BTreeMap::new()).unwrap();
    assert_eq!(chosen["editor"].package, "nano");
    // A choice by path, written unmerged or merged.
    for want in ["/bin/ed", "/usr/bin/ed"] {
        let choices = BTreeMap::from([("editor".to_owned(), want.to_owned())]);
        let chosen = choose(&candidates, dir.path(), &choices).unwrap();
        assert_eq!(chosen["editor"].package, "ed");
    }
}

#[test]
fn a_choice_that_is_no_candidate_lists_the_candidates() {
    let dir = tree_with(&["usr/bin/vim.basic", "usr/bin/nano"]);
    let candidates = BTreeMap::from([(
        "editor".to_owned(),
        vec![
            candidate("vim", "/usr/bin/vim.basic", 30),
            candidate("nano", "/bin/nano", 40),
        ],
    )]);
    let choices = BTreeMap::from([
        ("editor".to_owned(), "/usr/bin/emacs".to_owned()),
        ("pager".to_owned(), "/usr/bin/less".to_owned()),
    ]);
    let err = choose(&candidates, dir.path(), &choices).unwrap_err();
    assert_eq!(
        err,
        [
            "environment.debian.alternatives.editor = \"/usr/bin/emacs\" is not a candidate; \
             the candidates are: /bin/nano (nano), /usr/bin/vim.basic (vim)",
            "environment.debian.alternatives.pager names no alternative any package installs",
        ]
    );
}

#[test]
fn chosen_alternatives_become_relative_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    for p in [
        "usr/bin/mawk",
        "usr/share/man/man1/mawk.1.gz",
        "usr/bin/vim.basic",
    ] {
        let full = root.join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, "x").unwrap();
    }
    let pkgs = dir.path().join("pkgs");
    let mut inputs = Vec::new();
    for (name, script) in [("mawk", MAWK_LIKE), ("vim", VIM_LIKE)] {
        let debian = pkgs.join(name).join("DEBIAN");
        fs::create_dir_all(&debian).unwrap();
        fs::write(
            debian.join("control"),
            format!("Package: {name}\nVersion: 1\nArchitecture: amd64\n"),
        )
        .unwrap();
        fs::write(debian.join("postinst"), script).unwrap();
        inputs.push((format!("/nix/store/{name:0>32}-{name}"), pkgs.join(name)));
    }
    let packages = super::super::package::read_all(&inputs).unwrap();
    let mut log = Vec::new();
    let record = apply(&packages, &root, &Options::default(), &|_| None, &mut log).unwrap();
    let link = |p: &str| fs::read_link(root.join(p)).unwrap().display().to_string();
    assert_eq!(link("usr/bin/awk"), "mawk");
    assert_eq!(link("usr/bin/nawk"), "mawk");
    assert_eq!(link("usr/share/man/man1/awk.1.gz"), "mawk.1.gz");
    assert_eq!(link("usr/bin/vi"), "vim.basic");
    assert_eq!(link("usr/bin/editor"), "vim.basic");
    assert_eq!(link("etc/alternatives/awk"), "/usr/bin/mawk");
    // The slave whose path is missing is not linked.
    assert!(fs::symlink_metadata(root.join("usr/share/man/man1/editor.1.gz")).is_err());
    assert_eq!(record["awk"].package, "mawk");
    assert_eq!(record["awk"].by, "priority");
    assert_eq!(record["editor"].slaves.len(), 0);
    let log = String::from_utf8(log).unwrap();
    assert!(
        log.contains("alternatives: mawk: skipped update-alternatives --install /usr/bin/java"),
        "{log}"
    );

    // A link that would replace a package's file is a collision unless the package is kept.
    let root2 = dir.path().join("tree2");
    for p in ["usr/bin/mawk", "usr/bin/awk", "usr/bin/vim.basic"] {
        let full = root2.join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, "x").unwrap();
    }
    let owner = |p: &Path| (p == Path::new("usr/bin/awk")).then(|| "gawk".to_owned());
    let err = apply(
        &packages,
        &root2,
        &Options::default(),
        &owner,
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "collision at /usr/bin/awk: alternative awk (/usr/bin/mawk of package mawk) \
                      would replace what package gawk ships there"
        ),
        "{err}"
    );
    let opts = Options {
        collisions: BTreeMap::from([("/usr/bin/awk".to_owned(), "gawk".to_owned())]),
        ..Options::default()
    };
    let root3 = dir.path().join("tree3");
    for p in ["usr/bin/mawk", "usr/bin/awk"] {
        let full = root3.join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, "x").unwrap();
    }
    let record = apply(&packages, &root3, &opts, &owner, &mut Vec::new()).unwrap();
    assert!(!record.contains_key("awk"));
    assert!(fs::symlink_metadata(root3.join("usr/bin/awk"))
        .unwrap()
        .is_file());
}
