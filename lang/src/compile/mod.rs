//! Lowering: the `rnix` syntax tree becomes a small expression tree in which every variable is
//! resolved to a slot in a frame (or, under `with`, to a dynamic lookup), attribute paths in
//! definitions are merged, and `<search>` paths are desugared as Nix does.
//!
//! Like Nix, an undefined variable is an error here, before evaluation starts.
//!
//! This file holds the compiler's scopes (name resolution) and the lowering of expressions,
//! functions, strings and paths; the tree it builds is in `tree`, the lowering of attribute
//! sets and `let` in `attrs`, and the wording of parse errors in `syntax_errors`.

mod attrs;
mod syntax_errors;
mod tree;

pub use tree::{
    AttrName, AttrPath, AttrValue, AttrsDef, BinOp, Expr, LambdaDef, Operand, Param, Part,
    StaticAttr,
};

use std::collections::BTreeMap;
use std::rc::Rc;

use rnix::ast::{self, AstToken};
use rowan::ast::AstNode;

use crate::error::{ErrorKind, EvalError};
use crate::source::Span;
use crate::value::{Name, Value};
use syntax_errors::describe_parse_error;

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

/// The name an identifier spells, read from its token rather than by walking the node's text
/// (`or` used as a name is a different token, so it takes the walk).
pub(crate) fn ident_text(i: &ast::Ident) -> String {
    match i.ident_token() {
        Some(t) => t.text().to_owned(),
        None => i.syntax().text().to_string(),
    }
}

/// The symbol of an identifier, interned straight from its token's text.
pub(crate) fn ident_name(i: &ast::Ident) -> Name {
    match i.ident_token() {
        Some(t) => crate::value::intern(t.text()),
        None => crate::value::intern(&i.syntax().text().to_string()),
    }
}

fn span_of(file: u32, node: &rnix::SyntaxNode) -> Span {
    let r = node.text_range();
    Span {
        file,
        start: r.start().into(),
        end: r.end().into(),
    }
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

    /// Lowers a whole parsed file, or returns every problem found.
    pub fn compile_root(
        mut self,
        root: &ast::Root,
        parse_errors: &[rnix::ParseError],
    ) -> Result<Rc<Expr>, EvalError> {
        // A tree with parse errors is not lowered: its nodes may be incomplete. Every parse
        // error is reported, with its position.
        if !parse_errors.is_empty() {
            let text = self
                .src
                .as_ref()
                .map(|s| s.text.clone())
                .unwrap_or_default();
            let mut errs: Vec<(Span, String)> = Vec::new();
            for e in parse_errors {
                let (span, msg) = describe_parse_error(self.file, &text, e);
                // The parser reports some problems twice at one place as it recovers.
                if !errs.iter().any(|(s, _)| s.start == span.start) {
                    errs.push((span, msg));
                }
            }
            return Err(EvalError::new(ErrorKind::Syntax(errs), None));
        }
        let expr = match root.expr() {
            Some(e) => self.expr(&e),
            None => {
                let span = Span {
                    file: self.file,
                    start: 0,
                    end: 0,
                };
                let errs = vec![(span, "unexpected end of file".to_owned())];
                return Err(EvalError::new(ErrorKind::Syntax(errs), None));
            }
        };
        // Like Nix, report the first problem found while binding names.
        match self.errors.first() {
            None => Ok(expr),
            Some((span, msg)) => Err(EvalError::new(ErrorKind::Eval(msg.clone()), Some(*span))),
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

    fn expr(&mut self, e: &ast::Expr) -> Rc<Expr> {
        let span = span_of(self.file, e.syntax());
        match e {
            ast::Expr::Literal(l) => match l.kind() {
                ast::LiteralKind::Integer(i) => match i.value() {
                    Ok(v) => Rc::new(Expr::Const(Value::Int(v))),
                    Err(_) => self.err(span, format!("invalid integer '{}'", i.syntax().text())),
                },
                ast::LiteralKind::Float(f) => match f.value() {
                    Ok(v) => Rc::new(Expr::Const(Value::Float(v))),
                    Err(_) => self.err(span, format!("invalid float '{}'", f.syntax().text())),
                },
                ast::LiteralKind::Uri(u) => Rc::new(Expr::Const(Value::str(u.syntax().text()))),
            },
            ast::Expr::Ident(i) => {
                let name = ident_name(i);
                self.lookup(name, span)
            }
            ast::Expr::Str(s) => self.string(s, span),
            ast::Expr::PathAbs(p) => self.path(p.parts(), span, false),
            ast::Expr::PathRel(p) => self.path(p.parts(), span, true),
            ast::Expr::PathHome(p) => {
                // `~/x`: relative to $HOME, resolved when evaluated.
                let parts = p.parts();
                self.path(parts, span, false)
            }
            ast::Expr::PathSearch(p) => {
                let text = p.content().map(|c| c.text().to_owned()).unwrap_or_default();
                let name = text
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned();
                let find = self.lookup(crate::value::intern("__findFile"), span);
                let nix_path = self.lookup(crate::value::intern("__nixPath"), span);
                let inner = Rc::new(Expr::apply(find, nix_path, span));
                Rc::new(Expr::apply(
                    inner,
                    Rc::new(Expr::Const(Value::str(name))),
                    span,
                ))
            }
            ast::Expr::Paren(p) => match p.expr() {
                Some(e) => self.expr(&e),
                None => self.err(span, "empty parentheses"),
            },
            ast::Expr::List(l) => {
                let items = l.items().map(|i| self.expr(&i)).collect();
                Rc::new(Expr::List(items))
            }
            ast::Expr::AttrSet(a) => {
                let rec = a.rec_token().is_some();
                let def = self.attrs(a, rec, false);
                Rc::new(Expr::Attrs(def))
            }
            ast::Expr::LetIn(l) => {
                let def = self.attrs(l, true, true);
                let names = def
                    .statics
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.name, i as u32))
                    .collect();
                self.scopes.push(Scope::Static(Rc::new(names)));
                let body = match l.body() {
                    Some(b) => self.expr(&b),
                    None => self.err(span, "'let' without a body"),
                };
                self.scopes.pop();
                Rc::new(Expr::Let { def, body })
            }
            ast::Expr::LegacyLet(l) => {
                // `let { body = ...; }`: a recursive set whose `body` is the value.
                let def = self.attrs(l, true, true);
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
            ast::Expr::With(w) => {
                let ns = match w.namespace() {
                    Some(n) => self.expr(&n),
                    None => self.err(span, "'with' without a namespace"),
                };
                self.scopes.push(Scope::With);
                let body = match w.body() {
                    Some(b) => self.expr(&b),
                    None => self.err(span, "'with' without a body"),
                };
                self.scopes.pop();
                Rc::new(Expr::With { ns, body, span })
            }
            ast::Expr::IfElse(i) => {
                let cond = self.opt(i.condition(), span, "missing condition");
                let then = self.opt(i.body(), span, "missing 'then' branch");
                let else_ = self.opt(i.else_body(), span, "missing 'else' branch");
                Rc::new(Expr::If {
                    cond,
                    then,
                    else_,
                    span,
                })
            }
            ast::Expr::Assert(a) => {
                let text = a
                    .condition()
                    .map(|c| c.syntax().text().to_string())
                    .unwrap_or_default();
                let cond = self.opt(a.condition(), span, "missing assertion");
                let body = self.opt(a.body(), span, "missing body after 'assert'");
                let cspan = a
                    .condition()
                    .map(|c| span_of(self.file, c.syntax()))
                    .unwrap_or(span);
                Rc::new(Expr::Assert {
                    cond,
                    body,
                    span: cspan,
                    text,
                })
            }
            ast::Expr::UnaryOp(u) => {
                let inner = self.opt(u.expr(), span, "missing operand");
                match u.operator() {
                    Some(ast::UnaryOpKind::Invert) => Rc::new(Expr::Not { expr: inner, span }),
                    Some(ast::UnaryOpKind::Negate) => Rc::new(Expr::Neg { expr: inner, span }),
                    None => self.err(span, "unknown unary operator"),
                }
            }
            ast::Expr::BinOp(b) => {
                let lhs = self.opt(b.lhs(), span, "missing left operand");
                let rhs = self.opt(b.rhs(), span, "missing right operand");
                let op = match b.operator() {
                    Some(ast::BinOpKind::Add) => BinOp::Add,
                    Some(ast::BinOpKind::Sub) => BinOp::Sub,
                    Some(ast::BinOpKind::Mul) => BinOp::Mul,
                    Some(ast::BinOpKind::Div) => BinOp::Div,
                    Some(ast::BinOpKind::Concat) => BinOp::Concat,
                    Some(ast::BinOpKind::Update) => BinOp::Update,
                    Some(ast::BinOpKind::Equal) => BinOp::Eq,
                    Some(ast::BinOpKind::NotEqual) => BinOp::Ne,
                    Some(ast::BinOpKind::Less) => BinOp::Lt,
                    Some(ast::BinOpKind::LessOrEq) => BinOp::Le,
                    Some(ast::BinOpKind::More) => BinOp::Gt,
                    Some(ast::BinOpKind::MoreOrEq) => BinOp::Ge,
                    Some(ast::BinOpKind::And) => BinOp::And,
                    Some(ast::BinOpKind::Or) => BinOp::Or,
                    Some(ast::BinOpKind::Implication) => BinOp::Impl,
                    Some(ast::BinOpKind::PipeLeft | ast::BinOpKind::PipeRight) => {
                        return self.err(span, "the pipe operators '|>' and '<|' are not part of the Nix language strata implements");
                    }
                    None => return self.err(span, "unknown operator"),
                };
                Rc::new(Expr::Bin { op, lhs, rhs, span })
            }
            ast::Expr::Select(s) => {
                let expr = self.opt(s.expr(), span, "missing expression before '.'");
                let path =
                    self.opt_attrpath(s.attrpath(), span, "missing attribute name after '.'");
                let default = s.default_expr().map(|d| self.expr(&d));
                Rc::new(Expr::Select {
                    expr: Operand::new(expr),
                    path,
                    default,
                    span,
                })
            }
            ast::Expr::HasAttr(h) => {
                let expr = self.opt(h.expr(), span, "missing expression before '?'");
                let path =
                    self.opt_attrpath(h.attrpath(), span, "missing attribute name after '?'");
                Rc::new(Expr::HasAttr { expr, path, span })
            }
            ast::Expr::Apply(a) => {
                let func = self.opt(a.lambda(), span, "missing function");
                let arg = self.opt(a.argument(), span, "missing argument");
                Rc::new(Expr::apply(func, arg, span))
            }
            ast::Expr::Lambda(l) => Rc::new(Expr::Lambda(self.lambda(l, span, None))),
            ast::Expr::CurPos(_) => Rc::new(Expr::CurPos(span)),
            ast::Expr::Root(r) => match r.expr() {
                Some(e) => self.expr(&e),
                None => self.err(span, "empty expression"),
            },
            ast::Expr::Error(_) => self.err(span, format!("unexpected '{}'", e.syntax().text())),
        }
    }

    fn opt(&mut self, e: Option<ast::Expr>, span: Span, what: &str) -> Rc<Expr> {
        match e {
            Some(e) => self.expr(&e),
            None => self.err(span, what.to_owned()),
        }
    }

    /// Like [`Self::opt`], for the attribute path of a selection or `?`.
    fn opt_attrpath(&mut self, p: Option<ast::Attrpath>, span: Span, what: &str) -> AttrPath {
        match p {
            Some(p) => self.attrpath(&p),
            None => {
                self.err(span, what.to_owned());
                AttrPath::new()
            }
        }
    }

    fn lambda(&mut self, l: &ast::Lambda, span: Span, name: Option<Name>) -> Rc<LambdaDef> {
        let param = match l.param() {
            Some(ast::Param::IdentParam(p)) => {
                let n = match p.ident() {
                    Some(i) => ident_name(&i),
                    None => self.name(""),
                };
                Param::Ident(n)
            }
            Some(ast::Param::Pattern(p)) => {
                let mut formals = Vec::new();
                let mut entries: Vec<(String, Option<ast::Expr>, Span)> = Vec::new();
                for e in p.pat_entries() {
                    let n = e.ident().map(|i| ident_text(&i)).unwrap_or_default();
                    let espan = span_of(self.file, e.syntax());
                    if entries.iter().any(|(m, _, _)| *m == n) {
                        self.err(espan, format!("duplicate formal function argument '{n}'"));
                    }
                    entries.push((n, e.default(), espan));
                }
                let bind = p.pat_bind().and_then(|b| b.ident()).map(|i| ident_text(&i));
                if let Some(b) = &bind {
                    if entries.iter().any(|(m, _, _)| m == b) {
                        self.err(span, format!("duplicate formal function argument '{b}'"));
                    }
                }
                // Formals sorted by name (as functionArgs lists them); slots follow that order.
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut names: BTreeMap<Name, u32> = BTreeMap::new();
                for (i, (n, _, _)) in entries.iter().enumerate() {
                    let nm = self.name(n);
                    names.insert(nm, i as u32);
                }
                let bind_name = bind.map(|b| self.name(&b));
                if let Some(b) = &bind_name {
                    names.insert(*b, entries.len() as u32);
                }
                // Defaults see every formal.
                self.scopes.push(Scope::Static(Rc::new(names)));
                for (n, d, s) in entries {
                    let default = d.map(|d| self.expr(&d));
                    let nm = self.name(&n);
                    formals.push((nm, default, s));
                }
                self.scopes.pop();
                Param::Pattern {
                    formals,
                    ellipsis: p.ellipsis_token().is_some(),
                    bind: bind_name,
                }
            }
            None => {
                self.err(span, "function without a parameter");
                Param::Ident(self.name("_"))
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
        let body = self.opt(l.body(), span, "function without a body");
        self.scopes.pop();
        Rc::new(LambdaDef {
            param,
            body,
            span,
            name,
        })
    }

    fn string(&mut self, s: &ast::Str, span: Span) -> Rc<Expr> {
        let mut parts = Vec::new();
        for p in s.normalized_parts() {
            match p {
                ast::InterpolPart::Literal(l) => {
                    if !l.is_empty() {
                        parts.push(Part::Lit(l.into_bytes()));
                    }
                }
                ast::InterpolPart::Interpolation(i) => {
                    let e = self.opt(i.expr(), span, "empty interpolation");
                    parts.push(Part::Expr(e));
                }
            }
        }
        match parts.as_slice() {
            [] => Rc::new(Expr::Const(Value::str(""))),
            [Part::Lit(l)] => Rc::new(Expr::Const(Value::str(l.clone()))),
            _ => Rc::new(Expr::Str { parts, span }),
        }
    }

    fn path(
        &mut self,
        raw: Vec<ast::InterpolPart<ast::PathContent>>,
        span: Span,
        relative: bool,
    ) -> Rc<Expr> {
        let mut parts = Vec::new();
        for p in raw {
            match p {
                ast::InterpolPart::Literal(l) => {
                    parts.push(Part::Lit(l.text().as_bytes().to_vec()))
                }
                ast::InterpolPart::Interpolation(i) => {
                    let e = self.opt(i.expr(), span, "empty interpolation");
                    parts.push(Part::Expr(e));
                }
            }
        }
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
