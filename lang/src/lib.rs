//! strata-lang: the Nix-language evaluator (on the `rnix` parser), its builtins and the
//! module system (`evalModules` semantics).
//!
//! Must not: do IO except through a trait that the builder implements.
//!
//! Status: not yet written; the evaluator arrives with its own issue. This crate exists so the
//! workspace has its final shape and the dependency rules are fixed from the start.
