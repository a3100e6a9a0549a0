//! The CA bundle `update-ca-certificates` would write (section 2.6):
//! `etc/ssl/certs/ca-certificates.crt` is the concatenation, in sorted order, of the `.crt`
//! files under `usr/share/ca-certificates` that the tree's `etc/ca-certificates.conf` selects
//! (lines naming them relative to that directory; `!` deselects, `#` comments), or of all of
//! them when the tree has no such file (the package's postinst writes it on Debian, so a
//! fresh tree has none). No hash links are made: OpenSSL, curl and git use the bundle.
//!
//! Must not: write anything when the tree has no `usr/share/ca-certificates`.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::paths::resolve;
use super::{write_new, UsrError};

/// The bundle, relative to the tree.
pub const BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
const SOURCE: &str = "usr/share/ca-certificates";

/// Every `.crt` file below `dir`, relative to it, sorted.
fn certificates(root: &Path, dir: &Path) -> Result<BTreeSet<String>, UsrError> {
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = root.join(dir).join(&rel);
        for entry in fs::read_dir(&full).map_err(|e| UsrError::read(&full, e))? {
            let entry = entry.map_err(|e| UsrError::read(&full, e))?;
            let sub = rel.join(entry.file_name());
            let Some(real) = resolve(root, &dir.join(&sub)) else {
                continue;
            };
            let real = root.join(real);
            if real.is_dir() {
                stack.push(sub);
            } else if real.is_file() && sub.extension().is_some_and(|e| e == "crt") {
                out.insert(sub.to_string_lossy().into_owned());
            }
        }
    }
    Ok(out)
}

/// Writes the bundle if the tree has certificates; returns how many it holds.
pub fn ca_bundle(root: &Path, log: &mut dyn Write) -> Result<usize, UsrError> {
    let Some(dir) = resolve(root, Path::new(SOURCE)).filter(|d| root.join(d).is_dir()) else {
        return Ok(0);
    };
    let all = certificates(root, &dir)?;
    let selected: BTreeSet<String> = match resolve(root, Path::new("etc/ca-certificates.conf"))
        .map(|p| root.join(p))
        .filter(|p| p.is_file())
    {
        Some(conf) => {
            let text = fs::read_to_string(&conf).map_err(|e| UsrError::read(&conf, e))?;
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
                .filter(|l| all.contains(*l))
                .map(str::to_owned)
                .collect()
        }
        None => all,
    };
    let mut bundle = Vec::new();
    for rel in &selected {
        let path = root.join(&dir).join(rel);
        let pem = fs::read(&path).map_err(|e| UsrError::read(&path, e))?;
        bundle.extend_from_slice(&pem);
        if !pem.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    write_new(root, Path::new(BUNDLE), &bundle)?;
    let _ = writeln!(log, "{BUNDLE}: {} certificates", selected.len());
    Ok(selected.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bundle_is_the_sorted_selected_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let src = root.join(SOURCE).join("mozilla");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("B.crt"), "-----B-----\n").unwrap();
        fs::write(src.join("A.crt"), "-----A-----").unwrap();
        fs::write(src.join("README"), "not a certificate").unwrap();
        let mut log = Vec::new();
        assert_eq!(ca_bundle(root, &mut log).unwrap(), 2);
        assert_eq!(
            fs::read_to_string(root.join(BUNDLE)).unwrap(),
            "-----A-----\n-----B-----\n"
        );
        // A configuration selects; `!` deselects.
        fs::write(
            root.join("etc/ca-certificates.conf"),
            "# comment\n!mozilla/A.crt\nmozilla/B.crt\nmozilla/missing.crt\n",
        )
        .unwrap();
        assert_eq!(ca_bundle(root, &mut log).unwrap(), 1);
        assert_eq!(
            fs::read_to_string(root.join(BUNDLE)).unwrap(),
            "-----B-----\n"
        );
    }

    #[test]
    fn no_certificates_no_bundle() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ca_bundle(dir.path(), &mut Vec::new()).unwrap(), 0);
        assert!(!dir.path().join(BUNDLE).exists());
    }
}
