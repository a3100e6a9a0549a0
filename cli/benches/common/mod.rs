//! What the benchmarks share.

/// How many times each case runs: `STRATA_BENCH_REPS`, 3 by default, at least 1.
pub fn reps() -> usize {
    std::env::var("STRATA_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1)
}

/// The repository (for `examples/`); not every benchmark needs it.
#[allow(dead_code)]
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository's directory")
}
