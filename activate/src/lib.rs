//! strata-activate: plans and executes a switch from one generation to another (users,
//! /etc, timezone, hostname, services) with a journal that makes it crash-safe.
//!
//! Must not: be a second implementation of what boot does: boot and switch share its code path.
//!
//! Today: [`manifest`], the format every generation's `activation.json` has, which the builder
//! writes and strata-init reads. The activation itself arrives with its issue.

pub mod manifest;
