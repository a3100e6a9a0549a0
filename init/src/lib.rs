//! strata-init: the static PID 1: stage 1 in the initrd, stage 2 on the real root, service
//! supervision and shutdown.
//!
//! Must not: use threads or NSS, or exit.
//!
//! Status: not yet written; it arrives with its own issue.
