//! Printing values as `nix-instantiate --eval` prints them, and as JSON.

use std::collections::HashSet;
use std::rc::Rc;

use crate::error::{EvalError, EvalResult};
use crate::eval::Evaluator;
use crate::source::Span;
use crate::value::{Context, Value};

/// A float as C++'s default stream output prints it (`%g` with 6 significant digits), which
/// is how Nix prints floats.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    const P: i32 = 6;
    // The exponent after rounding to P significant digits.
    let sci = format!("{:.*e}", (P - 1) as usize, f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    if (-4..P).contains(&x) {
        let decimals = (P - 1 - x).max(0) as usize;
        let s = format!("{:.*}", decimals, f);
        strip_zeros(&s)
    } else {
        let m = strip_zeros(mant);
        let sign = if x < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", x.abs())
    }
}

fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

/// A float as `toString` gives it (C's `%f`).
pub fn float_to_string(f: f64) -> String {
    format!("{f:.6}")
}

/// The escape that Nix string literals and JSON strings both use for `b`, if it needs one.
#[inline]
fn common_escape(b: u8) -> Option<&'static [u8]> {
    Some(match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        _ => return None,
    })
}

/// Appends a string literal with Nix's escapes.
pub fn escape_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for (i, &b) in bytes.iter().enumerate() {
        match common_escape(b) {
            Some(e) => out.extend_from_slice(e),
            None if b == b'$' && bytes.get(i + 1) == Some(&b'{') => out.extend_from_slice(b"\\$"),
            None => out.push(b),
        }
    }
    out.push(b'"');
}

/// Whether an attribute name prints without quotes. Nix 2.8 quotes names that are not
/// identifiers, and `if` (but no other keyword).
fn is_plain_ident(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    name != "if" && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\'' || c == '-')
}

/// Prints a value as `nix-instantiate --eval` does. With `strict`, everything is forced
/// first; otherwise unforced parts print as `<CODE>`.
pub fn print_value(ev: &mut Evaluator, v: &Value, strict: bool, span: Span) -> EvalResult<Vec<u8>> {
    let v = if strict {
        ev.deep_force(v, span)?
    } else {
        ev.force(v, span)?
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    print_inner(&v, &mut out, &mut seen);
    Ok(out)
}

fn print_inner(v: &Value, out: &mut Vec<u8>, seen: &mut HashSet<usize>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
        Value::String(s) => escape_string(&s.bytes, out),
        Value::Path(p) => out.extend_from_slice(p.as_bytes()),
        Value::Attrs(a) => {
            seen.insert(Rc::as_ptr(a) as *const () as usize);
            out.extend_from_slice(b"{ ");
            for (k, x) in a.sorted() {
                if is_plain_ident(k) {
                    out.extend_from_slice(k.as_bytes());
                } else {
                    escape_string(k.as_bytes(), out);
                }
                out.extend_from_slice(b" = ");
                print_child(x, out, seen);
                out.extend_from_slice(b"; ");
            }
            out.push(b'}');
        }
        Value::List(l) => {
            if l.len() > 2 {
                seen.insert(Rc::as_ptr(l) as *const () as usize);
            }
            out.extend_from_slice(b"[ ");
            for x in l.iter() {
                print_child(x, out, seen);
                out.push(b' ');
            }
            out.push(b']');
        }
        Value::Lambda(_) => out.extend_from_slice(b"<LAMBDA>"),
        Value::PrimOp(_) => out.extend_from_slice(b"<PRIMOP>"),
        Value::PrimOpApp(_) => out.extend_from_slice(b"<PRIMOP-APP>"),
        Value::Thunk(t) => match t.value() {
            Some(v) => print_inner(&v, out, seen),
            None => out.extend_from_slice(b"<CODE>"),
        },
    }
}

/// Prints a set's attribute or a list's element, or `«repeated»` when it was printed
/// already. As in Nix 2.8, a set is identified by its attribute storage, a list of three or
/// more elements by its element storage, and a shorter list (whose elements Nix keeps inside
/// the value itself) by the value slot that holds it. Empty sets and lists never repeat.
fn print_child(x: &Value, out: &mut Vec<u8>, seen: &mut HashSet<usize>) {
    let forced = match x {
        Value::Thunk(t) => t.value(),
        other => Some(other.clone()),
    };
    let slot = match x {
        Value::Thunk(t) => Some(t.ptr() as usize),
        _ => None,
    };
    let key = match &forced {
        Some(Value::Attrs(a)) if !a.is_empty() => Some(Rc::as_ptr(a) as *const () as usize),
        Some(Value::List(l)) if l.len() > 2 => Some(Rc::as_ptr(l) as *const () as usize),
        Some(Value::List(l)) if !l.is_empty() => slot,
        _ => None,
    };
    if let Some(k) = key {
        if seen.contains(&k) {
            out.extend_from_slice("«repeated»".as_bytes());
            return;
        }
        if matches!(&forced, Some(Value::List(l)) if l.len() <= 2) {
            seen.insert(k);
        }
    }
    match forced {
        Some(v) => print_inner(&v, out, seen),
        None => out.extend_from_slice(b"<CODE>"),
    }
}

/// Appends a JSON string.
pub fn json_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        if let Some(e) = common_escape(b) {
            out.extend_from_slice(e);
            continue;
        }
        match b {
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// Converts a value to JSON as `builtins.toJSON` does, collecting the string context.
pub fn to_json(
    ev: &mut Evaluator,
    v: &Value,
    span: Span,
    out: &mut Vec<u8>,
    ctx: &mut Context,
) -> EvalResult<()> {
    let v = ev.force(v, span)?;
    match &v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
        Value::String(s) => {
            ctx.extend(s.context().cloned());
            json_string(&s.bytes, out);
        }
        Value::Path(_) => {
            let mut s = Vec::new();
            ev.coerce_to_string(&v, span, false, true, &mut s, ctx)?;
            json_string(&s, out);
        }
        Value::Attrs(a) => {
            if a.contains("__toString") {
                let mut s = Vec::new();
                ev.coerce_to_string(&v, span, false, true, &mut s, ctx)?;
                json_string(&s, out);
                return Ok(());
            }
            if let Some(p) = a.get("outPath") {
                let p = p.clone();
                return to_json(ev, &p, span, out, ctx);
            }
            out.push(b'{');
            for (i, (k, x)) in a.sorted().into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(k.as_bytes(), out);
                out.push(b':');
                let x = x.clone();
                to_json(ev, &x, span, out, ctx).map_err(|e| {
                    e.frame(format!("while evaluating attribute '{k}'"), Some(span))
                })?;
            }
            out.push(b'}');
        }
        Value::List(l) => {
            out.push(b'[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                to_json(ev, x, span, out, ctx)?;
            }
            out.push(b']');
        }
        other => {
            return Err(EvalError::eval(
                format!("cannot convert {} to JSON", other.type_desc()),
                span,
            ));
        }
    }
    Ok(())
}
