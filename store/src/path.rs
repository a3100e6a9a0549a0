//! Store paths: their names, validation, and how Nix computes them from content.

use std::collections::BTreeSet;
use std::fmt;

use crate::hash::{self, Hash, HashAlgo};
use crate::nix32;

/// Length of the nix32 digest part of a store path's base name.
pub const HASH_CHARS: usize = 32;
/// Longest name Nix accepts after the digest and dash.
pub const MAX_NAME_LEN: usize = 211;

/// Why a store path or a name did not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("store path name is empty")]
    EmptyName,
    #[error("store path name '{0}' is longer than {MAX_NAME_LEN} characters")]
    NameTooLong(String),
    #[error("store path name '{0}' starts with a period")]
    NameStartsWithDot(String),
    #[error("store path name '{name}' contains the forbidden character {ch:?} at position {pos} (allowed: letters, digits and + - . _ ? =)")]
    BadNameChar { name: String, ch: char, pos: usize },
    #[error("path '{path}' is not in the store directory '{store_dir}'")]
    NotInStore { path: String, store_dir: String },
    #[error(
        "'{0}' is not a store path base name (expected 32 nix32 characters, a dash and a name)"
    )]
    BadBaseName(String),
    #[error(
        "store directory '{0}' must be an absolute path without a trailing slash, '.' or '..'"
    )]
    BadStoreDir(String),
}

/// Checks a store path name as Nix does.
pub fn validate_name(name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(PathError::NameTooLong(name.to_owned()));
    }
    if name.starts_with('.') {
        return Err(PathError::NameStartsWithDot(name.to_owned()));
    }
    for (pos, ch) in name.char_indices() {
        if !(ch.is_ascii_alphanumeric() || "+-._?=".contains(ch)) {
            return Err(PathError::BadNameChar {
                name: name.to_owned(),
                ch,
                pos,
            });
        }
    }
    Ok(())
}

/// A store path, without its store directory: a 20-byte digest and a name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    // The printed form sorts the way Nix sorts paths (by base name), so keep it as the key.
    base: String,
}

impl StorePath {
    /// Builds a store path from its digest and a validated name.
    pub fn from_parts(digest: &[u8; 20], name: &str) -> Result<StorePath, PathError> {
        validate_name(name)?;
        Ok(StorePath {
            base: format!("{}-{}", nix32::encode(digest), name),
        })
    }

    /// Parses `<hash>-<name>`.
    pub fn from_base_name(base: &str) -> Result<StorePath, PathError> {
        let bad = || PathError::BadBaseName(base.to_owned());
        if base.len() < HASH_CHARS + 2 || base.as_bytes()[HASH_CHARS] != b'-' {
            return Err(bad());
        }
        if !base.as_bytes()[..HASH_CHARS]
            .iter()
            .all(|&c| nix32::is_digit(c))
        {
            return Err(bad());
        }
        nix32::decode(&base[..HASH_CHARS]).map_err(|_| bad())?;
        validate_name(&base[HASH_CHARS + 1..])?;
        Ok(StorePath {
            base: base.to_owned(),
        })
    }

    /// The nix32 digest part.
    pub fn hash_part(&self) -> &str {
        &self.base[..HASH_CHARS]
    }

    /// The name after the digest.
    pub fn name(&self) -> &str {
        &self.base[HASH_CHARS + 1..]
    }

    /// `<hash>-<name>`.
    pub fn base_name(&self) -> &str {
        &self.base
    }

    /// The 20-byte digest.
    pub fn digest(&self) -> [u8; 20] {
        let mut d = [0u8; 20];
        if let Ok(v) = nix32::decode(self.hash_part()) {
            d.copy_from_slice(&v);
        }
        d
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({})", self.base)
    }
}

/// The logical store directory, `/nix/store` unless configured otherwise. It is part of every
/// store path's hash, so it never changes for a store's life.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir("/nix/store".to_owned())
    }
}

impl StoreDir {
    pub fn new(dir: &str) -> Result<StoreDir, PathError> {
        let ok = dir.starts_with('/')
            && dir.len() > 1
            && !dir.ends_with('/')
            && dir
                .split('/')
                .skip(1)
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !ok {
            return Err(PathError::BadStoreDir(dir.to_owned()));
        }
        Ok(StoreDir(dir.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute logical path of `path`.
    pub fn display(&self, path: &StorePath) -> String {
        format!("{}/{}", self.0, path.base)
    }

    /// Parses an absolute path that must lie directly in this store directory.
    pub fn parse(&self, abs: &str) -> Result<StorePath, PathError> {
        let not_in = || PathError::NotInStore {
            path: abs.to_owned(),
            store_dir: self.0.clone(),
        };
        let rest = abs.strip_prefix(&self.0).ok_or_else(not_in)?;
        let base = rest.strip_prefix('/').ok_or_else(not_in)?;
        let base = base.trim_end_matches('/');
        if base.contains('/') {
            return Err(not_in());
        }
        StorePath::from_base_name(base)
    }

    /// Like [`parse`](Self::parse), but also accepts a path below a store path and returns the
    /// store path that contains it.
    pub fn parse_containing(&self, abs: &str) -> Result<StorePath, PathError> {
        let not_in = || PathError::NotInStore {
            path: abs.to_owned(),
            store_dir: self.0.clone(),
        };
        let rest = abs.strip_prefix(&self.0).ok_or_else(not_in)?;
        let rest = rest.strip_prefix('/').ok_or_else(not_in)?;
        let base = rest.split('/').next().unwrap_or_default();
        StorePath::from_base_name(base)
    }

    /// Nix's `makeStorePath`: the store path for a content description `ty` (e.g. `source`,
    /// `text:/nix/store/..`, `output:out`), an inner hash and a name.
    pub fn make_store_path(
        &self,
        ty: &str,
        inner: &Hash,
        name: &str,
    ) -> Result<StorePath, PathError> {
        validate_name(name)?;
        let s = format!(
            "{}:{}:{}:{}:{}",
            ty,
            inner.algo(),
            inner.to_base16(),
            self.0,
            name
        );
        let outer = Hash::of(HashAlgo::Sha256, s.as_bytes());
        let c = hash::compress(outer.digest(), 20);
        let mut digest = [0u8; 20];
        digest.copy_from_slice(&c);
        StorePath::from_parts(&digest, name)
    }

    fn make_type(&self, kind: &str, refs: &BTreeSet<StorePath>, self_ref: bool) -> String {
        let mut ty = kind.to_owned();
        for r in refs {
            ty.push(':');
            ty.push_str(&self.display(r));
        }
        if self_ref {
            ty.push_str(":self");
        }
        ty
    }

    /// The path of a text file (`builtins.toFile`, `nix-store --add` of a flat text) with
    /// `refs` as its references.
    pub fn make_text_path(
        &self,
        name: &str,
        content_sha256: &Hash,
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, PathError> {
        self.make_store_path(&self.make_type("text", refs, false), content_sha256, name)
    }

    /// The path of a tree added by NAR hash (`nix-store --add`, `builtins.path`).
    pub fn make_source_path(
        &self,
        name: &str,
        nar_sha256: &Hash,
        refs: &BTreeSet<StorePath>,
        self_ref: bool,
    ) -> Result<StorePath, PathError> {
        self.make_store_path(&self.make_type("source", refs, self_ref), nar_sha256, name)
    }

    /// The path of a fixed-output derivation's output or of `nix-store --add-fixed`.
    /// `recursive` means the hash is of the NAR serialisation rather than of a flat file.
    pub fn make_fixed_output_path(
        &self,
        name: &str,
        recursive: bool,
        hash: &Hash,
    ) -> Result<StorePath, PathError> {
        if recursive && hash.algo() == HashAlgo::Sha256 {
            return self.make_source_path(name, hash, &BTreeSet::new(), false);
        }
        let inner = format!(
            "fixed:out:{}{}:{}:",
            if recursive { "r:" } else { "" },
            hash.algo(),
            hash.to_base16()
        );
        let inner = Hash::of(HashAlgo::Sha256, inner.as_bytes());
        self.make_store_path("output:out", &inner, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(validate_name("hello-2.12.1").is_ok());
        assert!(validate_name("a+b=c?d_e.f").is_ok());
        assert_eq!(validate_name(""), Err(PathError::EmptyName));
        assert!(matches!(
            validate_name(".hidden"),
            Err(PathError::NameStartsWithDot(_))
        ));
        assert!(matches!(
            validate_name("a b"),
            Err(PathError::BadNameChar { pos: 1, .. })
        ));
        assert!(matches!(
            validate_name("é"),
            Err(PathError::BadNameChar { .. })
        ));
        assert!(validate_name(&"x".repeat(211)).is_ok());
        assert!(matches!(
            validate_name(&"x".repeat(212)),
            Err(PathError::NameTooLong(_))
        ));
    }

    #[test]
    fn parse_and_print() {
        let sd = StoreDir::default();
        let p = "/nix/store/00000000000000000000000000000000-hello";
        let sp = sd.parse(p).expect("valid path");
        assert_eq!(sp.name(), "hello");
        assert_eq!(sd.display(&sp), p);
        assert!(sd
            .parse("/nix/stor/00000000000000000000000000000000-hello")
            .is_err());
        assert!(sd
            .parse("/nix/store/0000000000000000000000000000000e-hello")
            .is_err());
        assert!(sd
            .parse("/nix/store/00000000000000000000000000000000-hello/bin")
            .is_err());
        assert_eq!(
            sd.parse_containing("/nix/store/00000000000000000000000000000000-hello/bin/x")
                .ok(),
            Some(sp)
        );
    }

    #[test]
    fn bad_store_dirs() {
        for d in [
            "",
            "/",
            "nix/store",
            "/nix/store/",
            "/nix/../store",
            "/nix//store",
        ] {
            assert!(StoreDir::new(d).is_err(), "{d:?}");
        }
    }
}
