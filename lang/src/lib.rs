//! strata-lang: the Nix-language evaluator, its parser and its builtins.
//!
//! Evaluation is lazy and shares thunks as Nix does. Source is parsed ([`parse`]), then
//! lowered ([`compile`]): variables resolve to frame slots, so lookups at run time are index
//! operations, and undefined variables are reported before evaluation starts. Values
//! ([`value`]) are reference-counted; a thunk is overwritten by its value once forced.
//!
//! Must not: do IO except through [`io::EvalIo`], which the builder implements.

#![forbid(unsafe_code)]

pub mod builtins;
pub mod compile;
pub mod error;
pub mod eval;
pub mod io;
mod json;
pub mod parse;
pub mod print;
pub mod source;
pub mod value;

pub use error::{ErrorKind, EvalError, EvalResult};

#[cfg(test)]
mod tests;
pub use eval::{EvalConfig, Evaluator};
pub use value::Value;
