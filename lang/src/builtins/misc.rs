//! Builtins for types, control flow, errors, files, JSON and the store.

use std::path::{Path, PathBuf};

use super::{attrs, coerce, list, string, throw, type_error, PrimFn};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Evaluator;
use crate::io::{FileKind, IoError};
use crate::source::Span;
use crate::value::{Attrs, Context, ContextElem, NixStr, Value};

pub(super) fn register(p: &mut Vec<(&'static str, usize, PrimFn)>) {
    p.extend_from_slice(&[
        ("typeOf", 1, type_of as PrimFn),
        ("isAttrs", 1, is_attrs),
        ("isList", 1, is_list),
        ("isFunction", 1, is_function),
        ("isString", 1, is_string),
        ("isInt", 1, is_int),
        ("isFloat", 1, is_float),
        ("isBool", 1, is_bool),
        ("isNull", 1, is_null),
        ("isPath", 1, is_path),
        ("seq", 2, seq),
        ("deepSeq", 2, deep_seq),
        ("trace", 2, trace),
        ("throw", 1, throw_),
        ("abort", 1, abort),
        ("tryEval", 1, try_eval),
        ("addErrorContext", 2, add_error_context),
        ("import", 1, import),
        ("readFile", 1, read_file),
        ("pathExists", 1, path_exists),
        ("readDir", 1, read_dir),
        ("toFile", 2, to_file),
        ("filterSource", 2, filter_source),
        ("path", 1, path),
        ("getEnv", 1, get_env),
        ("toPath", 1, to_path),
        ("findFile", 2, find_file),
        ("unsafeGetAttrPos", 2, unsafe_get_attr_pos),
        ("toJSON", 1, to_json),
        ("fromJSON", 1, from_json),
        ("placeholder", 1, placeholder),
        ("storePath", 1, store_path),
    ]);
}

fn type_of(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::str(ev.force(&a[0], s)?.type_name()))
}

macro_rules! is {
    ($name:ident, $pat:pat) => {
        fn $name(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
            Ok(Value::Bool(matches!(ev.force(&a[0], s)?, $pat)))
        }
    };
}
is!(is_attrs, Value::Attrs(_));
is!(is_list, Value::List(_));
is!(
    is_function,
    Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)
);
is!(is_string, Value::String(_));
is!(is_int, Value::Int(_));
is!(is_float, Value::Float(_));
is!(is_bool, Value::Bool(_));
is!(is_null, Value::Null);
is!(is_path, Value::Path(_));

fn seq(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    ev.force(&a[0], s)?;
    ev.force(&a[1], s)
}

fn deep_seq(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    ev.deep_force(&a[0], s)?;
    ev.force(&a[1], s)
}

fn trace(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let v = ev.force(&a[0], s)?;
    let msg = match &v {
        Value::String(st) => st.to_str_lossy().into_owned(),
        other => {
            let printed = crate::print::print_value(ev, other, false, s)?;
            String::from_utf8_lossy(&printed).into_owned()
        }
    };
    (ev.trace_sink)(&msg);
    ev.force(&a[1], s)
}

fn throw_(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let m = coerce(ev, &a[0], s, false)?;
    Err(throw(m.to_str_lossy().into_owned(), s))
}

fn abort(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let m = coerce(ev, &a[0], s, false)?;
    Err(EvalError::new(
        ErrorKind::Abort(m.to_str_lossy().into_owned()),
        Some(s),
    ))
}

fn try_eval(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let (succ, val) = (ev.intern("success"), ev.intern("value"));
    match ev.force(&a[0], s) {
        Ok(v) => Ok(Value::attrs(Attrs::from_unsorted(vec![
            (succ, Value::Bool(true)),
            (val, v),
        ]))),
        Err(e) if e.is_catchable() => Ok(Value::attrs(Attrs::from_unsorted(vec![
            (succ, Value::Bool(false)),
            (val, Value::Bool(false)),
        ]))),
        Err(e) => Err(e),
    }
}

fn add_error_context(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    match ev.force(&a[1], s) {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = coerce(ev, &a[0], s, false)
                .map(|m| m.to_str_lossy().into_owned())
                .unwrap_or_default();
            Err(e.frame(msg, None))
        }
    }
}

/// A path argument: a path value, or a string that is an absolute path.
pub(crate) fn path_arg(ev: &mut Evaluator, v: &Value, s: Span) -> EvalResult<PathBuf> {
    let v = ev.force(v, s)?;
    let st = coerce(ev, &v, s, false)?;
    let text = st.to_str_lossy().into_owned();
    if !text.starts_with('/') {
        return Err(EvalError::eval(
            format!("string '{text}' doesn't represent an absolute path"),
            s,
        ));
    }
    Ok(PathBuf::from(text))
}

fn import(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let p = path_arg(ev, &a[0], s)?;
    ev.import_file(&p, Some(s))
        .map_err(|e| e.frame(format!("while importing '{}'", p.display()), Some(s)))
}

/// The contents of the file a path argument names.
pub(crate) fn read_path_arg(ev: &mut Evaluator, v: &Value, s: Span) -> EvalResult<Vec<u8>> {
    let p = path_arg(ev, v, s)?;
    ev.io.read_file(&p).map_err(|e| {
        EvalError::eval(
            format!(
                "opening file '{}': {}",
                p.display(),
                crate::error::io_message(&e)
            ),
            s,
        )
    })
}

fn read_file(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::str(read_path_arg(ev, &a[0], s)?))
}

fn path_exists(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let p = path_arg(ev, &a[0], s)?;
    Ok(Value::Bool(ev.io.path_exists(&p)))
}

fn read_dir(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let p = path_arg(ev, &a[0], s)?;
    let entries = ev.io.read_dir(&p).map_err(|e| {
        EvalError::eval(
            format!(
                "opening directory '{}': {}",
                p.display(),
                crate::error::io_message(&e)
            ),
            s,
        )
    })?;
    let mut out = Vec::with_capacity(entries.len());
    for (name, kind) in entries {
        let n = ev.intern(&name);
        out.push((n, Value::str(kind.name())));
    }
    Ok(Value::attrs(Attrs::from_unsorted(out)))
}

fn to_file(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let name = string(ev, &a[0], s)?;
    let contents = string(ev, &a[1], s)?;
    let mut refs = Vec::new();
    for c in contents.context() {
        match c {
            ContextElem::Plain(p) => refs.push(p.clone()),
            other => {
                return Err(EvalError::eval(
                    format!(
                        "in 'toFile': the file named '{}' must not contain a reference to a derivation but contains ({})",
                        name.to_str_lossy(),
                        other.encode()
                    ),
                    s,
                ))
            }
        }
    }
    let p = ev
        .io
        .add_text(&name.to_str_lossy(), contents.as_bytes(), &refs)
        .map_err(|e| EvalError::eval(e.to_string(), s))?;
    ev.text_refs.insert(p.clone(), refs);
    let mut ctx = Context::new();
    ctx.insert(ContextElem::Plain(p.clone()));
    Ok(Value::string(NixStr::with_ctx(p, ctx)))
}

fn add_filtered(
    ev: &mut Evaluator,
    src: &Path,
    name: &str,
    filter: Option<Value>,
    s: Span,
) -> EvalResult<Value> {
    let io = ev.io.clone();
    let mut failure: Option<EvalError> = None;
    let result = match filter {
        Some(f) => {
            let mut cb = |p: &Path, kind: FileKind| -> Result<bool, IoError> {
                let r = super::call2(
                    ev,
                    &f,
                    Value::str(p.to_string_lossy().as_bytes()),
                    Value::str(kind.name()),
                    s,
                );
                let e = match r {
                    Ok(Value::Bool(b)) => return Ok(b),
                    Ok(other) => type_error("a Boolean", &other, s),
                    Err(e) => e,
                };
                // The evaluator's own error is what the user sees; the store only passes its
                // message along.
                let message = e.message();
                failure = Some(e);
                Err(IoError::Filter { message })
            };
            io.add_path(src, name, Some(&mut cb))
        }
        None => io.add_path(src, name, None),
    };
    if let Some(e) = failure {
        return Err(e);
    }
    let p = result.map_err(|e| {
        EvalError::eval(
            format!("cannot add '{}' to the store: {e}", src.display()),
            s,
        )
    })?;
    let mut ctx = Context::new();
    ctx.insert(ContextElem::Plain(p.clone()));
    Ok(Value::string(NixStr::with_ctx(p, ctx)))
}

fn filter_source(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = super::function(ev, &a[0], s)?;
    let p = path_arg(ev, &a[1], s)?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    add_filtered(ev, &p, &name, Some(f), s)
}

fn path(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let args = attrs(ev, &a[0], s)?;
    let pv = args
        .get("path")
        .cloned()
        .ok_or_else(|| EvalError::eval("attribute 'path' missing in 'builtins.path'", s))?;
    let p = path_arg(ev, &pv, s)?;
    let name = match args.get("name") {
        Some(n) => {
            let n = n.clone();
            string(ev, &n, s)?.to_str_lossy().into_owned()
        }
        None => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let filter = match args.get("filter") {
        Some(f) => {
            let f = f.clone();
            Some(super::function(ev, &f, s)?)
        }
        None => None,
    };
    let expected = match args.get("sha256") {
        Some(h) => {
            let h = h.clone();
            let h = string(ev, &h, s)?.to_str_lossy().into_owned();
            Some(
                strata_store::Hash::parse(&h, Some(strata_store::HashAlgo::Sha256))
                    .map_err(|e| EvalError::eval(e.to_string(), s))?,
            )
        }
        None => None,
    };
    let recursive = match args.get("recursive") {
        Some(r) => {
            let r = r.clone();
            super::boolean(ev, &r, s)?
        }
        None => true,
    };
    if !recursive {
        // A flat path: addressed by the hash of the file's contents, as a fetched file is.
        let url = format!("file://{}", p.display());
        let out = ev
            .io
            .fetch(&url, &name, false, expected.as_ref())
            .map_err(|e| EvalError::eval(e.to_string(), s))?;
        let mut ctx = Context::new();
        ctx.insert(ContextElem::Plain(out.clone()));
        return Ok(Value::string(NixStr::with_ctx(out, ctx)));
    }
    let result = add_filtered(ev, &p, &name, filter, s)?;
    if let Some(h) = expected {
        // A source path is the fixed-output path of its NAR's sha256, so the expected hash
        // determines the path.
        let dir = strata_store::StoreDir::new(&ev.io.store_dir())
            .map_err(|e| EvalError::eval(e.to_string(), s))?;
        let want = dir
            .make_fixed_output_path(&name, true, &h)
            .map_err(|e| EvalError::eval(e.to_string(), s))?;
        let got = string(ev, &result, s)?;
        if got.as_bytes() != dir.display(&want).as_bytes() {
            return Err(EvalError::eval(
                format!(
                    "hash mismatch for '{}': the given sha256 {} is not the hash of its contents",
                    p.display(),
                    h.to_sri()
                ),
                s,
            ));
        }
    }
    Ok(result)
}

fn get_env(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let n = string(ev, &a[0], s)?;
    Ok(Value::str(
        ev.io.get_env(&n.to_str_lossy()).unwrap_or_default(),
    ))
}

fn to_path(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let p = path_arg(ev, &a[0], s)?;
    Ok(Value::str(crate::eval::canon_path(&p.to_string_lossy())))
}

fn find_file(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let entries = list(ev, &a[0], s)?;
    let wanted = string(ev, &a[1], s)?.to_str_lossy().into_owned();
    for e in entries.iter() {
        let set = attrs(ev, e, s)?;
        let prefix = match set.get("prefix") {
            Some(p) => {
                let p = p.clone();
                string(ev, &p, s)?.to_str_lossy().into_owned()
            }
            None => String::new(),
        };
        let path = match set.get("path") {
            Some(p) => {
                let p = p.clone();
                coerce(ev, &p, s, false)?.to_str_lossy().into_owned()
            }
            None => return Err(EvalError::eval("attribute 'path' missing", s)),
        };
        let rest = if prefix.is_empty() {
            Some(wanted.as_str())
        } else if wanted == prefix {
            Some("")
        } else {
            wanted.strip_prefix(&format!("{prefix}/"))
        };
        if let Some(rest) = rest {
            let candidate = if rest.is_empty() {
                PathBuf::from(&path)
            } else {
                Path::new(&path).join(rest)
            };
            if ev.io.path_exists(&candidate) {
                return Ok(Value::Path(
                    crate::eval::canon_path(&candidate.to_string_lossy()).into(),
                ));
            }
        }
    }
    Err(EvalError::eval(
        format!(
            "file '{wanted}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
        ),
        s,
    ))
}

fn unsafe_get_attr_pos(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let n = string(ev, &a[0], s)?.to_str_lossy().into_owned();
    let set = attrs(ev, &a[1], s)?;
    match set.span_of(&n) {
        Some(sp) => Ok(ev.pos_value(sp)),
        None => Ok(Value::Null),
    }
}

fn to_json(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let mut out = Vec::new();
    let mut ctx = Context::new();
    crate::print::to_json(ev, &a[0], s, &mut out, &mut ctx)?;
    Ok(Value::string(NixStr::with_ctx(out, ctx)))
}

fn from_json(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = string(ev, &a[0], s)?;
    let mut p = crate::json::Parser::new(st.as_bytes());
    p.parse(ev).map_err(|e| EvalError::eval(e.to_string(), s))
}

fn placeholder(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let out = string(ev, &a[0], s)?;
    let h = strata_store::Hash::of(
        strata_store::HashAlgo::Sha256,
        format!("nix-output:{}", out.to_str_lossy()).as_bytes(),
    );
    Ok(Value::str(format!("/{}", h.to_nix32())))
}

fn store_path(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let p = path_arg(ev, &a[0], s)?;
    let text = p.to_string_lossy().into_owned();
    let sd = ev.io.store_dir();
    let dir = strata_store::StoreDir::new(&sd).map_err(|e| EvalError::eval(e.to_string(), s))?;
    let sp = dir
        .parse_containing(&text)
        .map_err(|e| EvalError::eval(e.to_string(), s))?;
    let base = dir.display(&sp);
    let mut ctx = Context::new();
    ctx.insert(ContextElem::Plain(base));
    Ok(Value::string(NixStr::with_ctx(text, ctx)))
}
