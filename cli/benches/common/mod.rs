//! What the benchmarks share.

pub mod debian;

/// How many times each case runs: `STRATA_BENCH_REPS`, 3 by default, at least 1.
#[allow(dead_code)]
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

/// A Nix tool that reads no configuration of the host's: no build users (Debian's nix-bin does
/// not create the `nixbld` group, and Nix warns on every run when it is missing), no
/// substituters, and none of the host's `NIX_*` variables.
#[allow(dead_code)]
pub fn nix_command(program: &str) -> std::process::Command {
    let mut c = std::process::Command::new(program);
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_STATE_DIR",
        "NIX_LOG_DIR",
        "NIX_CONF_DIR",
        "NIX_USER_CONF_FILES",
        "NIX_PATH",
    ] {
        c.env_remove(v);
    }
    c.env("NIX_CONFIG", "build-users-group =\nsubstituters =\n");
    c
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else the one this bench runs from), where
/// benchmarks keep what they download once (`bench-data/`).
#[allow(dead_code)]
pub fn target_dir() -> std::path::PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
        return std::path::absolute(t).expect("an absolute target directory");
    }
    let exe = std::env::current_exe().expect("the bench's own path");
    exe.ancestors()
        .nth(4)
        .map(std::path::Path::to_owned)
        .expect("the bench runs as <target>/<triple>/<profile>/deps/<bench>")
}
