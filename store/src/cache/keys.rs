//! Ed25519 signing keys and signatures in Nix's textual forms.
//!
//! - a secret key is `NAME:base64(seed ‖ public)`, 64 bytes before encoding;
//! - a public key is `NAME:base64(public)`, 32 bytes;
//! - a signature is `NAME:base64(signature)`, 64 bytes.
//!
//! What is signed is a path's *fingerprint*:
//! `1;<store path>;<sha256:nix32 NAR hash>;<NAR size>;<references, comma-separated>`, with
//! every path absolute. The same key and path give the same bytes Nix gives (Ed25519 is
//! deterministic), so a strata signature and a Nix signature of a path are interchangeable.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};

use crate::{Hash, HashAlgo, StoreDir, StorePath};

/// What can be wrong with a key or a signature.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key name '{0}' is not usable: a name is non-empty, without ':' or white space")]
    BadName(String),
    #[error("{what} '{text}' is not of the form NAME:BASE64")]
    NoName { what: &'static str, text: String },
    #[error("{what} named '{name}' is not valid base64")]
    Base64 { what: &'static str, name: String },
    #[error("{what} named '{name}' holds {found} bytes, but one holds {expected}")]
    Length {
        what: &'static str,
        name: String,
        found: usize,
        expected: usize,
    },
    #[error("secret key named '{0}' does not match the public key it carries")]
    Mismatch(String),
    #[error("public key named '{0}' is not a valid Ed25519 point")]
    BadPoint(String),
    #[error("cannot read key file '{}': {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read random bytes from /dev/urandom: {0}")]
    Random(std::io::Error),
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
        return Err(KeyError::BadName(name.to_owned()));
    }
    Ok(())
}

/// Splits `NAME:BASE64` and decodes the second half into exactly `N` bytes.
fn split_decode<const N: usize>(
    what: &'static str,
    text: &str,
) -> Result<(String, [u8; N]), KeyError> {
    let text = text.trim();
    let Some((name, b64)) = text.split_once(':') else {
        return Err(KeyError::NoName {
            what,
            text: text.chars().take(80).collect(),
        });
    };
    check_name(name)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| KeyError::Base64 {
            what,
            name: name.to_owned(),
        })?;
    let arr: [u8; N] = bytes.as_slice().try_into().map_err(|_| KeyError::Length {
        what,
        name: name.to_owned(),
        found: bytes.len(),
        expected: N,
    })?;
    Ok((name.to_owned(), arr))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An Ed25519 secret key with its name.
pub struct SecretKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself: debug output ends up in logs.
        f.debug_struct("SecretKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// A new key from 32 bytes of the kernel's random number generator.
    pub fn generate(name: &str) -> Result<SecretKey, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .map_err(KeyError::Random)?;
        Ok(SecretKey {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    /// Parses Nix's `NAME:base64(seed ‖ public)`; the public half must match the seed.
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let (name, bytes) = split_decode::<64>("secret key", text)?;
        let key = ed25519_dalek::SigningKey::from_keypair_bytes(&bytes)
            .map_err(|_| KeyError::Mismatch(name.clone()))?;
        Ok(SecretKey { name, key })
    }

    /// Reads a key file (as `nix-store --generate-binary-cache-key` or `strata key generate`
    /// writes them).
    pub fn read(path: &Path) -> Result<SecretKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        SecretKey::parse(&text)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Nix's text form of the secret key (no trailing newline, as Nix writes it).
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, b64(&self.key.to_keypair_bytes()))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// `NAME:base64(signature)` of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        format!("{}:{}", self.name, b64(&self.key.sign(message).to_bytes()))
    }
}

/// An Ed25519 public key with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let (name, bytes) = split_decode::<32>("public key", text)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::BadPoint(name.clone()))?;
        Ok(PublicKey { name, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, b64(self.key.as_bytes()))
    }

    /// Whether `sig` (`NAME:base64`) is this key's signature of `message`. A signature by
    /// another name, or one that is not well formed, is simply not this key's.
    pub fn verifies(&self, message: &[u8], sig: &str) -> bool {
        let Ok((name, bytes)) = split_decode::<64>("signature", sig) else {
            return false;
        };
        name == self.name
            && self
                .key
                .verify(message, &ed25519_dalek::Signature::from_bytes(&bytes))
                .is_ok()
    }
}

/// A set of trusted public keys, as `trusted-public-keys` lists them (white-space separated).
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    pub fn parse(text: &str) -> Result<TrustedKeys, KeyError> {
        let keys = text
            .split_whitespace()
            .map(PublicKey::parse)
            .collect::<Result<_, _>>()?;
        Ok(TrustedKeys { keys })
    }

    pub fn from_keys(keys: Vec<PublicKey>) -> TrustedKeys {
        TrustedKeys { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The name of the first trusted key that signed `message` among `sigs`.
    pub fn signer<'a>(&'a self, message: &[u8], sigs: &[String]) -> Option<&'a str> {
        self.keys
            .iter()
            .find(|k| sigs.iter().any(|s| k.verifies(message, s)))
            .map(PublicKey::name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.keys.iter().map(PublicKey::name).collect()
    }
}

/// The fingerprint Nix signs: `1;<path>;<narHash>;<narSize>;<refs>`.
pub fn fingerprint(
    store_dir: &StoreDir,
    path: &StorePath,
    nar_hash: &Hash,
    nar_size: u64,
    references: &BTreeSet<StorePath>,
) -> String {
    debug_assert_eq!(nar_hash.algo(), HashAlgo::Sha256);
    let refs: Vec<String> = references.iter().map(|r| store_dir.display(r)).collect();
    format!(
        "1;{};sha256:{};{};{}",
        store_dir.display(path),
        nar_hash.to_nix32(),
        nar_size,
        refs.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_round_trips_and_signs_verifiably() {
        let k = SecretKey::generate("cache.example-1").unwrap();
        let again = SecretKey::parse(&k.to_text()).unwrap();
        assert_eq!(again.public(), k.public());
        let sig = k.sign(b"hello");
        assert!(k.public().verifies(b"hello", &sig));
        assert!(!k.public().verifies(b"hellO", &sig));
        let other = SecretKey::generate("cache.example-1").unwrap();
        assert!(!other.public().verifies(b"hello", &sig));
        let pk = PublicKey::parse(&k.public().to_text()).unwrap();
        assert_eq!(pk, k.public());
    }

    #[test]
    fn a_signature_under_another_name_is_not_accepted() {
        let k = SecretKey::generate("a").unwrap();
        let sig = k.sign(b"m");
        let renamed = format!("b{}", &sig[1..]);
        let pk_b = PublicKey::parse(&format!("b{}", &k.public().to_text()[1..])).unwrap();
        assert!(!pk_b.verifies(b"m", &sig));
        assert!(pk_b.verifies(b"m", &renamed));
    }

    #[test]
    fn bad_keys_are_named_errors() {
        assert!(matches!(
            PublicKey::parse("nocolon"),
            Err(KeyError::NoName { .. })
        ));
        assert!(matches!(
            PublicKey::parse("k:!!!"),
            Err(KeyError::Base64 { .. })
        ));
        assert!(matches!(
            PublicKey::parse("k:AAAA"),
            Err(KeyError::Length { found: 3, .. })
        ));
        let k = SecretKey::generate("k").unwrap();
        // A secret key whose public half belongs to another key.
        let mut bytes = k.key.to_keypair_bytes();
        bytes[40] ^= 1;
        assert!(matches!(
            SecretKey::parse(&format!("k:{}", b64(&bytes))),
            Err(KeyError::Mismatch(_))
        ));
        assert!(matches!(
            SecretKey::generate("a b"),
            Err(KeyError::BadName(_))
        ));
    }

    #[test]
    fn fingerprint_has_nix_shape() {
        let dir = StoreDir::new("/nix/store").unwrap();
        let p = dir
            .parse("/nix/store/7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello")
            .unwrap();
        let r = dir
            .parse("/nix/store/2bcv91i8fahqghn8dmyr791iaycbsjdd-dep")
            .unwrap();
        let h = Hash::of(HashAlgo::Sha256, b"");
        let fp = fingerprint(&dir, &p, &h, 120, &[r, p.clone()].into_iter().collect());
        assert_eq!(
            fp,
            format!(
                "1;/nix/store/7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello;sha256:{};120;\
                 /nix/store/2bcv91i8fahqghn8dmyr791iaycbsjdd-dep,\
                 /nix/store/7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello",
                h.to_nix32()
            )
        );
    }
}
