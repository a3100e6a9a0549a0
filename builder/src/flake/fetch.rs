//! Flake references and fetching their trees into the store as Nix does.
//!
//! `path:DIR` is the directory copied whole, as `builtins.path { path = DIR; name = "source"; }`
//! copies it; `git+file:///REPO` is the tree of one commit of a local repository, as
//! `builtins.fetchGit` fetches it (the commit's tree as `git archive` writes it, no
//! submodules), or, when the working tree has uncommitted changes and no revision is asked
//! for, the tracked files of the working tree, with a warning; `tarball+file:///FILE` is the
//! one directory a local tarball holds, as `builtins.fetchTarball` unpacks it. Each lands in a
//! store path named `source`, so the store path and NAR hash are Nix's for the same tree.
//!
//! `git` runs with an environment of strata's own (`GIT_CONFIG_NOSYSTEM=1`, `HOME` an empty
//! directory, no `GIT_*` variables of the caller), so the host's git settings cannot change
//! which tree is fetched.
//!
//! Must not: fetch anything but local files.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_store::{Hash, LocalStore};

use super::FlakeError;

/// Where a flake or an input comes from, as written in `inputs.<name>.url` or `--flake`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlakeRef {
    /// `path:DIR`: a directory, copied whole.
    Path { path: PathBuf },
    /// `tarball+file:///FILE` (or `file:///FILE` ending in `.tar`, `.tar.gz`, `.tgz`,
    /// `.tar.xz`, `.tar.zst`): the one directory a local tarball holds.
    Tarball { file: PathBuf },
    /// `git+file:///REPO[?ref=R][&rev=C]`: a commit of a local git repository.
    Git {
        repo: PathBuf,
        git_ref: Option<String>,
        rev: Option<String>,
    },
}

impl FlakeRef {
    /// Parses `text`; a relative path (in `path:` or bare) is taken relative to `base`. A bare
    /// path (`.`, `./dir`, `/dir`) is a `git+file:` reference when the directory is the top of
    /// a git repository, else a `path:` one, as Nix takes it.
    pub fn parse(text: &str, base: &Path) -> Result<FlakeRef, FlakeError> {
        let bad = |why: &str| FlakeError::BadRef {
            reference: text.to_owned(),
            why: why.to_owned(),
        };
        let (body, query) = match text.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (text, None),
        };
        let mut git_ref = None;
        let mut rev = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("ref", v)) if !v.is_empty() => git_ref = Some(v.to_owned()),
                Some(("rev", v)) if is_rev(v) => rev = Some(v.to_owned()),
                Some(("rev", _)) => return Err(bad("`rev' is not a 40-digit commit hash")),
                _ => {
                    return Err(bad(&format!(
                        "the parameter {pair:?} is not supported (strata knows `ref' and `rev')"
                    )))
                }
            }
        }
        let absolute = |p: &str| -> PathBuf {
            let p = Path::new(p);
            normalise(&if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            })
        };
        if let Some(url) = body.strip_prefix("git+") {
            let Some(p) = url.strip_prefix("file://") else {
                return Err(bad(
                    "strata fetches git repositories from local files only so far (git+file://)",
                ));
            };
            if !p.starts_with('/') {
                return Err(bad("a git+file: URL names an absolute path"));
            }
            return Ok(FlakeRef::Git {
                repo: normalise(Path::new(p)),
                git_ref,
                rev,
            });
        }
        if git_ref.is_some() || rev.is_some() {
            return Err(bad("`ref' and `rev' belong to git+file: references"));
        }
        let tarball = body.strip_prefix("tarball+").or_else(|| {
            TARBALL_ENDINGS
                .iter()
                .any(|e| body.ends_with(e))
                .then_some(body)
                .filter(|b| b.starts_with("file://"))
        });
        if let Some(url) = tarball {
            let Some(p) = url.strip_prefix("file://").filter(|p| p.starts_with('/')) else {
                return Err(bad(
                    "strata fetches tarballs from local files only so far (tarball+file:///...)",
                ));
            };
            return Ok(FlakeRef::Tarball {
                file: normalise(Path::new(p)),
            });
        }
        if let Some(p) = body.strip_prefix("path:") {
            return Ok(FlakeRef::Path { path: absolute(p) });
        }
        if body.starts_with('/') || body == "." || body.starts_with("./") || body.starts_with("../")
        {
            let path = absolute(body);
            if path.join(".git").exists() {
                return Ok(FlakeRef::Git {
                    repo: path,
                    git_ref: None,
                    rev: None,
                });
            }
            return Ok(FlakeRef::Path { path });
        }
        let scheme = body.split(':').next().unwrap_or(body);
        Err(bad(&format!(
            "the input type `{scheme}' is not supported yet (strata fetches path:, git+file: and tarball+file: \
             inputs)"
        )))
    }

    /// The reference as a flake.lock's `original` (and, without the locked fields, its
    /// `locked`) attributes.
    pub fn original(&self) -> super::lock::LockedRef {
        match self {
            FlakeRef::Path { path } => super::lock::LockedRef {
                kind: "path".into(),
                path: Some(path.display().to_string()),
                ..Default::default()
            },
            FlakeRef::Tarball { file } => super::lock::LockedRef {
                kind: "tarball".into(),
                url: Some(format!("file://{}", file.display())),
                ..Default::default()
            },
            FlakeRef::Git { repo, git_ref, rev } => super::lock::LockedRef {
                kind: "git".into(),
                url: Some(format!("file://{}", repo.display())),
                git_ref: git_ref.clone(),
                rev: rev.clone(),
                ..Default::default()
            },
        }
    }

    /// The reference a lock's `locked` (or `original`) attributes describe.
    pub fn from_locked(l: &super::lock::LockedRef) -> Result<FlakeRef, FlakeError> {
        let bad = |why: &str| FlakeError::BadRef {
            reference: format!(
                "{} {}",
                l.kind,
                l.url
                    .as_deref()
                    .or(l.path.as_deref())
                    .unwrap_or("(no url or path)")
            ),
            why: format!("in flake.lock: {why}"),
        };
        match l.kind.as_str() {
            "path" => Ok(FlakeRef::Path {
                path: PathBuf::from(l.path.as_deref().ok_or_else(|| bad("no `path'"))?),
            }),
            "tarball" => {
                let url = l.url.as_deref().ok_or_else(|| bad("no `url'"))?;
                let file = url
                    .strip_prefix("file://")
                    .ok_or_else(|| bad("only file:// tarball URLs are supported"))?;
                Ok(FlakeRef::Tarball {
                    file: PathBuf::from(file),
                })
            }
            "git" => {
                let url = l.url.as_deref().ok_or_else(|| bad("no `url'"))?;
                let repo = url
                    .strip_prefix("file://")
                    .ok_or_else(|| bad("only file:// git URLs are supported"))?;
                Ok(FlakeRef::Git {
                    repo: PathBuf::from(repo),
                    git_ref: l.git_ref.clone(),
                    rev: l.rev.clone(),
                })
            }
            other => Err(bad(&format!(
                "the input type `{other}' is not supported yet"
            ))),
        }
    }
}

impl std::fmt::Display for FlakeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlakeRef::Path { path } => write!(f, "path:{}", path.display()),
            FlakeRef::Tarball { file } => write!(f, "tarball+file://{}", file.display()),
            FlakeRef::Git { repo, git_ref, rev } => {
                write!(f, "git+file://{}", repo.display())?;
                let mut sep = '?';
                for (k, v) in [("ref", git_ref), ("rev", rev)] {
                    if let Some(v) = v {
                        write!(f, "{sep}{k}={v}")?;
                        sep = '&';
                    }
                }
                Ok(())
            }
        }
    }
}

/// `path` without `.` components, and with each `..` taking away the component before it
/// (lexically, as Nix takes a flake's path).
fn normalise(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The names Nix takes a `file://` URL to be a tarball by.
const TARBALL_ENDINGS: [&str; 5] = [".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst"];

fn is_rev(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A fetched tree: Nix's `sourceInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The store path, printed (`/nix/store/...-source`).
    pub store_path: String,
    pub nar_hash: Hash,
    /// The commit (git, clean tree).
    pub rev: Option<String>,
    /// The commit with `-dirty` (git, a working tree with uncommitted changes).
    pub dirty_rev: Option<String>,
    /// Seconds since the epoch: the commit's time (git), the newest modification (path).
    pub last_modified: u64,
    /// How many commits lead to `rev` (git).
    pub rev_count: Option<u64>,
    /// A git working tree with uncommitted changes (or no commit yet): not a pin.
    pub dirty: bool,
    /// Said once, on standard error, by the caller (a dirty tree).
    pub warning: Option<String>,
}

/// Fetches `r` into `store`.
pub fn fetch(store: &mut LocalStore, r: &FlakeRef) -> Result<Fetched, FlakeError> {
    match r {
        FlakeRef::Path { path } => fetch_path(store, path),
        FlakeRef::Tarball { file } => fetch_tarball(store, file),
        FlakeRef::Git { repo, git_ref, rev } => {
            fetch_git(store, repo, git_ref.as_deref(), rev.as_deref())
        }
    }
}

fn fetch_path(store: &mut LocalStore, path: &Path) -> Result<Fetched, FlakeError> {
    let meta = fs::metadata(path).map_err(|e| FlakeError::Io {
        context: format!("cannot read the flake input '{}'", path.display()),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(FlakeError::Strata(format!(
            "the path input '{}' is not a directory",
            path.display()
        )));
    }
    let info = store.add_path(path, Some("source"))?;
    Ok(Fetched {
        store_path: store.print(&info.path),
        nar_hash: info.nar_hash,
        rev: None,
        dirty_rev: None,
        last_modified: newest_mtime(path),
        rev_count: None,
        dirty: false,
        warning: None,
    })
}

/// The one directory the tarball `file` holds (any compression [`crate::compress`] reads),
/// unpacked; its `lastModified` is that directory's time in the archive.
fn fetch_tarball(store: &mut LocalStore, file: &Path) -> Result<Fetched, FlakeError> {
    let shown = file.display();
    let io = |what: String| {
        move |e: std::io::Error| FlakeError::Io {
            context: what,
            source: e,
        }
    };
    let f = fs::File::open(file).map_err(io(format!("cannot open the tarball '{shown}'")))?;
    let reader = crate::compress::decoder(std::io::BufReader::new(f))
        .map_err(io(format!("cannot read the tarball '{shown}'")))?;
    let dir = tempfile::Builder::new()
        .prefix("strata-tarball-")
        .tempdir()
        .map_err(io("cannot make a directory to unpack a tarball in".into()))?;
    let mut archive = tar::Archive::new(reader);
    let mut times = std::collections::BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(io(format!("cannot read the tarball '{shown}'")))?;
    for entry in entries {
        let mut entry = entry.map_err(io(format!("cannot read the tarball '{shown}'")))?;
        let path = entry
            .path()
            .map_err(io(format!("a bad entry name in the tarball '{shown}'")))?
            .into_owned();
        if entry.header().entry_type().is_dir() && path.components().count() == 1 {
            times.insert(path.clone(), entry.header().mtime().unwrap_or(0));
        }
        // `unpack_in` refuses entries that would leave the directory.
        entry
            .unpack_in(dir.path())
            .map_err(io(format!("cannot unpack {} of '{shown}'", path.display())))?;
    }
    let top: Vec<PathBuf> = fs::read_dir(dir.path())
        .map_err(io(format!("cannot read what '{shown}' unpacked to")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let [only] = top.as_slice() else {
        return Err(FlakeError::Strata(format!(
            "the tarball '{shown}' holds {} entries at its top, not one directory",
            top.len()
        )));
    };
    if !only.is_dir() {
        return Err(FlakeError::Strata(format!(
            "the tarball '{shown}' holds a file at its top, not a directory"
        )));
    }
    let info = store.add_path(only, Some("source"))?;
    let name = only.strip_prefix(dir.path()).unwrap_or(only);
    Ok(Fetched {
        store_path: store.print(&info.path),
        nar_hash: info.nar_hash,
        rev: None,
        dirty_rev: None,
        last_modified: times.get(name).copied().unwrap_or(0),
        rev_count: None,
        dirty: false,
        warning: None,
    })
}

/// The newest modification time in the tree at `path` (links not followed).
fn newest_mtime(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut newest = 0;
    let mut todo = vec![path.to_owned()];
    while let Some(p) = todo.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        newest = newest.max(u64::try_from(m.mtime()).unwrap_or(0));
        if m.is_dir() {
            if let Ok(rd) = fs::read_dir(&p) {
                todo.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
    }
    newest
}

/// `git` with an environment of strata's own (see the module documentation).
struct Git {
    repo: PathBuf,
    home: tempfile::TempDir,
}

impl Git {
    fn new(repo: &Path) -> Result<Git, FlakeError> {
        let home = tempfile::Builder::new()
            .prefix("strata-git-home-")
            .tempdir()
            .map_err(|e| FlakeError::Io {
                context: "cannot make an empty HOME for git".into(),
                source: e,
            })?;
        Ok(Git {
            repo: repo.to_owned(),
            home,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("LC_ALL", "C")
            .arg("-C")
            .arg(&self.repo)
            .args(args);
        c
    }

    /// Runs `git ARGS` and returns its standard output.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, FlakeError> {
        let out = self.command(args).output().map_err(|e| FlakeError::Io {
            context: "cannot run git (is it installed?)".into(),
            source: e,
        })?;
        if !out.status.success() {
            return Err(FlakeError::Git {
                repo: self.repo.display().to_string(),
                command: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(out.stdout)
    }

    fn line(&self, args: &[&str]) -> Result<String, FlakeError> {
        Ok(String::from_utf8_lossy(&self.run(args)?).trim().to_owned())
    }
}

fn fetch_git(
    store: &mut LocalStore,
    repo: &Path,
    git_ref: Option<&str>,
    rev: Option<&str>,
) -> Result<Fetched, FlakeError> {
    if !repo.is_dir() {
        return Err(FlakeError::Strata(format!(
            "the git repository '{}' does not exist",
            repo.display()
        )));
    }
    let git = Git::new(repo)?;
    let top = git.line(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top) != repo.canonicalize().unwrap_or_else(|_| repo.to_owned()) {
        return Err(FlakeError::Strata(format!(
            "'{}' is not the top of a git repository (that is '{top}')",
            repo.display()
        )));
    }
    let has_head = git.run(&["rev-parse", "--verify", "-q", "HEAD"]).is_ok();
    if rev.is_none() && git_ref.is_none() {
        let status = git.run(&["status", "--porcelain", "--untracked-files=no"])?;
        if !status.is_empty() || !has_head {
            return fetch_dirty(store, &git, has_head);
        }
    }
    let wanted = match (rev, git_ref) {
        (Some(r), _) => r.to_owned(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => "HEAD".to_owned(),
    };
    let commit = git.line(&[
        "rev-parse",
        "--verify",
        "-q",
        &format!("{wanted}^{{commit}}"),
    ])?;
    if let Some(r) = rev {
        if commit != r {
            return Err(FlakeError::Strata(format!(
                "'{}' has no commit {r}",
                repo.display()
            )));
        }
    }
    let last_modified = commit_time(&git, &commit)?;
    let rev_count = git
        .line(&["rev-list", "--count", &commit])?
        .parse::<u64>()
        .map_err(|_| FlakeError::Strata("`git rev-list --count` printed no number".into()))?;
    let tree = tempfile::Builder::new()
        .prefix("strata-git-tree-")
        .tempdir()
        .map_err(|e| FlakeError::Io {
            context: "cannot make a directory for a git tree".into(),
            source: e,
        })?;
    let tar = git.run(&["archive", "--format=tar", &commit])?;
    let dest = tree.path().join("source");
    fs::create_dir(&dest).map_err(|e| FlakeError::Io {
        context: format!("cannot make '{}'", dest.display()),
        source: e,
    })?;
    tar::Archive::new(tar.as_slice())
        .unpack(&dest)
        .map_err(|e| FlakeError::Io {
            context: format!("cannot unpack commit {commit} of '{}'", repo.display()),
            source: e,
        })?;
    let info = store.add_path(&dest, Some("source"))?;
    Ok(Fetched {
        store_path: store.print(&info.path),
        nar_hash: info.nar_hash,
        rev: Some(commit),
        dirty_rev: None,
        last_modified,
        rev_count: Some(rev_count),
        dirty: false,
        warning: None,
    })
}

fn commit_time(git: &Git, commit: &str) -> Result<u64, FlakeError> {
    git.line(&["log", "-1", "--format=%ct", commit])?
        .parse::<u64>()
        .map_err(|_| FlakeError::Strata(format!("commit {commit} has no usable time")))
}

/// The tracked files of the working tree, as Nix takes a dirty repository.
fn fetch_dirty(store: &mut LocalStore, git: &Git, has_head: bool) -> Result<Fetched, FlakeError> {
    let listed = git.run(&["ls-files", "-z"])?;
    let mut keep: BTreeSet<PathBuf> = BTreeSet::new();
    for f in listed.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let rel = Path::new(std::ffi::OsStr::from_bytes(f));
        // Every directory on the way to a tracked file is kept too.
        for a in rel.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            keep.insert(git.repo.join(a));
        }
    }
    let mut filter = |p: &Path, _kind: &'static str| Ok(keep.contains(p));
    let info = store.add_path_filtered(&git.repo, "source", &mut filter)?;
    let (dirty_rev, last_modified) = if has_head {
        let head = git.line(&["rev-parse", "HEAD"])?;
        let t = commit_time(git, &head)?;
        (Some(format!("{head}-dirty")), t)
    } else {
        (None, 0)
    };
    Ok(Fetched {
        store_path: store.print(&info.path),
        nar_hash: info.nar_hash,
        rev: None,
        dirty_rev,
        last_modified,
        rev_count: None,
        dirty: true,
        warning: Some(format!("Git tree '{}' is dirty", git.repo.display())),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        let base = Path::new("/srv/flake");
        let r = FlakeRef::parse("git+file:///srv/repo?ref=main", base).unwrap();
        assert_eq!(
            r,
            FlakeRef::Git {
                repo: "/srv/repo".into(),
                git_ref: Some("main".into()),
                rev: None
            }
        );
        assert_eq!(r.to_string(), "git+file:///srv/repo?ref=main");
        assert_eq!(
            FlakeRef::parse("path:./data", base).unwrap(),
            FlakeRef::Path {
                path: "/srv/flake/data".into()
            }
        );
        // A bare path that is no git repository is a path: reference.
        let d = tempfile::tempdir().unwrap();
        let bare = FlakeRef::parse(".", d.path()).unwrap();
        assert!(matches!(bare, FlakeRef::Path { .. }), "{bare:?}");
        std::fs::create_dir(d.path().join(".git")).unwrap();
        let bare = FlakeRef::parse(".", d.path()).unwrap();
        assert!(matches!(bare, FlakeRef::Git { .. }), "{bare:?}");
        assert_eq!(
            FlakeRef::parse("../other/./x", base).unwrap(),
            FlakeRef::Path {
                path: "/srv/other/x".into()
            }
        );
        let back = FlakeRef::from_locked(&r.original()).unwrap();
        assert_eq!(back, r);
        let t = FlakeRef::parse("file:///srv/t.tar.xz", base).unwrap();
        assert_eq!(
            t,
            FlakeRef::Tarball {
                file: "/srv/t.tar.xz".into()
            }
        );
        assert_eq!(t.to_string(), "tarball+file:///srv/t.tar.xz");
        assert_eq!(FlakeRef::from_locked(&t.original()).unwrap(), t);
    }

    #[test]
    fn unsupported_references_say_why() {
        let base = Path::new("/");
        for (text, why) in [
            ("github:owner/repo", "input type `github'"),
            ("git+https://h/r", "local files only"),
            ("tarball+https://h/t.tar.gz", "local files only"),
            ("file:///x.txt", "input type `file'"),
            ("git+file://rel", "absolute path"),
            ("path:/x?rev=abc", "40-digit"),
            ("path:/x?dir=sub", "\"dir=sub\""),
        ] {
            let e = FlakeRef::parse(text, base).unwrap_err().to_string();
            assert!(e.contains(text) && e.contains(why), "{text}: {e}");
        }
    }
}
