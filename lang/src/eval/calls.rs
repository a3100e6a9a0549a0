//! Function calls: applying lambdas (formals, defaults, `@` patterns), primops and functors,
//! and the frames and messages that name the function called.

use std::cell::RefCell;
use std::rc::Rc;

use super::{suggest, Env, Evaluator, Slots};
use crate::compile::{LambdaDef, Param};
use crate::error::{EvalError, EvalResult};
use crate::source::Span;
use crate::value::{Closure, Thunk, ThunkState, Value};

impl Evaluator {
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

    pub(super) fn call_lambda(
        &mut self,
        c: &Rc<Closure>,
        arg: Value,
        span: Span,
    ) -> EvalResult<Value> {
        let def: &Rc<LambdaDef> = &c.def;
        if let Param::Ident(_) = &def.param {
            let env = Rc::new(Env {
                slots: RefCell::new(smallvec::smallvec![arg]),
                parent: Some(c.env.clone()),
            });
            return self.eval(&def.body, &env);
        }
        // The slots are filled below, once the frame exists for default values to refer to.
        let env = Env::new(0, Some(c.env.clone()));
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
                            let hint = suggest(k, formals.iter().map(|(n, _, _)| n.as_str()));
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
}
