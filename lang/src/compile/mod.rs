//! Lowering: the syntax tree ([`crate::parse`]) becomes a small expression tree in which every variable is
//! resolved to a slot in a frame (or, under `with`, to a dynamic lookup), attribute paths in
//! definitions are merged, and `<search>` paths are desugared as Nix does.
//!
//! Like Nix, an undefined variable is an error here, before evaluation starts.
//!
//! This file holds the compiler's scopes (name resolution) and the lowering of expressions,
//! functions, strings and paths; the tree it builds is in `tree`, and the lowering of
//! attribute sets and `let` in `attrs`.

mod attrs;
mod tree;

pub use tree::{
    AttrName, AttrPath, AttrValue, AttrsDef, BinOp, Expr, LambdaDef, Operand, Param, Part,
    StaticAttr,
};

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::{ErrorKind, EvalError};
use crate::parse::ast::{Kind, Node, ParamNode, Piece, Range};
use crate::source::Span;
use crate::value::{Name, Value};

/// A compile-time scope.
enum Scope {
    /// Names and their slot indices.
    Static(Rc<BTreeMap<Name, u32>>),
    With,
}

/// Lowers syntax trees of one file.
#[allow(missing_debug_implementations)]
pub struct Compiler<'a> {
    file: u32,
    src: Option<Rc<crate::source::Source>>,
    /// Directory relative paths resolve against.
    base_dir: Option<String>,
    scopes: Vec<Scope>,
    interner: &'a mut crate::eval::Interner,
    errors: Vec<(Span, String)>,
}

impl<'a> Compiler<'a> {
    /// `globals` are the names of the outermost frame (the builtins scope).
    pub fn new(
        file: u32,
        base_dir: Option<String>,
        globals: &Rc<BTreeMap<Name, u32>>,
        interner: &'a mut crate::eval::Interner,
    ) -> Compiler<'a> {
        Compiler {
            file,
            src: None,
            base_dir,
            scopes: vec![Scope::Static(globals.clone())],
            interner,
            errors: Vec::new(),
        }
    }

    /// Parses and lowers the source given with [`Self::with_source`], or returns every
    /// problem found.
    pub fn compile_source(mut self) -> Result<Rc<Expr>, EvalError> {
        let src = self.src.clone();
        let text = src.as_ref().map(|s| s.text.as_str()).unwrap_or("");
        let root = match crate::parse::parse(text) {
            Ok(root) => root,
            Err(errs) => {
                // A tree with syntax errors is not lowered; every error is reported.
                let errs = errs
                    .into_iter()
                    .map(|(r, msg)| (self.span(r), msg))
                    .collect();
                return Err(EvalError::new(ErrorKind::Syntax(errs), None));
            }
        };
        let expr = self.expr(&root);
        // Like Nix, report the first problem found while binding names.
        match self.errors.first() {
            None => Ok(expr),
            Some((span, msg)) => Err(EvalError::new(ErrorKind::Eval(msg.clone()), Some(*span))),
        }
    }

    fn span(&self, r: Range) -> Span {
        Span {
            file: self.file,
            start: r.start,
            end: r.end,
        }
    }

    /// Adds a scope of names (slots in that order) between the globals and the file, as
    /// `scopedImport` needs.
    pub fn with_scope(mut self, names: BTreeMap<Name, u32>) -> Self {
        self.scopes.push(Scope::Static(Rc::new(names)));
        self
    }

    /// Gives the compiler its source, so messages can name positions.
    pub fn with_source(mut self, src: Rc<crate::source::Source>) -> Self {
        self.src = Some(src);
        self
    }

    fn pos(&self, span: Span) -> String {
        match &self.src {
            Some(s) => {
                let (l, c) = s.line_col(span.start);
                format!("{}:{l}:{c}", s.name)
            }
            None => "«unknown»".to_owned(),
        }
    }

    fn already(&mut self, span: Span, name: &str, prev: Span) {
        let msg = format!("attribute '{name}' already defined at {}", self.pos(prev));
        self.err(span, msg);
    }

    fn name(&mut self, s: &str) -> Name {
        self.interner.intern(s)
    }

    fn err(&mut self, span: Span, msg: impl Into<String>) -> Rc<Expr> {
        self.errors.push((span, msg.into()));
        Rc::new(Expr::Const(Value::Null))
    }

    fn lookup(&mut self, sym: Name, span: Span) -> Rc<Expr> {
        let name = sym.as_str();
        let mut withs = Vec::new();
        for (depth, scope) in self.scopes.iter().rev().enumerate() {
            let depth = depth as u32;
            match scope {
                Scope::Static(names) => {
                    if let Some(&index) = names.get(&sym) {
                        return Rc::new(Expr::Local { depth, index });
                    }
                }
                Scope::With => withs.push(depth),
            }
        }
        if withs.is_empty() {
            return self.err(span, format!("undefined variable '{name}'"));
        }
        Rc::new(Expr::WithVar {
            name: sym,
            withs: withs.into(),
            span,
        })
    }

    fn expr(&mut self, e: &Node) -> Rc<Expr> {
        let span = self.span(e.at);
        match &e.kind {
            Kind::Int(v) => Rc::new(Expr::Const(Value::Int(*v))),
            Kind::Float(v) => Rc::new(Expr::Const(Value::Float(*v))),
            Kind::Uri(u) => Rc::new(Expr::Const(Value::str(u.as_bytes()))),
            Kind::Var(name) => self.lookup(*name, span),
            Kind::CurPos => Rc::new(Expr::CurPos(span)),
            Kind::Str(parts) => self.string(parts, span),
            Kind::Path(parts) => self.path(parts, span),
            Kind::SearchPath(name) => {
                let find = self.lookup(crate::value::intern("__findFile"), span);
                let nix_path = self.lookup(crate::value::intern("__nixPath"), span);
                let inner = Rc::new(Expr::apply(find, nix_path, span));
                Rc::new(Expr::apply(
                    inner,
                    Rc::new(Expr::Const(Value::str(name.as_bytes()))),
                    span,
                ))
            }
            Kind::List(items) => {
                let items = items.iter().map(|i| self.expr(i)).collect();
                Rc::new(Expr::List(items))
            }
            Kind::Attrs { rec, binds } => {
                let def = self.attrs(binds, *rec, false);
                Rc::new(Expr::Attrs(def))
            }
            Kind::Let { binds, body } => {
                let def = self.attrs(binds, true, true);
                let names = def
                    .statics
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.name, i as u32))
                    .collect();
                self.scopes.push(Scope::Static(Rc::new(names)));
                let body = self.expr(body);
                self.scopes.pop();
                Rc::new(Expr::Let { def, body })
            }
            Kind::LegacyLet(binds) => {
                // `let { body = ...; }`: a recursive set whose `body` is the value.
                let def = self.attrs(binds, true, true);
                let names: BTreeMap<Name, u32> = def
                    .statics
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.name, i as u32))
                    .collect();
                self.scopes.push(Scope::Static(Rc::new(names)));
                let body = self.lookup(crate::value::intern("body"), span);
                self.scopes.pop();
                Rc::new(Expr::Let { def, body })
            }
            Kind::With { ns, body } => {
                let ns = self.expr(ns);
                self.scopes.push(Scope::With);
                let body = self.expr(body);
                self.scopes.pop();
                Rc::new(Expr::With { ns, body, span })
            }
            Kind::If { cond, then, else_ } => {
                let cond = self.expr(cond);
                let then = self.expr(then);
                let else_ = self.expr(else_);
                Rc::new(Expr::If {
                    cond,
                    then,
                    else_,
                    span,
                })
            }
            Kind::Assert { cond, body } => {
                let text = self
                    .src
                    .as_ref()
                    .and_then(|s| s.text.get(cond.at.start as usize..cond.at.end as usize))
                    .unwrap_or("")
                    .to_owned();
                let cspan = self.span(cond.at);
                let cond = self.expr(cond);
                let body = self.expr(body);
                Rc::new(Expr::Assert {
                    cond,
                    body,
                    span: cspan,
                    text,
                })
            }
            Kind::Not(inner) => {
                let expr = self.expr(inner);
                Rc::new(Expr::Not { expr, span })
            }
            Kind::Neg(inner) => {
                let expr = self.expr(inner);
                Rc::new(Expr::Neg { expr, span })
            }
            Kind::Bin { op, lhs, rhs } => {
                let lhs = self.expr(lhs);
                let rhs = self.expr(rhs);
                Rc::new(Expr::Bin {
                    op: *op,
                    lhs,
                    rhs,
                    span,
                })
            }
            Kind::Select {
                expr,
                path,
                default,
            } => {
                let expr = self.expr(expr);
                let path = self.attrpath(path);
                let default = default.as_ref().map(|d| self.expr(d));
                Rc::new(Expr::Select {
                    expr: Operand::new(expr),
                    path,
                    default,
                    span,
                })
            }
            Kind::HasAttr { expr, path } => {
                let expr = self.expr(expr);
                let path = self.attrpath(path);
                Rc::new(Expr::HasAttr { expr, path, span })
            }
            Kind::Apply { func, arg } => {
                let func = self.expr(func);
                let arg = self.expr(arg);
                Rc::new(Expr::apply(func, arg, span))
            }
            Kind::Lambda { param, body } => {
                Rc::new(Expr::Lambda(self.lambda(param, body, span, None)))
            }
        }
    }

    fn lambda(
        &mut self,
        param: &ParamNode,
        body: &Node,
        span: Span,
        name: Option<Name>,
    ) -> Rc<LambdaDef> {
        let param = match param {
            ParamNode::Ident(n) => Param::Ident(*n),
            ParamNode::Pattern {
                formals: written,
                ellipsis,
                bind,
            } => {
                let mut entries: Vec<&crate::parse::ast::Formal> = Vec::new();
                for f in written {
                    if entries.iter().any(|m| m.name == f.name) {
                        let espan = self.span(f.at);
                        self.err(
                            espan,
                            format!("duplicate formal function argument '{}'", f.name),
                        );
                    }
                    entries.push(f);
                }
                if let Some(b) = bind {
                    if entries.iter().any(|m| m.name == *b) {
                        self.err(span, format!("duplicate formal function argument '{b}'"));
                    }
                }
                // Formals sorted by name (as functionArgs lists them); slots follow that order.
                entries.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
                let mut names: BTreeMap<Name, u32> = BTreeMap::new();
                for (i, f) in entries.iter().enumerate() {
                    names.insert(f.name, i as u32);
                }
                if let Some(b) = bind {
                    names.insert(*b, entries.len() as u32);
                }
                // Defaults see every formal.
                self.scopes.push(Scope::Static(Rc::new(names)));
                let mut formals = Vec::with_capacity(entries.len());
                for f in entries {
                    let default = f.default.as_ref().map(|d| self.expr(d));
                    formals.push((f.name, default, self.span(f.at)));
                }
                self.scopes.pop();
                Param::Pattern {
                    formals,
                    ellipsis: *ellipsis,
                    bind: *bind,
                }
            }
        };
        let names: BTreeMap<Name, u32> = match &param {
            Param::Ident(n) => [(*n, 0)].into_iter().collect(),
            Param::Pattern { formals, bind, .. } => {
                let mut m: BTreeMap<Name, u32> = formals
                    .iter()
                    .enumerate()
                    .map(|(i, (n, _, _))| (*n, i as u32))
                    .collect();
                if let Some(b) = bind {
                    m.insert(*b, formals.len() as u32);
                }
                m
            }
        };
        self.scopes.push(Scope::Static(Rc::new(names)));
        let body = self.expr(body);
        self.scopes.pop();
        Rc::new(LambdaDef {
            param,
            body,
            span,
            name,
        })
    }

    /// The pieces of a string or path, lowered.
    fn parts(&mut self, pieces: &[Piece]) -> Vec<Part> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(l) => Part::Lit(l.clone()),
                Piece::Interp(e) => Part::Expr(self.expr(e)),
            })
            .collect()
    }

    fn string(&mut self, pieces: &[Piece], span: Span) -> Rc<Expr> {
        match pieces {
            [] => Rc::new(Expr::Const(Value::str(""))),
            [Piece::Lit(l)] => Rc::new(Expr::Const(Value::str(l.clone()))),
            _ => {
                let parts = self.parts(pieces);
                Rc::new(Expr::Str { parts, span })
            }
        }
    }

    /// A path: absolute, `~/`, or relative to the file's directory.
    fn path(&mut self, pieces: &[Piece], span: Span) -> Rc<Expr> {
        let relative = match pieces.first() {
            Some(Piece::Lit(l)) => !matches!(l.first(), Some(b'/' | b'~')),
            _ => true,
        };
        let parts = self.parts(pieces);
        let base = if relative {
            match &self.base_dir {
                Some(b) => Some(b.clone()),
                None => {
                    return self.err(span, "relative path in an expression that has no directory")
                }
            }
        } else {
            None
        };
        Rc::new(Expr::Path { parts, base, span })
    }
}
