//! Lowering attribute sets and `let` bindings: attribute paths (`a.b.c = ...`) merged into
//! nested sets, literal sets merged with paths, `inherit`, duplicate definitions reported.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::tree::{AttrName, AttrPath, AttrValue, AttrsDef, Expr, StaticAttr};
use super::{Compiler, Scope};
use crate::parse::ast::{Bind, Key, KeyAt, Kind, Node, Piece};
use crate::source::Span;
use crate::value::{Name, Value};

/// A definition being collected for one attribute while lowering a set.
enum Pending {
    Done(AttrValue, Span),
    /// A nested set built from `a.b = ...` paths, possibly merged with a literal `a = { ... }`.
    Nested(NestedSet, Span),
}

#[derive(Default)]
struct NestedSet {
    statics: BTreeMap<Name, Pending>,
    dynamics: Vec<(Rc<Expr>, Rc<Expr>, Span)>,
}
impl Compiler<'_> {
    fn attr_name(&mut self, a: &KeyAt) -> AttrName {
        if let Some(t) = static_text(&a.key) {
            return AttrName::Static(self.name(&t));
        }
        match &a.key {
            Key::Ident(n) => AttrName::Static(*n),
            Key::Str(pieces) => {
                let span = self.span(a.at);
                AttrName::Dynamic(self.string(pieces, span))
            }
            Key::Dynamic(e) => AttrName::Dynamic(self.expr(e)),
        }
    }

    pub(super) fn attrpath(&mut self, p: &[KeyAt]) -> AttrPath {
        p.iter().map(|a| self.attr_name(a)).collect()
    }

    /// Lowers the entries of a set or `let`. For `rec`/`let`, the frame's scope is pushed
    /// while values are lowered (inherits without a source use the enclosing scope).
    pub(super) fn attrs(&mut self, binds: &[Bind], rec: bool, is_let: bool) -> Rc<AttrsDef> {
        // First pass: the static names, so recursive references resolve.
        let mut top: NestedSet = NestedSet::default();
        // Collect the syntax first; lowering values needs the scope in place.
        struct Def<'n> {
            path: &'n [KeyAt],
            value: &'n Node,
            span: Span,
        }
        let mut defs: Vec<Def> = Vec::new();
        let mut inherits: Vec<(Option<&Node>, &[KeyAt], Span)> = Vec::new();
        for b in binds {
            match b {
                Bind::Value { path, value, at } => defs.push(Def {
                    path,
                    value,
                    span: self.span(*at),
                }),
                Bind::Inherit { from, names, at } => {
                    inherits.push((from.as_ref(), names, self.span(*at)));
                }
            }
        }
        // Static top-level names, in order to assign slots.
        let mut static_names: BTreeMap<Name, ()> = BTreeMap::new();
        for d in &defs {
            if let Some(first) = d.path.first() {
                if let AttrName::Static(n) = self.attr_name_peek(first) {
                    static_names.insert(n, ());
                }
            }
        }
        for (_, attrs, _) in &inherits {
            for a in attrs.iter() {
                if let AttrName::Static(n) = self.attr_name_peek(a) {
                    static_names.insert(n, ());
                }
            }
        }
        let slot_names: BTreeMap<Name, u32> = static_names
            .keys()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();

        // Inherits without a source resolve in the enclosing scope: lower them first.
        let mut inherited: Vec<(Name, AttrValue, Span)> = Vec::new();
        for (from, attrs, span) in &inherits {
            if from.is_none() {
                for a in attrs.iter() {
                    match self.attr_name(a) {
                        AttrName::Static(n) => {
                            let aspan = self.span(a.at);
                            let v = self.lookup(n, aspan);
                            inherited.push((n, AttrValue::Inherited(v), aspan));
                        }
                        AttrName::Dynamic(_) => {
                            self.err(*span, "dynamic attributes are not allowed in 'inherit'");
                        }
                    }
                }
            }
        }
        if rec {
            self.scopes.push(Scope::Static(Rc::new(slot_names.clone())));
        }
        for (from, attrs, span) in &inherits {
            if let Some(from) = from {
                let src = self.expr(from);
                for a in attrs.iter() {
                    match self.attr_name(a) {
                        AttrName::Static(n) => {
                            let v = Rc::new(Expr::Select {
                                expr: super::Operand::new(src.clone()),
                                path: smallvec::smallvec![AttrName::Static(n)],
                                default: None,
                                span: *span,
                            });
                            inherited.push((n, AttrValue::Expr(v), self.span(a.at)));
                        }
                        AttrName::Dynamic(_) => {
                            self.err(*span, "dynamic attributes are not allowed in 'inherit'");
                        }
                    }
                }
            }
        }
        for (n, v, span) in inherited {
            if let Some(prev) = top.statics.get(&n) {
                let prev_span = match prev {
                    Pending::Done(_, s) | Pending::Nested(_, s) => *s,
                };
                self.already(span, &n, prev_span);
                continue;
            }
            top.statics.insert(n, Pending::Done(v, span));
        }
        for d in defs {
            let path: Vec<AttrName> = d.path.iter().map(|a| self.attr_name(a)).collect();
            self.insert_def(&mut top, path, d.value, d.span, is_let, &[]);
        }
        if rec {
            self.scopes.pop();
        }
        let statics = top
            .statics
            .into_iter()
            .map(|(name, p)| self.finish(name, p))
            .collect::<Vec<_>>();
        if is_let && !top.dynamics.is_empty() {
            let span = top.dynamics[0].2;
            self.err(span, "dynamic attributes not allowed in let");
        }
        Rc::new(AttrsDef {
            rec,
            statics,
            dynamics: top.dynamics,
        })
    }

    /// Whether a name is static, and which, without lowering anything.
    fn attr_name_peek(&mut self, a: &KeyAt) -> AttrName {
        match (&a.key, static_text(&a.key)) {
            (Key::Ident(n), _) => AttrName::Static(*n),
            (_, Some(t)) => AttrName::Static(self.name(&t)),
            _ => AttrName::Dynamic(Rc::new(Expr::Const(Value::Null))),
        }
    }

    fn finish(&mut self, name: Name, p: Pending) -> StaticAttr {
        match p {
            Pending::Done(value, span) => StaticAttr { name, value, span },
            Pending::Nested(set, span) => {
                let statics = set
                    .statics
                    .into_iter()
                    .map(|(n, p)| self.finish(n, p))
                    .collect();
                let def = AttrsDef {
                    rec: false,
                    statics,
                    dynamics: set.dynamics,
                };
                StaticAttr {
                    name,
                    value: AttrValue::Expr(Rc::new(Expr::Attrs(Rc::new(def)))),
                    span,
                }
            }
        }
    }

    fn insert_def(
        &mut self,
        set: &mut NestedSet,
        mut path: Vec<AttrName>,
        value: &Node,
        span: Span,
        is_let: bool,
        prefix: &[Name],
    ) {
        let first = path.remove(0);
        match first {
            AttrName::Dynamic(name_expr) => {
                // A dynamic name: the rest of the path becomes a nested literal set.
                let v = if path.is_empty() {
                    self.value_expr(value, None)
                } else {
                    let mut nested = NestedSet::default();
                    self.insert_def(&mut nested, path, value, span, false, prefix);
                    let statics = nested
                        .statics
                        .into_iter()
                        .map(|(n, p)| self.finish(n, p))
                        .collect();
                    Rc::new(Expr::Attrs(Rc::new(AttrsDef {
                        rec: false,
                        statics,
                        dynamics: nested.dynamics,
                    })))
                };
                set.dynamics.push((name_expr, v, span));
            }
            AttrName::Static(name) => {
                // The path so far, for messages only (text is made only when one is reported).
                let mut sub_prefix: smallvec::SmallVec<[Name; 8]> =
                    prefix.iter().copied().collect();
                sub_prefix.push(name);
                let full = || dotted(&sub_prefix);
                if path.is_empty() {
                    // `a = { ... };` merges with `a.b = ...` definitions when it is a literal
                    // non-recursive set.
                    if let Some(existing) = set.statics.get_mut(&name) {
                        let prev_span = match existing {
                            Pending::Done(_, s) | Pending::Nested(_, s) => *s,
                        };
                        if let (
                            Pending::Nested(nested, _),
                            Kind::Attrs {
                                rec: false,
                                binds: lit,
                            },
                        ) = (existing, &value.kind)
                        {
                            self.merge_literal(nested, lit, is_let, &sub_prefix);
                            return;
                        }
                        self.already(span, &full(), prev_span);
                        return;
                    }
                    if let Kind::Attrs {
                        rec: false,
                        binds: lit,
                    } = &value.kind
                    {
                        if !lit.iter().any(|b| matches!(b, Bind::Inherit { .. })) {
                            let mut nested = NestedSet::default();
                            self.merge_literal(&mut nested, lit, is_let, &sub_prefix);
                            set.statics.insert(name, Pending::Nested(nested, span));
                            return;
                        }
                    }
                    let v = self.value_expr(value, Some(name));
                    set.statics
                        .insert(name, Pending::Done(AttrValue::Expr(v), span));
                } else {
                    match set.statics.get_mut(&name) {
                        Some(Pending::Nested(nested, _)) => {
                            self.insert_def(nested, path, value, span, false, &sub_prefix);
                        }
                        Some(Pending::Done(_, prev)) => {
                            let prev = *prev;
                            let rest: Vec<String> = path
                                .iter()
                                .map(|a| match a {
                                    AttrName::Static(n) => n.to_string(),
                                    AttrName::Dynamic(_) => "${...}".to_owned(),
                                })
                                .collect();
                            self.already(span, &format!("{}.{}", full(), rest.join(".")), prev);
                        }
                        None => {
                            let mut nested = NestedSet::default();
                            self.insert_def(&mut nested, path, value, span, false, &sub_prefix);
                            set.statics.insert(name, Pending::Nested(nested, span));
                        }
                    }
                }
            }
        }
    }

    fn merge_literal(
        &mut self,
        nested: &mut NestedSet,
        lit: &[Bind],
        _is_let: bool,
        prefix: &[Name],
    ) {
        for b in lit {
            match b {
                Bind::Value { path, value, at } => {
                    let span = self.span(*at);
                    let path: Vec<AttrName> = path.iter().map(|a| self.attr_name(a)).collect();
                    self.insert_def(nested, path, value, span, false, prefix);
                }
                Bind::Inherit { at, .. } => {
                    let span = self.span(*at);
                    self.err(
                        span,
                        "'inherit' in a set merged with attribute paths is not supported",
                    );
                }
            }
        }
    }

    fn value_expr(&mut self, value: &Node, name: Option<Name>) -> Rc<Expr> {
        if let (Kind::Lambda { param, body }, Some(_)) = (&value.kind, &name) {
            let span = self.span(value.at);
            return Rc::new(Expr::Lambda(self.lambda(param, body, span, name)));
        }
        self.expr(value)
    }
}

/// The text of a quoted name without interpolation (`"a b"`, and `${"a"}`, which is the
/// static name `a`).
fn static_text(key: &Key) -> Option<String> {
    let pieces = match key {
        Key::Ident(_) => return None,
        Key::Str(pieces) => pieces,
        Key::Dynamic(e) => match &e.kind {
            Kind::Str(pieces) => pieces,
            _ => return None,
        },
    };
    match pieces.as_slice() {
        [] => Some(String::new()),
        [Piece::Lit(l)] => Some(String::from_utf8_lossy(l).into_owned()),
        _ => None,
    }
}

/// `a.b.c` for the names of an attribute path.
fn dotted(path: &[Name]) -> String {
    let mut s = String::new();
    for (i, n) in path.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(n.as_str());
    }
    s
}
