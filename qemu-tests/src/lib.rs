//! strata-qemu-tests: the harness that boots strata images in QEMU and the end-to-end
//! scenarios.
//!
//! Must not: be needed by the unit tests of other crates.
//!
//! Status: not yet written; it arrives with its own issue.
