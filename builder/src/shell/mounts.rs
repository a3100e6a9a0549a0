//! The shell's file system, planned before anything is mounted: the host's tree with a few
//! places *grafted* (the shell tree's `usr` on `/usr`, links for `/bin`, `/sbin`, `/lib`,
//! `/lib64`, its loader cache on `/etc/ld.so.cache`, the physical store on the logical store
//! directory).
//!
//! The new root is a tmpfs. Every entry of the host's `/` that no graft touches is bound there
//! as it is (directories recursively, links copied), so `/home`, `/tmp`, `/proc`, `/dev`,
//! `/etc` and the rest are the host's own. A directory a graft lies below is bound whole when
//! the graft can be mounted over an existing host file or directory of the same kind (the
//! usual `/etc/ld.so.cache`); otherwise it is *merged*: made on the tmpfs with each of the
//! host's entries bound into it, and the graft added beside them (a host without
//! `/etc/ld.so.cache`, or without `/nix`). Nothing on the host is created or changed.
//!
//! Must not: touch the host; this module only computes [`Step`]s, which
//! [`super::ns`] performs in the new mount namespace.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// What a path on the host is (not following a final link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// A device, socket or pipe.
    Other,
}

/// The host's file system as the plan reads it (a real one, or a description in tests).
pub trait HostView {
    /// What `path` is, without following a final link; `None` when it does not exist.
    fn kind(&self, path: &Path) -> Option<Kind>;
    /// The entries of the directory `dir`, sorted by name (none when it cannot be read).
    fn entries(&self, dir: &Path) -> Vec<(OsString, Kind)>;
    /// The target of the link `path`.
    fn link_target(&self, path: &Path) -> Option<PathBuf>;
    /// The mount flags a read-only bind of `path` must keep (those the kernel locks).
    fn locked_flags(&self, path: &Path) -> libc::c_ulong;
}

/// The host as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealHost;

impl HostView for RealHost {
    fn kind(&self, path: &Path) -> Option<Kind> {
        let md = std::fs::symlink_metadata(path).ok()?;
        let ft = md.file_type();
        Some(if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        })
    }

    fn entries(&self, dir: &Path) -> Vec<(OsString, Kind)> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<(OsString, Kind)> = rd
            .flatten()
            .filter_map(|e| {
                let kind = self.kind(&e.path())?;
                Some((e.file_name(), kind))
            })
            .collect();
        out.sort();
        out
    }

    fn link_target(&self, path: &Path) -> Option<PathBuf> {
        std::fs::read_link(path).ok()
    }

    fn locked_flags(&self, path: &Path) -> libc::c_ulong {
        use rustix::fs::StatVfsMountFlags as F;
        let Ok(flags) = strata_store::fs::mount_flags(path) else {
            return 0;
        };
        // statvfs's ST_* flags are the mount flags' MS_* bits of the same names.
        (flags & (F::NOSUID | F::NODEV | F::NOEXEC | F::NOATIME | F::NODIRATIME | F::RELATIME))
            .bits() as libc::c_ulong
    }
}

/// What is put at a grafted place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Graft {
    /// The host directory or file `source`, bound (recursively), read-only if asked.
    Bind {
        source: PathBuf,
        dir: bool,
        read_only: bool,
    },
    /// A symbolic link to `target`.
    Link { target: PathBuf },
}

/// One operation in the new mount namespace, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Mount {
        src: Option<PathBuf>,
        dst: PathBuf,
        fstype: Option<&'static str>,
        flags: libc::c_ulong,
        data: Option<&'static str>,
        /// A failure is ignored (a host file that cannot be bound).
        optional: bool,
    },
    Mkdir(PathBuf),
    Touch(PathBuf),
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
}

/// The planned file system: the steps, then (after the switch to `root`) a path to detach,
/// the copy of the new root that a bound host directory holding it brought along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: PathBuf,
    pub steps: Vec<Step>,
    pub detach: Option<PathBuf>,
}

/// Why the grafts cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("'{0}' is not an absolute, normal path")]
    NotAbsolute(PathBuf),
    #[error("'{inner}' lies inside '{outer}', which is grafted whole")]
    Nested { outer: PathBuf, inner: PathBuf },
}

/// The path `p` below `/`, as its normal components.
fn components(p: &Path) -> Result<Vec<OsString>, PlanError> {
    let mut out = Vec::new();
    let mut it = p.components();
    if it.next() != Some(Component::RootDir) {
        return Err(PlanError::NotAbsolute(p.to_owned()));
    }
    for c in it {
        match c {
            Component::Normal(n) => out.push(n.to_owned()),
            _ => return Err(PlanError::NotAbsolute(p.to_owned())),
        }
    }
    if out.is_empty() {
        return Err(PlanError::NotAbsolute(p.to_owned()));
    }
    Ok(out)
}

/// `new_root` + the absolute path `abs`.
fn under(new_root: &Path, abs: &Path) -> PathBuf {
    new_root.join(abs.strip_prefix("/").unwrap_or(abs))
}

/// Plans the file system whose root is a tmpfs mounted at `root` (an existing directory):
/// the host's `/` with `grafts` (absolute place -> what goes there). The steps end with the
/// root made read-only.
pub fn plan(
    host: &dyn HostView,
    root: &Path,
    grafts: &BTreeMap<PathBuf, Graft>,
) -> Result<Layout, PlanError> {
    let mut parsed: Vec<(Vec<OsString>, &Graft)> = Vec::new();
    for (place, g) in grafts {
        parsed.push((components(place)?, g));
    }
    for (a, _) in &parsed {
        for (b, _) in &parsed {
            if b.len() > a.len() && b.starts_with(a) {
                return Err(PlanError::Nested {
                    outer: Path::new("/").join(a.iter().collect::<PathBuf>()),
                    inner: Path::new("/").join(b.iter().collect::<PathBuf>()),
                });
            }
        }
    }
    let mut planner = Planner {
        host,
        root,
        steps: vec![Step::Mount {
            src: Some("tmpfs".into()),
            dst: root.to_owned(),
            fstype: Some("tmpfs"),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: Some("mode=0755"),
            optional: false,
        }],
        detach: None,
    };
    let all: Vec<(&[OsString], &Graft)> = parsed.iter().map(|(c, g)| (&c[..], *g)).collect();
    planner.merge(Path::new("/"), &all);
    planner.steps.push(Step::Mount {
        src: None,
        dst: root.to_owned(),
        fstype: None,
        flags: libc::MS_REMOUNT
            | libc::MS_BIND
            | libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV,
        data: None,
        optional: false,
    });
    Ok(Layout {
        root: root.to_owned(),
        steps: planner.steps,
        detach: planner.detach,
    })
}

struct Planner<'a> {
    host: &'a dyn HostView,
    root: &'a Path,
    steps: Vec<Step>,
    detach: Option<PathBuf>,
}

impl Planner<'_> {
    fn new_path(&self, host: &Path) -> PathBuf {
        under(self.root, host)
    }

    /// Makes `dir` (a host path; on the tmpfs already) hold the host's entries of `dir` and
    /// the grafts below it (`grafts`: their components below `dir`).
    fn merge(&mut self, dir: &Path, grafts: &[(&[OsString], &Graft)]) {
        let mut below: BTreeMap<&OsString, Vec<(&[OsString], &Graft)>> = BTreeMap::new();
        for (c, g) in grafts {
            below.entry(&c[0]).or_default().push((&c[1..], g));
        }
        let mut entries = self.host.entries(dir);
        // The entry that holds the new root's mount point first, while that tmpfs is empty:
        // a recursive bind copies what is mounted below it, and the copy is detached later.
        entries.sort_by_key(|(name, _)| !self.root.starts_with(dir.join(name)));
        for (name, kind) in entries {
            if below.contains_key(&name) {
                continue;
            }
            let src = dir.join(&name);
            if self.root.starts_with(&src) && kind == Kind::Dir {
                self.detach = Some(self.root.to_owned());
            }
            self.bind_entry(&src, kind);
        }
        for (name, inner) in below {
            let place = dir.join(name);
            if let Some((_, g)) = inner.iter().find(|(c, _)| c.is_empty()) {
                self.graft(&place, g);
                continue;
            }
            let dst = self.new_path(&place);
            self.steps.push(Step::Mkdir(dst.clone()));
            if self.host.kind(&place) == Some(Kind::Dir)
                && inner.iter().all(|(c, g)| self.can_bind_over(&place, c, g))
            {
                if self.root.starts_with(&place) {
                    self.detach = Some(self.root.to_owned());
                }
                self.steps.push(bind(&place, &dst, true));
                for (c, g) in inner {
                    let at = place.join(c.iter().collect::<PathBuf>());
                    self.graft_over(&at, g);
                }
            } else {
                self.merge(&place, &inner);
            }
        }
    }

    /// Whether the graft `g` at `base`/`rest` can be mounted over what the host has there: a
    /// directory or file of the graft's kind, reached through directories only.
    fn can_bind_over(&self, base: &Path, rest: &[OsString], g: &Graft) -> bool {
        let Graft::Bind { dir, .. } = g else {
            return false;
        };
        let mut p = base.to_owned();
        for (i, c) in rest.iter().enumerate() {
            p.push(c);
            let last = i + 1 == rest.len();
            let want = if last && !dir { Kind::File } else { Kind::Dir };
            if self.host.kind(&p) != Some(want) {
                return false;
            }
        }
        true
    }

    fn bind_entry(&mut self, src: &Path, kind: Kind) {
        let dst = self.new_path(src);
        match kind {
            Kind::Dir => {
                self.steps.push(Step::Mkdir(dst.clone()));
                self.steps.push(bind(src, &dst, true));
            }
            Kind::Symlink => {
                if let Some(target) = self.host.link_target(src) {
                    self.steps.push(Step::Symlink { target, link: dst });
                }
            }
            Kind::File | Kind::Other => {
                self.steps.push(Step::Touch(dst.clone()));
                let mut b = bind(src, &dst, false);
                if let Step::Mount { optional, .. } = &mut b {
                    *optional = true;
                }
                self.steps.push(b);
            }
        }
    }

    /// Puts `g` at `place` on the tmpfs (nothing is there yet).
    fn graft(&mut self, place: &Path, g: &Graft) {
        let dst = self.new_path(place);
        match g {
            Graft::Link { target } => self.steps.push(Step::Symlink {
                target: target.clone(),
                link: dst,
            }),
            Graft::Bind { dir, .. } => {
                self.steps.push(if *dir {
                    Step::Mkdir(dst)
                } else {
                    Step::Touch(dst)
                });
                self.graft_over(place, g);
            }
        }
    }

    /// Mounts the bind graft `g` over what is at `place` in the new root.
    fn graft_over(&mut self, place: &Path, g: &Graft) {
        let Graft::Bind {
            source,
            dir,
            read_only,
        } = g
        else {
            return;
        };
        let dst = self.new_path(place);
        self.steps.push(bind(source, &dst, *dir));
        if *read_only {
            self.steps.push(Step::Mount {
                src: None,
                dst,
                fstype: None,
                flags: libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_RDONLY
                    | self.host.locked_flags(source),
                data: None,
                optional: false,
            });
        }
    }
}

fn bind(src: &Path, dst: &Path, recursive: bool) -> Step {
    Step::Mount {
        src: Some(src.to_owned()),
        dst: dst.to_owned(),
        fstype: None,
        flags: libc::MS_BIND | if recursive { libc::MS_REC } else { 0 },
        data: None,
        optional: false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A host described by its paths: `path -> kind`, links with their targets.
    #[derive(Default)]
    struct FakeHost {
        paths: BTreeMap<PathBuf, (Kind, Option<PathBuf>)>,
    }

    impl FakeHost {
        fn with(entries: &[(&str, Kind)]) -> FakeHost {
            let mut h = FakeHost::default();
            for (p, k) in entries {
                let target = (*k == Kind::Symlink).then(|| PathBuf::from("usr/x"));
                h.paths.insert(PathBuf::from(p), (*k, target));
            }
            h
        }
    }

    impl HostView for FakeHost {
        fn kind(&self, path: &Path) -> Option<Kind> {
            if path == Path::new("/") {
                return Some(Kind::Dir);
            }
            self.paths.get(path).map(|(k, _)| *k)
        }
        fn entries(&self, dir: &Path) -> Vec<(OsString, Kind)> {
            self.paths
                .iter()
                .filter(|(p, _)| p.parent() == Some(dir))
                .map(|(p, (k, _))| (p.file_name().unwrap().to_owned(), *k))
                .collect()
        }
        fn link_target(&self, path: &Path) -> Option<PathBuf> {
            self.paths.get(path).and_then(|(_, t)| t.clone())
        }
        fn locked_flags(&self, _: &Path) -> libc::c_ulong {
            libc::MS_NODEV
        }
    }

    fn grafts() -> BTreeMap<PathBuf, Graft> {
        let mut g = BTreeMap::new();
        g.insert(
            "/usr".into(),
            Graft::Bind {
                source: "/s/tree/usr".into(),
                dir: true,
                read_only: true,
            },
        );
        for d in ["bin", "sbin", "lib", "lib64"] {
            g.insert(
                Path::new("/").join(d),
                Graft::Link {
                    target: Path::new("usr").join(d),
                },
            );
        }
        g.insert(
            "/etc/ld.so.cache".into(),
            Graft::Bind {
                source: "/s/tree/usr/lib/strata/ld.so.cache".into(),
                dir: false,
                read_only: false,
            },
        );
        g.insert(
            "/nix/store".into(),
            Graft::Bind {
                source: "/home/u/root/nix/store".into(),
                dir: true,
                read_only: true,
            },
        );
        g
    }

    /// The steps as short lines, to compare whole plans.
    fn show(l: &Layout) -> Vec<String> {
        let r = |p: &Path| {
            p.strip_prefix(&l.root)
                .map(|x| format!("R/{}", x.display()))
                .unwrap_or_else(|_| p.display().to_string())
        };
        l.steps
            .iter()
            .map(|s| match s {
                Step::Mount {
                    src, dst, flags, ..
                } => {
                    let kind = if flags & libc::MS_REMOUNT != 0 {
                        "remount-ro"
                    } else if flags & libc::MS_REC != 0 {
                        "rbind"
                    } else if flags & libc::MS_BIND != 0 {
                        "bind"
                    } else {
                        "tmpfs"
                    };
                    match src {
                        Some(s) if kind != "tmpfs" => format!("{kind} {} {}", s.display(), r(dst)),
                        _ => format!("{kind} {}", r(dst)),
                    }
                }
                Step::Mkdir(p) => format!("mkdir {}", r(p)),
                Step::Touch(p) => format!("touch {}", r(p)),
                Step::Symlink { target, link } => {
                    format!("link {} -> {}", r(link), target.display())
                }
            })
            .collect()
    }

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_merged_debian_host() {
        let host = FakeHost::with(&[
            ("/bin", Kind::Symlink),
            ("/etc", Kind::Dir),
            ("/etc/ld.so.cache", Kind::File),
            ("/home", Kind::Dir),
            ("/lib64", Kind::Symlink),
            ("/swapfile", Kind::File),
            ("/tmp", Kind::Dir),
            ("/usr", Kind::Dir),
        ]);
        let l = plan(&host, Path::new("/usr"), &grafts()).unwrap();
        assert_eq!(
            show(&l),
            lines(&[
                "tmpfs R/",
                "mkdir R/home",
                "rbind /home R/home",
                "touch R/swapfile",
                "bind /swapfile R/swapfile",
                "mkdir R/tmp",
                "rbind /tmp R/tmp",
                "link R/bin -> usr/bin",
                // The host's loader cache is there: the tree's is bound over it.
                "mkdir R/etc",
                "rbind /etc R/etc",
                "bind /s/tree/usr/lib/strata/ld.so.cache R/etc/ld.so.cache",
                "link R/lib -> usr/lib",
                "link R/lib64 -> usr/lib64",
                // No /nix on the host: made on the tmpfs.
                "mkdir R/nix",
                "mkdir R/nix/store",
                "rbind /home/u/root/nix/store R/nix/store",
                "remount-ro R/nix/store",
                "link R/sbin -> usr/sbin",
                "mkdir R/usr",
                "rbind /s/tree/usr R/usr",
                "remount-ro R/usr",
                "remount-ro R/",
            ])
        );
        assert_eq!(l.detach, None);
        let ro = l.steps.iter().find_map(|s| match s {
            Step::Mount { dst, flags, .. }
                if dst == Path::new("/usr/usr") && flags & libc::MS_REMOUNT != 0 =>
            {
                Some(*flags)
            }
            _ => None,
        });
        assert_eq!(
            ro,
            Some(libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NODEV),
            "the read-only remount keeps the locked flags"
        );
    }

    #[test]
    fn a_host_without_a_loader_cache_with_nix_and_a_real_bin() {
        let host = FakeHost::with(&[
            ("/bin", Kind::Dir),
            ("/etc", Kind::Dir),
            ("/etc/hosts", Kind::File),
            ("/etc/ssl", Kind::Dir),
            ("/etc/localtime", Kind::Symlink),
            ("/nix", Kind::Dir),
            ("/nix/store", Kind::Dir),
            ("/nix/var", Kind::Dir),
        ]);
        let l = plan(&host, Path::new("/usr"), &grafts()).unwrap();
        assert_eq!(
            show(&l),
            lines(&[
                "tmpfs R/",
                // The host's real /bin gives way to the link.
                "link R/bin -> usr/bin",
                // /etc merged: each entry bound, the cache beside them.
                "mkdir R/etc",
                "touch R/etc/hosts",
                "bind /etc/hosts R/etc/hosts",
                "link R/etc/localtime -> usr/x",
                "mkdir R/etc/ssl",
                "rbind /etc/ssl R/etc/ssl",
                "touch R/etc/ld.so.cache",
                "bind /s/tree/usr/lib/strata/ld.so.cache R/etc/ld.so.cache",
                "link R/lib -> usr/lib",
                "link R/lib64 -> usr/lib64",
                // The host's /nix/store is there: strata's store is bound over it.
                "mkdir R/nix",
                "rbind /nix R/nix",
                "rbind /home/u/root/nix/store R/nix/store",
                "remount-ro R/nix/store",
                "link R/sbin -> usr/sbin",
                "mkdir R/usr",
                "rbind /s/tree/usr R/usr",
                "remount-ro R/usr",
                "remount-ro R/",
            ])
        );
    }

    #[test]
    fn a_root_below_a_bound_directory_is_bound_first_and_detached() {
        let host = FakeHost::with(&[
            ("/etc", Kind::Dir),
            ("/etc/ld.so.cache", Kind::File),
            ("/home", Kind::Dir),
            ("/tmp", Kind::Dir),
        ]);
        let root = Path::new("/tmp/strata-shell-x/root");
        let mut g = grafts();
        g.remove(Path::new("/nix/store"));
        let l = plan(&host, root, &g).unwrap();
        let shown = show(&l);
        assert_eq!(shown[1], "mkdir R/tmp", "{shown:#?}");
        assert_eq!(shown[2], "rbind /tmp R/tmp", "{shown:#?}");
        assert_eq!(l.detach.as_deref(), Some(root));
    }

    #[test]
    fn nested_or_relative_grafts_are_refused() {
        let host = FakeHost::with(&[]);
        let mut g = grafts();
        g.insert("/usr/lib/x".into(), Graft::Link { target: "y".into() });
        assert_eq!(
            plan(&host, Path::new("/usr"), &g).unwrap_err(),
            PlanError::Nested {
                outer: "/usr".into(),
                inner: "/usr/lib/x".into()
            }
        );
        let mut g = BTreeMap::new();
        g.insert("usr".into(), Graft::Link { target: "y".into() });
        assert!(matches!(
            plan(&host, Path::new("/usr"), &g),
            Err(PlanError::NotAbsolute(_))
        ));
    }
}
