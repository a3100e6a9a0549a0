//! Builtins for fetching, TOML and XML, contexts and scoped imports.

use std::rc::Rc;

use strata_store::{Hash, HashAlgo};

use super::{attrs, coerce, string, PrimFn};
use crate::error::{EvalError, EvalResult};
use crate::eval::Evaluator;
use crate::source::Span;
use crate::value::{Attrs, Context, ContextElem, NixStr, Value};

pub(super) fn register(p: &mut Vec<(&'static str, usize, PrimFn)>) {
    p.extend_from_slice(&[
        ("appendContext", 2, append_context as PrimFn),
        ("hashFile", 2, hash_file),
        ("fetchurl", 1, fetchurl),
        ("fetchTarball", 1, fetch_tarball),
        ("fromTOML", 1, from_toml),
        ("toXML", 1, to_xml),
        ("scopedImport", 2, scoped_import),
    ]);
}

fn append_context(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = string(ev, &a[0], s)?;
    let extra = attrs(ev, &a[1], s)?;
    let mut ctx: Context = st.context().cloned().collect();
    let store_dir = ev.io.store_dir();
    for (path, spec) in extra.iter() {
        if !path.starts_with(&format!("{store_dir}/")) {
            return Err(EvalError::eval(
                format!("context key '{path}' is not a store path"),
                s,
            ));
        }
        let spec = attrs(ev, spec, s)?;
        let flag = |ev: &mut Evaluator, n: &str| -> EvalResult<bool> {
            match spec.get(n) {
                Some(v) => {
                    let v = v.clone();
                    super::boolean(ev, &v, s)
                }
                None => Ok(false),
            }
        };
        if flag(ev, "path")? {
            ctx.insert(ContextElem::Plain(path.to_string()));
        }
        if flag(ev, "allOutputs")? {
            if !path.ends_with(".drv") {
                return Err(EvalError::eval(
                    format!("tried to add all-outputs context of {path}, which is not a derivation, to a string"),
                    s,
                ));
            }
            ctx.insert(ContextElem::AllOutputs(path.to_string()));
        }
        if let Some(outs) = spec.get("outputs") {
            let outs = outs.clone();
            let l = super::list(ev, &outs, s)?;
            if !l.is_empty() && !path.ends_with(".drv") {
                return Err(EvalError::eval(
                    format!("tried to add derivation output context of {path}, which is not a derivation, to a string"),
                    s,
                ));
            }
            for o in l.iter() {
                let o = string(ev, o, s)?.to_str_lossy().into_owned();
                ctx.insert(ContextElem::Output {
                    drv: path.to_string(),
                    output: o,
                });
            }
        }
    }
    Ok(Value::string(NixStr::with_ctx(st.as_bytes().to_vec(), ctx)))
}

fn hash_file(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let algo = string(ev, &a[0], s)?.to_str_lossy().into_owned();
    let algo: HashAlgo = algo
        .parse()
        .map_err(|_| EvalError::eval(format!("unknown hash algorithm '{algo}'"), s))?;
    let bytes = super::misc::read_path_arg(ev, &a[1], s)?;
    Ok(Value::str(Hash::of(algo, &bytes).to_base16()))
}

/// The arguments of `fetchurl`/`fetchTarball`: a URL, or `{ url, sha256 ?, name ? }`.
fn fetch_args(
    ev: &mut Evaluator,
    v: &Value,
    s: Span,
    what: &str,
) -> EvalResult<(String, Option<String>, Option<Hash>)> {
    match ev.force(v, s)? {
        Value::Attrs(set) => {
            let mut url = None;
            let mut name = None;
            let mut hash = None;
            for (k, x) in set.iter() {
                let x = x.clone();
                match k.as_str() {
                    "url" => url = Some(coerce(ev, &x, s, false)?.to_str_lossy().into_owned()),
                    "name" => name = Some(string(ev, &x, s)?.to_str_lossy().into_owned()),
                    "sha256" => {
                        let h = string(ev, &x, s)?.to_str_lossy().into_owned();
                        hash = Some(
                            Hash::parse(&h, Some(HashAlgo::Sha256))
                                .map_err(|e| EvalError::eval(e.to_string(), s))?,
                        );
                    }
                    other => {
                        return Err(EvalError::eval(
                            format!("unsupported argument '{other}' to '{what}'"),
                            s,
                        ));
                    }
                }
            }
            let url = url.ok_or_else(|| {
                EvalError::eval(format!("'url' argument required for '{what}'"), s)
            })?;
            Ok((url, name, hash))
        }
        other => {
            let url = coerce(ev, &other, s, false)?.to_str_lossy().into_owned();
            Ok((url, None, None))
        }
    }
}

fn fetched(
    ev: &mut Evaluator,
    url: &str,
    name: &str,
    unpack: bool,
    hash: Option<&Hash>,
    s: Span,
) -> EvalResult<Value> {
    let p = ev
        .io
        .fetch(url, name, unpack, hash)
        .map_err(|e| EvalError::eval(e.to_string(), s))?;
    let mut ctx = Context::new();
    ctx.insert(ContextElem::Plain(p.clone()));
    Ok(Value::string(NixStr::with_ctx(p, ctx)))
}

fn fetchurl(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let (url, name, hash) = fetch_args(ev, &a[0], s, "fetchurl")?;
    let name = name.unwrap_or_else(|| url.rsplit('/').next().unwrap_or("source").to_owned());
    fetched(ev, &url, &name, false, hash.as_ref(), s)
}

fn fetch_tarball(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let (url, name, hash) = fetch_args(ev, &a[0], s, "fetchTarball")?;
    let name = name.unwrap_or_else(|| "source".to_owned());
    fetched(ev, &url, &name, true, hash.as_ref(), s)
}

/// The number literal at `span` in `text`, replaced by the nearest value its type holds
/// when it is too large for it; `None` when it is no such literal.
///
/// Nix reads TOML numbers the C library's way: a decimal, hexadecimal or octal integer beyond
/// the 64-bit range becomes the largest (or smallest) integer, a binary one wraps around, and a float beyond the double range the largest (or
/// smallest) finite float. The parser strata uses refuses them instead.
fn clamp_number(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let bytes = text.as_bytes();
    let token = |c: u8| c.is_ascii_alphanumeric() || b"+-._".contains(&c);
    let (mut start, mut end) = (span.start.min(bytes.len()), span.start.min(bytes.len()));
    while start > 0 && token(bytes[start - 1]) {
        start -= 1;
    }
    while end < bytes.len() && token(bytes[end]) {
        end += 1;
    }
    let lit = &text[start..end];
    let negative = lit.starts_with('-');
    let digits = lit.trim_start_matches(['+', '-']).replace('_', "");
    let (radix, body) = match digits.get(..2) {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ => (10, digits.as_str()),
    };
    let clamped = if !body.is_empty() && body.chars().all(|c| c.is_digit(radix)) {
        // Every digit is valid, so the only way it fails to fit is by being too large.
        if i64::from_str_radix(body, radix).is_ok() {
            return None;
        }
        if radix == 2 {
            // Binary digits are shifted in one by one, so the value wraps around instead:
            // 64 ones are -1, a one and 64 zeros are 0.
            let bits = body
                .bytes()
                .fold(0u64, |acc, b| (acc << 1) | u64::from(b == b'1'));
            return Some(format!("{}{}{}", &text[..start], bits as i64, &text[end..]));
        }
        if negative {
            i64::MIN.to_string()
        } else {
            i64::MAX.to_string()
        }
    } else if radix == 10 && body.parse::<f64>().is_ok_and(f64::is_infinite) {
        format!("{}{:e}", if negative { "-" } else { "" }, f64::MAX)
    } else {
        return None;
    };
    Some(format!("{}{clamped}{}", &text[..start], &text[end..]))
}

fn from_toml(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let mut text = string(ev, &a[0], s)?.to_str_lossy().into_owned();
    // Each number too large for its type is clamped and the text read again.
    let parsed = loop {
        match toml::from_str::<toml::Table>(&text) {
            Err(e) => match e.span().and_then(|sp| clamp_number(&text, sp)) {
                Some(t) if t != text => text = t,
                _ => break Err(e),
            },
            ok => break ok,
        }
    };
    let parsed: toml::Table = parsed.map_err(|e| {
        let msg = e.to_string();
        let first = msg
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("TOML parse error ")
            .to_owned();
        EvalError::eval(format!("while parsing a TOML string: {first}"), s).with_hint(Some(msg))
    })?;
    Ok(toml_value(ev, &toml::Value::Table(parsed)))
}

fn toml_value(ev: &mut Evaluator, v: &toml::Value) -> Value {
    match v {
        toml::Value::String(x) => Value::str(x.as_bytes()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::str(d.to_string()),
        toml::Value::Array(items) => Value::list(items.iter().map(|x| toml_value(ev, x)).collect()),
        toml::Value::Table(t) => {
            let entries = t
                .iter()
                .map(|(k, x)| {
                    let n = ev.intern(k);
                    (n, toml_value(ev, x))
                })
                .collect();
            Value::attrs(Attrs::from_unsorted(entries))
        }
    }
}

fn xml_escape(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"&quot;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b => out.push(b),
        }
    }
}

struct Xml {
    out: Vec<u8>,
    depth: usize,
    drvs_seen: std::collections::HashSet<Vec<u8>>,
}

impl Xml {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.extend_from_slice(b"  ");
        }
    }
    fn tag(&mut self, name: &str, attrs: &[(&str, &[u8])], empty: bool) {
        self.indent();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        for (k, v) in attrs {
            self.out.push(b' ');
            self.out.extend_from_slice(k.as_bytes());
            self.out.extend_from_slice(b"=\"");
            xml_escape(v, &mut self.out);
            self.out.push(b'"');
        }
        self.out
            .extend_from_slice(if empty { b" />\n" } else { b">\n" });
        if !empty {
            self.depth += 1;
        }
    }
    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.out
            .extend_from_slice(format!("</{name}>\n").as_bytes());
    }
}

fn xml_value(
    ev: &mut Evaluator,
    v: &Value,
    s: Span,
    x: &mut Xml,
    ctx: &mut Context,
) -> EvalResult<()> {
    let v = ev.force(v, s)?;
    match &v {
        Value::Int(i) => x.tag("int", &[("value", i.to_string().as_bytes())], true),
        Value::Float(f) => x.tag(
            "float",
            &[("value", crate::print::format_float(*f).as_bytes())],
            true,
        ),
        Value::Bool(b) => x.tag(
            "bool",
            &[("value", if *b { b"true" } else { b"false" })],
            true,
        ),
        Value::Null => x.tag("null", &[], true),
        Value::String(st) => {
            ctx.extend(st.context().cloned());
            x.tag("string", &[("value", st.as_bytes())], true)
        }
        Value::Path(p) => x.tag("path", &[("value", p.as_bytes())], true),
        Value::List(l) => {
            x.tag("list", &[], false);
            for e in l.iter() {
                xml_value(ev, e, s, x, ctx)?;
            }
            x.close("list");
        }
        Value::Attrs(a) => {
            if crate::eval::is_derivation(ev, a, s)? {
                let mut xattrs: Vec<(&str, Vec<u8>)> = Vec::new();
                let mut drv_path = None;
                if let Some(d) = a.get("drvPath") {
                    let d = d.clone();
                    let d = string(ev, &d, s)?;
                    drv_path = Some(d.as_bytes().to_vec());
                    xattrs.push(("drvPath", d.as_bytes().to_vec()));
                }
                if let Some(o) = a.get("outPath") {
                    let o = o.clone();
                    let o = string(ev, &o, s)?;
                    xattrs.push(("outPath", o.as_bytes().to_vec()));
                }
                let refs: Vec<(&str, &[u8])> =
                    xattrs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                x.tag("derivation", &refs, false);
                let fresh = match &drv_path {
                    Some(d) => x.drvs_seen.insert(d.clone()),
                    None => true,
                };
                if fresh {
                    xml_attrs(ev, a, s, x, ctx)?;
                } else {
                    x.tag("repeated", &[], true);
                }
                x.close("derivation");
            } else {
                x.tag("attrs", &[], false);
                xml_attrs(ev, a, s, x, ctx)?;
                x.close("attrs");
            }
        }
        Value::Lambda(c) => {
            x.tag("function", &[], false);
            match &c.def.param {
                crate::compile::Param::Ident(n) => x.tag("varpat", &[("name", n.as_bytes())], true),
                crate::compile::Param::Pattern {
                    formals,
                    ellipsis,
                    bind,
                } => {
                    let mut at: Vec<(&str, &[u8])> = Vec::new();
                    if *ellipsis {
                        at.push(("ellipsis", b"1"));
                    }
                    if let Some(b) = bind {
                        at.push(("name", b.as_bytes()));
                    }
                    x.tag("attrspat", &at, false);
                    for (n, _, _) in formals {
                        x.tag("attr", &[("name", n.as_bytes())], true);
                    }
                    x.close("attrspat");
                }
            }
            x.close("function");
        }
        Value::PrimOp(_) | Value::PrimOpApp(_) => x.tag("unevaluated", &[], true),
        Value::Thunk(_) => x.tag("unevaluated", &[], true),
    }
    Ok(())
}

fn xml_attrs(
    ev: &mut Evaluator,
    a: &Rc<Attrs>,
    s: Span,
    x: &mut Xml,
    ctx: &mut Context,
) -> EvalResult<()> {
    for (k, v) in a.sorted() {
        x.tag("attr", &[("name", k.as_bytes())], false);
        xml_value(ev, v, s, x, ctx)?;
        x.close("attr");
    }
    Ok(())
}

fn to_xml(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let mut x = Xml {
        out: Vec::new(),
        depth: 0,
        drvs_seen: Default::default(),
    };
    x.out
        .extend_from_slice(b"<?xml version='1.0' encoding='utf-8'?>\n");
    x.tag("expr", &[], false);
    let mut ctx = Context::new();
    xml_value(ev, &a[0], s, &mut x, &mut ctx)?;
    x.close("expr");
    Ok(Value::string(NixStr::with_ctx(x.out, ctx)))
}

fn scoped_import(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let scope = attrs(ev, &a[0], s)?;
    let p = super::misc::path_arg(ev, &a[1], s)?;
    ev.import_scoped(&p, &scope, s)
}
