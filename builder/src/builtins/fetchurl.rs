//! `builtin:fetchurl`: downloads the `url` attribute into a flat fixed output. A
//! `mirror://debian/` URL resolves against the configured archive ([`resolve_mirror_url`]),
//! so `.drv` files never name a host. The output's hash is checked where every fixed output's
//! is, when [`crate::build`] registers it.
//!
//! Must not: check the hash itself or register anything.

use std::fs;

use strata_store::HashAlgo;

use super::{io_ctx, BuiltinContext, BuiltinError};

/// The scheme of URLs that stand for a Debian archive, so `.drv` files do not name a host.
pub const DEBIAN_MIRROR_SCHEME: &str = "mirror://debian/";

/// A `mirror://debian/` URL with no archive configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{url}' needs a Debian mirror: set STRATA_DEBIAN_MIRROR (e.g. to http://deb.debian.org/debian)"
)]
pub struct MirrorUrlError {
    pub url: String,
}

/// The URL `url` stands for: `mirror://debian/<rest>` becomes `<mirror>/<rest>`; other URLs
/// are returned as they are.
pub fn resolve_mirror_url(
    url: &str,
    debian_mirror: Option<&str>,
) -> Result<String, MirrorUrlError> {
    let Some(rest) = url.strip_prefix(DEBIAN_MIRROR_SCHEME) else {
        return Ok(url.to_owned());
    };
    let mirror = debian_mirror
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| MirrorUrlError {
            url: url.to_owned(),
        })?;
    Ok(format!(
        "{}/{}",
        mirror.trim_end_matches('/'),
        rest.trim_start_matches('/')
    ))
}

/// `builtin:fetchurl`; see the module documentation.
pub(super) fn run(cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    let drv = cx.drv;
    let bad = BuiltinError::BadDerivation;
    let o = &drv.outputs["out"];
    if !drv.is_fixed_output() || o.hash_algo.starts_with("r:") {
        return Err(bad(
            "'builtin:fetchurl' needs a flat fixed output (outputHash and \
             outputHashAlgo, outputHashMode = \"flat\")"
                .to_owned(),
        ));
    }
    let algo: HashAlgo = o
        .hash_algo
        .parse()
        .map_err(|e| bad(format!("output hash algorithm: {e}")))?;
    let url = resolve_mirror_url(cx.required("url")?, cx.debian_mirror)?;
    let _ = writeln!(cx.log, "downloading '{url}'");
    let dest = cx.out;
    let mut file =
        fs::File::create(dest).map_err(io_ctx(format!("cannot create '{}'", dest.display())))?;
    let got = crate::fetch::download(
        &url,
        &mut file,
        algo,
        cx.out_path.name(),
        crate::fetch::Progress::Never,
    )?;
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = writeln!(cx.log, "{len} bytes, {}", got.to_sri());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn mirror_urls() {
        let m = Some("file:///srv/debian/");
        assert_eq!(
            resolve_mirror_url("mirror://debian/pool/main/a/a.deb", m).unwrap(),
            "file:///srv/debian/pool/main/a/a.deb"
        );
        assert_eq!(
            resolve_mirror_url("https://example.org/x.deb", None).unwrap(),
            "https://example.org/x.deb"
        );
        let e = resolve_mirror_url("mirror://debian/x.deb", Some(" "))
            .unwrap_err()
            .to_string();
        assert!(e.contains("STRATA_DEBIAN_MIRROR"), "{e}");
    }
}
