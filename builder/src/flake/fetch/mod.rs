//! Flake references, and fetching their trees into the store as Nix does.
//!
//! A reference is written as a URL (`path:DIR`, `git+file:///REPO?ref=R`,
//! `https://HOST/T.tar.gz`, `github:OWNER/REPO/REF`...), as a bare path (`.`, `../dir`, `/dir`),
//! or, in `flake.nix`, as a set of attributes (`{ type = "git"; url = ...; ref = ...; }`).
//! Every form may say where the flake is inside the tree (`dir`) and pin the tree's `narHash`.
//!
//! | kind | fetched as |
//! |---|---|
//! | `path` | the directory, copied whole (`builtins.path { name = "source"; }`) |
//! | `git` | the tree of one commit (`git archive`, no submodules) as `builtins.fetchGit` has it; a local working tree with uncommitted changes and no revision asked for gives its tracked files, with a warning ([`git`]) |
//! | `tarball` | the one directory the tarball holds (`builtins.fetchTarball`), from `file://`, `http://` or `https://` ([`tarball`]) |
//! | `github`, `gitlab` | the forge's tarball of a commit, the ref resolved through its API ([`forge`]) |
//!
//! Each tree lands in a store path named `source`, so its store path and NAR hash are Nix's.
//! A tree that must have a `narHash` is hashed before it is added: a mismatch adds nothing. A
//! commit's tree (and a downloaded tarball) already in the store under its locked `narHash`
//! is not fetched again, so a locked flake builds offline.
//!
//! Must not: run git with the caller's git settings (see [`git`]), or follow a flake registry
//! (references name their source in full).

mod forge;
mod git;
mod tarball;

use std::path::{Path, PathBuf};

use strata_store::{Hash, HashAlgo, LocalStore};

use super::lock::LockedRef;
use super::FlakeError;

pub use forge::Forge;

/// Where a flake or an input comes from, as written in `inputs.<name>.url`, an input's
/// attributes, `--flake`, or a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlakeRef {
    pub kind: RefKind,
    /// Where `flake.nix` is inside the tree (`?dir=`).
    pub dir: Option<String>,
    /// The NAR hash the tree must have (`?narHash=`, or a lock's `narHash`), in SRI form.
    pub nar_hash: Option<String>,
    /// A lock's `lastModified`, for a tree taken from the store without fetching.
    pub last_modified: Option<u64>,
    /// A lock's `revCount`, likewise.
    pub rev_count: Option<u64>,
}

/// The kind of source a [`FlakeRef`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind {
    /// `path:DIR`: a directory, copied whole.
    Path { path: PathBuf },
    /// `tarball+URL`, or a `file://`, `http://` or `https://` URL with a tarball's ending:
    /// the one directory the tarball holds. `url` is Nix's `url` attribute: the URL with
    /// its query, `narHash` taken out.
    Tarball { url: String },
    /// `git+file://`, `git+http://`, `git+https://`: a commit of a git repository. `url` is
    /// Nix's `url` attribute (without `git+`; a `?dir=` of the reference stays in it, as Nix
    /// 2.8 keeps it).
    Git {
        url: String,
        git_ref: Option<String>,
        rev: Option<String>,
    },
    /// `github:OWNER/REPO[/REF-OR-REV]`, `gitlab:...`: a commit's tarball from a forge.
    Forge {
        forge: Forge,
        owner: String,
        repo: String,
        git_ref: Option<String>,
        rev: Option<String>,
        /// `?host=`: another host than the forge's own.
        host: Option<String>,
    },
}

/// The names Nix takes a `file://` or `http(s)://` URL to be a tarball by.
const TARBALL_ENDINGS: [&str; 5] = [".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst"];

/// `s` with `%XX` escapes decoded (and `+` left alone, as Nix leaves it).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parameters of a query, in order, values decoded.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), percent_decode(v)),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

pub(super) fn is_rev(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
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

/// Why a flake reference cannot be used, said in [`FlakeError::BadRef`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RefWhy(String);

impl From<&str> for RefWhy {
    fn from(s: &str) -> RefWhy {
        RefWhy(s.to_owned())
    }
}

impl From<String> for RefWhy {
    fn from(s: String) -> RefWhy {
        RefWhy(s)
    }
}

/// A `dir` as Nix keeps it: no leading or trailing `/`, none when empty.
fn clean_dir(dir: &str) -> Result<Option<String>, RefWhy> {
    let d = dir.trim_matches('/');
    if d.split('/').any(|c| c == "..") {
        return Err(RefWhy(format!("`dir' {dir:?} leaves the tree")));
    }
    Ok((!d.is_empty()).then(|| d.to_owned()))
}

/// The parameters every kind takes: `dir`, `narHash`, and a lock's `lastModified` and
/// `revCount`.
#[derive(Default)]
struct Common {
    dir: Option<String>,
    nar_hash: Option<String>,
    last_modified: Option<u64>,
    rev_count: Option<u64>,
}

impl Common {
    /// Takes `key=value` if it is a common parameter; `Ok(false)` when it is not.
    fn take(&mut self, key: &str, value: &str) -> Result<bool, RefWhy> {
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("`{key}' is not a number: {v:?}"))
        };
        match key {
            "dir" => self.dir = clean_dir(value)?,
            "narHash" => self.nar_hash = Some(sri(value)?),
            "lastModified" => self.last_modified = Some(number(value)?),
            "revCount" => self.rev_count = Some(number(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn with(self, kind: RefKind) -> FlakeRef {
        FlakeRef {
            kind,
            dir: self.dir,
            nar_hash: self.nar_hash,
            last_modified: self.last_modified,
            rev_count: self.rev_count,
        }
    }
}

/// A `narHash` in SRI form (any form Nix accepts is taken); only sha256.
fn sri(text: &str) -> Result<String, RefWhy> {
    Hash::parse(text, Some(HashAlgo::Sha256))
        .map(|h| h.to_sri())
        .map_err(|e| RefWhy(format!("`narHash' {text:?} is not a sha256 hash: {e}")))
}

impl FlakeRef {
    /// A reference of kind `kind` with no other attributes.
    pub fn of(kind: RefKind) -> FlakeRef {
        Common::default().with(kind)
    }

    /// Parses `text`; a relative path (in `path:` or bare) is taken relative to `base`. A bare
    /// path (`.`, `./dir`, `/dir`) inside a git repository is a `git+file:` reference to that
    /// repository (with `dir` the way from its top), else a `path:` one, as Nix takes it.
    pub fn parse(text: &str, base: &Path) -> Result<FlakeRef, FlakeError> {
        let bad = |why: String| FlakeError::BadRef {
            reference: text.to_owned(),
            why,
        };
        let (body, query) = match text.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (text, None),
        };
        let pairs = query_pairs(query);
        let scheme = body.split_once(':').map(|(s, _)| s).filter(|s| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        let Some(scheme) = scheme else {
            return Self::parse_bare(body, &pairs, base).map_err(|w| bad(w.0));
        };
        let rest = &body[scheme.len() + 1..];
        Self::parse_url(scheme, rest, query, &pairs, base).map_err(|w| bad(w.0))
    }

    fn parse_bare(body: &str, pairs: &[(String, String)], base: &Path) -> Result<FlakeRef, RefWhy> {
        if !(body.starts_with('/') || body.starts_with('.')) {
            return Err(RefWhy(format!(
                "`{body}' is not a path or a URL (flake registry names are not supported: \
                 give the flake's URL, e.g. github:OWNER/REPO or path:DIR)"
            )));
        }
        let mut common = Common::default();
        for (k, v) in pairs {
            if !common.take(k, v)? {
                return Err(RefWhy(format!(
                    "the parameter `{k}' does not apply to a path"
                )));
            }
        }
        let path = normalise(&base.join(body));
        // The repository the path is in, if any: its top and the way down from it.
        let mut top = path.as_path();
        let mut down: Vec<&std::ffi::OsStr> = Vec::new();
        loop {
            if top.join(".git").exists() {
                let mut dir: Vec<String> = down
                    .iter()
                    .rev()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                dir.extend(common.dir.take());
                common.dir = clean_dir(&dir.join("/"))?;
                let mut url = format!("file://{}", top.display());
                if let Some(d) = &common.dir {
                    url += &format!("?dir={d}");
                }
                return Ok(common.with(RefKind::Git {
                    url,
                    git_ref: None,
                    rev: None,
                }));
            }
            match (top.parent(), top.file_name()) {
                (Some(p), Some(name)) => {
                    down.push(name);
                    top = p;
                }
                _ => break,
            }
        }
        Ok(common.with(RefKind::Path { path }))
    }

    fn parse_url(
        scheme: &str,
        rest: &str,
        query: Option<&str>,
        pairs: &[(String, String)],
        base: &Path,
    ) -> Result<FlakeRef, RefWhy> {
        let mut common = Common::default();
        match scheme {
            "path" => {
                for (k, v) in pairs {
                    if !common.take(k, v)? {
                        return Err(RefWhy(format!(
                            "the parameter `{k}' does not apply to a path"
                        )));
                    }
                }
                let path = normalise(&base.join(percent_decode(rest)));
                Ok(common.with(RefKind::Path { path }))
            }
            "git+file" | "git+http" | "git+https" => {
                let (mut git_ref, mut rev) = (None, None);
                let mut kept = Vec::new();
                for (k, v) in pairs {
                    match k.as_str() {
                        "ref" if !v.is_empty() => git_ref = Some(v.clone()),
                        "rev" if is_rev(v) => rev = Some(v.clone()),
                        "rev" => return Err(RefWhy("`rev' is not a 40-digit commit hash".into())),
                        _ if common.take(k, v)? => {
                            if k == "dir" {
                                kept.push(format!("dir={v}"));
                            }
                        }
                        _ => {
                            return Err(RefWhy(format!(
                                "the parameter `{k}' is not supported for git (strata knows \
                                 `ref', `rev', `dir' and `narHash')"
                            )))
                        }
                    }
                }
                let transport = &scheme[4..];
                let mut url = format!("{transport}:{rest}");
                check_git_url(&url)?;
                if !kept.is_empty() {
                    url = format!("{url}?{}", kept.join("&"));
                }
                Ok(common.with(RefKind::Git { url, git_ref, rev }))
            }
            "tarball+file" | "tarball+http" | "tarball+https" | "file" | "http" | "https" => {
                let transport = scheme.strip_prefix("tarball+").unwrap_or(scheme);
                if transport == scheme && !TARBALL_ENDINGS.iter().any(|e| rest.ends_with(e)) {
                    return Err(RefWhy(format!(
                        "a {scheme}: URL is taken for a tarball when its name ends in one of {} \
                         (write tarball+{scheme}: for a tarball by another name)",
                        TARBALL_ENDINGS.join(" ")
                    )));
                }
                if !rest.starts_with("//") {
                    return Err(RefWhy(format!(
                        "a {transport}: URL starts with {transport}://"
                    )));
                }
                if transport == "file" && !rest[2..].starts_with('/') {
                    return Err(RefWhy(
                        "a file: URL names an absolute path (file:///...)".into(),
                    ));
                }
                // The query stays in the URL (a server may need it), but for narHash.
                let mut kept = Vec::new();
                for raw in query.into_iter().flat_map(|q| q.split('&')) {
                    let Some((k, v)) = query_pairs(Some(raw)).pop() else {
                        continue;
                    };
                    if !common.take(&k, &v)? || k != "narHash" {
                        kept.push(raw);
                    }
                }
                let mut url = format!("{transport}:{rest}");
                if !kept.is_empty() {
                    url = format!("{url}?{}", kept.join("&"));
                }
                Ok(common.with(RefKind::Tarball { url }))
            }
            "github" | "gitlab" => {
                let forge = Forge::from_type(scheme).ok_or("no such forge")?;
                let parts: Vec<&str> = rest.split('/').collect();
                let (owner, repo, third) = match parts.as_slice() {
                    [o, r] => (*o, *r, None),
                    [o, r, t] => (*o, *r, Some(*t)),
                    _ => {
                        return Err(RefWhy(format!(
                            "a {scheme}: reference is {scheme}:OWNER/REPO or \
                             {scheme}:OWNER/REPO/REF-OR-REV"
                        )))
                    }
                };
                if owner.is_empty() || repo.is_empty() || third == Some("") {
                    return Err(RefWhy(format!(
                        "{scheme}: with an empty owner, repository or ref"
                    )));
                }
                let (mut git_ref, mut rev) = match third {
                    Some(t) if is_rev(t) => (None, Some(t.to_owned())),
                    Some(t) => (Some(t.to_owned()), None),
                    None => (None, None),
                };
                let mut host = None;
                for (k, v) in pairs {
                    let twice = || format!("the {k} is given twice (in the path and as `?{k}=')");
                    match k.as_str() {
                        "ref" if git_ref.is_some() || rev.is_some() => return Err(twice().into()),
                        "rev" if git_ref.is_some() || rev.is_some() => return Err(twice().into()),
                        "ref" => git_ref = Some(v.clone()),
                        "rev" if is_rev(v) => rev = Some(v.clone()),
                        "rev" => return Err(RefWhy("`rev' is not a 40-digit commit hash".into())),
                        "host" if !v.is_empty() => host = Some(v.clone()),
                        _ if common.take(k, v)? => {}
                        _ => {
                            return Err(RefWhy(format!(
                                "the parameter `{k}' is not supported for {scheme} (strata \
                                 knows `ref', `rev', `host', `dir' and `narHash')"
                            )))
                        }
                    }
                }
                Ok(common.with(RefKind::Forge {
                    forge,
                    owner: percent_decode(owner),
                    repo: percent_decode(repo),
                    git_ref,
                    rev,
                    host,
                }))
            }
            "flake" => Err(RefWhy(
                "flake registry names are not supported: give the flake's URL".into(),
            )),
            "sourcehut" => Err(RefWhy(
                "sourcehut: inputs are not supported yet (github: and gitlab: are; \
                 git+https:// reaches any repository)"
                    .into(),
            )),
            other => Err(RefWhy(format!(
                "the input type `{other}' is not supported (strata fetches path:, git+file:, \
                 git+http(s):, tarball URLs, github: and gitlab:)"
            ))),
        }
    }

    /// The reference an input's attributes (`{ type = "git"; url = ...; }`) or a lock's
    /// `locked`/`original` describe. A relative `path` is taken relative to `base` (a lock's
    /// paths are absolute).
    pub fn from_attrs(l: &LockedRef, base: &Path) -> Result<FlakeRef, FlakeError> {
        let shown = || {
            let what = l
                .url
                .clone()
                .or_else(|| l.path.clone())
                .or_else(|| Some(format!("{}/{}", l.owner.as_deref()?, l.repo.as_deref()?)))
                .unwrap_or_else(|| "(nothing named)".into());
            format!("{{ type = {:?}; {what} }}", l.kind)
        };
        let bad = |why: String| FlakeError::BadRef {
            reference: shown(),
            why,
        };
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .ok_or_else(|| bad(format!("a {} input has `{name}'", l.kind)))
        };
        let allowed = |names: &[&str]| -> Result<(), FlakeError> {
            let given = [
                ("url", l.url.is_some()),
                ("path", l.path.is_some()),
                ("ref", l.git_ref.is_some()),
                ("rev", l.rev.is_some()),
                ("owner", l.owner.is_some()),
                ("repo", l.repo.is_some()),
                ("host", l.host.is_some()),
            ];
            match given.iter().find(|(n, g)| *g && !names.contains(n)) {
                Some((n, _)) => Err(bad(format!("`{n}' does not apply to a {} input", l.kind))),
                None => Ok(()),
            }
        };
        if let Some(r) = &l.rev {
            if !is_rev(r) {
                return Err(bad("`rev' is not a 40-digit commit hash".into()));
            }
        }
        let kind = match l.kind.as_str() {
            "path" => {
                allowed(&["path", "rev"])?;
                let p = need(&l.path, "path")?;
                RefKind::Path {
                    path: normalise(&base.join(p)),
                }
            }
            "tarball" => {
                allowed(&["url"])?;
                let url = need(&l.url, "url")?;
                match url.split_once("://") {
                    Some(("file" | "http" | "https", _)) => RefKind::Tarball { url },
                    _ => return Err(bad("a tarball's url is file://, http:// or https://".into())),
                }
            }
            "git" => {
                allowed(&["url", "ref", "rev"])?;
                let url = need(&l.url, "url")?;
                check_git_url(&url).map_err(|w| bad(w.0))?;
                RefKind::Git {
                    url,
                    git_ref: l.git_ref.clone(),
                    rev: l.rev.clone(),
                }
            }
            t @ ("github" | "gitlab") => {
                allowed(&["owner", "repo", "ref", "rev", "host"])?;
                RefKind::Forge {
                    forge: Forge::from_type(t).ok_or_else(|| bad("no such forge".into()))?,
                    owner: need(&l.owner, "owner")?,
                    repo: need(&l.repo, "repo")?,
                    git_ref: l.git_ref.clone(),
                    rev: l.rev.clone(),
                    host: l.host.clone(),
                }
            }
            other => {
                return Err(bad(format!(
                    "the input type `{other}' is not supported (strata knows path, git, \
                     tarball, github and gitlab)"
                )))
            }
        };
        Ok(FlakeRef {
            kind,
            dir: l
                .dir
                .as_deref()
                .map(clean_dir)
                .transpose()
                .map_err(|w| bad(w.0))?
                .flatten(),
            nar_hash: l
                .nar_hash
                .as_deref()
                .map(sri)
                .transpose()
                .map_err(|w| bad(w.0))?,
            last_modified: l.last_modified,
            rev_count: l.rev_count,
        })
    }

    /// The reference a lock's `locked` (or `original`) attributes describe.
    pub fn from_locked(l: &LockedRef) -> Result<FlakeRef, FlakeError> {
        Self::from_attrs(l, Path::new("/"))
    }

    /// The reference as a flake.lock's `original` attributes.
    pub fn original(&self) -> LockedRef {
        let mut l = LockedRef {
            dir: self.dir.clone(),
            nar_hash: self.nar_hash.clone(),
            ..Default::default()
        };
        match &self.kind {
            RefKind::Path { path } => {
                l.kind = "path".into();
                l.path = Some(path.display().to_string());
            }
            RefKind::Tarball { url } => {
                l.kind = "tarball".into();
                l.url = Some(url.clone());
            }
            RefKind::Git { url, git_ref, rev } => {
                l.kind = "git".into();
                l.url = Some(url.clone());
                l.git_ref = git_ref.clone();
                l.rev = rev.clone();
            }
            RefKind::Forge {
                forge,
                owner,
                repo,
                git_ref,
                rev,
                host,
            } => {
                l.kind = forge.type_name().into();
                l.owner = Some(owner.clone());
                l.repo = Some(repo.clone());
                l.git_ref = git_ref.clone();
                l.rev = rev.clone();
                l.host = host.clone();
            }
        }
        l
    }

    /// The local directory of a `path:` reference, or of a `git+file:` one to a repository
    /// with a working tree (the top of its tree), where its `flake.lock` is written.
    pub fn local_tree(&self) -> Option<PathBuf> {
        match &self.kind {
            RefKind::Path { path } => Some(path.clone()),
            RefKind::Git { url, .. } => git::local_repo(url).filter(|r| r.join(".git").exists()),
            _ => None,
        }
    }

    /// The commit the reference asks for.
    pub fn rev(&self) -> Option<&str> {
        match &self.kind {
            RefKind::Git { rev, .. } | RefKind::Forge { rev, .. } => rev.as_deref(),
            _ => None,
        }
    }
}

/// A git URL strata can fetch: `file:///ABS`, `http://...`, `https://...`.
fn check_git_url(url: &str) -> Result<(), RefWhy> {
    match url.split_once("://") {
        Some(("file", p)) if p.starts_with('/') => Ok(()),
        Some(("file", _)) => Err(RefWhy("a git+file: URL names an absolute path".into())),
        Some(("http" | "https", h)) if !h.is_empty() && !h.starts_with('/') => Ok(()),
        _ => Err(RefWhy(format!(
            "the git URL {url:?} is not file:///PATH, http://HOST/... or https://HOST/..."
        ))),
    }
}

impl std::fmt::Display for FlakeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut params: Vec<(&str, &str)> = Vec::new();
        // The query a URL already has (Nix 2.8 keeps a git URL's `?dir=` in it).
        let mut query = None;
        match &self.kind {
            RefKind::Path { path } => write!(f, "path:{}", path.display())?,
            RefKind::Tarball { url } => {
                query = Some(url.split_once('?').map(|(_, q)| q));
                write!(f, "tarball+{url}")?;
            }
            RefKind::Git { url, git_ref, rev } => {
                query = Some(url.split_once('?').map(|(_, q)| q));
                write!(f, "git+{url}")?;
                params.extend(git_ref.as_deref().map(|r| ("ref", r)));
                params.extend(rev.as_deref().map(|r| ("rev", r)));
            }
            RefKind::Forge {
                forge,
                owner,
                repo,
                git_ref,
                rev,
                host,
            } => {
                write!(f, "{}:{owner}/{repo}", forge.type_name())?;
                if let Some(r) = rev.as_deref().or(git_ref.as_deref()) {
                    write!(f, "/{r}")?;
                }
                params.extend(host.as_deref().map(|h| ("host", h)));
            }
        }
        let query = query.flatten();
        if !query_pairs(query).iter().any(|(k, _)| k == "dir") {
            params.extend(self.dir.as_deref().map(|d| ("dir", d)));
        }
        params.extend(self.nar_hash.as_deref().map(|h| ("narHash", h)));
        let mut sep = if query.is_some() { '&' } else { '?' };
        for (k, v) in params {
            write!(f, "{sep}{k}={v}")?;
            sep = '&';
        }
        Ok(())
    }
}

/// A fetched tree: Nix's `sourceInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The store path, printed (`/nix/store/...-source`).
    pub store_path: String,
    pub nar_hash: Hash,
    /// The commit (git, clean tree; a forge).
    pub rev: Option<String>,
    /// The commit with `-dirty` (git, a working tree with uncommitted changes).
    pub dirty_rev: Option<String>,
    /// Seconds since the epoch: the commit's time (git, a forge), the newest modification
    /// (path), the top directory's time (a local tarball).
    pub last_modified: u64,
    /// How many commits lead to `rev` (git).
    pub rev_count: Option<u64>,
    /// The branch a git reference without `ref` took (the repository's `HEAD`), which the
    /// lock records as Nix does.
    pub git_ref: Option<String>,
    /// A git working tree with uncommitted changes (or no commit yet): not a pin.
    pub dirty: bool,
    /// Said once, on standard error, by the caller (a dirty tree).
    pub warning: Option<String>,
}

impl Fetched {
    fn clean(store: &LocalStore, info: &strata_store::PathInfo, last_modified: u64) -> Fetched {
        Fetched {
            store_path: store.print(&info.path),
            nar_hash: info.nar_hash.clone(),
            rev: None,
            dirty_rev: None,
            last_modified,
            rev_count: None,
            git_ref: None,
            dirty: false,
            warning: None,
        }
    }
}

/// Fetches `r` into `store` (see the module documentation).
pub fn fetch(store: &mut LocalStore, r: &FlakeRef) -> Result<Fetched, FlakeError> {
    if let Some(f) = already_stored(store, r)? {
        return Ok(f);
    }
    let expected = r.nar_hash.as_deref();
    let mut f = match &r.kind {
        RefKind::Path { path } => fetch_path(store, path, expected)?,
        RefKind::Tarball { url } => tarball::fetch(store, url, expected)?,
        RefKind::Git { url, git_ref, rev } => {
            git::fetch(store, url, git_ref.as_deref(), rev.as_deref(), expected)?
        }
        RefKind::Forge {
            forge,
            owner,
            repo,
            git_ref,
            rev,
            host,
        } => forge.fetch(
            store,
            forge::Repo {
                owner,
                repo,
                host: host.as_deref(),
            },
            git_ref.as_deref(),
            rev.as_deref(),
            expected,
        )?,
    };
    if f.dirty {
        // Uncommitted changes are never what a lock pinned.
        if let Some(want) = expected {
            return Err(FlakeError::HashMismatch {
                reference: r.to_string(),
                expected: want.to_owned(),
                got: f.nar_hash.to_sri(),
            });
        }
    }
    if f.rev_count.is_none() {
        f.rev_count = r.rev_count.filter(|_| f.rev.is_some());
    }
    Ok(f)
}

/// The tree of `r` when it is immutable (a commit; a downloaded tarball pinned by its hash),
/// its `narHash` is known and its store path is valid: nothing is fetched.
fn already_stored(store: &LocalStore, r: &FlakeRef) -> Result<Option<Fetched>, FlakeError> {
    let Some(nar) = &r.nar_hash else {
        return Ok(None);
    };
    let immutable = match &r.kind {
        RefKind::Git { rev, .. } | RefKind::Forge { rev, .. } => rev.is_some(),
        RefKind::Tarball { url } => !url.starts_with("file:"),
        RefKind::Path { .. } => false,
    };
    if !immutable {
        return Ok(None);
    }
    let hash = Hash::parse(nar, Some(HashAlgo::Sha256)).map_err(|e| FlakeError::BadRef {
        reference: r.to_string(),
        why: e.to_string(),
    })?;
    let path = store
        .store_dir()
        .make_fixed_output_path("source", true, &hash)
        .map_err(strata_store::StoreError::from)?;
    let Some(info) = store.path_info(&path)? else {
        return Ok(None);
    };
    if info.nar_hash != hash {
        return Ok(None);
    }
    let mut f = Fetched::clean(store, &info, r.last_modified.unwrap_or(0));
    f.rev = r.rev().map(str::to_owned);
    f.rev_count = r.rev_count;
    Ok(Some(f))
}

/// Adds the tree at `dir` to the store as `source`; when it must have the NAR hash
/// `expected`, it is hashed first and a mismatch adds nothing.
fn add_tree(
    store: &mut LocalStore,
    dir: &Path,
    shown: &str,
    expected: Option<&str>,
) -> Result<strata_store::PathInfo, FlakeError> {
    if let Some(want) = expected {
        let (got, _) = strata_store::nar::hash_path(dir, HashAlgo::Sha256)
            .map_err(|e| FlakeError::Strata(format!("cannot hash the tree of {shown}: {e}")))?;
        if got.to_sri() != want {
            return Err(FlakeError::HashMismatch {
                reference: shown.to_owned(),
                expected: want.to_owned(),
                got: got.to_sri(),
            });
        }
    }
    Ok(store.add_path(dir, Some("source"))?)
}

/// A temporary directory for a fetch (under the system's temporary directory).
fn scratch(what: &str) -> Result<tempfile::TempDir, FlakeError> {
    tempfile::Builder::new()
        .prefix(&format!("strata-{what}-"))
        .tempdir()
        .map_err(|e| FlakeError::Io {
            context: format!("cannot make a directory for a {what}"),
            source: e,
        })
}

fn fetch_path(
    store: &mut LocalStore,
    path: &Path,
    expected: Option<&str>,
) -> Result<Fetched, FlakeError> {
    let meta = std::fs::metadata(path).map_err(|e| FlakeError::Io {
        context: format!("cannot read the flake input '{}'", path.display()),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(FlakeError::Strata(format!(
            "the path input '{}' is not a directory",
            path.display()
        )));
    }
    let shown = format!("path:{}", path.display());
    let info = add_tree(store, path, &shown, expected)?;
    Ok(Fetched::clean(store, &info, newest_mtime(path)))
}

/// The newest modification time in the tree at `path` (links not followed).
fn newest_mtime(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut newest = 0;
    let mut todo = vec![path.to_owned()];
    while let Some(p) = todo.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        newest = newest.max(u64::try_from(m.mtime()).unwrap_or(0));
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                todo.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
    }
    newest
}

#[cfg(test)]
mod tests;
