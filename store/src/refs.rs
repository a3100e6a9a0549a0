//! Reference scanning: which of a set of candidate store paths does a tree mention?
//!
//! Nix records as references exactly those candidates whose 32-character hash part occurs
//! anywhere in the path's NAR serialisation (contents, symlink targets and entry names alike).
//! [`RefScanner`] is a writer that the NAR is streamed through, so scanning costs no extra pass.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::Path;

use crate::hash::{Hash, HashAlgo};
use crate::nar::{self, CountingHasher, DumpError};
use crate::nix32;
use crate::path::{StorePath, HASH_CHARS};

/// The SHA-256 NAR hash and size of the tree at `path`, and which of `candidates` it
/// mentions, from one serialisation.
pub fn hash_and_scan<'a>(
    path: &Path,
    candidates: impl IntoIterator<Item = &'a StorePath>,
) -> Result<(Hash, u64, BTreeSet<StorePath>), DumpError> {
    struct Tee {
        hasher: CountingHasher,
        scanner: RefScanner,
    }
    impl Write for Tee {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.hasher.write_all(buf)?;
            self.scanner.write_all(buf)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Tee {
        hasher: CountingHasher::new(HashAlgo::Sha256),
        scanner: RefScanner::new(candidates),
    };
    nar::dump(path, &mut sink)?;
    let (hash, size) = sink.hasher.finish();
    Ok((hash, size, sink.scanner.into_found()))
}

/// Finds candidate hash parts in a byte stream written to it in chunks of any size.
#[derive(Debug)]
pub struct RefScanner {
    candidates: HashMap<[u8; HASH_CHARS], StorePath>,
    found: BTreeSet<StorePath>,
    /// The last bytes of the previous chunk, to catch a hash split across two writes.
    tail: Vec<u8>,
}

impl RefScanner {
    pub fn new<'a>(candidates: impl IntoIterator<Item = &'a StorePath>) -> Self {
        let candidates = candidates
            .into_iter()
            .map(|p| {
                let mut k = [0u8; HASH_CHARS];
                k.copy_from_slice(p.hash_part().as_bytes());
                (k, p.clone())
            })
            .collect();
        RefScanner {
            candidates,
            found: BTreeSet::new(),
            tail: Vec::with_capacity(2 * HASH_CHARS),
        }
    }

    /// The candidates seen so far.
    pub fn found(&self) -> &BTreeSet<StorePath> {
        &self.found
    }

    pub fn into_found(self) -> BTreeSet<StorePath> {
        self.found
    }

    fn scan(&mut self, data: &[u8]) {
        let mut i = 0;
        while i + HASH_CHARS <= data.len() {
            // Look for the last non-digit in the window; no hash can start at or before it.
            let window = &data[i..i + HASH_CHARS];
            match window.iter().rposition(|&c| !nix32::is_digit(c)) {
                Some(j) => i += j + 1,
                None => {
                    if let Some(p) = self.candidates.get(window) {
                        if !self.found.contains(p) {
                            self.found.insert(p.clone());
                        }
                    }
                    i += 1;
                }
            }
        }
    }
}

impl Write for RefScanner {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.candidates.is_empty() || buf.is_empty() {
            return Ok(buf.len());
        }
        let keep = HASH_CHARS - 1;
        // Windows that straddle the previous chunk and this one.
        let mut joined = std::mem::take(&mut self.tail);
        let had_tail = !joined.is_empty();
        joined.extend_from_slice(&buf[..buf.len().min(keep)]);
        if had_tail {
            self.scan(&joined);
        }
        self.scan(buf);
        // Keep the last `keep` bytes of everything seen so far.
        if buf.len() >= keep {
            joined.clear();
            joined.extend_from_slice(&buf[buf.len() - keep..]);
        } else {
            let excess = joined.len().saturating_sub(keep);
            joined.drain(..excess);
        }
        self.tail = joined;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(c: char, name: &str) -> StorePath {
        StorePath::from_base_name(&format!("{}-{name}", c.to_string().repeat(32))).expect("path")
    }

    #[test]
    fn finds_hashes_across_chunk_boundaries() {
        let a = p('a', "a");
        let b = p('b', "b");
        let c = p('c', "c");
        let text = format!(
            "xx/nix/store/{}-a/bin and {} end",
            a.hash_part(),
            b.hash_part()
        );
        for chunk in [1usize, 3, 7, 31, 32, 33, 1000] {
            let mut s = RefScanner::new([&a, &b, &c]);
            for part in text.as_bytes().chunks(chunk) {
                s.write_all(part).expect("write");
            }
            assert_eq!(
                s.into_found(),
                [a.clone(), b.clone()].into_iter().collect(),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_hash_inside_a_longer_run_of_digits_is_found() {
        let a = p('a', "a");
        let text = format!("0{}0", a.hash_part());
        let mut s = RefScanner::new([&a]);
        s.write_all(text.as_bytes()).expect("write");
        assert!(s.found().contains(&a));
    }
}
