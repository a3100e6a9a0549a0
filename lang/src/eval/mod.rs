//! The evaluator: environments, imports, forcing thunks and the main `eval` match. The
//! rest of `impl Evaluator` is split by concern into the submodules: attribute sets
//! (`attrs`), calls (`calls`), operators (`ops`), strings and paths (`strings`) and
//! "did you mean" hints (`hints`).

mod attr_path;
mod attrs;
mod calls;
mod hints;
mod ops;
mod strings;

pub use attr_path::{parse_attr_path, PathStep};
pub(crate) use hints::suggest;
pub(crate) use ops::is_derivation;
use ops::{int_op_now, not_bool};
pub use strings::canon_path;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::compile::{AttrName, Compiler, Expr, Operand};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::io::EvalIo;
use crate::source::{Source, SourceMap, Span};
use crate::value::{Attrs, Closure, Name, Thunk, ThunkState, Value};

/// The values of a frame. Most frames are the one argument of a `x: ...` function, which
/// fits inline (a frame is then 56 bytes); larger frames hold their slots in one exact-size
/// allocation.
pub type Slots = smallvec::SmallVec<[Value; 1]>;

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
    /// Strings recently used as attribute names and their symbols (see `dynamic_name`).
    dynamic_names: Box<[Option<NamedString>]>,
    /// The string value of each symbol that a builtin gave as a string (`attrNames`,
    /// `mapAttrs`), by symbol number: shared, since strings are immutable and have no identity.
    name_strings: Vec<Option<Rc<crate::value::NixStr>>>,
}

/// A string value and the symbol of its text.
type NamedString = (Rc<crate::value::NixStr>, Name);

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
            dynamic_names: vec![None; 256].into_boxed_slice(),
            name_strings: Vec::new(),
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

    /// An attribute name as a string value.
    pub(crate) fn name_string(&mut self, n: Name) -> Value {
        let i = n.id() as usize;
        if i >= self.name_strings.len() {
            self.name_strings.resize(i + 1, None);
        }
        let s = self.name_strings[i]
            .get_or_insert_with(|| Rc::new(crate::value::NixStr::plain(n.as_bytes())));
        Value::String(s.clone())
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
        let (file, src) = self.sources.add(Source::new(name, path, text));
        let globals = self.global_names.clone();
        let compiler = Compiler::new(file, base_dir, &globals, &mut self.interner).with_source(src);
        compiler.compile_source()
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
            .map(|(i, n)| (*n, i as u32))
            .collect();
        let base_dir = path.parent().map(|d| d.to_string_lossy().into_owned());
        let (file, src) = self.sources.add(Source::new(
            path.display().to_string(),
            Some(path.clone()),
            text,
        ));
        let globals = self.global_names.clone();
        let compiler = Compiler::new(file, base_dir, &globals, &mut self.interner)
            .with_scope(names)
            .with_source(src);
        let expr = compiler.compile_source()?;
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
        // Take the work out, leaving a black hole that detects infinite recursion; it goes
        // back if evaluation fails.
        let pending = {
            let mut st = t.0.borrow_mut();
            match &*st {
                ThunkState::Done(v) => return Ok(v.clone()),
                ThunkState::Blackhole(_) => {
                    return Err(EvalError::new(ErrorKind::InfiniteRecursion, Some(span)));
                }
                ThunkState::Failed(e) => return Err((**e).clone()),
                ThunkState::Suspended(..) | ThunkState::Apply(..) | ThunkState::Apply2(..) => {
                    std::mem::replace(&mut *st, ThunkState::Blackhole(span))
                }
            }
        };
        let result = match &pending {
            ThunkState::Suspended(e, env) => self.eval(e, env),
            ThunkState::Apply(b) => self.call(&b.0, b.1.clone(), span),
            ThunkState::Apply2(b) => self.call_args(&b.0, &[b.1.clone(), b.2.clone()], span),
            _ => Ok(Value::Null),
        };
        // Results of evaluation are never thunks, but a call may return one.
        let result = match result {
            Ok(Value::Thunk(inner)) => self.force_thunk(&inner, span),
            r => r,
        };
        match result {
            Ok(v) => {
                let old = std::mem::replace(&mut *t.0.borrow_mut(), ThunkState::Done(v.clone()));
                // The state replaced is the black hole put there above, which owns nothing:
                // matching it spares a call to the general drop on the hot path.
                if !matches!(old, ThunkState::Blackhole(_)) {
                    drop(old);
                }
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
            Expr::Select {
                expr: base, path, ..
            } => match select_now(base, path, env) {
                Some(v) => v,
                None => Value::Thunk(Thunk::new(ThunkState::Suspended(expr.clone(), env.clone()))),
            },
            _ => Value::Thunk(Thunk::new(ThunkState::Suspended(expr.clone(), env.clone()))),
        }
    }

    /// The value of the variable in frame `depth` levels up, slot `index`.
    #[inline(always)]
    fn local(&mut self, env: &Rc<Env>, depth: u32, index: u32) -> EvalResult<Value> {
        let pending = {
            let e = env.ancestor(depth);
            let slots = e.slots.borrow();
            match slots.get(index as usize) {
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

    #[inline(always)]
    fn eval_operand(&mut self, o: &Operand, env: &Rc<Env>) -> EvalResult<Value> {
        match o {
            Operand::Local { depth, index } => self.local(env, *depth, *index),
            Operand::Expr(e) => self.eval(e, env),
        }
    }

    /// The value passed for a call's argument: `thunk`, reading a variable's slot straight
    /// from the call's node when the compiler recorded it.
    #[inline]
    fn arg_thunk(&mut self, arg: &Rc<Expr>, slot: Option<(u32, u32)>, env: &Rc<Env>) -> Value {
        if let Some((depth, index)) = slot {
            if let Some(v) = env.ancestor(depth).slots.borrow().get(index as usize) {
                return v.clone();
            }
        }
        self.thunk(arg, env)
    }

    // -----------------------------------------------------------------------------------------
    // Evaluation

    /// Evaluates `expr` in `env` to weak head normal form.
    pub fn eval(&mut self, expr: &Rc<Expr>, env: &Rc<Env>) -> EvalResult<Value> {
        // The hot forms, kept in a small function so that deep recursion costs little stack;
        // everything else is in `eval_other`.
        match &**expr {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Local { depth, index } => self.local(env, *depth, *index),
            Expr::Apply {
                func,
                arg,
                span,
                arg_slot,
            } => {
                self.check_stack(*span)?;
                let func = match func {
                    Operand::Local { depth, index } => {
                        let f = self.local(env, *depth, *index)?;
                        let a = self.arg_thunk(arg, *arg_slot, env);
                        // Matched here so that dropping the function after the call is
                        // a reference count, not the general drop of a value.
                        return match f {
                            Value::Lambda(c) => self.call_lambda(&c, a, *span),
                            f => self.call(&f, a, *span),
                        };
                    }
                    Operand::Expr(func) => func,
                };
                if let Expr::Apply {
                    func: head,
                    arg: first,
                    arg_slot: first_slot,
                    ..
                } = &**func
                {
                    // `f a b`: a builtin of two arguments gets both at once.
                    let f = self.eval_operand(head, env)?;
                    if let Value::PrimOp(op) = &f {
                        if op.arity == 2 {
                            let a = self.arg_thunk(first, *first_slot, env);
                            let b = self.arg_thunk(arg, *arg_slot, env);
                            return (op.func)(self, &[a, b], *span);
                        }
                    }
                    let a = self.arg_thunk(first, *first_slot, env);
                    let g = self.call(&f, a, *span)?;
                    let b = self.arg_thunk(arg, *arg_slot, env);
                    return self.call(&g, b, *span);
                }
                let f = self.eval(func, env)?;
                let a = self.arg_thunk(arg, *arg_slot, env);
                match f {
                    Value::Lambda(c) => self.call_lambda(&c, a, *span),
                    f => self.call(&f, a, *span),
                }
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
            Expr::Select {
                expr: e,
                path,
                default,
                span,
            } => self.select(e, path, default.as_ref(), env, *span),
            _ => self.eval_other(expr, env),
        }
    }

    /// `e.a.b` and `e.a.b or d`.
    #[inline(never)]
    fn select(
        &mut self,
        e: &Operand,
        path: &[AttrName],
        default: Option<&Rc<Expr>>,
        env: &Rc<Env>,
        span: Span,
    ) -> EvalResult<Value> {
        self.check_stack(span)?;
        let mut cur = self.eval_operand(e, env)?;
        for (i, name) in path.iter().enumerate() {
            let key = match name {
                AttrName::Static(n) => *n,
                AttrName::Dynamic(_) => self.attr_name(name, env, span)?,
            };

            // A value or a forced thunk is read in place (one clone); only a thunk
            // still to force is taken out.
            let found = match &cur {
                Value::Attrs(a) => a.get_sym(&key).map(|v| match v {
                    Value::Thunk(t) => match &*t.0.borrow() {
                        ThunkState::Done(x) => Ok(x.clone()),
                        _ => Err(t.clone()),
                    },
                    v => Ok(v.clone()),
                }),
                _ => None,
            };
            match found {
                Some(Ok(v)) => cur = v,
                Some(Err(t)) => {
                    cur = self.force_thunk(&t, span).map_err(|e| {
                        e.frame(
                            format!("while evaluating the attribute '{}'", key),
                            Some(span),
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
                            let hint = suggest(&key, a.names().map(|n| n.as_str()));
                            let _ = shown;
                            EvalError::eval(format!("attribute '{key}' missing"), span)
                                .with_hint(hint)
                        }
                        other => EvalError::eval(
                            format!("value is {} while a set was expected", other.type_desc()),
                            span,
                        )
                        .frame(format!("while selecting attribute '{key}'"), Some(span)),
                    });
                }
            }
        }
        Ok(cur)
    }

    #[inline(never)]
    fn eval_other(&mut self, expr: &Rc<Expr>, env: &Rc<Env>) -> EvalResult<Value> {
        match &**expr {
            // The hot forms: `eval` matches them before it comes here.
            Expr::Const(_)
            | Expr::Local { .. }
            | Expr::Lambda(_)
            | Expr::Apply { .. }
            | Expr::If { .. }
            | Expr::Bin { .. }
            | Expr::Select { .. } => self.eval(expr, env),
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
            Expr::HasAttr {
                expr: e,
                path,
                span,
            } => {
                // Only the sets on the way are forced: `x ? a` never forces `x.a` itself
                // (`let x = { a = x ? a; }; in x.a` is `true`).
                let mut cur = self.eval(e, env)?;
                let last = path.len().saturating_sub(1);
                for (i, name) in path.iter().enumerate() {
                    let key = self.attr_name(name, env, *span)?;
                    let found = match &cur {
                        Value::Attrs(a) => a.get_sym(&key).cloned(),
                        _ => None,
                    };
                    match found {
                        Some(_) if i == last => return Ok(Value::Bool(true)),
                        Some(v) => cur = self.force(&v, *span)?,
                        None => return Ok(Value::Bool(false)),
                    }
                }
                Ok(Value::Bool(true))
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
}

/// The value of `x.a.b` when `x` and every attribute on the path are already evaluated and
/// present: the selection can then neither fail nor loop, so computing it now instead of
/// making a thunk changes nothing but the cost (`mkOption { type = types.str; }`).
///
/// Values whose identity Nix can observe through a fresh thunk's slot are left to the thunk:
/// functions (a function in a list equals itself only in the same slot) and lists of one or two
/// elements (which Nix keeps in the slot, so `«repeated»` follows the slot).
fn select_now(base: &Operand, path: &[AttrName], env: &Rc<Env>) -> Option<Value> {
    let Operand::Local { depth, index } = base else {
        return None;
    };
    let slots = env.ancestor(*depth).slots.borrow();
    select_in(slots.get(*index as usize)?, path)
}

/// `select_now` from a value: the path is followed by reference, so only the value found
/// is copied.
fn select_in(v: &Value, path: &[AttrName]) -> Option<Value> {
    match v {
        Value::Thunk(t) => match &*t.0.borrow() {
            ThunkState::Done(x) => select_in(x, path),
            _ => None,
        },
        _ => match path.split_first() {
            Some((AttrName::Static(n), rest)) => match v {
                Value::Attrs(a) => select_in(a.get_sym(n)?, rest),
                _ => None,
            },
            Some((AttrName::Dynamic(_), _)) => None,
            None => match v {
                Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => None,
                Value::List(l) if (1..=2).contains(&l.len()) => None,
                _ => Some(v.clone()),
            },
        },
    }
}
