//! Closure export and import in the stream format of `nix-store --export` / `--import`.
//!
//! The stream is a sequence of records, each introduced by the integer 1 and holding a path's
//! NAR, the magic `0x4558494e` ("NIXE"), the path, its references, its deriver (empty for
//! none) and a legacy-signature flag (0). The integer 0 ends the stream. Integers and strings
//! are framed as in NAR ([`crate::wire`]).

use std::collections::BTreeSet;
use std::io::{self, BufRead, Read, Write};

use crate::hash::HashAlgo;
use crate::local::{LocalStore, NewPath, Staged, StoreError};
use crate::nar::{self, HashingReader, NarParser, Restorer};
use crate::path::StorePath;
use crate::wire;

/// Marks the metadata that follows each archive.
pub const EXPORT_MAGIC: u64 = 0x4558_494e;

/// Most references a path may have in a stream we accept.
const MAX_REFERENCES: u64 = 1 << 20;
/// Longest absolute path string accepted in a stream.
const MAX_PATH_LEN: usize = 4096;

impl LocalStore {
    /// Writes `paths` (in an order where references come first) as an export stream. Each
    /// path's NAR is re-hashed on the way and checked against the database, so a corrupt path
    /// is never exported.
    pub fn export(&self, paths: &[StorePath], out: &mut impl Write) -> Result<(), StoreError> {
        self.export_with(paths, out, &mut |_| {})
    }

    /// [`LocalStore::export`], calling `done` once each path's record is written (for
    /// progress).
    pub fn export_with(
        &self,
        paths: &[StorePath],
        out: &mut impl Write,
        done: &mut dyn FnMut(&StorePath),
    ) -> Result<(), StoreError> {
        let w = |e: io::Error| StoreError::Io {
            context: "cannot write the export stream to",
            path: "output".into(),
            source: e,
        };
        for p in paths {
            let info = self.require_info(p)?;
            wire::write_u64(out, 1).map_err(w)?;
            let mut tee = TeeHasher {
                out: &mut *out,
                hasher: nar::CountingHasher::new(HashAlgo::Sha256),
            };
            nar::dump(&self.real_path(p), &mut tee)?;
            let (hash, _) = tee.hasher.finish();
            if hash != info.nar_hash {
                return Err(StoreError::HashMismatch {
                    path: self.print(p),
                    expected: info.nar_hash.to_sri(),
                    actual: hash.to_sri(),
                });
            }
            wire::write_u64(out, EXPORT_MAGIC).map_err(w)?;
            wire::write_bytes(out, self.print(p).as_bytes()).map_err(w)?;
            wire::write_u64(out, info.references.len() as u64).map_err(w)?;
            for r in &info.references {
                wire::write_bytes(out, self.print(r).as_bytes()).map_err(w)?;
            }
            let deriver = info
                .deriver
                .as_ref()
                .map(|d| self.print(d))
                .unwrap_or_default();
            wire::write_bytes(out, deriver.as_bytes()).map_err(w)?;
            wire::write_u64(out, 0).map_err(w)?;
            done(p);
        }
        wire::write_u64(out, 0).map_err(w)?;
        out.flush().map_err(w)
    }

    /// Reads an export stream and makes every path in it valid, all at once: if any record is
    /// malformed, refers to a path that is neither valid nor earlier in the stream, or the
    /// stream has trailing bytes, nothing is registered and the store is as it was.
    pub fn import(&mut self, input: impl Read) -> Result<Vec<StorePath>, StoreError> {
        self.import_with(input, ImportOptions::default())
    }

    /// [`LocalStore::import`] with [`ImportOptions`]: a stream whose paths are not the
    /// expected ones is refused as a malformed one is, before anything is registered.
    pub fn import_with(
        &mut self,
        input: impl Read,
        mut opts: ImportOptions<'_>,
    ) -> Result<Vec<StorePath>, StoreError> {
        let _gc = self.gc_lock(false)?;
        let mut r = Counting {
            inner: io::BufReader::with_capacity(256 * 1024, input),
            offset: 0,
        };
        let mut stages = Vec::new();
        let result = self
            .read_stream(&mut r, &mut stages, &mut opts)
            .and_then(|staged| {
                let paths = staged.iter().map(|s| s.new.path.clone()).collect();
                self.install(staged)?;
                Ok(paths)
            });
        for s in &stages {
            crate::local::remove_tree(s);
        }
        result
    }

    /// Reads every record, restoring each archive to a staging tree whose path is pushed to
    /// `stages` first, so the caller can clean up whatever happens.
    fn read_stream<R: BufRead>(
        &self,
        r: &mut Counting<R>,
        stages: &mut Vec<std::path::PathBuf>,
        opts: &mut ImportOptions<'_>,
    ) -> Result<Vec<Staged>, StoreError> {
        let mut staged = Vec::new();
        let mut seen: BTreeSet<StorePath> = BTreeSet::new();
        loop {
            let at = r.offset;
            match read_u64(r, "record marker")? {
                0 => break,
                1 => {}
                n => return bad(at, format!("expected record marker 0 or 1, found {n}: not a strata or Nix export stream")),
            }
            let stage = self.temp_path("import");
            stages.push(stage.clone());
            let nar_start = r.offset;
            let mut hr = HashingReader::new(&mut *r, HashAlgo::Sha256);
            let parsed = NarParser::at_offset(&mut hr, nar_start).parse(&mut Restorer::new(&stage));
            let (nar_hash, nar_size) = hr.finish();
            parsed?;
            let at = r.offset;
            let magic = read_u64(r, "export magic")?;
            if magic != EXPORT_MAGIC {
                return bad(
                    at,
                    format!(
                        "expected the export magic 0x4558494e after the archive, found {magic:#x}"
                    ),
                );
            }
            let path_at = r.offset;
            let path = self.read_path(r, "path")?;
            if opts.expect.is_some_and(|e| !e.contains(&path)) {
                return bad(
                    path_at,
                    format!("path '{}' was not asked for", self.print(&path)),
                );
            }
            let at = r.offset;
            let n = read_u64(r, "reference count")?;
            if n > MAX_REFERENCES {
                return bad(at, format!("reference count {n} is absurd"));
            }
            let mut references = BTreeSet::new();
            for _ in 0..n {
                let reference = self.read_path(r, "reference")?;
                if reference != path && !seen.contains(&reference) && !self.is_valid(&reference)? {
                    return Err(StoreError::MissingReference {
                        path: self.print(&path),
                        reference: self.print(&reference),
                    });
                }
                references.insert(reference);
            }
            let at = r.offset;
            let deriver = read_string(r, MAX_PATH_LEN, "deriver")?;
            let deriver = if deriver.is_empty() {
                None
            } else {
                let s = String::from_utf8(deriver).map_err(|_| StoreError::BadExport {
                    offset: at,
                    problem: "deriver is not UTF-8".into(),
                })?;
                Some(
                    self.store_dir()
                        .parse(&s)
                        .map_err(|e| StoreError::BadExport {
                            offset: at,
                            problem: format!("bad deriver: {e}"),
                        })?,
                )
            };
            let at = r.offset;
            match read_u64(r, "signature flag")? {
                0 => {}
                1 => {
                    read_string(r, 64 * 1024, "legacy signature")?;
                }
                n => return bad(at, format!("expected signature flag 0 or 1, found {n}")),
            }
            if !seen.insert(path.clone()) {
                return bad(
                    at,
                    format!("path '{}' appears twice in the stream", self.print(&path)),
                );
            }
            if let Some(f) = opts.on_path.as_mut() {
                f(&path);
            }
            let new = NewPath {
                path,
                references,
                deriver,
                ca: None,
                ultimate: false,
            };
            staged.push(Staged {
                stage,
                new,
                nar_hash,
                nar_size,
            });
        }
        let at = r.offset;
        let mut probe = [0u8; 1];
        if r.read(&mut probe).map_err(|e| StoreError::Io {
            context: "cannot read the import stream",
            path: "input".into(),
            source: e,
        })? != 0
        {
            return bad(at, "trailing data after the end of the stream".to_owned());
        }
        if let Some(missing) = opts.expect.and_then(|e| e.difference(&seen).next()) {
            return bad(
                at,
                format!(
                    "the stream ends without path '{}', which was asked for",
                    self.print(missing)
                ),
            );
        }
        Ok(staged)
    }

    fn read_path<R: BufRead>(
        &self,
        r: &mut Counting<R>,
        what: &str,
    ) -> Result<StorePath, StoreError> {
        let at = r.offset;
        let s = read_string(r, MAX_PATH_LEN, what)?;
        let s = String::from_utf8(s).map_err(|_| StoreError::BadExport {
            offset: at,
            problem: format!("{what} is not UTF-8"),
        })?;
        self.store_dir()
            .parse(&s)
            .map_err(|e| StoreError::BadExport {
                offset: at,
                problem: format!("bad {what}: {e}"),
            })
    }
}

/// What [`LocalStore::import_with`] accepts and whom it tells.
#[derive(Default)]
pub struct ImportOptions<'a> {
    /// Exactly the paths the stream must hold (a copy asks for these): any other path, or one
    /// of these missing, makes the stream malformed.
    pub expect: Option<&'a BTreeSet<StorePath>>,
    /// Called as each path's record has been read and staged (for progress); the paths become
    /// valid only once the whole stream has been read.
    pub on_path: Option<&'a mut dyn FnMut(&StorePath)>,
}

impl std::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("expect", &self.expect)
            .field("on_path", &self.on_path.is_some())
            .finish()
    }
}

fn bad<T>(offset: u64, problem: String) -> Result<T, StoreError> {
    Err(StoreError::BadExport { offset, problem })
}

fn read_u64<R: Read>(r: &mut Counting<R>, what: &str) -> Result<u64, StoreError> {
    let at = r.offset;
    let mut b = [0u8; 8];
    read_exact(r, &mut b, at, what)?;
    Ok(u64::from_le_bytes(b))
}

fn read_exact<R: Read>(
    r: &mut Counting<R>,
    buf: &mut [u8],
    at: u64,
    what: &str,
) -> Result<(), StoreError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            StoreError::BadExport {
                offset: at,
                problem: format!("stream ends early while reading the {what}"),
            }
        } else {
            StoreError::Io {
                context: "cannot read the import stream",
                path: "input".into(),
                source: e,
            }
        }
    })
}

fn read_string<R: Read>(
    r: &mut Counting<R>,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, StoreError> {
    let at = r.offset;
    let len = read_u64(r, what)?;
    if len > max as u64 {
        return bad(
            at,
            format!("{what} has length {len}, more than the {max} bytes allowed"),
        );
    }
    let mut s = vec![0u8; len as usize];
    read_exact(r, &mut s, at, what)?;
    let mut pad = [0u8; 8];
    let p = wire::padding(len);
    let pat = r.offset;
    read_exact(r, &mut pad[..p], pat, what)?;
    if pad[..p].iter().any(|&b| b != 0) {
        return bad(pat, format!("non-zero padding after the {what}"));
    }
    Ok(s)
}

/// Counts the bytes read, for error offsets.
struct Counting<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

struct TeeHasher<'a, W: Write> {
    out: &'a mut W,
    hasher: nar::CountingHasher,
}

impl<W: Write> Write for TeeHasher<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.write_all(&buf[..n])?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::StoreDir;

    #[test]
    fn an_import_told_what_to_expect_refuses_any_other_stream_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = LocalStore::open(dir.path().join("a"), StoreDir::default()).unwrap();
        let a = src.add_text("a", b"a", &BTreeSet::new()).unwrap().path;
        let b = src.add_text("b", b"b", &BTreeSet::new()).unwrap().path;
        let mut stream = Vec::new();
        let mut written = Vec::new();
        src.export_with(std::slice::from_ref(&a), &mut stream, &mut |p| {
            written.push(p.clone())
        })
        .unwrap();
        assert_eq!(written, std::slice::from_ref(&a));

        let mut dst = LocalStore::open(dir.path().join("b"), StoreDir::default()).unwrap();
        let both: BTreeSet<StorePath> = [a.clone(), b.clone()].into();
        let only_b: BTreeSet<StorePath> = [b.clone()].into();
        for (expect, problem) in [
            (&both, "the stream ends without path"),
            (&only_b, "was not asked for"),
        ] {
            let e = dst
                .import_with(
                    &stream[..],
                    ImportOptions {
                        expect: Some(expect),
                        on_path: None,
                    },
                )
                .unwrap_err()
                .to_string();
            assert!(e.contains(problem), "{e}");
            assert!(!dst.is_valid(&a).unwrap());
        }
        let only_a: BTreeSet<StorePath> = [a.clone()].into();
        let mut seen = Vec::new();
        let got = dst
            .import_with(
                &stream[..],
                ImportOptions {
                    expect: Some(&only_a),
                    on_path: Some(&mut |p| seen.push(p.clone())),
                },
            )
            .unwrap();
        assert_eq!(got, std::slice::from_ref(&a));
        assert_eq!(seen, std::slice::from_ref(&a));
        assert!(dst.is_valid(&a).unwrap());
    }
}
