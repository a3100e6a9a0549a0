//! Git trees: a commit's tree as `git archive` writes it (no submodules), as
//! `builtins.fetchGit` fetches it.
//!
//! A local repository (`file://`) is read in place; a working tree with uncommitted changes,
//! when no `ref` or `rev` is asked for, gives its tracked files, with a warning. A remote one
//! (`http://`, `https://`) is fetched into a temporary bare repository: the asked `ref` (by
//! default the branch the remote's `HEAD` names; Nix 2.8 takes `master`, which fails for
//! repositories whose default branch is another), or, for a `rev`, the remote's branches and
//! tags until the commit is found.
//!
//! `git` runs with an environment of strata's own (`GIT_CONFIG_NOSYSTEM=1`, `HOME` an empty
//! directory, no `GIT_*` variables of the caller, no terminal prompt), so the host's git
//! settings cannot change which tree is fetched; the CA bundle Nix's variables name
//! (`NIX_SSL_CERT_FILE`, else `SSL_CERT_FILE`) is git's too.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_store::LocalStore;

use super::{add_tree, is_rev, scratch, Fetched};
use crate::flake::FlakeError;

/// The repository of a `file://` git URL (its query left out).
pub(super) fn local_repo(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("file://")?;
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    Some(PathBuf::from(super::percent_decode(path)))
}

/// `git` with an environment of strata's own (see the module documentation).
struct Git {
    repo: PathBuf,
    home: tempfile::TempDir,
}

impl Git {
    fn new(repo: &Path) -> Result<Git, FlakeError> {
        Ok(Git {
            repo: repo.to_owned(),
            home: scratch("git-home")?,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        let ca = ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE"]
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()));
        if let Some(ca) = ca {
            c.env("GIT_SSL_CAINFO", ca);
        }
        for v in [
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
        ] {
            if let Some(x) = std::env::var_os(v) {
                c.env(v, x);
            }
        }
        c.arg("-C").arg(&self.repo).args(args);
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

    /// Whether `rev` is a commit this repository has.
    fn has_commit(&self, rev: &str) -> bool {
        self.run(&["cat-file", "-e", &format!("{rev}^{{commit}}")])
            .is_ok()
    }
}

/// Fetches the tree of `url` (`file://`, `http://`, `https://`; a query left out).
pub(super) fn fetch(
    store: &mut LocalStore,
    url: &str,
    git_ref: Option<&str>,
    rev: Option<&str>,
    expected: Option<&str>,
) -> Result<Fetched, FlakeError> {
    match local_repo(url) {
        Some(repo) => fetch_local(store, &repo, git_ref, rev, expected),
        None => {
            let bare = url.split_once('?').map_or(url, |(u, _)| u);
            fetch_remote(store, bare, git_ref, rev, expected)
        }
    }
}

fn fetch_local(
    store: &mut LocalStore,
    repo: &Path,
    git_ref: Option<&str>,
    rev: Option<&str>,
    expected: Option<&str>,
) -> Result<Fetched, FlakeError> {
    if !repo.is_dir() {
        return Err(FlakeError::Strata(format!(
            "the git repository '{}' does not exist",
            repo.display()
        )));
    }
    let git = Git::new(repo)?;
    let bare = git.line(&["rev-parse", "--is-bare-repository"])? == "true";
    if !bare {
        let top = git.line(&["rev-parse", "--show-toplevel"])?;
        if Path::new(&top) != repo.canonicalize().unwrap_or_else(|_| repo.to_owned()) {
            return Err(FlakeError::Strata(format!(
                "'{}' is not the top of a git repository (that is '{top}')",
                repo.display()
            )));
        }
    }
    let has_head = git.run(&["rev-parse", "--verify", "-q", "HEAD"]).is_ok();
    if rev.is_none() && git_ref.is_none() && !bare {
        let status = git.run(&["status", "--porcelain", "--untracked-files=no"])?;
        if !status.is_empty() || !has_head {
            return fetch_dirty(store, &git, has_head);
        }
    }
    let wanted = rev.or(git_ref).unwrap_or("HEAD");
    let commit = git
        .line(&[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{wanted}^{{commit}}"),
        ])
        .map_err(|_| {
            FlakeError::Strata(format!(
                "'{}' has no commit or ref {wanted}",
                repo.display()
            ))
        })?;
    if let Some(r) = rev {
        if commit != r {
            return Err(FlakeError::Strata(format!(
                "'{}' has no commit {r}",
                repo.display()
            )));
        }
    }
    let mut f = commit_tree(
        store,
        &git,
        &commit,
        &format!("git+file://{}", repo.display()),
        expected,
    )?;
    if rev.is_none() && git_ref.is_none() {
        f.git_ref = Some(git.line(&["rev-parse", "--abbrev-ref", "HEAD"])?);
    }
    Ok(f)
}

fn fetch_remote(
    store: &mut LocalStore,
    url: &str,
    git_ref: Option<&str>,
    rev: Option<&str>,
    expected: Option<&str>,
) -> Result<Fetched, FlakeError> {
    let dir = scratch("git-fetch")?;
    let git = Git::new(dir.path())?;
    git.run(&["init", "-q", "--bare"])?;
    let shown = format!("git+{url}");
    let unreachable = |e: FlakeError| match e {
        FlakeError::Git {
            command, stderr, ..
        } => FlakeError::Strata(format!(
            "cannot fetch {shown} (git {}): {stderr}",
            command.split(' ').next().unwrap_or_default()
        )),
        other => other,
    };
    // The branch to take when neither ref nor rev is given: the one HEAD names.
    let default_ref = if git_ref.is_none() && rev.is_none() {
        let out = git
            .line(&["ls-remote", "--symref", url, "HEAD"])
            .map_err(unreachable)?;
        let head = out
            .lines()
            .find_map(|l| l.strip_prefix("ref: ")?.strip_suffix("\tHEAD"))
            .ok_or_else(|| {
                FlakeError::Strata(format!(
                    "{shown} does not say which branch its HEAD is (give ?ref=BRANCH)"
                ))
            })?;
        Some(head.strip_prefix("refs/heads/").unwrap_or(head).to_owned())
    } else {
        None
    };
    // The ref `r` fetched as `refs/strata/wanted`.
    let fetch_ref = |r: &str| {
        git.run(&[
            "fetch",
            "-q",
            "--no-tags",
            url,
            &format!("+{r}:refs/strata/wanted"),
        ])
        .map(drop)
        .map_err(unreachable)
    };
    let commit = match (rev, git_ref.or(default_ref.as_deref())) {
        (None, Some(r)) => {
            fetch_ref(r)?;
            git.line(&["rev-parse", "refs/strata/wanted^{commit}"])?
        }
        (Some(c), r) => {
            if let Some(r) = r {
                fetch_ref(r)?;
            }
            if !git.has_commit(c) {
                git.run(&[
                    "fetch",
                    "-q",
                    url,
                    "+refs/heads/*:refs/strata/heads/*",
                    "+refs/tags/*:refs/tags/*",
                ])
                .map_err(unreachable)?;
            }
            if !git.has_commit(c) {
                // A server that hands out commits by hash.
                let _ = git.run(&["fetch", "-q", "--no-tags", url, c]);
            }
            if !git.has_commit(c) {
                return Err(FlakeError::Strata(format!("{shown} has no commit {c}")));
            }
            c.to_owned()
        }
        (None, None) => {
            return Err(FlakeError::Strata(format!(
                "{shown}: no ref to fetch (give ?ref=BRANCH)"
            )))
        }
    };
    let mut f = commit_tree(store, &git, &commit, &shown, expected)?;
    f.git_ref = default_ref;
    Ok(f)
}

/// The tree of `commit` added to the store, with its time and count of commits.
fn commit_tree(
    store: &mut LocalStore,
    git: &Git,
    commit: &str,
    shown: &str,
    expected: Option<&str>,
) -> Result<Fetched, FlakeError> {
    debug_assert!(is_rev(commit), "{commit}");
    let last_modified = commit_time(git, commit)?;
    let rev_count = git
        .line(&["rev-list", "--count", commit])?
        .parse::<u64>()
        .map_err(|_| FlakeError::Strata("`git rev-list --count` printed no number".into()))?;
    let tree = scratch("git-tree")?;
    let tar = git.run(&["archive", "--format=tar", commit])?;
    let dest = tree.path().join("source");
    std::fs::create_dir(&dest).map_err(|e| FlakeError::Io {
        context: format!("cannot make '{}'", dest.display()),
        source: e,
    })?;
    tar::Archive::new(tar.as_slice())
        .unpack(&dest)
        .map_err(|e| FlakeError::Io {
            context: format!("cannot unpack commit {commit} of {shown}"),
            source: e,
        })?;
    let info = add_tree(
        store,
        &dest,
        &format!("{shown} (commit {commit})"),
        expected,
    )?;
    let mut f = Fetched::clean(store, &info, last_modified);
    f.rev = Some(commit.to_owned());
    f.rev_count = Some(rev_count);
    Ok(f)
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
    let mut f = Fetched::clean(store, &info, last_modified);
    f.dirty_rev = dirty_rev;
    f.dirty = true;
    f.warning = Some(format!("Git tree '{}' is dirty", git.repo.display()));
    Ok(f)
}
