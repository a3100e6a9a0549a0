//! Strings and paths: interpolation, path literals and coercion of values to strings
//! (including copying paths to the store), and the canonical form of paths.

use std::path::Path;
use std::rc::Rc;

use super::{Env, Evaluator};
use crate::compile::Part;
use crate::error::{EvalError, EvalResult};
use crate::source::Span;
use crate::value::{Context, ContextElem, NixStr, Value};

impl Evaluator {
    pub(super) fn eval_string_parts(
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

    pub(super) fn eval_path(
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
