//! Forges: `github:OWNER/REPO[/REF-OR-REV]` and `gitlab:...`, as Nix 2.8 fetches them. A
//! ref (by default `HEAD`) is resolved to a commit through the forge's API; the commit's
//! tarball is fetched and unpacked; the lock records `rev`, `narHash` and `lastModified` (the
//! time of the tarball's top directory, which the forge sets to the commit's).
//!
//! `?host=` names another host (an enterprise forge): its API is where Nix 2.8 looks for it
//! (`/api/v3` for GitHub, `/api/v4` for GitLab), always over https. No access tokens are sent.

use strata_store::LocalStore;

use super::{add_tree, is_rev, tarball, Fetched};
use crate::flake::FlakeError;

/// A forge Nix knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
}

/// Which repository, on which host.
pub(super) struct Repo<'a> {
    pub owner: &'a str,
    pub repo: &'a str,
    pub host: Option<&'a str>,
}

const GITHUB: &str = "github.com";
const GITLAB: &str = "gitlab.com";

impl Forge {
    pub(super) fn from_type(t: &str) -> Option<Forge> {
        match t {
            "github" => Some(Forge::GitHub),
            "gitlab" => Some(Forge::GitLab),
            _ => None,
        }
    }

    /// The lock's `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }

    /// The URL whose answer names the commit `git_ref` is.
    fn commit_url(self, r: &Repo<'_>, git_ref: &str) -> String {
        let Repo { owner, repo, host } = r;
        match (self, host) {
            (Forge::GitHub, None) => {
                format!("https://api.{GITHUB}/repos/{owner}/{repo}/commits/{git_ref}")
            }
            (Forge::GitHub, Some(h)) => {
                format!("https://{h}/api/v3/repos/{owner}/{repo}/commits/{git_ref}")
            }
            (Forge::GitLab, h) => format!(
                "https://{}/api/v4/projects/{owner}%2F{repo}/repository/commits?ref_name={git_ref}",
                h.unwrap_or(GITLAB)
            ),
        }
    }

    /// The URL of the tarball of commit `rev`.
    fn tarball_url(self, r: &Repo<'_>, rev: &str) -> String {
        let Repo { owner, repo, host } = r;
        match (self, host) {
            (Forge::GitHub, None) => {
                format!("https://{GITHUB}/{owner}/{repo}/archive/{rev}.tar.gz")
            }
            (Forge::GitHub, Some(h)) => {
                format!("https://{h}/api/v3/repos/{owner}/{repo}/tarball/{rev}")
            }
            (Forge::GitLab, h) => format!(
                "https://{}/api/v4/projects/{owner}%2F{repo}/repository/archive.tar.gz?sha={rev}",
                h.unwrap_or(GITLAB)
            ),
        }
    }

    /// The commit the API says `git_ref` is.
    fn resolve(self, r: &Repo<'_>, git_ref: &str) -> Result<String, FlakeError> {
        let url = self.commit_url(r, git_ref);
        let body = crate::fetch::fetch_bytes(&url)?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| FlakeError::Strata(format!("{url} did not answer with JSON: {e}")))?;
        let rev = match self {
            Forge::GitHub => json.get("sha"),
            Forge::GitLab => json.get(0).and_then(|c| c.get("id")),
        }
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            FlakeError::Strata(format!(
                "{url} names no commit for the ref `{git_ref}' (no {})",
                match self {
                    Forge::GitHub => "`sha'",
                    Forge::GitLab => "`id' of a first commit",
                }
            ))
        })?;
        if !is_rev(rev) {
            return Err(FlakeError::Strata(format!(
                "{url} names {rev:?} for the ref `{git_ref}', not a commit hash"
            )));
        }
        Ok(rev.to_owned())
    }

    pub(super) fn fetch(
        self,
        store: &mut LocalStore,
        r: Repo<'_>,
        git_ref: Option<&str>,
        rev: Option<&str>,
        expected: Option<&str>,
    ) -> Result<Fetched, FlakeError> {
        let rev = match rev {
            Some(c) => c.to_owned(),
            None => self.resolve(&r, git_ref.unwrap_or("HEAD"))?,
        };
        let url = self.tarball_url(&r, &rev);
        let u = tarball::download_and_unpack(store, &url)?;
        let shown = format!("{}:{}/{} (commit {rev})", self.type_name(), r.owner, r.repo);
        let info = add_tree(store, &u.top, &shown, expected)?;
        let mut f = Fetched::clean(store, &info, u.time);
        f.rev = Some(rev);
        Ok(f)
    }
}
