//! The wrappers of `/run/wrappers/bin` a generation asks for: `security.wrappers` checked
//! against the configuration and the system's packages, as the activation manifest's
//! [`ManifestWrapper`]s ([`check`]).
//!
//! `source` is the logical path copied: a path like `/usr/bin/su` is taken in the tree
//! `system.sw` (the configuration's `security.packages`, built before the manifest), a store
//! path as it is; either must be a regular ELF file or script, links followed inside the
//! store. `owner` and `group` must be declared in `users.users` and `users.groups`; `mode` is
//! computed from `permissions`, `setuid` and `setgid` as NixOS's chmod does, and
//! `capabilities` parsed into masks (`strata_activate::wrappers::{file_mode,
//! parse_capabilities}`). A wrapper whose source is missing is an error naming it, unless
//! strata's own modules declared it (`onlyIfPresent`): then it is left out, so the default
//! wrappers follow the packages a system has.
//!
//! Must not: write anything (activation makes the copies).

use std::fs;
use std::io;

use strata_store::LocalStore;

use crate::config::SystemConfig;
use crate::toplevel::{ManifestWrapper, ToplevelError};

/// The manifest's wrappers: `security.wrappers` checked against the declared users and
/// groups and against the system's packages in `store` (see the module documentation).
pub fn check(
    store: &LocalStore,
    config: &SystemConfig,
) -> Result<Vec<ManifestWrapper>, ToplevelError> {
    use strata_activate::wrappers::{file_mode, parse_capabilities, resolve_under};
    let store_dir = store.store_dir().as_str();
    let mut out: Vec<ManifestWrapper> = Vec::new();
    for (name, w) in &config.security.wrappers {
        let bad = |what: &str, why: String| {
            ToplevelError::Invalid(format!("security.wrappers.{name}.{what}: {why}"))
        };
        if w.program.is_empty() || w.program.contains('/') || w.program == "." || w.program == ".."
        {
            return Err(bad(
                "program",
                format!("`{}' is not a file name", w.program),
            ));
        }
        if !config.users.users.contains_key(&w.owner) {
            let why = format!("no user `{}' is declared in users.users", w.owner);
            return Err(bad("owner", why));
        }
        if !config.users.groups.contains_key(&w.group) {
            let why = format!("no group `{}' is declared in users.groups", w.group);
            return Err(bad("group", why));
        }
        let mode = file_mode(&w.permissions, w.setuid, w.setgid)
            .map_err(|e| bad("permissions", e.to_string()))?;
        let capabilities = match w.capabilities.trim() {
            "" => None,
            text => Some(parse_capabilities(text).map_err(|e| bad("capabilities", e.to_string()))?),
        }
        .filter(|c| c.permitted | c.inheritable != 0);
        let in_store = w.source.starts_with(&format!("{store_dir}/"));
        let logical = match (&config.security.packages, in_store) {
            (_, true) => w.source.clone(),
            (Some(sw), false) => format!("{sw}{}", w.source),
            (None, false) if w.only_if_present => continue,
            (None, false) => {
                let why = format!("{} cannot be looked up without a package set", w.source);
                return Err(bad("source", why));
            }
        };
        // The store root holds the logical store directory, so links are followed inside it.
        let real =
            resolve_under(store.root(), &logical).filter(|p| p.starts_with(store.real_store_dir()));
        let md = real.as_ref().and_then(|p| fs::metadata(p).ok());
        match md {
            None if w.only_if_present => continue,
            None => {
                return Err(bad(
                    "source",
                    format!("{} does not exist in the system's packages", w.source),
                ))
            }
            Some(m) if !m.is_file() => {
                return Err(bad("source", format!("{} is not a regular file", w.source)))
            }
            Some(_) => {}
        }
        // A multi-call program runs whichever applet it is called as: a privileged copy
        // would run every applet (a shell included) with those privileges.
        if real
            .as_ref()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "busybox")
        {
            if w.only_if_present {
                continue;
            }
            let why = format!(
                "{} is busybox, which runs any applet by the name it is called with; a \
                 privileged copy would run every applet with privileges",
                w.source
            );
            return Err(bad("source", why));
        }
        let mut head = [0u8; 4];
        let n = real
            .as_ref()
            .and_then(|p| fs::File::open(p).ok())
            .and_then(|mut f| io::Read::read(&mut f, &mut head).ok())
            .unwrap_or(0);
        if !(head[..n].starts_with(b"\x7fELF") || head[..n].starts_with(b"#!")) {
            let why = format!("{} is not a program (an ELF file or a script)", w.source);
            return Err(bad("source", why));
        }
        if out.iter().any(|o| o.program == w.program) {
            let why = format!("another wrapper is also named `{}'", w.program);
            return Err(bad("program", why));
        }
        out.push(ManifestWrapper {
            program: w.program.clone(),
            source: logical,
            owner: w.owner.clone(),
            group: w.group.clone(),
            mode,
            capabilities,
        });
    }
    out.sort_by(|a, b| a.program.cmp(&b.program));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config;
    use std::os::unix::fs::symlink;
    use strata_store::StoreDir;

    fn example() -> SystemConfig {
        serde_json::from_str(include_str!("../../modules/tests/example.json")).unwrap()
    }

    fn temp_store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("root"), StoreDir::default()).unwrap();
        (dir, store)
    }

    fn wrapper(source: &str, caps: &str, setuid: bool) -> config::Wrapper {
        config::Wrapper {
            program: String::new(),
            source: source.into(),
            owner: "root".into(),
            group: "root".into(),
            permissions: "u+rx,g+x,o+x".into(),
            capabilities: caps.into(),
            setuid,
            setgid: false,
            only_if_present: false,
        }
    }

    #[test]
    fn wrappers_are_checked_against_the_package_tree() {
        let (dir, mut store) = temp_store();
        let tree = dir.path().join("sw");
        fs::create_dir_all(tree.join("usr/bin")).unwrap();
        fs::write(tree.join("usr/bin/su"), b"\x7fELF...").unwrap();
        fs::write(tree.join("usr/bin/ping"), b"#!/bin/sh\n").unwrap();
        fs::write(tree.join("usr/bin/data"), b"plain").unwrap();
        fs::write(tree.join("usr/bin/busybox"), b"\x7fELF...").unwrap();
        symlink("busybox", tree.join("usr/bin/newgrp")).unwrap();
        symlink("usr/bin", tree.join("bin")).unwrap();
        let sw = store.add_path(&tree, Some("system-path")).unwrap().path;
        let sw = store.print(&sw);
        let mut cfg = example();
        cfg.security.packages = Some(sw.clone());
        let mut set = |entries: Vec<(&str, config::Wrapper)>| {
            cfg.security.wrappers = entries
                .into_iter()
                .map(|(n, mut w)| {
                    w.program = n.to_owned();
                    (n.to_owned(), w)
                })
                .collect();
            check(&store, &cfg).map_err(|e| e.to_string())
        };
        let mut absent = wrapper("/usr/bin/mount", "", true);
        absent.only_if_present = true;
        let got = set(vec![
            ("su", wrapper("/bin/su", "", true)),
            ("ping", wrapper("/usr/bin/ping", "cap_net_raw+p", false)),
            ("mount", absent),
            (
                "newgrp",
                config::Wrapper {
                    only_if_present: true,
                    ..wrapper("/usr/bin/newgrp", "", true)
                },
            ),
        ])
        .unwrap();
        assert_eq!(
            got,
            vec![
                ManifestWrapper {
                    program: "ping".into(),
                    source: format!("{sw}/usr/bin/ping"),
                    owner: "root".into(),
                    group: "root".into(),
                    mode: 0o511,
                    capabilities: Some(strata_activate::manifest::Capabilities {
                        permitted: 1 << 13,
                        inheritable: 0,
                        effective: false
                    }),
                },
                ManifestWrapper {
                    program: "su".into(),
                    source: format!("{sw}/bin/su"),
                    owner: "root".into(),
                    group: "root".into(),
                    mode: 0o4511,
                    capabilities: None,
                },
            ]
        );
        // A store path is taken as it is.
        let direct = set(vec![("su", wrapper(&format!("{sw}/usr/bin/su"), "", true))]).unwrap();
        assert_eq!(direct[0].source, format!("{sw}/usr/bin/su"));
        for (w, says) in [
            (
                wrapper("/usr/bin/sudo", "", true),
                "security.wrappers.x.source: /usr/bin/sudo does not exist in the system's packages",
            ),
            (
                wrapper("/usr/bin", "", true),
                "security.wrappers.x.source: /usr/bin is not a regular file",
            ),
            (
                wrapper("/usr/bin/newgrp", "", true),
                "security.wrappers.x.source: /usr/bin/newgrp is busybox",
            ),
            (
                wrapper("/usr/bin/data", "", true),
                "security.wrappers.x.source: /usr/bin/data is not a program",
            ),
            (
                wrapper("/usr/bin/ping", "cap_net_rw+ep", false),
                "security.wrappers.x.capabilities: `cap_net_rw+ep' is not a capability text: \
                 `cap_net_rw' is not a capability name",
            ),
            (
                config::Wrapper {
                    permissions: "u+q".into(),
                    ..wrapper("/usr/bin/su", "", true)
                },
                "security.wrappers.x.permissions: `u+q' is not a file mode",
            ),
            (
                config::Wrapper {
                    owner: "nobody".into(),
                    ..wrapper("/usr/bin/su", "", true)
                },
                "security.wrappers.x.owner: no user `nobody' is declared in users.users",
            ),
            (
                config::Wrapper {
                    group: "shadow".into(),
                    ..wrapper("/usr/bin/su", "", true)
                },
                "security.wrappers.x.group: no group `shadow' is declared in users.groups",
            ),
        ] {
            let e = set(vec![("x", w)]).unwrap_err();
            assert!(e.starts_with(says), "{e}\nwanted: {says}");
        }
        // Without a package set, only store paths can be checked.
        cfg.security.packages = None;
        let mut optional = wrapper("/usr/bin/su", "", true);
        optional.only_if_present = true;
        cfg.security.wrappers = [("su".to_owned(), optional)].into();
        cfg.security.wrappers.get_mut("su").unwrap().program = "su".into();
        assert!(check(&store, &cfg).unwrap().is_empty());
    }
}
