//! strata-activate: plans and executes a switch from one generation to another (users,
//! /etc, timezone, hostname, services) with a journal that makes it crash-safe.
//!
//! Must not: be a second implementation of what boot does: boot and switch share its code path.
//!
//! Status: not yet written; it arrives with its own issue.
