//! Builtins on strings: slicing, replacing, regular expressions, hashing, versions.

use std::rc::Rc;

use super::{coerce, int, list, string, PrimFn};
use crate::error::{EvalError, EvalResult};
use crate::eval::Evaluator;
use crate::source::Span;
use crate::value::{Attrs, Context, ContextElem, NixStr, Value};

pub(super) fn register(p: &mut Vec<(&'static str, usize, PrimFn)>) {
    p.extend_from_slice(&[
        ("toString", 1, to_string as PrimFn),
        ("substring", 3, substring),
        ("stringLength", 1, string_length),
        ("replaceStrings", 3, replace_strings),
        ("concatStringsSep", 2, concat_strings_sep),
        ("split", 2, split),
        ("match", 2, match_),
        ("hashString", 2, hash_string),
        ("baseNameOf", 1, base_name_of),
        ("dirOf", 1, dir_of),
        ("unsafeDiscardStringContext", 1, discard_context),
        (
            "unsafeDiscardOutputDependency",
            1,
            discard_output_dependency,
        ),
        ("hasContext", 1, has_context),
        ("getContext", 1, get_context),
        ("compareVersions", 2, compare_versions),
        ("splitVersion", 1, split_version),
        ("parseDrvName", 1, parse_drv_name),
    ]);
}

fn to_string(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let mut out = Vec::new();
    let mut ctx = Context::new();
    ev.coerce_to_string(&a[0], s, true, false, &mut out, &mut ctx)?;
    Ok(Value::string(NixStr::with_ctx(out, ctx)))
}

fn substring(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let start = int(ev, &a[0], s)?;
    let len = int(ev, &a[1], s)?;
    let st = coerce(ev, &a[2], s, false)?;
    if start < 0 {
        return Err(EvalError::eval("negative start position in 'substring'", s));
    }
    let bytes = st.as_bytes();
    let start = (start as usize).min(bytes.len());
    let end = if len < 0 {
        bytes.len()
    } else {
        start.saturating_add(len as usize).min(bytes.len())
    };
    let ctx = st.ctx.clone().map(|c| *c).unwrap_or_default();
    Ok(Value::string(NixStr::with_ctx(
        bytes[start..end].to_vec(),
        ctx,
    )))
}

fn string_length(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = coerce(ev, &a[0], s, false)?;
    Ok(Value::Int(st.as_bytes().len() as i64))
}

fn replace_strings(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let from = list(ev, &a[0], s)?;
    let to = list(ev, &a[1], s)?;
    if from.len() != to.len() {
        return Err(EvalError::eval(
            "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths",
            s,
        ));
    }
    let mut froms = Vec::with_capacity(from.len());
    for f in from.iter() {
        froms.push(string(ev, f, s)?);
    }
    // Replacements are forced only when used.
    let mut tos: Vec<Option<Rc<NixStr>>> = vec![None; to.len()];
    let subject = string(ev, &a[2], s)?;
    let bytes = subject.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut ctx: Context = subject.context().cloned().collect();
    let mut i = 0;
    while i <= bytes.len() {
        let mut matched = false;
        for (k, f) in froms.iter().enumerate() {
            let fb = f.as_bytes();
            if bytes[i..].starts_with(fb) {
                if tos[k].is_none() {
                    tos[k] = Some(string(ev, &to[k], s)?);
                }
                let t = tos[k]
                    .as_ref()
                    .map(Rc::clone)
                    .unwrap_or_else(|| Rc::new(NixStr::plain("")));
                out.extend_from_slice(t.as_bytes());
                ctx.extend(t.context().cloned());
                if fb.is_empty() {
                    if i < bytes.len() {
                        out.push(bytes[i]);
                    }
                    i += 1;
                } else {
                    i += fb.len();
                }
                matched = true;
                break;
            }
        }
        if !matched {
            if i < bytes.len() {
                out.push(bytes[i]);
            }
            i += 1;
        }
    }
    Ok(Value::string(NixStr::with_ctx(out, ctx)))
}

fn concat_strings_sep(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let sep = string(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    let mut out = Vec::new();
    let mut ctx: Context = sep.context().cloned().collect();
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep.as_bytes());
        }
        ev.coerce_to_string(x, s, false, true, &mut out, &mut ctx)?;
    }
    Ok(Value::string(NixStr::with_ctx(out, ctx)))
}

/// Compiles a POSIX extended regular expression (as Nix uses them) for the `regex` crate.
pub(crate) fn regex(ev: &mut Evaluator, re: &str, s: Span) -> EvalResult<Rc<regex::bytes::Regex>> {
    if let Some(r) = ev.regex_cache.get(re) {
        return Ok(r.clone());
    }
    let translated = translate_ere(re);
    let build = |pattern: &str| {
        regex::bytes::RegexBuilder::new(pattern)
            .unicode(false)
            // POSIX `.` matches a newline too.
            .dot_matches_new_line(true)
            .build()
            .map_err(|e| {
                EvalError::eval(format!("invalid regular expression '{re}'"), s)
                    .with_hint(Some(e.to_string()))
            })
    };
    let compiled = build(&format!("^(?:{translated})$"))?;
    let unanchored = build(&translated)?;
    let r = Rc::new(compiled);
    ev.regex_cache.insert(re.to_owned(), r.clone());
    ev.regex_cache_unanchored
        .insert(re.to_owned(), Rc::new(unanchored));
    Ok(r)
}

/// ERE and the `regex` crate's syntax differ in a few places: a `{` that does not start a
/// repetition is literal in ERE, and `]` first in a bracket is literal.
fn translate_ere(re: &str) -> String {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                out.push('\\');
                if let Some(&n) = chars.get(i + 1) {
                    out.push(n);
                    i += 1;
                }
            }
            '[' => {
                // Copy the bracket expression, escaping what Rust would read specially.
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                while i < chars.len() && chars[i] != ']' {
                    if chars[i] == '[' && matches!(chars.get(i + 1), Some(':' | '.' | '=')) {
                        let close = chars.get(i + 1).copied().unwrap_or(':');
                        out.push('[');
                        out.push(close);
                        i += 2;
                        while i < chars.len()
                            && !(chars[i] == close && chars.get(i + 1) == Some(&']'))
                        {
                            out.push(chars[i]);
                            i += 1;
                        }
                        out.push(close);
                        out.push(']');
                        i += 2;
                        continue;
                    }
                    match chars[i] {
                        '\\' => out.push_str("\\\\"),
                        '[' => out.push_str("\\["),
                        '&' | '~' | '-' if chars.get(i + 1) == Some(&chars[i]) => {
                            out.push('\\');
                            out.push(chars[i]);
                        }
                        c => out.push(c),
                    }
                    i += 1;
                }
                out.push(']');
            }
            '{' => {
                let rest: String = chars[i + 1..].iter().collect();
                let is_rep = rest
                    .find('}')
                    .map(|end| {
                        let body = &rest[..end];
                        !body.is_empty() && body.chars().all(|c| c.is_ascii_digit() || c == ',')
                    })
                    .unwrap_or(false);
                if is_rep {
                    out.push('{');
                } else {
                    out.push_str("\\{");
                }
            }
            '}' => {
                // Part of a repetition we passed through, or literal.
                let opened = out
                    .rfind('{')
                    .map(|p| p == 0 || !out[..p].ends_with('\\'))
                    .unwrap_or(false)
                    && !out.ends_with('}');
                if opened {
                    out.push('}');
                } else {
                    out.push_str("\\}");
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn groups(caps: &regex::bytes::Captures<'_>) -> Vec<Value> {
    (1..caps.len())
        .map(|g| match caps.get(g) {
            Some(m) => Value::str(m.as_bytes()),
            None => Value::Null,
        })
        .collect()
}

fn match_(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let re = string(ev, &a[0], s)?;
    let re = re.to_str_lossy().into_owned();
    let r = regex(ev, &re, s)?;
    let subject = string(ev, &a[1], s)?;
    match r.captures(subject.as_bytes()) {
        Some(c) => Ok(Value::list(groups(&c))),
        None => Ok(Value::Null),
    }
}

fn split(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let re = string(ev, &a[0], s)?;
    let re = re.to_str_lossy().into_owned();
    regex(ev, &re, s)?;
    let r = ev
        .regex_cache_unanchored
        .get(&re)
        .cloned()
        .ok_or_else(|| EvalError::eval("internal: regex cache", s))?;
    let subject = string(ev, &a[1], s)?;
    let bytes = subject.as_bytes();
    let mut out = Vec::new();
    let mut last = 0;
    let mut pos = 0;
    let mut prev_empty = false;
    // Iterate as C++'s regex_iterator does: after an empty match, first look for a non-empty
    // match at the same place, then search on from the next byte.
    while pos <= bytes.len() {
        let mut found = None;
        if prev_empty {
            if let Some(c) = r.captures_at(bytes, pos) {
                if let Some(m) = c.get(0) {
                    if m.start() == pos && m.end() > pos {
                        found = Some(c);
                    }
                }
            }
            if found.is_none() {
                pos += 1;
                if pos > bytes.len() {
                    break;
                }
            }
        }
        let c = match found {
            Some(c) => c,
            None => match r.captures_at(bytes, pos) {
                Some(c) => c,
                None => break,
            },
        };
        let Some(m) = c.get(0) else { break };
        out.push(Value::str(&bytes[last..m.start()]));
        out.push(Value::list(groups(&c)));
        last = m.end();
        prev_empty = m.start() == m.end();
        pos = m.end();
    }
    out.push(Value::str(&bytes[last..]));
    Ok(Value::list(out))
}

fn hash_string(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let algo = string(ev, &a[0], s)?;
    let algo: strata_store::HashAlgo = algo.to_str_lossy().parse().map_err(|_| {
        EvalError::eval(
            format!("unknown hash algorithm '{}'", algo.to_str_lossy()),
            s,
        )
        .with_hint(Some(
            "Known algorithms: md5, sha1, sha256, sha512.".to_owned(),
        ))
    })?;
    let st = string(ev, &a[1], s)?;
    Ok(Value::str(
        strata_store::Hash::of(algo, st.as_bytes()).to_base16(),
    ))
}

fn base_name_of(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = coerce(ev, &a[0], s, false)?;
    let mut b = st.as_bytes();
    if b.last() == Some(&b'/') {
        b = &b[..b.len() - 1];
    }
    let start = b
        .iter()
        .rposition(|&c| c == b'/')
        .map(|p| p + 1)
        .unwrap_or(0);
    let ctx = st.ctx.clone().map(|c| *c).unwrap_or_default();
    Ok(Value::string(NixStr::with_ctx(b[start..].to_vec(), ctx)))
}

fn dir_of(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let v = ev.force(&a[0], s)?;
    let is_path = matches!(v, Value::Path(_));
    let st = coerce(ev, &v, s, false)?;
    let b = st.as_bytes();
    let dir: Vec<u8> = match b.iter().rposition(|&c| c == b'/') {
        Some(0) => b"/".to_vec(),
        Some(p) => b[..p].to_vec(),
        None => b".".to_vec(),
    };
    if is_path {
        return Ok(Value::Path(
            String::from_utf8_lossy(&dir).into_owned().into(),
        ));
    }
    let ctx = st.ctx.map(|c| *c).unwrap_or_default();
    Ok(Value::string(NixStr::with_ctx(dir, ctx)))
}

fn discard_context(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = coerce(ev, &a[0], s, false)?;
    Ok(Value::str(st.as_bytes()))
}

fn discard_output_dependency(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = coerce(ev, &a[0], s, false)?;
    let ctx: Context = st
        .context()
        .map(|c| match c {
            ContextElem::AllOutputs(d) => ContextElem::Plain(d.clone()),
            other => other.clone(),
        })
        .collect();
    Ok(Value::string(NixStr::with_ctx(st.as_bytes().to_vec(), ctx)))
}

fn has_context(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = string(ev, &a[0], s)?;
    Ok(Value::Bool(st.has_context()))
}

fn get_context(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let st = string(ev, &a[0], s)?;
    let mut by_path: std::collections::BTreeMap<String, (bool, bool, Vec<String>)> =
        Default::default();
    for c in st.context() {
        match c {
            ContextElem::Plain(p) => by_path.entry(p.clone()).or_default().0 = true,
            ContextElem::AllOutputs(d) => by_path.entry(d.clone()).or_default().1 = true,
            ContextElem::Output { drv, output } => by_path
                .entry(drv.clone())
                .or_default()
                .2
                .push(output.clone()),
        }
    }
    let (n_path, n_all, n_out) = (
        ev.intern("path"),
        ev.intern("allOutputs"),
        ev.intern("outputs"),
    );
    let mut entries = Vec::new();
    for (p, (plain, all, outs)) in by_path {
        let mut e = Vec::new();
        if all {
            e.push((n_all, Value::Bool(true)));
        }
        if !outs.is_empty() {
            e.push((
                n_out,
                Value::list(outs.into_iter().map(Value::str).collect()),
            ));
        }
        if plain {
            e.push((n_path, Value::Bool(true)));
        }
        let name = ev.intern(&p);
        entries.push((name, Value::attrs(Attrs::from_unsorted(e))));
    }
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

/// Splits a version into components as Nix does: runs of digits, runs of other
/// characters, separated by `.` and `-`.
pub(crate) fn version_components(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'.' || v[i] == b'-' {
            i += 1;
            continue;
        }
        let start = i;
        if v[i].is_ascii_digit() {
            while i < v.len() && v[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            while i < v.len() && !v[i].is_ascii_digit() && v[i] != b'.' && v[i] != b'-' {
                i += 1;
            }
        }
        out.push(&v[start..i]);
    }
    out
}

fn component_lt(a: &[u8], b: &[u8]) -> bool {
    let num = |x: &[u8]| -> Option<u64> {
        if x.is_empty() || !x.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(x).ok()?.parse().ok()
    };
    let (na, nb) = (num(a), num(b));
    match (na, nb) {
        (Some(x), Some(y)) => x < y,
        _ if a.is_empty() && nb.is_some() => true,
        _ if a == b"pre" && b != b"pre" => true,
        _ if b == b"pre" => false,
        (_, Some(_)) => true,
        (Some(_), _) => false,
        _ => a < b,
    }
}

pub(crate) fn compare_version_strings(a: &[u8], b: &[u8]) -> i64 {
    let ca = version_components(a);
    let cb = version_components(b);
    let n = ca.len().max(cb.len());
    for i in 0..n {
        let x = ca.get(i).copied().unwrap_or(b"");
        let y = cb.get(i).copied().unwrap_or(b"");
        if component_lt(x, y) {
            return -1;
        }
        if component_lt(y, x) {
            return 1;
        }
    }
    0
}

fn compare_versions(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let x = string(ev, &a[0], s)?;
    let y = string(ev, &a[1], s)?;
    Ok(Value::Int(compare_version_strings(
        x.as_bytes(),
        y.as_bytes(),
    )))
}

fn split_version(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let x = string(ev, &a[0], s)?;
    Ok(Value::list(
        version_components(x.as_bytes())
            .into_iter()
            .map(Value::str)
            .collect(),
    ))
}

fn parse_drv_name(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let x = coerce(ev, &a[0], s, false)?;
    let b = x.as_bytes();
    // The name ends at the first dash that is followed by something other than a letter.
    let split = (0..b.len())
        .find(|&i| b[i] == b'-' && b.get(i + 1).is_some_and(|c| !c.is_ascii_alphabetic()));
    let (name, version) = match split {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b""[..]),
    };
    let (n, v) = (ev.intern("name"), ev.intern("version"));
    Ok(Value::attrs(Attrs::from_unsorted(vec![
        (n, Value::str(name)),
        (v, Value::str(version)),
    ])))
}
