//! What `nix-instantiate` does around evaluation: calling a file's function with the
//! `--arg`/`--argstr` values (auto-call) and selecting `-A` attribute paths, with Nix's
//! semantics and wording.

use std::rc::Rc;

use super::{suggest, Evaluator};
use crate::compile::Param;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::source::Span;
use crate::value::{Attrs, Thunk, ThunkState, Value};

const NO_SPAN: Span = Span {
    file: 0,
    start: 0,
    end: 0,
};

/// One step of an attribute path: a name, or a list index (a component made of digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Name(String),
    Index(usize),
}

/// Splits an attribute path as Nix does: on `.`, except inside double quotes, which group a
/// name with dots (`a."b.c"`). The empty path selects the value itself.
pub fn parse_attr_path(path: &str) -> EvalResult<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => out.push(std::mem::take(&mut cur)),
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => cur.push(c),
                    None => {
                        return Err(EvalError::new(
                            ErrorKind::Eval(format!(
                                "missing closing quote in selection path '{path}'"
                            )),
                            None,
                        ))
                    }
                }
            },
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// A component that is all digits (and fits) is a list index, as in Nix.
fn step_of(component: &str) -> PathStep {
    if !component.is_empty() && component.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = component.parse::<u32>() {
            return PathStep::Index(i as usize);
        }
    }
    PathStep::Name(component.to_owned())
}

impl Evaluator {
    /// A lazy value for an expression text (an `--arg`): parsed now, so a syntax error is
    /// reported at once, evaluated only if the value is used.
    pub fn lazy_expr(&mut self, text: &str) -> EvalResult<Value> {
        let expr = self.compile("«string»".to_owned(), None, text.to_owned())?;
        Ok(Value::Thunk(Thunk::new(ThunkState::Suspended(
            expr,
            self.global_env.clone(),
        ))))
    }

    /// Nix's auto-call: a function whose argument is a set pattern is called with the
    /// arguments it names (every argument when it has `...`); a set with `__functor` is called
    /// through it first. Anything else is returned as it is.
    pub fn auto_call(&mut self, v: &Value, args: &Rc<Attrs>) -> EvalResult<Value> {
        let mut f = self.force(v, NO_SPAN)?;
        loop {
            let functor = match &f {
                Value::Attrs(a) => a.get("__functor").cloned(),
                _ => None,
            };
            let Some(functor) = functor else { break };
            let inner = self.call(&functor, f.clone(), NO_SPAN)?;
            f = self.force(&inner, NO_SPAN)?;
        }
        let Value::Lambda(c) = &f else { return Ok(f) };
        let Param::Pattern {
            formals, ellipsis, ..
        } = &c.def.param
        else {
            return Ok(f);
        };
        let arg = if *ellipsis {
            Value::Attrs(args.clone())
        } else {
            let mut entries = Vec::new();
            for (name, default, span) in formals {
                match args.get_sym(name) {
                    Some(v) => entries.push((*name, v.clone())),
                    None if default.is_none() => {
                        return Err(EvalError::new(
                            ErrorKind::Eval(format!(
                                "cannot evaluate a function that has an argument without a \
                                 value ('{name}')\n\n       Nix attempted to evaluate a function \
                                 as a top level expression; in\n       this case it must have \
                                 its arguments supplied either by default\n       values, or \
                                 passed explicitly with '--arg' or '--argstr'."
                            )),
                            Some(*span),
                        ))
                    }
                    None => {}
                }
            }
            Value::attrs(Attrs::from_unsorted(entries))
        };
        let r = self.call(&f, arg, NO_SPAN)?;
        self.force(&r, NO_SPAN)
    }

    /// `-A PATH`: walks `path` from `root`, auto-calling every value on the way (the root
    /// included) with `args`, as `nix-instantiate` does. The value found is returned unforced
    /// and not auto-called: the caller does that last step.
    pub fn select_attr_path(
        &mut self,
        root: &Value,
        path: &str,
        args: &Rc<Attrs>,
    ) -> EvalResult<Value> {
        let fail = |msg: String| EvalError::new(ErrorKind::Eval(msg), None);
        let components = parse_attr_path(path)?;
        let mut cur = root.clone();
        for component in &components {
            let v = self.auto_call(&cur, args)?;
            match step_of(component) {
                PathStep::Name(name) => {
                    let Value::Attrs(set) = &v else {
                        return Err(fail(format!(
                            "the expression selected by the selection path '{path}' should be \
                             a set but is {}",
                            v.type_desc()
                        )));
                    };
                    if name.is_empty() {
                        return Err(fail(format!(
                            "empty attribute name in selection path '{path}'"
                        )));
                    }
                    match set.get(&name) {
                        Some(x) => cur = x.clone(),
                        None => {
                            let hint = suggest(&name, set.names().map(|n| n.as_str()));
                            return Err(fail(format!(
                                "attribute '{name}' in selection path '{path}' not found"
                            ))
                            .with_hint(hint));
                        }
                    }
                }
                PathStep::Index(i) => {
                    let Value::List(l) = &v else {
                        return Err(fail(format!(
                            "the expression selected by the selection path '{path}' should be \
                             a list but is {}",
                            v.type_desc()
                        )));
                    };
                    match l.get(i) {
                        Some(x) => cur = x.clone(),
                        None => {
                            return Err(fail(format!(
                                "list index {i} in selection path '{path}' is out of range"
                            )))
                        }
                    }
                }
            }
        }
        Ok(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_on_dots_outside_quotes() {
        assert_eq!(parse_attr_path("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_attr_path("a.b.0").unwrap(), ["a", "b", "0"]);
        assert_eq!(parse_attr_path("a.\"b.c\".d").unwrap(), ["a", "b.c", "d"]);
        assert_eq!(parse_attr_path("a..b").unwrap(), ["a", "", "b"]);
        assert_eq!(
            parse_attr_path("a.\"b").unwrap_err().message(),
            "missing closing quote in selection path 'a.\"b'"
        );
    }

    #[test]
    fn digits_are_indices() {
        assert_eq!(step_of("0"), PathStep::Index(0));
        assert_eq!(step_of("12"), PathStep::Index(12));
        assert_eq!(step_of("-1"), PathStep::Name("-1".into()));
        assert_eq!(step_of("1a"), PathStep::Name("1a".into()));
    }
}
