//! Publishing and substituting between two stores through a cache directory, and every
//! refusal leaving the receiving store as it was.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::*;
use crate::{LocalStore, StoreDir, StorePath};

struct World {
    _tmp: tempfile::TempDir,
    src: LocalStore,
    dst: LocalStore,
    cache: std::path::PathBuf,
    key: SecretKey,
    /// b refers to a; c refers to b.
    a: StorePath,
    b: StorePath,
    c: StorePath,
}

fn world(compression: Compression) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let mut src = LocalStore::open(tmp.path().join("src"), StoreDir::default()).unwrap();
    let dst = LocalStore::open(tmp.path().join("dst"), StoreDir::default()).unwrap();
    let a = src
        .add_text("a.txt", &b"hello ".repeat(5000), &BTreeSet::new())
        .unwrap()
        .path;
    let b_body = format!("see {}", src.print(&a));
    let b = src
        .add_text("b.txt", b_body.as_bytes(), &[a.clone()].into())
        .unwrap()
        .path;
    let c_body = format!("see {}", src.print(&b));
    let c = src
        .add_text("c.txt", c_body.as_bytes(), &[b.clone()].into())
        .unwrap()
        .path;
    let key = SecretKey::generate("test-cache-1").unwrap();
    let cache = tmp.path().join("cache");
    let report = publish(
        &src,
        &cache,
        std::slice::from_ref(&c),
        &PublishOptions {
            compression,
            key: Some(&key),
            jobs: 2,
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.written.len(), 3);
    World {
        _tmp: tmp,
        src,
        dst,
        cache,
        key,
        a,
        b,
        c,
    }
}

fn substituter(w: &World, trusted: &str, strict: bool) -> Substituter {
    Substituter::new(
        &[format!("file://{}", w.cache.display())],
        TrustedKeys::parse(trusted).unwrap(),
        StoreDir::default(),
        SubstituterOptions {
            strict,
            ..SubstituterOptions::default()
        },
    )
    .unwrap()
}

fn narinfo_file(w: &World, p: &StorePath) -> std::path::PathBuf {
    w.cache.join(format!("{}.narinfo", p.hash_part()))
}

fn edit(file: &Path, f: impl FnOnce(String) -> String) {
    let t = fs::read_to_string(file).unwrap();
    fs::write(file, f(t)).unwrap();
}

fn nar_file(w: &World, p: &StorePath) -> std::path::PathBuf {
    let t = fs::read_to_string(narinfo_file(w, p)).unwrap();
    let url = t
        .lines()
        .find_map(|l| l.strip_prefix("URL: "))
        .unwrap()
        .to_owned();
    w.cache.join(url)
}

/// Drops the (unsigned) file hash and size, so only the signed NAR hash guards the file.
fn drop_file_lines(w: &World, p: &StorePath) {
    edit(&narinfo_file(w, p), |t| {
        t.lines()
            .filter(|l| !l.starts_with("FileHash") && !l.starts_with("FileSize"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
}

fn refused(w: &mut World, trusted: &str) -> String {
    let s = substituter(w, trusted, true);
    let e = s
        .substitute(&mut w.dst, std::slice::from_ref(&w.c), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        w.dst.valid_paths().unwrap().is_empty(),
        "store changed: {e}"
    );
    e
}

#[test]
fn publish_then_substitute_round_trips_with_signatures() {
    for compression in [Compression::Zstd, Compression::Xz, Compression::None] {
        let mut w = world(compression);
        let info = fs::read_to_string(narinfo_file(&w, &w.c)).unwrap();
        assert!(
            info.contains(&format!("Compression: {}\n", compression.name())),
            "{info}"
        );
        assert!(fs::read_to_string(w.cache.join("nix-cache-info"))
            .unwrap()
            .contains("StoreDir: /nix/store"));
        let trusted = w.key.public().to_text();
        let s = substituter(&w, &trusted, true);
        let report = s
            .substitute(&mut w.dst, std::slice::from_ref(&w.c), &|_| {})
            .unwrap();
        assert_eq!(report.substituted.len(), 3);
        for p in [&w.a, &w.b, &w.c] {
            let got = w.dst.require_info(p).unwrap();
            let want = w.src.require_info(p).unwrap();
            assert_eq!(got.nar_hash, want.nar_hash);
            assert_eq!(got.references, want.references);
            assert_eq!(got.sigs.len(), 1);
            let fp = fingerprint(
                &StoreDir::default(),
                p,
                &got.nar_hash,
                got.nar_size,
                &got.references,
            );
            assert!(w.key.public().verifies(fp.as_bytes(), &got.sigs[0]));
            assert!(!got.ultimate);
        }
        assert!(w.dst.verify(None).unwrap().problems.is_empty());
        // A second publish writes nothing.
        let again = publish(
            &w.src,
            &w.cache,
            std::slice::from_ref(&w.c),
            &PublishOptions {
                compression,
                key: Some(&w.key),
                jobs: 1,
            },
            &|_| {},
        )
        .unwrap();
        assert!(again.written.is_empty());
        assert_eq!(again.closure, 3);
    }
}

#[test]
fn untrusted_and_unsigned_are_refused() {
    let mut w = world(Compression::Zstd);
    let other = SecretKey::generate("other-1").unwrap().public().to_text();
    let e = refused(&mut w, &other);
    assert!(
        e.contains(
            "no valid signature by a trusted key (signed by test-cache-1; trusted: other-1)"
        ),
        "{e}"
    );
    // The right name with another key's bytes is no better.
    let impostor = format!("test-cache-1:{}", other.split_once(':').unwrap().1);
    let e = refused(&mut w, &impostor);
    assert!(e.contains("no valid signature"), "{e}");
    edit(&narinfo_file(&w, &w.c), |t| {
        t.lines()
            .filter(|l| !l.starts_with("Sig:"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    let trusted = w.key.public().to_text();
    let e = refused(&mut w, &trusted);
    assert!(e.contains("is not signed"), "{e}");
}

#[test]
fn a_tampered_signed_field_breaks_the_signature() {
    let mut w = world(Compression::Zstd);
    edit(&narinfo_file(&w, &w.a), |t| {
        let size = w.src.require_info(&w.a).unwrap().nar_size;
        t.replace(
            &format!("NarSize: {size}"),
            &format!("NarSize: {}", size + 8),
        )
    });
    let trusted = w.key.public().to_text();
    let e = refused(&mut w, &trusted);
    assert!(
        e.contains(&w.src.print(&w.a)) && e.contains("no valid signature"),
        "{e}"
    );
}

#[test]
fn a_nar_whose_hash_does_not_match_is_refused() {
    let mut w = world(Compression::None);
    // b's file replaced by a's (a valid NAR, but not the signed one).
    fs::copy(nar_file(&w, &w.a), nar_file(&w, &w.b)).unwrap();
    drop_file_lines(&w, &w.b);
    let trusted = w.key.public().to_text();
    let e = refused(&mut w, &trusted);
    assert!(
        e.contains("its NAR has hash") && e.contains(&w.src.print(&w.b)),
        "{e}"
    );
}

#[test]
fn a_file_of_another_size_than_the_narinfo_says_is_refused() {
    let mut w = world(Compression::None);
    fs::copy(nar_file(&w, &w.a), nar_file(&w, &w.b)).unwrap();
    let trusted = w.key.public().to_text();
    let e = refused(&mut w, &trusted);
    assert!(
        e.contains("bytes, but the narinfo says") || e.contains("but the narinfo says sha256:"),
        "{e}"
    );
}

#[test]
fn a_truncated_compressed_nar_is_refused() {
    for compression in [Compression::Zstd, Compression::Xz] {
        let mut w = world(compression);
        let f = nar_file(&w, &w.a);
        let data = fs::read(&f).unwrap();
        // Cut only the last bytes: the archive may be whole, but the stream is not.
        fs::write(&f, &data[..data.len() - 4]).unwrap();
        drop_file_lines(&w, &w.a);
        let trusted = w.key.public().to_text();
        let e = refused(&mut w, &trusted);
        assert!(e.contains(&w.src.print(&w.a)), "{e}");
        assert!(
            e.contains("decompress") || e.contains("not a valid archive"),
            "{compression:?}: {e}"
        );
    }
}

#[test]
fn a_narinfo_naming_another_path_is_refused() {
    let mut w = world(Compression::Zstd);
    fs::copy(narinfo_file(&w, &w.a), narinfo_file(&w, &w.b)).unwrap();
    let trusted = w.key.public().to_text();
    let e = refused(&mut w, &trusted);
    assert!(
        e.contains(&format!(
            "its narinfo names another path, '{}'",
            w.src.print(&w.a)
        )),
        "{e}"
    );
}

#[test]
fn references_outside_the_closure_are_refused() {
    let mut w = world(Compression::Zstd);
    fs::remove_file(narinfo_file(&w, &w.a)).unwrap();
    let trusted = w.key.public().to_text();
    let e = refused(&mut w, &trusted);
    assert!(e.contains(&w.src.print(&w.a)), "{e}");
    // Not strict: nothing of the chain is taken, and the report says what could not be had.
    let s = substituter(&w, &trusted, false);
    let r = s
        .substitute(&mut w.dst, std::slice::from_ref(&w.c), &|_| {})
        .unwrap();
    assert!(r.substituted.is_empty());
    assert_eq!(r.unavailable.len(), 3);
    assert!(w.dst.valid_paths().unwrap().is_empty());
}

#[test]
fn an_unreachable_cache_is_skipped() {
    let mut w = world(Compression::Zstd);
    let trusted = w.key.public().to_text();
    // A closed port on the loopback: connection refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Substituter::new(
        &[
            format!("http://127.0.0.1:{port}/c"),
            format!("file://{}", w.cache.display()),
        ],
        TrustedKeys::parse(&trusted).unwrap(),
        StoreDir::default(),
        SubstituterOptions::default(),
    )
    .unwrap();
    let skipped = std::sync::Mutex::new(Vec::new());
    let r = s
        .substitute(&mut w.dst, std::slice::from_ref(&w.c), &|e| {
            if let Event::CacheSkipped { cache, .. } = e {
                skipped.lock().unwrap().push(cache.to_owned());
            }
        })
        .unwrap();
    assert_eq!(r.substituted.len(), 3);
    assert_eq!(
        *skipped.lock().unwrap(),
        vec![format!("http://127.0.0.1:{port}/c")]
    );
}

#[test]
fn signing_in_the_store_is_what_publish_signs() {
    let mut w = world(Compression::None);
    let info = w.src.require_info(&w.b).unwrap();
    let sig = w.key.sign(
        fingerprint(
            &StoreDir::default(),
            &w.b,
            &info.nar_hash,
            info.nar_size,
            &info.references,
        )
        .as_bytes(),
    );
    w.src
        .add_signatures(&[(w.b.clone(), vec![sig.clone()])])
        .unwrap();
    w.src
        .add_signatures(&[(w.b.clone(), vec![sig.clone()])])
        .unwrap();
    assert_eq!(w.src.require_info(&w.b).unwrap().sigs, vec![sig.clone()]);
    assert!(fs::read_to_string(narinfo_file(&w, &w.b))
        .unwrap()
        .contains(&format!("Sig: {sig}\n")));
}

#[test]
fn without_strict_a_bad_nar_costs_only_what_needs_it() {
    let mut w = world(Compression::None);
    // b's file replaced by a's: b, and c which refers to it, cannot be had; a can.
    fs::copy(nar_file(&w, &w.a), nar_file(&w, &w.b)).unwrap();
    drop_file_lines(&w, &w.b);
    let trusted = w.key.public().to_text();
    let s = substituter(&w, &trusted, false);
    let events = std::sync::Mutex::new(Vec::new());
    let record = |e: Event<'_>| {
        let line = match e {
            Event::Fetching { path, .. } => format!("fetching {}", path.name()),
            Event::Substituted { path, .. } => format!("substituted {}", path.name()),
            Event::Refused { path, .. } => format!("refused {}", path.name()),
            Event::CacheSkipped { cache, .. } => format!("skipped {cache}"),
        };
        events.lock().unwrap().push(line);
    };
    let r = s
        .substitute(&mut w.dst, std::slice::from_ref(&w.c), &record)
        .unwrap();
    assert_eq!(r.substituted.len(), 1, "{r:?}");
    assert_eq!(r.substituted[0].0, w.src.print(&w.a));
    let mut unavailable = r.unavailable.clone();
    unavailable.sort();
    let mut want = vec![w.src.print(&w.b), w.src.print(&w.c)];
    want.sort();
    assert_eq!(unavailable, want);
    assert!(w.dst.is_valid(&w.a).unwrap());
    assert!(!w.dst.is_valid(&w.b).unwrap() && !w.dst.is_valid(&w.c).unwrap());
    let seen = events.lock().unwrap().clone();
    assert!(seen.contains(&"refused b.txt".to_owned()), "{seen:?}");
    assert!(seen.contains(&"substituted a.txt".to_owned()), "{seen:?}");
    assert!(!seen.iter().any(|l| l.starts_with("skipped")), "{seen:?}");

    // The bad NAR is remembered: asking again downloads nothing.
    events.lock().unwrap().clear();
    let r = s
        .substitute(&mut w.dst, std::slice::from_ref(&w.c), &record)
        .unwrap();
    assert!(r.substituted.is_empty());
    assert!(events.lock().unwrap().is_empty(), "{:?}", events.lock());
}

#[test]
fn queries_download_nothing_and_their_answers_are_kept() {
    let w = world(Compression::Zstd);
    let trusted = w.key.public().to_text();
    let s = substituter(&w, &trusted, false);
    let absent = StoreDir::default()
        .parse(&format!("/nix/store/{}-absent", "0".repeat(32)))
        .unwrap();
    let asked = [w.c.clone(), absent.clone(), w.a.clone()];
    assert_eq!(s.query(&asked, &|_| {}).unwrap(), vec![true, false, true]);
    assert!(w.dst.valid_paths().unwrap().is_empty());
    // The answers stand for the run, even when the cache changes under it.
    for p in [&w.a, &w.c] {
        fs::remove_file(narinfo_file(&w, p)).unwrap();
    }
    assert_eq!(s.query(&asked, &|_| {}).unwrap(), vec![true, false, true]);
    // A fresh substituter sees the change.
    assert_eq!(
        substituter(&w, &trusted, false)
            .query(&asked, &|_| {})
            .unwrap(),
        vec![false, false, false]
    );
}
