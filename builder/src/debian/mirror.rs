//! THE rule for where the Debian archive is: the caller's flag (`--mirror URL`), else the
//! `STRATA_DEBIAN_MIRROR` environment variable, else the first `deb` entry with the `main`
//! component in the host's apt sources ([`super::apt_sources::find_debian_archive`]). Every
//! command that needs the archive's address (`strata build` and the commands built on it,
//! `strata realise`, `strata lock`) asks here, so they agree.
//!
//! Must not: fetch anything, or build an address in.

use std::path::Path;

use super::apt_sources::{find_debian_archive, AptSource, SourcesError};

/// The environment variable that names the archive's base URL when no flag does.
pub const MIRROR_ENV: &str = "STRATA_DEBIAN_MIRROR";

/// The architecture strata builds for; apt entries restricted to others are skipped.
pub const HOST_ARCH: &str = "amd64";

/// The base URL given explicitly: `flag`, else `$STRATA_DEBIAN_MIRROR`; blank values count as
/// absent. The apt sources are not read.
pub fn explicit_mirror(flag: Option<&str>) -> Option<String> {
    let env = std::env::var(MIRROR_ENV)
        .ok()
        .filter(|m| !m.trim().is_empty());
    flag.filter(|m| !m.trim().is_empty())
        .map(str::to_owned)
        .or(env)
}

/// The archive's base URL (no trailing `/`): `flag`, else `$STRATA_DEBIAN_MIRROR`, else the
/// apt sources under `apt_root` (`/` for the host) for `arch`. `Ok(None)` when none names one.
pub fn debian_mirror(
    flag: Option<&str>,
    arch: &str,
    apt_root: &Path,
) -> Result<Option<String>, SourcesError> {
    let base = match explicit_mirror(flag) {
        Some(m) => Some(m),
        None => find_debian_archive(apt_root, arch)?.map(|a: AptSource| a.uri),
    };
    Ok(base.map(|b| b.trim().trim_end_matches('/').to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_and_apt_sources_come_last() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/apt")).unwrap();
        std::fs::write(
            root.path().join("etc/apt/sources.list"),
            "deb http://apt.example/debian/ bookworm main\n",
        )
        .unwrap();
        let flag = debian_mirror(Some("http://flag.example/"), "amd64", root.path());
        assert_eq!(flag.unwrap().as_deref(), Some("http://flag.example"));
        // The environment variable is the process's: only check the apt fallback when it is
        // unset, so that this test never changes it under other tests.
        if std::env::var_os(MIRROR_ENV).is_none() {
            let apt = debian_mirror(None, "amd64", root.path()).unwrap();
            assert_eq!(apt.as_deref(), Some("http://apt.example/debian"));
            let empty = tempfile::tempdir().unwrap();
            assert_eq!(debian_mirror(None, "amd64", empty.path()).unwrap(), None);
        }
    }
}
