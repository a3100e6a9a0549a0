//! Nix's base-32 encoding ("nix32").
//!
//! The alphabet leaves out `e`, `o`, `u` and `t`, and the digits are taken from the *last* byte
//! first, so the string is not ordinary RFC 4648 base32. A 20-byte store path digest becomes 32
//! characters, a SHA-256 digest 52.

/// The 32 digits, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Number of characters that encode `len` bytes.
pub const fn encoded_len(len: usize) -> usize {
    (len * 8).div_ceil(5)
}

/// Number of bytes that `chars` characters decode to (the inverse of [`encoded_len`]).
pub const fn decoded_len(chars: usize) -> usize {
    chars * 5 / 8
}

/// Value of one nix32 digit, or `None` if `c` is not one.
pub const fn digit_value(c: u8) -> Option<u8> {
    let v = match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'd' => c - b'a' + 10,
        b'f'..=b'n' => {
            // f g h i j k l m n -> 14..=22, but 'm' is in the alphabet and 'e' is not.
            c - b'f' + 14
        }
        b'p'..=b's' => c - b'p' + 23,
        b'v'..=b'z' => c - b'v' + 27,
        _ => return None,
    };
    Some(v)
}

/// Whether `c` is a nix32 digit.
pub const fn is_digit(c: u8) -> bool {
    digit_value(c).is_some()
}

/// Encodes `bytes` as nix32.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let lo = u16::from(bytes[i]) >> j;
        let hi = if i + 1 < bytes.len() {
            u16::from(bytes[i + 1]) << (8 - j)
        } else {
            0
        };
        out.push(char::from(ALPHABET[usize::from((lo | hi) & 0x1f)]));
    }
    out
}

/// Why a nix32 string did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A character outside the alphabet.
    #[error("invalid character {ch:?} at position {pos} in nix32 string")]
    InvalidChar { ch: char, pos: usize },
    /// The string's length is not one that an encoding produces.
    #[error("nix32 string has length {0}, which no byte string encodes to")]
    BadLength(usize),
    /// Bits above the encoded length were set in the last digit.
    #[error("nix32 string has non-zero padding bits")]
    NonZeroPadding,
}

/// Decodes a nix32 string.
pub fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let chars = s.as_bytes();
    let len = decoded_len(chars.len());
    if encoded_len(len) != chars.len() {
        return Err(DecodeError::BadLength(chars.len()));
    }
    let mut out = vec![0u8; len];
    for (pos, &c) in chars.iter().enumerate() {
        let digit = digit_value(c).ok_or(DecodeError::InvalidChar {
            ch: char::from(c),
            pos,
        })?;
        let n = chars.len() - 1 - pos;
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        out[i] |= digit << j;
        let carry = u16::from(digit) >> (8 - j);
        if i + 1 < len {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return Err(DecodeError::NonZeroPadding);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_values_round_trip() {
        for (v, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(digit_value(c), Some(v as u8), "digit {}", char::from(c));
        }
        for c in [b'e', b'o', b'u', b't', b'A', b'-', b'/'] {
            assert_eq!(digit_value(c), None);
        }
    }

    #[test]
    fn known_vectors() {
        // sha256("") as Nix prints it with --base32.
        let empty = [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ];
        assert_eq!(
            encode(&empty),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").ok(),
            Some(empty.to_vec())
        );
        assert_eq!(encode(&[]), "");
        assert_eq!(encoded_len(20), 32);
        assert_eq!(encoded_len(32), 52);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            decode("0e"),
            Err(DecodeError::InvalidChar { .. }) | Err(DecodeError::BadLength(_))
        ));
        assert!(matches!(decode("zz"), Err(DecodeError::NonZeroPadding)));
        assert!(matches!(decode("000"), Err(DecodeError::BadLength(3))));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let s = encode(&bytes);
            proptest::prop_assert_eq!(s.len(), encoded_len(bytes.len()));
            proptest::prop_assert_eq!(decode(&s).ok(), Some(bytes));
        }
    }
}
