//! strata-init: the static PID 1: stage 1 in the initrd, stage 2 on the real root, service
//! supervision and shutdown.
//!
//! Must not: use threads or NSS, or exit.
//!
//! Status: the program exists (the builder puts it into every initrd and toplevel); the boot
//! stages arrive with their own issue. Until then it says so and stops.

/// The program's entry point.
pub fn main() {
    eprintln!(
        "strata-init {}: the boot stages are not written yet; this system cannot boot",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(1);
}
