//! What the benchmarks share.

/// How many times each case runs: `STRATA_BENCH_REPS`, 3 by default, at least 1.
pub fn reps() -> usize {
    std::env::var("STRATA_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1)
}
