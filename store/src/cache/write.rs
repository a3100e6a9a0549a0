//! Publishing a closure into a cache directory in Nix's layout.
//!
//! Only paths whose `.narinfo` the cache lacks are written. Every file is written under a
//! temporary name in the cache and renamed into place, the NAR before its narinfo, so a
//! reader (or a web server) never sees a half-written file or a narinfo whose NAR is not
//! there yet. NARs are compressed on several threads, one path each.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{fingerprint, CacheError, NarInfo, SecretKey};
use crate::nar::CountingHasher;
use crate::{Hash, HashAlgo, LocalStore, StorePath};

/// How NARs are compressed in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Zstd,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "none" => Some(Compression::None),
            "xz" => Some(Compression::Xz),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The name a narinfo's `Compression:` line gives.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
        }
    }
}

/// How [`publish`] writes.
#[derive(Debug)]
pub struct PublishOptions<'a> {
    pub compression: Compression,
    /// Signs every narinfo written (besides the signatures the store already has).
    pub key: Option<&'a SecretKey>,
    /// Paths compressed at once; 0 means the number of CPUs.
    pub jobs: usize,
}

/// What [`publish`] reports as it goes (from worker threads).
#[derive(Debug)]
pub enum PublishEvent<'a> {
    Written {
        path: &'a StorePath,
        nar_size: u64,
        file_size: u64,
    },
}

/// The outcome of [`publish`].
#[derive(Debug, Default, serde::Serialize)]
pub struct PublishReport {
    /// Paths of the closure.
    pub closure: usize,
    /// Paths written now (the rest were in the cache already).
    pub written: Vec<String>,
    pub nar_bytes: u64,
    pub file_bytes: u64,
}

/// Writes the closure of `paths` from `store` into the cache directory `dir` (created if
/// needed).
pub fn publish(
    store: &LocalStore,
    dir: &Path,
    paths: &[StorePath],
    opts: &PublishOptions<'_>,
    on_event: &(dyn Fn(PublishEvent<'_>) + Sync),
) -> Result<PublishReport, CacheError> {
    let cache = format!("file://{}", dir.display());
    let io_err = |action: &'static str, file: &Path, e: io::Error| CacheError::Io {
        cache: cache.clone(),
        action,
        file: file.display().to_string(),
        problem: e.to_string(),
    };
    fs::create_dir_all(dir.join("nar")).map_err(|e| io_err("create", &dir.join("nar"), e))?;
    let info_file = dir.join("nix-cache-info");
    match fs::read_to_string(&info_file) {
        Ok(_) => super::BinaryCache::new(&cache, std::time::Duration::from_secs(1))?
            .check_store_dir(store.store_dir())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => write_renamed(
            dir,
            &info_file,
            format!("StoreDir: {}\n", store.store_dir().as_str()).as_bytes(),
        )
        .map_err(|e| io_err("write", &info_file, e))?,
        Err(e) => return Err(io_err("read", &info_file, e)),
    }

    let closure = store.closure(paths)?;
    let order = store.topo_sort(&closure)?;
    // What the workers need, read here: a store handle is not shared between threads.
    let mut todo: Vec<(crate::PathInfo, PathBuf)> = Vec::new();
    for p in &order {
        if !dir.join(format!("{}.narinfo", p.hash_part())).exists() {
            todo.push((store.require_info(p)?, store.real_path(p)));
        }
    }
    let store_dir = store.store_dir();
    let mut report = PublishReport {
        closure: order.len(),
        ..PublishReport::default()
    };
    let jobs = match opts.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(todo.len().max(1));
    // Biggest first, so that one large path does not run alone at the end.
    let mut by_size: Vec<usize> = (0..todo.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(todo[i].0.nar_size));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<NarInfo, CacheError>>>> =
        Mutex::new((0..todo.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((info, real)) = todo.get(i) else {
                    break;
                };
                let p = &info.path;
                let r = write_nar(store_dir, info, real, dir, &cache, opts);
                let failed = r.is_err();
                if let Ok(info) = &r {
                    on_event(PublishEvent::Written {
                        path: p,
                        nar_size: info.nar_size,
                        file_size: info.file_size.unwrap_or(0),
                    });
                }
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
                if failed {
                    // The others stop at their next path.
                    next.store(usize::MAX / 2, Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    // The NARs reach the disk before any narinfo names them (one sync of the file system
    // rather than one per file), so a crash never leaves a narinfo whose NAR is lost.
    if results.iter().any(|r| matches!(r, Some(Ok(_)))) {
        crate::fs::syncfs(dir).map_err(|e| io_err("sync", dir, e.source))?;
    }
    // Narinfos last, in dependency order, so a reader finds a path's references in the cache
    // once it finds the path.
    for r in results {
        let Some(r) = r else { continue };
        let info = r?;
        let file = dir.join(format!("{}.narinfo", info.path.hash_part()));
        write_renamed(dir, &file, info.to_text(store.store_dir()).as_bytes())
            .map_err(|e| io_err("write", &file, e))?;
        report.nar_bytes += info.nar_size;
        report.file_bytes += info.file_size.unwrap_or(0);
        report.written.push(store.print(&info.path));
    }
    Ok(report)
}

/// Writes one path's compressed NAR under `nar/` and returns its narinfo (not yet written).
fn write_nar(
    store_dir: &crate::StoreDir,
    info: &crate::PathInfo,
    real: &Path,
    dir: &Path,
    cache: &str,
    opts: &PublishOptions<'_>,
) -> Result<NarInfo, CacheError> {
    let path = &info.path;
    let info = info.clone();
    let dump = |out: &mut dyn Write| {
        crate::nar::dump(real, &mut WriteRef(out)).map_err(crate::StoreError::from)
    };
    let tmp = temp_name(&dir.join("nar"));
    let io_err = |action: &'static str, file: &Path, e: io::Error| CacheError::Io {
        cache: cache.to_owned(),
        action,
        file: file.display().to_string(),
        problem: e.to_string(),
    };
    let written = (|| -> Result<(Hash, u64, Hash, u64), CacheError> {
        let f = fs::File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        let file_out = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, f),
            hasher: CountingHasher::new(HashAlgo::Sha256),
        };
        let mut nar_hash = CountingHasher::new(HashAlgo::Sha256);
        let file_out = match opts.compression {
            Compression::None => {
                let mut t = Tee(&mut nar_hash, file_out);
                dump(&mut t)?;
                t.1
            }
            Compression::Zstd => {
                let enc = zstd::stream::write::Encoder::new(file_out, 3)
                    .map_err(|e| io_err("compress", &tmp, e))?;
                let mut t = Tee(&mut nar_hash, enc);
                dump(&mut t)?;
                t.1.finish().map_err(|e| io_err("compress", &tmp, e))?
            }
            Compression::Xz => {
                let enc =
                    lzma_rust2::XzWriter::new(file_out, lzma_rust2::XzOptions::with_preset(6))
                        .map_err(|e| io_err("compress", &tmp, e))?;
                let mut t = Tee(&mut nar_hash, enc);
                dump(&mut t)?;
                t.1.finish().map_err(|e| io_err("compress", &tmp, e))?
            }
        };
        let HashingWriter { inner, hasher } = file_out;
        inner
            .into_inner()
            .map_err(|e| io_err("write", &tmp, e.into_error()))?;
        let (file_hash, file_size) = hasher.finish();
        let (nh, ns) = nar_hash.finish();
        Ok((nh, ns, file_hash, file_size))
    })();
    let (nar_hash, nar_size, file_hash, file_size) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if nar_hash != info.nar_hash || nar_size != info.nar_size {
        let _ = fs::remove_file(&tmp);
        return Err(CacheError::Refused {
            cache: cache.to_owned(),
            path: store_dir.display(path),
            reason: format!(
                "its files no longer have the NAR hash the store recorded ({} of {} bytes, recorded {} of {}); run `strata store verify`",
                nar_hash.to_sri(),
                nar_size,
                info.nar_hash.to_sri(),
                info.nar_size
            ),
        });
    }
    let url = format!(
        "nar/{}.nar{}",
        file_hash.to_nix32(),
        opts.compression.extension()
    );
    let dest = dir.join(&url);
    fs::rename(&tmp, &dest).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("rename into", &dest, e)
    })?;
    let mut sigs = info.sigs.clone();
    if let Some(k) = opts.key {
        let fp = fingerprint(
            store_dir,
            path,
            &info.nar_hash,
            info.nar_size,
            &info.references,
        );
        let sig = k.sign(fp.as_bytes());
        if !sigs.contains(&sig) {
            sigs.push(sig);
        }
    }
    Ok(NarInfo {
        path: path.clone(),
        url,
        compression: opts.compression.name().to_owned(),
        file_hash: Some(file_hash),
        file_size: Some(file_size),
        nar_hash: info.nar_hash,
        nar_size: info.nar_size,
        references: info.references,
        deriver: info.deriver,
        sigs,
        ca: info.ca,
    })
}

/// Writes `data` to `dest` through a temporary file in `dir` and a rename.
fn write_renamed(dir: &Path, dest: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temp_name(dir);
    let r = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, dest)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

fn temp_name(dir: &Path) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    dir.join(format!(
        ".tmp-strata-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

struct Tee<'a, W>(&'a mut CountingHasher, W);

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.write_all(buf)?;
        self.0.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.1.flush()
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: CountingHasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let _ = self.hasher.write_all(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct WriteRef<'a>(&'a mut dyn Write);

impl Write for WriteRef<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
