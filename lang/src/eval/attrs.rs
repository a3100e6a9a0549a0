//! Attribute sets: building `{ ... }` and `rec { ... }` (static and dynamic names, inherited
//! values, positions for `unsafeGetAttrPos`). Selection and `?` stay in the evaluator's main
//! match, on the hot path.

use std::rc::Rc;

use super::{Env, Evaluator, Slots};
use crate::compile::{AttrName, AttrValue, AttrsDef, Expr};
use crate::error::{EvalError, EvalResult};
use crate::source::Span;
use crate::value::{Attrs, Closure, Name, NixStr, Thunk, ThunkState, Value};

impl Evaluator {
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

    pub(super) fn attr_name(
        &mut self,
        name: &AttrName,
        env: &Rc<Env>,
        span: Span,
    ) -> EvalResult<Name> {
        match name {
            AttrName::Static(n) => Ok(*n),
            AttrName::Dynamic(e) => {
                let v = self.eval(e, env)?;
                match v {
                    Value::String(s) => Ok(self.dynamic_name(s)),
                    other => Err(EvalError::eval(
                        format!("value is {} while a string was expected", other.type_desc()),
                        span,
                    )),
                }
            }
        }
    }

    /// The symbol of a string used as an attribute name. The same string value is often used
    /// for several selections (`opts.${name}`, `defs.${name}`), so the last strings seen are
    /// remembered by identity, which spares hashing their text again.
    fn dynamic_name(&mut self, s: Rc<NixStr>) -> Name {
        let slot = (Rc::as_ptr(&s) as usize >> 4) % self.dynamic_names.len();
        if let Some((seen, name)) = &self.dynamic_names[slot] {
            if Rc::ptr_eq(seen, &s) {
                return *name;
            }
        }
        let name = name_of(&s);
        self.dynamic_names[slot] = Some((s, name));
        name
    }

    /// A frame for a `let` or `rec` set: one slot per static binding.
    pub(super) fn rec_env(&mut self, def: &Rc<AttrsDef>, env: &Rc<Env>) -> Rc<Env> {
        // The slots are filled below, once the frame exists for the thunks to refer to.
        let new_env = Env::new(0, Some(env.clone()));
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

    pub(super) fn eval_attrs(&mut self, def: &Rc<AttrsDef>, env: &Rc<Env>) -> EvalResult<Value> {
        let mut entries: Vec<(Name, Value)> =
            Vec::with_capacity(def.statics.len() + def.dynamics.len());
        let inner_env = if def.rec {
            let e = self.rec_env(def, env);
            for (a, v) in def.statics.iter().zip(e.slots.borrow().iter()) {
                entries.push((a.name, v.clone()));
            }
            e
        } else {
            for a in &def.statics {
                let v = match &a.value {
                    AttrValue::Expr(x) | AttrValue::Inherited(x) => self.thunk(x, env),
                };
                entries.push((a.name, v));
            }
            env.clone()
        };
        if def.dynamics.is_empty() {
            return Ok(Value::attrs(
                Attrs::from_sorted(entries).with_def_spans(def.clone()),
            ));
        }
        let mut spans: Vec<Option<Span>> = def.statics.iter().map(|a| Some(a.span)).collect();
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
        zipped.sort_by_key(|a| a.0 .0);
        let (entries, spans): (Vec<_>, Vec<_>) = zipped.into_iter().unzip();
        Ok(Value::attrs(Attrs::from_sorted(entries).with_spans(spans)))
    }
}

/// The symbol for a string's text (no allocation when the symbol exists).
fn name_of(s: &NixStr) -> Name {
    match std::str::from_utf8(&s.bytes) {
        Ok(t) => crate::value::intern(t),
        Err(_) => crate::value::intern(&s.to_str_lossy()),
    }
}
