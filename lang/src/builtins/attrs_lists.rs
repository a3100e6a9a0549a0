//! Builtins on sets, lists and numbers.

use super::{
    attrs, boolean, call1, call2, function, int, lazy_apply, lazy_apply2, list, string, type_error,
    PrimFn,
};
use crate::error::{EvalError, EvalResult};
use crate::eval::Evaluator;
use crate::source::Span;
use crate::value::{Attrs, Name, Value};

pub(super) fn register(p: &mut Vec<(&'static str, usize, PrimFn)>) {
    p.extend_from_slice(&[
        ("attrNames", 1, attr_names as PrimFn),
        ("attrValues", 1, attr_values),
        ("getAttr", 2, get_attr),
        ("hasAttr", 2, has_attr),
        ("removeAttrs", 2, remove_attrs),
        ("intersectAttrs", 2, intersect_attrs),
        ("catAttrs", 2, cat_attrs),
        ("listToAttrs", 1, list_to_attrs),
        ("mapAttrs", 2, map_attrs),
        ("zipAttrsWith", 2, zip_attrs_with),
        ("functionArgs", 1, function_args),
        ("map", 2, map),
        ("filter", 2, filter),
        ("foldl'", 3, foldl),
        ("genList", 2, gen_list),
        ("elem", 2, elem),
        ("elemAt", 2, elem_at),
        ("head", 1, head),
        ("tail", 1, tail),
        ("length", 1, length),
        ("concatLists", 1, concat_lists),
        ("concatMap", 2, concat_map),
        ("all", 2, all),
        ("any", 2, any),
        ("sort", 2, super::sort::sort),
        ("partition", 2, partition),
        ("groupBy", 2, group_by),
        ("genericClosure", 1, generic_closure),
        ("add", 2, add),
        ("sub", 2, sub),
        ("mul", 2, mul),
        ("div", 2, div),
        ("lessThan", 2, less_than),
        ("bitAnd", 2, bit_and),
        ("bitOr", 2, bit_or),
        ("bitXor", 2, bit_xor),
        ("ceil", 1, ceil),
        ("floor", 1, floor),
    ]);
}

fn attr_names(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let set = attrs(ev, &a[0], s)?;
    Ok(Value::list(
        set.sorted()
            .into_iter()
            .map(|(n, _)| ev.name_string(*n))
            .collect(),
    ))
}

fn attr_values(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let set = attrs(ev, &a[0], s)?;
    Ok(Value::list(
        set.sorted().into_iter().map(|(_, v)| v.clone()).collect(),
    ))
}

fn name_arg(ev: &mut Evaluator, v: &Value, s: Span) -> EvalResult<Name> {
    let n = string(ev, v, s)?;
    let t = n.to_str_lossy().into_owned();
    Ok(ev.intern(&t))
}

fn get_attr(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let n = name_arg(ev, &a[0], s)?;
    let set = attrs(ev, &a[1], s)?;
    match set.get(&n) {
        Some(v) => {
            let v = v.clone();
            ev.force(&v, s)
        }
        None => Err(EvalError::eval(
            format!("attribute '{n}' missing for call to 'getAttr'"),
            s,
        )),
    }
}

fn has_attr(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let n = name_arg(ev, &a[0], s)?;
    let set = attrs(ev, &a[1], s)?;
    Ok(Value::Bool(set.contains(&n)))
}

fn remove_attrs(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let set = attrs(ev, &a[0], s)?;
    let names = list(ev, &a[1], s)?;
    let mut drop = Vec::with_capacity(names.len());
    for n in names.iter() {
        drop.push(string(ev, n, s)?.to_str_lossy().into_owned());
    }
    let kept: Vec<(Name, Value)> = set
        .iter()
        .filter(|(k, _)| !drop.iter().any(|d| d.as_str() == k.as_str()))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(kept)))
}

fn intersect_attrs(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let x = attrs(ev, &a[0], s)?;
    let y = attrs(ev, &a[1], s)?;
    let kept: Vec<(Name, Value)> = y
        .iter()
        .filter(|(k, _)| x.contains(k))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(kept)))
}

fn cat_attrs(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let n = name_arg(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    let mut out = Vec::new();
    for x in l.iter() {
        let set = attrs(ev, x, s)?;
        if let Some(v) = set.get(&n) {
            out.push(v.clone());
        }
    }
    Ok(Value::list(out))
}

fn list_to_attrs(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let l = list(ev, &a[0], s)?;
    let mut entries = Vec::with_capacity(l.len());
    for x in l.iter() {
        let set = attrs(ev, x, s)?;
        let name = set.get("name").cloned().ok_or_else(|| {
            EvalError::eval("attribute 'name' missing for call to 'listToAttrs'", s)
        })?;
        let n = name_arg(ev, &name, s)?;
        let value = set.get("value").cloned().ok_or_else(|| {
            EvalError::eval("attribute 'value' missing for call to 'listToAttrs'", s)
        })?;
        entries.push((n, value));
    }
    // The first definition of a name wins; a stable sort keeps them in order.
    entries.sort_by_key(|a| a.0);
    entries.dedup_by(|later, earlier| later.0 == earlier.0);
    Ok(Value::attrs(Attrs::from_sorted(entries)))
}

fn map_attrs(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = a[0].clone();
    let set = attrs(ev, &a[1], s)?;
    let out: Vec<(Name, Value)> = set
        .iter()
        .map(|(k, v)| (*k, lazy_apply2(&f, ev.name_string(*k), v.clone())))
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(out)))
}

fn zip_attrs_with(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = a[0].clone();
    let sets = list(ev, &a[1], s)?;
    let mut acc: std::collections::BTreeMap<Name, Vec<Value>> = std::collections::BTreeMap::new();
    for x in sets.iter() {
        let set = attrs(ev, x, s)?;
        for (k, v) in set.iter() {
            acc.entry(*k).or_default().push(v.clone());
        }
    }
    let out: Vec<(Name, Value)> = acc
        .into_iter()
        .map(|(k, vs)| {
            let v = lazy_apply2(&f, ev.name_string(k), Value::list(vs));
            (k, v)
        })
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(out)))
}

fn function_args(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    match ev.force(&a[0], s)? {
        Value::Lambda(c) => match &c.def.param {
            crate::compile::Param::Ident(_) => Ok(Value::empty_attrs()),
            crate::compile::Param::Pattern { formals, .. } => {
                Ok(Value::attrs(Attrs::from_unsorted(
                    formals
                        .iter()
                        .map(|(n, d, _)| (*n, Value::Bool(d.is_some())))
                        .collect(),
                )))
            }
        },
        Value::PrimOp(_) | Value::PrimOpApp(_) => Ok(Value::empty_attrs()),
        other => Err(type_error("a function", &other, s)),
    }
}

fn map(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let l = list(ev, &a[1], s)?;
    let f = a[0].clone();
    Ok(Value::list(
        l.iter().map(|x| lazy_apply(&f, x.clone())).collect(),
    ))
}

fn filter(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    let mut out = Vec::new();
    let mut all = true;
    for x in l.iter() {
        let keep = call1(ev, &f, x.clone(), s)?;
        match keep {
            Value::Bool(true) => out.push(x.clone()),
            Value::Bool(false) => all = false,
            other => return Err(type_error("a Boolean", &other, s)),
        }
    }
    if all {
        return Ok(Value::List(l));
    }
    Ok(Value::list(out))
}

fn foldl(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[2], s)?;
    let mut acc = a[1].clone();
    for x in l.iter() {
        acc = call2(ev, &f, acc, x.clone(), s)?;
    }
    ev.force(&acc, s)
}

fn gen_list(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = a[0].clone();
    let n = int(ev, &a[1], s)?;
    if n < 0 {
        return Err(EvalError::eval(
            format!("cannot create list of size {n}"),
            s,
        ));
    }
    Ok(Value::list(
        (0..n).map(|i| lazy_apply(&f, Value::Int(i))).collect(),
    ))
}

fn elem(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let l = list(ev, &a[1], s)?;
    for x in l.iter() {
        if ev.elements_equal(&a[0], x, s)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn elem_at(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let l = list(ev, &a[0], s)?;
    let i = int(ev, &a[1], s)?;
    match usize::try_from(i).ok().and_then(|i| l.get(i)) {
        Some(v) => {
            let v = v.clone();
            ev.force(&v, s)
        }
        None => Err(EvalError::eval(
            format!("list index {i} is out of bounds"),
            s,
        )),
    }
}

fn head(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let l = list(ev, &a[0], s)?;
    match l.first() {
        Some(v) => {
            let v = v.clone();
            ev.force(&v, s)
        }
        None => Err(EvalError::eval("list index 0 is out of bounds", s)),
    }
}

fn tail(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let l = list(ev, &a[0], s)?;
    if l.is_empty() {
        return Err(EvalError::eval("'tail' called on an empty list", s));
    }
    Ok(Value::list(l[1..].to_vec()))
}

fn length(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::Int(list(ev, &a[0], s)?.len() as i64))
}

fn concat_lists(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let l = list(ev, &a[0], s)?;
    let mut out = Vec::new();
    for x in l.iter() {
        out.extend(list(ev, x, s)?.iter().cloned());
    }
    Ok(Value::list(out))
}

fn concat_map(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    let mut out = Vec::new();
    for x in l.iter() {
        let r = call1(ev, &f, x.clone(), s)?;
        match r {
            Value::List(items) => out.extend(items.iter().cloned()),
            other => return Err(type_error("a list", &other, s)),
        }
    }
    Ok(Value::list(out))
}

fn all(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    for x in l.iter() {
        let r = call1(ev, &f, x.clone(), s)?;
        if !boolean(ev, &r, s)? {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn any(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    for x in l.iter() {
        let r = call1(ev, &f, x.clone(), s)?;
        if boolean(ev, &r, s)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn partition(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    for x in l.iter() {
        let r = call1(ev, &f, x.clone(), s)?;
        if boolean(ev, &r, s)? {
            right.push(x.clone());
        } else {
            wrong.push(x.clone());
        }
    }
    let rn = ev.intern("right");
    let wn = ev.intern("wrong");
    Ok(Value::attrs(Attrs::from_unsorted(vec![
        (rn, Value::list(right)),
        (wn, Value::list(wrong)),
    ])))
}

fn group_by(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    let mut groups: std::collections::BTreeMap<Name, Vec<Value>> =
        std::collections::BTreeMap::new();
    for x in l.iter() {
        let r = call1(ev, &f, x.clone(), s)?;
        let k = name_arg(ev, &r, s)?;
        groups.entry(k).or_default().push(x.clone());
    }
    Ok(Value::attrs(Attrs::from_sorted(
        groups
            .into_iter()
            .map(|(k, v)| (k, Value::list(v)))
            .collect(),
    )))
}

/// The keys `genericClosure` has seen. Nix keeps them in an ordered set whose comparison is
/// `<` on numbers (an integer and a float of the same value are one key), strings (by their
/// text, whatever their context) and paths, and lexicographic on lists; any other pair is an
/// error (`cannot compare a string with an integer`). The first key is never compared, so it
/// may be of any type; every later one is compared with keys already there.
///
/// Numbers, strings and paths are found by hashing, which gives the same answer as the
/// ordered set's comparisons in far fewer steps than comparing with every key. Lists are
/// kept sorted and found by binary search with `<`, as Nix compares them.
#[derive(Default)]
struct ClosureKeys {
    /// The first key: every other one must be comparable with it.
    first: Option<Value>,
    numbers: std::collections::HashSet<NumberKey>,
    strings: std::collections::HashSet<Box<[u8]>>,
    paths: std::collections::HashSet<String>,
    lists: Vec<Value>,
}

/// A number as a key: an integral float is the integer of its value (`1.0` is the key `1`).
#[derive(PartialEq, Eq, Hash)]
enum NumberKey {
    Int(i64),
    Float(u64),
}

impl NumberKey {
    fn of(v: &Value) -> Option<NumberKey> {
        match v {
            Value::Int(i) => Some(NumberKey::Int(*i)),
            Value::Float(f) => {
                if f.fract() == 0.0
                    && *f >= -9.223_372_036_854_776e18
                    && *f < 9.223_372_036_854_776e18
                {
                    Some(NumberKey::Int(*f as i64))
                } else {
                    Some(NumberKey::Float(f.to_bits()))
                }
            }
            _ => None,
        }
    }
}

/// Which keys compare with which: numbers with numbers, strings with strings, and so on.
fn key_class(v: &Value) -> u8 {
    match v {
        Value::Int(_) | Value::Float(_) => 0,
        Value::String(_) => 1,
        Value::Path(_) => 2,
        Value::List(_) => 3,
        _ => 4,
    }
}

impl ClosureKeys {
    /// Adds a (forced) key; false if an equal key is there already.
    fn insert(&mut self, ev: &mut Evaluator, key: Value, s: Span) -> EvalResult<bool> {
        let Some(first) = &self.first else {
            self.first = Some(key.clone());
            return self.add(ev, key, s);
        };
        let class = key_class(&key);
        if class != key_class(first) || class == 4 {
            // Not comparable: `<` gives Nix's error (the new key on the left, as Nix
            // compares it with the keys already there).
            let first = first.clone();
            ev.less_than(&key, &first, s)?;
            return Err(EvalError::eval(
                format!(
                    "cannot compare {} with {}",
                    key.type_desc(),
                    first.type_desc()
                ),
                s,
            ));
        }
        self.add(ev, key, s)
    }

    fn add(&mut self, ev: &mut Evaluator, key: Value, s: Span) -> EvalResult<bool> {
        Ok(match &key {
            Value::String(x) => self.strings.insert(x.bytes.clone()),
            Value::Path(p) => self.paths.insert((**p).clone()),
            Value::List(_) => {
                // Binary search with `<` both ways: neither less means equal.
                let (mut lo, mut hi) = (0, self.lists.len());
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    let here = self.lists[mid].clone();
                    if ev.less_than(&key, &here, s)? {
                        hi = mid;
                    } else if ev.less_than(&here, &key, s)? {
                        lo = mid + 1;
                    } else {
                        return Ok(false);
                    }
                }
                self.lists.insert(lo, key);
                true
            }
            other => match NumberKey::of(other) {
                Some(n) => self.numbers.insert(n),
                // The first key alone, of a type nothing compares with.
                None => true,
            },
        })
    }
}

fn generic_closure(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let args = attrs(ev, &a[0], s)?;
    let start = args
        .get("startSet")
        .cloned()
        .ok_or_else(|| EvalError::eval("attribute 'startSet' missing", s))?;
    let op = args
        .get("operator")
        .cloned()
        .ok_or_else(|| EvalError::eval("attribute 'operator' missing", s))?;
    let op = function(ev, &op, s)?;
    let mut todo: std::collections::VecDeque<Value> =
        list(ev, &start, s)?.iter().cloned().collect();
    let mut keys = ClosureKeys::default();
    let mut out = Vec::new();
    while let Some(item) = todo.pop_front() {
        let set = attrs(ev, &item, s)?;
        let key = set
            .get("key")
            .cloned()
            .ok_or_else(|| EvalError::eval("attribute 'key' required", s))?;
        let key = ev.force(&key, s)?;
        if !keys.insert(ev, key, s)? {
            continue;
        }
        out.push(item.clone());
        let next = call1(ev, &op, item, s)?;
        match next {
            Value::List(l) => todo.extend(l.iter().cloned()),
            other => return Err(type_error("a list", &other, s)),
        }
    }
    Ok(Value::list(out))
}

fn num2(ev: &mut Evaluator, a: &[Value], s: Span, op: crate::compile::BinOp) -> EvalResult<Value> {
    let x = ev.force(&a[0], s)?;
    let y = ev.force(&a[1], s)?;
    ev.apply_binop(op, x, y, s)
}

fn add(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let x = ev.force(&a[0], s)?;
    let y = ev.force(&a[1], s)?;
    match (&x, &y) {
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            ev.apply_binop(crate::compile::BinOp::Add, x, y, s)
        }
        (Value::Int(_) | Value::Float(_), other) | (other, _) => {
            Err(type_error("an integer", other, s))
        }
    }
}
fn sub(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    num2(ev, a, s, crate::compile::BinOp::Sub)
}
fn mul(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    num2(ev, a, s, crate::compile::BinOp::Mul)
}
fn div(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    num2(ev, a, s, crate::compile::BinOp::Div)
}
fn less_than(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::Bool(ev.less_than(&a[0], &a[1], s)?))
}
fn bit_and(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::Int(int(ev, &a[0], s)? & int(ev, &a[1], s)?))
}
fn bit_or(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::Int(int(ev, &a[0], s)? | int(ev, &a[1], s)?))
}
fn bit_xor(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::Int(int(ev, &a[0], s)? ^ int(ev, &a[1], s)?))
}
fn float_arg(ev: &mut Evaluator, v: &Value, s: Span) -> EvalResult<f64> {
    match ev.force(v, s)? {
        Value::Int(i) => Ok(i as f64),
        Value::Float(f) => Ok(f),
        other => Err(type_error("a float", &other, s)),
    }
}
/// A whole float as an integer the way Nix converts it: a value outside the integers' range
/// (or NaN) gives the smallest integer, as the x86-64 conversion instruction does, instead of
/// saturating.
fn float_to_int(f: f64) -> i64 {
    // -2^63 is exact in a float; 2^63 is the first value too large.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}
fn ceil(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::Int(float_to_int(float_arg(ev, &a[0], s)?.ceil())))
}
fn floor(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    Ok(Value::Int(float_to_int(float_arg(ev, &a[0], s)?.floor())))
}
