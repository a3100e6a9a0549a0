//! `builtins.sort`: a stable sort whose comparison is a Nix function that may fail.
//!
//! Like Nix, every element is forced first and the result is stable. The work is in the
//! comparisons, so the sort makes few of them: ascending and strictly descending stretches
//! of the input are taken whole (a sorted or reversed list costs n - 1 comparisons), short
//! stretches are extended by binary insertion, and neighbouring stretches are merged (not at
//! all when they are already in order). Each comparison is cheap too: with
//! `builtins.lessThan` on integers or strings the values are compared directly, and a
//! comparator written `a: b: BODY` has its body evaluated in two frames that are reused
//! while nothing else holds them, instead of two calls that allocate a closure and frames.
//!
//! Equal elements keep their order for every comparator that is a strict weak order, as with
//! Nix; for one that is not (`a: b: true`), the order is unspecified, as it is in Nix.

use std::cell::RefCell;
use std::rc::Rc;

use super::{boolean, call2, function, list};
use crate::compile::{Expr, LambdaDef, Param};
use crate::error::EvalResult;
use crate::eval::{Env, Evaluator};
use crate::source::Span;
use crate::value::{Closure, Value};

/// Stretches shorter than this are extended by binary insertion before merging.
const MIN_RUN: usize = 24;

pub(super) fn sort(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let f = function(ev, &a[0], s)?;
    let l = list(ev, &a[1], s)?;
    let mut v: Vec<Value> = Vec::with_capacity(l.len());
    for x in l.iter() {
        v.push(ev.force(x, s)?);
    }
    if v.len() < 2 {
        return Ok(Value::List(l));
    }
    if matches!(&f, Value::PrimOp(op) if op.name == "lessThan") && sort_plain(&mut v) {
        return Ok(Value::list(v));
    }
    let mut cmp = Comparator::new(f, s);
    merge_sort(&mut v, &mut |x: &Value, y: &Value| cmp.less(ev, x, y))?;
    Ok(Value::list(v))
}

/// Sorts lists of only integers or only strings by `<` without evaluating anything; `false`
/// (and `v` untouched) for any other list, which goes through `lessThan` itself.
fn sort_plain(v: &mut [Value]) -> bool {
    if v.iter().all(|x| matches!(x, Value::Int(_))) {
        // Equal integers cannot be told apart, so stability does not matter.
        v.sort_unstable_by_key(|x| match x {
            Value::Int(i) => *i,
            _ => 0,
        });
        return true;
    }
    if v.iter().all(|x| matches!(x, Value::String(_))) {
        // Byte order is a total order; equal strings (their contexts may differ) keep their
        // order in the stable sort.
        v.sort_by(|x, y| match (x, y) {
            (Value::String(p), Value::String(q)) => p.bytes.cmp(&q.bytes),
            _ => std::cmp::Ordering::Equal,
        });
        return true;
    }
    false
}

/// How two elements are compared.
enum Comparator {
    /// `builtins.lessThan` on values other than plain integers or strings.
    LessThan(Span),
    /// `a: b: BODY`: the body evaluated in two frames that are reused when nothing kept them.
    Lambda {
        outer: Rc<Closure>,
        inner: Rc<LambdaDef>,
        frames: Option<(Rc<Env>, Rc<Env>)>,
        span: Span,
    },
    /// Any other function: called with both arguments.
    Call(Value, Span),
}

impl Comparator {
    fn new(f: Value, span: Span) -> Comparator {
        match &f {
            Value::PrimOp(op) if op.name == "lessThan" => Comparator::LessThan(span),
            Value::Lambda(c) => match (&c.def.param, &*c.def.body) {
                (Param::Ident(_), Expr::Lambda(inner))
                    if matches!(inner.param, Param::Ident(_)) =>
                {
                    Comparator::Lambda {
                        outer: c.clone(),
                        inner: inner.clone(),
                        frames: None,
                        span,
                    }
                }
                _ => Comparator::Call(f, span),
            },
            _ => Comparator::Call(f, span),
        }
    }

    /// Whether `x` goes before `y`: the comparator applied to `x` and `y`.
    fn less(&mut self, ev: &mut Evaluator, x: &Value, y: &Value) -> EvalResult<bool> {
        match self {
            Comparator::LessThan(span) => ev.less_than(x, y, *span),
            Comparator::Call(f, span) => {
                let r = call2(ev, f, x.clone(), y.clone(), *span)?;
                boolean(ev, &r, *span)
            }
            Comparator::Lambda {
                outer,
                inner,
                frames,
                span,
            } => {
                // The frames are ours alone when the inner one is held only here and the outer
                // one only here and by the inner one: then they are refilled, not reallocated.
                let reused = match frames {
                    Some((o, i))
                        if Rc::strong_count(i) == 1
                            && Rc::weak_count(i) == 0
                            && Rc::strong_count(o) == 2
                            && Rc::weak_count(o) == 0 =>
                    {
                        *o.slots.borrow_mut() = smallvec::smallvec![x.clone()];
                        *i.slots.borrow_mut() = smallvec::smallvec![y.clone()];
                        Some(i.clone())
                    }
                    _ => None,
                };
                let inner_env = match reused {
                    Some(i) => i,
                    None => {
                        let o = Rc::new(Env {
                            slots: RefCell::new(smallvec::smallvec![x.clone()]),
                            parent: Some(outer.env.clone()),
                        });
                        let i = Rc::new(Env {
                            slots: RefCell::new(smallvec::smallvec![y.clone()]),
                            parent: Some(o.clone()),
                        });
                        *frames = Some((o, i.clone()));
                        i
                    }
                };
                let r = ev.eval(&inner.body, &inner_env);
                drop(inner_env);
                boolean(ev, &r?, *span)
            }
        }
    }
}

/// A stable natural merge sort by a fallible `less`: stretches in order are found, short
/// ones extended, then neighbours merged until one is left.
fn merge_sort<T: Clone, E>(
    v: &mut [T],
    less: &mut impl FnMut(&T, &T) -> Result<bool, E>,
) -> Result<(), E> {
    let n = v.len();
    let mut runs: Vec<usize> = vec![0];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        if end < n {
            if less(&v[end], &v[end - 1])? {
                // Strictly descending: no two are equal, so reversing keeps stability.
                end += 1;
                while end < n && less(&v[end], &v[end - 1])? {
                    end += 1;
                }
                v[start..end].reverse();
            } else {
                end += 1;
                while end < n && !less(&v[end], &v[end - 1])? {
                    end += 1;
                }
            }
        }
        let target = (start + MIN_RUN).min(n);
        while end < target {
            insert(&mut v[start..=end], less)?;
            end += 1;
        }
        runs.push(end);
        start = end;
    }
    let mut buf: Vec<T> = Vec::with_capacity(n / 2 + 1);
    while runs.len() > 2 {
        let mut merged = vec![0];
        let mut k = 0;
        while k + 2 < runs.len() {
            merge(v, runs[k], runs[k + 1], runs[k + 2], &mut buf, less)?;
            merged.push(runs[k + 2]);
            k += 2;
        }
        if k + 1 < runs.len() {
            merged.push(runs[k + 1]);
        }
        runs = merged;
    }
    Ok(())
}

/// Moves the last element of `v` into place in the sorted rest: after every element it is
/// not less than, so equal elements keep their order.
fn insert<T, E>(v: &mut [T], less: &mut impl FnMut(&T, &T) -> Result<bool, E>) -> Result<(), E> {
    let last = v.len() - 1;
    let (mut lo, mut hi) = (0, last);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if less(&v[last], &v[mid])? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    v[lo..].rotate_right(1);
    Ok(())
}

/// Merges the sorted `v[lo..mid]` and `v[mid..hi]`, taking from the right only when it is
/// strictly less, so equal elements keep their order.
fn merge<T: Clone, E>(
    v: &mut [T],
    lo: usize,
    mid: usize,
    hi: usize,
    buf: &mut Vec<T>,
    less: &mut impl FnMut(&T, &T) -> Result<bool, E>,
) -> Result<(), E> {
    if !less(&v[mid], &v[mid - 1])? {
        return Ok(());
    }
    buf.clear();
    buf.extend(v[lo..mid].iter().cloned());
    let (mut p, mut q, mut k) = (0, mid, lo);
    // On an error `v` may hold an element twice; the caller drops it then.
    while p < buf.len() && q < hi {
        if less(&v[q], &buf[p])? {
            v[k] = v[q].clone();
            q += 1;
        } else {
            v[k] = buf[p].clone();
            p += 1;
        }
        k += 1;
    }
    while p < buf.len() {
        v[k] = buf[p].clone();
        p += 1;
        k += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorts pairs by their key only, counting comparisons; stability shows in the second
    /// field.
    fn sorted(input: &[(i64, usize)]) -> (Vec<(i64, usize)>, usize) {
        let mut v = input.to_vec();
        let mut count = 0;
        merge_sort(&mut v, &mut |a: &(i64, usize), b: &(i64, usize)| {
            count += 1;
            Ok::<bool, ()>(a.0 < b.0)
        })
        .unwrap();
        (v, count)
    }

    #[test]
    fn stable_on_every_shape() {
        let mut seed = 7u64;
        let mut rnd = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for n in [0usize, 1, 2, 3, 5, 23, 24, 25, 47, 48, 49, 100, 1000] {
            for keys in [1u64, 3, 50, 1 << 30] {
                let random: Vec<(i64, usize)> = (0..n).map(|i| (rnd(keys) as i64, i)).collect();
                let mut asc = random.clone();
                asc.sort_by_key(|x| x.0);
                let desc: Vec<_> = asc.iter().rev().copied().collect();
                let saw: Vec<(i64, usize)> = (0..n).map(|i| ((i % 30) as i64, i)).collect();
                for input in [random, asc, desc, saw] {
                    let mut expected = input.clone();
                    expected.sort_by_key(|x| x.0);
                    assert_eq!(sorted(&input).0, expected, "n = {n}, keys < {keys}");
                }
            }
        }
    }

    #[test]
    fn sorted_and_reversed_inputs_cost_one_pass() {
        let asc: Vec<(i64, usize)> = (0..10_000).map(|i| (i as i64, i)).collect();
        assert_eq!(sorted(&asc).1, 9_999);
        let desc: Vec<(i64, usize)> = (0..10_000).map(|i| (-(i as i64), i)).collect();
        assert_eq!(sorted(&desc).1, 9_999);
    }

    #[test]
    fn an_error_stops_the_sort() {
        let mut v = vec![3, 1, 2];
        let r = merge_sort(&mut v, &mut |a: &i32, b: &i32| {
            if *a == 2 || *b == 2 {
                Err("compared 2")
            } else {
                Ok(a < b)
            }
        });
        assert_eq!(r, Err("compared 2"));
    }
}
