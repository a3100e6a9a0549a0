//! The framing Nix uses in NAR archives and export streams: little-endian u64 integers and
//! byte strings prefixed by their length and zero-padded to a multiple of eight.

use std::io::{self, Write};

/// Bytes of zero padding that follow `len` bytes of string data.
pub const fn padding(len: u64) -> usize {
    ((8 - (len % 8)) % 8) as usize
}

pub fn write_u64(w: &mut (impl Write + ?Sized), v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

pub fn write_bytes(w: &mut (impl Write + ?Sized), b: &[u8]) -> io::Result<()> {
    write_u64(w, b.len() as u64)?;
    w.write_all(b)?;
    w.write_all(&[0u8; 8][..padding(b.len() as u64)])
}

/// The bytes of `s` framed as one string.
pub fn framed(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + s.len());
    // Writing into a Vec cannot fail.
    let _ = write_bytes(&mut v, s);
    v
}
