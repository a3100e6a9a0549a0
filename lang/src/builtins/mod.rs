//! The builtins: `builtins.*` and the names Nix puts in the global scope.

mod attrs_lists;
mod derivation;
mod extra;
pub(crate) mod misc;
mod newer;
mod sort;
mod strings;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::{Env, Evaluator};
use crate::source::Span;
use crate::value::{Attrs, Name, NixStr, PrimOp, Thunk, ThunkState, Value};

/// A primop's implementation: the evaluator, the (unforced) arguments, the call site.
pub type PrimFn = fn(&mut Evaluator, &[Value], Span) -> EvalResult<Value>;

/// Names that are in the global scope as well as in `builtins`.
const GLOBAL: &[&str] = &[
    "abort",
    "baseNameOf",
    "derivation",
    "derivationStrict",
    "dirOf",
    "fetchGit",
    "fetchMercurial",
    "fetchTarball",
    "fetchTree",
    "fromTOML",
    "import",
    "isNull",
    "map",
    "placeholder",
    "removeAttrs",
    "scopedImport",
    "throw",
    "toString",
];

pub(crate) fn install(ev: &mut Evaluator) {
    let mut prims: Vec<(&'static str, usize, PrimFn)> = Vec::new();
    attrs_lists::register(&mut prims);
    strings::register(&mut prims);
    misc::register(&mut prims);
    derivation::register(&mut prims);
    extra::register(&mut prims);
    newer::register(&mut prims);

    let mut entries: BTreeMap<Name, Value> = BTreeMap::new();
    for (name, arity, func) in &prims {
        let n = ev.intern(name);
        entries.insert(
            n,
            Value::PrimOp(Rc::new(PrimOp {
                name,
                arity: *arity,
                func: *func,
            })),
        );
    }
    let mut consts: Vec<(&str, Value)> = vec![
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("null", Value::Null),
        ("storeDir", Value::str(ev.config.store_dir.clone())),
        // The Nix whose builtins strata has (all but the fetchers of Git, Mercurial and
        // flakes): 2.8's, and those 2.9 to 2.19 added (see `newer`).
        ("nixVersion", Value::str("2.19.0")),
        ("langVersion", Value::Int(6)),
    ];
    // As Nix: pure evaluation knows neither the machine it runs on nor the time.
    if !ev.io.pure() {
        consts.push(("currentSystem", Value::str(ev.config.system.clone())));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        consts.push(("currentTime", Value::Int(now)));
    }
    for (name, v) in consts {
        let n = ev.intern(name);
        entries.insert(n, v);
    }
    let sp = ev.config.search_path.clone();
    let search: Vec<Value> = sp
        .iter()
        .map(|(prefix, path)| {
            let p = ev.intern("path");
            let pr = ev.intern("prefix");
            Value::attrs(Attrs::from_unsorted(vec![
                (p, Value::str(path.clone())),
                (pr, Value::str(prefix.clone())),
            ]))
        })
        .collect();
    let n = ev.intern("nixPath");
    entries.insert(n, Value::list(search));
    // `derivation` is written in Nix; it is compiled once the global scope exists.
    let derivation = Thunk::new(ThunkState::Done(Value::Null));
    let n = ev.intern("derivation");
    entries.insert(n, Value::Thunk(derivation.clone()));

    // `builtins.builtins` is the set itself.
    let self_ref = Thunk::new(ThunkState::Done(Value::Null));
    let n = ev.intern("builtins");
    entries.insert(n, Value::Thunk(self_ref.clone()));
    let builtins = Value::attrs(Attrs::from_sorted(entries.clone().into_iter().collect()));
    *self_ref.0.borrow_mut() = ThunkState::Done(builtins.clone());
    ev.builtins_value = builtins.clone();

    let mut globals: BTreeMap<Name, Value> = BTreeMap::new();
    globals.insert(n, builtins);
    for (k, v) in &entries {
        if k.as_str() == "builtins" {
            continue;
        }
        let under = ev.intern(&format!("__{k}"));
        globals.insert(under, v.clone());
        if GLOBAL.contains(&k.as_str()) || matches!(k.as_str(), "true" | "false" | "null") {
            globals.insert(*k, v.clone());
        }
    }
    let mut names = BTreeMap::new();
    let mut slots = Vec::with_capacity(globals.len());
    for (i, (k, v)) in globals.into_iter().enumerate() {
        names.insert(k, i as u32);
        slots.push(v);
    }
    ev.global_names = Rc::new(names);
    ev.global_env = Rc::new(Env {
        slots: std::cell::RefCell::new(crate::eval::Slots::from_vec(slots)),
        parent: None,
    });
    let compiled = ev
        .compile(
            "«derivation»".to_owned(),
            None,
            derivation::DERIVATION_NIX.to_owned(),
        )
        .and_then(|e| {
            let env = ev.global_env.clone();
            ev.eval(&e, &env)
        });
    // The source is a constant of this crate and its unit tests evaluate it; should it ever
    // fail, `derivation` stays null and calling it says so.
    if let Ok(f) = compiled {
        *derivation.0.borrow_mut() = ThunkState::Done(f);
    }
}

/// `builtins.compareVersions` on two strings, for unit tests.
#[cfg(test)]
pub(crate) fn compare_versions_for_tests(a: &str, b: &str) -> i64 {
    strings::compare_version_strings(a.as_bytes(), b.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Argument helpers shared by the builtins.

pub(crate) fn type_error(expected: &str, got: &Value, span: Span) -> EvalError {
    EvalError::eval(
        format!("value is {} while {expected} was expected", got.type_desc()),
        span,
    )
}

pub(crate) fn int(ev: &mut Evaluator, v: &Value, span: Span) -> EvalResult<i64> {
    match ev.force(v, span)? {
        Value::Int(i) => Ok(i),
        other => Err(type_error("an integer", &other, span)),
    }
}

pub(crate) fn boolean(ev: &mut Evaluator, v: &Value, span: Span) -> EvalResult<bool> {
    match ev.force(v, span)? {
        Value::Bool(b) => Ok(b),
        other => Err(type_error("a Boolean", &other, span)),
    }
}

pub(crate) fn list(ev: &mut Evaluator, v: &Value, span: Span) -> EvalResult<Rc<Vec<Value>>> {
    match ev.force(v, span)? {
        Value::List(l) => Ok(l),
        other => Err(type_error("a list", &other, span)),
    }
}

pub(crate) fn attrs(ev: &mut Evaluator, v: &Value, span: Span) -> EvalResult<Rc<Attrs>> {
    match ev.force(v, span)? {
        Value::Attrs(a) => Ok(a),
        other => Err(type_error("a set", &other, span)),
    }
}

pub(crate) fn string(ev: &mut Evaluator, v: &Value, span: Span) -> EvalResult<Rc<NixStr>> {
    match ev.force(v, span)? {
        Value::String(s) => Ok(s),
        other => Err(type_error("a string", &other, span)),
    }
}

/// A function argument: forced, and checked to be callable.
pub(crate) fn function(ev: &mut Evaluator, v: &Value, span: Span) -> EvalResult<Value> {
    let f = ev.force(v, span)?;
    match &f {
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => Ok(f),
        Value::Attrs(a) if a.contains("__functor") => Ok(f),
        other => Err(type_error("a function", other, span)),
    }
}

/// Coerces like interpolation does (strings, paths, sets with `outPath`/`__toString`).
pub(crate) fn coerce(ev: &mut Evaluator, v: &Value, span: Span, copy: bool) -> EvalResult<NixStr> {
    let mut out = Vec::new();
    let mut ctx = crate::value::Context::new();
    ev.coerce_to_string(v, span, false, copy, &mut out, &mut ctx)?;
    Ok(NixStr::with_ctx(out, ctx))
}

/// Calls `f a`.
pub(crate) fn call1(ev: &mut Evaluator, f: &Value, a: Value, span: Span) -> EvalResult<Value> {
    let r = ev.call(f, a, span)?;
    ev.force(&r, span)
}

/// Calls `f a b`.
pub(crate) fn call2(
    ev: &mut Evaluator,
    f: &Value,
    a: Value,
    b: Value,
    span: Span,
) -> EvalResult<Value> {
    let r = ev.call_args(f, &[a, b], span)?;
    ev.force(&r, span)
}

/// A lazy `f a`.
pub(crate) fn lazy_apply(f: &Value, a: Value) -> Value {
    Value::Thunk(Thunk::new(ThunkState::Apply(Box::new((f.clone(), a)))))
}

/// A lazy `f a b`.
pub(crate) fn lazy_apply2(f: &Value, a: Value, b: Value) -> Value {
    Value::Thunk(Thunk::new(ThunkState::Apply2(Box::new((f.clone(), a, b)))))
}

pub(crate) fn throw(msg: String, span: Span) -> EvalError {
    EvalError::new(ErrorKind::Throw(msg), Some(span))
}
