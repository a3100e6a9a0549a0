//! The evaluator: environments, forcing thunks, operators, function calls.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::compile::{
    AttrName, AttrValue, AttrsDef, BinOp, Compiler, Expr, LambdaDef, Param, Part,
};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::io::EvalIo;
use crate::source::{Source, SourceMap, Span};
use crate::value::{Attrs, Closure, Context, ContextElem, Name, NixStr, Thunk, ThunkState, Value};

/// The values of a frame; most frames (function arguments, small `let`s) fit inline.
pub type Slots = smallvec::SmallVec<[Value; 3]>;

/// A frame of variables.
#[allow(missing_debug_implementations)] // Frames are cyclic through thunks.
pub struct Env {
    pub slots: RefCell<Slots>,
    pub parent: Option<Rc<Env>>,
}

impl Env {
    fn new(size: usize, parent: Option<Rc<Env>>) -> Rc<Env> {
        Rc::new(Env {
            slots: RefCell::new(Slots::with_capacity(size)),
            parent,
        })
    }

    fn ancestor(self: &Rc<Env>, depth: u32) -> &Rc<Env> {
        let mut e = self;
        for _ in 0..depth {
            match &e.parent {
                Some(p) => e = p,
                None => break,
            }
        }
        e
    }
}

/// Interns attribute names so equal names share one allocation.
#[derive(Debug, Default)]
pub struct Interner {}

impl Interner {
    /// The symbol for `s` (symbols are shared by every evaluator on the thread).
    pub fn intern(&mut self, s: &str) -> Name {
        crate::value::intern(s)
    }
}

/// Settings of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// `-I` entries and `NIX_PATH`, in order: `(prefix, path)`; an empty prefix means the
    /// path's entries are looked up directly.
    pub search_path: Vec<(String, String)>,
    /// The logical store directory.
    pub store_dir: String,
    /// `builtins.currentSystem`.
    pub system: String,
    /// Bytes of stack the evaluator may use before it reports a stack overflow.
    pub max_stack: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            search_path: Vec::new(),
            store_dir: "/nix/store".to_owned(),
            system: "x86_64-linux".to_owned(),
            max_stack: 200 * 1024 * 1024,
        }
    }
}

/// The state of one evaluation.
#[allow(missing_debug_implementations)]
pub struct Evaluator {
    pub sources: SourceMap,
    pub interner: Interner,
    pub config: EvalConfig,
    pub io: Rc<dyn EvalIo>,
    pub(crate) global_env: Rc<Env>,
    pub(crate) global_names: Rc<BTreeMap<Name, u32>>,
    pub(crate) builtins_value: Value,
    /// Parsed and evaluated files, so `import` of the same file is shared.
    import_cache: HashMap<PathBuf, Value>,
    stack_base: usize,
    /// Derivations written in this evaluation, by `.drv` path.
    pub(crate) derivations: HashMap<String, Rc<strata_store::derivation::Derivation>>,
    /// Memoised `hashDerivationModulo` results.
    pub(crate) drv_hashes: HashMap<String, strata_store::Hash>,
    /// References of text files (`toFile`) added in this evaluation.
    pub(crate) text_refs: HashMap<String, Vec<String>>,
    pub(crate) regex_cache: HashMap<String, Rc<regex::bytes::Regex>>,
    pub(crate) regex_cache_unanchored: HashMap<String, Rc<regex::bytes::Regex>>,
    pub(crate) trace_sink: Box<dyn FnMut(&str)>,
}

fn stack_addr() -> usize {
    let x = 0u8;
    std::hint::black_box(&x) as *const u8 as usize
}

impl Evaluator {
    pub fn new(config: EvalConfig, io: Rc<dyn EvalIo>) -> Evaluator {
        let mut ev = Evaluator {
            sources: SourceMap::default(),
            interner: Interner::default(),
            config,
            io,
            global_env: Env::new(0, None),
            global_names: Rc::new(BTreeMap::new()),
            builtins_value: Value::Null,
            import_cache: HashMap::new(),
            stack_base: stack_addr(),
            derivations: HashMap::new(),
            drv_hashes: HashMap::new(),
            text_refs: HashMap::new(),
            regex_cache: HashMap::new(),
            regex_cache_unanchored: HashMap::new(),
            trace_sink: Box::new(|m| eprintln!("trace: {m}")),
        };
        crate::builtins::install(&mut ev);
        ev
    }

    /// Where `trace` output goes (standard error by default).
    pub fn set_trace_sink(&mut self, f: Box<dyn FnMut(&str)>) {
        self.trace_sink = f;
    }

    /// Records the current stack position as the base for the overflow check. Call it on the
    /// thread that evaluates, near the top of its stack.
    pub fn reset_stack_base(&mut self) {
        self.stack_base = stack_addr();
    }

    pub(crate) fn intern(&mut self, s: &str) -> Name {
        self.interner.intern(s)
    }

    // -----------------------------------------------------------------------------------------
    // Parsing

    /// Parses and lowers a source text.
    pub fn compile(
        &mut self,
        name: String,
        path: Option<PathBuf>,
        text: String,
    ) -> EvalResult<Rc<Expr>> {
        let base_dir = match &path {
            Some(p) => p.parent().map(|d| d.to_string_lossy().into_owned()),
            None => std::env::current_dir()
                .ok()
                .map(|d| d.to_string_lossy().into_owned()),
        };
        let parse = rnix::Root::parse(&text);
        let (file, src) = self.sources.add(Source::new(name, path, text));
        let globals = self.global_names.clone();
        let compiler = Compiler::new(file, base_dir, &globals, &mut self.interner).with_source(src);
        let tree = parse.tree();
        compiler.compile_root(&tree, parse.errors())
    }

    /// Evaluates an expression string (`-E`), relative paths against the working directory.
    pub fn eval_string(&mut self, text: &str) -> EvalResult<Value> {
        let expr = self.compile("«string»".to_owned(), None, text.to_owned())?;
        let env = self.global_env.clone();
        self.eval(&expr, &env)
    }

    /// Evaluates a file.
    pub fn eval_file(&mut self, path: &Path) -> EvalResult<Value> {
        self.import_file(path, None)
    }

    /// The file `import` reads for `path`: `path/default.nix` for a directory.
    fn import_target(&self, path: &Path) -> PathBuf {
        if self.io.is_dir(path) {
            path.join("default.nix")
        } else {
            path.to_path_buf()
        }
    }

    /// The text of a Nix file to import.
    fn read_source(&self, path: &Path, span: Option<Span>) -> EvalResult<String> {
        let bytes = self.io.read_file(path).map_err(|e| {
            EvalError::new(
                ErrorKind::Eval(format!(
                    "getting status of '{}': {}",
                    path.display(),
                    crate::error::io_message(&e)
                )),
                span,
            )
        })?;
        String::from_utf8(bytes).map_err(|_| {
            EvalError::new(
                ErrorKind::Eval(format!("'{}' is not valid UTF-8", path.display())),
                span,
            )
        })
    }

    pub(crate) fn import_file(&mut self, path: &Path, span: Option<Span>) -> EvalResult<Value> {
        let path = self.import_target(path);
        if let Some(v) = self.import_cache.get(&path) {
            let v = v.clone();
            return self.force(
                &v,
                span.unwrap_or(Span {
                    file: 0,
                    start: 0,
                    end: 0,
                }),
            );
        }
        let text = self.read_source(&path, span)?;
        let expr = self.compile(path.display().to_string(), Some(path.clone()), text)?;
        let env = self.global_env.clone();
        let thunk = Value::Thunk(Thunk::new(ThunkState::Suspended(expr, env)));
        self.import_cache.insert(path.clone(), thunk.clone());
        self.force(
            &thunk,
            span.unwrap_or(Span {
                file: 0,
                start: 0,
                end: 0,
            }),
        )
    }

    /// `scopedImport`: evaluates a file in a scope made of `scope`'s attributes, which shadow
    /// the builtins. Not cached: the same file means different things in different scopes.
    pub(crate) fn import_scoped(
        &mut self,
        path: &Path,
        scope: &Attrs,
        span: Span,
    ) -> EvalResult<Value> {
        let path = self.import_target(path);
        let text = self.read_source(&path, Some(span))?;
        let names: BTreeMap<Name, u32> = scope
            .names()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        let base_dir = path.parent().map(|d| d.to_string_lossy().into_owned());
        let parse = rnix::Root::parse(&text);
        let (file, src) = self.sources.add(Source::new(
            path.display().to_string(),
            Some(path.clone()),
            text,
        ));
        let globals = self.global_names.clone();
        let compiler = Compiler::new(file, base_dir, &globals, &mut self.interner)
            .with_scope(names)
            .with_source(src);
        let expr = compiler.compile_root(&parse.tree(), parse.errors())?;
        let env = Rc::new(Env {
            slots: RefCell::new(scope.values().cloned().collect()),
            parent: Some(self.global_env.clone()),
        });
        self.eval(&expr, &env)
    }

    // -----------------------------------------------------------------------------------------
    // Forcing

    fn check_stack(&self, span: Span) -> EvalResult<()> {
        let here = stack_addr();
        if self.stack_base.abs_diff(here) > self.config.max_stack {
            return Err(EvalError::new(ErrorKind::StackOverflow, Some(span)));
        }
        Ok(())
    }

    /// Forces `v` to weak head normal form.
    pub fn force(&mut self, v: &Value, span: Span) -> EvalResult<Value> {
        match v {
            Value::Thunk(t) => self.force_thunk(t, span),
            other => Ok(other.clone()),
        }
    }

    pub(crate) fn force_thunk(&mut self, t: &Thunk, span: Span) -> EvalResult<Value> {
        {
            let st = t.0.borrow();
            match &*st {
                ThunkState::Done(v) => return Ok(v.clone()),
                ThunkState::Blackhole(_) => {
                    return Err(EvalError::new(ErrorKind::InfiniteRecursion, Some(span)));
                }
                ThunkState::Failed(e) => return Err((**e).clone()),
                ThunkState::Suspended(..) | ThunkState::Apply(..) | ThunkState::Apply2(..) => {}
            }
        }
        // Take the work out, leaving a black hole that detects infinite recursion; it goes
        // back if evaluation fails.
        let pending = std::mem::replace(&mut *t.0.borrow_mut(), ThunkState::Blackhole(span));
        let result = match &pending {
            ThunkState::Suspended(e, env) => self.eval(e, env),
            ThunkState::Apply(f, a) => self.call(f, a.clone(), span),
            ThunkState::Apply2(b) => self.call_args(&b.0, &[b.1.clone(), b.2.clone()], span),
            _ => Ok(Value::Null),
        };
        match result {
            Ok(v) => {
                // Results of evaluation are never thunks, but a call may return one.
                let v = match v {
                    Value::Thunk(inner) => match self.force_thunk(&inner, span) {
                        Ok(v) => v,
                        Err(e) => {
                            *t.0.borrow_mut() = pending;
                            return Err(e);
                        }
                    },
                    v => v,
                };
                *t.0.borrow_mut() = ThunkState::Done(v.clone());
                Ok(v)
            }
            Err(e) => {
                // As in Nix, a failed thunk can be forced again (tryEval relies on it).
                *t.0.borrow_mut() = pending;
                Err(e)
            }
        }
    }

    /// Forces `v` and everything inside it.
    pub fn deep_force(&mut self, v: &Value, span: Span) -> EvalResult<Value> {
        let mut seen = HashSet::new();
        self.deep_force_inner(v, span, &mut seen)
    }

    fn deep_force_inner(
        &mut self,
        v: &Value,
        span: Span,
        seen: &mut HashSet<usize>,
    ) -> EvalResult<Value> {
        self.check_stack(span)?;
        let v = self.force(v, span)?;
        match &v {
            Value::Attrs(a) => {
                if !seen.insert(Rc::as_ptr(a) as *const () as usize) {
                    return Ok(v);
                }
                for (name, x) in a.iter() {
                    self.deep_force_inner(x, span, seen).map_err(|e| {
                        e.frame(
                            format!("while evaluating the attribute '{name}'"),
                            a.span_of(name),
                        )
                    })?;
                }
            }
            Value::List(l) => {
                if !seen.insert(Rc::as_ptr(l) as *const () as usize) {
                    return Ok(v);
                }
                for x in l.iter() {
                    self.deep_force_inner(x, span, seen)?;
                }
            }
            _ => {}
        }
        Ok(v)
    }

    /// A value that computes `expr` in `env` when forced; simple expressions need no thunk.
    #[inline]
    pub(crate) fn thunk(&mut self, expr: &Rc<Expr>, env: &Rc<Env>) -> Value {
        match &**expr {
            Expr::Const(v) => v.clone(),
            Expr::Local { depth, index } => {
                let e = env.ancestor(*depth);
                let slots = e.slots.borrow();
                match slots.get(*index as usize) {
                    Some(v) => v.clone(),
                    None => {
                        Value::Thunk(Thunk::new(ThunkState::Suspended(expr.clone(), env.clone())))
                    }
                }
            }
            Expr::Lambda(def) => Value::Lambda(Rc::new(Closure {
                def: def.clone(),
                env: env.clone(),
            })),
            Expr::Bin { op, lhs, rhs, .. } => match int_op_now(*op, lhs, rhs, env) {
                Some(v) => v,
                None => Value::Thunk(Thunk::new(ThunkState::Suspended(expr.clone(), env.clone()))),
            },
            _ => Value::Thunk(Thunk::new(ThunkState::Suspended(expr.clone(), env.clone()))),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Evaluation

    /// Evaluates `expr` in `env` to weak head normal form.
    pub fn eval(&mut self, expr: &Rc<Expr>, env: &Rc<Env>) -> EvalResult<Value> {
        // The hot forms, kept in a small function so that deep recursion costs little stack;
        // everything else is in `eval_other`.
        match &**expr {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Local { depth, index } => {
                let pending = {
                    let e = env.ancestor(*depth);
                    let slots = e.slots.borrow();
                    match slots.get(*index as usize) {
                        // Values and forced thunks are read in place.
                        Some(Value::Thunk(t)) => {
                            if let ThunkState::Done(v) = &*t.0.borrow() {
                                return Ok(v.clone());
                            }
                            t.clone()
                        }
                        Some(v) => return Ok(v.clone()),
                        None => return Err(EvalError::new(ErrorKind::InfiniteRecursion, None)),
                    }
                };
                self.force_thunk(
                    &pending,
                    Span {
                        file: 0,
                        start: 0,
                        end: 0,
                    },
                )
            }
            Expr::Apply { func, arg, span } => {
                self.check_stack(*span)?;
                if let Expr::Apply {
                    func: head,
                    arg: first,
                    ..
                } = &**func
                {
                    // `f a b`: a builtin of two arguments gets both at once.
                    let f = self.eval(head, env)?;
                    if let Value::PrimOp(op) = &f {
                        if op.arity == 2 {
                            let a = self.thunk(first, env);
                            let b = self.thunk(arg, env);
                            return (op.func)(self, &[a, b], *span);
                        }
                    }
                    let a = self.thunk(first, env);
                    let g = self.call(&f, a, *span)?;
                    let b = self.thunk(arg, env);
                    return self.call(&g, b, *span);
                }
                let f = self.eval(func, env)?;
                let a = self.thunk(arg, env);
                self.call(&f, a, *span)
            }
            Expr::If {
                cond,
                then,
                else_,
                span,
            } => match self.eval(cond, env)? {
                Value::Bool(true) => self.eval(then, env),
                Value::Bool(false) => self.eval(else_, env),
                other => Err(not_bool(&other, *span)),
            },
            Expr::Bin { op, lhs, rhs, span } => {
                self.check_stack(*span)?;
                self.binop(*op, lhs, rhs, env, *span)
            }
            Expr::Lambda(def) => Ok(Value::Lambda(Rc::new(Closure {
                def: def.clone(),
                env: env.clone(),
            }))),
            _ => self.eval_other(expr, env),
        }
    }

    #[inline(never)]
    fn eval_other(&mut self, expr: &Rc<Expr>, env: &Rc<Env>) -> EvalResult<Value> {
        match &**expr {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Local { depth, index } => {
                let v = {
                    let e = env.ancestor(*depth);
                    let slots = e.slots.borrow();
                    slots.get(*index as usize).cloned()
                };
                match v {
                    Some(Value::Thunk(t)) => self.force_thunk(
                        &t,
                        Span {
                            file: 0,
                            start: 0,
                            end: 0,
                        },
                    ),
                    Some(v) => Ok(v),
                    None => Err(EvalError::new(ErrorKind::InfiniteRecursion, None)),
                }
            }
            Expr::WithVar { name, withs, span } => {
                for &d in withs.iter() {
                    let ns = {
                        let e = env.ancestor(d);
                        let slots = e.slots.borrow();
                        slots.first().cloned()
                    };
                    let Some(ns) = ns else { continue };
                    let ns = self.force(&ns, *span)?;
                    match &ns {
                        Value::Attrs(a) => {
                            if let Some(v) = a.get_sym(name) {
                                let v = v.clone();
                                return self.force(&v, *span);
                            }
                        }
                        other => {
                            return Err(EvalError::eval(
                                format!("value is {} while a set was expected", other.type_desc()),
                                *span,
                            ))
                        }
                    }
                }
                Err(EvalError::eval(
                    format!("undefined variable '{name}'"),
                    *span,
                ))
            }
            Expr::Str { parts, span } => self.eval_string_parts(parts, env, *span),
            Expr::Path { parts, base, span } => self.eval_path(parts, base.as_deref(), env, *span),
            Expr::Attrs(def) => self.eval_attrs(def, env),
            Expr::List(items) => {
                let v: Vec<Value> = items.iter().map(|i| self.thunk(i, env)).collect();
                Ok(Value::List(Rc::new(v)))
            }
            Expr::Select {
                expr: e,
                path,
                default,
                span,
            } => {
                self.check_stack(*span)?;
                let mut cur = self.eval(e, env)?;
                for (i, name) in path.iter().enumerate() {
                    let key = self.attr_name(name, env, *span)?;
                    let found = match &cur {
                        Value::Attrs(a) => a.get_sym(&key).cloned(),
                        _ => None,
                    };
                    match found {
                        Some(v) => {
                            cur = self.force(&v, *span).map_err(|e| {
                                e.frame(
                                    format!("while evaluating the attribute '{}'", key),
                                    Some(*span),
                                )
                            })?;
                        }
                        None => {
                            if let Some(d) = default {
                                return self.eval(d, env);
                            }
                            return Err(match &cur {
                                Value::Attrs(a) => {
                                    let shown: String = path[..=i]
                                        .iter()
                                        .map(|n| match n {
                                            AttrName::Static(s) => s.to_string(),
                                            AttrName::Dynamic(_) => key.to_string(),
                                        })
                                        .collect::<Vec<_>>()
                                        .join(".");
                                    let hint = suggest(&key, a.names().map(|n| n.as_str()))
                                        .map(|s| format!("Did you mean '{s}'?"));
                                    let _ = shown;
                                    EvalError::eval(format!("attribute '{key}' missing"), *span)
                                        .with_hint(hint)
                                }
                                other => EvalError::eval(
                                    format!(
                                        "value is {} while a set was expected",
                                        other.type_desc()
                                    ),
                                    *span,
                                )
                                .frame(format!("while selecting attribute '{key}'"), Some(*span)),
                            });
                        }
                    }
                }
                Ok(cur)
            }
            Expr::HasAttr {
                expr: e,
                path,
                span,
            } => {
                let mut cur = self.eval(e, env)?;
                for name in path {
                    let key = self.attr_name(name, env, *span)?;
                    let found = match &cur {
                        Value::Attrs(a) => a.get_sym(&key).cloned(),
                        _ => None,
                    };
                    match found {
                        Some(v) => cur = self.force(&v, *span)?,
                        None => return Ok(Value::Bool(false)),
                    }
                }
                Ok(Value::Bool(true))
            }
            Expr::Lambda(def) => Ok(Value::Lambda(Rc::new(Closure {
                def: def.clone(),
                env: env.clone(),
            }))),
            Expr::Apply { func, arg, span } => {
                self.check_stack(*span)?;
                let f = self.eval(func, env)?;
                let a = self.thunk(arg, env);
                self.call(&f, a, *span)
            }
            Expr::Let { def, body } => {
                let new_env = self.rec_env(def, env);
                self.eval(body, &new_env)
            }
            Expr::With { ns, body, span: _ } => {
                let nsv = self.thunk(ns, env);
                let new_env = Rc::new(Env {
                    slots: RefCell::new(smallvec::smallvec![nsv]),
                    parent: Some(env.clone()),
                });
                self.eval(body, &new_env)
            }
            Expr::If {
                cond,
                then,
                else_,
                span,
            } => {
                let c = self.eval(cond, env)?;
                match c {
                    Value::Bool(true) => self.eval(then, env),
                    Value::Bool(false) => self.eval(else_, env),
                    other => Err(EvalError::eval(
                        format!(
                            "value is {} while a Boolean was expected",
                            other.type_desc()
                        ),
                        *span,
                    )
                    .frame("while evaluating the condition of an 'if'", Some(*span))),
                }
            }
            Expr::Assert {
                cond,
                body,
                span,
                text,
            } => {
                let c = self.eval(cond, env)?;
                match c {
                    Value::Bool(true) => self.eval(body, env),
                    Value::Bool(false) => Err(EvalError::new(
                        ErrorKind::AssertFailed(format!("assertion '{text}' failed")),
                        Some(*span),
                    )),
                    other => Err(EvalError::eval(
                        format!(
                            "value is {} while a Boolean was expected",
                            other.type_desc()
                        ),
                        *span,
                    )),
                }
            }
            Expr::Bin { op, lhs, rhs, span } => {
                self.check_stack(*span)?;
                self.binop(*op, lhs, rhs, env, *span)
            }
            Expr::Not { expr: e, span } => match self.eval(e, env)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => Err(EvalError::eval(
                    format!(
                        "value is {} while a Boolean was expected",
                        other.type_desc()
                    ),
                    *span,
                )),
            },
            Expr::Neg { expr: e, span } => match self.eval(e, env)? {
                // `-x` is `0 - x`, so `-0.0` is positive zero, as in Nix.
                Value::Int(i) => Ok(Value::Int(0i64.wrapping_sub(i))),
                Value::Float(f) => Ok(Value::Float(0.0 - f)),
                other => Err(EvalError::eval(
                    format!(
                        "cannot negate {}: value is {} while an integer was expected",
                        other.type_desc(),
                        other.type_desc()
                    ),
                    *span,
                )),
            },
            Expr::CurPos(span) => Ok(self.pos_value(*span)),
        }
    }

    /// `{ file, line, column }` for a span, as `__curPos` and `unsafeGetAttrPos` give it.
    pub(crate) fn pos_value(&mut self, span: Span) -> Value {
        let Some(src) = self.sources.get(span.file) else {
            return Value::Null;
        };
        let (l, c) = src.line_col(span.start);
        let file = self.intern("file");
        let line = self.intern("line");
        let column = self.intern("column");
        Value::attrs(Attrs::from_unsorted(vec![
            (column, Value::Int(c as i64)),
            (file, Value::str(src.name.clone())),
            (line, Value::Int(l as i64)),
        ]))
    }

    fn attr_name(&mut self, name: &AttrName, env: &Rc<Env>, span: Span) -> EvalResult<Name> {
        match name {
            AttrName::Static(n) => Ok(n.clone()),
            AttrName::Dynamic(e) => {
                let v = self.eval(e, env)?;
                match v {
                    Value::String(s) => Ok(name_of(&s)),
                    other => Err(EvalError::eval(
                        format!("value is {} while a string was expected", other.type_desc()),
                        span,
                    )),
                }
            }
        }
    }

    /// A frame for a `let` or `rec` set: one slot per static binding.
    fn rec_env(&mut self, def: &Rc<AttrsDef>, env: &Rc<Env>) -> Rc<Env> {
        let new_env = Env::new(def.statics.len(), Some(env.clone()));
        let mut slots = Slots::with_capacity(def.statics.len());
        for a in &def.statics {
            let v = match &a.value {
                AttrValue::Expr(e) => self.thunk_in_new(e, &new_env),
                AttrValue::Inherited(e) => self.thunk(e, env),
            };
            slots.push(v);
        }
        *new_env.slots.borrow_mut() = slots;
        new_env
    }

    /// Like `thunk`, for an environment whose slots are not filled yet: references to its own
    /// slots must stay lazy.
    fn thunk_in_new(&mut self, e: &Rc<Expr>, env: &Rc<Env>) -> Value {
        match &**e {
            Expr::Const(v) => v.clone(),
            Expr::Lambda(def) => Value::Lambda(Rc::new(Closure {
                def: def.clone(),
                env: env.clone(),
            })),
            Expr::Local { depth, .. } if *depth > 0 => self.thunk(e, env),
            _ => Value::Thunk(Thunk::new(ThunkState::Suspended(e.clone(), env.clone()))),
        }
    }

    fn eval_attrs(&mut self, def: &Rc<AttrsDef>, env: &Rc<Env>) -> EvalResult<Value> {
        let (inner_env, values): (Rc<Env>, Vec<Value>) = if def.rec {
            let e = self.rec_env(def, env);
            let vals = e.slots.borrow().to_vec();
            (e, vals)
        } else {
            let vals = def
                .statics
                .iter()
                .map(|a| match &a.value {
                    AttrValue::Expr(x) | AttrValue::Inherited(x) => self.thunk(x, env),
                })
                .collect();
            (env.clone(), vals)
        };
        let mut entries: Vec<(Name, Value)> =
            Vec::with_capacity(def.statics.len() + def.dynamics.len());
        let mut spans: Vec<Option<Span>> = Vec::with_capacity(entries.capacity());
        for (a, v) in def.statics.iter().zip(values) {
            entries.push((a.name.clone(), v));
            spans.push(Some(a.span));
        }
        if def.dynamics.is_empty() {
            return Ok(Value::attrs(Attrs::from_sorted(entries).with_spans(spans)));
        }
        for (name_e, value_e, span) in &def.dynamics {
            let n = self.eval(name_e, &inner_env)?;
            let name = match n {
                Value::Null => continue,
                Value::String(s) => {
                    let t = s.to_str_lossy().into_owned();
                    self.intern(&t)
                }
                other => {
                    return Err(EvalError::eval(
                        format!("value is {} while a string was expected", other.type_desc()),
                        *span,
                    ))
                }
            };
            if entries.iter().any(|(k, _)| *k == name) {
                return Err(EvalError::eval(
                    format!("dynamic attribute '{name}' already defined"),
                    *span,
                ));
            }
            let v = self.thunk(value_e, &inner_env);
            entries.push((name, v));
            spans.push(Some(*span));
        }
        let mut zipped: Vec<((Name, Value), Option<Span>)> =
            entries.into_iter().zip(spans).collect();
        zipped.sort_by(|a, b| a.0 .0.cmp(&b.0 .0));
        let (entries, spans): (Vec<_>, Vec<_>) = zipped.into_iter().unzip();
        Ok(Value::attrs(Attrs::from_sorted(entries).with_spans(spans)))
    }

    fn eval_string_parts(
        &mut self,
        parts: &[Part],
        env: &Rc<Env>,
        span: Span,
    ) -> EvalResult<Value> {
        let mut out: Vec<u8> = Vec::new();
        let mut ctx = Context::new();
        for p in parts {
            match p {
                Part::Lit(l) => out.extend_from_slice(l),
                Part::Expr(e) => {
                    let v = self.eval(e, env)?;
                    self.coerce_to_string(&v, span, false, true, &mut out, &mut ctx)
                        .map_err(|e| {
                            e.frame("while evaluating a string interpolation", Some(span))
                        })?;
                }
            }
        }
        Ok(Value::string(NixStr::with_ctx(out, ctx)))
    }

    fn eval_path(
        &mut self,
        parts: &[Part],
        base: Option<&str>,
        env: &Rc<Env>,
        span: Span,
    ) -> EvalResult<Value> {
        let mut s: Vec<u8> = Vec::new();
        for p in parts {
            match p {
                Part::Lit(l) => s.extend_from_slice(l),
                Part::Expr(e) => {
                    let v = self.eval(e, env)?;
                    let mut ctx = Context::new();
                    self.coerce_to_string(&v, span, false, false, &mut s, &mut ctx)?;
                    if !ctx.is_empty() {
                        return Err(EvalError::eval(
                            "a path cannot be interpolated with a string that refers to a store path",
                            span,
                        ));
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(&s).into_owned();
        let full = if let Some(rest) = text.strip_prefix("~/") {
            let home = self.io.get_env("HOME").unwrap_or_default();
            format!("{home}/{rest}")
        } else if text.starts_with('/') {
            text
        } else {
            format!("{}/{}", base.unwrap_or("/"), text)
        };
        Ok(Value::Path(canon_path(&full).into()))
    }

    // -----------------------------------------------------------------------------------------
    // Calling

    /// Applies `f` to `arg`.
    pub fn call(&mut self, f: &Value, arg: Value, span: Span) -> EvalResult<Value> {
        // No stack check here: every recursion also passes through `eval`, which checks.
        match f {
            // The common case, without touching reference counts.
            Value::Lambda(c) => self.call_lambda(c, arg, span),
            Value::Thunk(t) => {
                let f = self.force_thunk(t, span)?;
                self.call_forced(&f, arg, span)
            }
            other => self.call_forced(other, arg, span),
        }
    }

    fn call_forced(&mut self, f: &Value, arg: Value, span: Span) -> EvalResult<Value> {
        match f {
            Value::Lambda(c) => self.call_lambda(c, arg, span),
            Value::PrimOp(op) => {
                if op.arity == 1 {
                    (op.func)(self, &[arg], span)
                } else {
                    Ok(Value::PrimOpApp(Rc::new(crate::value::PrimOpApp {
                        op: op.clone(),
                        args: vec![arg],
                    })))
                }
            }
            Value::PrimOpApp(app) => {
                let mut all: Vec<Value> = Vec::with_capacity(app.op.arity);
                all.extend(app.args.iter().cloned());
                all.push(arg);
                if all.len() == app.op.arity {
                    (app.op.func)(self, &all, span)
                } else {
                    Ok(Value::PrimOpApp(Rc::new(crate::value::PrimOpApp {
                        op: app.op.clone(),
                        args: all,
                    })))
                }
            }
            Value::Attrs(a) => match a.get("__functor") {
                Some(functor) => {
                    let functor = functor.clone();
                    let inner = self.call(&functor, f.clone(), span)?;
                    self.call(&inner, arg, span)
                }
                None => Err(EvalError::eval(
                    "attempt to call something which is not a function but a set",
                    span,
                )),
            },
            other => Err(EvalError::eval(
                format!(
                    "attempt to call something which is not a function but {}",
                    other.type_desc()
                ),
                span,
            )),
        }
    }

    /// Applies `f` to several arguments at once; a builtin that takes exactly that many is
    /// called directly, without building partial applications.
    pub fn call_args(&mut self, f: &Value, args: &[Value], span: Span) -> EvalResult<Value> {
        self.check_stack(span)?;
        let f = self.force(f, span)?;
        match &f {
            Value::PrimOp(op) if op.arity == args.len() => return (op.func)(self, args, span),
            Value::PrimOpApp(app) if app.args.len() + args.len() == app.op.arity => {
                let mut all = Vec::with_capacity(app.op.arity);
                all.extend(app.args.iter().cloned());
                all.extend(args.iter().cloned());
                return (app.op.func)(self, &all, span);
            }
            _ => {}
        }
        let mut cur = f;
        for a in args {
            cur = self.call(&cur, a.clone(), span)?;
        }
        Ok(cur)
    }

    fn call_lambda(&mut self, c: &Rc<Closure>, arg: Value, span: Span) -> EvalResult<Value> {
        let def: &Rc<LambdaDef> = &c.def;
        if let Param::Ident(_) = &def.param {
            let env = Rc::new(Env {
                slots: RefCell::new(smallvec::smallvec![arg]),
                parent: Some(c.env.clone()),
            });
            return self.eval(&def.body, &env);
        }
        let env = Env::new(def.slots(), Some(c.env.clone()));
        match &def.param {
            Param::Ident(_) => {}
            Param::Pattern {
                formals,
                ellipsis,
                bind,
            } => {
                let a = self.force(&arg, span)?;
                let Value::Attrs(attrs) = &a else {
                    return Err(EvalError::eval(
                        format!("value is {} while a set was expected", a.type_desc()),
                        span,
                    )
                    .frame(self.fn_frame(def), Some(def.span)));
                };
                let mut slots = Slots::with_capacity(def.slots());
                let mut used = 0usize;
                for (name, default, _) in formals {
                    match attrs.get_sym(name) {
                        Some(v) => {
                            used += 1;
                            slots.push(v.clone());
                        }
                        None => match default {
                            Some(d) => slots.push(Value::Thunk(Thunk::new(ThunkState::Suspended(
                                d.clone(),
                                env.clone(),
                            )))),
                            None => {
                                return Err(EvalError::eval(
                                    format!(
                                        "{} called without required argument '{name}'",
                                        self.fn_desc(def)
                                    ),
                                    span,
                                )
                                .frame(self.fn_frame(def), Some(def.span)));
                            }
                        },
                    }
                }
                if !*ellipsis && used < attrs.len() {
                    for (k, _) in attrs.iter() {
                        if !formals.iter().any(|(n, _, _)| n == k) {
                            let msg = format!(
                                "{} called with unexpected argument '{k}'",
                                self.fn_desc(def)
                            );
                            let hint = suggest(k, formals.iter().map(|(n, _, _)| n.as_str()))
                                .map(|s| format!("Did you mean '{s}'?"));
                            return Err(EvalError::eval(msg, span)
                                .with_hint(hint)
                                .frame(self.fn_frame(def), Some(def.span)));
                        }
                    }
                }
                if bind.is_some() {
                    slots.push(a.clone());
                }
                *env.slots.borrow_mut() = slots;
            }
        }
        self.eval(&def.body, &env)
    }

    fn fn_desc(&self, def: &LambdaDef) -> String {
        let pos = self.sources.position(def.span);
        match &def.name {
            Some(n) => format!("function '{n}' at {pos}"),
            None => format!("anonymous function at {pos}"),
        }
    }

    fn fn_frame(&self, def: &LambdaDef) -> String {
        format!("while calling {}", self.fn_desc(def))
    }

    // -----------------------------------------------------------------------------------------
    // Operators

    fn binop(
        &mut self,
        op: BinOp,
        lhs: &Rc<Expr>,
        rhs: &Rc<Expr>,
        env: &Rc<Env>,
        span: Span,
    ) -> EvalResult<Value> {
        match op {
            BinOp::And | BinOp::Or | BinOp::Impl => {
                // The left operand decides alone when it equals `decides`; then the result
                // is `result`, else the right operand's value.
                let (name, decides, result) = match op {
                    BinOp::And => ("AND (&&)", false, false),
                    BinOp::Or => ("OR (||)", true, true),
                    _ => ("IMPL (->)", false, true),
                };
                if self.eval_bool(lhs, env, span, name, "left")? == decides {
                    return Ok(Value::Bool(result));
                }
                Ok(Value::Bool(self.eval_bool(rhs, env, span, name, "right")?))
            }
            _ => {
                let a = self.eval(lhs, env)?;
                let b = self.eval(rhs, env)?;
                if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
                    let (x, y) = (*x, *y);
                    match op {
                        BinOp::Add => return Ok(Value::Int(x.wrapping_add(y))),
                        BinOp::Sub => return Ok(Value::Int(x.wrapping_sub(y))),
                        BinOp::Mul => return Ok(Value::Int(x.wrapping_mul(y))),
                        BinOp::Lt => return Ok(Value::Bool(x < y)),
                        BinOp::Le => return Ok(Value::Bool(x <= y)),
                        BinOp::Gt => return Ok(Value::Bool(x > y)),
                        BinOp::Ge => return Ok(Value::Bool(x >= y)),
                        BinOp::Eq => return Ok(Value::Bool(x == y)),
                        BinOp::Ne => return Ok(Value::Bool(x != y)),
                        _ => {}
                    }
                }
                self.apply_binop(op, a, b, span)
            }
        }
    }

    fn eval_bool(
        &mut self,
        e: &Rc<Expr>,
        env: &Rc<Env>,
        span: Span,
        op: &str,
        side: &str,
    ) -> EvalResult<bool> {
        match self.eval(e, env)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError::eval(
                format!(
                    "value is {} while a Boolean was expected",
                    other.type_desc()
                ),
                span,
            )
            .frame(
                format!("in the {side} operand of the {op} operator"),
                Some(span),
            )),
        }
    }

    /// A binary operator on two forced values.
    pub fn apply_binop(&mut self, op: BinOp, a: Value, b: Value, span: Span) -> EvalResult<Value> {
        match op {
            BinOp::Add => self.add(a, b, span),
            BinOp::Sub | BinOp::Mul | BinOp::Div => arith(op, &a, &b, span),
            BinOp::Concat => match (&a, &b) {
                (Value::List(x), Value::List(y)) => {
                    if x.is_empty() {
                        return Ok(b.clone());
                    }
                    if y.is_empty() {
                        return Ok(a.clone());
                    }
                    let mut v = Vec::with_capacity(x.len() + y.len());
                    v.extend(x.iter().cloned());
                    v.extend(y.iter().cloned());
                    Ok(Value::List(Rc::new(v)))
                }
                (Value::List(_), other) | (other, _) => Err(EvalError::eval(
                    format!("value is {} while a list was expected", other.type_desc()),
                    span,
                )),
            },
            BinOp::Update => match (&a, &b) {
                (Value::Attrs(x), Value::Attrs(y)) => {
                    if y.is_empty() {
                        return Ok(a.clone());
                    }
                    if x.is_empty() {
                        return Ok(b.clone());
                    }
                    Ok(Value::attrs(x.update(y)))
                }
                (Value::Attrs(_), other) | (other, _) => Err(EvalError::eval(
                    format!("value is {} while a set was expected", other.type_desc()),
                    span,
                )),
            },
            BinOp::Eq => Ok(Value::Bool(self.values_equal(&a, &b, span)?)),
            BinOp::Ne => Ok(Value::Bool(!self.values_equal(&a, &b, span)?)),
            BinOp::Lt => Ok(Value::Bool(self.less_than(&a, &b, span)?)),
            BinOp::Gt => Ok(Value::Bool(self.less_than(&b, &a, span)?)),
            BinOp::Le => Ok(Value::Bool(!self.less_than(&b, &a, span)?)),
            BinOp::Ge => Ok(Value::Bool(!self.less_than(&a, &b, span)?)),
            BinOp::And | BinOp::Or | BinOp::Impl => Err(EvalError::eval(
                "internal: lazy operator applied eagerly",
                span,
            )),
        }
    }

    fn add(&mut self, a: Value, b: Value, span: Span) -> EvalResult<Value> {
        match (&a, &b) {
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                arith(BinOp::Add, &a, &b, span)
            }
            (Value::Path(p), _) => {
                let mut out = Vec::new();
                let mut ctx = Context::new();
                self.coerce_to_string(&b, span, false, false, &mut out, &mut ctx)?;
                if !ctx.is_empty() {
                    return Err(EvalError::eval(
                        "a string that refers to a store path cannot be appended to a path",
                        span,
                    ));
                }
                let joined = format!("{p}{}", String::from_utf8_lossy(&out));
                Ok(Value::Path(canon_path(&joined).into()))
            }
            (Value::Int(_) | Value::Float(_), _) => Err(EvalError::eval(
                format!("cannot add {} to {}", b.type_desc(), a.type_desc()),
                span,
            )),
            _ => {
                // Anything else is string concatenation, as in Nix.
                let mut out = Vec::new();
                let mut ctx = Context::new();
                self.coerce_to_string(&a, span, false, true, &mut out, &mut ctx)?;
                self.coerce_to_string(&b, span, false, true, &mut out, &mut ctx)?;
                Ok(Value::string(NixStr::with_ctx(out, ctx)))
            }
        }
    }

    /// Deep equality as `==` defines it.
    pub fn values_equal(&mut self, a: &Value, b: &Value, span: Span) -> EvalResult<bool> {
        self.check_stack(span)?;
        let a = self.force(a, span)?;
        let b = self.force(b, span)?;
        Ok(match (&a, &b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => {
                (*x as f64) == *y
            }
            (Value::String(x), Value::String(y)) => x.bytes == y.bytes,
            (Value::Path(x), Value::Path(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (p, q) in x.iter().zip(y.iter()) {
                    if !same_value(p, q) && !self.values_equal(p, q, span)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                // Two derivations are equal when their output paths are.
                if is_derivation(self, x, span)? && is_derivation(self, y, span)? {
                    if let (Some(p), Some(q)) = (x.get("outPath"), y.get("outPath")) {
                        let (p, q) = (p.clone(), q.clone());
                        return self.values_equal(&p, &q, span);
                    }
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                for ((k1, v1), (k2, v2)) in x.iter().zip(y.iter()) {
                    if k1 != k2 {
                        return Ok(false);
                    }
                    let (v1, v2) = (v1.clone(), v2.clone());
                    if !same_value(&v1, &v2) && !self.values_equal(&v1, &v2, span)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    /// `<` on numbers, strings, paths and lists.
    pub fn less_than(&mut self, a: &Value, b: &Value, span: Span) -> EvalResult<bool> {
        let a = self.force(a, span)?;
        let b = self.force(b, span)?;
        match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => Ok(x < y),
            (Value::Float(x), Value::Float(y)) => Ok(x < y),
            (Value::Int(x), Value::Float(y)) => Ok((*x as f64) < *y),
            (Value::Float(x), Value::Int(y)) => Ok(*x < (*y as f64)),
            (Value::String(x), Value::String(y)) => Ok(x.bytes < y.bytes),
            (Value::Path(x), Value::Path(y)) => Ok(x < y),
            (Value::List(x), Value::List(y)) => {
                for (p, q) in x.iter().zip(y.iter()) {
                    if !self.values_equal(p, q, span)? {
                        return self.less_than(p, q, span);
                    }
                }
                Ok(x.len() < y.len())
            }
            _ => Err(EvalError::eval(
                format!("cannot compare {} with {}", a.type_desc(), b.type_desc()),
                span,
            )),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Coercion

    /// Appends the string form of `v` to `out`, collecting its context. `coerce_more` allows
    /// what `toString` allows beyond interpolation (numbers, Booleans, null, lists);
    /// `copy_to_store` turns a path into the store path of its contents.
    pub fn coerce_to_string(
        &mut self,
        v: &Value,
        span: Span,
        coerce_more: bool,
        copy_to_store: bool,
        out: &mut Vec<u8>,
        ctx: &mut Context,
    ) -> EvalResult<()> {
        self.check_stack(span)?;
        let v = self.force(v, span)?;
        match &v {
            Value::String(s) => {
                out.extend_from_slice(&s.bytes);
                ctx.extend(s.context().cloned());
                Ok(())
            }
            Value::Path(p) => {
                if copy_to_store {
                    let sp = self.copy_path_to_store(p, span)?;
                    out.extend_from_slice(sp.as_bytes());
                    ctx.insert(ContextElem::Plain(sp));
                } else {
                    out.extend_from_slice(p.as_bytes());
                }
                Ok(())
            }
            Value::Attrs(a) => {
                if let Some(f) = a.get("__toString") {
                    let f = f.clone();
                    let r = self.call(&f, v.clone(), span)?;
                    return self.coerce_to_string(&r, span, coerce_more, copy_to_store, out, ctx);
                }
                if let Some(p) = a.get("outPath") {
                    let p = p.clone();
                    return self.coerce_to_string(&p, span, coerce_more, copy_to_store, out, ctx);
                }
                Err(EvalError::eval("cannot coerce a set to a string", span))
            }
            Value::Int(i) if coerce_more => {
                out.extend_from_slice(i.to_string().as_bytes());
                Ok(())
            }
            Value::Float(f) if coerce_more => {
                out.extend_from_slice(crate::print::float_to_string(*f).as_bytes());
                Ok(())
            }
            Value::Bool(b) if coerce_more => {
                if *b {
                    out.push(b'1');
                }
                Ok(())
            }
            Value::Null if coerce_more => Ok(()),
            Value::List(l) if coerce_more => {
                for (i, x) in l.iter().enumerate() {
                    self.coerce_to_string(x, span, coerce_more, copy_to_store, out, ctx)?;
                    if i + 1 < l.len() {
                        // Nix separates with a space, but not after an empty list element.
                        let xv = self.force(x, span)?;
                        if !matches!(&xv, Value::List(inner) if inner.is_empty()) {
                            out.push(b' ');
                        }
                    }
                }
                Ok(())
            }
            other => Err(EvalError::eval(
                format!("cannot coerce {} to a string", other.type_desc()),
                span,
            )),
        }
    }

    /// Copies a path into the store (or, read-only, computes where it would go).
    pub(crate) fn copy_path_to_store(&mut self, p: &str, span: Span) -> EvalResult<String> {
        let name = Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.io
            .add_path(Path::new(p), &name, None)
            .map_err(|e| EvalError::eval(format!("cannot copy '{p}' to the store: {e}"), span))
    }

    /// Forces `v` and returns it as a string with its context.
    pub fn force_string(&mut self, v: &Value, span: Span) -> EvalResult<Rc<NixStr>> {
        match self.force(v, span)? {
            Value::String(s) => Ok(s),
            other => Err(EvalError::eval(
                format!("value is {} while a string was expected", other.type_desc()),
                span,
            )),
        }
    }
}

/// An integer already known without evaluating anything: a constant, or a variable whose
/// value is an integer (or a forced thunk of one).
fn known_int(e: &Expr, env: &Rc<Env>) -> Option<i64> {
    match e {
        Expr::Const(Value::Int(i)) => Some(*i),
        Expr::Local { depth, index } => {
            let frame = env.ancestor(*depth);
            let slots = frame.slots.borrow();
            match slots.get(*index as usize)? {
                Value::Int(i) => Some(*i),
                Value::Thunk(t) => match &*t.0.borrow() {
                    ThunkState::Done(Value::Int(i)) => Some(*i),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// The value of `a op b` on integers that are already known, for operators that cannot fail:
/// computing it now instead of making a thunk changes nothing but the cost (`fib (n - 1)`).
fn int_op_now(op: BinOp, a: &Expr, b: &Expr, env: &Rc<Env>) -> Option<Value> {
    if !matches!(
        op,
        BinOp::Add
            | BinOp::Sub
            | BinOp::Mul
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::Eq
            | BinOp::Ne
    ) {
        return None;
    }
    let x = known_int(a, env)?;
    let y = known_int(b, env)?;
    Some(match op {
        BinOp::Add => Value::Int(x.wrapping_add(y)),
        BinOp::Sub => Value::Int(x.wrapping_sub(y)),
        BinOp::Mul => Value::Int(x.wrapping_mul(y)),
        BinOp::Lt => Value::Bool(x < y),
        BinOp::Le => Value::Bool(x <= y),
        BinOp::Gt => Value::Bool(x > y),
        BinOp::Ge => Value::Bool(x >= y),
        BinOp::Eq => Value::Bool(x == y),
        _ => Value::Bool(x != y),
    })
}

/// The symbol for a string's text (no allocation when the symbol exists).
pub(crate) fn name_of(s: &NixStr) -> Name {
    match std::str::from_utf8(&s.bytes) {
        Ok(t) => crate::value::intern(t),
        Err(_) => crate::value::intern(&s.to_str_lossy()),
    }
}

#[cold]
fn not_bool(v: &Value, span: Span) -> EvalError {
    EvalError::eval(
        format!("value is {} while a Boolean was expected", v.type_desc()),
        span,
    )
    .frame("while evaluating the condition of an 'if'", Some(span))
}

/// Whether two values are the very same value (Nix compares the elements of lists and sets
/// by identity first, so a function inside a shared container equals itself).
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Thunk(x), Value::Thunk(y)) => Rc::ptr_eq(&x.0, &y.0),
        (Value::Lambda(x), Value::Lambda(y)) => Rc::ptr_eq(x, y),
        (Value::PrimOp(x), Value::PrimOp(y)) => Rc::ptr_eq(x, y),
        (Value::Attrs(x), Value::Attrs(y)) => Rc::ptr_eq(x, y),
        (Value::List(x), Value::List(y)) => Rc::ptr_eq(x, y) && !x.is_empty(),
        _ => false,
    }
}

/// Whether a set is a derivation (`type = "derivation"`).
pub(crate) fn is_derivation(ev: &mut Evaluator, a: &Attrs, span: Span) -> EvalResult<bool> {
    match a.get("type") {
        Some(t) => {
            let t = t.clone();
            match ev.force(&t, span)? {
                Value::String(s) => Ok(&*s.bytes == b"derivation"),
                _ => Ok(false),
            }
        }
        None => Ok(false),
    }
}

fn arith(op: BinOp, a: &Value, b: &Value, span: Span) -> EvalResult<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            let (x, y) = (*x, *y);
            Ok(Value::Int(match op {
                BinOp::Add => x.wrapping_add(y),
                BinOp::Sub => x.wrapping_sub(y),
                BinOp::Mul => x.wrapping_mul(y),
                BinOp::Div => {
                    if y == 0 {
                        return Err(EvalError::eval("division by zero", span));
                    }
                    if x == i64::MIN && y == -1 {
                        return Err(EvalError::eval("overflow in integer division", span));
                    }
                    x / y
                }
                _ => 0,
            }))
        }
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let x = match a {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => 0.0,
            };
            let y = match b {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => 0.0,
            };
            Ok(Value::Float(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => {
                    if y == 0.0 {
                        return Err(EvalError::eval("division by zero", span));
                    }
                    x / y
                }
                _ => 0.0,
            }))
        }
        (Value::Int(_) | Value::Float(_), other) | (other, _) => Err(EvalError::eval(
            format!(
                "value is {} while an integer was expected",
                other.type_desc()
            ),
            span,
        )),
    }
}

/// Removes `.` and `..` components and duplicate slashes, as Nix canonicalises paths.
pub fn canon_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        "/".to_owned()
    } else {
        let mut s = String::new();
        for c in parts {
            s.push('/');
            s.push_str(c);
        }
        s
    }
}

/// The closest name to `wanted` among `names`, for "did you mean" hints.
pub(crate) fn suggest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for n in names {
        let d = levenshtein(wanted, n);
        if d <= 2.max(wanted.len() / 3) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, n));
        }
    }
    best.map(|(_, n)| n.to_owned())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
