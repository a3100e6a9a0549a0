//! Substituting store paths from binary caches.
//!
//! A path is accepted only when
//!
//! - its narinfo names the path that was asked for,
//! - a trusted key signed its fingerprint (so NAR hash, size and references are vouched for),
//! - everything it refers to is valid in the store or comes along, accepted the same way,
//! - its file has the `FileHash`/`FileSize` the narinfo gives, decompresses to its end
//!   (a truncated file is refused), and the NAR inside has the signed hash and size.
//!
//! All paths of one call are staged first and registered together in one transaction with
//! their signatures, so a refusal leaves the store as it was.
//!
//! Answers are remembered for the life of a [`Substituter`] (a path that no cache has is not
//! asked for again, nor one whose NAR failed its checks), and a cache that fails to answer
//! (down, slow past the timeout, or for another store directory) is not asked again either.
//!
//! Without `strict`, a path whose NAR fails (and every path that refers to it) is left out and
//! the rest of the batch is still registered: a builder asks for a whole graph's outputs at
//! once, and one bad NAR should cost one build, not all of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::{fingerprint, BinaryCache, CacheError, NarInfo, TrustedKeys};
use crate::local::{NewPath, Staged};
use crate::nar::{HashingReader, NarParser, Restorer};
use crate::{HashAlgo, LocalStore, StoreDir, StorePath};

/// How a [`Substituter`] behaves.
#[derive(Debug, Clone)]
pub struct SubstituterOptions {
    /// How long to wait for a cache to connect or to send the next bytes.
    pub timeout: Duration,
    /// Queries and downloads at once; 0 means 16.
    pub jobs: usize,
    /// Whether a path no cache can give is an error (`strata copy --from`) rather than
    /// something the caller will build.
    pub strict: bool,
}

impl Default for SubstituterOptions {
    fn default() -> Self {
        SubstituterOptions {
            timeout: Duration::from_secs(10),
            jobs: 0,
            strict: false,
        }
    }
}

/// What a [`Substituter`] reports as it goes (from worker threads).
#[derive(Debug)]
pub enum Event<'a> {
    /// A path's NAR is being downloaded.
    Fetching {
        path: &'a StorePath,
        cache: &'a str,
        file_size: Option<u64>,
        nar_size: u64,
    },
    /// A cache could not be used and is skipped from now on.
    CacheSkipped { cache: &'a str, error: &'a str },
    /// A path was made valid (after every path of its batch was checked): the bytes
    /// downloaded (as the cache stores them) and unpacked (its NAR).
    Substituted {
        path: &'a StorePath,
        cache: &'a str,
        file_bytes: u64,
        nar_bytes: u64,
    },
    /// A cache had the path but it was not accepted.
    Refused {
        path: &'a StorePath,
        cache: &'a str,
        reason: &'a str,
    },
}

/// The outcome of [`Substituter::substitute`].
#[derive(Debug, Default, serde::Serialize)]
pub struct SubstituteReport {
    /// Paths made valid, with the cache each came from.
    pub substituted: Vec<(String, String)>,
    /// Bytes downloaded (compressed) and unpacked (NAR).
    pub file_bytes: u64,
    pub nar_bytes: u64,
    /// Paths asked for (or needed by them) that no cache could give.
    pub unavailable: Vec<String>,
}

#[derive(Debug, Clone)]
enum Answer {
    Found(usize, Box<NarInfo>),
    /// No cache has it, or no cache's copy was acceptable: (cache, reason) for each.
    Missing(Vec<(String, String)>),
}

/// Binary caches asked in order, with the keys trusted to sign what they hold.
#[derive(Debug)]
pub struct Substituter {
    caches: Vec<BinaryCache>,
    trusted: TrustedKeys,
    store_dir: StoreDir,
    opts: SubstituterOptions,
    /// Per cache: why it is not usable, if it is not (its `nix-cache-info` checked once).
    unusable: Vec<OnceLock<Option<String>>>,
    /// Caches that failed to answer during this run.
    down: Mutex<BTreeSet<usize>>,
    answers: Mutex<HashMap<StorePath, Answer>>,
}

type OnEvent<'a> = &'a (dyn Fn(Event<'_>) + Sync);

impl Substituter {
    pub fn new(
        urls: &[String],
        trusted: TrustedKeys,
        store_dir: StoreDir,
        opts: SubstituterOptions,
    ) -> Result<Substituter, CacheError> {
        let caches = urls
            .iter()
            .map(|u| BinaryCache::new(u, opts.timeout))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Substituter {
            unusable: caches.iter().map(|_| OnceLock::new()).collect(),
            caches,
            trusted,
            store_dir,
            opts,
            down: Mutex::new(BTreeSet::new()),
            answers: Mutex::new(HashMap::new()),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    fn jobs(&self) -> usize {
        match self.opts.jobs {
            0 => 16,
            n => n,
        }
    }

    fn is_down(&self, i: usize) -> bool {
        self.down.lock().map(|d| d.contains(&i)).unwrap_or(true)
    }

    fn mark_down(&self, i: usize, error: &str, on_event: OnEvent<'_>) {
        let newly = self.down.lock().map(|mut d| d.insert(i)).unwrap_or(false);
        if newly {
            tracing::debug!(cache = self.caches[i].url(), error, "skipping a cache");
            on_event(Event::CacheSkipped {
                cache: self.caches[i].url(),
                error,
            });
        }
    }

    /// Asks the caches, in order, for one path's narinfo and checks it.
    fn ask(&self, path: &StorePath, on_event: OnEvent<'_>) -> Result<Answer, CacheError> {
        if let Some(a) = self.answers.lock().ok().and_then(|m| m.get(path).cloned()) {
            return Ok(a);
        }
        let mut reasons = Vec::new();
        let mut found = None;
        for (i, cache) in self.caches.iter().enumerate() {
            if self.is_down(i) {
                continue;
            }
            let unusable = self.unusable[i].get_or_init(|| {
                cache
                    .check_store_dir(&self.store_dir)
                    .err()
                    .map(|e| without_cache(&e))
            });
            if let Some(e) = unusable {
                if self.opts.strict {
                    return Err(CacheError::Io {
                        cache: cache.url().to_owned(),
                        action: "use",
                        file: "nix-cache-info".into(),
                        problem: e.clone(),
                    });
                }
                self.mark_down(i, e, on_event);
                continue;
            }
            let info = match cache.narinfo(&self.store_dir, path) {
                Ok(Some(info)) => info,
                Ok(None) => continue,
                Err(CacheError::NarInfo { file, source, .. }) => {
                    let reason = format!("its narinfo {file} is malformed: {source}");
                    on_event(Event::Refused {
                        path,
                        cache: cache.url(),
                        reason: &reason,
                    });
                    reasons.push((cache.url().to_owned(), reason));
                    continue;
                }
                Err(e) => {
                    if self.opts.strict {
                        return Err(e);
                    }
                    self.mark_down(i, &without_cache(&e), on_event);
                    continue;
                }
            };
            match self.check_narinfo(path, &info) {
                Ok(()) => {
                    found = Some(Answer::Found(i, Box::new(info)));
                    break;
                }
                Err(Refusal(reason)) => {
                    on_event(Event::Refused {
                        path,
                        cache: cache.url(),
                        reason: &reason,
                    });
                    reasons.push((cache.url().to_owned(), reason));
                }
            }
        }
        let answer = found.unwrap_or(Answer::Missing(reasons));
        if let Ok(mut m) = self.answers.lock() {
            m.insert(path.clone(), answer.clone());
        }
        Ok(answer)
    }

    /// The checks on a narinfo before its NAR is fetched.
    fn check_narinfo(&self, asked: &StorePath, info: &NarInfo) -> Result<(), Refusal> {
        if info.path != *asked {
            return Err(Refusal(format!(
                "its narinfo names another path, '{}'",
                self.store_dir.display(&info.path)
            )));
        }
        if info.sigs.is_empty() {
            return Err(Refusal("its narinfo is not signed".into()));
        }
        let fp = fingerprint(
            &self.store_dir,
            &info.path,
            &info.nar_hash,
            info.nar_size,
            &info.references,
        );
        if self.trusted.signer(fp.as_bytes(), &info.sigs).is_none() {
            let names: Vec<&str> = info
                .sigs
                .iter()
                .map(|s| s.split(':').next().unwrap_or(""))
                .collect();
            return Err(Refusal(format!(
                "no valid signature by a trusted key (signed by {}; trusted: {})",
                names.join(", "),
                if self.trusted.is_empty() {
                    "none".to_owned()
                } else {
                    self.trusted.names().join(", ")
                }
            )));
        }
        Ok(())
    }

    /// Asks for many paths at once, on up to `jobs` threads.
    fn ask_all(
        &self,
        paths: &[StorePath],
        on_event: OnEvent<'_>,
    ) -> Result<Vec<Answer>, CacheError> {
        let next = AtomicUsize::new(0);
        let out: Mutex<Vec<Option<Result<Answer, CacheError>>>> =
            Mutex::new((0..paths.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..self.jobs().min(paths.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = paths.get(i) else { break };
                    let a = self.ask(p, on_event);
                    if let Ok(mut o) = out.lock() {
                        o[i] = Some(a);
                    }
                });
            }
        });
        out.into_inner()
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Ok(Answer::Missing(Vec::new()))))
            .collect()
    }

    /// Which of `paths` some cache has, signed by a trusted key (narinfos only: nothing is
    /// downloaded). Asked in parallel, on up to `jobs` connections; every answer is kept for
    /// the run, so [`substitute`](Self::substitute) asks none of them again.
    pub fn query(
        &self,
        paths: &[StorePath],
        on_event: OnEvent<'_>,
    ) -> Result<Vec<bool>, CacheError> {
        Ok(self
            .ask_all(paths, on_event)?
            .into_iter()
            .map(|a| matches!(a, Answer::Found(..)))
            .collect())
    }

    /// Remembers that no cache's copy of `path` can be had, so it is not fetched again.
    fn forget(&self, path: &StorePath, cache: &str, reason: String) {
        if let Ok(mut m) = self.answers.lock() {
            m.insert(
                path.clone(),
                Answer::Missing(vec![(cache.to_owned(), reason)]),
            );
        }
    }

    /// Makes `paths` (with everything they refer to) valid in `store` from the caches. With
    /// `strict`, every path must be had; otherwise the paths that cannot be (and those that
    /// refer to them) are listed in the report and left for the caller to build.
    pub fn substitute(
        &self,
        store: &mut LocalStore,
        paths: &[StorePath],
        on_event: OnEvent<'_>,
    ) -> Result<SubstituteReport, CacheError> {
        // The closure, breadth first, each level asked in parallel.
        let mut plan: BTreeMap<StorePath, (usize, Box<NarInfo>)> = BTreeMap::new();
        let mut missing: BTreeMap<StorePath, Vec<(String, String)>> = BTreeMap::new();
        let mut seen: BTreeSet<StorePath> = BTreeSet::new();
        let mut level: Vec<StorePath> = Vec::new();
        for p in paths {
            if seen.insert(p.clone()) && !store.is_valid(p)? {
                level.push(p.clone());
            }
        }
        while !level.is_empty() {
            let answers = self.ask_all(&level, on_event)?;
            let mut next = Vec::new();
            for (p, a) in level.into_iter().zip(answers) {
                match a {
                    Answer::Found(i, info) => {
                        for r in &info.references {
                            if seen.insert(r.clone()) && !store.is_valid(r)? {
                                next.push(r.clone());
                            }
                        }
                        plan.insert(p, (i, info));
                    }
                    Answer::Missing(reasons) => {
                        missing.insert(p, reasons);
                    }
                }
            }
            level = next;
        }
        // A path whose references cannot all be had cannot be had either.
        let mut because: BTreeMap<StorePath, StorePath> = BTreeMap::new();
        prune(store, &mut plan, &mut because);
        if self.opts.strict {
            if let Some((p, reasons)) = missing.iter().next() {
                let caches: Vec<&str> = self.caches.iter().map(BinaryCache::url).collect();
                return Err(match reasons.as_slice() {
                    [] => CacheError::NotInCache {
                        path: self.store_dir.display(p),
                        caches: caches.join(" "),
                    },
                    [(cache, reason)] => CacheError::Refused {
                        cache: cache.clone(),
                        path: self.store_dir.display(p),
                        reason: reason.clone(),
                    },
                    many => CacheError::Refused {
                        cache: caches.join(" "),
                        path: self.store_dir.display(p),
                        reason: many
                            .iter()
                            .map(|(c, r)| format!("{c}: {r}"))
                            .collect::<Vec<_>>()
                            .join("; "),
                    },
                });
            }
            if let Some((p, r)) = because.iter().next() {
                return Err(CacheError::Refused {
                    cache: self.cache_of(p),
                    path: self.store_dir.display(p),
                    reason: format!(
                        "it refers to '{}', which is neither in the store nor acceptable from the caches",
                        self.store_dir.display(r)
                    ),
                });
            }
        }
        let mut report = SubstituteReport {
            unavailable: missing
                .keys()
                .chain(because.keys())
                .map(|p| self.store_dir.display(p))
                .collect(),
            ..SubstituteReport::default()
        };
        if plan.is_empty() {
            return Ok(report);
        }

        // Fetch and check every NAR into a staging tree, in parallel.
        let _gc = store.gc_lock(false)?;
        let items: Vec<(&StorePath, &(usize, Box<NarInfo>))> = plan.iter().collect();
        let mut stages: Vec<PathBuf> = Vec::new();
        for _ in &items {
            stages.push(store.new_staging_dir("substitute")?);
        }
        let mut results = self.fetch_all(&items, &stages, on_event);
        let outcome = (|| {
            // Strict: the first failure is the answer. Otherwise a failed path, and whatever
            // refers to it, is left out, and the rest goes in.
            if self.opts.strict {
                if let Some(Some(Err(e))) = results
                    .iter_mut()
                    .find(|r| matches!(r, Some(Err(_))))
                    .map(Option::take)
                {
                    return Err(e);
                }
            }
            let mut failed: BTreeSet<StorePath> = BTreeSet::new();
            let mut downloaded: BTreeMap<StorePath, u64> = BTreeMap::new();
            for ((p, (i, _)), r) in items.iter().zip(results) {
                match r {
                    None => {}
                    Some(Ok(n)) => {
                        downloaded.insert((*p).clone(), n);
                    }
                    Some(Err(e)) => {
                        let cache = self.caches[*i].url();
                        let reason = match &e {
                            CacheError::Refused { reason, .. } => reason.clone(),
                            other => without_cache(other),
                        };
                        if matches!(e, CacheError::Refused { .. }) {
                            on_event(Event::Refused {
                                path: p,
                                cache,
                                reason: &reason,
                            });
                        } else {
                            self.mark_down(*i, &reason, on_event);
                        }
                        self.forget(p, cache, reason);
                        failed.insert((*p).clone());
                    }
                }
            }
            let mut keep: BTreeMap<StorePath, (usize, Box<NarInfo>)> = items
                .iter()
                .filter(|(p, _)| !failed.contains(*p))
                .map(|(p, v)| ((*p).clone(), (*v).clone()))
                .collect();
            let mut dropped: BTreeMap<StorePath, StorePath> = BTreeMap::new();
            prune(store, &mut keep, &mut dropped);
            let staged: Vec<Staged> = items
                .iter()
                .zip(&stages)
                .filter(|((p, _), _)| keep.contains_key(*p))
                .map(|((p, (_, info)), stage)| Staged {
                    stage: stage.join("t"),
                    new: NewPath {
                        path: (*p).clone(),
                        references: info.references.clone(),
                        deriver: info.deriver.clone(),
                        ca: info.ca.clone(),
                        ultimate: false,
                    },
                    nar_hash: info.nar_hash.clone(),
                    nar_size: info.nar_size,
                })
                .collect();
            if !staged.is_empty() {
                store.install(staged)?;
                let sigs: Vec<(StorePath, Vec<String>)> = keep
                    .iter()
                    .map(|(p, (_, info))| (p.clone(), info.sigs.clone()))
                    .collect();
                store.add_signatures(&sigs)?;
            }
            Ok::<_, CacheError>((
                keep,
                downloaded,
                failed.into_iter().chain(dropped.into_keys()),
            ))
        })();
        for s in &stages {
            crate::local::remove_tree(s);
        }
        let (keep, downloaded, lost) = outcome?;
        report
            .unavailable
            .extend(lost.map(|p| self.store_dir.display(&p)));
        for (p, (i, info)) in &keep {
            let cache = self.caches[*i].url();
            let file_bytes = downloaded.get(p).copied().unwrap_or(0);
            on_event(Event::Substituted {
                path: p,
                cache,
                file_bytes,
                nar_bytes: info.nar_size,
            });
            report
                .substituted
                .push((self.store_dir.display(p), cache.to_owned()));
            report.file_bytes += file_bytes;
            report.nar_bytes += info.nar_size;
        }
        Ok(report)
    }

    /// Downloads and checks `items`' NARs into `stages`, a few at a time; one result each.
    /// Strict, the first failure stops the handing out of more (those never tried are `None`).
    fn fetch_all(
        &self,
        items: &[(&StorePath, &(usize, Box<NarInfo>))],
        stages: &[PathBuf],
        on_event: OnEvent<'_>,
    ) -> Vec<Option<Result<u64, CacheError>>> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<u64, CacheError>>>> =
            Mutex::new((0..items.len()).map(|_| None).collect());
        // Unpacking is work for the CPU and the disk: a few more downloads than cores keep both
        // busy while the network waits.
        let fetchers = std::thread::available_parallelism()
            .map_or(2, |n| n.get() + 2)
            .min(self.jobs());
        std::thread::scope(|s| {
            for _ in 0..fetchers.min(items.len()) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((p, (i, info))) = items.get(k) else {
                        break;
                    };
                    let cache = &self.caches[*i];
                    let r = if self.is_down(*i) {
                        Err(CacheError::Io {
                            cache: cache.url().to_owned(),
                            action: "fetch",
                            file: info.url.clone(),
                            problem: "the cache failed earlier in this run".into(),
                        })
                    } else {
                        on_event(Event::Fetching {
                            path: p,
                            cache: cache.url(),
                            file_size: info.file_size,
                            nar_size: info.nar_size,
                        });
                        self.fetch_nar(cache, info, &stages[k].join("t"))
                    };
                    let failed = r.is_err();
                    if let Ok(mut v) = results.lock() {
                        v[k] = Some(r);
                    }
                    if failed && self.opts.strict {
                        next.store(usize::MAX / 2, Ordering::Relaxed);
                        break;
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The URL of the cache that answered for `p`.
    fn cache_of(&self, p: &StorePath) -> String {
        self.answers
            .lock()
            .ok()
            .and_then(|m| match m.get(p) {
                Some(Answer::Found(i, _)) => Some(self.caches[*i].url().to_owned()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Downloads one NAR, checks its file and NAR hashes and sizes, and restores it at
    /// `dest`; the bytes downloaded.
    fn fetch_nar(
        &self,
        cache: &BinaryCache,
        info: &NarInfo,
        dest: &std::path::Path,
    ) -> Result<u64, CacheError> {
        let path = self.store_dir.display(&info.path);
        let refuse = |reason: String| CacheError::Refused {
            cache: cache.url().to_owned(),
            path: path.clone(),
            reason,
        };
        let Some(raw) = cache.open(&info.url)? else {
            return Err(refuse(format!(
                "its NAR '{}' is not in the cache",
                info.url
            )));
        };
        // Never read more than the narinfo says the file holds (plus one byte, to notice).
        let limit = info.file_size.map_or(u64::MAX, |n| n.saturating_add(1));
        // The file's own hash is not checked: it is not signed, so only the NAR hash (which
        // is) vouches for the contents; its size is counted, for a clear error.
        let mut file_r = CountingReader {
            inner: raw.take(limit),
            count: 0,
        };
        let decoded = (|| {
            let decoded: Box<dyn Read + Send + '_> = match info.compression.as_str() {
                "none" => Box::new(ReadRef(&mut file_r)),
                "xz" => Box::new(lzma_rust2::XzReader::new(ReadRef(&mut file_r), true)),
                "zstd" => Box::new(
                    zstd::stream::read::Decoder::new(ReadRef(&mut file_r))
                        .map_err(|e| refuse(format!("cannot start decompressing: {e}")))?,
                ),
                other => {
                    return Err(CacheError::Compression {
                        cache: cache.url().to_owned(),
                        path: path.clone(),
                        compression: other.to_owned(),
                    })
                }
            };
            let mut nar_r = HashingReader::new(decoded, HashAlgo::Sha256);
            NarParser::new(&mut nar_r)
                .parse(&mut Restorer::new(dest))
                .map_err(|e| {
                    refuse(format!(
                        "its NAR '{}' is not a valid archive ({} compressed): {e}",
                        info.url, info.compression
                    ))
                })?;
            // To the end of the compressed stream, so a truncated or padded file shows.
            let mut probe = [0u8; 4096];
            let extra = nar_r.read(&mut probe).map_err(|e| {
                refuse(format!(
                    "its NAR '{}' does not decompress to its end ({}): {e}",
                    info.url, info.compression
                ))
            })?;
            if extra != 0 {
                return Err(refuse(format!(
                    "its NAR '{}' has data after the archive",
                    info.url
                )));
            }
            Ok(nar_r.finish())
        })();
        // The whole file is read even after a failure: a file of the wrong size is the
        // clearer reason.
        let drained = io::copy(&mut file_r, &mut io::sink());
        let file_size = file_r.count;
        if let Some(n) = info.file_size {
            if n != file_size {
                return Err(refuse(format!(
                    "its file '{}' has {} bytes, but the narinfo says {n}",
                    info.url,
                    if file_size > n {
                        format!("more than {n}")
                    } else {
                        file_size.to_string()
                    }
                )));
            }
        }
        let (nar_hash, nar_size) = decoded?;
        drained.map_err(|e| refuse(format!("cannot read its NAR '{}': {e}", info.url)))?;
        if nar_hash != info.nar_hash || nar_size != info.nar_size {
            return Err(refuse(format!(
                "its NAR has hash sha256:{} and {} bytes, but the signed narinfo says sha256:{} and {} bytes",
                nar_hash.to_nix32(),
                nar_size,
                info.nar_hash.to_nix32(),
                info.nar_size
            )));
        }
        Ok(file_size)
    }
}

/// An error's text without the "cache URL: " it starts with, for messages that name the
/// cache already.
fn without_cache(e: &CacheError) -> String {
    match e {
        CacheError::Io {
            action,
            file,
            problem,
            ..
        } => format!("cannot {action} '{file}': {problem}"),
        CacheError::Tls { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn is_valid(store: &LocalStore, p: &StorePath) -> bool {
    store.is_valid(p).unwrap_or(false)
}

/// Removes from `plan` every path that refers to one neither in the plan nor valid, until none
/// is left; `because` records, for each removed path, the reference it lacked.
fn prune(
    store: &LocalStore,
    plan: &mut BTreeMap<StorePath, (usize, Box<NarInfo>)>,
    because: &mut BTreeMap<StorePath, StorePath>,
) {
    loop {
        let bad: Vec<(StorePath, StorePath)> = plan
            .iter()
            .filter_map(|(p, (_, info))| {
                info.references
                    .iter()
                    .find(|r| *r != p && !plan.contains_key(*r) && !is_valid(store, r))
                    .map(|r| (p.clone(), r.clone()))
            })
            .collect();
        if bad.is_empty() {
            return;
        }
        for (p, r) in bad {
            plan.remove(&p);
            because.insert(p, r);
        }
    }
}

/// Why a narinfo is not acceptable (said after "refused '<path>': ").
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refusal(String);

/// A reader that counts what passes through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// A `Read` through a mutable reference that is `Send` and boxable.
struct ReadRef<'a, R>(&'a mut R);

impl<R: Read> Read for ReadRef<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
