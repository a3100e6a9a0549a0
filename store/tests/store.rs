//! Integration tests of the local store as a whole: garbage collection against an independent
//! model of the reference graph, many store handles working on one root at once, processes
//! killed in the middle of adds, imports and collections, and the corpus of malformed NARs
//! and export streams.
//!
//! Some tests re-execute this very binary as a child process (see [`child_entry`]), so a real
//! process can be SIGKILLed at an arbitrary moment without needing the `strata` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "store/common.rs"]
mod common;
#[path = "store/concurrency.rs"]
mod concurrency;
#[path = "store/crash.rs"]
mod crash;
#[path = "store/gc.rs"]
mod gc;
#[path = "store/malformed.rs"]
mod malformed;
#[path = "store/malformed_corpus.rs"]
mod malformed_corpus;

/// Not a test by itself: the entry point of the child processes that other tests start by
/// re-executing this binary with `--exact child_entry` and [`common::CHILD_ENV`] set to what
/// the child should do. Without that variable it does nothing.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(common::CHILD_ENV) else {
        return;
    };
    match mode.as_str() {
        "add" => crash::child_add(),
        "import" => crash::child_import(),
        "gc" => crash::child_gc(),
        "worker" => concurrency::child_worker(),
        other => panic!("unknown child mode {other:?}"),
    }
}
