//! Builtins that Nix added after 2.8 and that need neither an experimental feature nor the
//! network: `break` (2.9), `traceVerbose` (2.10), `readFileType` (2.14), and
//! `addDrvOutputDependencies` and `convertHash` (2.19). The rest of what 2.9 to 2.19 added is
//! behind experimental features (`parseFlakeRef`, `flakeRefToString` and `fetchTree` need
//! `flakes`, `outputOf` needs `dynamic-derivations`); the changes of meaning in those releases
//! (`replaceStrings` lazy in its replacements, 2.16; nested dynamic attributes merged, 2.17)
//! are strata's too.

use super::{attrs, coerce, string, PrimFn};
use crate::error::{EvalError, EvalResult};
use crate::eval::Evaluator;
use crate::source::Span;
use crate::value::{ContextElem, NixStr, Value};

pub(super) fn register(p: &mut Vec<(&'static str, usize, PrimFn)>) {
    p.extend_from_slice(&[
        ("break", 1, break_ as PrimFn),
        ("traceVerbose", 2, trace_verbose),
        ("readFileType", 1, read_file_type),
        ("addDrvOutputDependencies", 1, add_drv_output_dependencies),
        ("convertHash", 1, convert_hash),
    ]);
}

/// `break v`: a breakpoint for Nix's debugger; strata has none, so it is `v`.
fn break_(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    ev.force(&a[0], s)
}

/// `traceVerbose e v`: traces only with Nix's `trace-verbose` setting, which is off by
/// default and which strata does not have, so it is `v` and `e` is never forced.
fn trace_verbose(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    ev.force(&a[1], s)
}

/// `readFileType p`: `"regular"`, `"directory"`, `"symlink"` or `"unknown"`, for the path
/// itself (a symlink is not followed), as `readDir (dirOf p)` names it.
fn read_file_type(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let p = super::misc::path_arg(ev, &a[0], s)?;
    match ev.io.file_kind(&p) {
        Ok(kind) => Ok(Value::str(kind.name())),
        Err(e) => Err(EvalError::eval(
            format!(
                "getting status of '{}': {}",
                p.display(),
                crate::error::io_message(&e)
            ),
            s,
        )),
    }
}

/// `addDrvOutputDependencies s`: the opposite of `unsafeDiscardOutputDependency`: the one
/// `.drv` path in `s`'s context comes to stand for the derivation and all its outputs.
fn add_drv_output_dependencies(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = coerce(ev, &a[0], s, false)?;
    let elems: Vec<&ContextElem> = st.context().collect();
    let [elem] = elems.as_slice() else {
        return Err(EvalError::eval(
            format!(
                "context of string '{}' must have exactly one element, but has {}",
                st.to_str_lossy(),
                elems.len()
            ),
            s,
        ));
    };
    let new = match elem {
        ContextElem::Plain(p) if p.ends_with(".drv") => ContextElem::AllOutputs(p.clone()),
        ContextElem::Plain(p) => {
            return Err(EvalError::eval(
                format!("path '{p}' is not a derivation"),
                s,
            ))
        }
        ContextElem::AllOutputs(_) => (*elem).clone(),
        ContextElem::Output { drv, output } => {
            return Err(EvalError::eval(
                format!(
                    "`addDrvOutputDependencies` can only act on derivations, not on a \
                     derivation output such as '{drv}^{output}'"
                ),
                s,
            ))
        }
    };
    let ctx = std::iter::once(new).collect();
    Ok(Value::string(NixStr::with_ctx(st.as_bytes().to_vec(), ctx)))
}

/// `convertHash { hash; hashAlgo ? ; toHashFormat; }`: `hash` (base-16, nix32, base-64 or
/// SRI; `hashAlgo` may be left out only for SRI or `algo:` forms) written as `toHashFormat`:
/// `"base16"`, `"nix32"` (or its old name `"base32"`), `"base64"` or `"sri"`.
fn convert_hash(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    use strata_store::{Hash, HashAlgo, HashFormat};
    let args = attrs(ev, &a[0], s)?;
    let get = |name: &str| args.get(name).cloned();
    let hash = get("hash")
        .ok_or_else(|| EvalError::eval("attribute 'hash' missing in call to 'convertHash'", s))?;
    let hash = string(ev, &hash, s)?.to_str_lossy().into_owned();
    let algo = match get("hashAlgo") {
        Some(v) => {
            let name = string(ev, &v, s)?.to_str_lossy().into_owned();
            Some(name.parse::<HashAlgo>().map_err(|_| {
                EvalError::eval(format!("unknown hash algorithm '{name}'"), s).with_hint(Some(
                    "Known algorithms: md5, sha1, sha256, sha512.".to_owned(),
                ))
            })?)
        }
        None => None,
    };
    let to = get("toHashFormat").ok_or_else(|| {
        EvalError::eval(
            "attribute 'toHashFormat' missing in call to 'convertHash'",
            s,
        )
    })?;
    let to = string(ev, &to, s)?.to_str_lossy().into_owned();
    let format = match to.as_str() {
        "base16" => HashFormat::Base16,
        "nix32" | "base32" => HashFormat::Nix32,
        "base64" => HashFormat::Base64,
        "sri" => HashFormat::Sri,
        other => {
            return Err(EvalError::eval(
                format!(
                    "unknown hash format '{other}', expect 'base16', 'base32', 'base64', or 'sri'"
                ),
                s,
            ))
        }
    };
    let parsed = Hash::parse(&hash, algo).map_err(|e| EvalError::eval(e.to_string(), s))?;
    Ok(Value::str(parsed.to_string_as(format, false)))
}
