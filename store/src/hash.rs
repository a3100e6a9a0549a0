//! Hash algorithms and the textual forms Nix gives a hash: base-16, nix32, base-64 and SRI.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use sha2::Digest as _;

use crate::nix32;

/// A hash algorithm that Nix supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// Digest size in bytes.
    pub const fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// The name Nix uses (`sha256`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    const ALL: [HashAlgo; 4] = [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ];
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgo {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashAlgo::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| HashParseError::UnknownAlgo(s.to_owned()))
    }
}

/// A digest together with the algorithm that made it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    algo: HashAlgo,
    bytes: [u8; 64],
}

/// How to print a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    /// Lower-case hexadecimal.
    Base16,
    /// Nix's base-32.
    Nix32,
    /// Standard base-64 with padding.
    Base64,
    /// Subresource-integrity form, `sha256-<base64>`.
    Sri,
}

/// Why a hash string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("unknown hash algorithm '{0}' (expected md5, sha1, sha256 or sha512)")]
    UnknownAlgo(String),
    #[error("hash '{0}' does not name its algorithm and none was given")]
    MissingAlgo(String),
    #[error(
        "hash '{hash}' has length {len}, which is not a {algo} hash in base-16, nix32 or base-64"
    )]
    BadLength {
        hash: String,
        algo: HashAlgo,
        len: usize,
    },
    #[error("hash '{0}' is not valid base-16")]
    BadBase16(String),
    #[error("hash '{hash}' is not valid nix32: {source}")]
    BadNix32 {
        hash: String,
        source: nix32::DecodeError,
    },
    #[error("hash '{0}' is not valid base-64")]
    BadBase64(String),
    #[error("hash '{hash}' is a {found} hash, but {expected} was expected")]
    WrongAlgo {
        hash: String,
        found: HashAlgo,
        expected: HashAlgo,
    },
}

impl Hash {
    /// Wraps a digest; `digest` must be exactly `algo.size()` bytes.
    pub fn from_digest(algo: HashAlgo, digest: &[u8]) -> Option<Hash> {
        if digest.len() != algo.size() {
            return None;
        }
        let mut bytes = [0u8; 64];
        bytes[..digest.len()].copy_from_slice(digest);
        Some(Hash { algo, bytes })
    }

    /// Hashes `data` in one go.
    pub fn of(algo: HashAlgo, data: &[u8]) -> Hash {
        let mut h = Hasher::new(algo);
        h.update(data);
        h.finish()
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    pub fn digest(&self) -> &[u8] {
        &self.bytes[..self.algo.size()]
    }

    pub fn to_base16(&self) -> String {
        to_hex(self.digest())
    }

    pub fn to_nix32(&self) -> String {
        nix32::encode(self.digest())
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.digest())
    }

    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, self.to_base64())
    }

    /// Prints in `format`; with `with_algo`, the non-SRI forms get an `algo:` prefix.
    pub fn to_string_as(&self, format: HashFormat, with_algo: bool) -> String {
        let body = match format {
            HashFormat::Base16 => self.to_base16(),
            HashFormat::Nix32 => self.to_nix32(),
            HashFormat::Base64 => self.to_base64(),
            HashFormat::Sri => return self.to_sri(),
        };
        if with_algo {
            format!("{}:{}", self.algo, body)
        } else {
            body
        }
    }

    /// Parses any form Nix accepts: `algo:body` (body in base-16, nix32 or base-64), SRI
    /// `algo-base64`, or a bare body when `default_algo` says which algorithm it is.
    pub fn parse(s: &str, default_algo: Option<HashAlgo>) -> Result<Hash, HashParseError> {
        let (algo, body, sri) = if let Some((a, b)) = s.split_once(':') {
            (a.parse::<HashAlgo>()?, b, false)
        } else if let Some((a, b)) = s.split_once('-') {
            match a.parse::<HashAlgo>() {
                Ok(algo) => (algo, b, true),
                Err(e) => return Err(e),
            }
        } else {
            let algo = default_algo.ok_or_else(|| HashParseError::MissingAlgo(s.to_owned()))?;
            (algo, s, false)
        };
        if let Some(expected) = default_algo {
            if expected != algo {
                return Err(HashParseError::WrongAlgo {
                    hash: s.to_owned(),
                    found: algo,
                    expected,
                });
            }
        }
        let size = algo.size();
        let digest = if sri {
            decode_base64(body, size).ok_or_else(|| HashParseError::BadBase64(s.to_owned()))?
        } else if body.len() == size * 2 {
            from_hex(body).ok_or_else(|| HashParseError::BadBase16(s.to_owned()))?
        } else if body.len() == nix32::encoded_len(size) {
            nix32::decode(body).map_err(|source| HashParseError::BadNix32 {
                hash: s.to_owned(),
                source,
            })?
        } else if body.len() == size.div_ceil(3) * 4 {
            decode_base64(body, size).ok_or_else(|| HashParseError::BadBase64(s.to_owned()))?
        } else {
            return Err(HashParseError::BadLength {
                hash: s.to_owned(),
                algo,
                len: body.len(),
            });
        };
        Hash::from_digest(algo, &digest).ok_or_else(|| HashParseError::BadBase64(s.to_owned()))
    }
}

fn decode_base64(s: &str, size: usize) -> Option<Vec<u8>> {
    let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    (v.len() == size).then_some(v)
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_nix32())
    }
}

/// `algo:nix32`, the form Nix uses in content addresses and `nix-store --query --hash`.
impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_nix32())
    }
}

/// Lower-case hexadecimal of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Parses hexadecimal (either case).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// An incremental hasher for any [`HashAlgo`].
#[derive(Clone)]
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Hasher").field(&self.algo()).finish()
    }
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Hasher {
        match algo {
            HashAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn algo(&self) -> HashAlgo {
        match self {
            Hasher::Md5(_) => HashAlgo::Md5,
            Hasher::Sha1(_) => HashAlgo::Sha1,
            Hasher::Sha256(_) => HashAlgo::Sha256,
            Hasher::Sha512(_) => HashAlgo::Sha512,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Hash {
        let algo = self.algo();
        let digest: Vec<u8> = match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        let mut bytes = [0u8; 64];
        bytes[..digest.len()].copy_from_slice(&digest);
        Hash { algo, bytes }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Folds a digest into `size` bytes by XOR, as Nix does to shorten store path hashes.
pub fn compress(digest: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    for (i, b) in digest.iter().enumerate() {
        out[i % size] ^= b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_of_sha256_of_abc() {
        let h = Hash::of(HashAlgo::Sha256, b"abc");
        assert_eq!(
            h.to_base16(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            h.to_sri(),
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        for s in [
            h.to_string_as(HashFormat::Base16, true),
            h.to_string_as(HashFormat::Nix32, true),
            h.to_string_as(HashFormat::Base64, true),
            h.to_sri(),
        ] {
            assert_eq!(Hash::parse(&s, None).ok(), Some(h.clone()), "{s}");
        }
        assert_eq!(
            Hash::parse(&h.to_nix32(), Some(HashAlgo::Sha256)).ok(),
            Some(h.clone())
        );
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert!(matches!(
            Hash::parse("sha257:00", None),
            Err(HashParseError::UnknownAlgo(_))
        ));
        assert!(matches!(
            Hash::parse("abcd", None),
            Err(HashParseError::MissingAlgo(_))
        ));
        assert!(matches!(
            Hash::parse("sha256:abcd", None),
            Err(HashParseError::BadLength { .. })
        ));
        assert!(matches!(
            Hash::parse(
                "sha1:0000000000000000000000000000000000000000",
                Some(HashAlgo::Sha256)
            ),
            Err(HashParseError::WrongAlgo { .. })
        ));
    }

    #[test]
    fn compress_folds() {
        assert_eq!(compress(&[1, 2, 3, 4, 5], 2), vec![1 ^ 3 ^ 5, 2 ^ 4]);
    }
}
