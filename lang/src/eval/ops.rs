//! Binary operators: arithmetic, comparison, equality, `+` on strings and paths, the lazy
//! Boolean operators, and the constant folding of integer operations.

use std::rc::Rc;

use super::{canon_path, Env, Evaluator};
use crate::compile::{BinOp, Expr};
use crate::error::{EvalError, EvalResult};
use crate::source::Span;
use crate::value::{Attrs, Context, NixStr, ThunkState, Value};

impl Evaluator {
    pub(super) fn binop(
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
            // No shortcut for a container compared with itself: Nix compares the elements,
            // and forcing one may fail (`let s = { a = throw ""; }; in s == s`).
            (Value::List(x), Value::List(y)) => {
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (p, q) in x.iter().zip(y.iter()) {
                    if !self.elements_equal(p, q, span)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
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
                    if !self.elements_equal(&v1, &v2, span)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    /// `==` on two elements of containers (or `elem`'s needle and an element): both are
    /// forced first, then the very same value is equal to itself (so a function inside a
    /// shared container equals itself), as in Nix.
    pub(crate) fn elements_equal(&mut self, a: &Value, b: &Value, span: Span) -> EvalResult<bool> {
        let x = self.force(a, span)?;
        if same_value(a, b) {
            return Ok(true);
        }
        let y = self.force(b, span)?;
        if same_value(&x, &y) && !matches!(x, Value::Attrs(_) | Value::List(_)) {
            return Ok(true);
        }
        self.values_equal(&x, &y, span)
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
pub(super) fn int_op_now(op: BinOp, a: &Expr, b: &Expr, env: &Rc<Env>) -> Option<Value> {
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

#[cold]
pub(super) fn not_bool(v: &Value, span: Span) -> EvalError {
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
